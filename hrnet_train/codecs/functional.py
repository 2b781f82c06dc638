"""Heatmap maths shared by the keypoint codecs: Gaussian rendering, argmax decoding and refinement.

Coordinates are (x, y) pixels of the array they refer to, with pixel centres on integers. Every
function here takes and returns numpy arrays and numbers; none knows about codecs or configs.

Sources:
- MSRA rendering and the quarter-pixel offset: leoxiaobin/deep-high-resolution-net.pytorch
  ``lib/dataset/JointsDataset.py`` (generate_target) and ``lib/core/inference.py``
  (get_max_preds, get_final_preds).
- DARK (Zhang et al., "Distribution-Aware Coordinate Representation", CVPR 2020) and UDP (Huang et
  al., "The Devil is in the Details", CVPR 2020): as in open-mmlab/mmpose
  ``mmpose/codecs/utils/{gaussian_heatmap,post_processing,refinement}.py``.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    'render_gaussian_heatmaps', 'render_unbiased_gaussian_heatmaps',
    'render_udp_gaussian_heatmaps', 'decode_heatmap_argmax', 'refine_keypoints_quarter_offset',
    'blur_heatmaps', 'refine_keypoints_dark', 'refine_keypoints_dark_udp',
]


def _check_render_args(keypoints: np.ndarray, visible: np.ndarray, size: tuple[int, int],
                       sigma: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    keypoints = np.asarray(keypoints, dtype=np.float32)
    visible = np.asarray(visible, dtype=np.float32)
    if keypoints.ndim != 2 or keypoints.shape[1] != 2:
        raise ValueError(f'keypoints must have shape (K, 2), got {keypoints.shape}')
    if visible.shape != keypoints.shape[:1]:
        raise ValueError(
            f'visible must have shape ({keypoints.shape[0]},) to match keypoints, '
            f'got {visible.shape}')
    if sigma <= 0:
        raise ValueError(f'sigma must be > 0, got {sigma}')
    w, h = (int(s) for s in size)
    return keypoints, visible, w, h



def _paste_patches(keypoints: np.ndarray, weights: np.ndarray, heatmaps: np.ndarray,
                   radius: float, patch_for) -> None:
    """Paste a (2 radius + 1)^2 patch per keypoint, centred on ``int(kp + 0.5)``, where it
    overlaps the map (official ``generate_target`` bounds); in place.

    Args:
        keypoints: (K, 2) heatmap pixels. weights: (K,), set to 0 when the patch is fully off
            the map (keypoints with weight <= 0 are skipped). heatmaps: (K, H, W), written.
        patch_for: ``(k, mu_x, mu_y) -> patch`` for keypoint k at integer centre (mu_x, mu_y).
    """
    _, h, w = heatmaps.shape
    for k in range(keypoints.shape[0]):
        if weights[k] <= 0:
            continue
        mu_x = int(keypoints[k, 0] + 0.5)
        mu_y = int(keypoints[k, 1] + 0.5)
        left, top = int(mu_x - radius), int(mu_y - radius)
        right, bottom = int(mu_x + radius + 1), int(mu_y + radius + 1)
        if left >= w or top >= h or right < 0 or bottom < 0:
            weights[k] = 0
            continue
        patch = patch_for(k, mu_x, mu_y)
        px = max(0, -left), min(right, w) - left
        py = max(0, -top), min(bottom, h) - top
        ix = max(0, left), min(right, w)
        iy = max(0, top), min(bottom, h)
        heatmaps[k, iy[0]:iy[1], ix[0]:ix[1]] = patch[py[0]:py[1], px[0]:px[1]]

def render_gaussian_heatmaps(
    keypoints: np.ndarray, visible: np.ndarray, size: tuple[int, int], sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Render one unnormalised Gaussian per keypoint, centred on the nearest integer pixel (MSRA).

    Exactly the official ``generate_target``: centre ``mu = int(x + 0.5)`` (truncation, as Python's
    ``int``), a (6 sigma + 1)^2 patch pasted where it overlaps the map, weight 0 when the patch lies
    entirely off the map.

    Args:
        keypoints: (K, 2) float, (x, y) in heatmap pixels; pixel centres sit on integers.
        visible: (K,) float in {0, 1}; a Gaussian is drawn where visible > 0.5.
        size: heatmap (width, height).
        sigma: standard deviation in heatmap pixels.

    Returns:
        heatmaps: (K, H, W) float32 in [0, 1], value 1 at the rounded keypoint.
        weights: (K,) float32, ``visible`` where a Gaussian was drawn, 0 where the keypoint is
            invisible or its Gaussian is fully outside the map.
    """
    keypoints, visible, w, h = _check_render_args(keypoints, visible, size, sigma)
    num_keypoints = keypoints.shape[0]
    heatmaps = np.zeros((num_keypoints, h, w), dtype=np.float32)
    weights = np.where(visible > 0.5, visible, 0.).astype(np.float32)

    radius = sigma * 3
    patch_size = 2 * radius + 1
    x = np.arange(0, patch_size, 1, np.float32)
    y = x[:, None]
    x0 = y0 = patch_size // 2
    patch = np.exp(-((x - x0)**2 + (y - y0)**2) / (2 * sigma**2)).astype(np.float32)

    _paste_patches(keypoints, weights, heatmaps, radius, lambda k, mu_x, mu_y: patch)
    return heatmaps, weights


def render_unbiased_gaussian_heatmaps(
    keypoints: np.ndarray, visible: np.ndarray, size: tuple[int, int], sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Render one Gaussian per keypoint at its exact sub-pixel location over the whole map (DARK).

    Args:
        keypoints: (K, 2) float, (x, y) in heatmap pixels; pixel centres sit on integers.
        visible: (K,) float in {0, 1}; a Gaussian is drawn where visible > 0.5.
        size: heatmap (width, height).
        sigma: standard deviation in heatmap pixels.

    Returns:
        heatmaps: (K, H, W) float32 in [0, 1], not truncated; peak 1 only if the keypoint is on a
            pixel centre.
        weights: (K,) float32, 0 where the keypoint is invisible or the 3-sigma box around it is
            fully outside the map.
    """
    keypoints, visible, w, h = _check_render_args(keypoints, visible, size, sigma)
    num_keypoints = keypoints.shape[0]
    heatmaps = np.zeros((num_keypoints, h, w), dtype=np.float32)
    weights = np.where(visible > 0.5, visible, 0.).astype(np.float32)
    radius = sigma * 3
    x = np.arange(0, w, 1, np.float32)
    y = np.arange(0, h, 1, np.float32)[:, None]
    for k in range(num_keypoints):
        if weights[k] <= 0:
            continue
        mu_x, mu_y = keypoints[k]
        if mu_x - radius >= w or mu_y - radius >= h or mu_x + radius + 1 < 0 \
                or mu_y + radius + 1 < 0:
            weights[k] = 0
            continue
        heatmaps[k] = np.exp(-((x - mu_x)**2 + (y - mu_y)**2) / (2 * sigma**2))
    return heatmaps, weights


def render_udp_gaussian_heatmaps(
    keypoints: np.ndarray, visible: np.ndarray, size: tuple[int, int], sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Render one Gaussian per keypoint at its exact location, truncated to 3 sigma (UDP).

    The patch is placed around the rounded centre like :func:`render_gaussian_heatmaps`, but the
    Gaussian inside it is centred on the sub-pixel keypoint (Huang et al., CVPR 2020).

    Args:
        keypoints: (K, 2) float, (x, y) in heatmap pixels (UDP scaling: input (size - 1) maps to
            heatmap (size - 1)); pixel centres sit on integers.
        visible: (K,) float in {0, 1}; a Gaussian is drawn where visible > 0.5.
        size: heatmap (width, height).
        sigma: standard deviation in heatmap pixels.

    Returns:
        heatmaps: (K, H, W) float32 in [0, 1].
        weights: (K,) float32, 0 where the keypoint is invisible or its patch is fully off the map.
    """
    keypoints, visible, w, h = _check_render_args(keypoints, visible, size, sigma)
    num_keypoints = keypoints.shape[0]
    heatmaps = np.zeros((num_keypoints, h, w), dtype=np.float32)
    weights = np.where(visible > 0.5, visible, 0.).astype(np.float32)

    radius = sigma * 3
    patch_size = 2 * radius + 1
    x = np.arange(0, patch_size, 1, np.float32)
    y = x[:, None]
    def patch_for(k: int, mu_x: int, mu_y: int) -> np.ndarray:
        # the Gaussian centred on the exact sub-pixel location inside the integer-centred patch
        x0 = patch_size // 2 + keypoints[k, 0] - mu_x
        y0 = patch_size // 2 + keypoints[k, 1] - mu_y
        return np.exp(-((x - x0)**2 + (y - y0)**2) / (2 * sigma**2))

    _paste_patches(keypoints, weights, heatmaps, radius, patch_for)
    return heatmaps, weights


def _as_batched_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if heatmaps.ndim != 4:
        raise ValueError(f'heatmaps must have shape (N, K, H, W), got {heatmaps.shape}')
    return heatmaps


def decode_heatmap_argmax(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Locate the maximum of every heatmap (official ``get_max_preds``).

    Args:
        heatmaps: (N, K, H, W) float.

    Returns:
        keypoints: (N, K, 2) float32, (x, y) integer heatmap pixels of the maximum; (0, 0) where
            the maximum is <= 0.
        scores: (N, K) float32, the maximum value.
    """
    heatmaps = _as_batched_heatmaps(heatmaps)
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)  # (N, K, H*W)
    idx = flat.argmax(axis=2)
    scores = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    keypoints = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)  # (N, K, 2)
    keypoints[scores <= 0] = 0
    return keypoints, scores.astype(np.float32)


def refine_keypoints_quarter_offset(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Move each keypoint a quarter pixel towards the higher neighbour (official POST_PROCESS).

    Only applied where ``1 < x < W - 1`` and ``1 < y < H - 1``, as in the official
    ``get_final_preds``; the step per axis is ``0.25 * sign(right - left)``, so a symmetric peak
    does not move.

    Args:
        keypoints: (N, K, 2) float, (x, y) integer heatmap pixels from
            :func:`decode_heatmap_argmax`.
        heatmaps: (N, K, H, W) float.

    Returns:
        (N, K, 2) float32 refined keypoints in heatmap pixels (a new array).
    """
    heatmaps = _as_batched_heatmaps(heatmaps)
    n, k, h, w = heatmaps.shape
    keypoints = np.array(keypoints, dtype=np.float32)
    px = np.floor(keypoints[..., 0] + 0.5).astype(np.int64)
    py = np.floor(keypoints[..., 1] + 0.5).astype(np.int64)
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    ni, ki = np.nonzero(inside)
    x, y = px[ni, ki], py[ni, ki]
    dx = heatmaps[ni, ki, y, x + 1] - heatmaps[ni, ki, y, x - 1]
    dy = heatmaps[ni, ki, y + 1, x] - heatmaps[ni, ki, y - 1, x]
    keypoints[ni, ki] += np.sign(np.stack([dx, dy], axis=-1)) * 0.25
    return keypoints


def blur_heatmaps(heatmaps: np.ndarray, kernel_size: int = 11) -> np.ndarray:
    """Gaussian-blur every heatmap and rescale it to its original maximum (DARK modulation).

    Each map is zero-padded by ``(kernel_size - 1) // 2`` before ``cv2.GaussianBlur`` (sigma from
    the kernel size), as in mmpose ``gaussian_blur``.

    Args:
        heatmaps: (N, K, H, W) float.
        kernel_size: odd blur kernel size in heatmap pixels.

    Returns:
        (N, K, H, W) float32 blurred heatmaps (a new array); all-zero maps stay zero.
    """
    if kernel_size < 1 or kernel_size % 2 != 1:
        raise ValueError(f'blur kernel_size must be a positive odd integer, got {kernel_size}')
    heatmaps = _as_batched_heatmaps(heatmaps)
    n, k, h, w = heatmaps.shape
    border = (kernel_size - 1) // 2
    out = np.empty_like(heatmaps)
    padded = np.zeros((h + 2 * border, w + 2 * border), dtype=np.float32)
    for i in range(n):
        for j in range(k):
            origin_max = heatmaps[i, j].max()
            padded[border:border + h, border:border + w] = heatmaps[i, j]
            blurred = cv2.GaussianBlur(padded, (kernel_size, kernel_size), 0)
            blurred = blurred[border:border + h, border:border + w]
            new_max = blurred.max()
            out[i, j] = blurred * (origin_max / new_max) if new_max > 0 else blurred
    return out


def refine_keypoints_dark(keypoints: np.ndarray, heatmaps: np.ndarray, *,
                          blur_kernel_size: int = 11) -> np.ndarray:
    """Refine argmax keypoints with DARK: blur, log, then one Newton step of a 2D Taylor expansion.

    Derivatives use central differences with step 1 (gradient) and 2 (Hessian), as in mmpose
    ``refine_keypoints_dark``; keypoints closer than 2 pixels to the border, or with a singular
    Hessian, are not moved. The zero-padded blur biases keypoints within ``(blur_kernel_size - 1)
    / 2`` pixels of the border towards the inside (up to ~1 heatmap pixel right at the border).

    Args:
        keypoints: (N, K, 2) float, (x, y) integer heatmap pixels from
            :func:`decode_heatmap_argmax`.
        heatmaps: (N, K, H, W) float, unblurred.
        blur_kernel_size: odd kernel size of the modulation blur (11 for 64x48 maps; mmpose uses
            17 for 96x72).

    Returns:
        (N, K, 2) float32 refined keypoints in heatmap pixels (a new array).
    """
    heatmaps = _as_batched_heatmaps(heatmaps)
    n, k, h, w = heatmaps.shape
    keypoints = np.array(keypoints, dtype=np.float32)
    log_hm = np.log(np.maximum(blur_heatmaps(heatmaps, blur_kernel_size), 1e-10))
    px = keypoints[..., 0].astype(np.int64)
    py = keypoints[..., 1].astype(np.int64)
    inside = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    ni, ki = np.nonzero(inside)
    x, y = px[ni, ki], py[ni, ki]
    hm = log_hm[ni, ki]  # (M, H, W)
    m = np.arange(len(ni))
    centre = hm[m, y, x]
    dx = 0.5 * (hm[m, y, x + 1] - hm[m, y, x - 1])
    dy = 0.5 * (hm[m, y + 1, x] - hm[m, y - 1, x])
    dxx = 0.25 * (hm[m, y, x + 2] - 2 * centre + hm[m, y, x - 2])
    dxy = 0.25 * (hm[m, y + 1, x + 1] - hm[m, y - 1, x + 1] - hm[m, y + 1, x - 1]
                  + hm[m, y - 1, x - 1])
    dyy = 0.25 * (hm[m, y + 2, x] - 2 * centre + hm[m, y - 2, x])
    det = dxx * dyy - dxy**2
    ok = det != 0
    safe_det = np.where(ok, det, 1.)
    # offset = -H^-1 g, with the closed-form inverse of the 2x2 Hessian.
    off_x = -(dyy * dx - dxy * dy) / safe_det
    off_y = -(-dxy * dx + dxx * dy) / safe_det
    keypoints[ni[ok], ki[ok], 0] += off_x[ok]
    keypoints[ni[ok], ki[ok], 1] += off_y[ok]
    return keypoints


def refine_keypoints_dark_udp(keypoints: np.ndarray, heatmaps: np.ndarray, *,
                              blur_kernel_size: int = 11) -> np.ndarray:
    """Refine argmax keypoints with the DARK-UDP Newton step (mmpose ``refine_keypoints_dark_udp``).

    The blurred heatmap is clipped to [1e-3, 50] before the log and edge-padded by one pixel, so
    keypoints on the border are refined too; derivatives use step-1 differences and the Hessian
    gets ``eps * I`` added before inversion. As with :func:`refine_keypoints_dark`, keypoints
    within ``(blur_kernel_size - 1) / 2`` pixels of the border are biased by the zero-padded blur.

    Args:
        keypoints: (N, K, 2) float, (x, y) integer heatmap pixels from
            :func:`decode_heatmap_argmax`.
        heatmaps: (N, K, H, W) float, unblurred.
        blur_kernel_size: odd kernel size of the modulation blur.

    Returns:
        (N, K, 2) float32 refined keypoints in heatmap pixels (a new array).
    """
    heatmaps = _as_batched_heatmaps(heatmaps)
    n, k, h, w = heatmaps.shape
    keypoints = np.array(keypoints, dtype=np.float32)
    log_hm = np.log(np.clip(blur_heatmaps(heatmaps, blur_kernel_size), 1e-3, 50.))
    padded = np.pad(log_hm, ((0, 0), (0, 0), (1, 1), (1, 1)), mode='edge')  # (N, K, H+2, W+2)
    x = np.clip(keypoints[..., 0].astype(np.int64), 0, w - 1) + 1
    y = np.clip(keypoints[..., 1].astype(np.int64), 0, h - 1) + 1
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing='ij')

    def at(dx: int, dy: int) -> np.ndarray:
        return padded[ni, ki, y + dy, x + dx].astype(np.float64)

    centre = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = at(1, 0) - 2 * centre + at(-1, 0)
    dyy = at(0, 1) - 2 * centre + at(0, -1)
    dxy = 0.5 * (at(1, 1) - at(1, 0) - at(0, 1) + 2 * centre - at(-1, 0) - at(0, -1)
                 + at(-1, -1))
    eps = np.finfo(np.float32).eps
    a, d = dxx + eps, dyy + eps
    det = a * d - dxy**2
    safe_det = np.where(det != 0, det, 1.)
    off_x = np.where(det != 0, -(d * gx - dxy * gy) / safe_det, 0.)
    off_y = np.where(det != 0, -(-dxy * gx + a * gy) / safe_det, 0.)
    keypoints[..., 0] += off_x.astype(np.float32)
    keypoints[..., 1] += off_y.astype(np.float32)
    return keypoints
