"""Checkpoint and exit cleanly on SIGTERM/SIGINT (cluster preemption, Ctrl-C)."""
from __future__ import annotations

import os.path as osp
import signal
import sys
import threading
from typing import Optional, Sequence

import torch
from mmengine.dist import barrier, is_distributed, is_main_process
from mmengine.hooks import Hook

from hrnet_train.registry import HOOKS

from ..checkpoint import ATOMIC_LOCAL_BACKEND, LAST_CHECKPOINT_FILE, write_text_atomic
from ..dist import any_rank, model_device


@HOOKS.register_module()
class PreemptionCheckpointHook(Hook):
    """On SIGTERM/SIGINT: finish the current iteration, save ``iter_<n>.pth``, exit with code 0.

    The signal handler only records the request; ``after_train_iter`` (lowest priority, after
    the optimizer step and every other hook of that iteration) saves the checkpoint of iteration
    ``n`` with ``meta = dict(epoch=<current epoch>, iter=n)`` into ``work_dir``, points
    ``last_checkpoint`` at it and calls ``sys.exit(0)``. ``--resume`` then continues at iteration
    ``n + 1``: no iteration is lost or repeated (mid-epoch too, with
    :class:`FastResumeEpochBasedTrainLoop`). The file is written atomically (``'atomic_local'``
    backend), so a second SIGINT, which aborts at once with ``KeyboardInterrupt`` even in the
    middle of that write, leaves no ``.tmp`` and the earlier checkpoints intact.

    Under distributed training each rank gets the signal (torchrun and srun forward it) at
    slightly different times; the request is all-reduced every iteration so that all ranks stop
    after the same iteration. Schedulers give a grace period before SIGKILL (torchrun ~30 s,
    SLURM ``KillWait``; request an earlier signal with ``sbatch --signal=TERM@120``): one
    iteration plus one checkpoint write must fit in it.

    Args:
        signals: names of the signals to handle.
    """

    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGINT')) -> None:
        self.signals = tuple(getattr(signal, name) for name in signals)
        self._requested: Optional[int] = None
        self._previous: dict = {}

    # signal handling -------------------------------------------------------------------------
    def _handle(self, signum: int, frame) -> None:
        if self._requested is not None and signum == signal.SIGINT:
            self.restore_handlers()
            raise KeyboardInterrupt
        self._requested = signum

    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal.signal only works in the main thread
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore_handlers(self) -> None:
        """Put back the handlers that were installed before training (idempotent). The Runner
        calls it when training ends with an exception, where ``after_train`` does not run."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    @property
    def requested(self) -> bool:
        """Whether a stop signal has arrived on this process."""
        return self._requested is not None

    # hook points -----------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        self._requested = None
        self._install_handlers()

    def after_train(self, runner) -> None:
        self.restore_handlers()

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence] = None,
                         outputs: Optional[dict] = None) -> None:
        if not self._stop_requested_anywhere(runner):
            return
        iteration = runner.iter + 1
        filename = f'iter_{iteration}.pth'
        runner.logger.warning(
            f'Stop signal received: saving {filename} after iteration {iteration} and exiting')
        path = osp.join(runner.work_dir, filename)
        if runner.message_hub.get_info('last_ckpt') != path:
            runner.message_hub.update_info('last_ckpt', path)
            runner.save_checkpoint(runner.work_dir, filename,
                                   meta=dict(epoch=runner.epoch, iter=iteration),
                                   by_epoch=False,
                                   backend_args=dict(backend=ATOMIC_LOCAL_BACKEND))
        if is_main_process():
            write_text_atomic(osp.join(runner.work_dir, LAST_CHECKPOINT_FILE), path)
        self.restore_handlers()
        runner.logger.warning(f'Saved {path}; resume with --resume (exiting with code 0)')
        if is_distributed():  # all ranks leave together once rank 0 has written the file
            barrier()
            torch.distributed.destroy_process_group()
        sys.exit(0)

    def _stop_requested_anywhere(self, runner) -> bool:
        return any_rank(self.requested, device=model_device(runner.model))
