"""CocoKeypointMetric on the bundled COCO images, checked against pycocotools and mmpose."""
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrnet_train.evaluation.functional import COCO_KEYPOINT_SIGMAS, KEYPOINT_STAT_NAMES
from hrnet_train.evaluation.metrics import CocoKeypointMetric
from hrnet_train.registry import METRICS

ROOT = Path(__file__).resolve().parents[3]
COCO_TINY = ROOT / 'data' / 'coco_tiny' / 'annotations' / 'test_coco.json'
DERIVED = ROOT / 'tests' / 'data' / 'cocoeval' / 'derived' / 'mmpose_topdown_alignment'
META = dict(num_keypoints=17, sigmas=COCO_KEYPOINT_SIGMAS.tolist())


def _annotations(gt_file=COCO_TINY):
    return json.loads(Path(gt_file).read_text())['annotations']


def _sample(ann, *, xy_scale=(1.0, 1.0), kpt_score_scale=1.0, bbox_score=1.0, id_offset=0,
            noise=None):
    """A flat top-down data sample predicting the GT (like mmpose's metric tests)."""
    k = np.array(ann['keypoints'], dtype=np.float32).reshape(-1, 3)
    k[:, 0] *= xy_scale[0]
    k[:, 1] *= xy_scale[1]
    k[:, 2] *= kpt_score_scale
    if noise is not None:
        k[:, :2] += noise
    w, h = ann['bbox'][2], ann['bbox'][3]
    return dict(img_id=ann['image_id'], id=ann['id'] + id_offset, category_id=1,
                pred_keypoints=k[:, :2], pred_keypoint_scores=k[:, 2], bbox_score=bbox_score,
                bbox_center=np.array([ann['bbox'][0] + w / 2, ann['bbox'][1] + h / 2]),
                bbox_scale=np.array([w * 1.25, h * 1.25]))


def _run(metric, samples, batch_size=1):
    metric.dataset_meta = META
    for i in range(0, len(samples), batch_size):
        metric.process(None, samples[i:i + batch_size])
    return metric.evaluate(size=len(samples))


def _direct_cocoeval(res_file, gt_file=COCO_TINY, sigmas=COCO_KEYPOINT_SIGMAS):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        ev = COCOeval(gt, gt.loadRes(str(res_file)), 'keypoints')
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats.tolist()


def test_registered_and_argument_checks():
    assert METRICS.get('CocoKeypointMetric') is CocoKeypointMetric
    with pytest.raises(ValueError, match='score_mode'):
        CocoKeypointMetric(str(COCO_TINY), score_mode='keypoint')
    with pytest.raises(ValueError, match='nms_mode'):
        CocoKeypointMetric(str(COCO_TINY), nms_mode='nms')
    with pytest.raises(ValueError, match='outfile_prefix'):
        CocoKeypointMetric(str(COCO_TINY), format_only=True)



def test_ann_file_defaults_to_the_datasets():
    """Without ann_file the metric evaluates against dataset_meta['ann_file'] (what
    CocoKeypointDataset provides), and says so when neither is there."""
    samples = [_sample(a) for a in _annotations()]
    metric = CocoKeypointMetric(score_mode='bbox_keypoint')
    metric.dataset_meta = dict(META, ann_file=str(COCO_TINY))
    metric.process(None, samples)
    res = metric.evaluate(size=len(samples))
    assert len(res) == 10 and all(v == 1.0 for v in res.values()), res
    bare = CocoKeypointMetric()
    bare.dataset_meta = META
    bare.process(None, samples)
    with pytest.raises(ValueError, match='no ann_file given'):
        bare.evaluate(size=len(samples))


@pytest.mark.parametrize('nms_mode', ['oks_nms', 'soft_oks_nms', 'none'])
def test_gt_as_prediction_gives_ap_one(nms_mode):
    metric = CocoKeypointMetric(str(COCO_TINY), score_mode='bbox_keypoint', nms_mode=nms_mode)
    res = _run(metric, [_sample(a) for a in _annotations()])
    assert list(res) == [f'coco/{n}' for n in KEYPOINT_STAT_NAMES]
    assert all(v == 1.0 for v in res.values()), res


def test_gt_as_prediction_with_box_scores_counts_empty_poses(tmp_path):
    """Two persons have no keypoints; predicting them at box score 1 ranks two false positives
    among the true ones. pycocotools (official HRNet) counts them; xtcocotools (mmpose) drops
    all-zero-score poses before matching, which is why mmpose's own test gets 1.0 here."""
    metric = CocoKeypointMetric(str(COCO_TINY), score_mode='bbox', nms_mode='none',
                                outfile_prefix=str(tmp_path / 'box'))
    res = _run(metric, [_sample(a) for a in _annotations()])
    assert list(res.values()) == _direct_cocoeval(tmp_path / 'box.keypoints.json')
    assert res['coco/AP'] == pytest.approx(0.8939179632248939, abs=1e-12)
    assert res['coco/AR'] == 1.0


def test_through_mmengine_evaluator_with_data_elements():
    """The evaluator flattens BaseDataElements with to_dict(); tensors are accepted."""
    evaluator = Evaluator(METRICS.build(dict(type='CocoKeypointMetric', ann_file=str(COCO_TINY))))
    evaluator.dataset_meta = META
    elements = []
    for ann in _annotations():
        s = _sample(ann)
        meta = {k: s[k] for k in ('img_id', 'id', 'category_id', 'bbox_score', 'bbox_center',
                                  'bbox_scale')}
        elements.append(BaseDataElement(
            metainfo=meta, pred_keypoints=torch.from_numpy(s['pred_keypoints']),
            pred_keypoint_scores=torch.from_numpy(s['pred_keypoint_scores'])))
    evaluator.process(elements[:7])
    evaluator.process(elements[7:])
    res = evaluator.evaluate(len(elements))
    assert res['coco/AP'] == 1.0 and res['coco/AR (L)'] == 1.0


def test_perturbed_predictions_equal_direct_cocoeval(tmp_path):
    rng = np.random.default_rng(0)
    samples = [_sample(a, noise=rng.normal(0, 4, size=(17, 2))) for a in _annotations()]
    metric = CocoKeypointMetric(str(COCO_TINY), outfile_prefix=str(tmp_path / 'pert'))
    res = _run(metric, samples, batch_size=3)
    direct = _direct_cocoeval(tmp_path / 'pert.keypoints.json')
    assert list(res.values()) == direct
    assert 0.0 < res['coco/AP'] < 1.0


def test_mmpose_alignment_oks_nms(tmp_path):
    """mmpose test_topdown_alignment case 1: x * 0.98, y * 1.02, scores * 0.8, box score 0.98."""
    samples = [_sample(a, xy_scale=(0.98, 1.02), kpt_score_scale=0.8, bbox_score=0.98)
               for a in _annotations()]
    metric = CocoKeypointMetric(str(COCO_TINY), outfile_prefix=str(tmp_path / 'align1'),
                                score_mode='bbox_keypoint', nms_mode='oks_nms')
    res = _run(metric, samples)
    target = [0.5287458745874587, 0.9042904290429042, 0.5009900990099009, 0.42475247524752474,
              0.6219554455445544, 0.5833333333333333, 0.9166666666666666, 0.5833333333333334,
              0.44000000000000006, 0.6857142857142857]  # mmpose's targets (xtcocotools)
    np.testing.assert_allclose(list(res.values()), target, rtol=0, atol=1e-12)
    _assert_same_results(tmp_path / 'align1.keypoints.json',
                         DERIVED / 'case1_bbox_keypoint_oks_nms.keypoints.json')


def test_mmpose_alignment_soft_oks_nms(tmp_path):
    """mmpose test_topdown_alignment case 3: two perturbed copies per person, soft OKS-NMS."""
    samples = []
    for i, a in enumerate(_annotations()):
        samples.append(_sample(a, xy_scale=(1 - i / 100, 1 + i / 100),
                               kpt_score_scale=1 - i / 100))
        samples.append(_sample(a, xy_scale=(1 + i / 100, 1 - i / 100),
                               kpt_score_scale=1 - 2 * i / 100, bbox_score=1 - 2 * i / 100,
                               id_offset=1))
    metric = CocoKeypointMetric(str(COCO_TINY), outfile_prefix=str(tmp_path / 'align3'),
                                score_mode='bbox_keypoint', keypoint_score_thr=0.2, nms_thr=0.9,
                                nms_mode='soft_oks_nms')
    res = _run(metric, samples, batch_size=2)
    target = [0.17073707370737073, 0.25055005500550054, 0.10671067106710669, 0.0,
              0.29315181518151806, 0.2416666666666666, 0.3333333333333333, 0.16666666666666666,
              0.0, 0.41428571428571426]
    np.testing.assert_allclose(list(res.values()), target, rtol=0, atol=1e-12)
    _assert_same_results(tmp_path / 'align3.keypoints.json',
                         DERIVED / 'case3_bbox_keypoint_soft_oks_nms_thr0.9.keypoints.json')


def _assert_same_results(ours, reference):
    a = json.loads(Path(ours).read_text())
    b = json.loads(Path(reference).read_text())
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert (ra['image_id'], ra['category_id']) == (rb['image_id'], rb['category_id'])
        np.testing.assert_allclose(ra['keypoints'], rb['keypoints'], rtol=1e-6)
        assert ra['score'] == pytest.approx(rb['score'], rel=1e-6)


def test_rescoring_nms_and_dedup(tmp_path):
    ann = next(a for a in _annotations() if a['num_keypoints'] == 17)
    good = _sample(ann)
    good['pred_keypoint_scores'] = np.full(17, 0.1, np.float32)
    good['pred_keypoint_scores'][:4] = [0.9, 0.8, 0.7, 0.6]  # mean above 0.2: 0.75
    good['bbox_score'] = 0.8
    dup = dict(good, id=good['id'] + 1, bbox_score=0.5)  # same pose, lower score -> suppressed
    metric = CocoKeypointMetric(str(COCO_TINY), outfile_prefix=str(tmp_path / 'r'))
    metric.dataset_meta = META
    metric.process(None, [good, dup, good])  # `good` twice: the repeat is dropped
    out = metric.results_to_coco(metric.results)
    assert len(out) == 1
    assert out[0]['score'] == pytest.approx(0.8 * 0.75)
    assert out[0]['keypoints'][2::3] == pytest.approx(list(good['pred_keypoint_scores']))
    # no keypoint above the threshold -> score 0 (official)
    low = dict(good, pred_keypoint_scores=np.full(17, 0.15, np.float32))
    metric.results.clear()
    metric.process(None, [low])
    assert metric.results_to_coco(metric.results)[0]['score'] == 0.0


def test_custom_five_keypoints(tmp_path):
    gt = json.loads(COCO_TINY.read_text())
    for ann in gt['annotations']:
        ann['keypoints'] = ann['keypoints'][:15]
        ann['num_keypoints'] = int(sum(v > 0 for v in ann['keypoints'][2::3]))
    for cat in gt['categories']:
        cat['keypoints'], cat['skeleton'] = cat['keypoints'][:5], []
    gt_file = tmp_path / 'gt5.json'
    gt_file.write_text(json.dumps(gt))
    sigmas = [0.03, 0.03, 0.03, 0.04, 0.04]
    rng = np.random.default_rng(1)
    samples = [_sample(a, noise=rng.normal(0, 2, size=(5, 2))) for a in gt['annotations']]

    metric = CocoKeypointMetric(str(gt_file), outfile_prefix=str(tmp_path / 'k5'))
    metric.dataset_meta = dict(num_keypoints=5, sigmas=sigmas)
    for s in samples:
        metric.process(None, [s])
    res = metric.evaluate(len(samples))
    assert list(res.values()) == _direct_cocoeval(tmp_path / 'k5.keypoints.json', gt_file, sigmas)
    assert 0.0 < res['coco/AP'] < 1.0

    metric = CocoKeypointMetric(str(gt_file))
    metric.dataset_meta = dict(num_keypoints=5, sigmas=sigmas)
    for a in gt['annotations']:
        metric.process(None, [_sample(a)])
    assert metric.evaluate(len(gt['annotations']))['coco/AP'] == 1.0


def test_empty_predictions_give_zeros():
    metric = CocoKeypointMetric(str(COCO_TINY))
    metric.dataset_meta = META
    res = metric.compute_metrics([])
    assert res == {n: 0.0 for n in KEYPOINT_STAT_NAMES}


def test_format_only_writes_json(tmp_path):
    metric = CocoKeypointMetric(format_only=True, outfile_prefix=str(tmp_path / 'sub' / 'fmt'))
    res = _run(metric, [_sample(a) for a in _annotations()[:3]])
    assert res == {}
    written = json.loads((tmp_path / 'sub' / 'fmt.keypoints.json').read_text())
    assert len(written) == 3 and len(written[0]['keypoints']) == 51
    assert set(written[0]) == {'image_id', 'category_id', 'keypoints', 'score'}


def test_predictions_on_unknown_image_fail_clearly():
    metric = CocoKeypointMetric(str(COCO_TINY))
    s = _sample(_annotations()[0])
    s['img_id'] = 123456789
    with pytest.raises(ValueError, match='not in the GT'):
        _run(metric, [s])


def test_bbox_rle_score_hand_values(tmp_path):
    """mmpose CocoMetric 'bbox_rle': bbox score + mean + max of all K keypoint scores; the
    keypoint score threshold is not applied."""
    ann = next(a for a in _annotations() if a['num_keypoints'] == 17)
    sample = _sample(ann, bbox_score=0.8)
    sample['pred_keypoint_scores'] = np.full(17, 0.1, np.float32)
    sample['pred_keypoint_scores'][:4] = [0.9, 0.8, 0.7, 0.6]
    expected = 0.8 + (0.9 + 0.8 + 0.7 + 0.6 + 13 * 0.1) / 17 + 0.9  # 1.952941...
    for thr in (0.2, 0.95):  # no effect in this mode
        metric = CocoKeypointMetric(str(COCO_TINY), score_mode='bbox_rle', keypoint_score_thr=thr)
        metric.dataset_meta = META
        metric.process(None, [sample])
        out = metric.results_to_coco(metric.results)
        assert out[0]['score'] == pytest.approx(expected, rel=1e-6)
    # the same sample under the official rescoring: 0.8 x mean(0.9, 0.8, 0.7, 0.6) = 0.6
    metric = CocoKeypointMetric(str(COCO_TINY), score_mode='bbox_keypoint')
    metric.dataset_meta = META
    metric.process(None, [sample])
    assert metric.results_to_coco(metric.results)[0]['score'] == pytest.approx(0.6, rel=1e-6)


def _offset_for_oks(ann, oks, sigmas=COCO_KEYPOINT_SIGMAS):
    """(K, 2) x offsets that give every labelled keypoint exactly ``oks`` to the GT in COCOeval
    (exp(-d^2 / (2 * area * (2 sigma)^2)))."""
    vis = np.array(ann['keypoints'][2::3]) > 0
    d = np.sqrt(-2 * np.log(oks) * ann['area']) * 2 * np.asarray(sigmas)
    return np.stack([np.where(vis, d, 0.0), np.zeros(len(vis))], axis=1)


def test_bbox_rle_rescoring_decides_oks_nms_and_ap(tmp_path):
    """Two predictions per person, OKS > 0.9 to each other: A is the GT pose with a low box
    score and confident keypoints, B is off by OKS 0.92 with the top box score and unsure
    keypoints. 'bbox_keypoint' ranks B first (1.0 x 0.5 > 0.5 x 0.9), so OKS-NMS keeps B and AP
    loses the 0.95 threshold: 0.9. 'bbox_rle' ranks A first (0.5 + 0.9 + 0.9 > 1.0 + 0.5 + 0.5):
    AP 1."""
    anns = [a for a in _annotations() if a['num_keypoints'] > 0]
    samples = []
    for ann in anns:
        a = _sample(ann, bbox_score=0.5)
        a['pred_keypoint_scores'] = np.full(17, 0.9, np.float32)
        b = _sample(ann, bbox_score=1.0, id_offset=100000, noise=_offset_for_oks(ann, 0.92))
        b['pred_keypoint_scores'] = np.full(17, 0.5, np.float32)
        samples += [a, b]
    res = {}
    for mode in ('bbox_keypoint', 'bbox_rle'):
        metric = CocoKeypointMetric(str(COCO_TINY), score_mode=mode,
                                    outfile_prefix=str(tmp_path / mode))
        metric.dataset_meta = META
        metric.process(None, samples)
        kept = metric.results_to_coco(metric.results)
        assert len(kept) == len(anns)  # one of each pair survives OKS-NMS
        want = 2.3 if mode == 'bbox_rle' else 0.5  # the score of A (rle) or of B (official)
        assert all(r['score'] == pytest.approx(want, rel=1e-6) for r in kept)
        res[mode] = metric.evaluate(len(samples))
        assert list(res[mode].values()) == _direct_cocoeval(tmp_path / f'{mode}.keypoints.json')
    assert res['bbox_rle']['coco/AP'] == 1.0 and res['bbox_rle']['coco/AR'] == 1.0
    # B matches its person at OKS 0.92: every threshold 0.50 ... 0.90 but not 0.95
    assert res['bbox_keypoint']['coco/AP'] == pytest.approx(0.9, abs=1e-12)
    assert res['bbox_keypoint']['coco/AP .75'] == 1.0
    assert res['bbox_keypoint']['coco/AR'] == pytest.approx(0.9, abs=1e-12)
