"""A progress bar over validation/test batches (mmengine's loops only log every N batches)."""
from __future__ import annotations

import sys
from typing import Optional, TextIO

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar

from hrnet_train.registry import HOOKS


@HOOKS.register_module()
class EvalProgressBarHook(Hook):
    """Show ``done/total, items/s, elapsed, ETA`` while evaluating, on the main rank.

    Args:
        only_tty: show the bar only when the output is a terminal (log files stay clean).
        file: where to draw; default ``sys.stdout``.
    """

    priority = 'VERY_LOW'

    def __init__(self, *, only_tty: bool = True, file: Optional[TextIO] = None) -> None:
        self.only_tty = only_tty
        self.file = file
        self._bar: Optional[ProgressBar] = None

    def _start(self, dataloader) -> None:
        out = self.file or sys.stdout
        if not is_main_process() or (self.only_tty and not out.isatty()):
            self._bar = None
            return
        self._bar = ProgressBar(len(dataloader), file=out)

    def _step(self) -> None:
        if self._bar is not None:
            self._bar.update()

    def _finish(self) -> None:
        if self._bar is not None:
            (self.file or sys.stdout).write('\n')
            self._bar = None

    def before_val_epoch(self, runner) -> None:
        self._start(runner.val_dataloader)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._finish()

    def before_test_epoch(self, runner) -> None:
        self._start(runner.test_dataloader)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._finish()
