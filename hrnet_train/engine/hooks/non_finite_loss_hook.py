"""Stop training at the first NaN/Inf loss, naming the iteration and the loss term."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook

from hrnet_train.registry import HOOKS
from hrnet_train.utils.errors import ConfigError, TrainingDivergedError

from ..dist import any_rank, model_device


class NonFiniteLossError(TrainingDivergedError):
    """Raised by :class:`NonFiniteLossHook`; the message names the iteration and loss terms."""


def find_non_finite(log_vars: dict) -> list[tuple[str, float]]:
    """The loss entries of ``log_vars`` (keys containing ``'loss'``) that are NaN or Inf.

    Args:
        log_vars: what ``BaseModel.train_step`` returns: ``loss`` (the total) and each loss term,
            scalar tensors or floats; accuracies (``acc_*``) are ignored.

    Returns:
        (key, value) pairs, loss terms first and the total ``loss`` last.
    """
    bad = []
    for key, value in log_vars.items():
        if 'loss' not in key:
            continue
        number = float(value.detach().float().mean()) if torch.is_tensor(value) else float(value)
        if not math.isfinite(number):
            bad.append((key, number))
    bad.sort(key=lambda kv: kv[0] == 'loss')
    return bad


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a loss becomes NaN or Inf.

    Runs in ``after_train_iter`` at priority ``ABOVE_NORMAL``, i.e. before the logger and the
    checkpoint hook, so the broken weights are never saved as a regular checkpoint. Under
    distributed training the verdict is all-reduced, so every rank stops at the same iteration
    (instead of the healthy ranks waiting for the stopped one until the collective times out).

    Args:
        interval: check every ``interval`` iterations (a check reads the loss values, which
            synchronises CUDA).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ConfigError(f'NonFiniteLossHook: interval must be an integer >= 1, '
                              f'got {interval!r}')
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        bad = find_non_finite(outputs)
        if not any_rank(bool(bad), device=model_device(runner.model)):
            return
        iteration = runner.iter + 1
        if bad:
            terms = ', '.join(f'{key}={value}' for key, value in bad)
            message = (f'Non-finite loss at iteration {iteration} (epoch {runner.epoch + 1}): '
                       f'{terms}. Lower the learning rate, enable gradient clipping '
                       '(optim_wrapper.clip_grad) or check the data of this batch.')
        else:
            message = (f'Non-finite loss on another rank at iteration {iteration} '
                       f'(epoch {runner.epoch + 1}); see that rank\'s log.')
        runner.logger.error(message)
        raise NonFiniteLossError(message)
