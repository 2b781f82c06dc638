"""HRNetV2p (detection): the V2 representation pooled into a 5-level pyramid."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import Tensor, nn

from hrnet_train.models.layers.resize_concat import resize_concat
from hrnet_train.registry import MODELS


@MODELS.register_module()
class HRFPN(nn.Module):
    """HRFPN of Wang et al. (TPAMI 2020, §5 "HRNetV2p"; HRNet/HRNet-Object-Detection
    ``mmdet/models/necks/hrfpn.py``, open-mmlab/mmdetection ``mmdet/models/necks/hrfpn.py``).

    Branches 1..3 are bilinearly upsampled to branch 0 and concatenated (sum(C) channels), a 1x1
    conv reduces them to ``out_channels``, average pooling with kernel = stride = 2**i makes
    levels i = 1..num_outs-1, and every level gets its own 3x3 conv. No norm, no activation
    (mmdet ignores ``norm_cfg`` here). Init: Caffe2Xavier (kaiming uniform, a=1), bias 0.

    Checkpoint keys: ``reduction_conv.{weight,bias}``, ``fpn_convs.{i}.{weight,bias}``. The
    fork's ``reduction_conv.0.*`` / ``fpn_conv.{i}.*`` and mmdet 3.x's ``reduction_conv.conv.*`` /
    ``fpn_convs.{i}.conv.*`` are renamed by the checkpoint loader.

    Args:
        in_channels: channels per branch, highest resolution first, e.g. (32, 64, 128, 256);
            the detector fills it from the backbone when omitted.
        out_channels: channels of every pyramid level (256).
        num_outs: pyramid levels (5: strides 4, 8, 16, 32, 64).
        stride: stride of the 3x3 level convs (1; FCOS configs use 2).
        with_cp: activation checkpointing of the convs while training.

    Shapes:
        feats[i]: (N, in_channels[i], H / 2**i, W / 2**i), H x W the stride-4 size.
        returns: tuple of num_outs tensors (N, out_channels, H / 2**l / stride, W / 2**l / stride)
        (pooled sizes rounded down, as ``avg_pool2d``).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256, *,
                 num_outs: int = 5, stride: int = 1, with_cp: bool = False) -> None:
        super().__init__()
        if len(in_channels) == 0:
            raise ValueError('in_channels must list at least one branch, got ()')
        if num_outs < 1:
            raise ValueError(f'num_outs must be >= 1, got {num_outs}')
        self.in_channels = tuple(int(c) for c in in_channels)
        self.out_channels = int(out_channels)
        self.num_outs = num_outs
        self.with_cp = with_cp
        self.reduction_conv = nn.Conv2d(sum(self.in_channels), self.out_channels, 1)
        self.fpn_convs = nn.ModuleList(
            nn.Conv2d(self.out_channels, self.out_channels, 3, stride=stride, padding=1)
            for _ in range(num_outs))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # mmcv caffe2_xavier_init
                nn.init.kaiming_uniform_(m.weight, a=1, mode='fan_in', nonlinearity='leaky_relu')
                nn.init.zeros_(m.bias)

    def _conv(self, conv: nn.Module, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(conv, x, use_reentrant=False)
        return conv(x)

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, ...]:
        if len(feats) != len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} branches, got {len(feats)}')
        # exact size rather than scale_factor 2**i: equal for padded inputs, and robust otherwise
        x = resize_concat(feats, align_corners=False)
        x = self._conv(self.reduction_conv, x)
        levels = [x] + [F.avg_pool2d(x, kernel_size=2 ** i, stride=2 ** i)
                        for i in range(1, self.num_outs)]
        return tuple(self._conv(conv, level) for conv, level in zip(self.fpn_convs, levels))
