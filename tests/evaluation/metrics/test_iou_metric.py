"""IoUMetric: dataset-level accumulation, keys, units and inputs."""
import contextlib
import logging

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement

from hrnet_train.evaluation.metrics import IoUMetric
from hrnet_train.registry import METRICS


def _flat(pred, label, path='x.png'):
    """What mmengine's evaluator passes: ``data_sample.to_dict()``."""
    sample = BaseDataElement(metainfo=dict(img_path=path))
    sample.pred_seg_map = torch.as_tensor(np.array(pred), dtype=torch.long)
    sample.gt_seg_map = torch.as_tensor(np.array(label), dtype=torch.long)[None]  # (1, H, W)
    return sample.to_dict()


def _metric(**kwargs):
    metric = IoUMetric(**kwargs)
    metric.dataset_meta = dict(classes=('road', 'car'))
    return metric


@contextlib.contextmanager
def _log_records(name):
    """Collect the records an MMLogger named ``name`` emits inside the block."""
    logger = MMLogger.get_instance(name, log_level='INFO')
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


GOOD_LABEL = np.array([[0, 0, 1, 1]] * 4)  # 8 px of each class, predicted perfectly
BAD_LABEL = np.ones((2, 2), int)  # 4 px of class 1, predicted as class 0


def test_dataset_level_aggregation_not_mean_of_images():
    metric = _metric()
    metric.process({}, [_flat(GOOD_LABEL, GOOD_LABEL, 'good.png')])
    metric.process({}, [_flat(np.zeros((2, 2), int), BAD_LABEL, 'bad.png')])
    res = metric.evaluate(2)
    # per image: mIoU 100 and 0 -> mean 50. Dataset totals: I = [8, 8], pred = [12, 8],
    # label = [8, 12], union = [12, 12] -> IoU 2/3 for both classes.
    assert res['mIoU'] == pytest.approx(200 / 3)
    assert res['mIoU'] != pytest.approx(50.0)
    assert res['IoU.road'] == pytest.approx(200 / 3) and res['IoU.car'] == pytest.approx(200 / 3)
    assert res['aAcc'] == pytest.approx(80.0)  # 16 of 20 px
    assert res['mAcc'] == pytest.approx(100 * (1 + 8 / 12) / 2)
    assert set(res) == {'aAcc', 'mIoU', 'mAcc', 'IoU.road', 'IoU.car'}


def test_perfect_and_absent_class_with_dice_and_prefix():
    metric = IoUMetric(iou_metrics=('mIoU', 'mDice'), prefix='cityscapes')
    metric.dataset_meta = dict(classes=('road', 'car', 'bus'))
    label = np.array([[0, 1], [1, 255]])
    metric.process({}, [_flat(np.array([[0, 1], [1, 2]]), label)])
    res = metric.evaluate(1)
    assert res['cityscapes/mIoU'] == 100.0 and res['cityscapes/mDice'] == 100.0
    assert res['cityscapes/aAcc'] == 100.0
    assert np.isnan(res['cityscapes/IoU.bus'])  # absent from prediction and label
    assert res['cityscapes/Dice.car'] == 100.0


def test_accepts_hw_numpy_and_logs_a_table():
    metric = _metric()
    metric.process({}, [dict(pred_seg_map=np.array([[0, 1]]), gt_seg_map=np.array([[0, 0]]))])
    with _log_records('test_iou_metric') as records:
        res = metric.evaluate(1)
    assert res['mIoU'] == pytest.approx(25.0)  # road 1/2; car predicted, never labelled -> IoU 0
    assert res['mAcc'] == pytest.approx(50.0)  # car has no labelled px: Acc NaN, left out
    text = '\n'.join(r.getMessage() for r in records)
    assert 'road' in text and '50.00' in text and 'car' in text


def test_build_and_errors():
    metric = METRICS.build(dict(type='IoUMetric', iou_metrics=['mIoU']))
    assert metric.iou_metrics == ('mIoU',) and metric.ignore_index == 255
    with pytest.raises(ValueError, match='iou_metrics'):
        IoUMetric(iou_metrics=('mFscore',))
    with pytest.raises(ValueError, match='num_classes'):
        IoUMetric().process({}, [_flat([[0]], [[0]])])
    metric = IoUMetric(num_classes=3)
    with pytest.raises(ValueError, match='differ for x.png'):
        metric.process({}, [_flat([[0, 1]], [[0]])])
    metric.process({}, [_flat([[2]], [[2]])])
    assert metric.evaluate(1)['IoU.2'] == 100.0


def test_classes_without_ground_truth_are_named():
    """Labels holding fewer classes than metainfo.classes: mIoU silently averages fewer
    classes, so the metric names the absent ones."""
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('road', 'car', 'bus', 'train'))
    metric.process({}, [_flat(GOOD_LABEL, GOOD_LABEL)])
    with _log_records('test_iou_absent') as records:
        res = metric.evaluate(1)
    assert res['mIoU'] == 100.0
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any('2 of 4 classes have no ground-truth pixel in the evaluated set (bus, train)'
               in w for w in warnings), warnings
