"""The HRNetV2 segmentation head (official ``last_layer``)."""
from __future__ import annotations

from typing import Optional, Union

from torch import Tensor, nn

from hrnet_train.models.layers import build_norm
from hrnet_train.models.layers.bn_relu_conv import bn_relu_conv, check_recompute_mode
from hrnet_train.registry import MODELS


@MODELS.register_module()
class SegHead(nn.Module):
    """Per-pixel classifier on the concatenated HRNetV2 representation.

    ``last_layer`` = [0] conv1x1 in->channels with bias, [1] norm, [2] ReLU, [3] conv1x1
    channels->num_classes with bias; no dropout. The module names reproduce the keys of the
    official checkpoints (``last_layer.{0,1,3}``, HRNet/HRNet-Semantic-Segmentation:
    lib/models/seg_hrnet.py), so those weights load with ``strict=True`` after stripping
    ``model.``.

    Args:
        in_channels: channels of the input representation (15C for HRNetV2, e.g. 720 for W48).
        num_classes: number of output classes (19 for Cityscapes).
        channels: hidden width of the first 1x1 conv; defaults to ``in_channels`` (official).
        norm_cfg: mmcv norm layer config; defaults to ``dict(type='BN')`` (momentum 0.1). The
            official seg recipe uses ``dict(type='SyncBN', momentum=0.01)``.
        recompute_bn_relu: training memory: the norm -> ReLU -> classifier keeps only the
            norm's input for backward and recomputes the ReLU output there
            (:func:`~hrnet_train.models.layers.bn_relu_conv.bn_relu_conv`; W48: one
            720-channel stride-4 map per image); ``'cpu'`` (default), True or False as in
            ``HRNet(recompute_bn_relu=...)``.

    Shapes:
        x: (N, in_channels, H, W), stride 4.
        returns: (N, num_classes, H, W) logits, stride 4.
    """

    def __init__(self, in_channels: int, num_classes: int, *, channels: Optional[int] = None,
                 norm_cfg: Optional[dict] = None,
                 recompute_bn_relu: Union[bool, str] = 'cpu') -> None:
        super().__init__()
        if in_channels <= 0:
            raise ValueError(f'in_channels must be positive, got {in_channels}')
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        channels = in_channels if channels is None else channels
        if channels <= 0:
            raise ValueError(f'channels must be positive, got {channels}')
        self.in_channels = in_channels
        self.channels = channels
        self.num_classes = num_classes
        self.recompute_bn_relu = check_recompute_mode(recompute_bn_relu, 'SegHead')
        norm = build_norm(norm_cfg, channels)
        self.last_layer = nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=1, bias=True),
            norm,
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_classes, kernel_size=1, bias=True),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # Official seg_hrnet.py init_weights: conv normal(std=0.001), BN weight 1 / bias 0.
        # The official conv biases keep PyTorch's default init; zeros are used here.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.SyncBatchNorm, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'expected input (N, {self.in_channels}, H, W), got {tuple(x.shape)}')
        conv, norm, relu, classifier = self.last_layer
        return bn_relu_conv(norm, relu, classifier, conv(x), recompute=self.recompute_bn_relu)
