"""RoI features from a feature pyramid: level mapping and RoIAlign per level.

mmdet 3.x ``mmdet/models/roi_heads/roi_extractors/single_level_roi_extractor.py`` and
``mmdet/structures/bbox/transforms.py`` (``bbox2roi``); the official fork
(HRNet/HRNet-Object-Detection, mmdet 0.6) with ``legacy=True``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

from hrnet_train.ops import roi_align
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError

# mmdet's default RoI layer; the fork used sampling_ratio=2, aligned=False (sample_num 2).
DEFAULT_ROI_LAYER = (('type', 'RoIAlign'), ('output_size', 7), ('sampling_ratio', 0),
                     ('aligned', True))
_ROI_LAYER_KEYS = frozenset({'type', 'output_size', 'sampling_ratio', 'aligned'})


def boxes_to_rois(boxes_list: Sequence[Tensor]) -> Tensor:
    """Stack per-image boxes into RoIs with the image index in front (mmdet ``bbox2roi``).

    Args:
        boxes_list: one (B_i, 4) xyxy tensor per image, in img_shape pixels.

    Returns:
        (sum B_i, 5) ``batch_index, x1, y1, x2, y2``, the dtype of the boxes.
    """
    if len(boxes_list) == 0:
        raise ValueError('boxes_list must hold one (B, 4) tensor per image, got an empty list')
    rois = []
    for i, boxes in enumerate(boxes_list):
        if boxes.dim() != 2 or boxes.shape[1] != 4:
            raise ValueError(f'boxes_list[{i}] must have shape (B, 4), got {tuple(boxes.shape)}')
        rois.append(torch.cat([boxes.new_full((boxes.shape[0], 1), i), boxes], dim=1))
    return torch.cat(rois, dim=0)


def map_roi_levels(rois: Tensor, num_levels: int, *, finest_scale: float = 56.0,
                   legacy: bool = False) -> Tensor:
    """Pyramid level of each RoI from its scale (FPN eq. 1; mmdet ``map_roi_levels``).

    ``level = floor(log2(sqrt(w * h) / finest_scale + 1e-6))`` clamped to ``[0, num_levels-1]``:
    scale < 112 -> 0, [112, 224) -> 1, [224, 448) -> 2, >= 448 -> 3 for ``finest_scale=56``.

    Args:
        rois: (K, 5) ``batch_index, x1, y1, x2, y2`` in input pixels.
        num_levels: number of feature levels.
        finest_scale: the scale mapped to level 0.
        legacy: widths and heights ``x2 - x1 + 1`` (the fork, mmdet 0.6).

    Returns:
        (K,) int64 level indices.
    """
    extra = 1.0 if legacy else 0.0
    scale = torch.sqrt((rois[:, 3] - rois[:, 1] + extra) * (rois[:, 4] - rois[:, 2] + extra))
    levels = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return levels.clamp(min=0, max=num_levels - 1).long()


def _parse_roi_layer(roi_layer: Optional[Mapping]) -> tuple[tuple[int, int], int, bool]:
    cfg = dict(DEFAULT_ROI_LAYER) if roi_layer is None else dict(roi_layer)
    if cfg.get('type') != 'RoIAlign':
        raise ConfigError(f"roi_layer.type must be 'RoIAlign', got {cfg.get('type')!r}")
    unknown = set(cfg) - _ROI_LAYER_KEYS
    if unknown:
        raise ConfigError(f'roi_layer: unknown keys {sorted(unknown)}; expected a subset of '
                          f'{sorted(_ROI_LAYER_KEYS)} (mmcv 0.x out_size/sample_num are '
                          'output_size/sampling_ratio)')
    size = cfg.get('output_size', 7)
    size = (int(size), int(size)) if isinstance(size, (int, float)) else tuple(int(s)
                                                                            for s in size)
    if len(size) != 2 or min(size) <= 0:
        raise ConfigError(f'roi_layer.output_size must be a positive int or (h, w), got '
                          f'{cfg.get("output_size")!r}')
    return size, int(cfg.get('sampling_ratio', 0)), bool(cfg.get('aligned', True))


@MODELS.register_module()
class SingleRoIExtractor(nn.Module):
    """Pool each RoI from the one pyramid level its scale maps to (mmdet ``SingleRoIExtractor``).

    RoIs go to a level by :func:`map_roi_levels` and are pooled there with
    ``hrnet_train.ops.roi_align`` at ``spatial_scale = 1 / stride``. With ``legacy=True`` the
    level uses ``+ 1`` widths and the RoI end passed to RoIAlign is ``x2 + 1, y2 + 1``, as the
    fork's kernel (``roi_end = (x2 + 1) * scale``); use it with ``roi_layer=dict(type=
    'RoIAlign', output_size=7, sampling_ratio=2, aligned=False)``. The fork's kernel does not
    raise RoIs narrower than one feature pixel to one, torchvision's ``aligned=False`` does, so
    such tiny RoIs pool slightly differently.

    Args:
        roi_layer: ``dict(type='RoIAlign', output_size, sampling_ratio, aligned)``; None means
            mmdet's ``output_size=7, sampling_ratio=0, aligned=True``.
        out_channels: channels of every input level (and of the output).
        featmap_strides: stride of each input level in input pixels, finest first.
        finest_scale: RoI scale mapped to level 0 (56).
        legacy: the fork's ``+ 1`` box size conventions (see above).

    Attributes:
        num_inputs: the number of levels read (the RoI head passes ``feats[:num_inputs]``).
        roi_layer_output_size: (oh, ow).

    Shapes:
        feats: ``len(featmap_strides)`` tensors (N, out_channels, H / s, W / s).
        rois: (K, 5) ``batch_index, x1, y1, x2, y2`` in input (img_shape) pixels, float32
            (never cast to the features' float16 under autocast).
        returns: (K, out_channels, oh, ow), zeros for K = 0.
    """

    def __init__(self, roi_layer: Optional[Mapping] = None, out_channels: int = 256,
                 featmap_strides: Sequence[int] = (4, 8, 16, 32), *, finest_scale: float = 56,
                 legacy: bool = False) -> None:
        super().__init__()
        self.roi_layer_output_size, self.sampling_ratio, self.aligned = _parse_roi_layer(
            roi_layer)
        if legacy and self.aligned:
            raise ConfigError('roi_layer.aligned must be False with legacy=True (the fork\'s '
                              'RoIAlign has no half-pixel offset)')
        if out_channels <= 0:
            raise ConfigError(f'out_channels must be positive, got {out_channels}')
        strides = tuple(int(s) for s in featmap_strides)
        if not strides or min(strides) <= 0:
            raise ConfigError(f'featmap_strides must be positive ints, got {featmap_strides!r}')
        if finest_scale <= 0:
            raise ConfigError(f'finest_scale must be positive, got {finest_scale}')
        self.out_channels = int(out_channels)
        self.featmap_strides = strides
        self.finest_scale = float(finest_scale)
        self.legacy = legacy

    @property
    def num_inputs(self) -> int:
        """Number of pyramid levels this extractor reads (the first ``num_inputs``)."""
        return len(self.featmap_strides)

    def forward(self, feats: Sequence[Tensor], rois: Tensor) -> Tensor:
        if len(feats) != self.num_inputs:
            raise ValueError(f'expected {self.num_inputs} feature levels (featmap_strides='
                             f'{self.featmap_strides}), got {len(feats)}')
        for i, f in enumerate(feats):
            if f.dim() != 4 or f.shape[1] != self.out_channels:
                raise ValueError(f'feats[{i}] must be (N, {self.out_channels}, h, w), got '
                                 f'{tuple(f.shape)}')
        if rois.dim() != 2 or rois.shape[1] != 5:
            raise ValueError(f'rois must have shape (K, 5), got {tuple(rois.shape)}')
        if rois.dtype not in (torch.float32, torch.float64):
            # not the features' dtype (mmdet's type_as): float16 has 1-pixel steps past 1024
            rois = rois.float()
        out = feats[0].new_zeros((rois.shape[0], self.out_channels, *self.roi_layer_output_size))
        levels = map_roi_levels(rois, self.num_inputs, finest_scale=self.finest_scale,
                                legacy=self.legacy)
        pooled_rois = rois
        if self.legacy:
            pooled_rois = rois.clone()
            pooled_rois[:, 3:] += 1.0  # fork kernel: roi_end = (x2 + 1) * spatial_scale
        for level, (feat, stride) in enumerate(zip(feats, self.featmap_strides)):
            inds = torch.nonzero(levels == level).squeeze(1)
            if inds.numel() == 0:
                # keeps every level in the graph (DDP expects the same parameters each step)
                out = out + feat.sum() * 0.0
                continue
            out[inds] = roi_align(feat, pooled_rois[inds], self.roi_layer_output_size,
                                  spatial_scale=1.0 / stride,
                                  sampling_ratio=self.sampling_ratio, aligned=self.aligned)
        return out
