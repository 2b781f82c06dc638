"""OKS-NMS, soft OKS-NMS and box NMS on hand-worked cases."""
import numpy as np
import pytest

from hrnet_train.evaluation.functional import box_iou, compute_oks, nms, oks_nms, soft_oks_nms


def _three_poses():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, size=(17, 2))
    b = a + 1.0  # 1 px off A: OKS ~0.99
    c = a + 300.0  # far away: OKS ~0
    return np.stack([a, b, c]), np.full(3, 10000.0)


def test_oks_nms_suppresses_the_near_duplicate():
    kpts, areas = _three_poses()
    oks_ab = compute_oks(kpts[0], kpts[1], areas[0], areas[1])
    assert 0.9 < oks_ab < 1.0
    assert compute_oks(kpts[0], kpts[2], areas[0], areas[2]) < 1e-6
    keep = oks_nms(kpts, np.array([0.9, 0.8, 0.7]), areas, 0.9)
    np.testing.assert_array_equal(keep, [0, 2])
    assert keep.dtype == np.int64
    # the best-scoring pose wins, whichever index it has
    np.testing.assert_array_equal(oks_nms(kpts, np.array([0.8, 0.9, 0.7]), areas, 0.9), [1, 2])
    # a threshold above their OKS keeps both; the result is in decreasing score order
    ascending = np.array([0.5, 0.8, 0.9])
    np.testing.assert_array_equal(oks_nms(kpts, ascending, areas, oks_ab), [2, 1, 0])
    np.testing.assert_array_equal(oks_nms(kpts, ascending, areas, oks_ab - 1e-9), [2, 1])


def test_oks_nms_empty_and_single():
    assert oks_nms(np.zeros((0, 17, 2)), np.zeros(0), np.zeros(0), 0.9).size == 0
    np.testing.assert_array_equal(oks_nms(np.zeros((1, 17, 2)), [1.0], [1.0], 0.9), [0])
    with pytest.raises(ValueError, match='scores and areas'):
        oks_nms(np.zeros((2, 17, 2)), [1.0], [1.0, 1.0], 0.9)


def test_soft_oks_nms_gaussian_reorders():
    kpts, areas = _three_poses()
    kpts[1] = kpts[0]  # exact duplicate: OKS 1
    scores = np.array([0.9, 0.85, 0.5])
    # after A: B -> 0.85 * exp(-1 / 0.9) = 0.2798 < C -> 0.5 * exp(-0) = 0.5, so C comes before B
    np.testing.assert_array_equal(soft_oks_nms(kpts, scores, areas, 0.9), [0, 2, 1])
    np.testing.assert_array_equal(soft_oks_nms(kpts, scores, areas, 0.9, max_dets=2), [0, 2])
    # linear: B (OKS 1 >= 0.9) -> 0.85 * (1 - 1) = 0
    np.testing.assert_array_equal(soft_oks_nms(kpts, scores, areas, 0.9, method='linear'),
                                  [0, 2, 1])
    # with C below B's rescored value, the order follows the scores again
    np.testing.assert_array_equal(soft_oks_nms(kpts, np.array([0.9, 0.85, 0.2]), areas, 0.9),
                                  [0, 1, 2])
    with pytest.raises(ValueError, match='method'):
        soft_oks_nms(kpts, scores, areas, 0.9, method='hard')


def test_box_iou_and_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float64)
    iou = box_iou(boxes, boxes)
    # overlap 9 x 9 = 81, union 100 + 100 - 81 = 119
    assert iou[0, 1] == pytest.approx(81 / 119)
    assert iou[0, 2] == 0.0
    np.testing.assert_allclose(np.diag(iou), 1.0)
    scores = np.array([0.9, 0.8, 0.7])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0, 2])
    np.testing.assert_array_equal(nms(boxes, scores, 0.7), [0, 1, 2])
    np.testing.assert_array_equal(nms(boxes, np.array([0.1, 0.8, 0.7]), 0.5), [1, 2])
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).size == 0
    assert box_iou(np.array([[0, 0, 0, 0.]]), np.array([[0, 0, 0, 0.]]))[0, 0] == 0.0
