"""PCK from coordinates and from heatmaps."""
import numpy as np
import pytest

from hrnet_train.evaluation.functional import heatmap_pck_accuracy, pck_accuracy


def test_pck_accuracy_hand_values():
    gt = np.zeros((2, 3, 2))
    pred = gt.copy()
    pred[0, 0] = [6, 8]  # distance 10 -> 10 / 100 = 0.1: wrong
    pred[1, 0] = [0, 4.9]  # 0.049: correct
    pred[0, 1] = [30, 0]  # wrong
    mask = np.array([[True, True, False], [True, False, False]])
    norm = np.full((2, 2), 100.0)
    acc, avg, cnt = pck_accuracy(pred, gt, mask, 0.05, norm)
    # kp0: 1 of 2 correct, kp1: 0 of 1, kp2: never labelled -> -1
    np.testing.assert_allclose(acc, [0.5, 0.0, -1.0])
    assert avg == pytest.approx(0.25) and cnt == 2


def test_pck_accuracy_per_axis_norm_and_zero_box():
    gt = np.zeros((2, 1, 2))
    pred = np.array([[[4.0, 0.0]], [[4.0, 0.0]]])
    norm = np.array([[100.0, 1.0], [0.0, 0.0]])  # x normalised by 100; 2nd instance ignored
    acc, avg, cnt = pck_accuracy(pred, gt, np.ones((2, 1), bool), 0.05, norm)
    np.testing.assert_allclose(acc, [1.0])
    assert cnt == 1
    acc, avg, cnt = pck_accuracy(pred, gt, np.zeros((2, 1), bool), 0.05, norm)
    assert acc[0] == -1 and avg == 0.0 and cnt == 0


def _peaks(locs, h=64, w=48):
    hm = np.zeros((1, len(locs), h, w), dtype=np.float32)
    for k, (x, y) in enumerate(locs):
        hm[0, k, y, x] = 1.0
    return hm


def test_heatmap_pck_uses_official_normalisation():
    # 64 x 48 heatmaps: the official accuracy divides the (x, y) offset by (H, W) = (64, 48)
    out = _peaks([(10, 20), (10, 20), (10, 20)])
    tgt = _peaks([(13, 20), (10, 23), (10, 20)])
    acc, avg, cnt = heatmap_pck_accuracy(out, tgt, np.ones((1, 3), bool))
    # kp0: dx 3 / 64 = 0.047 < 0.05 correct (3 / 48 = 0.0625 would not be);
    # kp1: dy 3 / 48 = 0.0625 wrong; kp2: exact
    np.testing.assert_allclose(acc, [1.0, 0.0, 1.0])
    assert avg == pytest.approx(2 / 3) and cnt == 3
    # an explicit (x, y) normalisation by (W, H) flips kp0 and kp1
    acc, _, _ = heatmap_pck_accuracy(out, tgt, np.ones((1, 3), bool),
                                     norm_factor=np.array([[48.0, 64.0]]))
    np.testing.assert_allclose(acc, [0.0, 1.0, 1.0])
    acc, _, cnt = heatmap_pck_accuracy(out, tgt, np.array([[1, 0, 1]]))
    np.testing.assert_allclose(acc, [1.0, -1.0, 1.0])
    assert cnt == 2
    with pytest.raises(ValueError, match='output and target'):
        heatmap_pck_accuracy(out, tgt[:, :2], np.ones((1, 3), bool))
