"""The in-graph (torch) decoding equals the codecs' numpy decoding."""
import numpy as np
import pytest
import torch

from hrnet_train.codecs import functional as CF
from hrnet_train.deploy import decode as D
from hrnet_train.models.detectors.topdown_pose import flip_heatmaps


def _heatmaps(seed: int = 0, n: int = 2, k: int = 7, h: int = 32, w: int = 24) -> np.ndarray:
    """Gaussians at random sub-pixel points (some on the border) plus noise; one map all <= 0."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform([-0.5, -0.5], [w - 0.5, h - 0.5], size=(n * k, 2))
    pts[:3] = [[0, 5], [w - 1, 10], [1.2, h - 1.6]]  # borders: no / partial refinement
    hm, _ = CF.render_unbiased_gaussian_heatmaps(pts, np.ones(n * k), (w, h), 1.5)
    hm = hm.reshape(n, k, h, w) + rng.normal(0, 0.01, (n, k, h, w)).astype(np.float32)
    hm[0, 1] = -np.abs(hm[0, 1])  # maximum <= 0: keypoint (0, 0)
    return hm.astype(np.float32)


def test_argmax_and_quarter_offset_equal_numpy():
    hm = _heatmaps()
    kp_ref, sc_ref = CF.decode_heatmap_argmax(hm)
    kp, sc, _ = D.decode_argmax(torch.from_numpy(hm))
    np.testing.assert_array_equal(kp.numpy(), kp_ref)
    np.testing.assert_array_equal(sc.numpy(), sc_ref)
    assert kp_ref[0, 1].tolist() == [0, 0]
    ref = CF.refine_keypoints_quarter_offset(kp_ref, hm)
    out = D.refine_quarter_offset(kp, torch.from_numpy(hm)).numpy()
    np.testing.assert_array_equal(out, ref)
    assert np.isin(np.abs(ref - kp_ref), [0, 0.25]).all() and (ref != kp_ref).any()


@pytest.mark.parametrize('kernel', [5, 11])
def test_blur_equals_cv2(kernel):
    hm = _heatmaps(1)
    ref = CF.blur_heatmaps(hm, kernel)
    out = D.blur_heatmaps(torch.from_numpy(hm), kernel).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-6)


@pytest.mark.parametrize('which', ['dark', 'dark_udp'])
def test_dark_refinements_equal_numpy(which):
    hm = _heatmaps(2)
    kp_ref, _ = CF.decode_heatmap_argmax(hm)
    np_fn = dict(dark=CF.refine_keypoints_dark, dark_udp=CF.refine_keypoints_dark_udp)[which]
    t_fn = dict(dark=D.refine_dark, dark_udp=D.refine_dark_udp)[which]
    ref = np_fn(kp_ref, hm, blur_kernel_size=11)
    out = t_fn(torch.from_numpy(kp_ref), torch.from_numpy(hm), blur_kernel_size=11).numpy()
    assert np.abs(ref - kp_ref).max() > 0.05  # the step moves keypoints
    np.testing.assert_allclose(out, ref, atol=1e-3)


@pytest.mark.parametrize('shift', [0.0, 1.0, 0.75, 2.5])
def test_flip_back_equals_flip_heatmaps(shift):
    hm = torch.from_numpy(_heatmaps(3, k=4))
    flip = [1, 0, 3, 2]
    ref = flip_heatmaps(hm, flip, shift=shift)
    out = D.flip_back_heatmaps(hm, flip, shift)
    assert torch.allclose(out, ref, atol=1e-7)
    with pytest.raises(ValueError, match='flip_indices has 3 entries'):
        D.flip_back_heatmaps(hm, [1, 0, 2], shift)
