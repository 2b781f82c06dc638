"""``channels_last`` memory format for a model and the images its data preprocessor emits."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from hrnet_train.utils.cpu_features import has_avx512


def _inputs_to_channels_last(module: nn.Module, args, output):
    """Forward hook of the data preprocessor: convert the (N, C, H, W) ``inputs`` batch."""
    if isinstance(output, dict):
        inputs = output.get('inputs')
        if torch.is_tensor(inputs) and inputs.dim() == 4:
            output['inputs'] = inputs.contiguous(memory_format=torch.channels_last)
    return output


def enable_channels_last(model: nn.Module) -> nn.Module:
    """Store 4-D parameters/buffers as NHWC and make the data preprocessor emit NHWC batches.

    Convolutions then run in channels_last kernels (faster with cuDNN/AMP on tensor cores).
    Shapes are unchanged: ``inputs`` stays (N, C, H, W); only strides change. Enabled by
    ``channels_last = True`` in a config (see :class:`hrnet_train.engine.Runner`).

    Returns:
        the same model, converted in place.
    """
    model.to(memory_format=torch.channels_last)
    preprocessor = getattr(model, 'data_preprocessor', None)
    if isinstance(preprocessor, nn.Module) and not getattr(preprocessor, '_channels_last', False):
        preprocessor.register_forward_hook(_inputs_to_channels_last)
        preprocessor._channels_last = True
    return model


def cpu_training_warning(gemm_weight_grad: bool) -> Optional[str]:
    """The warning for channels_last training on a CPU without AVX-512, or None.

    There oneDNN's NHWC weight-gradient kernel runs at a third to a half of the rate of the
    blocked kernel NCHW training uses for large feature maps (seg HRNetV2-W48 at 512x1024
    trained at 0.72x NCHW's speed on an AVX2 EPYC, pose W32 at 256x192 at 1.0-1.1x:
    docs/benchmark.md, 2026-12-03); ``gemm_weight_grad`` takes those gradients to BLAS and
    brings seg W48 back to NCHW's speed.

    Args:
        gemm_weight_grad: the config's ``gemm_weight_grad`` (no warning when on).

    No warning either where :func:`has_avx512` cannot tell (not Linux, not x86).
    """
    if gemm_weight_grad or has_avx512() is not False:
        return None
    return ('channels_last training on a CPU without AVX-512: oneDNN\'s NHWC weight-gradient '
            'kernel can be much slower there (on an AVX2 CPU seg W48 at 512x1024 trained at '
            '0.72x the NCHW speed, pose W32 at 256x192 at 1.0-1.1x); '
            'tools/analysis/benchmark.py --switches CONFIG measures it on this machine; NCHW '
            '(drop --channels-last) or --gemm-weight-grad (gemm_weight_grad = True) avoid it')
