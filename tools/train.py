"""Train a model from a config.

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--amp-dtype DTYPE]
                          [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
                          [--auto-scale-lr]

CONFIG is a Python config (``configs/...py``) or an official HRNet yacs experiment file
(``*.yaml``), converted by ``hrnet_train.utils.yacs_import.yacs_to_config``.
See docs/training.md.
"""
from __future__ import annotations

import argparse
import os

import torch
from mmengine.config import Config, DictAction

from hrnet_train.engine.launch import build_runner, finish_distributed, prepare_config
from hrnet_train.utils import register_all_modules


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model (hrnet-train)')
    parser.add_argument('config', help='Python config file, or an official yacs .yaml experiment')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto', default=None, metavar='CKPT',
        help='resume from CKPT; without a value (or "auto") resume from the latest valid '
        'checkpoint in the work dir, falling back to an older one when the newest is corrupt')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (hrnet_train AmpOptimWrapper, torch.amp)')
    parser.add_argument('--amp-dtype', choices=('float16', 'bfloat16'), default=None,
                        help='AMP compute dtype (default: float16 on CUDA, bfloat16 on CPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by (total batch size / auto_scale_lr.base_batch_size)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value (e.g. train_dataloader.batch_size=16 '
        "model.backbone.arch=w48 'optim_wrapper.optimizer.lr=1e-3')")
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local_rank (old) or --local-rank (torch >= 2.0);
    # torchrun passes LOCAL_RANK in the environment instead (REFERENCE §5.2).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def apply_amp(cfg: Config, dtype: str | None) -> None:
    """Switch the optimizer wrapper to hrnet_train's ``AmpOptimWrapper``."""
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None:
        raise SystemExit('--amp needs an `optim_wrapper` in the config')
    if dtype is None:
        dtype = 'float16' if torch.cuda.is_available() else 'bfloat16'
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type not in ('OptimWrapper', 'AmpOptimWrapper'):
        raise SystemExit(
            f'--amp works with optim_wrapper.type="OptimWrapper", got "{wrapper_type}"')
    optim_wrapper['type'] = 'AmpOptimWrapper'
    optim_wrapper['dtype'] = dtype
    optim_wrapper.setdefault('loss_scale', 'dynamic')


def apply_resume(cfg: Config, resume: str | None) -> None:
    """``auto``: latest valid checkpoint of the work dir, else the config's ``load_from`` as
    initial weights (see ``Runner.load_or_resume``); a path: resume from that file."""
    if resume == 'auto':
        cfg.resume = 'auto'
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume


def apply_auto_scale_lr(cfg: Config) -> None:
    auto_scale_lr = cfg.get('auto_scale_lr')
    if not auto_scale_lr or 'base_batch_size' not in auto_scale_lr:
        raise SystemExit('--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` '
                         'in the config')
    auto_scale_lr['enable'] = True


def build_config(args: argparse.Namespace) -> Config:
    cfg = prepare_config(args.config, cfg_options=args.cfg_options, launcher=args.launcher,
                         work_dir=args.work_dir)
    if args.amp:
        apply_amp(cfg, args.amp_dtype)
    elif args.amp_dtype is not None:
        raise SystemExit('--amp-dtype needs --amp')
    if args.auto_scale_lr:
        apply_auto_scale_lr(cfg)
    apply_resume(cfg, args.resume)
    return cfg


def main(argv: list[str] | None = None):
    """Parse ``argv`` (default ``sys.argv[1:]``), train, and return the runner."""
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    cfg = build_config(args)
    runner = build_runner(cfg)
    runner.train()
    finish_distributed()
    return runner


if __name__ == '__main__':
    main()
