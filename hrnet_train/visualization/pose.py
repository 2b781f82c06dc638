"""Drawing of keypoints and skeletons."""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

_KEYPOINT_COLOR = (0, 255, 0)  # RGB
_LINK_COLOR = (255, 128, 0)


def draw_pose(
    img: np.ndarray,
    keypoints: np.ndarray,
    scores: Optional[np.ndarray] = None,
    skeleton: Sequence[Sequence[int]] = (),
    *,
    score_thr: float = 0.3,
    radius: int = 3,
    thickness: int = 2,
    keypoint_colors: Optional[Sequence[Sequence[int]]] = None,
    link_colors: Optional[Sequence[Sequence[int]]] = None,
) -> np.ndarray:
    """Draw poses on a copy of an image.

    A keypoint is drawn when its score is above ``score_thr``; a link when both of its ends are.

    Args:
        img: (H, W, 3) uint8 RGB.
        keypoints: (N, K, 2) or (K, 2), (x, y) in image pixels (pixel centres on integers).
        scores: (N, K) or (K,) keypoint scores; None draws every keypoint.
        skeleton: links as 0-based keypoint index pairs, e.g. dataset meta ``skeleton``.
        score_thr: minimum score to draw a keypoint.
        radius: keypoint circle radius in pixels.
        thickness: link line width in pixels.
        keypoint_colors: (K, 3) RGB per keypoint; None uses one colour.
        link_colors: (L, 3) RGB per link; None uses one colour.

    Returns:
        (H, W, 3) uint8 RGB, a new array; ``img`` is not modified.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f'img: expected (H, W, 3) uint8, got {img.shape} {img.dtype}')
    kpts = np.asarray(keypoints, dtype=np.float64)
    if kpts.ndim == 2:
        kpts = kpts[None]
    if kpts.ndim != 3 or kpts.shape[2] != 2:
        raise ValueError(f'keypoints: expected (N, K, 2) or (K, 2), got {np.shape(keypoints)}')
    num_kpts = kpts.shape[1]
    if scores is None:
        scr = np.ones(kpts.shape[:2])
    else:
        scr = np.asarray(scores, dtype=np.float64).reshape(kpts.shape[:2])
    links = [tuple(int(i) for i in pair) for pair in skeleton]
    for a, b in links:
        if not (0 <= a < num_kpts and 0 <= b < num_kpts):
            raise ValueError(f'skeleton: link ({a}, {b}) is out of range for {num_kpts} keypoints')
    kcolors = [tuple(int(c) for c in col) for col in keypoint_colors] if keypoint_colors \
        else [_KEYPOINT_COLOR] * num_kpts
    lcolors = [tuple(int(c) for c in col) for col in link_colors] if link_colors \
        else [_LINK_COLOR] * len(links)
    if len(kcolors) != num_kpts or len(lcolors) != len(links):
        raise ValueError('keypoint_colors / link_colors: expected one colour per keypoint / link')

    canvas = np.ascontiguousarray(img.copy())
    shown = (scr > score_thr) & np.isfinite(kpts).all(axis=-1)  # (N, K)
    pts = np.zeros(kpts.shape, dtype=np.int64)
    pts[shown] = np.round(kpts[shown]).astype(np.int64)
    for inst_pts, inst_shown in zip(pts, shown):
        for (a, b), color in zip(links, lcolors):
            if inst_shown[a] and inst_shown[b]:
                cv2.line(canvas, tuple(map(int, inst_pts[a])), tuple(map(int, inst_pts[b])), color,
                         thickness, cv2.LINE_AA)
        for k in np.flatnonzero(inst_shown):
            cv2.circle(canvas, tuple(map(int, inst_pts[k])), radius, kcolors[k], -1, cv2.LINE_AA)
    return canvas
