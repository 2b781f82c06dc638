"""Training loops that resume without replaying the dataloader.

Both loops read the resume point from the checkpoint's ``meta`` (``iter``, ``epoch``, restored
by the runner into ``loop._iter`` / ``loop._epoch``) and move the sampler there with
``sampler.set_position(iterations * batch_size)`` before the first batch is drawn. No sample is
loaded for the skipped iterations, and the batches after resume are the batches an uninterrupted
run with the same seed would have drawn.

Given a dataloader *config*, each loop swaps mmengine's ``InfiniteSampler`` /
``DefaultSampler`` for :class:`ResumableInfiniteSampler` / :class:`ResumableDefaultSampler`
(same arguments). With any other sampler, or a custom ``batch_sampler``, the position cannot be
computed; the loops then fall back to mmengine's replay, with a warning.

Creating a DataLoader iterator draws the workers' base seed from torch's global generator. The
loops create theirs under :func:`torch.random.fork_rng`, so that this draw does not depend on
where a run started: a resumed run (whose iterator is created after the RNG states are
restored) then draws the same numbers as the uninterrupted one.
"""
from __future__ import annotations

import copy
import logging
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator
from mmengine.runner.utils import calc_dynamic_intervals
from torch.utils.data import BatchSampler, DataLoader

from hrnet_train.registry import LOOPS

from . import samplers  # noqa: F401  (registers the samplers the loops switch to)

_SAMPLER_UPGRADES = {
    'InfiniteSampler': 'hrnet_train.ResumableInfiniteSampler',
    'DefaultSampler': 'hrnet_train.ResumableDefaultSampler',
}


def _upgrade_sampler(dataloader: Union[DataLoader, Dict]) -> Union[DataLoader, Dict]:
    """In a dataloader config, replace mmengine's samplers with the resumable ones."""
    if not isinstance(dataloader, dict):
        return dataloader
    sampler = dataloader.get('sampler')
    if isinstance(sampler, dict) and sampler.get('type') in _SAMPLER_UPGRADES:
        dataloader = copy.deepcopy(dataloader)
        dataloader['sampler']['type'] = _SAMPLER_UPGRADES[sampler['type']]
    return dataloader


def _keep_global_rng():
    """Context in which creating a DataLoader iterator leaves torch's CPU generator as it was."""
    return torch.random.fork_rng(devices=[])


def _resumable_sampler(dataloader: DataLoader):
    """The dataloader's sampler when its position can be set, else None."""
    sampler = getattr(dataloader, 'sampler', None)
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    # A custom batch sampler (e.g. aspect-ratio grouping) reorders indices: positions would lie.
    if type(batch_sampler) is not BatchSampler or not hasattr(sampler, 'set_position'):
        return None
    return sampler


@LOOPS.register_module()
class FastResumeIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` whose resume sets the sampler position in O(1).

    Args: as :class:`mmengine.runner.IterBasedTrainLoop` (runner, dataloader, max_iters,
    val_begin, val_interval, dynamic_intervals).

    The dataloader iterator is created when training starts (after the checkpoint is loaded),
    not in ``__init__``, so no worker prefetches batches from position 0 first.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_iters: int,
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        # IterBasedTrainLoop.__init__ would start iterating the dataloader at position 0.
        BaseLoop.__init__(self, runner, _upgrade_sampler(dataloader))
        self._max_iters = int(max_iters)
        if self._max_iters != max_iters:
            raise ValueError(f'max_iters must be an integer, got {max_iters}')
        self._max_epochs = 1
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = self.dataloader.dataset.metainfo
        self.dataloader_iterator = None
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            self.val_interval, dynamic_intervals)

    def _start_dataloader(self) -> None:
        """Create the dataloader iterator at iteration ``self._iter``."""
        sampler = _resumable_sampler(self.dataloader)
        if sampler is not None:
            position = self._iter * self.dataloader.batch_size
            sampler.set_position(position)
            if self._iter > 0:
                print_log(f'Resuming at iteration {self._iter}: sampler moved to sample '
                          f'{position} of this rank without loading data', logger='current')
            with _keep_global_rng():
                self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)
            return
        with _keep_global_rng():
            self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)
        if self._iter > 0:
            print_log(f'{type(self.dataloader.sampler).__name__} cannot be positioned; advancing '
                      f'the dataloader {self._iter} steps (use ResumableInfiniteSampler)',
                      logger='current', level=logging.WARNING)
            for _ in range(self._iter):
                next(self.dataloader_iterator)

    def run(self) -> torch.nn.Module:
        """Launch training (mmengine's loop body, with :meth:`_start_dataloader`)."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self._start_dataloader()
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model


@LOOPS.register_module()
class FastResumeEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes exactly, also in the middle of an epoch.

    At an epoch boundary mmengine's loop is already exact (the sampler is re-seeded with
    ``seed + epoch``). A checkpoint taken mid-epoch (``meta['iter']`` beyond
    ``meta['epoch'] * len(dataloader)``, as written by :class:`PreemptionCheckpointHook`) makes
    the first resumed epoch skip its already-trained batches via ``set_position`` instead of
    training them twice.

    Args: as :class:`mmengine.runner.EpochBasedTrainLoop`.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict], *args, **kwargs) -> None:
        super().__init__(runner, _upgrade_sampler(dataloader), *args, **kwargs)

    def run_epoch(self) -> None:
        """Iterate one epoch, starting part-way through when resuming mid-epoch."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        start = self._iter - self._epoch * len(self.dataloader)
        if start < 0 or start > len(self.dataloader):
            print_log(f'iteration {self._iter} is outside epoch {self._epoch} '
                      f'({len(self.dataloader)} iterations each); starting the epoch at 0',
                      logger='current', level=logging.WARNING)
            start = 0
        sampler = _resumable_sampler(self.dataloader) if start > 0 else None
        if sampler is not None:
            sampler.set_position(start * self.dataloader.batch_size)
            print_log(f'Resuming epoch {self._epoch + 1} at batch {start} without loading '
                      'the skipped data', logger='current')
        with _keep_global_rng():
            batches = iter(self.dataloader)
        if start > 0 and sampler is None:
            print_log(f'{type(self.dataloader.sampler).__name__} cannot be positioned; '
                      f'loading and discarding {start} batches', logger='current',
                      level=logging.WARNING)
            for _ in range(start):
                next(batches)
        for idx, data_batch in enumerate(batches, start):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
