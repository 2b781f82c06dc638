"""The weight gradient of a stride-1 convolution as a few large matrix products.

For a convolution ``y = conv2d(x, w)`` with stride 1, dilation 1, one group and zero padding
``(ph, pw)``, the weight gradient is, for every kernel offset ``(i, j)``::

    dw[o, c, i, j] = sum over n, h, w of  dy[n, o, h, w] * x_pad[n, c, h + i, w + j]

Laid out NHWC and padded to the same (Hp, Wp) = (H + 2 ph, W + 2 pw) grid — ``x`` with its
zero border, ``dy`` at the top-left with zeros beyond its (H_out, W_out) — both become
(N * Hp * Wp, C) matrices in which the offset ``(i, j)`` is a shift of ``s = i * Wp + j`` rows:
``dw[:, :, i, j] = dy_pad[: L - s].T @ x_pad[s:]`` (``L = N * Hp * Wp``). Every position where
``dy_pad`` is zero contributes nothing, so rows that wrap into the next image row or image never
count. That is ``kh * kw`` GEMMs with a long inner dimension (one for a 1x1 convolution, on the
unpadded tensors), which BLAS runs near its peak, where oneDNN's NHWC weight-gradient kernel on
an AVX2-only CPU ran at ~35-55 GFLOP/s (docs/benchmark.md, 2026-12-03).

The values are the same sums in another order: float32 rounding, ~1e-6 to 1e-5 relative to
``torch.ops.aten.convolution_backward`` (tests/ops/test_ops_conv_weight_grad.py).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['conv2d_weight_grad']


def _nhwc(t: Tensor) -> Tensor:
    """(N, C, H, W) -> its (N, H, W, C) view, contiguous (a copy unless ``t`` is
    channels_last)."""
    return t.permute(0, 2, 3, 1).contiguous()


def conv2d_weight_grad(x: Tensor, grad_out: Tensor, kernel_size: Sequence[int],
                       padding: Sequence[int] = (0, 0)) -> Tensor:
    """Weight gradient of ``conv2d(x, w, stride=1, padding=padding)`` for the output gradient
    ``grad_out``.

    Args:
        x: (N, C, H, W) input of the convolution, any memory format (channels_last avoids a
            copy).
        grad_out: (N, O, H_out, W_out) gradient of its output, H_out = H + 2 ph - kh + 1 and
            W_out likewise.
        kernel_size: (kh, kw).
        padding: (ph, pw) zero padding.

    Returns:
        (O, C, kh, kw) gradient, channels_last when ``x`` is, float32 sums in ``x``'s dtype.

    Raises:
        ValueError: the shapes do not belong to one stride-1 convolution.
    """
    kh, kw = (int(k) for k in kernel_size)
    ph, pw = (int(p) for p in padding)
    if x.dim() != 4 or grad_out.dim() != 4 or x.shape[0] != grad_out.shape[0]:
        raise ValueError(f'conv2d_weight_grad: x (N, C, H, W) and grad_out (N, O, H_out, W_out) '
                         f'expected, got {tuple(x.shape)} and {tuple(grad_out.shape)}')
    n, c, h, w = x.shape
    o, h_out, w_out = grad_out.shape[1:]
    hp, wp = h + 2 * ph, w + 2 * pw
    if (h_out, w_out) != (hp - kh + 1, wp - kw + 1) or min(kh, kw) < 1:
        raise ValueError(f'conv2d_weight_grad: grad_out {tuple(grad_out.shape)} is not the output '
                         f'of a stride-1 {kh}x{kw} convolution with padding {(ph, pw)} of x '
                         f'{tuple(x.shape)}')
    xn = _nhwc(x)
    if ph or pw:
        xn = F.pad(xn, (0, 0, pw, pw, ph, ph))
    if (h_out, w_out) == (hp, wp):  # 1x1 without padding: no border to add
        gn = _nhwc(grad_out)
    else:
        gn = grad_out.new_zeros(n, hp, wp, o)
        gn[:, :h_out, :w_out] = grad_out.permute(0, 2, 3, 1)
    rows = n * hp * wp
    xf, gf = xn.view(rows, c), gn.view(rows, o)
    out = x.new_empty(kh, kw, o, c)
    for i in range(kh):
        for j in range(kw):
            s = i * wp + j
            torch.mm(gf[:rows - s].t(), xf[s:], out=out[i, j])
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) \
        and not x.is_contiguous() else torch.contiguous_format
    return out.permute(2, 3, 0, 1).contiguous(memory_format=fmt)
