"""Stop training when a finite loss explodes, naming the iteration, the loss and the reference."""
from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook

from hrnet_train.registry import HOOKS
from hrnet_train.utils.errors import ConfigError, TrainingDivergedError

from ..dist import any_rank, model_device

_FIX = ('Lower the learning rate, enable gradient clipping (optim_wrapper.clip_grad) or check '
        'the data of this batch, then continue from the last checkpoint with --resume '
        '(default_hooks.loss_spike sets the thresholds).')


class LossSpikeError(TrainingDivergedError):
    """Raised by :class:`LossSpikeHook`; the message names the iteration, the loss and the
    reference it was compared with."""


def total_loss(log_vars: dict) -> Optional[float]:
    """The total ``loss`` of ``BaseModel.train_step``'s ``log_vars`` as a float, or None.

    Args:
        log_vars: ``loss`` (the sum of the loss terms) and each term, scalar tensors or floats.
    """
    value = log_vars.get('loss')
    if value is None:
        return None
    return float(value.detach().float().mean()) if torch.is_tensor(value) else float(value)


@HOOKS.register_module()
class LossSpikeHook(Hook):
    """Raise :class:`LossSpikeError` when the total loss is finite but has exploded.

    The loss of iteration ``i`` trips the guard when

    - ``loss > spike_factor * the first positive loss of this process`` (from its second
      iteration on: a run that diverges at once, e.g. lr 1e3, fills any running window with
      exploded values, so the loss of the untrained or just-resumed model is the reference that
      catches it), or
    - ``loss > spike_factor * median(the losses of the previous `window` iterations)``, checked
      once this process has trained ``warmup`` iterations (the window is not checkpointed: after
      a resume it fills again during ``warmup`` iterations); it catches a late spike after the
      loss has fallen far below its first value, or
    - ``loss > max_loss`` (from the first iteration).

    NaN/Inf losses are left to :class:`NonFiniteLossHook`; a window whose median is not positive
    (e.g. losses that are 0 or negative by construction) disables the ratio test for that
    iteration. Like that hook it runs in ``after_train_iter`` at ``ABOVE_NORMAL`` priority, before
    the logger and the checkpoint hook, so the exploded weights are never saved (neither as a
    regular nor as a best checkpoint), and under distributed training the verdict is all-reduced
    so that every rank stops at the same iteration.

    The defaults never stop a normal run: training losses move by a few times between
    iterations (the toy regression of the tests swings ~25x in its first iterations, and at most
    2.5x against the median over 600 iterations), whereas a divergence multiplies the loss by
    orders of magnitude within a few iterations (lr 1e3 on the toy: 0.67 -> 2.8e6 -> 1.2e13).

    Args:
        spike_factor: ratio to the running median that counts as a spike; None disables the
            ratio test.
        window: number of previous iterations whose median is the reference.
        warmup: iterations of this process before the ratio test starts.
        max_loss: absolute limit on the total loss (its scale depends on the loss, so None by
            default).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, *, spike_factor: Optional[float] = 1000.0, window: int = 50,
                 warmup: int = 50, max_loss: Optional[float] = None) -> None:
        if spike_factor is not None and not spike_factor > 1:
            raise ConfigError(f'LossSpikeHook: spike_factor must be > 1 or None, '
                              f'got {spike_factor!r}')
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f'LossSpikeHook: window must be an integer >= 1, got {window!r}')
        if not isinstance(warmup, int) or warmup < 0:
            raise ConfigError(f'LossSpikeHook: warmup must be an integer >= 0, got {warmup!r}')
        if max_loss is not None and not max_loss > 0:
            raise ConfigError(f'LossSpikeHook: max_loss must be > 0 or None, got {max_loss!r}')
        if spike_factor is None and max_loss is None:
            raise ConfigError('LossSpikeHook: spike_factor and max_loss are both None; set one '
                              'or remove the hook (default_hooks.loss_spike=None)')
        self.spike_factor = spike_factor
        self.window = window
        self.warmup = warmup
        self.max_loss = max_loss
        self._recent: deque = deque(maxlen=window)
        self._seen = 0
        self._first: Optional[float] = None

    def before_train(self, runner) -> None:
        self._recent.clear()
        self._seen = 0
        self._first = None

    def _spike(self, loss: float) -> Optional[str]:
        """This rank's verdict on ``loss``: None, or what is wrong with it."""
        if self.max_loss is not None and loss > self.max_loss:
            return f'loss={loss:.4g} exceeds max_loss={self.max_loss:g}'
        if self.spike_factor is None:
            return None
        if self._first is not None and loss > self.spike_factor * self._first:
            return (f'loss={loss:.4g} is {loss / self._first:.3g} x the first loss '
                    f'{self._first:.4g} of this run (spike_factor={self.spike_factor:g})')
        if self._seen < self.warmup or not self._recent:
            return None
        median = statistics.median(self._recent)
        if median > 0 and loss > self.spike_factor * median:
            return (f'loss={loss:.4g} is {loss / median:.3g} x the median {median:.4g} of the '
                    f'last {len(self._recent)} iterations (spike_factor={self.spike_factor:g})')
        return None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence] = None,
                         outputs: Optional[dict] = None) -> None:
        loss = total_loss(outputs) if outputs else None
        finite = loss is not None and math.isfinite(loss)
        reason = self._spike(loss) if finite else None
        if not any_rank(reason is not None, device=model_device(runner.model)):
            if finite:
                self._recent.append(loss)
                self._seen += 1
                if self._first is None and loss > 0:
                    self._first = loss
            return
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        if reason is None:
            message = f'Loss spike on another rank at {where}; see that rank\'s log.'
        else:
            message = f'Loss spike at {where}: {reason}. {_FIX}'
        runner.logger.error(message)
        raise LossSpikeError(message)
