"""draw_pose draws keypoints and links where the scores allow."""
import numpy as np
import pytest

from hrnet_train.visualization import draw_pose


def test_draws_points_and_links_above_threshold():
    img = np.zeros((60, 80, 3), np.uint8)
    kpts = np.array([[[10.0, 10.0], [50.0, 10.0], [30.0, 40.0]]])
    scores = np.array([[0.9, 0.8, 0.1]])
    out = draw_pose(img, kpts, scores, [(0, 1), (1, 2)], score_thr=0.3, radius=2, thickness=1,
                    keypoint_colors=[(255, 0, 0)] * 3, link_colors=[(0, 0, 255), (0, 255, 0)])
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not img.any()  # input untouched
    np.testing.assert_array_equal(out[10, 10], [255, 0, 0])
    np.testing.assert_array_equal(out[10, 50], [255, 0, 0])
    mid = out[10, 30]  # middle of link 0-1 (anti-aliased, so not necessarily 255)
    assert mid[2] > 200 and mid[0] == 0 and mid[1] == 0
    assert not out[40, 30].any()  # keypoint 2 below the threshold
    assert not out[:, :, 1].any()  # link 1-2 not drawn (green channel unused)


def test_single_pose_and_no_scores():
    img = np.full((20, 20, 3), 7, np.uint8)
    out = draw_pose(img, np.array([[5.0, 5.0]]), radius=1)
    np.testing.assert_array_equal(out[5, 5], [0, 255, 0])
    np.testing.assert_array_equal(out[15, 15], [7, 7, 7])


def test_bad_input():
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match='img'):
        draw_pose(img.astype(np.float32), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match='skeleton'):
        draw_pose(img, np.zeros((1, 2, 2)), skeleton=[(0, 2)])
    with pytest.raises(ValueError, match='keypoints'):
        draw_pose(img, np.zeros((1, 2, 3)))
