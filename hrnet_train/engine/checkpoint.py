"""Checkpoint files: atomic writes, finding the latest valid one, RNG states.

A checkpoint is written to ``<path>.tmp`` in the same directory, flushed and fsync'ed, then
renamed over ``<path>`` with ``os.replace`` (atomic on POSIX), so a crash, a preemption or a full
disk during the write never leaves a truncated ``epoch_*.pth`` / ``iter_*.pth`` behind. mmengine's
own ``CheckpointHook`` code writes this way once it is given the :class:`AtomicLocalBackend`
(``backend_args=dict(backend='atomic_local')``, what :class:`AtomicCheckpointHook` sets). Files
truncated by other means (copying, older runs) are detected by :func:`is_valid_checkpoint` and
skipped by :func:`find_latest_checkpoint`.
"""
from __future__ import annotations

import errno
import io
import os
import os.path as osp
import random
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend

from hrnet_train.utils.errors import CheckpointError
from hrnet_train.utils.safe_load import safe_torch_load

_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
LAST_CHECKPOINT_FILE = 'last_checkpoint'
# Name of the storage backend below in mmengine's (global, unscoped) backend table.
ATOMIC_LOCAL_BACKEND = 'atomic_local'


def _fsync_dir(dirname: str) -> None:
    """Persist a rename: fsync the directory entry (no-op where unsupported)."""
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via ``<path>.tmp`` + fsync + ``os.replace``.

    On any error, including a ``KeyboardInterrupt`` raised in the middle of the write (a second
    Ctrl-C), the temporary file is removed and ``path`` keeps its previous content.
    """
    path = os.fspath(path)
    dirname = osp.dirname(osp.abspath(path))
    os.makedirs(dirname, exist_ok=True)
    tmp = path + '.tmp'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:  # never created, or already renamed; the original error matters
            pass
        raise
    _fsync_dir(dirname)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Atomic text write (used for the ``last_checkpoint`` pointer file)."""
    write_bytes_atomic(path, text.encode('utf-8'))


def save_checkpoint_atomic(checkpoint: dict, path: str | os.PathLike) -> None:
    """``torch.save`` ``checkpoint`` to ``path`` atomically (see module docstring)."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_bytes_atomic(path, buffer.getvalue())


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put`` / ``put_text`` replace files atomically.

    Registered as ``'atomic_local'``: ``backend_args=dict(backend='atomic_local')`` on a
    ``CheckpointHook`` makes mmengine's ``save_checkpoint`` (periodic, best and last checkpoints)
    write through :func:`write_bytes_atomic`. Reading, listing and removing are ``LocalBackend``'s.

    Raises:
        CheckpointError: from ``put`` / ``put_text`` when the write fails (disk full, I/O error);
            the file's previous version and every other file are untouched, no ``.tmp`` is left.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write ``obj`` to ``filepath`` via ``<filepath>.tmp`` + fsync + ``os.replace``."""
        try:
            write_bytes_atomic(filepath, obj)
        except OSError as exc:
            raise CheckpointError(_write_failed_message(filepath, exc)) from exc

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Atomic text write (see :meth:`put`)."""
        self.put(obj.encode(encoding), filepath)


def _write_failed_message(filepath: Union[str, Path], exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno is not None and exc.errno in errno.errorcode:
        reason = f'{errno.errorcode[exc.errno]}: {reason}'
    return (f'cannot write checkpoint {os.fspath(filepath)} ({reason}); nothing was replaced, '
            'the previous checkpoint is intact: free disk space (or lower '
            'default_hooks.checkpoint.max_keep_ckpts, keeping at least 2) and continue with '
            '--resume')


register_backend(ATOMIC_LOCAL_BACKEND, AtomicLocalBackend)


def is_valid_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a complete checkpoint.

    torch's zip format is checked without unpickling: the central directory (at the end of the
    file, so truncation removes it) must parse and every member's CRC must match. Legacy
    (non-zip) files are checked by loading them with :func:`safe_torch_load`.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        return False
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                return zf.testzip() is None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            return False
    try:
        safe_torch_load(path)
    except (RuntimeError, FileNotFoundError):
        return False
    return True


def _checkpoint_progress(name: str, iters_per_epoch: int | None) -> tuple[int, int] | None:
    """Sort key of a checkpoint file name: (training iterations, epoch files after iter files)."""
    match = _CKPT_NAME.match(name)
    if match is None:
        return None
    kind, number = match.group(1), int(match.group(2))
    if kind == 'iter':
        return number, 0
    if iters_per_epoch is None:
        return number, 1
    return number * iters_per_epoch, 1


def list_checkpoints(work_dir: str | os.PathLike, *,
                     iters_per_epoch: int | None = None) -> list[str]:
    """``epoch_*.pth`` and ``iter_*.pth`` in ``work_dir``, newest (most trained) first.

    Args:
        work_dir: directory to scan (not recursive).
        iters_per_epoch: iterations in one epoch. It puts ``epoch_E.pth`` at iteration
            ``E * iters_per_epoch`` so that epoch checkpoints and the ``iter_N.pth`` written by
            :class:`PreemptionCheckpointHook` during an epoch-based run sort together. Without it,
            a directory holding both kinds is ordered by modification time.
    """
    work_dir = os.fspath(work_dir)
    if not osp.isdir(work_dir):
        return []
    entries = []
    for name in os.listdir(work_dir):
        key = _checkpoint_progress(name, iters_per_epoch)
        if key is not None:
            entries.append((key, name))
    kinds = {name.split('_')[0] for _, name in entries}
    if len(kinds) > 1 and iters_per_epoch is None:
        entries.sort(key=lambda e: (osp.getmtime(osp.join(work_dir, e[1])), e[0]), reverse=True)
    else:
        entries.sort(reverse=True)
    return [osp.join(work_dir, name) for _, name in entries]


def find_latest_checkpoint(work_dir: str | os.PathLike, *,
                           iters_per_epoch: int | None = None) -> str | None:
    """The most trained *valid* checkpoint in ``work_dir``, or None.

    Candidates are ``epoch_*.pth`` / ``iter_*.pth`` ordered by :func:`list_checkpoints`; the
    ``last_checkpoint`` pointer is not trusted (it may name a file that was later truncated).
    A corrupt or truncated candidate is skipped with a warning naming it.
    """
    for path in list_checkpoints(work_dir, iters_per_epoch=iters_per_epoch):
        if is_valid_checkpoint(path):
            return path
        warnings.warn(f'checkpoint {path} is truncated or corrupt; falling back to an older one',
                      stacklevel=2)
    return None


def get_rng_states() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) RNG states, in types ``weights_only`` accepts."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = dict(
        python=dict(version=py_version, state=list(py_state), gauss=py_gauss),
        numpy=dict(bit_generator=np_state['bit_generator'],
                   key=[int(v) for v in np_state['state']['key']],
                   pos=int(np_state['state']['pos']),
                   has_gauss=int(np_state['has_gauss']),
                   gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_states` returned. Missing entries are left alone."""
    if 'python' in states:
        s = states['python']
        random.setstate((s['version'], tuple(s['state']), s['gauss']))
    if 'numpy' in states:
        s = states['numpy']
        np.random.set_state(dict(
            bit_generator=s['bit_generator'],
            state=dict(key=np.asarray(s['key'], dtype=np.uint32), pos=s['pos']),
            has_gauss=s['has_gauss'], gauss=s['gauss']))
    if 'torch' in states:
        torch.set_rng_state(states['torch'].cpu())
    if 'cuda' in states and torch.cuda.is_available():
        cuda_states = states['cuda']
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
