"""HRNetV2 representation (segmentation): all branches resized to the first and concatenated."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from hrnet_train.models.layers.resize_concat import resize_concat
from hrnet_train.registry import MODELS


@MODELS.register_module()
class HRNetV2Concat(nn.Module):
    """HRNetV2 representation: resize every branch to the first one and concatenate.

    Matches the forward of HRNet/HRNet-Semantic-Segmentation:lib/models/seg_hrnet.py, which
    resizes branches 1-3 bilinearly to the exact size of branch 0 (so any input size works).

    Args:
        in_channels: channels per branch, highest resolution first, e.g. (48, 96, 192, 384).
        align_corners: passed to bilinear resizing (False in the official v1.1 code).

    Shapes:
        feats[i]: (N, in_channels[i], H / 2**i, W / 2**i), where H x W is the stride-4 size.
        returns: (N, sum(in_channels), H, W).
    """

    def __init__(self, in_channels: Sequence[int], *, align_corners: bool = False) -> None:
        super().__init__()
        if len(in_channels) == 0:
            raise ValueError('in_channels must list at least one branch, got ()')
        self.in_channels = tuple(int(c) for c in in_channels)
        self.out_channels = sum(self.in_channels)
        self.align_corners = align_corners

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        if len(feats) != len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} branches, got {len(feats)}')
        return resize_concat(feats, align_corners=self.align_corners)
