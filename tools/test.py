"""Evaluate a checkpoint on the config's test set and print the metrics.

Usage::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out metrics.json]
                         [--dump PREFIX] [--cfg-options k=v ...] [--launcher ...] [--debug]

``--out FILE`` writes the metrics dict as JSON (NaN/Inf as null). ``--dump PREFIX`` asks the
metrics to write their formatted results: every test metric that takes ``outfile_prefix`` gets
``outfile_prefix=PREFIX`` (the COCO keypoint metric writes ``PREFIX.keypoints.json``, COCO results
format); a trailing ``.json`` / ``.keypoints.json`` on PREFIX is stripped. When no metric takes
``outfile_prefix``, mmengine's ``DumpResults`` writes the raw predictions to ``PREFIX.pkl``.
A mistake is reported as one line ``error: ...`` with exit code 2 (``--debug`` shows the
traceback). See docs/training.md and docs/errors.md.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import os.path as osp
from numbers import Number

import numpy as np
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
from hrnet_train.utils import register_all_modules


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ToolArgumentParser(description='Test a checkpoint (hrnet-train)')
    parser.add_argument('config', help='Python config file, or an official yacs .yaml experiment')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for logs (default: ./work_dirs/<config>)')
    parser.add_argument('--out', metavar='FILE', help='write the metrics as JSON to FILE')
    parser.add_argument(
        '--dump', metavar='PREFIX',
        help='write formatted results: sets `outfile_prefix` of every test metric that has one '
        '(COCO keypoints: PREFIX.keypoints.json); otherwise dumps predictions to PREFIX.pkl')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help="override config entries, key=value; data_root=DIR also moves every "
                        "dataset that uses the config's data_root")
    add_speed_arguments(parser, test=True)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def dump_prefix(path: str) -> str:
    """``out/res.keypoints.json`` -> ``out/res``; ``out/res.json`` -> ``out/res``."""
    for suffix in ('.keypoints.json', '.json'):
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return path


def _metric_takes_outfile_prefix(metric_cfg: dict) -> bool:
    from hrnet_train.registry import METRICS
    metric_cls = METRICS.get(metric_cfg.get('type', ''))
    if metric_cls is None:
        return False
    return 'outfile_prefix' in inspect.signature(metric_cls.__init__).parameters


def apply_dump(cfg: Config, prefix: str) -> list[str]:
    """Point the test metrics at ``prefix``; returns a description of what will be written."""
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, dict) and 'metrics' in evaluator:  # dict(type='Evaluator', metrics=..)
        metrics = evaluator['metrics']
    else:
        metrics = evaluator
    if isinstance(metrics, dict):
        metrics = [metrics]
    metrics = list(metrics)
    written = []
    for metric in metrics:
        if _metric_takes_outfile_prefix(metric):
            metric['outfile_prefix'] = prefix
            written.append(f'{metric["type"]}: {prefix}.*')
    if not written:
        metrics.append(ConfigDict(type='DumpResults', out_file_path=prefix + '.pkl'))
        written.append(f'DumpResults: {prefix}.pkl')
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator['metrics'] = metrics
    else:
        cfg.test_evaluator = metrics
    return written


def _to_jsonable(value):
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return _to_jsonable(value.tolist())
    if hasattr(value, 'tolist'):  # torch tensors
        return _to_jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN/Infinity (e.g. IoU of a class absent from the set)
    if value is None or isinstance(value, (str, bool, Number)):
        return value
    return str(value)


def build_config(args: argparse.Namespace) -> Config:
    cfg = prepare_config(args.config, cfg_options=args.cfg_options, launcher=args.launcher,
                         work_dir=args.work_dir)
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):  # URLs load later
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint
    apply_speed_arguments(cfg, args)
    cfg.resume = False
    if args.dump is not None:
        apply_dump(cfg, dump_prefix(args.dump))
    return cfg


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    cfg = build_config(args)
    runner = build_runner(cfg)
    metrics = runner.test()
    if is_main_process():
        print(json.dumps(_to_jsonable(metrics), indent=2))
        if args.out is not None:
            out_dir = osp.dirname(osp.abspath(args.out))
            os.makedirs(out_dir, exist_ok=True)
            with open(args.out, 'w') as f:
                json.dump(_to_jsonable(metrics), f, indent=2)
    finish_distributed()
    return metrics


if __name__ == '__main__':
    exit_process(run_tool(main))
