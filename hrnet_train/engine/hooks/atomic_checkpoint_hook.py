"""mmengine's CheckpointHook writing its checkpoint files atomically."""
from __future__ import annotations

from typing import Optional

from mmengine.hooks import CheckpointHook

from hrnet_train.registry import HOOKS

from ..checkpoint import ATOMIC_LOCAL_BACKEND


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose files go through the ``'atomic_local'`` backend.

    With no ``backend_args``/``file_client_args`` and a local ``out_dir`` (default: the work
    dir), ``backend_args=dict(backend='atomic_local')`` is set, so mmengine's own code for
    periodic, best and last checkpoints writes ``<file>.tmp``, fsyncs and renames it
    (:class:`hrnet_train.engine.checkpoint.AtomicLocalBackend`); a failed write raises
    :class:`~hrnet_train.utils.errors.CheckpointError` and leaves the earlier checkpoints intact.
    Explicit ``backend_args`` (e.g. another storage) are kept as given.

    mmengine 0.10.7 still writes the ``last_checkpoint`` pointer in place; ``--resume`` does not
    read it (:func:`~hrnet_train.engine.checkpoint.find_latest_checkpoint` scans the files).
    """

    def __init__(self, *args, out_dir: Optional[str] = None,
                 backend_args: Optional[dict] = None, file_client_args: Optional[dict] = None,
                 **kwargs) -> None:
        if backend_args is None and file_client_args is None and '://' not in str(out_dir or ''):
            backend_args = dict(backend=ATOMIC_LOCAL_BACKEND)
        super().__init__(*args, out_dir=out_dir, backend_args=backend_args,
                         file_client_args=file_client_args, **kwargs)
