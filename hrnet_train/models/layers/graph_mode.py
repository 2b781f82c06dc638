"""Whether a layer's eager fast path may run: no autocast region, no graph being captured."""
from __future__ import annotations

import torch

__all__ = ['autocast_on', 'capturing_graph']


def autocast_on() -> bool:
    """Any autocast region active (CPU or CUDA); there the plain modules are used."""
    try:
        return torch.is_autocast_enabled('cpu') or torch.is_autocast_enabled('cuda')
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def _compiling() -> bool:
    compiler = getattr(torch, 'compiler', None)
    return bool(compiler is not None and getattr(compiler, 'is_compiling', lambda: False)())


def capturing_graph() -> bool:
    """Under ``torch.compile`` or ``torch.jit`` tracing (ONNX export), where the layers' eager
    fast paths step aside for the plain ops."""
    return _compiling() or torch.jit.is_tracing()
