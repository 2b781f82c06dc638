"""PCKAccuracy: box-normalised PCK from flat data samples."""
import numpy as np
import pytest

from hrnet_train.evaluation.metrics import PCKAccuracy
from hrnet_train.registry import METRICS


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
    # 192 x 256 input of a 96 x 128 crop centred at (100, 200): input px = (img - 52, img - 136) * 2
    img_kpts = np.array([[70.0, 150.0], [120.0, 250.0]])
    center, scale, size = np.array([100.0, 200.0]), np.array([96.0, 128.0]), np.array([192, 256])
    gt_input = (img_kpts - (center - scale / 2)) * size / scale
    sample = dict(pred_keypoints=img_kpts + [[4.0, 0.0], [0.0, 7.0]], gt_keypoints=gt_input,
                  gt_keypoints_visible=np.array([1.0, 1.0]), bbox=np.array([52, 136, 148, 264.]),
                  bbox_center=center, bbox_scale=scale, input_size=size)
    metric = PCKAccuracy(thr=0.05)  # box side 128 -> 6.4 px
    metric.process(None, [sample])
    assert metric.evaluate(1)['pck/PCK'] == pytest.approx(0.5)
