"""hrnet-train's Runner: mmengine's Runner with safe loading, one training per work dir and
CPU-distributed training.

What it changes relative to mmengine 0.10.7 (REFERENCE §5.2, §6):

- ``load_checkpoint`` (``load_from``, ``tools/test.py``) and ``resume`` go through the one
  loader, :func:`hrnet_train.models.utils.load_checkpoint`: every official / OpenMMLab layout,
  ``weights_only=True`` reading, strict by default (every model tensor must come from the file,
  or a one-line CheckpointError names the missing keys or the shapes), a ``loaded N/M tensors``
  log line.
- :class:`DatasetMetaCheckHook` is always registered: a model whose head does not fit the
  dataset (classes, keypoints) stops before the first batch.
- ``train`` holds the work-dir lock (:mod:`hrnet_train.engine.work_dir_lock`): a second training
  in the same work dir, or a fresh one over an earlier run's checkpoints, is refused.
- ``resume=True`` without ``load_from`` resumes from the most trained *valid* ``epoch_*.pth`` /
  ``iter_*.pth`` in ``work_dir``, skipping a truncated newest file with a warning.
- mmengine's train loops (``train_cfg = dict(by_epoch=...)`` or ``type='EpochBasedTrainLoop'`` /
  ``'IterBasedTrainLoop'``) are built as :class:`FastResumeEpochBasedTrainLoop` /
  :class:`FastResumeIterBasedTrainLoop` (resume without replaying the dataloader).
- Distributed training works without CUDA (gloo, DDP without ``device_ids``).
- ``channels_last = True`` in a config converts the model and its input batches; CPU training
  with it warns on a CPU without AVX-512 (:func:`.channels_last.cpu_training_warning`).
- ``gemm_weight_grad = True``: the stride-1 convolutions compute their weight gradient as
  shifted GEMMs in channels_last float32 CPU training
  (:func:`hrnet_train.models.layers.gemm_wgrad_conv.use_gemm_weight_grad`; for AVX2-only CPUs,
  where oneDNN's NHWC weight-gradient kernel is slow).
- ``compile = True`` (or a dict of ``torch.compile`` arguments) compiles the network modules in
  place (:func:`hrnet_train.models.utils.compile_network`: backbone, neck, pose/seg/cls heads;
  the checkpoint keys do not change), instead of mmengine's compiled ``train_step``; in
  ``test()`` with inductor freezing. When ``torch.compile`` does not work on the machine, a
  warning says why and the run is eager.
- ``fuse_bn = True`` folds every BatchNorm into its convolution before ``test()`` (not during
  training's validation: the folded model cannot train); ``fuse_bn = 'onednn'`` also runs the
  CPU convolutions through oneDNN's prepacked kernels with their ReLU and residual add fused
  (:func:`hrnet_train.models.utils.fuse_onednn`; with ``channels_last``, which it turns on; the
  folding alone, with a warning, where the kernel is unavailable).
- Adam, AdamW and SGD are built with torch's fused kernel (``fused=True``) where the build has
  it for the parameters' device (:mod:`hrnet_train.engine.fused_optimizer`; ``fused_optimizer =
  False`` turns it off).
- ``keep_freed_memory = True`` (CPU runs): glibc malloc keeps freed blocks for reuse instead of
  unmapping them (:mod:`hrnet_train.utils.malloc`): large-activation training steps stop
  faulting their pages in again every step.
- ``sync_bn='torch'`` is mmengine's own option and passes through (SyncBN needs CUDA; on CPU it
  is skipped with a warning).

Checkpoint *writing* is mmengine's, extended through hooks: atomic files via the
``'atomic_local'`` storage backend (:class:`AtomicCheckpointHook`), RNG states and the sampler
seed via :class:`ResumeStateHook`. Registered in ``RUNNERS`` as ``Runner``, so a config's
``runner_type='Runner'`` (or ``'hrnet_train.Runner'``) builds it.
"""
from __future__ import annotations

import copy
import logging
from typing import Callable, Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine.dist import broadcast_object_list, is_distributed, is_main_process
from mmengine.model import MMDistributedDataParallel, is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmengine.runner import Runner as MMEngineRunner

from hrnet_train.models.layers.gemm_wgrad_conv import use_gemm_weight_grad
from hrnet_train.models.utils.compile import compile_network
from hrnet_train.models.utils.official_weights import load_checkpoint as load_model_weights
from hrnet_train.models.utils.official_weights import read_checkpoint
from hrnet_train.models.utils.onednn_fuse import apply_fuse_bn
from hrnet_train.registry import MODEL_WRAPPERS, RUNNERS
from hrnet_train.utils.errors import ConfigError
from hrnet_train.utils.malloc import keep_freed_memory

from .channels_last import cpu_training_warning, enable_channels_last
from .checkpoint import find_latest_checkpoint
from .dist import init_cpu_dist
from .fused_optimizer import with_fused_optimizer
from .hooks import DatasetMetaCheckHook, PreemptionCheckpointHook
from .work_dir_lock import WorkDirInUseError, WorkDirLock

_MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger', 'param_scheduler',
                           'checkpoint')
_LOOP_UPGRADES = {
    'EpochBasedTrainLoop': 'hrnet_train.FastResumeEpochBasedTrainLoop',
    'IterBasedTrainLoop': 'hrnet_train.FastResumeIterBasedTrainLoop',
}
def normalize_sync_bn(value: Union[bool, str, None]) -> Optional[str]:
    """``sync_bn=True`` means torch's SyncBatchNorm; False/None means off. mmengine also knows
    'mmcv', whose SyncBatchNorm is a compiled op that mmcv-lite does not ship."""
    if value is None or value is False:
        return None
    if value is True or value == 'torch':
        return 'torch'
    raise ValueError(f"sync_bn must be True, False or 'torch' (mmcv's compiled SyncBatchNorm is "
                     f"not available with mmcv-lite), got {value!r}")


@RUNNERS.register_module()
class Runner(MMEngineRunner):
    """mmengine ``Runner`` with the loading, work-dir lock and CPU-distributed changes listed in
    :mod:`hrnet_train.engine.runner`. Same constructor and ``from_cfg``.

    Extra config keys (read from the config, like mmengine's ``compile``):
        channels_last (bool): convert the model and the preprocessed batches to NHWC.
        gemm_weight_grad (bool): weight gradients of the stride-1 convolutions as GEMMs
            (channels_last float32 CPU training).
        compile (bool | dict): ``torch.compile`` the network modules (training and test).
        fuse_bn (bool | 'onednn'): fold BatchNorm into the convolutions for ``test()``
            (``'onednn'``: and oneDNN's fused CPU convolutions).
        keep_freed_memory (bool): CPU runs: glibc malloc keeps freed memory for reuse.
        fused_optimizer (bool): default True: Adam/AdamW/SGD with ``fused=True`` where available.
    """

    def train(self) -> nn.Module:
        """mmengine's training, holding ``<work_dir>/train.lock`` from start to end.

        Raises:
            WorkDirInUseError: on every rank, when rank 0 finds the work dir taken: another
                training holds the lock (also when resuming); or, without ``resume``, an
                earlier run left a stale lock (it crashed) or checkpoints
                (``epoch_*.pth`` / ``iter_*.pth`` / ``last_checkpoint``).
        """
        lock = self._lock_work_dir()
        if self.cfg.get('channels_last', False) and not torch.cuda.is_available():
            warning = cpu_training_warning(bool(self.cfg.get('gemm_weight_grad', False)))
            if warning:
                self.logger.warning(warning)
        try:
            return super().train()
        finally:  # also on exceptions, and on the SystemExit of PreemptionCheckpointHook
            for hook in self._hooks:  # after_train, which restores them, runs only on success
                if isinstance(hook, PreemptionCheckpointHook):
                    hook.restore_handlers()
            if lock is not None:
                lock.release()

    def test(self) -> dict:
        """mmengine's test, with ``fuse_bn`` and ``compile`` applied once the checkpoint is
        loaded."""
        if self._test_loop is None:
            raise RuntimeError('test() needs test_dataloader, test_cfg and test_evaluator')
        self._test_loop = self.build_test_loop(self._test_loop)
        self.call_hook('before_run')
        self.load_or_resume()
        self._speed_up_inference()
        metrics = self.test_loop.run()
        self.call_hook('after_run')
        return metrics

    def _speed_up_inference(self) -> None:
        model = self.model.module if is_model_wrapper(self.model) else self.model
        mode = self.cfg.get('fuse_bn', False)
        try:
            line, ok = apply_fuse_bn(model, mode, compile=self.cfg.get('compile', None))
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if ok and mode == 'onednn' and not self.cfg.get('channels_last', False):
            enable_channels_last(model)  # the fused kernels run for NHWC inputs only
            line += '; channels_last enabled for it'
        if line:
            self.logger.log(logging.INFO if ok else logging.WARNING, line)
        self._compile_network(model, freeze=True)

    def _maybe_compile(self, target: str) -> None:
        """Called by mmengine's ``train()``: compile the network modules, not ``train_step``."""
        model = self.model.module if is_model_wrapper(self.model) else self.model
        self._compile_network(model, freeze=False)

    def _compile_network(self, model: nn.Module, *, freeze: bool) -> None:
        cfg = self.cfg.get('compile', None)
        if not cfg:
            return
        kwargs = {} if cfg is True else dict(cfg)
        names = compile_network(model, freeze=freeze, **kwargs)
        if names:
            self.logger.info(f'compile: {", ".join(names)} compiled with torch.compile'
                             f'{" (freezing)" if freeze else ""}; the first iterations are '
                             'slow while the graphs are built')

    def _lock_work_dir(self) -> Optional[WorkDirLock]:
        """Rank 0 takes the lock; its verdict is broadcast so that every rank stops."""
        lock, error = None, None
        if is_main_process():
            lock = WorkDirLock(self.work_dir)
            try:
                lock.acquire(resuming=bool(self._resume))
            except Exception as exc:  # the other ranks wait for the verdict below
                lock, error = None, exc
        if is_distributed():
            verdict = [None if error is None else
                       (isinstance(error, WorkDirInUseError), str(error))]
            broadcast_object_list(verdict, src=0)
            if error is None and verdict[0] is not None:
                in_use, message = verdict[0]
                error = WorkDirInUseError(message) if in_use else ConfigError(message)
        if error is not None:
            raise error
        return lock

    # environment ---------------------------------------------------------------------------------
    def setup_env(self, env_cfg: Dict) -> None:
        """mmengine's setup, with the process group created by :func:`init_cpu_dist` when CUDA
        is unavailable (mmengine's ``init_dist`` calls ``torch.cuda.set_device``)."""
        if self.distributed and not is_distributed() and not torch.cuda.is_available():
            init_cpu_dist(self.launcher, **dict(env_cfg.get('dist_cfg', {})))
        super().setup_env(env_cfg)
        self._kept_freed_memory = None  # logged by wrap_model, once the logger exists
        if self.cfg.get('keep_freed_memory', False) and not torch.cuda.is_available():
            self._kept_freed_memory = keep_freed_memory()

    def wrap_model(self, model_wrapper_cfg: Optional[Dict], model: nn.Module) -> nn.Module:
        """Apply ``channels_last``; wrap in DDP (without ``device_ids`` on CPU)."""
        if getattr(self, '_kept_freed_memory', None) is not None:
            self.logger.info('keep_freed_memory: glibc malloc keeps freed blocks for reuse'
                             if self._kept_freed_memory else
                             'keep_freed_memory: not glibc malloc, nothing changed')
        self.cfg['sync_bn'] = normalize_sync_bn(self.cfg.get('sync_bn', None))
        if self.cfg.get('channels_last', False) and not is_model_wrapper(model):
            enable_channels_last(model)
        if self.cfg.get('gemm_weight_grad', False) and not is_model_wrapper(model):
            count = use_gemm_weight_grad(model)
            self.logger.info(f'gemm_weight_grad: {count} convolutions take their weight gradient '
                             f'as GEMMs (channels_last float32 CPU training)'
                             + ('' if self.cfg.get('channels_last', False) else
                                '; channels_last is off, so none will'))
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
        ``loss_spike``, ``resume_state``, ``preemption``, ...); mmengine accepts ``None`` only
        for its own names."""
        if hooks is not None:
            hooks = {name: hook for name, hook in hooks.items()
                     if hook is not None or name in _MMENGINE_DEFAULT_HOOKS}
        super().register_default_hooks(hooks)

    def build_optim_wrapper(self, optim_wrapper):
        """mmengine's build, with ``optimizer.fused = True`` for Adam, AdamW and SGD where
        torch has the kernel (:mod:`hrnet_train.engine.fused_optimizer`; config key
        ``fused_optimizer``, default True; an optimizer config setting ``fused`` or ``foreach``
        is kept)."""
        if self.cfg.get('fused_optimizer', True):
            model = self.model.module if is_model_wrapper(self.model) else self.model
            optim_wrapper, message = with_fused_optimizer(optim_wrapper, model.parameters())
            if message:
                self.logger.info(f'fused_optimizer: {message}')
        return super().build_optim_wrapper(optim_wrapper)

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
                        strict: bool = True,
                        revise_keys: Optional[list] = None):
        """Load model weights from ``filename`` (any layout the one loader knows).

        Args:
            filename: local path (read with ``weights_only=True``), URL or zoo name.
            map_location: as ``torch.load``.
            strict: every model parameter and buffer must come from the file (a classification
                head of an ImageNet file is skipped and reported); False only reports. mmengine's
                ``resume`` calls this without ``strict``, so resuming is strict too.
            revise_keys: mmengine's key rewriting; not needed (wrapper prefixes are stripped by
                the loader) and refused when given, rather than silently ignored.

        Returns:
            the whole checkpoint dict (meta, optimizer, ... as saved).
        """
        if revise_keys:
            raise ConfigError('load_checkpoint: revise_keys is not supported; the loader strips '
                              'module./model. prefixes and renames official layouts itself')
        checkpoint = read_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        load_model_weights(self.model, checkpoint, strict=strict, source=filename,
                           logger=self.logger)
        self._has_loaded = True
        return checkpoint

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        """mmengine's hooks, plus :class:`DatasetMetaCheckHook` for every config."""
        super().register_hooks(default_hooks, custom_hooks)
        if not any(isinstance(h, DatasetMetaCheckHook) for h in self._hooks):
            self.register_hook(DatasetMetaCheckHook())

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
