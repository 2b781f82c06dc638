"""``conv(relu(bn(x)))`` that keeps only ``x`` for backward: the normalised, rectified
activation is recomputed there instead of saved.

A plain training step saves two activation-sized tensors for this pattern: the norm's input
``x`` (for the norm's backward) and the ReLU output ``z`` (for the ReLU's and the convolution's
backward). ``z`` is a cheap function of ``x`` and the batch statistics, so this keeps ``x``
(and per-channel factors) only and computes ``z = relu(x * a + b)`` again in backward: one
elementwise pass per layer, no convolution recomputed, for one activation-sized tensor less
per layer — about a fifth of an HRNet's saved activations (docs/training.md).

Bit-identical to the plain modules: the forward is the norm's own kernel (running statistics
and ``num_batches_tracked`` updated exactly as ``nn.BatchNorm2d`` does), and the backward's
``z`` is the forward's bit for bit, so the aten kernels autograd calls for the plain modules
(``convolution_backward``, ``threshold_backward``, ``native_batch_norm_backward``) see the same
tensors. The norm kernel computes ``z = x * a + b`` with ``a = invstd * weight`` and ``b`` its
own rounding of ``bias - mean * a`` (a fused multiply-add on x86 builds); :func:`_z_formula`
finds, once per device type and dtype, which rounding of ``b`` reproduces the kernel's ``z``
exactly on a probe, and where none does (another build, float64, half types) the backward runs
the training-mode kernel again on ``x`` (``stats``: bit-identical by determinism, ~2.5x the
cost of the one pass). tests/models/layers/test_bn_relu_conv.py checks outputs, statistics and
gradients with ``torch.equal``. For a :class:`~.gemm_wgrad_conv.GemmWgradConv2d` (the
``gemm_weight_grad`` switch) the convolution's weight gradient comes from its GEMMs instead
(float rounding, tests/models/layers/test_gemm_wgrad_conv.py).
"""
from __future__ import annotations

from typing import Any, Optional, Union

import torch
import torch.nn as nn
from torch import Tensor

from .gemm_wgrad_conv import PLAIN_CONV_TYPES, conv_backward, gemm_wgrad_applies
from .graph_mode import autocast_on, capturing_graph

__all__ = ['bn_relu_conv', 'check_recompute_mode', 'recompute_applies']


def recompute_applies(bn: nn.Module, conv: nn.Module, x: Tensor) -> bool:
    """True when :func:`bn_relu_conv` would recompute: autograd on, ``bn`` a training-mode
    ``nn.BatchNorm2d`` (not SyncBN or another norm), ``conv`` a zero-padded ``nn.Conv2d``, a
    floating-point input, no autocast, tracing or ``torch.compile`` (inductor decides its own
    recomputation)."""
    return (torch.is_grad_enabled() and type(bn) is nn.BatchNorm2d and bn.training
            and type(conv) in PLAIN_CONV_TYPES and conv.padding_mode == 'zeros'
            and isinstance(conv.padding, tuple) and x.is_floating_point()
            and (x.requires_grad or any(p.requires_grad for p in (*bn.parameters(),
                                                                  *conv.parameters())))
            and not (autocast_on() or capturing_graph()))


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


def fma_f32(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """``a * b + c`` of float32 tensors rounded once, as a fused multiply-add rounds it.

    Computed in float64: the product of two float32 is exact there, TwoSum gives the sum's
    rounding error, and rounding the sum to odd before the cast to float32 (53 >= 24 + 2 bits)
    makes the double rounding exact. Shapes broadcast; returns float32."""
    p = a.double() * b.double()
    c64 = c.double().expand_as(p) if c.dim() else c.double()
    s = p + c64
    bp = s - p
    err = (p - (s - bp)) + (c64 - bp)  # p + c == s + err exactly
    even = (s.contiguous().view(torch.int64) & 1) == 0
    towards = torch.where(err > 0, torch.full_like(s, float('inf')),
                          torch.full_like(s, float('-inf')))
    return torch.where((err != 0) & even, torch.nextafter(s, towards), s).float()


def _beta_addcmul(mean: Tensor, alpha: Tensor, bias: Optional[Tensor]) -> Tensor:
    # one pass; on builds whose addcmul kernel contracts to an FMA (x86 builds) this is
    # fma(-mean, alpha, bias)
    return -(mean * alpha) if bias is None else torch.addcmul(bias, mean, alpha, value=-1)


def _beta_fma(mean: Tensor, alpha: Tensor, bias: Optional[Tensor]) -> Tensor:
    return fma_f32(-mean, alpha, torch.zeros_like(mean) if bias is None else bias)


def _beta_mul_add(mean: Tensor, alpha: Tensor, bias: Optional[Tensor]) -> Tensor:
    return -(mean * alpha) if bias is None else bias - mean * alpha


#: the per-channel constant ``b`` of ``z = x * a + b`` as the norm kernel may round it,
#: cheapest first
_BETA_FORMULAS = dict(addcmul=_beta_addcmul, fma=_beta_fma, mul_add=_beta_mul_add)
_Z_FORMULA: dict[tuple[str, torch.dtype], str] = {}


def _z_formula(device: torch.device, dtype: torch.dtype) -> str:
    """The name in ``_BETA_FORMULAS`` whose ``addcmul(b, x, a)`` equals the training-mode
    norm kernel's output bit for bit on probes (contiguous, channels_last, 1x1 images, no
    affine; odd sizes so the kernel's vector tails are hit), or ``'stats'``; cached per device
    type and dtype."""
    key = (device.type, dtype)
    if key not in _Z_FORMULA:
        _Z_FORMULA[key] = 'stats'
        if dtype == torch.float32:
            gen = torch.Generator().manual_seed(0)
            x = (torch.randn(3, 203, 7, 5, generator=gen) * 3 + 1).to(device)
            weight = (torch.rand(203, generator=gen) + 0.5).to(device)
            bias = torch.randn(203, generator=gen).to(device)
            x1 = x[:, :, :1, :1].contiguous()  # the kernel's 1x1-image path
            probes = [(x, weight, bias), (x.contiguous(memory_format=torch.channels_last),
                                          weight, bias), (x, None, None), (x1, weight, bias)]
            for name, beta_of in _BETA_FORMULAS.items():
                for xp, w, b in probes:
                    z, mean, invstd = torch.native_batch_norm(xp, w, b, None, None, True,
                                                              0.0, 1e-5)
                    alpha = invstd if w is None else invstd * w
                    beta = beta_of(mean, alpha, b)
                    if not torch.equal(torch.addcmul(beta.view(1, -1, 1, 1), xp,
                                                     alpha.view(1, -1, 1, 1)), z):
                        break
                else:
                    _Z_FORMULA[key] = name
                    break
    return _Z_FORMULA[key]


_RELU_BACKWARD = torch.ops.aten.threshold_backward.default
_BN_BACKWARD = torch.ops.aten.native_batch_norm_backward.default


class _BNReLUConv(torch.autograd.Function):
    """Inputs: x, the norm's weight and bias, the conv's weight and bias (tensors autograd
    routes gradients to), then the two modules. Output: conv(relu(bn(x)))."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, bn_weight: Optional[Tensor], bn_bias: Optional[Tensor],
                conv_weight: Tensor, conv_bias: Optional[Tensor], bn: nn.BatchNorm2d,
                conv: nn.Conv2d, gemm: bool) -> Tensor:
        z, mean, invstd = _batch_norm_train(bn, x)
        ctx.conv, ctx.gemm = conv, gemm
        ctx.formula = _z_formula(x.device, x.dtype)
        if ctx.formula == 'stats':  # backward runs the kernel again: z bit for bit
            ctx.save_for_backward(x, mean, invstd, bn_weight, bn_bias, conv_weight)
        else:  # z = x * alpha + beta per channel, rounded as the kernel rounds it
            alpha = invstd if bn_weight is None else invstd * bn_weight
            beta = _BETA_FORMULAS[ctx.formula](mean, alpha, bn_bias)
            ctx.save_for_backward(x, mean, invstd, alpha.view(1, -1, 1, 1),
                                  beta.view(1, -1, 1, 1), bn_weight, conv_weight)
        ctx.eps = bn.eps
        return conv(z.relu_())

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Optional[Tensor], ...]:
        if ctx.formula == 'stats':
            x, mean, invstd, bn_weight, bn_bias, conv_weight = ctx.saved_tensors
            z = torch.native_batch_norm(x, bn_weight, bn_bias, None, None, True, 0.0,
                                        ctx.eps)[0].relu_()
        else:
            x, mean, invstd, alpha, beta, bn_weight, conv_weight = ctx.saved_tensors
            z = torch.addcmul(beta, x, alpha).relu_()  # the forward's z, bit for bit
        need_x, need_bw, need_bb, need_cw, need_cb = ctx.needs_input_grad[:5]
        need_z = need_x or need_bw or need_bb
        grad_z, grad_cw, grad_cb = conv_backward(ctx.conv, z, grad_y, conv_weight,
                                                 (need_z, need_cw, need_cb), ctx.gemm)
        grad_x = grad_bw = grad_bb = None
        if need_z:
            grad_z = _RELU_BACKWARD(grad_z, z, 0)
            del z
            grad_x, grad_bw, grad_bb = _BN_BACKWARD(
                grad_z, x, bn_weight, None, None, mean, invstd, True, ctx.eps,
                [need_x, need_bw, need_bb])
        return grad_x, grad_bw, grad_bb, grad_cw, grad_cb, None, None, None


def check_recompute_mode(value: Union[bool, str], owner: str) -> Union[bool, str]:
    """``value`` if it is a valid ``recompute_bn_relu`` of the models — True, False or
    ``'cpu'`` (their default: only for CPU tensors, where the recomputation is checked
    bit-identical) — else a one-line ValueError naming ``owner``."""
    if not (isinstance(value, bool) or value == 'cpu'):
        raise ValueError(f"{owner} recompute_bn_relu must be True, False or 'cpu', "
                         f"got {value!r}")
    return value


def bn_relu_conv(bn: nn.Module, relu: nn.Module, conv: nn.Module, x: Tensor, *,
                 recompute: Union[bool, str] = True) -> Tensor:
    """``conv(relu(bn(x)))`` (``relu`` an in-place-able ReLU module); with ``recompute``
    (True, or a device type such as ``'cpu'`` that ``x`` is on) and where
    :func:`recompute_applies`, only ``x`` is saved for backward (see the module docstring;
    the ReLU module itself is not called there), else the three modules are called as usual.

    Shapes: x (N, C_in, H, W) -> (N, C_out, H', W') as ``conv`` maps them; any memory format.
    """
    if (recompute is True or (isinstance(recompute, str) and x.device.type == recompute)) \
            and recompute_applies(bn, conv, x):
        return _BNReLUConv.apply(x, bn.weight, bn.bias, conv.weight, conv.bias, bn, conv,
                                 gemm_wgrad_applies(conv, x))
    return conv(relu(bn(x)))
