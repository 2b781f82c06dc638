"""A convolution for CPU inference through oneDNN with prepacked weights and a fused epilogue:
``post(conv(x) [+ other])``, ``post`` none or ReLU.

An eager ``F.conv2d`` on CPU hands oneDNN the weight in PyTorch's plain layout, which oneDNN
reorders into its blocked layout on every call, and the ReLU and the residual addition after it
are separate passes over the output. :class:`OneDNNConv2d` reorders the weight once per input
shape (``mkldnn_reorder_conv2d_weight``, cached) and calls the fused kernel PyTorch's inductor
uses for frozen CPU graphs (``torch.ops.mkldnn._convolution_pointwise``, with the ``add`` binary
and ``relu`` unary post-ops). The values are the plain ones up to float rounding: oneDNN may pick
another algorithm for the prepacked weight (relative 1e-6 on an HRNet's outputs here,
tests/models/layers/test_onednn_conv.py).

For channels_last float32 CPU inference only: the fused kernel has no autograd formula, and
for an NCHW input it returns a channels_last output (a silent change of the memory format). So
with autograd recording, for an NCHW input, on another device or dtype, under tracing (ONNX
export) or ``torch.compile`` (inductor packs on its own), or where this torch build lacks the
kernels (:func:`onednn_available`), the forward is the plain ``conv``, ``+ other``, ``relu``
(exactly the unfused modules).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .graph_mode import capturing_graph

POSTS = ('none', 'relu')
_MAX_SHAPES = 8  # packed weights kept per convolution (seg tests at several sizes)
_AVAILABLE: dict[str, tuple[bool, str]] = {}


def _pack(weight: Tensor, conv: nn.Conv2d, shape: tuple[int, ...]) -> Tensor:
    """The weight reordered for inputs of ``shape`` (an opaque mkldnn tensor)."""
    return torch._C._nn.mkldnn_reorder_conv2d_weight(
        weight.to_mkldnn(), list(conv.padding), list(conv.stride), list(conv.dilation),
        conv.groups, list(shape))


def _conv_args(conv: nn.Conv2d) -> tuple:
    """(padding, stride, dilation, groups) as the fused kernels take them."""
    return (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)


def _fused(x: Tensor, packed: Tensor, conv: nn.Conv2d, post: str,
           other: Optional[Tensor], args: tuple) -> Tensor:
    """``post(conv(x) [+ other])`` through the fused kernel; ``args``: ``_conv_args(conv)``."""
    bias = conv.bias
    if bias is not None and torch.is_grad_enabled():
        bias = bias.detach()
    if other is None:
        return torch.ops.mkldnn._convolution_pointwise(x, packed, bias, *args, post, [], '')
    unary = None if post == 'none' else post  # the binary form takes no 'none'
    return torch.ops.mkldnn._convolution_pointwise.binary(x, other, packed, bias, *args, 'add',
                                                          None, unary, [], '')


def onednn_available() -> tuple[bool, str]:
    """(True, '') where this torch build runs :class:`OneDNNConv2d`'s fused kernels and they
    agree with ``F.conv2d`` on a probe (plain and channels_last, with ReLU and a residual);
    else (False, why). Probed once per process."""
    if 'cpu' in _AVAILABLE:
        return _AVAILABLE['cpu']
    result = (True, '')
    if not (torch.backends.mkldnn.enabled and torch.backends.mkldnn.is_available()):
        result = (False, 'this torch build has no oneDNN (torch.backends.mkldnn)')
    elif not (hasattr(torch.ops.mkldnn, '_convolution_pointwise')
              and hasattr(torch._C._nn, 'mkldnn_reorder_conv2d_weight')):
        result = (False, 'this torch build lacks mkldnn._convolution_pointwise')
    else:
        gen = torch.Generator().manual_seed(0)
        conv = nn.Conv2d(8, 8, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.1)
        x = torch.randn(2, 8, 7, 5, generator=gen)
        other = torch.randn(2, 8, 7, 5, generator=gen)
        try:
            with torch.no_grad():
                for fmt in (torch.contiguous_format, torch.channels_last):
                    xf, of = (t.contiguous(memory_format=fmt) for t in (x, other))
                    ref = F.relu(conv(xf) + of)
                    out = _fused(xf, _pack(conv.weight, conv, tuple(xf.shape)), conv, 'relu', of,
                                 _conv_args(conv))
                    if out.shape != ref.shape or not torch.allclose(out, ref, rtol=1e-5,
                                                                    atol=1e-6):
                        result = (False, 'the fused oneDNN kernel disagrees with F.conv2d '
                                         'on a probe')
                        break
        except RuntimeError as err:  # a build whose kernel rejects these arguments
            result = (False, f'the fused oneDNN kernel failed: {str(err).splitlines()[0]}')
    _AVAILABLE['cpu'] = result
    return result


class OneDNNConv2d(nn.Conv2d):
    """``post(conv(x) + other)``: a ``Conv2d`` (same parameters and state-dict keys) whose
    CPU inference runs oneDNN's fused kernel with the weight prepacked per input shape.

    Shapes: x (N, C_in, H, W), other (N, C_out, H', W') or None -> (N, C_out, H', W'), in x's
    memory format; the fused kernel runs for channels_last x (see the module docstring).

    Args (:meth:`from_conv`): conv: the convolution to copy (zero padding; BatchNorm folded in
    beforehand); post: 'none' or 'relu', applied after the optional residual.
    """

    def __init__(self, *args, post: str = 'none', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if post not in POSTS:
            raise ValueError(f'OneDNNConv2d post must be one of {POSTS}, got {post!r}')
        self.post = post
        self._packed: OrderedDict = OrderedDict()  # (shape, storage, version) -> packed weight
        self._last: Optional[tuple] = None  # (key, packed) of the last call: the common case
        self._args = _conv_args(self)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, post: str = 'none') -> 'OneDNNConv2d':
        if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise ValueError(f'OneDNNConv2d needs numeric zero padding, got padding '
                             f'{conv.padding!r} ({conv.padding_mode})')
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                  padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                  bias=conv.bias is not None, device='meta', post=post)
        new.weight, new.bias = conv.weight, conv.bias  # the same Parameters, not copies
        new.train(conv.training)
        return new

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._packed = OrderedDict()
        self._last = None
        self._args = _conv_args(self)

    def __getstate__(self) -> dict:  # deepcopy/pickle: mkldnn tensors are not copyable
        state = self.__dict__.copy()
        state['_packed'] = OrderedDict()
        state['_last'] = None
        return state

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, post={self.post}'

    def _use_fused(self, x: Tensor, other: Optional[Tensor]) -> bool:
        # cheapest tests first: this runs once per convolution call (~300 per HRNet forward)
        if not (x.is_cpu and x.dtype is torch.float32 and x.dim() == 4
                and x.is_contiguous(memory_format=torch.channels_last)):
            return False
        weight = self.weight
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or (
                other is not None and other.requires_grad)):
            return False
        return (weight.dtype is torch.float32
                and (other is None or (other.dtype is torch.float32 and other.is_cpu))
                and not capturing_graph() and onednn_available()[0])

    def _packed_weight(self, shape: tuple[int, ...]) -> Tensor:
        # Keyed by the weight's storage and version too: .to(), load_state_dict and in-place
        # edits of the weight repack instead of using stale values.
        weight = self.weight
        key = (tuple(shape), weight.data_ptr(), weight._version)
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        cache = self._packed
        packed = cache.get(key)
        if packed is None:
            with torch.no_grad():
                packed = _pack(weight.detach(), self, key[0])
            cache[key] = packed
            while len(cache) > _MAX_SHAPES:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        self._last = (key, packed)
        return packed

    def forward(self, x: Tensor, other: Optional[Tensor] = None) -> Tensor:
        if other is not None and not isinstance(other, Tensor):
            raise TypeError(f'OneDNNConv2d other must be a tensor or None, got {type(other)}')
        if self._use_fused(x, other):
            if other is not None:  # the kernel reads it in the output's memory format
                other = other.contiguous(memory_format=torch.channels_last)
            return _fused(x, self._packed_weight(x.shape), self, self.post, other, self._args)
        out = self._conv_forward(x, self.weight, self.bias)
        if other is not None:
            out = out + other
        return F.relu(out) if self.post == 'relu' else out
