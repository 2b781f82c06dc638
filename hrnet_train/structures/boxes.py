"""Box conversions and box maths in the one box convention of hrnet-train.

Boxes are (B, 4) ``x1, y1, x2, y2`` in continuous image pixels: the image covers ``[0, W] x
[0, H]``, width ``x2 - x1``, area ``(x2 - x1) * (y2 - y1)`` (torchvision / mmdet 3.x; no legacy
``+ 1``). Functions accept numpy arrays or torch tensors and return the same kind.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]


def _as_boxes(boxes, name: str = 'boxes') -> Array:
    if not torch.is_tensor(boxes):
        boxes = np.asarray(boxes)
        if not np.issubdtype(boxes.dtype, np.floating):  # keep float64 input float64
            boxes = boxes.astype(np.float32)
    if boxes.shape[-1:] != (4,):
        raise ValueError(f'{name} must have shape (..., 4), got {tuple(boxes.shape)}')
    return boxes


def _stack(parts: list, like: Array) -> Array:
    if torch.is_tensor(like):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def xywh_to_xyxy(boxes: Array) -> Array:
    """COCO ``[x, y, w, h]`` -> ``[x1, y1, x2, y2]`` with ``x2 = x + w`` (continuous).

    Args:
        boxes: (..., 4) x, y (top-left corner), w, h in pixels.

    Returns:
        (..., 4) x1, y1, x2, y2, same type and float dtype (float32 for lists and ints).
    """
    boxes = _as_boxes(boxes)
    x, y, w, h = (boxes[..., i] for i in range(4))
    return _stack([x, y, x + w, y + h], boxes)


def xyxy_to_xywh(boxes: Array) -> Array:
    """``[x1, y1, x2, y2]`` -> COCO ``[x, y, w, h]`` (the inverse of :func:`xywh_to_xyxy`)."""
    boxes = _as_boxes(boxes)
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    return _stack([x1, y1, x2 - x1, y2 - y1], boxes)


def box_area(boxes: Array) -> Array:
    """(..., 4) xyxy -> (...,) area ``(x2 - x1) * (y2 - y1)``, 0 for inverted boxes."""
    boxes = _as_boxes(boxes)
    if torch.is_tensor(boxes):
        wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0)
    else:
        wh = np.clip(boxes[..., 2:] - boxes[..., :2], 0, None)
    return wh[..., 0] * wh[..., 1]


def box_iou(boxes1: Array, boxes2: Array) -> Array:
    """Pairwise intersection over union.

    Args:
        boxes1: (B1, 4) xyxy.
        boxes2: (B2, 4) xyxy, same kind (numpy or torch) as ``boxes1``.

    Returns:
        (B1, B2) IoU in [0, 1], 0 where the union is empty; float64 for numpy input, the input
        dtype for tensors.
    """
    if torch.is_tensor(boxes1) or torch.is_tensor(boxes2):
        b1 = torch.as_tensor(boxes1).reshape(-1, 4)
        b2 = torch.as_tensor(boxes2, dtype=b1.dtype, device=b1.device).reshape(-1, 4)
        lt = torch.maximum(b1[:, None, :2], b2[None, :, :2])  # (B1, B2, 2)
        rb = torch.minimum(b1[:, None, 2:], b2[None, :, 2:])  # (B1, B2, 2)
        wh = (rb - lt).clamp(min=0)
        inter = wh[..., 0] * wh[..., 1]
        union = box_area(b1)[:, None] + box_area(b2)[None, :] - inter
        return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny),
                           torch.zeros_like(union))
    b1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    b2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(b1[:, None, :2], b2[None, :, :2])  # (B1, B2, 2)
    rb = np.minimum(b1[:, None, 2:], b2[None, :, 2:])  # (B1, B2, 2)
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(b1)[:, None] + box_area(b2)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def clip_boxes(boxes: Array, size: tuple[int, int]) -> Array:
    """Clip (..., 4) xyxy boxes to an image of ``size`` = (width, height): ``[0, W] x [0, H]``."""
    boxes = _as_boxes(boxes)
    w, h = size
    if torch.is_tensor(boxes):
        out = boxes.clone()
        out[..., 0::2] = out[..., 0::2].clamp(0, w)
        out[..., 1::2] = out[..., 1::2].clamp(0, h)
        return out
    out = np.array(boxes, copy=True)
    out[..., 0::2] = np.clip(out[..., 0::2], 0, w)
    out[..., 1::2] = np.clip(out[..., 1::2], 0, h)
    return out


def flip_boxes(boxes: Array, width: float) -> Array:
    """Mirror (..., 4) xyxy boxes horizontally in an image of ``width``: ``x -> W - x``.

    The two x edges swap, so the result is again ``x1 <= x2``; flipping twice is the identity.
    """
    boxes = _as_boxes(boxes)
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    return _stack([width - x2, y1, width - x1, y2], boxes)


def boxes_to_center_scale(boxes: Array, padding: float = 1.0) -> tuple[Array, Array]:
    """(..., 4) xyxy -> centre (..., 2) and padded size (..., 2) = ``(w, h) * padding``."""
    boxes = _as_boxes(boxes)
    center = (boxes[..., :2] + boxes[..., 2:]) * 0.5
    scale = (boxes[..., 2:] - boxes[..., :2]) * padding
    return center, scale
