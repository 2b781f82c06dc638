"""Greedy non-maximum suppression and pairwise IoU with torchvision's numbers.

``nms`` is the definition of pytorch/vision ``torchvision/csrc/ops/cpu/nms_kernel.cpp``: visit
the boxes by decreasing score; keep a box unless its IoU with an already kept box is
``> iou_threshold``; return the kept indices in visiting order. The visiting order is
``scores.sort(0, descending=True)``, the very call of that kernel, so tied scores are visited in
the order of PyTorch's (unstable) CPU sort, exactly as torchvision's CPU op visits them; that
order is not "lowest index first" (this build's vectorised sort returns e.g. indices
``[30, 21, 22, ...]`` for 40 equal scores), and a different PyTorch build or device may order
ties differently, for both implementations alike. The IoU is computed with the kernel's
operations in the boxes' dtype (areas ``(x2 - x1) * (y2 - y1)``, ``inter / (area_i + area_j -
inter)``) and compared with the double threshold as the kernel does, so borderline pairs are
decided identically. (torchvision's CUDA kernel compares with ``(float) iou_threshold``: there,
an IoU within one float step of the threshold may be decided the other way.)

The pure-PyTorch path is exact and vectorised: the sorted boxes are taken in blocks of
``_BLOCK``; inside a block the greedy choice is the fixed point of "kept = candidate and not
overlapped by an earlier kept box of the block" (reached in at most ``_BLOCK`` matrix steps,
usually 2-3), then the block's kept boxes suppress the remaining later boxes in one IoU matrix.
Memory stays at O(_BLOCK * N).

``batched_nms`` follows ``torchvision/ops/boxes.py`` step for step, including its switch from
the coordinate trick (boxes offset by ``idx * (max coordinate + 1)``) to one ``nms`` per index
value above 4000 box coordinates on CPU (100 000 on other devices).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._backend import resolve_backend, torchvision_ops

_BLOCK = 256  # boxes resolved together; 256 x 256 overlap matrices
_PAIRS_PER_STEP = 1 << 21  # IoU entries per suppression step (kept x later boxes)


def _upcast(t: Tensor) -> Tensor:
    """torchvision ``ops/_utils.py`` ``_upcast``: half -> float32, small ints -> int32."""
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    return t if t.dtype in (torch.int32, torch.int64) else t.int()


def _check_boxes(boxes: Tensor, name: str = 'boxes') -> None:
    if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, Tensor) else type(boxes).__name__
        raise ValueError(f'{name} must be a Tensor[N, 4] (x1, y1, x2, y2), got {shape}')


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection over union, ``torchvision.ops.box_iou``'s formula.

    Unlike :func:`hrnet_train.structures.box_iou` nothing is guarded: areas are
    ``(x2 - x1) * (y2 - y1)`` as given (valid boxes have ``x1 <= x2``, ``y1 <= y2``) and an
    empty union gives NaN, as torchvision.

    Args:
        boxes1: (N, 4) ``x1, y1, x2, y2``.
        boxes2: (M, 4) ``x1, y1, x2, y2``, same dtype and device.

    Returns:
        (N, M) IoU; float32 for float16 / integer boxes, else the boxes' dtype.
    """
    _check_boxes(boxes1, 'boxes1')
    _check_boxes(boxes2, 'boxes2')
    b1, b2 = _upcast(boxes1), _upcast(boxes2)
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])  # (N, M, 2)
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])  # (N, M, 2)
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter / union


def _kernel_iou(a: Tensor, area_a: Tensor, b: Tensor, area_b: Tensor) -> Tensor:
    """(n, m) IoU with nms_kernel.cpp's operations, in the boxes' dtype."""
    xx1 = torch.maximum(a[:, None, 0], b[None, :, 0])
    yy1 = torch.maximum(a[:, None, 1], b[None, :, 1])
    xx2 = torch.minimum(a[:, None, 2], b[None, :, 2])
    yy2 = torch.minimum(a[:, None, 3], b[None, :, 3])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _strict_threshold(iou_threshold: float, dtype: torch.dtype) -> float:
    """The largest ``dtype`` value <= ``iou_threshold``: for an IoU ``v`` of that dtype,
    ``v > result`` is exactly the kernel's ``(double) v > iou_threshold``."""
    t = torch.tensor(iou_threshold, dtype=dtype)
    if float(t) > iou_threshold:
        t = torch.nextafter(t, torch.tensor(-math.inf, dtype=dtype))
    return float(t)


def _nms_torch(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    n = boxes.shape[0]
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    if boxes.dtype not in (torch.float32, torch.float64):
        boxes = boxes.float()
    order = scores.sort(0, descending=True)[1]  # nms_kernel.cpp: scores.sort(0, true)
    b = boxes[order]
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    thr = _strict_threshold(float(iou_threshold), b.dtype)
    suppressed = torch.zeros(n, dtype=torch.bool, device=b.device)
    keep = torch.zeros(n, dtype=torch.bool, device=b.device)
    for s in range(0, n, _BLOCK):
        e = min(s + _BLOCK, n)
        cand = ~suppressed[s:e]
        if not bool(cand.any()):
            continue
        # over[i, j]: the earlier box i (kept) would suppress the later box j of the block
        over = (_kernel_iou(b[s:e], areas[s:e], b[s:e], areas[s:e]) > thr).triu(1)
        kept = cand
        while True:  # fixed point of the greedy rule: entry t is final after t + 1 steps
            new = cand & ~(over & kept[:, None]).any(0)
            if torch.equal(new, kept):
                break
            kept = new
        keep[s:e] = kept
        if e == n:
            break
        kept_idx = kept.nonzero().squeeze(1) + s
        later = (~suppressed[e:]).nonzero().squeeze(1) + e
        step = max(1, _PAIRS_PER_STEP // max(1, kept_idx.numel()))
        for c in range(0, later.numel(), step):
            cols = later[c:c + step]
            hit = (_kernel_iou(b[kept_idx], areas[kept_idx], b[cols], areas[cols]) > thr).any(0)
            suppressed[cols[hit]] = True
    return order[keep]


def _check_nms_args(boxes: Tensor, scores: Tensor) -> None:
    _check_boxes(boxes)
    if not boxes.is_floating_point():
        raise ValueError(f'boxes must be a float tensor, got {boxes.dtype}')
    if not isinstance(scores, Tensor) or scores.dim() != 1 or scores.shape[0] != boxes.shape[0]:
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f'scores must be a Tensor[N] with N = {boxes.shape[0]} (one per box), '
                         f'got {shape}')


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, *,
        backend: str | None = None) -> Tensor:
    """Greedy NMS: drop every box whose IoU with a kept higher-scoring box is > the threshold.

    Args:
        boxes: (N, 4) ``x1, y1, x2, y2`` float (float16 is computed in float32).
        scores: (N,) scores.
        iou_threshold: boxes with IoU > this are suppressed (IoU == threshold is kept).
        backend: ``'torch'``, ``'torchvision'`` or ``'auto'``; None reads ``$HRNET_OPS_BACKEND``.

    Returns:
        (D,) int64 indices of the kept boxes, by decreasing score (ties: module docstring);
        empty for N = 0.
    """
    _check_nms_args(boxes, scores)
    if resolve_backend(backend) == 'torchvision':
        return torchvision_ops().nms(boxes, scores, float(iou_threshold))
    return _nms_torch(boxes, scores, iou_threshold)


def _batched_nms_torch(boxes: Tensor, scores: Tensor, idxs: Tensor,
                       iou_threshold: float) -> Tensor:
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    # torchvision ops/boxes.py batched_nms: the thresholds of its benchmarks (issue 1311, PR 8925)
    if boxes.numel() > (4000 if boxes.device.type == 'cpu' else 100_000):
        keep_mask = torch.zeros_like(scores, dtype=torch.bool)
        for class_id in torch.unique(idxs):
            curr = torch.where(idxs == class_id)[0]
            keep_mask[curr[_nms_torch(boxes[curr], scores[curr], iou_threshold)]] = True
        keep = torch.where(keep_mask)[0]
        return keep[scores[keep].sort(descending=True)[1]]
    # the coordinate trick: an offset per index value large enough that groups never overlap
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    return _nms_torch(boxes + offsets[:, None], scores, iou_threshold)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float, *,
                backend: str | None = None) -> Tensor:
    """NMS within each value of ``idxs`` (a class or a pyramid level), never across them.

    Args:
        boxes: (N, 4) ``x1, y1, x2, y2`` float.
        scores: (N,) scores.
        idxs: (N,) int64 group of each box.
        iou_threshold: as :func:`nms`.
        backend: as :func:`nms`.

    Returns:
        (D,) int64 indices of the kept boxes by decreasing score; empty for N = 0.
    """
    _check_nms_args(boxes, scores)
    if not isinstance(idxs, Tensor) or idxs.shape != scores.shape:
        shape = tuple(idxs.shape) if isinstance(idxs, Tensor) else type(idxs).__name__
        raise ValueError(f'idxs must be a Tensor[N] with N = {boxes.shape[0]} (one group index '
                         f'per box), got {shape}')
    if resolve_backend(backend) == 'torchvision':
        return torchvision_ops().batched_nms(boxes, scores, idxs, float(iou_threshold))
    return _batched_nms_torch(boxes, scores, idxs, iou_threshold)
