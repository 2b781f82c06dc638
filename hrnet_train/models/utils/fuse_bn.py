"""Fold BatchNorm layers into the convolutions before them, for export and fast evaluation.

In eval mode ``bn(conv(x)) = gamma * (W x + b - mean) / sqrt(var + eps) + beta`` is one
convolution with ``W' = W * gamma / sqrt(var + eps)`` and ``b' = (b - mean) * gamma / sqrt(var +
eps) + beta``. HRNet pairs every convolution with its norm in one of two ways, and both are found:

- ``nn.Sequential(conv, bn, ...)``: the fuse/transition layers, downsample branches and heads;
  also ``nn.Sequential(conv, nn.Sequential(bn, relu), ...)``, the OCR head's official
  ``ModuleHelper.BNReLU`` nesting (keys ``<i>.0.*``);
- attributes ``convN`` / ``bnN`` of one module: the stem and the Basic/Bottleneck blocks.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['fuse_conv_bn', 'fuse_batchnorm', 'count_batchnorms']


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: _BatchNorm) -> nn.Conv2d:
    """One convolution equal to ``bn(conv(x))`` with ``bn`` in eval mode (running statistics).

    Args:
        conv: a ``Conv2d`` (any kernel, stride, groups; with or without bias).
        bn: a ``BatchNorm2d`` (or SyncBN) over ``conv.out_channels`` features.

    Returns:
        a new ``Conv2d`` with bias, on the conv's device and dtype; the inputs are not changed.
    """
    if bn.num_features != conv.out_channels:
        raise ValueError(f'cannot fold {bn.num_features}-feature BatchNorm into a conv with '
                         f'{conv.out_channels} output channels')
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError('cannot fold a BatchNorm without running statistics '
                         '(track_running_stats=False)')
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                      bias=True, padding_mode=conv.padding_mode).to(conv.weight)
    scale = bn.running_var.double().add(bn.eps).rsqrt()  # (C,), in float64 for the fold
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    shift = (bias - bn.running_mean.double()) * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    fused.weight.copy_(conv.weight.double() * scale.reshape(-1, 1, 1, 1))
    fused.bias.copy_(shift)
    return fused


def _fuse_children(module: nn.Module) -> None:
    """Fold in place the conv/BN pairs that are direct children of ``module``."""
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for a, b in zip(names, names[1:]):
            conv, holder, key = module._modules[a], module, b
            if isinstance(holder._modules[key], nn.Sequential) and holder._modules[key]._modules:
                holder = holder._modules[key]  # conv, Sequential(bn, relu): the OCR nesting
                key = next(iter(holder._modules))
            if isinstance(conv, nn.Conv2d) and isinstance(holder._modules[key], _BatchNorm):
                module._modules[a] = fuse_conv_bn(conv, holder._modules[key])
                holder._modules[key] = nn.Identity()
        return
    for name, child in list(module._modules.items()):
        if not (name.startswith('bn') and isinstance(child, _BatchNorm)):
            continue
        conv = module._modules.get('conv' + name[2:])
        if isinstance(conv, nn.Conv2d) and conv.out_channels == child.num_features:
            module._modules['conv' + name[2:]] = fuse_conv_bn(conv, child)
            module._modules[name] = nn.Identity()


def fuse_batchnorm(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` in eval mode with every conv -> BN pair folded into one conv.

    The folded BN becomes ``nn.Identity`` (state-dict keys of the BN disappear). A BN that does
    not directly follow a convolution in one of the two patterns of the module docstring is left
    as it is (see :func:`count_batchnorms`).

    Args:
        model: any module; not modified unless ``inplace``.
        inplace: fold into ``model`` itself (``tools/test.py --fuse-bn``: no second copy of the
            weights; the model can no longer be trained).

    Returns:
        the folded module, in eval mode, computing ``model.eval()``'s outputs up to float
        rounding (relative 1e-6 in fp32 on HRNet).
    """
    fused = (model if inplace else copy.deepcopy(model)).eval()
    for module in list(fused.modules()):
        _fuse_children(module)
    return fused


def count_batchnorms(model: nn.Module) -> int:
    """Number of BatchNorm layers (0 after :func:`fuse_batchnorm` of an HRNet model)."""
    return sum(isinstance(m, _BatchNorm) for m in model.modules())
