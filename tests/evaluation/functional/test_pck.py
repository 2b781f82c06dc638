"""PCK from coordinates and from heatmaps; its AUC, EPE and NME."""
import numpy as np
import pytest

from hrnet_train.evaluation.functional import (
    compute_keypoint_auc,
    compute_keypoint_epe,
    compute_keypoint_nme,
    compute_keypoint_pair_distance,
    heatmap_pck_accuracy,
    pck_accuracy,
)


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


def test_pck_accuracy_accepts_one_factor_per_instance():
    gt = np.zeros((2, 1, 2))
    pred = np.array([[[4.0, 0.0]], [[4.0, 0.0]]])  # 4 px: 0.04 of 100 (correct), 0.08 of 50
    acc, avg, cnt = pck_accuracy(pred, gt, np.ones((2, 1), bool), 0.05, np.array([100.0, 50.0]))
    np.testing.assert_allclose(acc, [0.5])
    with pytest.raises(ValueError, match='norm_factor'):
        pck_accuracy(pred, gt, np.ones((2, 1), bool), 0.05, np.ones(4))  # not (2,) or (2, 2)


def _two_by_two():
    """N=2, K=2; kp0 labelled twice, kp1 once. Distances in px: (3, 8 | 7, masked)."""
    gt = np.zeros((2, 2, 2))
    pred = np.array([[[3.0, 0.0], [0.0, 8.0]], [[7.0, 0.0], [50.0, 50.0]]])
    mask = np.array([[True, True], [True, False]])
    return pred, gt, mask


def test_keypoint_auc_hand_values():
    gt = np.zeros((1, 2, 2))
    pred = np.array([[[6.0, 8.0], [12.0, 16.0]]])  # 10 px and 20 px: 1/3 and 2/3 of 30
    # thresholds 0, 0.25, 0.5, 0.75 -> mean PCK 0, 0, 0.5, 1
    assert compute_keypoint_auc(pred, gt, np.ones((1, 2), bool), 30.0,
                                num_thrs=4) == pytest.approx(0.375)
    # PCK averages over keypoint types, not pooled keypoints (mmpose keypoint_pck_accuracy):
    # at thr 0.5 of 10 px, kp0 is 1 of 2 correct, kp1 0 of 1 -> 0.25 (pooled would be 1/3)
    pred, gt, mask = _two_by_two()
    assert compute_keypoint_auc(pred, gt, mask, 10.0, num_thrs=2) == pytest.approx(0.125)
    # per-instance factors in either form; a zero factor drops the instance: only inst 0 counts,
    # at thr 0.5: kp0 correct, kp1 not -> 0.5
    for norm in (np.array([10.0, 0.0]), np.array([[10.0, 10.0], [10.0, 0.0]])):
        assert compute_keypoint_auc(pred, gt, mask, norm, num_thrs=2) == pytest.approx(0.25)
    assert compute_keypoint_auc(pred, gt, mask, np.array([10.0, 10.0]),
                                num_thrs=2) == pytest.approx(0.125)


def test_keypoint_auc_perfect_and_empty():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, size=(3, 5, 2))
    # the first threshold is 0, where nothing counts: a perfect prediction gives 1 - 1/20
    assert compute_keypoint_auc(gt, gt, np.ones((3, 5), bool), 30.0) == pytest.approx(0.95)
    assert compute_keypoint_auc(gt + 100, gt, np.zeros((3, 5), bool), 30.0) == 0.0  # mmpose
    with pytest.raises(ValueError, match='norm_factor'):
        compute_keypoint_auc(gt, gt, np.ones((3, 5), bool), 0.0)
    with pytest.raises(ValueError, match='num_thrs'):
        compute_keypoint_auc(gt, gt, np.ones((3, 5), bool), 30.0, num_thrs=0)
    with pytest.raises(ValueError, match='norm_factor'):
        compute_keypoint_auc(gt, gt, np.ones((3, 5), bool), np.ones((3, 3)))


def test_keypoint_epe_hand_values():
    gt = np.zeros((2, 2, 2))
    pred = np.array([[[3.0, 4.0], [6.0, 8.0]], [[100.0, 0.0], [0.0, 0.0]]])
    mask = np.array([[True, True], [False, True]])
    # 5, 10 and 0 px counted; the 100 px error is masked out
    assert compute_keypoint_epe(pred, gt, mask) == pytest.approx(5.0)
    assert compute_keypoint_epe(pred, gt, np.zeros((2, 2), bool)) == 0.0  # mmpose: sum / max(1, n)
    with pytest.raises(ValueError, match='pred and gt'):
        compute_keypoint_epe(pred, gt[:, :1], mask)
    with pytest.raises(ValueError, match='mask'):
        compute_keypoint_epe(pred, gt, mask[:, :1])
    with pytest.raises(ValueError, match='pred and gt'):
        compute_keypoint_epe(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), mask)


def test_keypoint_nme_hand_values():
    pred, gt, mask = _two_by_two()
    # inst 0 / 10 px: 0.3, 0.8; inst 1 / 20 px: 0.35. The mean runs over keypoints (mmpose),
    # (0.3 + 0.8 + 0.35) / 3, not over instances ((0.55 + 0.35) / 2).
    assert compute_keypoint_nme(pred, gt, mask, np.array([10.0, 20.0])) == pytest.approx(1.45 / 3)
    # per-axis factors: inst 0 kp1 (0, 8) / (10, 4) -> 2; kp0 (3, 0) / 10 -> 0.3
    norm = np.array([[10.0, 4.0], [20.0, 20.0]])
    assert compute_keypoint_nme(pred, gt, mask, norm) == pytest.approx((0.3 + 2.0 + 0.35) / 3)
    # a zero normaliser drops the instance (mmpose _calc_distances); none left -> 0
    assert compute_keypoint_nme(pred, gt, mask, np.array([10.0, 0.0])) == pytest.approx(0.55)
    assert compute_keypoint_nme(pred, gt, mask, np.zeros(2)) == 0.0
    assert compute_keypoint_nme(pred, gt, np.zeros((2, 2), bool), np.ones(2)) == 0.0
    with pytest.raises(ValueError, match='norm_factor'):
        compute_keypoint_nme(pred, gt, mask, np.ones((2, 3)))
    with pytest.raises(ValueError, match='norm_factor'):
        compute_keypoint_nme(pred, gt, mask, np.ones(3))


def test_keypoint_pair_distance():
    kpts = np.array([[[0.0, 0.0], [3.0, 4.0], [9.0, 9.0]], [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]])
    np.testing.assert_allclose(compute_keypoint_pair_distance(kpts, (0, 1)), [5.0, 0.0])
    np.testing.assert_allclose(compute_keypoint_pair_distance(kpts, [2, 0]),
                               [np.hypot(9, 9), np.hypot(1, 1)])
    with pytest.raises(ValueError, match='indices'):
        compute_keypoint_pair_distance(kpts, (0, 3))
    with pytest.raises(ValueError, match='indices'):
        compute_keypoint_pair_distance(kpts, (0, 1, 2))
    with pytest.raises(ValueError, match='keypoints'):
        compute_keypoint_pair_distance(kpts[0], (0, 1))
