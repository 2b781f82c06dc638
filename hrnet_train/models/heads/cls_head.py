"""The official HRNet-C ImageNet head: four branches -> one 2048-d vector -> class logits.

Structure, key names and init follow HRNet/HRNet-Image-Classification:lib/models/cls_hrnet.py
(``_make_head``, ``forward``, ``init_weights``); timm/models/hrnet.py uses the same names, so the
official and timm ImageNet files load strictly (``cls_head.*`` inside the whole model).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from hrnet_train.models.layers import Bottleneck, build_norm, make_res_layer
from hrnet_train.registry import MODELS


def _global_average_pool(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, C) mean over H x W.

    Tracing bakes ``x.shape[2:]`` into ``avg_pool2d``'s kernel as a constant, so a traced or
    exported model would only fit one input size; the official code (``forward``) switches to
    flatten + mean there, which exports as a size-agnostic ReduceMean.
    """
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return x.flatten(2).mean(dim=2)  # (N, C, H*W) -> (N, C)
    return F.avg_pool2d(x, kernel_size=x.shape[2:]).flatten(1)  # (N, C, 1, 1) -> (N, C)


@MODELS.register_module()
class HRNetClsHead(nn.Module):
    """HRNet-C head: ``incre_modules`` -> ``downsamp_modules`` -> ``final_layer`` -> GAP ->
    ``classifier`` (REFERENCE §1.4).

    - ``incre_modules.{i}.0``: one Bottleneck, ``in_channels[i]`` -> 4 * ``incre_planes[i]``
      (128/256/512/1024 by default), with a 1x1 conv + norm ``downsample`` when the channels
      change (always, for every official width).
    - ``downsamp_modules.{i}``, i < 3: conv3x3 stride 2 **with bias** + norm + ReLU, from branch i's
      to branch i + 1's increased width; the running sum is
      ``y = incre_modules[i + 1](feats[i + 1]) + downsamp_modules[i](y)``.
    - ``final_layer``: conv1x1 4 * ``incre_planes[-1]`` -> ``final_channels`` **with bias** + norm +
      ReLU, then global average pooling (flatten + mean when tracing / exporting, for ONNX).
    - ``classifier``: Linear(``final_channels``, ``num_classes``).

    Init as the official ``init_weights``: conv weights kaiming-normal (fan_out, ReLU), norm
    weight 1 and bias 0; conv biases and the classifier keep PyTorch's default init.

    Args:
        in_channels: channels per backbone branch, highest resolution first, e.g.
            (18, 36, 72, 144); taken from the backbone by ``ImageClassifier``.
        num_classes: number of classes (ImageNet-1k: 1000).
        incre_planes: Bottleneck planes per branch (the official ``head_channels``).
        final_channels: width of ``final_layer`` and of the pooled feature.
        norm_cfg: mmcv norm config (default BN, momentum 0.1 as the official code).

    Shapes:
        feats[i]: (N, in_channels[i], ceil(H / 2**i), ceil(W / 2**i)), H x W the stride-4 size.
        returns: (N, num_classes) logits.
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int = 1000, *,
                 incre_planes: Sequence[int] = (32, 64, 128, 256), final_channels: int = 2048,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        if isinstance(in_channels, int) or len(in_channels) != len(incre_planes):
            raise ValueError(f'HRNetClsHead in_channels must give one width per branch '
                             f'({len(incre_planes)}, as incre_planes), got {in_channels}')
        if int(num_classes) < 1:
            raise ValueError(f'HRNetClsHead num_classes must be >= 1, got {num_classes}')
        self.in_channels = tuple(int(c) for c in in_channels)
        self.incre_planes = tuple(int(p) for p in incre_planes)
        self.num_classes = int(num_classes)
        self.final_channels = int(final_channels)
        incre_out = [p * Bottleneck.expansion for p in self.incre_planes]

        self.incre_modules = nn.ModuleList(
            make_res_layer('BOTTLENECK', c, p, 1, norm_cfg=norm_cfg)
            for c, p in zip(self.in_channels, self.incre_planes))
        self.downsamp_modules = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1),
                          build_norm(norm_cfg, c_out), nn.ReLU(inplace=True))
            for c_in, c_out in zip(incre_out[:-1], incre_out[1:]))
        self.final_layer = nn.Sequential(nn.Conv2d(incre_out[-1], self.final_channels, 1),
                                         build_norm(norm_cfg, self.final_channels),
                                         nn.ReLU(inplace=True))
        self.classifier = nn.Linear(self.final_channels, self.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def pre_logits(self, feats: Sequence[Tensor]) -> Tensor:
        """The pooled (N, final_channels) feature the classifier reads."""
        if isinstance(feats, Tensor) or len(feats) != len(self.in_channels):
            raise ValueError(f'HRNetClsHead expects {len(self.in_channels)} branches (a backbone '
                             'with multi_scale_output=True), got '
                             f'{1 if isinstance(feats, Tensor) else len(feats)}')
        got = tuple(f.shape[1] for f in feats)
        if not torch.jit.is_tracing() and got != self.in_channels:
            raise ValueError(f'HRNetClsHead expects branch channels {self.in_channels}, got {got}')
        y = self.incre_modules[0](feats[0])
        for i, down in enumerate(self.downsamp_modules):
            y = self.incre_modules[i + 1](feats[i + 1]) + down(y)
        return _global_average_pool(self.final_layer(y))

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        return self.classifier(self.pre_logits(feats))
