"""Multi-level anchor grids (mmdet 3.x ``AnchorGenerator``; the fork's mmdet-0.6 one as ``legacy``).

Sources: open-mmlab/mmdetection:mmdet/models/task_modules/prior_generators/anchor_generator.py
(``AnchorGenerator``, ``anchor_inside_flags``) and HRNet/HRNet-Object-Detection:
mmdet/core/anchor/anchor_generator.py (mmdet v1, reproduced by mmdet's ``LegacyAnchorGenerator``).

Anchors are (B, 4) ``x1, y1, x2, y2`` float32 in input pixels (the padded batch). The anchor of
cell (y, x) of a level with stride s is its base anchor shifted by ``(x * s, y * s)``.
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import torch
from torch import Tensor

from hrnet_train.registry import TASK_UTILS
from hrnet_train.utils.errors import ConfigError

Device = Union[str, torch.device]


def make_base_anchors(base_size: float, scales: Sequence[float], ratios: Sequence[float], *,
                      legacy: bool = False) -> Tensor:
    """The anchors of one feature-map cell, relative to the cell's origin.

    Ratio is height / width; an anchor of ratio r and scale k has width
    ``base_size * k / sqrt(r)`` and height ``base_size * k * sqrt(r)``.

    Args:
        base_size: the level's base size (its stride).
        scales: anchor scales (mmdet: ``(8,)``).
        ratios: height / width ratios (mmdet: ``(0.5, 1.0, 2.0)``).
        legacy: the fork's (mmdet v1) convention: centre ``(base_size - 1) / 2``, corners at
            ``centre -/+ (size - 1) / 2`` rounded to integers (the ``+ 1`` pixel convention).
            Otherwise mmdet 3.x: centre 0, corners ``-/+ size / 2``, float.

    Returns:
        (A, 4) float32 xyxy, A = len(ratios) * len(scales), ordered ratio-major (for each
        ratio, each scale; mmdet's ``scale_major=True``).
    """
    scales_t = torch.tensor([float(s) for s in scales], dtype=torch.float32)
    ratios_t = torch.tensor([float(r) for r in ratios], dtype=torch.float32)
    h_ratios = torch.sqrt(ratios_t)
    w_ratios = 1 / h_ratios
    # Same operation order as mmdet, so the float32 values agree bit for bit.
    ws = (base_size * w_ratios[:, None] * scales_t[None, :]).reshape(-1)  # (A,)
    hs = (base_size * h_ratios[:, None] * scales_t[None, :]).reshape(-1)  # (A,)
    if legacy:
        center = 0.5 * (base_size - 1)
        anchors = torch.stack([center - 0.5 * (ws - 1), center - 0.5 * (hs - 1),
                               center + 0.5 * (ws - 1), center + 0.5 * (hs - 1)], dim=-1)
        return anchors.round()
    return torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)


def shift_base_anchors(base_anchors: Tensor, featmap_size: tuple[int, int], stride: int, *,
                       device: Device = 'cpu') -> Tensor:
    """Place the base anchors on every cell of one feature map.

    Args:
        base_anchors: (A, 4) xyxy from :func:`make_base_anchors`.
        featmap_size: (h, w) of the feature map.
        stride: input pixels per feature-map cell.
        device: device of the result.

    Returns:
        (h * w * A, 4) float32 xyxy in input pixels, mmdet order: for each y, each x, each base
        anchor (row ``(y * w + x) * A + a``).
    """
    feat_h, feat_w = (int(v) for v in featmap_size)
    base = base_anchors.to(device=device, dtype=torch.float32)
    shift_x = torch.arange(feat_w, device=device).to(torch.float32) * stride
    shift_y = torch.arange(feat_h, device=device).to(torch.float32) * stride
    yy, xx = torch.meshgrid(shift_y, shift_x, indexing='ij')  # (h, w) each
    shifts = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)  # (h*w, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def valid_anchor_flags(featmap_size: tuple[int, int], valid_size: tuple[int, int],
                       num_base_anchors: int, *, device: Device = 'cpu') -> Tensor:
    """Flags of the anchors whose cell lies in the top-left ``valid_size`` part of the map.

    Args:
        featmap_size: (h, w) of the feature map.
        valid_size: (valid_h, valid_w), each at most the map's size.
        num_base_anchors: A, anchors per cell.
        device: device of the result.

    Returns:
        (h * w * A,) bool, in the order of :func:`shift_base_anchors`.
    """
    feat_h, feat_w = (int(v) for v in featmap_size)
    valid_h, valid_w = (int(v) for v in valid_size)
    valid_y = torch.arange(feat_h, device=device) < valid_h
    valid_x = torch.arange(feat_w, device=device) < valid_w
    valid = valid_y[:, None] & valid_x[None, :]  # (h, w)
    return valid.reshape(-1, 1).expand(-1, num_base_anchors).reshape(-1)


def anchor_inside_flags(anchors: Tensor, valid_flags: Tensor, img_shape: tuple[int, int],
                        allowed_border: float = -1) -> Tensor:
    """mmdet's ``anchor_inside_flags``: valid anchors that also lie inside the image.

    Args:
        anchors: (B, 4) xyxy in input pixels.
        valid_flags: (B,) bool.
        img_shape: (H, W) of the image.
        allowed_border: with a value >= 0, keep only anchors with ``x1, y1 >= -allowed_border``
            and ``x2 < W + allowed_border``, ``y2 < H + allowed_border``; negative: keep every
            valid anchor (mmdet 3.x's RPN uses -1, the fork's configs 0).

    Returns:
        (B,) bool.
    """
    if allowed_border < 0:
        return valid_flags
    img_h, img_w = img_shape[:2]
    return (valid_flags & (anchors[:, 0] >= -allowed_border)
            & (anchors[:, 1] >= -allowed_border)
            & (anchors[:, 2] < img_w + allowed_border)
            & (anchors[:, 3] < img_h + allowed_border))


def _positive_numbers(name: str, values: Sequence[float]) -> tuple[float, ...]:
    values = tuple(values)
    if not values or not all(isinstance(v, (int, float)) and v > 0 for v in values):
        raise ConfigError(f'AnchorGenerator {name} must be a non-empty sequence of positive '
                          f'numbers, got {values!r}')
    return values


@TASK_UTILS.register_module()
class AnchorGenerator:
    """Square-stride anchor grids for every pyramid level (mmdet 3.x ``AnchorGenerator``).

    Args:
        strides: stride of each level in input pixels; also each level's base size.
        scales: anchor scales per level.
        ratios: height / width ratios per level.
        legacy: the fork's integer anchors (see :func:`make_base_anchors`).

    Attributes:
        base_anchors: list of (A, 4) per level.
        num_base_anchors: A (int), the same on every level.
        num_levels: number of levels.
    """

    def __init__(self, strides: Sequence[int] = (4, 8, 16, 32, 64),
                 scales: Sequence[float] = (8,), ratios: Sequence[float] = (0.5, 1.0, 2.0), *,
                 legacy: bool = False) -> None:
        strides = tuple(strides)
        if not strides or not all(isinstance(s, int) and s > 0 for s in strides):
            raise ConfigError(f'AnchorGenerator strides must be positive ints, got {strides!r}')
        self.strides = strides
        self.scales = _positive_numbers('scales', scales)
        self.ratios = _positive_numbers('ratios', ratios)
        self.legacy = bool(legacy)
        self.base_anchors = [make_base_anchors(s, self.scales, self.ratios, legacy=self.legacy)
                             for s in self.strides]

    @property
    def num_base_anchors(self) -> int:
        return len(self.scales) * len(self.ratios)

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    def _check_levels(self, featmap_sizes: Sequence) -> None:
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'AnchorGenerator has {self.num_levels} levels (strides '
                             f'{self.strides}), got {len(featmap_sizes)} feature-map sizes')

    def grid_anchors(self, featmap_sizes: Sequence[tuple[int, int]],
                     device: Device = 'cpu') -> list[Tensor]:
        """Anchors of every level.

        Args:
            featmap_sizes: (h, w) per level.
            device: device of the anchors.

        Returns:
            list of (h_l * w_l * A, 4) float32 xyxy in input pixels, order of
            :func:`shift_base_anchors`.
        """
        self._check_levels(featmap_sizes)
        return [shift_base_anchors(base, size, stride, device=device)
                for base, size, stride in zip(self.base_anchors, featmap_sizes, self.strides)]

    def valid_flags(self, featmap_sizes: Sequence[tuple[int, int]],
                    pad_shape_hw: tuple[int, int], device: Device = 'cpu') -> list[Tensor]:
        """Flags of the anchors whose centre lies inside an (H, W) region at the top left.

        mmdet's rule: on a level with stride s the first ``min(ceil(H / s), h)`` rows and
        ``min(ceil(W / s), w)`` columns are valid, i.e. the anchor centres ``(x s, y s)`` with
        ``x s < W`` and ``y s < H`` (mmdet 3.x centres; the legacy centres are 0.5 (s - 1) px
        further, the rule is the same).

        Args:
            featmap_sizes: (h, w) per level.
            pad_shape_hw: (H, W) of the region, in input pixels (mmdet passes the image padded
                to the size divisor; :class:`RPNHead` passes ``img_shape``).
            device: device of the flags.

        Returns:
            list of (h_l * w_l * A,) bool.
        """
        self._check_levels(featmap_sizes)
        img_h, img_w = pad_shape_hw[:2]
        flags = []
        for size, stride in zip(featmap_sizes, self.strides):
            feat_h, feat_w = (int(v) for v in size)
            valid = (min(math.ceil(img_h / stride), feat_h), min(math.ceil(img_w / stride), feat_w))
            flags.append(valid_anchor_flags((feat_h, feat_w), valid, self.num_base_anchors,
                                            device=device))
        return flags

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(strides={self.strides}, scales={self.scales}, '
                f'ratios={self.ratios}, legacy={self.legacy})')
