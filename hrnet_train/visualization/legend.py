"""A legend box of text rows, each with an optional colour swatch (seg classes, top-k classes)."""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BACKGROUND = (0, 0, 0)  # RGB
_TEXT_COLOR = (255, 255, 255)


def draw_legend(img: np.ndarray, rows: Sequence[str],
                colors: Optional[Sequence[Sequence[int]]] = None, *,
                font_scale: float = 0.4, margin: int = 4) -> np.ndarray:
    """Draw ``rows`` top-left on a black box, each row after a swatch of its colour.

    Rows that do not fit in the image height are left out; the last shown row then reads
    ``+n more``.

    Args:
        img: (H, W, 3) uint8 RGB.
        rows: the text rows, e.g. class names.
        colors: (len(rows), 3) RGB swatch colours; None draws no swatches.
        font_scale: cv2 Hershey font scale.
        margin: pixels around and between rows.

    Returns:
        (H, W, 3) uint8 RGB, a new array; ``img`` is not modified.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f'img: expected (H, W, 3) uint8, got {img.shape} {img.dtype}')
    rows = [str(r) for r in rows]
    if colors is not None and len(colors) != len(rows):
        raise ValueError(f'colors: expected {len(rows)} colours (one per row), got {len(colors)}')
    canvas = np.ascontiguousarray(img.copy())
    if not rows:
        return canvas
    (_, text_h), baseline = cv2.getTextSize('Ag', _FONT, font_scale, 1)
    row_h = text_h + baseline + margin
    fits = max(1, (canvas.shape[0] - margin) // row_h)
    if len(rows) > fits:
        rows, colors = rows[:fits - 1] + [f'+{len(rows) - fits + 1} more'], \
            (list(colors[:fits - 1]) + [_BACKGROUND] if colors is not None else None)
    swatch = text_h if colors is not None else 0
    text_x = margin + (swatch + margin if swatch else 0)
    width = text_x + max(cv2.getTextSize(r, _FONT, font_scale, 1)[0][0] for r in rows) + margin
    height = margin + row_h * len(rows)
    cv2.rectangle(canvas, (0, 0), (min(width, canvas.shape[1]) - 1,
                                   min(height, canvas.shape[0]) - 1), _BACKGROUND, -1)
    for i, row in enumerate(rows):
        top = margin + i * row_h
        if swatch:
            color = tuple(int(c) for c in colors[i])
            cv2.rectangle(canvas, (margin, top), (margin + swatch - 1, top + swatch - 1), color, -1)
        cv2.putText(canvas, row, (text_x, top + text_h), _FONT, font_scale, _TEXT_COLOR, 1,
                    cv2.LINE_AA)
    return canvas
