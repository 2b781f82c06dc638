"""``conv(relu(bn(x)))`` that keeps only ``x`` for backward: the normalised, rectified
activation is recomputed there instead of saved.

A plain training step saves two activation-sized tensors for this pattern: the norm's input
``x`` (for the norm's backward) and the ReLU output ``z`` (for the ReLU's and the convolution's
backward). ``z`` is a cheap function of ``x`` and the batch statistics, so this keeps ``x``
(and the per-channel mean and inverse std) only and computes ``z = relu(x * a + b)`` again in
backward: one elementwise pass per layer, no convolution recomputed, for one activation-sized
tensor less per layer — about a fifth of an HRNet's saved activations (docs/training.md).

The forward is the plain one (the norm's own kernel, running statistics and
``num_batches_tracked`` updated exactly as ``nn.BatchNorm2d`` does), so outputs and statistics
are bit-identical. The backward calls the aten kernels autograd calls for the plain modules
(``convolution_backward``, ``threshold_backward``, ``native_batch_norm_backward``); the
recomputed ``z`` is within an ulp of the forward's (the norm kernel rounds its own fused
multiply-add), so the gradients equal the plain ones to float rounding
(tests/models/layers/test_bn_relu_conv.py).
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn as nn
from torch import Tensor


def _autocast_on() -> bool:
    """Any autocast region active (CPU or CUDA); there the plain modules are used."""
    try:
        return torch.is_autocast_enabled('cpu') or torch.is_autocast_enabled('cuda')
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def _compiling() -> bool:
    compiler = getattr(torch, 'compiler', None)
    return bool(compiler is not None and getattr(compiler, 'is_compiling', lambda: False)())


def recompute_applies(bn: nn.Module, conv: nn.Module, x: Tensor) -> bool:
    """True when :func:`bn_relu_conv` would recompute: autograd on, ``bn`` a training-mode
    ``nn.BatchNorm2d`` (not SyncBN or another norm), ``conv`` a zero-padded ``nn.Conv2d``, a
    floating-point input, no autocast, tracing or ``torch.compile`` (inductor decides its own
    recomputation)."""
    return (torch.is_grad_enabled() and type(bn) is nn.BatchNorm2d and bn.training
            and type(conv) is nn.Conv2d and conv.padding_mode == 'zeros'
            and isinstance(conv.padding, tuple) and x.is_floating_point()
            and (x.requires_grad or any(p.requires_grad for p in (*bn.parameters(),
                                                                  *conv.parameters())))
            and not (_autocast_on() or _compiling() or torch.jit.is_tracing()))


def _batch_norm_train(bn: nn.BatchNorm2d, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``bn(x)`` in training mode as ``nn.BatchNorm2d.forward`` computes it (the same kernel,
    running statistics and ``num_batches_tracked`` updated the same way), also returning the
    batch mean and inverse standard deviation: (out, mean (C,), invstd (C,))."""
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:  # cumulative moving average
            factor = 1.0 / float(bn.num_batches_tracked)
    return torch.native_batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, True,
                                   factor, bn.eps)


_CONV_BACKWARD = torch.ops.aten.convolution_backward.default
_RELU_BACKWARD = torch.ops.aten.threshold_backward.default
_BN_BACKWARD = torch.ops.aten.native_batch_norm_backward.default


class _BNReLUConv(torch.autograd.Function):
    """Inputs: x, the norm's weight and bias, the conv's weight and bias (tensors autograd
    routes gradients to), then the two modules. Output: conv(relu(bn(x)))."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, bn_weight: Optional[Tensor], bn_bias: Optional[Tensor],
                conv_weight: Tensor, conv_bias: Optional[Tensor], bn: nn.BatchNorm2d,
                conv: nn.Conv2d) -> Tensor:
        z, mean, invstd = _batch_norm_train(bn, x)
        # z = x * alpha + beta per channel, for the recomputation
        alpha = invstd if bn_weight is None else invstd * bn_weight
        beta = -mean * alpha if bn_bias is None else bn_bias - mean * alpha
        ctx.save_for_backward(x, mean, invstd, alpha.view(1, -1, 1, 1), beta.view(1, -1, 1, 1),
                              bn_weight, conv_weight)
        ctx.eps = bn.eps
        ctx.conv_args = (list(conv.stride), list(conv.padding), list(conv.dilation), conv.groups)
        ctx.bias_sizes = None if conv_bias is None else [conv_bias.shape[0]]
        return conv(z.relu_())

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Optional[Tensor], ...]:
        x, mean, invstd, alpha, beta, bn_weight, conv_weight = ctx.saved_tensors
        need_x, need_bw, need_bb, need_cw, need_cb = ctx.needs_input_grad[:5]
        # One pass; within an ulp of the forward's z, whose kernel rounds its own multiply-add.
        z = torch.addcmul(beta, x, alpha).relu_()
        stride, padding, dilation, groups = ctx.conv_args
        need_z = need_x or need_bw or need_bb
        grad_z, grad_cw, grad_cb = _CONV_BACKWARD(
            grad_y, z, conv_weight, ctx.bias_sizes, stride, padding, dilation, False, [0, 0],
            groups, [need_z, need_cw, need_cb])
        grad_x = grad_bw = grad_bb = None
        if need_z:
            grad_z = _RELU_BACKWARD(grad_z, z, 0)
            del z
            grad_x, grad_bw, grad_bb = _BN_BACKWARD(
                grad_z, x, bn_weight, None, None, mean, invstd, True, ctx.eps,
                [need_x, need_bw, need_bb])
        return grad_x, grad_bw, grad_bb, grad_cw, grad_cb, None, None


def bn_relu_conv(bn: nn.Module, relu: nn.Module, conv: nn.Module, x: Tensor, *,
                 recompute: bool = True) -> Tensor:
    """``conv(relu(bn(x)))`` (``relu`` an in-place-able ReLU module); with ``recompute`` and
    where :func:`recompute_applies`, only ``x`` is saved for backward (see the module
    docstring; the ReLU module itself is not called there), else the three modules are called
    as usual.

    Shapes: x (N, C_in, H, W) -> (N, C_out, H', W') as ``conv`` maps them; any memory format.
    """
    if recompute and recompute_applies(bn, conv, x):
        return _BNReLUConv.apply(x, bn.weight, bn.bias, conv.weight, conv.bias, bn, conv)
    return conv(relu(bn(x)))
