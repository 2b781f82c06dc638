"""PCKAccuracy (box-normalised PCK) and AUC from flat data samples."""
import numpy as np
import pytest

from hrnet_train.evaluation.functional import compute_keypoint_auc
from hrnet_train.evaluation.metrics import AUC, PCKAccuracy
from hrnet_train.registry import METRICS
from hrnet_train.utils.errors import ConfigError


def _sample(pred, gt, bbox):
    return dict(pred_keypoints=np.asarray(pred, float), keypoints=np.asarray(gt, float),
                keypoints_visible=np.ones(len(gt)), bbox=np.asarray(bbox, float))


def test_hand_values_image_space():
    assert METRICS.get('PCKAccuracy') is PCKAccuracy
    gt = np.array([[10.0, 10.0], [50.0, 50.0]])
    box = [0, 0, 100, 200]  # longer side 200 -> 0.05 * 200 = 10 px
    metric = PCKAccuracy()
    metric.process(None, [_sample(gt + [[9.0, 0.0], [0.0, 11.0]], gt, box)])
    metric.process(None, [_sample(gt + [[0.0, 0.0], [6.0, 8.0]], gt, box)])  # 10 px: not < 10
    # kp0: 2 / 2 correct, kp1: 0 / 2 -> mean over keypoint types 0.5
    assert metric.evaluate(2) == {'pck/PCK': pytest.approx(0.5)}


def test_gt_in_input_pixels_is_mapped_back():
    # 192 x 256 input of a 96 x 128 crop centred at (100, 200): input px = (img - (52, 136)) * 2
    img_kpts = np.array([[70.0, 150.0], [120.0, 250.0]])
    warp = np.array([[2.0, 0.0, -104.0], [0.0, 2.0, -272.0]], dtype=np.float32)
    gt_input = (img_kpts - [52.0, 136.0]) * 2.0
    sample = dict(pred_keypoints=img_kpts + [[4.0, 0.0], [0.0, 7.0]], gt_keypoints=gt_input,
                  gt_keypoints_visible=np.array([1.0, 1.0]), bbox=np.array([52, 136, 148, 264.]),
                  warp_matrix=warp)
    metric = PCKAccuracy(thr=0.05)  # box side 128 -> 6.4 px: kp0 (4 px) correct, kp1 (7 px) not
    metric.process(None, [sample])
    np.testing.assert_allclose(metric.results[0]['gt'], img_kpts, atol=1e-4)
    assert metric.evaluate(1)['pck/PCK'] == pytest.approx(0.5)
    del sample['warp_matrix']
    with pytest.raises(KeyError, match='warp_matrix'):
        PCKAccuracy().process(None, [sample])


def test_auc_hand_values_and_key():
    metric = METRICS.build(dict(type='AUC', norm_factor=30, num_thrs=4))
    assert isinstance(metric, AUC)
    gt = np.array([[10.0, 10.0], [50.0, 50.0]])
    metric.process(None, [_sample(gt + [[6.0, 8.0], [12.0, 16.0]], gt, [0, 0, 1, 1])])
    # 10 and 20 px of 30: thresholds 0, 0.25, 0.5, 0.75 -> PCK 0, 0, 0.5, 1
    assert metric.evaluate(1) == {'auc/@4thrs': pytest.approx(0.375)}


def test_auc_equals_functional_with_masks():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 200, size=(6, 17, 2))
    pred = gt + rng.normal(0, 15, size=gt.shape)
    visible = rng.uniform(size=(6, 17)) > 0.3
    metric = AUC()
    for i in range(0, 6, 2):  # two samples per batch
        metric.process(None, [dict(pred_keypoints=pred[j], keypoints=gt[j],
                                   keypoints_visible=visible[j].astype(float))
                              for j in (i, i + 1)])
    res = metric.evaluate(6)
    expected = compute_keypoint_auc(pred, gt, visible, 30.0, num_thrs=20)
    assert list(res) == ['auc/@20thrs']
    assert res['auc/@20thrs'] == pytest.approx(expected, abs=1e-12)
    assert 0.2 < expected < 0.9  # a non-trivial value


def test_auc_argument_checks_and_nothing_labelled():
    with pytest.raises(ConfigError, match='norm_factor'):
        AUC(norm_factor=0)
    with pytest.raises(ConfigError, match='num_thrs'):
        AUC(num_thrs=0)
    metric = AUC()
    gt = np.zeros((2, 2))
    metric.process(None, [dict(pred_keypoints=gt + 1, keypoints=gt, keypoints_visible=np.zeros(2))])
    assert metric.evaluate(1) == {'auc/@20thrs': 0.0}  # mmpose: no labelled keypoint -> 0
