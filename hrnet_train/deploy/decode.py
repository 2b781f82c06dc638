"""Heatmap decoding written with tensor ops only, so that it exports into the ONNX graph.

Each function here is the torch twin of one numpy function of
:mod:`hrnet_train.codecs.functional` (same inputs in heatmap pixels, same conventions: (x, y),
pixel centres on integers) and is tested against it. Gathers use clamped flat indices and masks
instead of boolean indexing, so the graph has static shapes apart from the batch.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['decode_argmax', 'refine_quarter_offset', 'blur_heatmaps', 'refine_dark',
           'refine_dark_udp', 'flip_back_heatmaps']


def decode_argmax(heatmaps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Torch twin of ``decode_heatmap_argmax``.

    Args:
        heatmaps: (N, K, H, W) float.

    Returns:
        keypoints: (N, K, 2) float, integer (x, y) heatmap pixels of the first maximum; (0, 0)
            where the maximum is <= 0.
        scores: (N, K) float, the maximum.
        index: (N, K) int64 flat index ``y * W + x`` of the maximum (0 where the maximum <= 0).
    """
    w = heatmaps.shape[-1]
    flat = heatmaps.flatten(2)  # (N, K, H*W)
    scores, index = flat.max(dim=2)
    index = torch.where(scores > 0, index, torch.zeros_like(index))
    x = torch.remainder(index, w)
    y = torch.div(index, w, rounding_mode='floor')
    keypoints = torch.stack([x, y], dim=-1).to(heatmaps.dtype)  # (N, K, 2)
    return keypoints, scores, index


def _gather(maps: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """maps (N, K, H, W) at integer (x, y) (N, K), clamped to the map -> (N, K)."""
    h, w = maps.shape[-2:]
    x = x.clamp(0, w - 1)
    y = y.clamp(0, h - 1)
    return maps.flatten(2).gather(2, (y * w + x).unsqueeze(-1)).squeeze(-1)


def refine_quarter_offset(keypoints: Tensor, heatmaps: Tensor) -> Tensor:
    """Torch twin of ``refine_keypoints_quarter_offset`` (official MSRA post-processing).

    Moves (x, y) by ``0.25 * sign(right - left)`` / ``0.25 * sign(below - above)`` where ``1 < x <
    W - 1`` and ``1 < y < H - 1``.

    Args:
        keypoints: (N, K, 2) integer (x, y) heatmap pixels from :func:`decode_argmax`.
        heatmaps: (N, K, H, W).

    Returns:
        (N, K, 2) refined keypoints, heatmap pixels.
    """
    h, w = heatmaps.shape[-2:]
    x = keypoints[..., 0].long()
    y = keypoints[..., 1].long()
    inside = (x > 1) & (x < w - 1) & (y > 1) & (y < h - 1)
    dx = _gather(heatmaps, x + 1, y) - _gather(heatmaps, x - 1, y)
    dy = _gather(heatmaps, x, y + 1) - _gather(heatmaps, x, y - 1)
    step = torch.sign(torch.stack([dx, dy], dim=-1)) * 0.25
    return keypoints + step * inside.unsqueeze(-1).to(step.dtype)


def blur_heatmaps(heatmaps: Tensor, kernel_size: int = 11) -> Tensor:
    """Torch twin of ``codecs.functional.blur_heatmaps`` (DARK modulation).

    ``cv2.GaussianBlur`` on a map zero-padded by ``(kernel_size - 1) // 2`` and cropped back is a
    zero-padded convolution with cv2's Gaussian kernel (sigma from the kernel size); each map is
    rescaled to its original maximum.

    Args:
        heatmaps: (N, K, H, W).
        kernel_size: odd kernel size in heatmap pixels.

    Returns:
        (N, K, H, W) blurred heatmaps.
    """
    if kernel_size < 1 or kernel_size % 2 != 1:
        raise ValueError(f'blur kernel_size must be a positive odd integer, got {kernel_size}')
    g = cv2.getGaussianKernel(kernel_size, 0).astype(np.float32)[:, 0]  # (k,), as GaussianBlur
    k = heatmaps.shape[1]
    border = (kernel_size - 1) // 2
    # built in numpy: the kernels are graph constants of known shape (ONNX Conv needs that)
    kx = torch.tensor(np.tile(g.reshape(1, 1, 1, -1), (k, 1, 1, 1)), dtype=heatmaps.dtype)
    ky = torch.tensor(np.tile(g.reshape(1, 1, -1, 1), (k, 1, 1, 1)), dtype=heatmaps.dtype)
    blurred = F.conv2d(F.conv2d(heatmaps, kx, padding=(0, border), groups=k), ky,
                       padding=(border, 0), groups=k)
    origin_max = heatmaps.flatten(2).amax(dim=2)[..., None, None]  # (N, K, 1, 1)
    new_max = blurred.flatten(2).amax(dim=2)[..., None, None]
    ratio = torch.where(new_max > 0, origin_max / torch.where(new_max > 0, new_max,
                                                               torch.ones_like(new_max)),
                        torch.ones_like(new_max))
    return blurred * ratio


def refine_dark(keypoints: Tensor, heatmaps: Tensor, *, blur_kernel_size: int = 11) -> Tensor:
    """Torch twin of ``refine_keypoints_dark``: blur, log, one Newton step.

    Keypoints with ``x <= 1``, ``x >= W - 2`` (same for y) or a singular Hessian do not move.

    Args:
        keypoints: (N, K, 2) integer (x, y) heatmap pixels from :func:`decode_argmax`.
        heatmaps: (N, K, H, W), unblurred.
        blur_kernel_size: odd kernel size of the modulation blur.

    Returns:
        (N, K, 2) refined keypoints, heatmap pixels.
    """
    h, w = heatmaps.shape[-2:]
    hm = torch.log(blur_heatmaps(heatmaps, blur_kernel_size).clamp(min=1e-10))
    x = keypoints[..., 0].long()
    y = keypoints[..., 1].long()
    inside = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)

    def at(dx: int, dy: int) -> Tensor:
        return _gather(hm, x + dx, y + dy)

    centre = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    dyy = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    det = dxx * dyy - dxy**2
    ok = inside & (det != 0)
    safe_det = torch.where(ok, det, torch.ones_like(det))
    off_x = -(dyy * gx - dxy * gy) / safe_det
    off_y = -(-dxy * gx + dxx * gy) / safe_det
    offset = torch.stack([off_x, off_y], dim=-1) * ok.unsqueeze(-1).to(det.dtype)
    return keypoints + offset


def refine_dark_udp(keypoints: Tensor, heatmaps: Tensor, *, blur_kernel_size: int = 11) -> Tensor:
    """Torch twin of ``refine_keypoints_dark_udp`` (the UDP codec's decoding).

    Blurred maps clipped to [1e-3, 50] before the log; the numpy version's one-pixel edge
    padding equals clamping the gather indices to the map. The Newton step is computed in
    float64 like the numpy version (ONNX Cast to double).

    Args:
        keypoints: (N, K, 2) integer (x, y) heatmap pixels from :func:`decode_argmax`.
        heatmaps: (N, K, H, W), unblurred.
        blur_kernel_size: odd kernel size of the modulation blur.

    Returns:
        (N, K, 2) refined keypoints, heatmap pixels.
    """
    h, w = heatmaps.shape[-2:]
    hm = torch.log(blur_heatmaps(heatmaps, blur_kernel_size).clamp(1e-3, 50.))
    x = keypoints[..., 0].long().clamp(0, w - 1)
    y = keypoints[..., 1].long().clamp(0, h - 1)

    def at(dx: int, dy: int) -> Tensor:  # float64 as numpy: the eps-regularised solve is
        return _gather(hm, x + dx, y + dy).double()  # ill-conditioned on flat heatmaps

    centre = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = at(1, 0) - 2 * centre + at(-1, 0)
    dyy = at(0, 1) - 2 * centre + at(0, -1)
    dxy = 0.5 * (at(1, 1) - at(1, 0) - at(0, 1) + 2 * centre - at(-1, 0) - at(0, -1)
                 + at(-1, -1))
    eps = float(np.finfo(np.float32).eps)
    a, d = dxx + eps, dyy + eps
    det = a * d - dxy**2
    ok = det != 0
    safe_det = torch.where(ok, det, torch.ones_like(det))
    off_x = -(d * gx - dxy * gy) / safe_det
    off_y = -(-dxy * gx + a * gy) / safe_det
    offset = torch.stack([off_x, off_y], dim=-1) * ok.unsqueeze(-1).to(det.dtype)
    return keypoints + offset.to(keypoints.dtype)


def flip_back_heatmaps(heatmaps: Tensor, flip_indices: Sequence[int], shift: float) -> Tensor:
    """Export form of ``models.detectors.topdown_pose.flip_heatmaps``: mirror, swap channels,
    shift ``shift`` heatmap pixels right (column 0 repeated into the gap, a fractional shift
    interpolates). Uses constant index vectors, so the graph keeps a dynamic batch.

    Args:
        heatmaps: (N, K, H, W) predicted on the flipped crops.
        flip_indices: K ints, the keypoint each channel swaps with.
        shift: heatmap pixels in [0, W).

    Returns:
        (N, K, H, W) in the un-flipped frame.
    """
    k, w = heatmaps.shape[1], heatmaps.shape[-1]
    if len(flip_indices) != k:
        raise ValueError(f'flip_indices has {len(flip_indices)} entries for {k} keypoints')
    if not 0 <= shift < w:
        raise ValueError(f'shift must be in [0, {w}) heatmap pixels, got {shift}')
    out = heatmaps[:, torch.tensor(list(flip_indices), dtype=torch.long)]
    whole = int(np.floor(shift))
    frac = shift - whole

    def mirrored_shift(n: int) -> Tensor:
        # output column c reads mirrored column max(c - n, 0), i.e. input column w-1-max(c-n, 0)
        cols = [w - 1 - max(c - n, 0) for c in range(w)]
        return out.index_select(-1, torch.tensor(cols, dtype=torch.long))

    shifted = mirrored_shift(whole)
    if frac == 0:
        return shifted
    return (1 - frac) * shifted + frac * mirrored_shift(whole + 1)
