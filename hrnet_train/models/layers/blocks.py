"""Residual blocks shared by every HRNet stage and head (official key names ``conv{1,2,3}``,
``bn{1,2,3}``, ``downsample.{0,1}``)."""
from __future__ import annotations

from typing import Optional, Union

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from torch import Tensor

from .bn_relu_conv import bn_relu_conv
from .checkpoint import checkpoint


def build_norm(norm_cfg: Optional[dict], num_features: int) -> nn.Module:
    """Build a normalisation layer from an mmcv ``norm_cfg`` (default BN, momentum 0.1)."""
    cfg = dict(type='BN', momentum=0.1) if norm_cfg is None else dict(norm_cfg)
    return build_norm_layer(cfg, num_features)[1]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (every conv in the HRNet body is bias-free)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def _forward_residual(block: nn.Module, x: Tensor) -> Tensor:
    """ReLU(block._residual(x)), with activation checkpointing when ``block.with_cp``."""
    if block.with_cp and x.requires_grad:
        out = checkpoint(block._residual, x, modules=[block])
    else:
        out = block._residual(x)
    return block.relu(out)


def _forward_fused(block: nn.Module, x: Tensor, convs: tuple[nn.Module, ...]) -> Tensor:
    """The block after :func:`hrnet_train.models.utils.fuse_onednn`: norms folded, each
    :class:`~.onednn_conv.OneDNNConv2d` applying its ReLU, the last one also adding the identity
    before its ReLU (``relu(conv(x) + identity)`` in one kernel)."""
    identity = x if block.downsample is None else block.downsample(x)
    for conv in convs[:-1]:
        x = conv(x)
    return convs[-1](x, other=identity)


def _add_identity(block: nn.Module, out: Tensor, identity: Tensor) -> Tensor:
    """``out + identity``; in place into ``out`` (a fresh norm/conv output that no backward
    needs) when ``block.fast_add``: the same values without one activation-sized buffer."""
    return out.add_(identity) if block.fast_add else out + identity


class BasicBlock(nn.Module):
    """3x3 -> BN -> ReLU -> 3x3 -> BN -> add -> ReLU.

    Shapes: x (N, in_channels, H, W) -> (N, planes, H / stride, W / stride).
    """

    expansion = 1
    fused_residual = False  # set by fuse_onednn: _forward_fused

    def __init__(self, in_channels: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, *, norm_cfg: Optional[dict] = None,
                 with_cp: bool = False, fast_add: bool = True,
                 recompute_bn_relu: Union[bool, str] = False) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = build_norm(norm_cfg, planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = build_norm(norm_cfg, planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.with_cp = with_cp
        self.fast_add = fast_add
        self.recompute_bn_relu = recompute_bn_relu

    def _residual(self, x: Tensor) -> Tensor:
        out = bn_relu_conv(self.bn1, self.relu, self.conv2, self.conv1(x),
                           recompute=self.recompute_bn_relu)
        out = self.bn2(out)
        identity = x if self.downsample is None else self.downsample(x)
        return _add_identity(self, out, identity)

    def forward(self, x: Tensor) -> Tensor:
        if self.fused_residual:
            return _forward_fused(self, x, (self.conv1, self.conv2))
        return _forward_residual(self, x)


class Bottleneck(nn.Module):
    """1x1 -> BN -> ReLU -> 3x3 (stride) -> BN -> ReLU -> 1x1 (x4) -> BN -> add -> ReLU.

    Shapes: x (N, in_channels, H, W) -> (N, 4 * planes, H / stride, W / stride).
    """

    expansion = 4
    fused_residual = False  # set by fuse_onednn: _forward_fused

    def __init__(self, in_channels: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, *, norm_cfg: Optional[dict] = None,
                 with_cp: bool = False, fast_add: bool = True,
                 recompute_bn_relu: Union[bool, str] = False) -> None:
        super().__init__()
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = build_norm(norm_cfg, planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = build_norm(norm_cfg, planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = build_norm(norm_cfg, planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.with_cp = with_cp
        self.fast_add = fast_add
        self.recompute_bn_relu = recompute_bn_relu

    def _residual(self, x: Tensor) -> Tensor:
        recompute = self.recompute_bn_relu
        out = bn_relu_conv(self.bn1, self.relu, self.conv2, self.conv1(x), recompute=recompute)
        out = bn_relu_conv(self.bn2, self.relu, self.conv3, out, recompute=recompute)
        out = self.bn3(out)
        identity = x if self.downsample is None else self.downsample(x)
        return _add_identity(self, out, identity)

    def forward(self, x: Tensor) -> Tensor:
        if self.fused_residual:
            return _forward_fused(self, x, (self.conv1, self.conv2, self.conv3))
        return _forward_residual(self, x)


BLOCKS = {'BASIC': BasicBlock, 'BOTTLENECK': Bottleneck}
BLOCKS_NAMES = tuple(BLOCKS)


def make_res_layer(block: str, in_channels: int, planes: int, num_blocks: int, stride: int = 1,
                   *, norm_cfg: Optional[dict] = None, with_cp: bool = False,
                   fast_add: bool = True,
                   recompute_bn_relu: Union[bool, str] = False) -> nn.Sequential:
    """Stack ``num_blocks`` blocks; block 0 gets a 1x1 conv + norm ``downsample`` when the shape
    changes (official ``_make_layer`` / ``_make_one_branch``). ``fast_add``: in-place residual
    additions (see :func:`_add_identity`); ``recompute_bn_relu``: each block's inner
    norm-ReLU-conv keeps only the norm's input for backward (:func:`bn_relu_conv`; True,
    False or a device type)."""
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {sorted(BLOCKS)}, got '{block}'")
    block_cls = BLOCKS[block]
    out_channels = planes * block_cls.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(conv1x1(in_channels, out_channels, stride),
                                   build_norm(norm_cfg, out_channels))
    kw = dict(norm_cfg=norm_cfg, with_cp=with_cp, fast_add=fast_add,
              recompute_bn_relu=recompute_bn_relu)
    layers = [block_cls(in_channels, planes, stride, downsample, **kw)]
    layers += [block_cls(out_channels, planes, **kw) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)
