"""``channels_last`` memory format for a model and the images its data preprocessor emits."""
from __future__ import annotations

import torch
import torch.nn as nn


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
