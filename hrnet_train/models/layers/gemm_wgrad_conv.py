"""``Conv2d`` whose training backward computes the weight gradient as shifted matrix products.

On a CPU without AVX-512, oneDNN's weight-gradient kernel for channels_last (NHWC) tensors
runs at a third to a half of the matmul rate (``jit:avx2``; its blocked-layout kernel, which
NCHW tensors get after a reorder, at ~twice that), so channels_last training there was slower
than NCHW: HRNetV2-W48 512x1024 0.72x, the 3x3 weight gradients 14.2 s of a 30.6 s step
(docs/benchmark.md, 2026-12-03). :func:`hrnet_train.ops.conv2d_weight_grad` computes the same
gradient as ``kh * kw`` large GEMMs (BLAS near its peak). The forward and the input gradient
are oneDNN's as before.

:class:`GemmWgradConv2d` is a ``Conv2d`` (same parameters, state-dict keys, hooks) that takes
that path where it applies — autograd recording, a channels_last float32 CPU input, stride 1,
dilation 1, one group, numeric zero padding, no autocast, tracing or ``torch.compile`` — and is
the plain ``Conv2d`` everywhere else. :func:`use_gemm_weight_grad` turns a model's convolutions
into it in place (a class change, nothing copied); :func:`bn_relu_conv` uses it for its
convolution too. Values: float32 rounding of the weight gradient (1e-6 to 1e-5 relative),
outputs and input gradients unchanged (tests/models/layers/test_gemm_wgrad_conv.py).
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn as nn
from torch import Tensor

from hrnet_train.ops.conv_weight_grad import conv2d_weight_grad

from .graph_mode import autocast_on, capturing_graph

__all__ = ['GemmWgradConv2d', 'PLAIN_CONV_TYPES', 'gemm_wgrad_applies', 'conv_backward',
           'use_gemm_weight_grad']

_CONV_BACKWARD = torch.ops.aten.convolution_backward.default


class GemmWgradConv2d(nn.Conv2d):
    """A ``Conv2d`` whose weight gradient is :func:`hrnet_train.ops.conv2d_weight_grad` where
    :func:`gemm_wgrad_applies`. Shapes as ``nn.Conv2d``: (N, C_in, H, W) -> (N, C_out, H_out,
    W_out)."""

    def forward(self, x: Tensor) -> Tensor:
        if gemm_wgrad_applies(self, x):
            return _GemmWgradConv.apply(x, self.weight, self.bias, self)
        return super().forward(x)


#: The convolution classes the layers' fast paths treat as a plain ``nn.Conv2d``.
PLAIN_CONV_TYPES = (nn.Conv2d, GemmWgradConv2d)


def _stride1_zero_padded(conv: nn.Conv2d) -> bool:
    return (conv.padding_mode == 'zeros' and isinstance(conv.padding, tuple)
            and tuple(conv.stride) == (1, 1) and tuple(conv.dilation) == (1, 1)
            and conv.groups == 1)


def gemm_wgrad_applies(conv: nn.Module, x: Tensor) -> bool:
    """Whether ``conv``'s weight gradient for input ``x`` goes through the GEMMs: ``conv`` a
    :class:`GemmWgradConv2d` with stride 1, dilation 1, one group and numeric zero padding,
    its weight requiring grad, autograd on, ``x`` a 4-D channels_last float32 CPU tensor, no
    autocast, tracing or ``torch.compile``."""
    return (type(conv) is GemmWgradConv2d and torch.is_grad_enabled()
            and conv.weight.requires_grad and x.is_cpu and x.dtype is torch.float32
            and x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
            and _stride1_zero_padded(conv) and not (autocast_on() or capturing_graph()))


def conv_backward(conv: nn.Conv2d, x: Tensor, grad_out: Tensor, weight: Tensor,
                  needs: tuple[bool, bool, bool], gemm: bool
                  ) -> tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor]]:
    """(grad_x, grad_weight, grad_bias) of ``conv`` at input ``x``, for ``needs`` (x, weight,
    bias): all three from ``aten.convolution_backward``, except the weight gradient from
    :func:`hrnet_train.ops.conv2d_weight_grad` when ``gemm``."""
    need_x, need_w, need_b = needs
    bias_sizes = None if conv.bias is None else [conv.out_channels]
    mask = [need_x, need_w and not gemm, need_b]
    grad_x = grad_w = grad_b = None
    if any(mask):
        grad_x, grad_w, grad_b = _CONV_BACKWARD(
            grad_out, x, weight, bias_sizes, list(conv.stride), list(conv.padding),
            list(conv.dilation), False, [0, 0], conv.groups, mask)
    if need_w and gemm:
        grad_w = conv2d_weight_grad(x, grad_out, conv.kernel_size, conv.padding)
        if grad_w.stride() != weight.stride():  # the parameter's layout, as autograd's
            grad_w = torch.empty_like(weight).copy_(grad_w)
    return grad_x, grad_w, grad_b


class _GemmWgradConv(torch.autograd.Function):
    """Inputs: x, the weight and bias (tensors autograd routes gradients to), the module."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Optional[Tensor],
                conv: GemmWgradConv2d) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conv = conv
        return conv._conv_forward(x, weight, bias)  # nn.Conv2d's own forward

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Optional[Tensor], ...]:
        x, weight = ctx.saved_tensors
        grads = conv_backward(ctx.conv, x, grad_out, weight, tuple(ctx.needs_input_grad[:3]),
                              gemm=True)
        return (*grads, None)


def use_gemm_weight_grad(model: nn.Module) -> int:
    """Turn every ``nn.Conv2d`` of ``model`` with stride 1, dilation 1, one group and numeric
    zero padding into a :class:`GemmWgradConv2d`, in place (the objects, parameters and hooks
    stay); returns how many. Only channels_last float32 CPU training takes the new path."""
    count = 0
    for m in model.modules():
        if type(m) is nn.Conv2d and _stride1_zero_padded(m):
            m.__class__ = GemmWgradConv2d
            count += 1
    return count
