"""PCK (percentage of correct keypoints) from coordinates or heatmaps.

Semantics follow mmpose 1.x ``keypoint_pck_accuracy`` / ``pose_pck_accuracy``
(open-mmlab/mmpose:mmpose/evaluation/functional/keypoint_eval.py), which reproduce the official
training accuracy (leoxiaobin/deep-high-resolution-net.pytorch:lib/core/evaluate.py ``accuracy``:
distance / (heatmap size / 10) < 0.5, i.e. distance / heatmap size < 0.05).
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def _normalized_distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray,
                          norm_factor: np.ndarray) -> np.ndarray:
    """(N, K) distances normalised per axis by ``norm_factor``; -1 where masked out."""
    num, num_kpts = pred.shape[:2]
    valid = mask.astype(bool).copy()
    valid[(norm_factor <= 0).any(axis=1)] = False  # a zero-size box has no meaningful PCK
    safe_norm = np.where(norm_factor > 0, norm_factor, 1.0)
    dist = np.full((num, num_kpts), -1.0)
    diff = (pred - gt) / safe_norm[:, None, :]  # (N, K, 2)
    dist[valid] = np.linalg.norm(diff[valid], axis=-1)
    return dist


def pck_accuracy(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray,
    thr: float,
    norm_factor: np.ndarray,
) -> tuple[np.ndarray, float, int]:
    """PCK per keypoint and averaged over keypoints.

    A keypoint is correct when ``|| (pred - gt) / norm_factor || < thr``.

    Args:
        pred: (N, K, 2) predicted (x, y), any pixel unit shared with ``gt``.
        gt: (N, K, 2) ground-truth (x, y), same unit.
        mask: (N, K) bool, True where the GT keypoint is labelled; others are ignored.
        thr: threshold on the normalised distance, e.g. 0.05.
        norm_factor: (N, 2) per-instance normalisation for the x and y differences, same unit;
            instances with a non-positive factor are ignored.

    Returns:
        acc: (K,) float64, fraction of correct keypoints per keypoint type; -1 where no instance
            has that keypoint labelled.
        avg_acc: mean of ``acc`` over the keypoint types with ``acc >= 0`` (0 if none).
        cnt: number of keypoint types with ``acc >= 0``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mask = np.asarray(mask)
    norm_factor = np.asarray(norm_factor, dtype=np.float64).reshape(-1, 2)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(f'pred and gt: expected equal shapes (N, K, 2), got {pred.shape} and '
                         f'{gt.shape}')
    if mask.shape != pred.shape[:2]:
        raise ValueError(f'mask: expected shape {pred.shape[:2]}, got {mask.shape}')
    if norm_factor.shape[0] != pred.shape[0]:
        raise ValueError(f'norm_factor: expected shape ({pred.shape[0]}, 2), got '
                         f'{norm_factor.shape}')
    dist = _normalized_distances(pred, gt, mask, norm_factor)  # (N, K)
    valid = dist >= 0
    num_valid = valid.sum(axis=0)  # (K,)
    correct = (valid & (dist < thr)).sum(axis=0)
    acc = np.where(num_valid > 0, correct / np.maximum(num_valid, 1), -1.0)
    valid_acc = acc[acc >= 0]
    cnt = int(valid_acc.size)
    avg_acc = float(valid_acc.mean()) if cnt > 0 else 0.0
    return acc, avg_acc, cnt


def _heatmap_argmax(heatmaps: np.ndarray) -> np.ndarray:
    """(N, K, H, W) -> (N, K, 2) integer (x, y) of the maximum; -1 where the maximum is <= 0."""
    num, num_kpts, height, width = heatmaps.shape
    flat = heatmaps.reshape(num, num_kpts, height * width)  # (N, K, H*W)
    idx = flat.argmax(axis=-1)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    locs = np.stack([idx % width, idx // width], axis=-1).astype(np.float64)
    locs[maxvals <= 0] = -1
    return locs


def heatmap_pck_accuracy(
    output: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    thr: float = 0.05,
    *,
    norm_factor: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, float, int]:
    """PCK between the argmax locations of predicted and target heatmaps.

    The training accuracy of the official code and mmpose's ``pose_pck_accuracy``.

    Args:
        output: (N, K, H, W) predicted heatmaps.
        target: (N, K, H, W) target heatmaps.
        mask: (N, K) bool (or target weights > 0), keypoints to count.
        thr: threshold on the normalised distance (official: 0.5 with size / 10, i.e. 0.05).
        norm_factor: (N, 2) normalisation of the (x, y) differences in heatmap pixels. None uses
            ``(H, W)`` for every instance, exactly as the official ``accuracy`` and mmpose do (the
            x difference is divided by H), so logged accuracies are comparable with theirs.

    Returns:
        acc: (K,) per keypoint (-1 where none counted), avg_acc: float, cnt: int; see
        :func:`pck_accuracy`.
    """
    output = np.asarray(output)
    target = np.asarray(target)
    if output.ndim != 4 or output.shape != target.shape:
        raise ValueError(f'output and target: expected equal shapes (N, K, H, W), got '
                         f'{output.shape} and {target.shape}')
    num, num_kpts, height, width = output.shape
    if num_kpts == 0:
        return np.zeros(0), 0.0, 0
    if norm_factor is None:
        norm_factor = np.tile(np.array([[height, width]], dtype=np.float64), (num, 1))
    mask = np.asarray(mask) > 0
    return pck_accuracy(_heatmap_argmax(output), _heatmap_argmax(target), mask, thr, norm_factor)
