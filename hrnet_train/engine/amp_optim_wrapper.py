"""Mixed-precision optimizer wrapper on ``torch.amp``, for CUDA and CPU.

mmengine 0.10.7's ``AmpOptimWrapper`` uses the deprecated ``torch.cuda.amp`` and asserts a GPU
(REFERENCE §5.2). This one is registered under the same name in the ``hrnet_train`` scope, so
``optim_wrapper = dict(type='AmpOptimWrapper', ...)`` (or ``tools/train.py --amp``) builds it.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator, Union

import torch
import torch.nn as nn
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper

from hrnet_train.registry import OPTIM_WRAPPERS
from hrnet_train.utils.cpu_features import has_native_bf16


def _model_device_type(model: nn.Module, default: str) -> str:
    for param in model.parameters():
        return param.device.type
    return default


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(OptimWrapper):
    """Automatic mixed precision: ``torch.autocast`` in the forward pass, ``torch.amp.GradScaler``
    for float16.

    Args:
        loss_scale: float16 loss scaling: ``'dynamic'`` (``GradScaler`` defaults: start at 2**16,
            halve on inf/NaN gradients and skip that step, double after 2000 good steps), a float
            (static scale) or a dict of ``GradScaler`` arguments. bfloat16 has float32's range and
            uses no scaling.
        dtype: ``'float16'`` or ``'bfloat16'``; None picks float16 on CUDA, bfloat16 elsewhere
            (CPU autocast is meant for bfloat16).
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments (optimizer, accumulative_counts,
            clip_grad).

    The autocast device type is the model's parameter device; the scaler lives on
    ``mmengine.device.get_device()``, where the runner puts the model.
    """

    valid_dtypes = ('float16', 'bfloat16')

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[str, torch.dtype, None] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.device_type = get_device()
        if dtype is None:
            dtype = 'float16' if self.device_type == 'cuda' else 'bfloat16'
        if isinstance(dtype, torch.dtype):
            dtype = str(dtype).replace('torch.', '')
        if dtype not in self.valid_dtypes:
            raise ValueError(f'optim_wrapper.dtype must be one of {self.valid_dtypes}, '
                             f'got {dtype!r}')
        self.cast_dtype = getattr(torch, dtype)
        if self.device_type == 'cpu' and self.cast_dtype == torch.bfloat16 \
                and has_native_bf16() is False:
            print_log('AMP: bfloat16 autocast on a CPU without AVX512-BF16 or AMX: bfloat16 '
                      'is emulated there and usually slower than float32 (drop --amp on this '
                      'machine)', logger='current', level=logging.WARNING)
        enabled = self.cast_dtype == torch.float16
        self._scale_update_param = None
        if loss_scale == 'dynamic':
            scaler_args: dict = {}
        elif isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
            # static scale: update(new_scale) pins the scale after every step
            self._scale_update_param = float(loss_scale)
            scaler_args = dict(init_scale=float(loss_scale))
        elif isinstance(loss_scale, dict):
            scaler_args = dict(loss_scale)
        else:
            raise TypeError('optim_wrapper.loss_scale must be "dynamic", a float or a dict, '
                            f'got {loss_scale!r}')
        self.loss_scaler = torch.amp.GradScaler(self.device_type, enabled=enabled, **scaler_args)

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        """Back-propagate the (scaled, for float16) loss."""
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        """Unscale (when clipping), step unless gradients are non-finite, update the scale."""
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)

    def state_dict(self) -> dict:
        """Optimizer state plus ``loss_scaler`` (empty for bfloat16)."""
        state_dict = super().state_dict()
        state_dict['loss_scaler'] = self.loss_scaler.state_dict()
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        """Load the optimizer and, when both sides scale, the loss scaler."""
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if scaler_state and self.loss_scaler.is_enabled():
            self.loss_scaler.load_state_dict(scaler_state)
        if 'base_param_settings' in state_dict:
            self.base_param_settings = state_dict.pop('base_param_settings')
        self.optimizer.load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Gradient-accumulation context of ``OptimWrapper`` plus ``torch.autocast``."""
        device_type = _model_device_type(model, self.device_type)
        with super().optim_context(model), torch.autocast(device_type=device_type,
                                                          dtype=self.cast_dtype):
            yield
