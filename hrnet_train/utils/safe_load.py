"""Load checkpoints with ``torch.load(weights_only=True)`` semantics on every torch >= 2.1.

torch >= 2.6 loads with ``weights_only=True`` by default and rejects the numpy arrays/scalars and
mmengine ``HistoryBuffer`` objects that mmengine checkpoints carry in ``meta``/``message_hub``
(REFERENCE §5.2). Instead of turning safety off globally, the few types such files need are
allow-listed for the duration of one load.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import numpy as np
import torch


def _safe_globals() -> list:
    """The allow-list: numpy array/scalar reconstruction, dtypes, and mmengine's HistoryBuffer."""
    items: list = [getattr, np.ndarray, np.dtype]
    try:  # numpy >= 1.25 / 2.x
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    items += [_reconstruct, scalar]
    for name in ('Float64DType', 'Float32DType', 'Float16DType', 'Int64DType', 'Int32DType',
                 'Int16DType', 'Int8DType', 'UInt64DType', 'UInt32DType', 'UInt16DType',
                 'UInt8DType', 'BoolDType'):
        cls = getattr(np.dtypes, name, None) if hasattr(np, 'dtypes') else None
        if cls is not None:
            items.append(cls)
    items += [np.float64, np.float32, np.int64, np.int32, np.bool_]
    try:
        from mmengine.logging import HistoryBuffer
        items.append(HistoryBuffer)
    except ImportError:  # pragma: no cover
        pass
    return items


@contextlib.contextmanager
def allow_checkpoint_globals() -> Iterator[None]:
    """Context in which ``torch.load(weights_only=True)`` accepts mmengine checkpoint contents."""
    if hasattr(torch.serialization, 'safe_globals'):
        with torch.serialization.safe_globals(_safe_globals()):
            yield
    elif hasattr(torch.serialization, 'add_safe_globals'):  # pragma: no cover - torch 2.4
        torch.serialization.add_safe_globals(_safe_globals())
        yield
    else:  # pragma: no cover - torch < 2.4: plain state dicts load; numpy metadata cannot
        yield


def safe_torch_load(path: str | os.PathLike, map_location: Any = 'cpu') -> Any:
    """``torch.load`` with ``weights_only=True`` plus the checkpoint allow-list.

    Raises:
        FileNotFoundError: naming ``path`` when it does not exist.
        RuntimeError: naming ``path`` when the file is truncated, corrupt or holds disallowed
            objects.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    try:
        with allow_checkpoint_globals():
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name, one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(f'cannot load checkpoint {path}: {first}') from exc
