"""Drawing of semantic segmentation maps."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _palette_array(palette: Sequence[Sequence[int]]) -> np.ndarray:
    pal = np.asarray(palette, dtype=np.int64)
    if pal.ndim != 2 or pal.shape[1] != 3 or pal.min(initial=0) < 0 or pal.max(initial=0) > 255:
        raise ValueError(f'palette must be (C, 3) RGB values in [0, 255], got shape {pal.shape}')
    return pal.astype(np.uint8)


def colorize_seg_map(seg: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Colour a label map with a palette.

    Args:
        seg: (H, W) int class ids; ids outside [0, C) (e.g. 255 = ignore) are drawn black.
        palette: (C, 3) RGB colours, one per class.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    pal = _palette_array(palette)
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise ValueError(f'seg must be (H, W), got {seg.shape}')
    lut = np.zeros((len(pal) + 1, 3), dtype=np.uint8)  # last row: black for unknown ids
    lut[:-1] = pal
    idx = seg.astype(np.int64)
    idx = np.where((idx >= 0) & (idx < len(pal)), idx, len(pal))
    return lut[idx]


def overlay(img: np.ndarray, seg: np.ndarray, palette: Sequence[Sequence[int]], *,
            alpha: float = 0.5) -> np.ndarray:
    """Blend the coloured label map over an image.

    Args:
        img: (H, W, 3) uint8 image, in the palette's channel order (RGB for the bundled palettes).
        seg: (H, W) int class ids; ids outside [0, C) leave the image unchanged.
        palette: (C, 3) colours.
        alpha: weight of the colour, in [0, 1].

    Returns:
        (H, W, 3) uint8: ``(1 - alpha) * img + alpha * colour`` on labelled pixels.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    img = np.asarray(img)
    seg = np.asarray(seg)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[:2] != seg.shape:
        raise ValueError(
            f'img must be (H, W, 3) matching seg (H, W); got {img.shape} and {seg.shape}')
    color = colorize_seg_map(seg, palette).astype(np.float32)
    blended = (1.0 - alpha) * img.astype(np.float32) + alpha * color
    known = (seg >= 0) & (seg < len(palette))
    out = np.where(known[..., None], np.round(blended), img.astype(np.float32))
    return np.clip(out, 0, 255).astype(np.uint8)
