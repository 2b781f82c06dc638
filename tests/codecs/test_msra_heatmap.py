import math

import numpy as np
import pytest

from hrnet_train.codecs import MSRAHeatmap
from hrnet_train.codecs.functional import (
    decode_heatmap_argmax,
    refine_keypoints_dark,
    refine_keypoints_quarter_offset,
    render_gaussian_heatmaps,
    render_unbiased_gaussian_heatmaps,
)
from hrnet_train.registry import KEYPOINT_CODECS

INPUT, HEATMAP = (192, 256), (48, 64)


def _official_generate_target(joints, joints_vis, image_size, heatmap_size, sigma):
    """Literal copy of leoxiaobin JointsDataset.generate_target (gaussian branch)."""
    num_joints = joints.shape[0]
    target_weight = np.ones((num_joints, 1), dtype=np.float32)
    target_weight[:, 0] = joints_vis[:, 0]
    target = np.zeros((num_joints, heatmap_size[1], heatmap_size[0]), dtype=np.float32)
    tmp_size = sigma * 3
    for joint_id in range(num_joints):
        feat_stride = image_size / heatmap_size
        mu_x = int(joints[joint_id][0] / feat_stride[0] + 0.5)
        mu_y = int(joints[joint_id][1] / feat_stride[1] + 0.5)
        ul = [int(mu_x - tmp_size), int(mu_y - tmp_size)]
        br = [int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1)]
        if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
            target_weight[joint_id] = 0
            continue
        size = 2 * tmp_size + 1
        x = np.arange(0, size, 1, np.float32)
        y = x[:, np.newaxis]
        x0 = y0 = size // 2
        g = np.exp(-((x - x0)**2 + (y - y0)**2) / (2 * sigma**2))
        g_x = max(0, -ul[0]), min(br[0], heatmap_size[0]) - ul[0]
        g_y = max(0, -ul[1]), min(br[1], heatmap_size[1]) - ul[1]
        img_x = max(0, ul[0]), min(br[0], heatmap_size[0])
        img_y = max(0, ul[1]), min(br[1], heatmap_size[1])
        if target_weight[joint_id] > 0.5:
            target[joint_id][img_y[0]:img_y[1], img_x[0]:img_x[1]] = \
                g[g_y[0]:g_y[1], g_x[0]:g_x[1]]
    return target, target_weight[:, 0]


def test_render_peak_and_values_by_hand():
    heatmaps, weights = render_gaussian_heatmaps(
        np.array([[10.4, 20.6]]), np.array([1.]), (48, 64), sigma=2.)
    assert heatmaps.shape == (1, 64, 48) and heatmaps.dtype == np.float32
    # int(10.4 + 0.5) = 10, int(20.6 + 0.5) = 21
    assert np.unravel_index(heatmaps[0].argmax(), (64, 48)) == (21, 10)
    assert heatmaps[0, 21, 10] == 1.
    assert heatmaps[0, 21, 11] == pytest.approx(math.exp(-1 / 8))
    assert heatmaps[0, 22, 11] == pytest.approx(math.exp(-2 / 8))
    # radius 3 sigma: 13x13 patch, nothing at distance 7
    assert (heatmaps[0] > 0).sum() == 13 * 13
    assert heatmaps[0, 21, 10 + 7] == 0 and heatmaps[0, 21, 10 + 6] > 0
    assert weights.tolist() == [1.]


def test_render_weights_invisible_and_off_map():
    kpts = np.array([[10., 10.], [10., 10.], [-9., 5.], [-8., 5.], [54., 5.], [53.4, 5.]])
    vis = np.array([1., 0., 1., 1., 1., 1.])
    heatmaps, weights = render_gaussian_heatmaps(kpts, vis, (48, 64), 2.)
    # invisible -> 0; x=-9 -> mu=int(-8.5)=-8, patch right edge -1 < 0 -> off map;
    # x=-8 -> mu=-7, br=0 is not < 0: the official code keeps weight 1 with an empty paste.
    # x=54 -> left=48 >= W -> 0; x=53.4 -> mu=53, left=47: one column drawn.
    assert weights.tolist() == [1., 0., 0., 1., 0., 1.]
    assert heatmaps[1].max() == 0 and heatmaps[2].max() == 0 and heatmaps[4].max() == 0
    assert heatmaps[5, 5, 47] == pytest.approx(math.exp(-36 / 8))


def test_render_matches_official_generate_target():
    rng = np.random.default_rng(0)
    joints = rng.uniform(-40, 240, size=(300, 2)).astype(np.float32)
    vis = (rng.uniform(size=300) > 0.2).astype(np.float32)
    codec = MSRAHeatmap(INPUT, HEATMAP, 2.)
    ours = codec.encode(joints, vis)
    ref, ref_w = _official_generate_target(joints, vis[:, None], np.array(INPUT),
                                           np.array(HEATMAP), 2)
    np.testing.assert_allclose(ours['heatmaps'], ref, atol=1e-7)
    np.testing.assert_array_equal(ours['keypoint_weights'], ref_w)
    assert 0 < ref_w.sum() < vis.sum()  # some joints really fell off the map


def test_round_trip_within_rounding():
    rng = np.random.default_rng(1)
    codec = MSRAHeatmap(INPUT, HEATMAP, 2.)
    kpts = rng.uniform([10, 10], [182, 246], size=(17, 2)).astype(np.float32)
    encoded = codec.encode(kpts, np.ones(17))
    decoded, scores = codec.decode(encoded['heatmaps'])
    assert decoded.shape == (17, 2) and scores.shape == (17,)
    # The rendered peak is symmetric about the rounded centre, so the quarter offset does not fire:
    # the error is the rounding to the heatmap grid, <= stride / 2 = 2 input px per axis
    # (measured max 1.999 over 2000 points).
    assert np.abs(decoded - kpts).max() <= 2.0 + 1e-4
    np.testing.assert_array_equal(scores, 1.)
    # keypoints on the heatmap grid round-trip exactly
    on_grid = np.array([[40., 80.], [4., 252.]], dtype=np.float32)
    dec, _ = codec.decode(codec.encode(on_grid, np.ones(2))['heatmaps'])
    np.testing.assert_array_equal(dec, on_grid)


def test_quarter_offset_by_hand():
    # two equal-height Gaussians 1 px apart: argmax is the left one (first max),
    # its right neighbour is higher than its left one -> +0.25 in x; y symmetric -> no move.
    hm, _ = render_unbiased_gaussian_heatmaps(np.array([[20.5, 30.]]), np.ones(1), (48, 64), 2.)
    kpts, scores = decode_heatmap_argmax(hm[None])
    assert kpts[0, 0].tolist() == [20., 30.]
    refined = refine_keypoints_quarter_offset(kpts, hm[None])
    assert refined[0, 0].tolist() == [20.25, 30.]
    codec = MSRAHeatmap(INPUT, HEATMAP, 2.)
    decoded, _ = codec.decode(hm)
    assert decoded[0].tolist() == [81., 120.]


def test_quarter_offset_skips_border_like_official():
    # official: only when 1 < px < W - 1 and 1 < py < H - 1 (W = 48)
    for true_x, argmax_x, moved_x in ((1.3, 1., 1.), (2.3, 2., 2.25), (46.3, 46., 46.25),
                                      (46.7, 47., 47.)):
        hm, _ = render_unbiased_gaussian_heatmaps(np.array([[true_x, 30.]]), np.ones(1),
                                                  (48, 64), 2.)
        kpts, _ = decode_heatmap_argmax(hm[None])
        assert kpts[0, 0, 0] == argmax_x
        refined = refine_keypoints_quarter_offset(kpts, hm[None])
        assert refined[0, 0].tolist() == [moved_x, 30.]


def test_decode_zeroes_non_positive_maxima():
    hm = np.full((2, 64, 48), -1., dtype=np.float32)
    hm[0, 5, 7] = -0.5
    hm[1, 10, 12] = 0.7
    codec = MSRAHeatmap(INPUT, HEATMAP, 2.)
    kpts, scores = codec.decode(hm)
    assert kpts[0].tolist() == [0., 0.]
    assert kpts[1].tolist() == [48., 40.]  # (12, 10) * 4, isolated peak -> no offset
    np.testing.assert_allclose(scores, [-0.5, 0.7])


def test_decode_batch_equals_single():
    rng = np.random.default_rng(2)
    hm = rng.uniform(size=(3, 17, 64, 48)).astype(np.float32)
    for unbiased in (False, True):
        codec = MSRAHeatmap(INPUT, HEATMAP, 2., unbiased=unbiased)
        kpts, scores = codec.decode_batch(hm)
        assert kpts.shape == (3, 17, 2) and scores.shape == (3, 17)
        for n in range(3):
            k1, s1 = codec.decode(hm[n])
            np.testing.assert_allclose(kpts[n], k1, rtol=0, atol=1e-5)
            np.testing.assert_array_equal(scores[n], s1)


def _mmpose_refine_keypoints_dark(keypoints, heatmaps, blur_kernel_size):
    """Literal copy of mmpose 1.3 refine_keypoints_dark + gaussian_blur (N = 1)."""
    import cv2
    heatmaps = heatmaps.copy()
    border = (blur_kernel_size - 1) // 2
    K, H, W = heatmaps.shape
    for k in range(K):
        origin_max = np.max(heatmaps[k])
        dr = np.zeros((H + 2 * border, W + 2 * border), dtype=np.float32)
        dr[border:-border, border:-border] = heatmaps[k].copy()
        dr = cv2.GaussianBlur(dr, (blur_kernel_size, blur_kernel_size), 0)
        heatmaps[k] = dr[border:-border, border:-border].copy()
        heatmaps[k] *= origin_max / np.max(heatmaps[k])
    np.maximum(heatmaps, 1e-10, heatmaps)
    np.log(heatmaps, heatmaps)
    keypoints = keypoints.copy()
    for k in range(K):
        x, y = keypoints[0, k, :2].astype(int)
        if 1 < x < W - 2 and 1 < y < H - 2:
            dx = 0.5 * (heatmaps[k, y, x + 1] - heatmaps[k, y, x - 1])
            dy = 0.5 * (heatmaps[k, y + 1, x] - heatmaps[k, y - 1, x])
            dxx = 0.25 * (heatmaps[k, y, x + 2] - 2 * heatmaps[k, y, x] + heatmaps[k, y, x - 2])
            dxy = 0.25 * (heatmaps[k, y + 1, x + 1] - heatmaps[k, y - 1, x + 1]
                          - heatmaps[k, y + 1, x - 1] + heatmaps[k, y - 1, x - 1])
            dyy = 0.25 * (heatmaps[k, y + 2, x] - 2 * heatmaps[k, y, x] + heatmaps[k, y - 2, x])
            if dxx * dyy - dxy**2 != 0:
                hessian = np.array([[dxx, dxy], [dxy, dyy]])
                keypoints[0, k, :2] += -np.linalg.inv(hessian) @ np.array([dx, dy])
    return keypoints


def test_dark_refinement_matches_mmpose_everywhere():
    rng = np.random.default_rng(4)
    kpts = rng.uniform([-2, -2], [50, 66], size=(60, 2)).astype(np.float32)
    hm, _ = render_unbiased_gaussian_heatmaps(kpts, np.ones(60), (48, 64), 2.)
    hm += rng.uniform(0, 0.05, size=hm.shape).astype(np.float32)  # break the symmetry
    argmax, _ = decode_heatmap_argmax(hm[None])
    ours = refine_keypoints_dark(argmax, hm[None], blur_kernel_size=11)
    ref = _mmpose_refine_keypoints_dark(argmax, hm, 11)
    np.testing.assert_allclose(ours, ref, atol=2e-4)


@pytest.mark.parametrize('input_size,heatmap_size,sigma,kernel', [
    ((192, 256), (48, 64), 2., 11),
    ((288, 384), (72, 96), 3., 17),
])
def test_dark_round_trip(input_size, heatmap_size, sigma, kernel):
    rng = np.random.default_rng(3)
    codec = MSRAHeatmap(input_size, heatmap_size, sigma, unbiased=True, blur_kernel_size=kernel)
    # The zero-padded modulation blur (as DARK/mmpose) biases keypoints within (kernel - 1) / 2
    # heatmap px of the border (measured up to 0.85 input px at 2 px, 256x192); beyond that the
    # error is tiny: measured max 0.0023 (256x192) / 0.0017 (384x288) input px.
    margin = (kernel - 1) // 2
    kpts = rng.uniform(margin, np.array(heatmap_size) - 1 - margin, size=(200, 2))
    kpts = (kpts * codec.stride).astype(np.float32)
    encoded = codec.encode(kpts, np.ones(200))
    assert encoded['heatmaps'].max() <= 1.
    decoded, _ = codec.decode(encoded['heatmaps'])
    err = np.abs(decoded - kpts)
    assert err.max() < 0.005
    assert err.mean() < 0.001


def test_dark_refinement_by_hand():
    hm, _ = render_unbiased_gaussian_heatmaps(np.array([[20.3, 30.7]]), np.ones(1), (48, 64), 2.)
    kpts, _ = decode_heatmap_argmax(hm[None])
    assert kpts[0, 0].tolist() == [20., 31.]
    refined = refine_keypoints_dark(kpts, hm[None], blur_kernel_size=11)
    np.testing.assert_allclose(refined[0, 0], [20.3, 30.7], atol=0.005)


def test_registry_build_and_bad_input():
    codec = KEYPOINT_CODECS.build(
        dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2))
    assert isinstance(codec, MSRAHeatmap)
    np.testing.assert_array_equal(codec.stride, [4., 4.])
    with pytest.raises(ValueError, match='heatmaps must be 64x48'):
        codec.decode(np.zeros((17, 32, 24), dtype=np.float32))
    with pytest.raises(ValueError, match=r'keypoints must have shape \(K, 2\)'):
        codec.encode(np.zeros((17, 3)), np.ones(17))
    with pytest.raises(ValueError, match='blur_kernel_size'):
        MSRAHeatmap(INPUT, HEATMAP, 2., unbiased=True, blur_kernel_size=10)
