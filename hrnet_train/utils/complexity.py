"""Parameter and FLOP counting with the official HRNet convention.

The official summary (leoxiaobin/deep-high-resolution-net.pytorch:lib/utils/utils.py,
``get_model_summary``) counts, for batch size 1, the multiply-adds of every convolution
(weight numel x output H x W) and every linear layer (output numel x in_features) and reports
GFLOPs as that sum divided by 1024**3. This reproduces every README table; dividing by 1e9 gives
figures about 7 % higher (REFERENCE §4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn
from torch import Tensor

GIGA_OFFICIAL = 1024 ** 3


@dataclass
class Complexity:
    """``params``: number of parameters; ``flops``: multiply-adds for one input (batch 1)."""

    params: int
    flops: int

    @property
    def gflops(self) -> float:
        """Official convention: multiply-adds / 1024**3."""
        return self.flops / GIGA_OFFICIAL

    @property
    def gflops_1e9(self) -> float:
        return self.flops / 1e9

    @property
    def mparams(self) -> float:
        return self.params / 1e6


def count_parameters(model: nn.Module) -> int:
    """Total number of parameters (trainable or not), as in the official tables."""
    return sum(p.numel() for p in model.parameters())


def count_complexity(model: nn.Module, inputs: Tensor,
                     forward: Optional[Callable[[nn.Module, Tensor], object]] = None
                     ) -> Complexity:
    """Count parameters and multiply-adds of ``forward(model, inputs)``.

    Args:
        model: any module; evaluated in eval mode under ``torch.no_grad``.
        inputs: (1, 3, H, W) image tensor; a larger batch is rejected since the official
            figures are per image.
        forward: how to call the model; default ``model(inputs)``.
    """
    if inputs.dim() != 4 or inputs.shape[0] != 1:
        raise ValueError(f'inputs must be (1, C, H, W), got {tuple(inputs.shape)}')
    total = 0

    def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.modules.conv._ConvNd):
            total += module.weight.numel() * output.shape[2:].numel()
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            forward(model, inputs) if forward is not None else model(inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return Complexity(params=count_parameters(model), flops=int(total))


def config_complexity(cfg, shape: tuple[int, int], *, device: str = 'meta') -> Complexity:
    """Build ``cfg.model`` (an mmengine Config) and count it on a (1, 3, H, W) input.

    Args:
        cfg: config with ``model`` (and optionally ``default_scope``).
        shape: input (H, W).
        device: 'meta' (default) counts from shapes alone, without allocating weights or running
            kernels, so W48 at 1024x2048 takes about a second; the counts equal a real forward.
    """
    from mmengine.model import BaseModel
    from mmengine.registry import init_default_scope

    from hrnet_train.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'hrnet_train'))

    def forward(m: nn.Module, x: Tensor) -> object:
        return m(x, mode='tensor') if isinstance(m, BaseModel) else m(x)

    with torch.device(device):
        model = MODELS.build(cfg.model)
        inputs = torch.zeros(1, 3, *shape)
    return count_complexity(model, inputs, forward)
