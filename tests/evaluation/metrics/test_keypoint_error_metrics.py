"""EPE and NME from flat data samples, against the functional values and hand values."""
import numpy as np
import pytest
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

from hrnet_train.evaluation.functional import (
    compute_keypoint_epe,
    compute_keypoint_nme,
    compute_keypoint_pair_distance,
)
from hrnet_train.evaluation.metrics import EPE, NME
from hrnet_train.registry import METRICS
from hrnet_train.utils.errors import ConfigError, DataError


def _sample(pred, gt, visible=None, **extra):
    gt = np.asarray(gt, float)
    visible = np.ones(len(gt)) if visible is None else np.asarray(visible, float)
    return dict(pred_keypoints=np.asarray(pred, float), keypoints=gt, keypoints_visible=visible,
                **extra)


def _random_set(seed=0, num=5, num_kpts=6):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 100, size=(num, num_kpts, 2))
    pred = gt + rng.normal(0, 3, size=gt.shape)
    visible = rng.uniform(size=(num, num_kpts)) > 0.25
    return pred, gt, visible


def test_epe_hand_values():
    assert METRICS.get('EPE') is EPE
    metric = EPE()
    gt = np.array([[10.0, 10.0], [20.0, 20.0]])
    metric.process(None, [_sample(gt + [[3.0, 4.0], [6.0, 8.0]], gt)])  # 5 px, 10 px
    metric.process(None, [_sample(gt + [[0.0, 0.0], [90.0, 0.0]], gt, [1, 0])])  # 0 px; masked
    assert metric.evaluate(2) == {'epe/epe': pytest.approx(5.0)}  # (5 + 10 + 0) / 3


def test_epe_equals_functional_and_gt_in_input_pixels():
    pred, gt, visible = _random_set()
    warp = np.array([[2.0, 0.0, -20.0], [0.0, 2.0, -40.0]], dtype=np.float32)  # image -> input
    metric = EPE()
    for i in range(len(gt)):
        metric.process(None, [dict(pred_keypoints=pred[i], gt_keypoints=gt[i] * 2 - [20, 40],
                                   gt_keypoints_visible=visible[i].astype(np.float32),
                                   warp_matrix=warp)])
    res = metric.evaluate(len(gt))['epe/epe']
    assert res == pytest.approx(compute_keypoint_epe(pred, gt, visible), abs=1e-4)
    assert 2.0 < res < 6.0  # about 3 * sqrt(pi / 2) = 3.76 px for N(0, 3) per axis


def test_nme_keypoint_distance_hand_values():
    metric = METRICS.build(dict(type='NME', norm_mode='keypoint_distance', keypoint_indices=[0, 1]))
    gt = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 5.0]])  # inter-ocular 10 px
    metric.process(None, [_sample(gt + [[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]], gt)])
    gt2 = gt * 2  # 20 px
    metric.process(None, [_sample(gt2 + [[0.0, 0.0], [0.0, 0.0], [0.0, 10.0]], gt2, [1, 1, 0])])
    # (0.1 + 0.2 + 0.5 + 0 + 0) / 5; the masked 10 px error does not count
    assert metric.evaluate(2) == {'nme/@[0, 1]': pytest.approx(0.16)}


def test_nme_default_pair_from_dataset_name():
    pred, gt, visible = _random_set(num_kpts=3)
    metric = NME('keypoint_distance')
    metric.dataset_meta = dict(dataset_name='horse10')  # mmpose default pair (0, 1)
    for i in range(len(gt)):
        metric.process(None, [_sample(pred[i], gt[i], visible[i])])
    res = metric.evaluate(len(gt))
    norm = np.linalg.norm(gt[:, 0] - gt[:, 1], axis=-1)
    assert res == {'nme/@[0, 1]': pytest.approx(compute_keypoint_nme(pred, gt, visible, norm))}
    np.testing.assert_allclose(compute_keypoint_pair_distance(gt, (0, 1)), norm)
    assert 0.0 < res['nme/@[0, 1]'] < 1.0

    metric = NME('keypoint_distance')
    metric.dataset_meta = dict(dataset_name='coco')
    metric.process(None, [_sample(pred[0], gt[0])])
    with pytest.raises(ConfigError, match='keypoint_indices'):
        metric.evaluate(1)
    metric = NME('keypoint_distance', keypoint_indices=(0, 3))  # K = 3
    metric.process(None, [_sample(pred[0], gt[0])])
    with pytest.raises(ConfigError, match='keypoint_indices'):
        metric.evaluate(1)


def test_nme_zero_normaliser_instance_is_left_out():
    gt = np.array([[5.0, 5.0], [5.0, 5.0], [0.0, 0.0]])  # both "eyes" at one point: 0
    metric = NME('keypoint_distance', keypoint_indices=[0, 1])
    metric.process(None, [_sample(gt + 100, gt)])
    good = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 0.0]])
    metric.process(None, [_sample(good + [[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]], good)])
    assert metric.evaluate(2) == {'nme/@[0, 1]': pytest.approx(5 / 10 / 3)}


def test_nme_use_norm_item_through_evaluator():
    pred, gt, visible = _random_set(seed=1)
    box_size = np.array([40.0, 55.0, 61.0, 0.0, 80.0])  # the 4th instance is left out (mmpose)
    evaluator = Evaluator(METRICS.build(dict(type='NME', norm_mode='use_norm_item',
                                             norm_item='bbox_size')))
    elements = [BaseDataElement(
        metainfo=dict(bbox_size=box_size[i]), pred_keypoints=pred[i], keypoints=gt[i],
        keypoints_visible=visible[i].astype(np.float32)) for i in range(len(gt))]
    evaluator.process(elements[:2])
    evaluator.process(elements[2:])
    res = evaluator.evaluate(len(gt))
    expected = compute_keypoint_nme(pred, gt, visible, box_size)
    assert res == {'nme/@bbox_size': pytest.approx(expected, abs=1e-12)}
    keep = box_size > 0
    dist = np.linalg.norm(pred - gt, axis=-1) / np.where(keep, box_size, 1)[:, None]
    assert expected == pytest.approx(dist[keep][visible[keep]].mean())


def test_nme_argument_and_data_checks():
    with pytest.raises(ConfigError, match='norm_mode'):
        NME('inter_ocular')
    with pytest.raises(ConfigError, match='norm_item'):
        NME('use_norm_item')
    with pytest.raises(ConfigError, match='keypoint_indices'):
        NME('use_norm_item', norm_item='bbox_size', keypoint_indices=[0, 1])
    with pytest.raises(ConfigError, match='norm_item'):
        NME('keypoint_distance', norm_item='bbox_size')
    with pytest.raises(ConfigError, match='keypoint_indices'):
        NME('keypoint_distance', keypoint_indices=[0, 1, 2])
    gt = np.zeros((3, 2))
    metric = NME('use_norm_item', norm_item='bbox_size')
    with pytest.raises(KeyError, match='bbox_size'):
        metric.process(None, [_sample(gt, gt)])
    with pytest.raises(DataError, match='bbox_size'):
        metric.process(None, [_sample(gt, gt, bbox_size=np.array([1.0, 2.0]))])
    with pytest.raises(DataError, match='pred_keypoints'):
        EPE().process(None, [_sample(np.zeros((2, 2)), gt)])
