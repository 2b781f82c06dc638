"""R-CNN box deltas ``(dx, dy, dw, dh)`` (mmdet 3.x ``DeltaXYWHBBoxCoder``; the fork's as legacy).

Sources: open-mmlab/mmdetection:mmdet/models/task_modules/coders/delta_xywh_bbox_coder.py
(``bbox2delta``, ``delta2bbox``) and HRNet/HRNet-Object-Detection:mmdet/core/bbox/transforms.py
(mmdet v1: widths ``x2 - x1 + 1``, decoded corners ``centre -/+ (w - 1) / 2``, clipped to
``[0, W - 1]``; mmdet 2.x keeps it as ``LegacyDeltaXYWHBBoxCoder``).

With reference box centre ``(px, py)`` and size ``(pw, ph)`` and target ``(gx, gy, gw, gh)``:
``dx = (gx - px) / pw``, ``dy = (gy - py) / ph``, ``dw = log(gw / pw)``, ``dh = log(gh / ph)``,
then normalised ``(d - mean) / std``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor

from hrnet_train.registry import TASK_UTILS
from hrnet_train.utils.errors import ConfigError


def _centers_sizes(boxes: Tensor, legacy: bool) -> tuple[Tensor, Tensor]:
    """(..., 4) xyxy -> centres (..., 2) and sizes (..., 2) (+ 1 when legacy)."""
    centers = (boxes[..., :2] + boxes[..., 2:]) * 0.5
    sizes = boxes[..., 2:] - boxes[..., :2]
    if legacy:
        sizes = sizes + 1.0
    return centers, sizes


def encode_box_deltas(boxes: Tensor, gt_boxes: Tensor,
                      means: Sequence[float] = (0., 0., 0., 0.),
                      stds: Sequence[float] = (1., 1., 1., 1.), *,
                      legacy: bool = False) -> Tensor:
    """Deltas that move ``boxes`` onto ``gt_boxes`` (mmdet ``bbox2delta``).

    Args:
        boxes: (B, 4) xyxy reference boxes (anchors, proposals), positive size.
        gt_boxes: (B, 4) xyxy targets, positive size, same pixels as ``boxes``.
        means: (4,) subtracted from the raw deltas.
        stds: (4,) the raw deltas are divided by these after the means.
        legacy: widths and heights ``x2 - x1 + 1`` (the fork).

    Returns:
        (B, 4) float32 normalised ``dx, dy, dw, dh``.
    """
    if boxes.shape != gt_boxes.shape or boxes.shape[-1:] != (4,):
        raise ValueError(f'boxes and gt_boxes must both be (B, 4), got {tuple(boxes.shape)} and '
                         f'{tuple(gt_boxes.shape)}')
    pc, ps = _centers_sizes(boxes.float(), legacy)
    gc, gs = _centers_sizes(gt_boxes.float(), legacy)
    dxy = (gc - pc) / ps
    dwh = torch.log(gs / ps)
    deltas = torch.cat([dxy, dwh], dim=-1)
    return (deltas - deltas.new_tensor(means)) / deltas.new_tensor(stds)


def decode_box_deltas(boxes: Tensor, deltas: Tensor,
                      means: Sequence[float] = (0., 0., 0., 0.),
                      stds: Sequence[float] = (1., 1., 1., 1.), *,
                      max_shape: Optional[tuple[int, int]] = None,
                      wh_ratio_clip: float = 16 / 1000, clip_border: bool = True,
                      legacy: bool = False) -> Tensor:
    """Apply deltas to reference boxes (mmdet ``delta2bbox``), the inverse of encoding.

    Args:
        boxes: (B, 4) xyxy reference boxes.
        deltas: (B, 4k) normalised deltas; k > 1 for class-specific regression, class j in
            columns ``4j .. 4j + 3``.
        means, stds: (4,) the normalisation of :func:`encode_box_deltas`.
        max_shape: (H, W); when given and ``clip_border``, the result is clipped to
            ``[0, W] x [0, H]`` (legacy: ``[0, W - 1] x [0, H - 1]``).
        wh_ratio_clip: ``dw, dh`` are clamped to ``+-|log(wh_ratio_clip)|`` (log(1000 / 16)),
            so a box grows or shrinks by at most 62.5x.
        clip_border: whether ``max_shape`` clips.
        legacy: the fork's ``+ 1`` sizes and ``-/+ 0.5`` corners.

    Returns:
        (B, 4k) xyxy, the dtype of ``deltas``.
    """
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f'boxes must be (B, 4), got {tuple(boxes.shape)}')
    if deltas.dim() != 2 or deltas.shape[0] != boxes.shape[0] or deltas.shape[1] % 4:
        raise ValueError(f'deltas must be (B, 4k) with B={boxes.shape[0]}, got '
                         f'{tuple(deltas.shape)}')
    num_boxes, num_classes = deltas.shape[0], deltas.shape[1] // 4
    if num_boxes == 0:
        return deltas.clone()
    deltas = deltas.reshape(-1, 4)  # (B*k, 4)
    denorm = deltas * deltas.new_tensor(stds) + deltas.new_tensor(means)
    refs = boxes.to(deltas.dtype).repeat(1, num_classes).reshape(-1, 4)  # (B*k, 4)
    pxy, pwh = _centers_sizes(refs, legacy)
    max_ratio = abs(math.log(wh_ratio_clip))
    dwh = denorm[:, 2:].clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + pwh * denorm[:, :2]
    gwh = pwh * dwh.exp()
    if legacy:
        x1y1 = gxy - gwh * 0.5 + 0.5
        x2y2 = gxy + gwh * 0.5 - 0.5
    else:
        x1y1 = gxy - gwh * 0.5
        x2y2 = gxy + gwh * 0.5
    if clip_border and max_shape is not None:
        off = 1 if legacy else 0
        limit = x1y1.new_tensor([max_shape[1] - off, max_shape[0] - off])
        zero = torch.zeros_like(limit)
        x1y1 = torch.minimum(torch.maximum(x1y1, zero), limit)
        x2y2 = torch.minimum(torch.maximum(x2y2, zero), limit)
    return torch.cat([x1y1, x2y2], dim=-1).reshape(num_boxes, -1)


def _four(name: str, values: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if len(values) != 4:
        raise ConfigError(f'DeltaXYWHBBoxCoder {name} must have 4 numbers, got {values!r}')
    return values


@TASK_UTILS.register_module()
class DeltaXYWHBBoxCoder:
    """Encode boxes as normalised ``(dx, dy, dw, dh)`` against reference boxes and back.

    Args:
        target_means: (4,) delta means (zeros in every HRNet detector).
        target_stds: (4,) delta stds: (1, 1, 1, 1) for the RPN, (.1, .1, .2, .2) for R-CNN.
        clip_border: clip decoded boxes to ``max_shape`` when it is given.
        wh_ratio_clip: see :func:`decode_box_deltas`.
        legacy: the fork's ``+ 1`` convention.
    """

    encode_size = 4

    def __init__(self, target_means: Sequence[float] = (0., 0., 0., 0.),
                 target_stds: Sequence[float] = (1., 1., 1., 1.), *, clip_border: bool = True,
                 wh_ratio_clip: float = 16 / 1000, legacy: bool = False) -> None:
        self.means = _four('target_means', target_means)
        self.stds = _four('target_stds', target_stds)
        if not all(s > 0 for s in self.stds):
            raise ConfigError(f'DeltaXYWHBBoxCoder target_stds must be positive, got {self.stds}')
        if not 0 < wh_ratio_clip < 1:
            raise ConfigError(f'DeltaXYWHBBoxCoder wh_ratio_clip must be in (0, 1), got '
                              f'{wh_ratio_clip}')
        self.clip_border = bool(clip_border)
        self.wh_ratio_clip = float(wh_ratio_clip)
        self.legacy = bool(legacy)

    def encode(self, bboxes: Tensor, gt_bboxes: Tensor) -> Tensor:
        """(B, 4) reference boxes and (B, 4) targets -> (B, 4) normalised deltas."""
        return encode_box_deltas(bboxes, gt_bboxes, self.means, self.stds, legacy=self.legacy)

    def decode(self, bboxes: Tensor, deltas: Tensor,
               max_shape: Optional[tuple[int, int]] = None) -> Tensor:
        """(B, 4) reference boxes and (B, 4k) deltas -> (B, 4k) xyxy, clipped to (H, W)."""
        return decode_box_deltas(bboxes, deltas, self.means, self.stds,
                                 max_shape=None if max_shape is None else tuple(max_shape[:2]),
                                 wh_ratio_clip=self.wh_ratio_clip, clip_border=self.clip_border,
                                 legacy=self.legacy)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(target_means={self.means}, target_stds={self.stds}, '
                f'clip_border={self.clip_border}, legacy={self.legacy})')
