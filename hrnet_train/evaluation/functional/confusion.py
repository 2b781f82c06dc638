"""Per-class areas of a semantic segmentation and the IoU / accuracy / Dice built from them."""
from __future__ import annotations

import numpy as np


def intersect_and_union(
    pred: np.ndarray, label: np.ndarray, num_classes: int, *, ignore_index: int = 255
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel counts per class of one image, skipping ``label == ignore_index``.

    Args:
        pred: (H, W) int predicted class ids in [0, num_classes).
        label: (H, W) int ground-truth class ids in [0, num_classes) or ``ignore_index``.
        num_classes: C.

    Returns:
        area_intersect, area_union, area_pred, area_label: (C,) int64 pixel counts;
        union = pred + label - intersect.
    """
    pred = np.asarray(pred)
    label = np.asarray(label)
    if pred.shape != label.shape:
        raise ValueError(f'pred shape {pred.shape} differs from label shape {label.shape}')
    valid = label != ignore_index
    pred = pred[valid].astype(np.int64)
    label = label[valid].astype(np.int64)
    for name, x in (('label', label), ('pred', pred)):
        if x.size and (x.min() < 0 or x.max() >= num_classes):
            bad = np.unique(x[(x < 0) | (x >= num_classes)])
            raise ValueError(
                f'{name} holds class ids {bad.tolist()[:10]} outside [0, {num_classes}) '
                f'(ignore_index={ignore_index})')
    area_intersect = np.bincount(label[pred == label], minlength=num_classes)
    area_pred = np.bincount(pred, minlength=num_classes)
    area_label = np.bincount(label, minlength=num_classes)
    area_union = area_pred + area_label - area_intersect
    return area_intersect, area_union, area_pred, area_label


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def summarize_areas(
    area_intersect: np.ndarray, area_union: np.ndarray, area_pred: np.ndarray,
    area_label: np.ndarray
) -> dict[str, np.ndarray | float]:
    """Metrics from per-class areas summed over a whole dataset.

    Args:
        area_intersect, area_union, area_pred, area_label: (C,) pixel counts, see
            ``intersect_and_union``.

    Returns:
        ``IoU``, ``Acc``, ``Dice``: (C,) float64 fractions in [0, 1]. IoU and Dice are NaN for a
        class absent from both prediction and label (union 0); Acc is NaN for a class absent from
        the label. ``aAcc`` (correct / labelled pixels) and ``mIoU``, ``mAcc``, ``mDice``
        (means over the non-NaN classes, as mmseg) are floats.

    The official HRNet code divides by max(1, union), so an absent class counts as IoU 0 there;
    on a full Cityscapes split every class is present and both agree.
    """
    iou = _divide(area_intersect, area_union)
    acc = _divide(area_intersect, area_label)
    dice = _divide(2 * np.asarray(area_intersect), np.asarray(area_pred) + np.asarray(area_label))
    total_label = float(np.sum(area_label))
    a_acc = float(np.sum(area_intersect)) / total_label if total_label > 0 else float('nan')

    def nanmean(x: np.ndarray) -> float:
        return float(np.mean(x[~np.isnan(x)])) if np.any(~np.isnan(x)) else float('nan')

    return dict(IoU=iou, Acc=acc, Dice=dice, aAcc=a_acc,
                mIoU=nanmean(iou), mAcc=nanmean(acc), mDice=nanmean(dice))
