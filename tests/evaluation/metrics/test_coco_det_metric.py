"""CocoDetMetric: the official cocoapi numbers, hand-worked AP/AR, and its input checks."""
import json
import logging
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement, InstanceData

import hrnet_train.evaluation.metrics.coco_det_metric as module
from hrnet_train.datasets.coco_detection import CocoDetection
from hrnet_train.evaluation.functional import BOX_STAT_NAMES
from hrnet_train.evaluation.metrics.coco_det_metric import CocoDetMetric
from hrnet_train.registry import METRICS
from hrnet_train.utils.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[3]
COCO_TINY = ROOT / 'data' / 'coco_tiny'
COCOEVAL = ROOT / 'tests' / 'data' / 'cocoeval'
GT_VAL2014_100 = COCOEVAL / 'faster_coco_eval' / 'instances_val2014_100.json'
FAKE_BBOX = COCOEVAL / 'cocoapi' / 'instances_val2014_fakebbox100_results.json'
PRINTED = COCOEVAL / 'cocoapi' / 'val2014_fake_eval_res.txt'
MMDET_ANN = COCOEVAL / 'mmdetection' / 'coco_dummy_instances_val2017.json'


def _sample(img_id, bboxes, scores, labels):
    return dict(img_id=img_id, pred_instances=dict(
        bboxes=torch.as_tensor(np.asarray(bboxes, np.float64).reshape(-1, 4)),
        scores=torch.as_tensor(np.asarray(scores, np.float64)),
        labels=torch.as_tensor(np.asarray(labels, np.int64))))


def _run(metric, samples, meta):
    metric.dataset_meta = meta
    for s in samples:
        metric.process(None, [s])
    return metric.evaluate(size=len(samples))


def _gt_as_predictions(ds):
    """Each image's instances as predictions, distinct scores."""
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        n = len(info['instances'])
        samples.append(_sample(info['img_id'], [inst['bbox'] for inst in info['instances']],
                               np.linspace(0.9, 0.5, n), [inst['bbox_label']
                                                          for inst in info['instances']]))
    return samples


def _printed_bbox_stats():
    text = PRINTED.read_text().split('type=bbox')[1].split('type=keypoints')[0]
    values = [float(v) for v in re.findall(r'\] = ([0-9.]+)', text)]
    assert len(values) == 12
    return values


def test_official_fake_bbox_results_reproduce_the_printed_evaluation():
    """cocoapi's fake detections (results json, xywh) through the metric as pred_instances."""
    gt = json.loads(GT_VAL2014_100.read_text())
    cat_ids = sorted(c['id'] for c in gt['categories'])  # 80 non-contiguous ids
    label_of = {c: i for i, c in enumerate(cat_ids)}
    by_image = defaultdict(list)
    for r in json.loads(FAKE_BBOX.read_text()):
        by_image[r['image_id']].append(r)
    samples = []
    for img_id, dets in by_image.items():
        xywh = np.array([d['bbox'] for d in dets], np.float64)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        samples.append(_sample(img_id, xyxy, [d['score'] for d in dets],
                               [label_of[d['category_id']] for d in dets]))
    assert len(samples) == 99 and sum(len(d) for d in by_image.values()) == 734
    metric = CocoDetMetric(ann_file=str(GT_VAL2014_100))
    stats = _run(metric, samples, dict(cat_ids=cat_ids))
    assert list(stats) == [f'coco/{n}' for n in BOX_STAT_NAMES]
    np.testing.assert_allclose(list(stats.values()), _printed_bbox_stats(), atol=1e-3)
    assert stats['coco/AP'] == pytest.approx(0.505, abs=5e-4)


def test_gt_boxes_as_predictions_give_ap_1_on_coco_tiny():
    ds = CocoDetection('annotations/test_coco.json', data_root=str(COCO_TINY),
                       data_prefix=dict(img='val2017'), test_mode=True)
    metric = METRICS.build(dict(type='CocoDetMetric'))  # ann_file from the dataset meta
    stats = _run(metric, _gt_as_predictions(ds), ds.metainfo)
    for name in ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl'):
        assert stats[f'coco/{name}'] == pytest.approx(1.0), name
    # one box per image finds one of the 1 + 3 + 5 + 5 people of each image
    assert stats['coco/AR1'] == pytest.approx(4 / 14)


def test_gt_boxes_as_predictions_on_80_categories_with_a_crowd_box():
    """mmdet's real instances file: crowd GT is ignored, so predicting the non-crowd boxes is
    perfect; labels map back through the non-contiguous cat_ids."""
    ds = CocoDetection(str(MMDET_ANN), test_mode=True)
    samples = _gt_as_predictions(ds)
    for s in samples:  # drop the crowd box from the predictions
        info = next(ds.get_data_info(i) for i in range(len(ds))
                    if ds.get_data_info(i)['img_id'] == s['img_id'])
        keep = torch.tensor([not inst['ignore_flag'] for inst in info['instances']])
        s['pred_instances'] = {k: v[keep] for k, v in s['pred_instances'].items()}
    stats = _run(CocoDetMetric(), samples, ds.metainfo)
    assert stats['coco/AP'] == pytest.approx(1.0) and stats['coco/AR100'] == pytest.approx(1.0)


# ---------------------------------------------------------------------------- hand-worked GT
def _two_box_gt(tmp_path):
    """Image 5, 200 x 200: GT A [0, 0, 40, 40] category 3 (medium), B [100, 100, 200, 200]
    category 7 (large)."""
    gt = dict(images=[dict(id=5, file_name='x.jpg', width=200, height=200)],
              categories=[dict(id=3, name='cat'), dict(id=7, name='dog')],
              annotations=[dict(id=1, image_id=5, category_id=3, bbox=[0, 0, 40, 40],
                                area=1600, iscrowd=0),
                           dict(id=2, image_id=5, category_id=7, bbox=[100, 100, 100, 100],
                                area=10000, iscrowd=0)])
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt))
    return path


# p1: exactly A but labelled dog (label 1 -> category 7), score 0.9;
# p2: B cut to y2 = 182, IoU 0.82, labelled dog, score 0.8.
PREDS = ([[0, 0, 40, 40], [100, 100, 200, 182]], [0.9, 0.8], [1, 1])


def test_hand_worked_bbox_ap_and_label_to_category_mapping(tmp_path):
    gt = _two_box_gt(tmp_path)
    metric = CocoDetMetric(ann_file=str(gt), outfile_prefix=str(tmp_path / 'out' / 'res'))
    stats = _run(metric, [_sample(5, *PREDS)], dict(cat_ids=[3, 7]))
    # cat: no prediction -> AP 0. dog: p1 is a false positive ranked first, p2 matches B at
    # IoU 0.50..0.80 (7 of 10 thresholds) -> precision 0.5 at every recall -> 0.5 * 0.7.
    assert stats['coco/AP'] == pytest.approx((0 + 0.35) / 2)
    assert stats['coco/AP50'] == pytest.approx((0 + 0.5) / 2)
    assert stats['coco/AP75'] == pytest.approx((0 + 0.5) / 2)
    assert stats['coco/AR100'] == pytest.approx((0 + 0.7) / 2)
    assert stats['coco/APs'] == -1  # no small GT
    dumped = json.loads((tmp_path / 'out' / 'res.bbox.json').read_text())
    assert [d['category_id'] for d in dumped] == [7, 7]  # cat_ids[1], not 1
    assert dumped[1]['bbox'] == [100, 100, 100, 82] and dumped[1]['image_id'] == 5
    # the same predictions with the class subset ('dog',): only category 7 is evaluated
    metric = CocoDetMetric(ann_file=str(gt))
    stats = _run(metric, [_sample(5, PREDS[0], PREDS[1], [0, 0])], dict(cat_ids=[7]))
    assert stats['coco/AP'] == pytest.approx(0.35)


def test_hand_worked_proposal_recall_is_class_agnostic(tmp_path):
    gt = _two_box_gt(tmp_path)
    metric = CocoDetMetric(ann_file=str(gt), metric=('bbox', 'proposal'), proposal_nums=(1, 2))
    stats = _run(metric, [_sample(5, *PREDS)], dict(cat_ids=[3, 7]))
    # one box per image: p1 finds A (its wrong class does not matter) -> 1 of 2 at every IoU
    assert stats['coco/AR@1'] == pytest.approx(0.5)
    # two boxes: A at every IoU, B at 7 of 10 -> (10 + 7) / 20
    assert stats['coco/AR@2'] == pytest.approx(0.85)
    assert stats['coco/AR_s@2'] == -1 and stats['coco/AR_m@2'] == pytest.approx(1.0)
    assert stats['coco/AR_l@2'] == pytest.approx(0.7)
    assert stats['coco/AP'] == pytest.approx(0.175)  # both metrics in one dict
    default = CocoDetMetric(metric='proposal')
    assert module.proposal_names(default.proposal_nums) == [
        'AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000']


def test_format_only_writes_the_results_file(tmp_path):
    prefix = tmp_path / 'dump' / 'test-dev'
    metric = CocoDetMetric(format_only=True, outfile_prefix=str(prefix))
    # no GT needed: the dataset meta maps labels to category ids
    assert _run(metric, [_sample(9, *PREDS)], dict(cat_ids=[3, 7])) == {}
    dumped = json.loads(Path(f'{prefix}.bbox.json').read_text())
    assert dumped == [dict(image_id=9, category_id=7, bbox=[0, 0, 40, 40], score=0.9),
                      dict(image_id=9, category_id=7, bbox=[100, 100, 100, 82], score=0.8)]
    with pytest.raises(ConfigError, match='outfile_prefix'):
        CocoDetMetric(format_only=True)


def test_no_predictions_give_zero_stats_with_a_warning(tmp_path, monkeypatch):
    gt = _two_box_gt(tmp_path)
    lines = []
    monkeypatch.setattr(module, 'print_log', lambda msg, **kw: lines.append(msg))
    metric = CocoDetMetric(ann_file=str(gt), metric=('bbox', 'proposal'))
    stats = _run(metric, [_sample(5, np.zeros((0, 4)), [], [])], dict(cat_ids=[3, 7]))
    assert len(stats) == 12 + 6 and set(stats.values()) == {0.0}
    assert any('no predicted boxes' in line for line in lines)
    metric = CocoDetMetric(ann_file=str(gt))
    metric.dataset_meta = dict(cat_ids=[3, 7])
    assert set(metric.compute_metrics([]).values()) == {0.0}  # nothing processed at all


def test_input_checks(tmp_path, monkeypatch):
    gt = _two_box_gt(tmp_path)
    with pytest.raises(DataError, match=r'image id 42 is not in the GT file .*gt\.json'):
        _run(CocoDetMetric(ann_file=str(gt)), [_sample(5, *PREDS), _sample(42, *PREDS)],
             dict(cat_ids=[3, 7]))
    with pytest.raises(DataError, match=r'label 2, expected \[0, 2\)'):
        _run(CocoDetMetric(ann_file=str(gt)), [_sample(5, [[0, 0, 1, 1]], [1.], [2])],
             dict(cat_ids=[3, 7]))
    with pytest.raises(DataError, match=r'category ids \[9\]'):
        _run(CocoDetMetric(ann_file=str(gt)), [_sample(5, *PREDS)], dict(cat_ids=[3, 9]))
    with pytest.raises(ConfigError, match='no ann_file given'):
        _run(CocoDetMetric(), [_sample(5, *PREDS)], dict(cat_ids=[3, 7]))
    with pytest.raises(ConfigError, match='metric: expected'):
        CocoDetMetric(metric='segm')
    with pytest.raises(ConfigError, match='proposal_nums'):
        CocoDetMetric(proposal_nums=(300, 100))
    with pytest.raises(KeyError, match='pred_instances'):
        CocoDetMetric().process(None, [dict(img_id=1)])
    # repeated images (sampler padding) count once; NaN boxes are dropped with a warning
    lines = []
    monkeypatch.setattr(module, 'print_log', lambda msg, **kw: lines.append(msg))
    nan_box = _sample(5, [[0, 0, 40, 40], [np.nan, 0, 1, 1]], [0.9, 0.95], [0, 0])
    metric = CocoDetMetric(ann_file=str(gt))
    stats = _run(metric, [nan_box, _sample(5, [[100, 100, 200, 200]], [1.0], [1])],
                 dict(cat_ids=[3, 7]))
    assert stats['coco/AP'] == pytest.approx(0.5)  # A found; the second record of image 5 unused
    assert any('dropped 1 predicted boxes with a NaN/Inf' in line for line in lines)


def test_through_mmengine_evaluator_with_data_elements_and_the_printed_table(tmp_path):
    gt = _two_box_gt(tmp_path)
    evaluator = Evaluator(CocoDetMetric(ann_file=str(gt)))
    evaluator.dataset_meta = dict(cat_ids=[3, 7], classes=('cat', 'dog'))
    pred = InstanceData(bboxes=torch.tensor([[0., 0., 40., 40.], [100., 100., 200., 200.]]),
                        scores=torch.tensor([0.9, 0.8]), labels=torch.tensor([0, 1]))
    sample = BaseDataElement(metainfo=dict(img_id=5, img_path='x.jpg'), pred_instances=pred)
    messages = []

    class _Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = _Collect()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        evaluator.process(data_samples=[sample])
        stats = evaluator.evaluate(1)
    finally:
        logger.removeHandler(handler)
    # maxDets applies per image and category: one box each is enough for AR1
    assert stats['coco/AP'] == pytest.approx(1.0) and stats['coco/AR1'] == pytest.approx(1.0)
    table = next(m for m in messages if m.startswith('CocoDetMetric (2 boxes on 1 images'))
    rows = table.split('\n')[1:]
    assert rows[0] == 'AP     1.0000' and rows[3] == 'APs    -1.0000' and len(rows) == 12
