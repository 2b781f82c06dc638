"""Train a model from a config.

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--amp-dtype DTYPE]
                          [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
                          [--auto-scale-lr] [--tensorboard] [--debug]

CONFIG is a Python config (``configs/...py``) or an official HRNet yacs experiment file
(``*.yaml``), converted by ``hrnet_train.config.yacs_import.yacs_to_config``. The config is
validated before anything is built. A mistake is reported as one line ``error: ...`` with exit
code 2 (``--debug`` shows the traceback). See docs/training.md and docs/errors.md.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import time

import torch
from mmengine.config import Config, ConfigDict
from mmengine.dist import is_main_process

from hrnet_train.config import CfgOptionsAction, prepare_config
from hrnet_train.engine.launch import (
    ToolArgumentParser,
    add_speed_arguments,
    apply_speed_arguments,
    build_runner,
    exit_process,
    finish_distributed,
    run_tool,
)
from hrnet_train.engine.train_summary import train_summary
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ToolArgumentParser(description='Train a model (hrnet-train)')
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
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override config entries, key=value (e.g. train_dataloader.batch_size=16 '
        "model.backbone.arch=w48 'optim_wrapper.optimizer.lr=1e-3'); data_root=DIR also moves "
        "every dataset that uses the config's data_root")
    parser.add_argument('--tensorboard', action='store_true',
                        help='also write TensorBoard events (adds TensorboardVisBackend to '
                        'visualizer.vis_backends; needs the tensorboard package)')
    add_speed_arguments(parser, test=False)
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
        raise ConfigError('--amp needs an `optim_wrapper` in the config')
    if dtype is None:
        dtype = 'float16' if torch.cuda.is_available() else 'bfloat16'
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type not in ('OptimWrapper', 'AmpOptimWrapper'):
        raise ConfigError(
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
        if '://' not in resume and not os.path.isfile(resume):  # URLs load later
            raise FileNotFoundError(f'--resume {resume}: checkpoint file not found')
        cfg.resume = True
        cfg.load_from = resume


def apply_auto_scale_lr(cfg: Config) -> None:
    auto_scale_lr = cfg.get('auto_scale_lr')
    if not auto_scale_lr or 'base_batch_size' not in auto_scale_lr:
        raise ConfigError('--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` '
                          'in the config')
    auto_scale_lr['enable'] = True


def apply_tensorboard(cfg: Config) -> None:
    """Add ``TensorboardVisBackend`` to ``visualizer.vis_backends`` (keeping the others).

    mmengine's ``--cfg-options`` cannot append a dict to a list, so this is a switch.
    """
    if importlib.util.find_spec('tensorboard') is None:
        raise ConfigError('--tensorboard needs the tensorboard package (pip install tensorboard)')
    visualizer = cfg.get('visualizer')
    if not isinstance(visualizer, dict):
        raise ConfigError('--tensorboard needs a `visualizer` dict in the config')
    backends = list(visualizer.get('vis_backends') or [])
    if not any(isinstance(b, dict) and str(b.get('type', '')).endswith('TensorboardVisBackend')
               for b in backends):
        backends.append(ConfigDict(type='TensorboardVisBackend'))
    visualizer['vis_backends'] = backends


def build_config(args: argparse.Namespace) -> Config:
    cfg = prepare_config(args.config, cfg_options=args.cfg_options, launcher=args.launcher,
                         work_dir=args.work_dir)
    if args.amp:
        apply_amp(cfg, args.amp_dtype)
    elif args.amp_dtype is not None:
        raise ConfigError('--amp-dtype needs --amp')
    if args.auto_scale_lr:
        apply_auto_scale_lr(cfg)
    if args.tensorboard:
        apply_tensorboard(cfg)
    apply_speed_arguments(cfg, args)
    apply_resume(cfg, args.resume)
    return cfg


def main(argv: list[str] | None = None):
    """Parse ``argv`` (default ``sys.argv[1:]``), train, and return the runner.

    Errors propagate; ``python tools/train.py`` reports them through
    :func:`~hrnet_train.engine.launch.run_tool` (one line, exit code 2).
    """
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    cfg = build_config(args)
    runner = build_runner(cfg)
    start = time.time()
    runner.train()
    if is_main_process():
        runner.logger.info('training done\n  ' +
                           '\n  '.join(train_summary(runner, time.time() - start)))
    finish_distributed()
    return runner


if __name__ == '__main__':
    exit_process(run_tool(main))
