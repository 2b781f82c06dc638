"""The official HRNet pose head (V1): one conv on the stride-4 branch to K heatmaps."""
from __future__ import annotations

from typing import Sequence, Union

import torch.nn as nn
from torch import Tensor

from hrnet_train.registry import MODELS


@MODELS.register_module()
class HeatmapHead(nn.Module):
    """``final_layer``: Conv2d(in_channels -> num_keypoints, kernel 1 or 3, with bias).

    Key names match leoxiaobin/deep-high-resolution-net.pytorch:lib/models/pose_hrnet.py
    (``final_layer.{weight,bias}``; ``head.final_layer.*`` inside the whole model).

    Args:
        in_channels: channels of the stride-4 branch (the width C).
        num_keypoints: K; for a custom keypoint set, the dataset meta's count.
        final_conv_kernel: 1 (official) or 3 (padding 1), the yacs FINAL_CONV_KERNEL.

    Shapes:
        feats: list of branch outputs, highest resolution first; feats[0] (N, C, h, w).
        returns: (N, K, h, w) heatmaps (h x w = input / 4).
    """

    def __init__(self, in_channels: int, num_keypoints: int, *, final_conv_kernel: int = 1) -> None:
        super().__init__()
        if final_conv_kernel not in (1, 3):
            raise ValueError(f'final_conv_kernel must be 1 or 3, got {final_conv_kernel}')
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.final_layer = nn.Conv2d(in_channels, num_keypoints, final_conv_kernel,
                                     padding=final_conv_kernel // 2)
        # official init: normal(std=0.001), bias 0
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.constant_(self.final_layer.bias, 0)

    def forward(self, feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        x = feats if isinstance(feats, Tensor) else feats[0]
        if x.shape[1] != self.in_channels:
            raise ValueError(f'HeatmapHead expects {self.in_channels} input channels, '
                             f'got {x.shape[1]}')
        return self.final_layer(x)
