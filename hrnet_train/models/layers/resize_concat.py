"""The HRNetV2 representation's resize + concatenate, with the resized branches' gradients
made dense before their bilinear backward in channels_last.

The backward of ``torch.cat`` hands each input a channel slice of the output's gradient, which
is strided (batch > 1). The NCHW ``upsample_bilinear2d_backward`` reads such a slice as fast as
a dense one; the channels_last kernel is ~10-25x slower on it on CPU (the 96/192/384-channel
branches of HRNetV2-W48 at 512x1024, batch 2: 36/70/136 ms against 4/7/15 ms with the copy
included; docs/benchmark.md). A gradient hook on each channels_last resized branch copies its
slice into dense channels_last memory first; the kernel's result is the same bit for bit
(tests/models/layers/test_resize_concat.py).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .graph_mode import capturing_graph


def _dense_channels_last(grad: Tensor) -> Tensor:
    """Tensor hook: ``grad`` contiguous in channels_last (itself when it already is)."""
    return grad.contiguous(memory_format=torch.channels_last)


def resize_concat(feats: Sequence[Tensor], *, align_corners: bool = False) -> Tensor:
    """Every branch resized bilinearly to the exact size of ``feats[0]`` and concatenated
    along channels: ``cat([feats[0]] + [interpolate(f, size) for f in feats[1:]], 1)``, the
    same values and gradients.

    Where autograd records a channels_last resize (and not under ``torch.compile``, which
    plans its own layouts, or tracing), the resized branch gets a gradient hook that makes its
    slice of the concatenation's gradient dense before the bilinear backward reads it.

    Shapes:
        feats[i]: (N, C_i, H_i, W_i), any memory format; returns (N, sum(C_i), H_0, W_0).
    """
    size = feats[0].shape[-2:]
    out = [feats[0]]
    hook = not capturing_graph()
    for f in feats[1:]:
        up = F.interpolate(f, size=size, mode='bilinear', align_corners=align_corners)
        if (hook and up.requires_grad and up.is_contiguous(memory_format=torch.channels_last)
                and not up.is_contiguous()):
            up.register_hook(_dense_channels_last)
        out.append(up)
    return torch.cat(out, dim=1)
