"""Activation checkpointing that leaves batch-norm statistics as an unchecked run has them."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch.nn as nn
import torch.utils.checkpoint as cp
from torch import Tensor


@contextlib.contextmanager
def _batch_stats_untracked(modules: Iterable[nn.Module]) -> Iterator[None]:
    """Training-mode batch norms in ``modules`` normalise with batch statistics as usual but
    leave their running statistics and ``num_batches_tracked`` as they were.

    Momentum 0 makes the running update ``r * 1 + batch * 0``, i.e. r exactly (switching
    tracking off instead would change the tensors the op saves, which checkpointing checks);
    ``num_batches_tracked`` is put back afterwards."""
    norms = [m for mod in modules for m in mod.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
             and m.track_running_stats]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
             for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


def checkpoint(fn: Callable[..., Tensor], *args: Tensor,
               modules: Iterable[nn.Module]) -> Tensor:
    """``fn(*args)`` with activation checkpointing (non-reentrant ``torch.utils.checkpoint``):
    only ``args`` are kept for backward, which runs ``fn`` again.

    The recomputation would update the running statistics of every training-mode batch norm a
    second time (momentum applied twice, ``num_batches_tracked`` counted twice per step, as in
    mmcv/mmpose ``with_cp``); here it leaves them alone, so the statistics, outputs and
    gradients are those of the plain call. The recomputation normalises with the same batch
    statistics, so it reproduces the saved forward exactly.

    Args:
        fn: the checkpointed computation.
        args: its tensor inputs.
        modules: the modules ``fn`` runs (their batch norms are the ones made quiet).
    """
    modules = list(modules)
    return cp.checkpoint(fn, *args, use_reentrant=False,
                         context_fn=lambda: (contextlib.nullcontext(),
                                             _batch_stats_untracked(modules)))
