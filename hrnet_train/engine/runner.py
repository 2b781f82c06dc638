"""hrnet-train's Runner: mmengine's Runner with safe, atomic, complete checkpoints.

What it changes relative to mmengine 0.10.7 (REFERENCE §5.2, §6):

- ``load_checkpoint`` / ``resume`` read local files with ``weights_only=True`` plus a small
  allow-list (:func:`hrnet_train.utils.safe_torch_load`); nothing turns safety off globally.
- ``save_checkpoint`` writes ``<file>.tmp``, fsyncs and renames (atomic), and adds the Python,
  numpy and torch RNG states (``rng_states``), restored on resume.
- ``resume=True`` without ``load_from`` resumes from the most trained *valid* ``epoch_*.pth`` /
  ``iter_*.pth`` in ``work_dir``, skipping a truncated newest file with a warning.
- mmengine's train loops (``train_cfg = dict(by_epoch=...)`` or ``type='EpochBasedTrainLoop'`` /
  ``'IterBasedTrainLoop'``) are built as :class:`FastResumeEpochBasedTrainLoop` /
  :class:`FastResumeIterBasedTrainLoop` (resume without replaying the dataloader).
- Distributed training works without CUDA (gloo, DDP without ``device_ids``).
- ``channels_last = True`` in a config converts the model and its input batches.
  ``compile`` and ``sync_bn='torch'`` are mmengine's own options and pass through
  (SyncBN needs CUDA; on CPU it is skipped with a warning).
"""
from __future__ import annotations

import copy
import os.path as osp
import time
from typing import Callable, Dict, Optional, Union

import mmengine
import torch
import torch.nn as nn
from mmengine.dist import is_distributed, master_only
from mmengine.fileio import join_path
from mmengine.model import MMDistributedDataParallel, is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner import EpochBasedTrainLoop
from mmengine.runner import Runner as MMEngineRunner
from mmengine.runner.checkpoint import (_load_checkpoint, _load_checkpoint_to_model,
                                        save_checkpoint, weights_to_cpu)
from mmengine.utils import apply_to, get_git_hash

from hrnet_train.registry import MODEL_WRAPPERS, RUNNERS
from hrnet_train.utils.safe_load import allow_checkpoint_globals, safe_torch_load

from .channels_last import enable_channels_last
from .checkpoint import (find_latest_checkpoint, get_rng_states, save_checkpoint_atomic,
                         set_rng_states)
from .dist import init_cpu_dist

_MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger', 'param_scheduler',
                           'checkpoint')
_LOOP_UPGRADES = {
    'EpochBasedTrainLoop': 'hrnet_train.FastResumeEpochBasedTrainLoop',
    'IterBasedTrainLoop': 'hrnet_train.FastResumeIterBasedTrainLoop',
}
_REMOTE_PREFIXES = ('http://', 'https://', 'torchvision://', 'open-mmlab://', 'openmmlab://',
                    'mmcls://', 'modelzoo://', 's3://', 'pavi://')


def load_checkpoint_file(filename: str, map_location: Union[str, Callable, None] = 'cpu') -> dict:
    """Read a checkpoint: local files with :func:`safe_torch_load`, URLs/zoo names through
    mmengine's loaders inside :func:`allow_checkpoint_globals`."""
    if filename.startswith(_REMOTE_PREFIXES):
        with allow_checkpoint_globals():
            return _load_checkpoint(filename, map_location=map_location)
    return safe_torch_load(filename, map_location=map_location)


@RUNNERS.register_module()
def normalize_sync_bn(value: Union[bool, str, None]) -> Optional[str]:
    """``sync_bn=True`` means torch's SyncBatchNorm; False/None means off. mmengine also knows
    'mmcv', whose SyncBatchNorm is a compiled op that mmcv-lite does not ship."""
    if value is None or value is False:
        return None
    if value is True or value == 'torch':
        return 'torch'
    raise ValueError(f"sync_bn must be True, False or 'torch' (mmcv's compiled SyncBatchNorm is "
                     f"not available with mmcv-lite), got {value!r}")


class Runner(MMEngineRunner):
    """mmengine ``Runner`` with the checkpoint, resume and CPU-distributed changes listed in
    :mod:`hrnet_train.engine.runner`. Same constructor and ``from_cfg``.

    Extra config keys (read from the config, like mmengine's ``compile``):
        channels_last (bool): convert the model and the preprocessed batches to NHWC.
    """

    _capture_resumed_checkpoint = False
    _resumed_checkpoint: Optional[dict] = None
    _cfg_text: Optional[str] = None

    # environment ---------------------------------------------------------------------------------
    def setup_env(self, env_cfg: Dict) -> None:
        """mmengine's setup, with the process group created by :func:`init_cpu_dist` when CUDA
        is unavailable (mmengine's ``init_dist`` calls ``torch.cuda.set_device``)."""
        if self.distributed and not is_distributed() and not torch.cuda.is_available():
            init_cpu_dist(self.launcher, **dict(env_cfg.get('dist_cfg', {})))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict], model: nn.Module) -> nn.Module:
        """Apply ``channels_last``; wrap in DDP (without ``device_ids`` on CPU)."""
        self.cfg['sync_bn'] = normalize_sync_bn(self.cfg.get('sync_bn', None))
        if self.cfg.get('channels_last', False) and not is_model_wrapper(model):
            enable_channels_last(model)
        if not self.distributed or torch.cuda.is_available() or is_model_wrapper(model):
            return super().wrap_model(model_wrapper_cfg, model)
        # CPU (gloo) DDP: mmengine passes device_ids=[LOCAL_RANK], which DDP rejects for CPU.
        model = model.to('cpu')
        if self.cfg.get('sync_bn', None) is not None:
            self.logger.warning('sync_bn is ignored: SyncBatchNorm needs CUDA')
        if model_wrapper_cfg is None:
            return MMDistributedDataParallel(
                module=model, device_ids=None, broadcast_buffers=False,
                find_unused_parameters=self.cfg.get('find_unused_parameters', False))
        wrapper_cfg = copy.deepcopy(model_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'MMDistributedDataParallel')
        return MODEL_WRAPPERS.build(wrapper_cfg, default_args=dict(module=model))

    def register_default_hooks(self, hooks: Optional[Dict] = None) -> None:
        """As mmengine, but ``None`` also removes our extra default hooks (``non_finite_loss``,
        ``preemption``); mmengine accepts ``None`` only for its own names."""
        if hooks is not None:
            hooks = {name: hook for name, hook in hooks.items()
                     if hook is not None or name in _MMENGINE_DEFAULT_HOOKS}
        super().register_default_hooks(hooks)

    def build_train_loop(self, loop):
        """Build the train loop, upgrading mmengine's to the fast-resume ones.

        ``dict(by_epoch=...)`` and ``type='EpochBasedTrainLoop'`` / ``'IterBasedTrainLoop'``
        build :class:`FastResumeEpochBasedTrainLoop` / :class:`FastResumeIterBasedTrainLoop`
        (same arguments and behaviour, but resume without replaying the dataloader and exact
        mid-epoch resume after a preemption checkpoint). ``type='mmengine.IterBasedTrainLoop'``
        keeps mmengine's loop.
        """
        if isinstance(loop, dict):
            loop = copy.deepcopy(loop)
            if 'type' not in loop and 'by_epoch' in loop:
                loop['type'] = ('EpochBasedTrainLoop' if loop.pop('by_epoch')
                                else 'IterBasedTrainLoop')
            if loop.get('type') in _LOOP_UPGRADES:
                loop['type'] = _LOOP_UPGRADES[loop['type']]
        return super().build_train_loop(loop)

    # loading -------------------------------------------------------------------------------------
    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006 - mmengine API
        """Load model weights from ``filename`` with ``weights_only`` semantics.

        Returns:
            the whole checkpoint dict (meta, optimizer, ... as saved).
        """
        checkpoint = load_checkpoint_file(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        if self._capture_resumed_checkpoint:
            self._resumed_checkpoint = checkpoint
        return checkpoint

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        """mmengine's resume (model, optimizer, schedulers, message hub, loop counters, seed),
        then the RNG states saved by :meth:`save_checkpoint`."""
        self._capture_resumed_checkpoint = True
        try:
            super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
            checkpoint = self._resumed_checkpoint or {}
        finally:
            self._capture_resumed_checkpoint = False
            self._resumed_checkpoint = None
        self._restore_sampler_seed(checkpoint.get('meta', {}).get('sampler_seed'))
        if 'rng_states' in checkpoint:
            set_rng_states(checkpoint['rng_states'])
        else:
            self.logger.warning(f'{filename} has no rng_states; random augmentation after '
                                'resume will differ from an uninterrupted run')

    def _train_sampler(self):
        loop = self._train_loop
        dataloader = getattr(loop, 'dataloader', None)
        return getattr(dataloader, 'sampler', None)

    def _restore_sampler_seed(self, seed: Optional[int]) -> None:
        """Give the train sampler the seed of the interrupted run. It differs when none was
        configured (``randomness.seed=None`` or ``diff_rank_seed=True`` draw a fresh one)."""
        sampler = self._train_sampler()
        if seed is None or sampler is None or not hasattr(sampler, 'seed'):
            return
        if sampler.seed != seed:
            self.logger.info(f'train sampler seed {sampler.seed} -> {seed} (from the checkpoint)')
            sampler.seed = seed

    def _iters_per_epoch(self) -> Optional[int]:
        loop = self._train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            return len(loop.dataloader)
        return None

    def load_or_resume(self) -> None:
        """Load or resume, as mmengine, except for automatic resume.

        ``resume='auto'`` (``tools/train.py --resume``), or ``resume=True`` without
        ``load_from``, picks the latest valid checkpoint of ``work_dir``
        (:func:`find_latest_checkpoint`, not the pointer file). When there is none, ``load_from``
        (if set, e.g. pretrained weights for fine-tuning) is loaded as initial weights, so a
        requeued job can always pass ``--resume``. ``resume=True`` with ``load_from`` resumes
        from that file.
        """
        if self._has_loaded:
            return
        if self._resume == 'auto' or (self._resume and self._load_from is None):
            resume_from = find_latest_checkpoint(self.work_dir,
                                                 iters_per_epoch=self._iters_per_epoch())
            if resume_from is not None:
                self.logger.info(f'Auto-resuming from {resume_from}')
                self.resume(resume_from)
                self._has_loaded = True
                return
            self.logger.info(f'No checkpoint in {self.work_dir} to resume from; starting at '
                             'iteration 0' + (f' from {self._load_from}' if self._load_from
                                              else ''))
            if self._load_from is not None:
                resume, self._resume = self._resume, False  # hooks see a plain load
                try:
                    self.load_checkpoint(self._load_from)
                finally:
                    self._resume = resume
                self._has_loaded = True
        elif self._resume:
            self.resume(self._load_from)
            self._has_loaded = True
        elif self._load_from is not None:
            self.load_checkpoint(self._load_from)
            self._has_loaded = True

    # saving --------------------------------------------------------------------------------------
    def _build_checkpoint(self, meta: dict, save_optimizer: bool,
                          save_param_scheduler: bool) -> dict:
        """The checkpoint dict of mmengine 0.10.7's ``save_checkpoint`` plus ``rng_states``."""
        if self._cfg_text is None:  # yapf formatting costs ~0.3 s; the config does not change
            self._cfg_text = self.cfg.pretty_text
        meta.update(
            cfg=self._cfg_text,
            seed=self.seed,
            experiment_name=self.experiment_name,
            time=time.strftime('%Y%m%d_%H%M%S', time.localtime()),
            mmengine_version=mmengine.__version__ + get_git_hash())
        if hasattr(self.train_dataloader.dataset, 'metainfo'):
            meta.update(dataset_meta=self.train_dataloader.dataset.metainfo)
        sampler_seed = getattr(self._train_sampler(), 'seed', None)
        if isinstance(sampler_seed, int):
            meta.update(sampler_seed=sampler_seed)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        to_cpu = (lambda x: hasattr(x, 'cpu'), lambda x: x.cpu())
        checkpoint = dict(
            meta=meta,
            state_dict=weights_to_cpu(model.state_dict()),
            message_hub=apply_to(self.message_hub.state_dict(), *to_cpu),
            rng_states=get_rng_states(),
        )
        if save_optimizer:
            if not isinstance(self.optim_wrapper, OptimWrapper):
                raise TypeError('runner.optim_wrapper must be an OptimWrapper or '
                                f'OptimWrapperDict, got {type(self.optim_wrapper).__name__}')
            checkpoint['optimizer'] = apply_to(self.optim_wrapper.state_dict(), *to_cpu)
        if save_param_scheduler and self.param_schedulers is None:
            self.logger.warning('`save_param_scheduler` is True but `self.param_schedulers` '
                                'is None, so skip saving parameter schedulers')
            save_param_scheduler = False
        if save_param_scheduler:
            if isinstance(self.param_schedulers, dict):
                checkpoint['param_schedulers'] = {
                    name: [s.state_dict() for s in schedulers]
                    for name, schedulers in self.param_schedulers.items()}
            else:
                checkpoint['param_schedulers'] = [s.state_dict() for s in self.param_schedulers]
        return checkpoint

    @master_only
    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """Save model, optimizer, schedulers, message hub, RNG states and dataset meta.

        Local paths are written atomically (:func:`save_checkpoint_atomic`); other backends
        (``backend_args`` / URIs) go through mmengine's ``save_checkpoint``. Arguments as in
        mmengine (``meta['epoch']``/``meta['iter']`` default to the completed epoch/iteration).
        """
        if meta is None:
            meta = {}
        elif not isinstance(meta, dict):
            raise TypeError(f'meta should be a dict or None, but got {type(meta)}')
        else:
            meta = dict(meta)
        if by_epoch:
            # called from after_train_epoch, before the loop increments the epoch
            meta.setdefault('epoch', self.epoch + 1)
            meta.setdefault('iter', self.iter)
        else:
            meta.setdefault('epoch', self.epoch)
            meta.setdefault('iter', self.iter + 1)
        if file_client_args is not None:
            raise ValueError('file_client_args is deprecated; use backend_args')
        filepath = join_path(out_dir, filename, backend_args=backend_args)
        checkpoint = self._build_checkpoint(meta, save_optimizer, save_param_scheduler)
        self.call_hook('before_save_checkpoint', checkpoint=checkpoint)
        if backend_args is None and '://' not in filepath:
            save_checkpoint_atomic(checkpoint, filepath)
        else:
            save_checkpoint(checkpoint, filepath, backend_args=backend_args)
        self.logger.info(f'Saved checkpoint {osp.basename(filepath)} '
                         f'(epoch {meta["epoch"]}, iter {meta["iter"]})')
