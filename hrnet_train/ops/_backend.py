"""Which implementation of the box ops runs: the pure-PyTorch one or ``torchvision.ops``.

``backend`` (the keyword of every op) or the environment variable ``HRNET_OPS_BACKEND`` chooses:

- ``'torch'``: the pure-PyTorch code of this package (any device, no compiled extension);
- ``'torchvision'``: ``torchvision.ops`` (its compiled kernels); an error when it cannot be used;
- ``'auto'`` (the default): ``'torchvision'`` when ``import torchvision`` succeeds and its ops
  run, else ``'torch'``.

The two give the same kept indices for ``nms`` / ``batched_nms`` and the same ``roi_align``
values to float rounding (the sums are taken in another order). torchvision is probed once per
process, inside ``try/except Exception``: a missing or broken install (a build for another torch
raises ``RuntimeError`` on import) only means the pure path runs.
"""
from __future__ import annotations

import functools
import os
from types import ModuleType
from typing import Optional

from hrnet_train.utils.errors import ConfigError

BACKENDS = ('torch', 'torchvision')
ENV_VAR = 'HRNET_OPS_BACKEND'


@functools.lru_cache(maxsize=1)
def _probe_torchvision() -> tuple[Optional[ModuleType], str]:
    """(``torchvision.ops`` or None, why not): import it and run its nms once."""
    try:
        import torch
        import torchvision.ops as tv_ops
        tv_ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)  # the compiled op is really there
        return tv_ops, ''
    except Exception as e:  # any failure means "not available"
        return None, f'{type(e).__name__}: {e}'.splitlines()[0]


def torchvision_ops() -> Optional[ModuleType]:
    """``torchvision.ops`` when it imports and runs here, else None."""
    return _probe_torchvision()[0]


def torchvision_unavailable_reason() -> str:
    """Why ``torchvision.ops`` cannot be used here (one line), '' when it can."""
    return _probe_torchvision()[1]


def available_backends() -> tuple[str, ...]:
    """The backends that run here: ``('torch',)`` or ``('torch', 'torchvision')``."""
    return BACKENDS if torchvision_ops() is not None else BACKENDS[:1]


def resolve_backend(backend: Optional[str] = None) -> str:
    """The backend an op runs with: ``backend``, else ``$HRNET_OPS_BACKEND``, else ``'auto'``.

    Returns:
        ``'torch'`` or ``'torchvision'``.

    Raises:
        ConfigError: unknown name, or ``'torchvision'`` asked for where it cannot be used.
    """
    source = 'backend'
    if backend is None:
        backend = os.environ.get(ENV_VAR) or 'auto'
        source = ENV_VAR
    if backend not in ('auto',) + BACKENDS:
        raise ConfigError(f"{source} must be 'auto', 'torch' or 'torchvision', got {backend!r}")
    if backend == 'auto':
        return 'torchvision' if torchvision_ops() is not None else 'torch'
    if backend == 'torchvision' and torchvision_ops() is None:
        raise ConfigError(f"{source}='torchvision' but torchvision.ops cannot be used here "
                          f"({torchvision_unavailable_reason()}); use 'torch' or 'auto'")
    return backend
