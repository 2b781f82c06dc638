"""Non-maximum suppression for poses (OKS-NMS, soft OKS-NMS) and boxes, in numpy.

OKS-NMS follows the official HRNet ``oks_nms`` / ``soft_oks_nms``
(leoxiaobin/deep-high-resolution-net.pytorch:lib/nms/nms.py), which mmpose 1.x copies
(open-mmlab/mmpose:mmpose/evaluation/functional/nms.py). Both are pure numpy, so no compiled
extension is needed (REFERENCE §5.1).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from hrnet_train.structures import box_iou

from .oks import compute_oks


def _descending_order(scores: np.ndarray) -> np.ndarray:
    # ``argsort()[::-1]`` exactly as the official code: with tied scores the later index comes
    # first, so results on tied scores (GT-as-prediction tests) match the reference code.
    return np.argsort(scores)[::-1]


def _check_pose_inputs(keypoints: np.ndarray, scores: np.ndarray,
                       areas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    if keypoints.ndim != 3 or keypoints.shape[2] not in (2, 3):
        raise ValueError(f'keypoints: expected shape (N, K, 2|3), got {keypoints.shape}')
    if scores.shape[0] != keypoints.shape[0] or areas.shape[0] != keypoints.shape[0]:
        raise ValueError(f'scores and areas: expected {keypoints.shape[0]} values each, got '
                         f'{scores.shape[0]} and {areas.shape[0]}')
    return keypoints, scores, areas


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    thr: float,
    *,
    sigmas: Optional[Sequence[float]] = None,
    vis_thr: Optional[float] = None,
) -> np.ndarray:
    """Greedy OKS-NMS: keep the best pose, drop every pose with OKS > ``thr`` to it, repeat.

    Args:
        keypoints: (N, K, 2|3) poses of one image, (x, y[, score]) in image pixels.
        scores: (N,) instance scores.
        areas: (N,) instance areas in pixels^2 (official: ``prod(scale * 200)``).
        thr: OKS threshold; a pose survives when its OKS to every kept pose is <= thr.
        sigmas: (K,) per-keypoint sigmas; None means the 17 COCO sigmas.
        vis_thr: keypoint score threshold passed to :func:`compute_oks` (official ``in_vis_thre``).

    Returns:
        (M,) int64 indices of the kept poses, in decreasing score order.
    """
    keypoints, scores, areas = _check_pose_inputs(keypoints, scores, areas)
    order = _descending_order(scores)
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        oks = compute_oks(keypoints[i], keypoints[order[1:]], areas[i], areas[order[1:]],
                          sigmas=sigmas, vis_thr=vis_thr)
        order = order[1:][oks <= thr]
    return np.asarray(keep, dtype=np.int64)


def soft_oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    thr: float,
    *,
    max_dets: int = 20,
    method: str = 'gaussian',
    sigmas: Optional[Sequence[float]] = None,
    vis_thr: Optional[float] = None,
) -> np.ndarray:
    """Soft OKS-NMS: after each pick, rescore the rest by their OKS to it and re-sort.

    Rescoring (official ``rescore``): ``gaussian`` multiplies by ``exp(-oks^2 / thr)``; ``linear``
    multiplies by ``1 - oks`` where ``oks >= thr``. As in the official code and mmpose, the rescored
    values only decide the order of selection; the poses keep their original scores.

    Args:
        keypoints: (N, K, 2|3) poses of one image, (x, y[, score]) in image pixels.
        scores: (N,) instance scores.
        areas: (N,) instance areas in pixels^2.
        thr: rescoring parameter (see above).
        max_dets: keep at most this many poses (official: 20, the COCO keypoint ``maxDets``).
        method: ``'gaussian'`` or ``'linear'``.
        sigmas: (K,) per-keypoint sigmas; None means the 17 COCO sigmas.
        vis_thr: keypoint score threshold passed to :func:`compute_oks`.

    Returns:
        (M,) int64 indices of the kept poses in selection order, M <= max_dets.
    """
    if method not in ('gaussian', 'linear'):
        raise ValueError(f"method: expected 'gaussian' or 'linear', got {method!r}")
    keypoints, scores, areas = _check_pose_inputs(keypoints, scores, areas)
    order = _descending_order(scores)
    cur_scores = scores[order]
    keep = []
    while order.size > 0 and len(keep) < max_dets:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        oks = compute_oks(keypoints[i], keypoints[rest], areas[i], areas[rest],
                          sigmas=sigmas, vis_thr=vis_thr)
        rest_scores = cur_scores[1:].copy()
        if method == 'linear':
            hit = oks >= thr
            rest_scores[hit] = rest_scores[hit] * (1 - oks[hit])
        else:
            rest_scores = rest_scores * np.exp(-oks**2 / thr)
        tmp = np.argsort(rest_scores)[::-1]
        order = rest[tmp]
        cur_scores = rest_scores[tmp]
    return np.asarray(keep, dtype=np.int64)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy box NMS: drop every box with IoU > ``iou_thr`` to a higher-scoring kept box.

    Args:
        boxes: (B, 4) xyxy, continuous coordinates (``hrnet_train.structures`` convention).
        scores: (B,) box scores.
        iou_thr: IoU threshold; boxes with IoU <= iou_thr to every kept box survive.

    Returns:
        (M,) int64 indices of the kept boxes in decreasing score order (ties: lower index first).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape[0] != boxes.shape[0]:
        raise ValueError(f'scores: expected {boxes.shape[0]} values, got {scores.shape[0]}')
    order = np.argsort(-scores, kind='stable')
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        ious = box_iou(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_thr]
    return np.asarray(keep, dtype=np.int64)
