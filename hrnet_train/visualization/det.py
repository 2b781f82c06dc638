"""Drawing of detected boxes with their class name and score."""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

from hrnet_train.datasets.coco_detection import make_palette
from hrnet_train.utils.arrays import to_numpy

from .seg import _palette_array

_TEXT_COLOR = (255, 255, 255)  # RGB
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _pixel_rect(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Continuous xyxy box -> inclusive pixel rectangle (left, top, right, bottom) in the image.

    The box ``[x1, x2)`` covers the pixel columns ``round(x1) .. round(x2) - 1``; at least one.
    """
    x1, y1, x2, y2 = (int(np.round(v)) for v in box)
    left, top = min(max(x1, 0), width - 1), min(max(y1, 0), height - 1)
    right = min(max(x2 - 1, left), width - 1)
    bottom = min(max(y2 - 1, top), height - 1)
    return left, top, right, bottom


def draw_detections(
    img: np.ndarray,
    bboxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    *,
    score_thr: float = 0.3,
    palette: Optional[Sequence[Sequence[int]]] = None,
    thickness: int = 2,
    font_scale: float = 0.5,
) -> np.ndarray:
    """Draw boxes scoring above ``score_thr`` on a copy of an image, with 'name 0.87' labels.

    Each box outline is drawn on the pixels the box covers: the continuous box
    ``[x1, x2) x [y1, y2)`` becomes the pixel rectangle ``round(x1) .. round(x2) - 1`` (and the
    same in y); thicker lines grow around it (cv2). The label sits on a filled rectangle of the
    box colour just above the box, or inside its top edge when there is no room above.

    Args:
        img: (H, W, 3) uint8 RGB.
        bboxes: (D, 4) x1, y1, x2, y2 continuous image pixels (numpy or tensor).
        labels: (D,) int class indices into ``class_names``.
        scores: (D,) scores.
        class_names: one name per class (e.g. dataset meta ``classes``).
        score_thr: boxes with ``score <= score_thr`` are not drawn.
        palette: (C, 3) RGB per class; None uses :func:`make_palette` (the dataset default).
        thickness: outline width in pixels.
        font_scale: cv2 Hershey font scale of the label.

    Returns:
        (H, W, 3) uint8 RGB, a new array; ``img`` is not modified.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f'img: expected (H, W, 3) uint8, got {img.shape} {img.dtype}')
    boxes = to_numpy(bboxes).astype(np.float64).reshape(-1, 4)
    labels = to_numpy(labels).astype(np.int64).reshape(-1)
    scores = to_numpy(scores).astype(np.float64).reshape(-1)
    if not len(boxes) == len(labels) == len(scores):
        raise ValueError(f'bboxes (D, 4), labels (D,) and scores (D,) disagree: {len(boxes)}, '
                         f'{len(labels)}, {len(scores)}')
    num_classes = len(class_names)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(f'labels: {int(labels[bad][0])} is outside [0, {num_classes}) '
                         f'(class_names has {num_classes} names)')
    pal = _palette_array(make_palette(num_classes) if palette is None else palette)
    if len(pal) < num_classes:
        raise ValueError(f'palette: expected {num_classes} colours (one per class), got {len(pal)}')

    canvas = np.ascontiguousarray(img.copy())
    height, width = canvas.shape[:2]
    shown = (scores > score_thr) & np.isfinite(boxes).all(1) & np.isfinite(scores)
    # Lowest score first, so the best boxes and labels end up on top.
    for i in sorted(np.flatnonzero(shown), key=lambda k: scores[k]):
        color = tuple(int(c) for c in pal[labels[i]])
        left, top, right, bottom = _pixel_rect(boxes[i], width, height)
        cv2.rectangle(canvas, (left, top), (right, bottom), color, thickness)
        text = f'{class_names[labels[i]]} {scores[i]:.2f}'
        (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, font_scale, 1)
        label_h = text_h + baseline
        label_top = top - label_h if top - label_h >= 0 else top
        cv2.rectangle(canvas, (left, label_top), (left + text_w - 1, label_top + label_h - 1),
                      color, -1)
        cv2.putText(canvas, text, (left, label_top + text_h), _FONT, font_scale, _TEXT_COLOR, 1,
                    cv2.LINE_AA)
    return canvas
