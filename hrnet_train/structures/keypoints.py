"""Keypoint geometry: the pose convention of the official HRNet code.

Keypoints are (..., K, 2) ``x, y`` pixels with pixel centres on integers, so a horizontal flip of
a ``W``-wide image maps ``x -> W - 1 - x`` (leoxiaobin/deep-high-resolution-net.pytorch
``lib/utils/transforms.py`` ``fliplr_joints``).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def flip_keypoints(keypoints: np.ndarray, width: float, *,
                   flip_indices: Optional[Sequence[int]] = None,
                   visible: Optional[np.ndarray] = None
                   ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Mirror keypoints horizontally and swap left/right channels.

    Args:
        keypoints: (..., K, 2) pixels.
        width: image (or crop) width W in pixels.
        flip_indices: K ints, the index each keypoint swaps with (an involution); None keeps the
            order (e.g. for points that are not keypoints).
        visible: optional (..., K) visibility, reordered with the keypoints.

    Returns:
        (..., K, 2) float32 flipped keypoints (a new array) and the reordered visibility (or None).
    """
    kpts = np.array(keypoints, dtype=np.float32)
    if kpts.shape[-1:] != (2,):
        raise ValueError(f'keypoints must have shape (..., K, 2), got {kpts.shape}')
    kpts[..., 0] = width - 1 - kpts[..., 0]
    if flip_indices is None:
        return kpts, None if visible is None else np.asarray(visible)
    idx = np.asarray(flip_indices, dtype=np.int64)
    if kpts.shape[-2] != len(idx):
        raise ValueError(f'flip_indices has {len(idx)} entries but keypoints have '
                         f'{kpts.shape[-2]}')
    kpts = kpts[..., idx, :]
    if visible is not None:
        visible = np.asarray(visible)[..., idx]
    return kpts, visible
