"""Config handling shared by ``tools/train.py`` and ``tools/test.py``."""
from __future__ import annotations

import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config

YACS_SUFFIXES = ('.yaml', '.yml')


def load_config(path: str) -> Config:
    """Read a Python config, or convert an official HRNet yacs YAML experiment file
    (``hrnet_train.utils.yacs_import``).

    Raises:
        SystemExit: with a one-line message naming the file when it is missing or invalid.
    """
    try:
        if path.lower().endswith(YACS_SUFFIXES):
            from hrnet_train.utils.yacs_import import yacs_to_config
            return yacs_to_config(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'config file not found: {path}')
        return Config.fromfile(path)
    except (FileNotFoundError, ValueError, KeyError, SyntaxError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SystemExit(f'error: {msg}' if path in msg else f'error: {path}: {msg}') from None


def prepare_config(config_path: str, *, cfg_options: Optional[dict], launcher: str,
                   work_dir: Optional[str]) -> Config:
    """What train.py and test.py share: load, apply ``--cfg-options``, launcher, work dir
    (default ``./work_dirs/<config name>``) and the distributed backend."""
    cfg = load_config(config_path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(config_path)
    select_dist_backend(cfg)
    return cfg


def default_work_dir(config_path: str) -> str:
    """``./work_dirs/<config file name without suffix>``."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def select_dist_backend(cfg: Config) -> None:
    """Use gloo when CUDA is unavailable (nccl needs GPUs); otherwise keep the config's."""
    if not torch.cuda.is_available():
        env_cfg = cfg.setdefault('env_cfg', {})
        dist_cfg = env_cfg.setdefault('dist_cfg', {})
        dist_cfg['backend'] = 'gloo'


def build_runner(cfg: Config):
    """hrnet_train's :class:`~hrnet_train.engine.Runner`, unless the config sets ``runner_type``
    (then that entry of ``RUNNERS`` builds it)."""
    from hrnet_train.engine.runner import Runner
    from hrnet_train.registry import RUNNERS
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def finish_distributed() -> None:
    """Wait for every rank, then destroy the process group.

    Without this, a rank that finishes first (rank 0 may still be writing a checkpoint) tears
    down gloo/NCCL threads at interpreter exit, which can abort it (SIGABRT, "terminate called
    without an active exception") and make torchrun report the job as failed.
    """
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
