"""What the command-line tools share.

- :func:`build_runner`, :func:`finish_distributed` and the pieces of the config preparation that
  belong to the engine (:func:`default_work_dir`, :func:`select_dist_backend`); the preparation
  itself is :func:`hrnet_train.config.prepare_config`.
- :class:`ToolArgumentParser` and :func:`run_tool`: every tool answers a user's mistake with one
  line ``error: ...`` on stderr and a documented exit code (docs/errors.md); ``--debug`` or
  ``HRNET_DEBUG=1`` prints the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import re
import sys
import traceback
from typing import Any, Callable, NoReturn, Optional, Sequence

import torch
from mmengine.config import Config

from hrnet_train.utils.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    MissingDependencyError,
    TrainingDivergedError,
)

DEBUG_ENV = 'HRNET_DEBUG'
EXIT_INPUT_ERROR = 2  # a user's mistake: config, data, checkpoint, path, argument
EXIT_FAILED = 1  # training diverged, or an unexpected error
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
# Exceptions that mean "the input is wrong". Builders raise the builtin types for bad configs
# (mmengine: KeyError for an unknown type, TypeError for a bad argument).
_INPUT_ERRORS = (ConfigError, DataError, CheckpointError, MissingDependencyError, ValueError,
                 KeyError, TypeError, AssertionError, FileNotFoundError, FileExistsError,
                 IsADirectoryError, NotADirectoryError, PermissionError)
_WORKER_ERROR = re.compile(r'^Caught (\S+) in DataLoader worker process \d+\.')


# ------------------------------------------------------------------------------ configs
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
    global _used_process_group
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
        _used_process_group = True


_used_process_group = False


def exit_process(code: int) -> NoReturn:
    """End a tool with ``code``.

    After a distributed run, gloo's C++ threads can still abort the interpreter's shutdown
    ("terminate called without an active exception", SIGABRT) even after
    :func:`finish_distributed`, making torchrun report a finished job as failed. Such a process
    flushes its logs and streams and leaves with ``os._exit``, skipping those destructors (every
    checkpoint and result file is closed by then); any other process exits normally.
    """
    if not _used_process_group:
        sys.exit(code)
    import logging
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# ------------------------------------------------------------------------------ errors
class ToolArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with ``--debug`` and one-line errors (exit code 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument('--debug', action='store_true',
                          help=f'on an error, print the traceback (also {DEBUG_ENV}=1)')

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT_ERROR, f'error: {message}; see {self.prog} --help\n')


def add_speed_arguments(parser: argparse.ArgumentParser, *, test: bool) -> None:
    """The speed switches of ``tools/train.py`` (``test=False``) and ``tools/test.py``
    (``test=True``); :func:`apply_speed_arguments` writes them into the config."""
    parser.add_argument('--channels-last', action='store_true',
                        help='NHWC model and input batches (config key channels_last)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the backbone, neck and head (config key compile; '
                        'eager with a warning where torch.compile does not work)')
    if not test:
        parser.add_argument('--gemm-weight-grad', action='store_true',
                            help='weight gradients of the stride-1 convolutions as GEMMs in '
                            'channels_last CPU training (config key gemm_weight_grad; for '
                            'AVX2-only CPUs)')
    if test:
        fold = parser.add_mutually_exclusive_group()
        fold.add_argument('--fuse-bn', action='store_true',
                          help='fold BatchNorm into the convolutions (config key fuse_bn)')
        fold.add_argument('--onednn', dest='fuse_bn', action='store_const', const='onednn',
                          help="CPU: fold BatchNorm and run oneDNN's prepacked convolutions "
                          "with their ReLU and residual add fused (fuse_bn='onednn')")


def apply_speed_arguments(cfg: Config, args: argparse.Namespace) -> None:
    """Set ``channels_last`` / ``compile`` / ``fuse_bn`` / ``gemm_weight_grad`` for the switches
    given (a switch never turns off what the config enables; ``--onednn`` sets
    ``fuse_bn='onednn'``)."""
    for key in ('channels_last', 'compile', 'fuse_bn', 'gemm_weight_grad'):
        value = getattr(args, key, False)
        if value:
            cfg[key] = value if isinstance(value, str) else (cfg.get(key) or True)


def run_tool(main: Callable[[list], Any], argv: Optional[Sequence[str]] = None) -> int:
    """Run a tool's ``main(argv)`` and turn an exception into one line on stderr.

    Args:
        main: the tool's entry point; it receives the argument list.
        argv: default ``sys.argv[1:]``. ``--debug`` in it, or ``HRNET_DEBUG=1``, prints the
            traceback instead of the line (same exit code).

    Returns:
        the exit code: ``main``'s int result (0 for any other result), 2 for a user's mistake
        (:data:`_INPUT_ERRORS`), 1 for a diverged training or an unexpected error, 130 for a
        KeyboardInterrupt (a second Ctrl-C). ``SystemExit`` passes through.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = '--debug' in args or os.environ.get(DEBUG_ENV, '') not in ('', '0')
    try:
        result = main(args)
    except KeyboardInterrupt:
        _report(interrupted_message(), debug)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - every error becomes one line
        code = exit_code(exc)
        line = f'error: {error_message(exc)}'
        if code == EXIT_FAILED and not isinstance(exc, FloatingPointError):
            line = (f'error: {type(exc).__name__}: {error_message(exc)} (unexpected; rerun with '
                    '--debug for the traceback)')
        _report(line, debug)
        return code
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def exit_code(exc: BaseException) -> int:
    """2 for a user's mistake, 1 for a diverged training (``TrainingDivergedError`` or any
    ``FloatingPointError``) and for anything unexpected, 130 for ``KeyboardInterrupt``."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, (TrainingDivergedError, FloatingPointError)):
        return EXIT_FAILED
    return EXIT_INPUT_ERROR if isinstance(exc, _INPUT_ERRORS) else EXIT_FAILED


def error_message(exc: BaseException) -> str:
    """The message of ``exc`` on one line.

    A KeyError's quotes are dropped, and an exception re-raised from a DataLoader worker
    ("Caught ValueError in DataLoader worker process 0. Original Traceback ...") is reduced to
    the original message. Everything else is kept, joined onto one line.
    """
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    else:
        text = str(exc)
    text = _original_worker_message(text)
    message = ' '.join(line.strip() for line in text.splitlines() if line.strip())
    return message or type(exc).__name__


def interrupted_message() -> str:
    """The line for a second Ctrl-C, naming the last checkpoint this process knows of."""
    last = _last_checkpoint()
    known = (f'the last checkpoint is {last} (continue with --resume)' if last
             else 'no earlier checkpoint of this run is known')
    return f'error: interrupted: no checkpoint was written for the current iteration; {known}'


def _report(line: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    else:
        print(line, file=sys.stderr, flush=True)


def _original_worker_message(text: str) -> str:
    """``Caught ValueError in DataLoader worker ... ValueError: msg`` -> ``msg``."""
    first, _, rest = text.partition('\n')
    match = _WORKER_ERROR.match(first.strip())
    if match is None or 'Traceback' not in rest:
        return text
    lines = rest.rstrip().splitlines()
    tail: list[str] = []  # the exception lines after the last indented (code) line
    for line in reversed(lines):
        if line.startswith((' ', '\t')) or not line.strip():
            break
        tail.insert(0, line)
    if not tail:
        return first
    name = match.group(1)
    message = '\n'.join(tail)
    prefix = re.match(rf'^(?:[\w.]+\.)?{re.escape(name)}: ?', message)
    return message[prefix.end():] if prefix else message


def _last_checkpoint() -> Optional[str]:
    from mmengine.logging import MessageHub
    # The Runner's hub is the current one; CheckpointHook and resume set 'last_ckpt' in it.
    last = MessageHub.get_current_instance().get_info('last_ckpt')
    return last if isinstance(last, str) and osp.isfile(last) else None
