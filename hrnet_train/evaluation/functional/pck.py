"""Keypoint accuracy from coordinates or heatmaps: PCK, its AUC, EPE and NME.

Semantics follow mmpose 1.x (open-mmlab/mmpose:mmpose/evaluation/functional/keypoint_eval.py):
``keypoint_pck_accuracy`` / ``pose_pck_accuracy`` (which reproduce the official training accuracy,
leoxiaobin/deep-high-resolution-net.pytorch:lib/core/evaluate.py ``accuracy``: distance /
(heatmap size / 10) < 0.5, i.e. distance / heatmap size < 0.05), ``keypoint_auc``, ``keypoint_epe``
and ``keypoint_nme``. As there (``_calc_distances``), an instance whose normalisation factor is 0 on
either axis is left out of every count. Unlike there, a negative factor also leaves the instance
out (mmpose divides by 1e6 instead), and distances are float64 (mmpose: float32).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np


def _check_keypoints(pred: np.ndarray, gt: np.ndarray,
                     mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert: (N, K, 2) float64 pred and gt, (N, K) bool mask."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mask = np.asarray(mask)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(f'pred and gt: expected equal shapes (N, K, 2), got {pred.shape} and '
                         f'{gt.shape}')
    if mask.shape != pred.shape[:2]:
        raise ValueError(f'mask: expected shape {pred.shape[:2]}, got {mask.shape}')
    return pred, gt, mask > 0


def _check_norm_factor(norm_factor: np.ndarray, num: int) -> np.ndarray:
    """(N,) or (N, 2) -> (N, 2) float64; (N,) is used for both axes."""
    norm_factor = np.asarray(norm_factor, dtype=np.float64)
    if norm_factor.shape == (num,):
        norm_factor = np.stack([norm_factor, norm_factor], axis=1)  # (N, 2)
    if norm_factor.shape != (num, 2):
        raise ValueError(f'norm_factor: expected shape ({num},) or ({num}, 2), got '
                         f'{norm_factor.shape}')
    return norm_factor


def _normalized_distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray,
                          norm_factor: np.ndarray) -> np.ndarray:
    """(N, K) distances normalised per axis by ``norm_factor`` (N, 2); -1 where masked out."""
    num, num_kpts = pred.shape[:2]
    valid = mask.astype(bool).copy()
    # mmpose _calc_distances: a zero factor has no meaningful distance; NaN and < 0 go the same way
    valid[~(norm_factor > 0).all(axis=1)] = False
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
        norm_factor: (N, 2) per-instance normalisation of the x and y differences, same unit, or
            (N,) for both axes; instances with a non-positive factor are ignored.

    Returns:
        acc: (K,) float64, fraction of correct keypoints per keypoint type; -1 where no instance
            has that keypoint labelled.
        avg_acc: mean of ``acc`` over the keypoint types with ``acc >= 0`` (0 if none).
        cnt: number of keypoint types with ``acc >= 0``.
    """
    pred, gt, mask = _check_keypoints(pred, gt, mask)
    norm_factor = _check_norm_factor(norm_factor, pred.shape[0])
    dist = _normalized_distances(pred, gt, mask, norm_factor)  # (N, K)
    return _pck_from_distances(dist, thr)


def _pck_from_distances(dist: np.ndarray, thr: float) -> tuple[np.ndarray, float, int]:
    """:func:`pck_accuracy`'s (acc, avg_acc, cnt) from (N, K) distances (-1 = not counted)."""
    valid = dist >= 0
    num_valid = valid.sum(axis=0)  # (K,)
    correct = (valid & (dist < thr)).sum(axis=0)
    acc = np.where(num_valid > 0, correct / np.maximum(num_valid, 1), -1.0)
    valid_acc = acc[acc >= 0]
    cnt = int(valid_acc.size)
    avg_acc = float(valid_acc.mean()) if cnt > 0 else 0.0
    return acc, avg_acc, cnt


def compute_keypoint_auc(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray,
    norm_factor: Union[float, np.ndarray],
    *,
    num_thrs: int = 20,
) -> float:
    """Area under the PCK curve: PCK averaged over ``num_thrs`` thresholds in [0, 1).

    mmpose ``keypoint_auc``: ``mean_i avg_acc(thr = i / num_thrs)`` for ``i = 0 .. num_thrs - 1``,
    where ``avg_acc`` is the :func:`pck_accuracy` average over keypoint types. A keypoint counts
    at a threshold when its distance is below ``thr x norm_factor``; the first threshold is 0,
    where nothing counts, so a perfect prediction scores ``1 - 1 / num_thrs`` (0.95 for 20).

    Args:
        pred: (N, K, 2) predicted (x, y), any pixel unit shared with ``gt``.
        gt: (N, K, 2) ground-truth (x, y), same unit.
        mask: (N, K) bool, True where the GT keypoint is labelled; others are ignored.
        norm_factor: the distance that maps to threshold 1, same unit: one positive number for
            every instance (mmpose's form; its ``AUC`` metric uses 30 pixels), or per instance
            (N,) or (N, 2) for the x and y differences, where instances with a non-positive
            factor are ignored.
        num_thrs: number of thresholds.

    Returns:
        AUC in [0, 1 - 1 / num_thrs]; 0 when no keypoint is labelled (mmpose).
    """
    pred, gt, mask = _check_keypoints(pred, gt, mask)
    if not isinstance(num_thrs, (int, np.integer)) or isinstance(num_thrs, bool) or num_thrs < 1:
        raise ValueError(f'num_thrs: expected an integer >= 1, got {num_thrs!r}')
    norm = np.asarray(norm_factor, dtype=np.float64)
    if norm.ndim == 0:
        if not norm > 0:
            raise ValueError(f'norm_factor: expected a positive distance, got {norm_factor!r}')
        norm = np.full((pred.shape[0], 2), float(norm))
    norm = _check_norm_factor(norm, pred.shape[0])
    dist = _normalized_distances(pred, gt, mask, norm)  # (N, K), -1 where not counted
    avg_accs = [_pck_from_distances(dist, i / num_thrs)[1] for i in range(num_thrs)]
    return float(np.mean(avg_accs))


def compute_keypoint_epe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """End-point error: the mean Euclidean distance over the labelled keypoints (mmpose
    ``keypoint_epe``).

    Args:
        pred: (N, K, 2) predicted (x, y), any pixel unit shared with ``gt``.
        gt: (N, K, 2) ground-truth (x, y), same unit.
        mask: (N, K) bool, True where the GT keypoint is labelled; others are ignored.

    Returns:
        mean distance in the unit of the inputs (pixels); 0 when no keypoint is labelled (mmpose:
        ``sum / max(1, count)``).
    """
    pred, gt, mask = _check_keypoints(pred, gt, mask)
    dist = np.linalg.norm(pred - gt, axis=-1)[mask]  # (M,) over the labelled keypoints
    return float(dist.sum() / max(1, dist.size))


def compute_keypoint_nme(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray,
                         norm_factor: np.ndarray) -> float:
    """Normalised mean error: the mean of ``|| (pred - gt) / norm_factor ||`` over the labelled
    keypoints (mmpose ``keypoint_nme``).

    Every counted keypoint weighs the same, so an instance with more labelled keypoints weighs
    more (mmpose: the mean runs over all valid distances, not per instance).

    Args:
        pred: (N, K, 2) predicted (x, y), any pixel unit shared with ``gt``.
        gt: (N, K, 2) ground-truth (x, y), same unit.
        mask: (N, K) bool, True where the GT keypoint is labelled; others are ignored.
        norm_factor: (N,) per-instance normaliser (e.g. the inter-ocular distance or a box size),
            same unit, or (N, 2) for the x and y differences. Instances with a zero (or negative,
            NaN) factor are left out (mmpose ``_calc_distances``).

    Returns:
        NME, a fraction of the normaliser (multiply by 100 for the percent tables use); 0 when no
        keypoint is counted (mmpose: ``sum / max(1, count)``).
    """
    pred, gt, mask = _check_keypoints(pred, gt, mask)
    norm_factor = _check_norm_factor(norm_factor, pred.shape[0])
    dist = _normalized_distances(pred, gt, mask, norm_factor)
    valid = dist[dist >= 0]  # (M,)
    return float(valid.sum() / max(1, valid.size))


def compute_keypoint_pair_distance(keypoints: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """Distance between two keypoints of each instance: NME's ``keypoint_distance`` normaliser
    (mmpose ``NME._get_normalize_factor``, e.g. the outer eye corners for inter-ocular NME).

    Args:
        keypoints: (N, K, 2) (x, y), normally the ground truth, any pixel unit.
        indices: the two keypoint indices, each in [0, K).

    Returns:
        (N,) float64 distances in the unit of ``keypoints``.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[2] != 2:
        raise ValueError(f'keypoints: expected shape (N, K, 2), got {keypoints.shape}')
    indices = tuple(int(i) for i in indices)
    num_kpts = keypoints.shape[1]
    if len(indices) != 2 or not all(0 <= i < num_kpts for i in indices):
        raise ValueError(f'indices: expected two keypoint indices in [0, {num_kpts}), got '
                         f'{indices}')
    return np.linalg.norm(keypoints[:, indices[0]] - keypoints[:, indices[1]], axis=-1)


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
