import math

import numpy as np
import pytest

from hrnet_train.codecs import UDPHeatmap
from hrnet_train.codecs.functional import (
    decode_heatmap_argmax,
    refine_keypoints_dark_udp,
    render_udp_gaussian_heatmaps,
)
from hrnet_train.registry import KEYPOINT_CODECS


def test_stride_maps_first_and_last_pixel_centres():
    codec = UDPHeatmap((192, 256), (48, 64), 2.)
    np.testing.assert_allclose(codec.stride, [191 / 47, 255 / 63])
    encoded = codec.encode(np.array([[0., 0.], [191., 255.], [95.5, 127.5]]), np.ones(3))
    hm = encoded['heatmaps']
    assert hm[0, 0, 0] == pytest.approx(1.) and hm[1, 63, 47] == pytest.approx(1.)
    # the input centre is the heatmap centre (23.5, 31.5): four equal pixels around it
    np.testing.assert_allclose(hm[2, 31:33, 23:25], math.exp(-0.5 / 8), rtol=1e-6)
    decoded, scores = codec.decode(hm)
    np.testing.assert_allclose(decoded[2], [95.5, 127.5], atol=1e-3)


def test_render_exact_sub_pixel_location():
    hm, weights = render_udp_gaussian_heatmaps(np.array([[20.3, 30.]]), np.ones(1), (48, 64), 2.)
    # Gaussian centred on 20.3, truncated to the 13x13 patch around int(20.3 + 0.5) = 20
    assert hm[0, 30, 20] == pytest.approx(math.exp(-0.3**2 / 8), rel=1e-6)
    assert hm[0, 30, 21] == pytest.approx(math.exp(-0.7**2 / 8), rel=1e-6)
    assert hm[0, 30, 26] > 0 and hm[0, 30, 27] == 0 and hm[0, 30, 14] > 0
    assert weights.tolist() == [1.]
    _, w = render_udp_gaussian_heatmaps(np.array([[-9., 3.], [10., 3.]]), np.array([1., 0.]),
                                        (48, 64), 2.)
    assert w.tolist() == [0., 0.]  # off the map; invisible


def _mmpose_refine_keypoints_dark_udp(keypoints, heatmaps, blur_kernel_size):
    """Literal copy of mmpose 1.3 refine_keypoints_dark_udp + gaussian_blur."""
    import cv2
    N, K = keypoints.shape[:2]
    H, W = heatmaps.shape[1:]
    heatmaps = heatmaps.copy()
    border = (blur_kernel_size - 1) // 2
    for k in range(K):
        origin_max = np.max(heatmaps[k])
        dr = np.zeros((H + 2 * border, W + 2 * border), dtype=np.float32)
        dr[border:-border, border:-border] = heatmaps[k].copy()
        dr = cv2.GaussianBlur(dr, (blur_kernel_size, blur_kernel_size), 0)
        heatmaps[k] = dr[border:-border, border:-border].copy()
        heatmaps[k] *= origin_max / np.max(heatmaps[k])
    np.clip(heatmaps, 1e-3, 50., heatmaps)
    np.log(heatmaps, heatmaps)
    heatmaps_pad = np.pad(heatmaps, ((0, 0), (1, 1), (1, 1)), mode='edge').flatten()
    keypoints = keypoints.copy()
    for n in range(N):
        index = keypoints[n, :, 0] + 1 + (keypoints[n, :, 1] + 1) * (W + 2)
        index += (W + 2) * (H + 2) * np.arange(0, K)
        index = index.astype(int).reshape(-1, 1)
        i_ = heatmaps_pad[index]
        ix1 = heatmaps_pad[index + 1]
        iy1 = heatmaps_pad[index + W + 2]
        ix1y1 = heatmaps_pad[index + W + 3]
        ix1_y1_ = heatmaps_pad[index - W - 3]
        ix1_ = heatmaps_pad[index - 1]
        iy1_ = heatmaps_pad[index - 2 - W]
        dx = 0.5 * (ix1 - ix1_)
        dy = 0.5 * (iy1 - iy1_)
        derivative = np.concatenate([dx, dy], axis=1).reshape(K, 2, 1)
        dxx = ix1 - 2 * i_ + ix1_
        dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
        dyy = iy1 - 2 * i_ + iy1_
        hessian = np.concatenate([dxx, dxy, dxy, dyy], axis=1).reshape(K, 2, 2)
        hessian = np.linalg.inv(hessian + np.finfo(np.float32).eps * np.eye(2))
        keypoints[n] -= np.einsum('imn,ink->imk', hessian, derivative).squeeze()
    return keypoints


def test_dark_udp_refinement_matches_mmpose_everywhere():
    rng = np.random.default_rng(1)
    kpts = rng.uniform([0, 0], [47, 63], size=(60, 2)).astype(np.float32)
    hm, _ = render_udp_gaussian_heatmaps(kpts, np.ones(60), (48, 64), 2.)
    hm += rng.uniform(0, 0.05, size=hm.shape).astype(np.float32)
    argmax, _ = decode_heatmap_argmax(hm[None])
    ours = refine_keypoints_dark_udp(argmax, hm[None], blur_kernel_size=11)
    ref = _mmpose_refine_keypoints_dark_udp(argmax, hm, 11)
    np.testing.assert_allclose(ours, ref, atol=2e-4)


@pytest.mark.parametrize('input_size,heatmap_size,sigma,kernel', [
    ((192, 256), (48, 64), 2., 11),
    ((288, 384), (72, 96), 3., 17),
])
def test_round_trip(input_size, heatmap_size, sigma, kernel):
    rng = np.random.default_rng(0)
    codec = UDPHeatmap(input_size, heatmap_size, sigma, blur_kernel_size=kernel)
    # Within (kernel - 1) / 2 heatmap px of the border the zero-padded blur biases the result
    # (as in mmpose; measured up to 4 input px on the border itself). Inside, measured max error
    # 0.0024 (256x192) / 0.0017 (384x288) input px.
    margin = (kernel - 1) // 2 * codec.stride
    kpts = rng.uniform(margin, np.array(input_size) - 1 - margin, size=(300, 2)).astype(np.float32)
    decoded, _ = codec.decode(codec.encode(kpts, np.ones(300))['heatmaps'])
    err = np.abs(decoded - kpts)
    assert err.max() < 0.005
    assert err.mean() < 0.001


def test_dark_udp_refinement_by_hand():
    hm, _ = render_udp_gaussian_heatmaps(np.array([[10.6, 5.2]]), np.ones(1), (48, 64), 2.)
    kpts, _ = decode_heatmap_argmax(hm[None])
    assert kpts[0, 0].tolist() == [11., 5.]
    refined = refine_keypoints_dark_udp(kpts, hm[None], blur_kernel_size=11)
    np.testing.assert_allclose(refined[0, 0], [10.6, 5.2], atol=0.003)


def test_decode_zeroes_non_positive_maxima_and_batch():
    codec = KEYPOINT_CODECS.build(
        dict(type='UDPHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2))
    hm = np.zeros((2, 3, 64, 48), dtype=np.float32)
    hm[0, 1] = codec.encode(np.array([[100., 50.]]), np.ones(1))['heatmaps'][0]
    kpts, scores = codec.decode_batch(hm)
    assert kpts.shape == (2, 3, 2)
    np.testing.assert_allclose(kpts[0, 1], [100., 50.], atol=0.01)
    assert np.count_nonzero(kpts) == 2 and scores[0, 1] > 0.9 and scores[1].max() == 0
