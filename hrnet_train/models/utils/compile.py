"""``torch.compile`` of a model's network modules, in place, with an eager fallback.

The modules are compiled with ``nn.Module.compile`` (torch >= 2.2; ``forward`` is wrapped on
older versions), so ``state_dict`` keys, checkpoints, hooks and DDP are unchanged. Only the
modules whose shapes are static are compiled (backbone, neck, pose/seg/cls heads); the
detectors' RPN and RoI heads see a different number of boxes every image and stay eager.

``freeze=True`` adds inductor's freezing (weights folded as constants, BatchNorm folded into the
convolutions, oneDNN weight prepacking on CPU): for inference only. A frozen graph does not see
later weight updates, so the training runner never freezes.
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence

import torch
import torch.nn as nn

__all__ = ['STATIC_MODULES', 'compile_network', 'inductor_available']

#: Child modules compiled by default, when the model has them.
STATIC_MODULES = ('backbone', 'neck', 'head', 'decode_head', 'auxiliary_head')

_PROBES: dict[str, tuple[bool, str]] = {}


def inductor_available(backend: str = 'inductor') -> tuple[bool, str]:
    """Whether ``torch.compile(backend=backend)`` works here: a two-op function is compiled and
    run once per process (inductor on CPU needs a C++ compiler).

    Returns:
        (ok, reason): reason is '' when ok, else the one-line error.
    """
    if backend not in _PROBES:
        try:
            def probe(x):
                return torch.relu(x * 2.0 + 1.0)
            x = torch.linspace(-2, 2, 8)
            ok = torch.equal(torch.compile(probe, backend=backend)(x), probe(x))
            _PROBES[backend] = (ok, '' if ok else 'the compiled probe gave a different result')
        except Exception as e:  # noqa: BLE001 - any failure means: run eagerly
            msg = str(e).strip().splitlines()
            _PROBES[backend] = (False, f'{type(e).__name__}: {msg[0] if msg else ""}'[:300])
    return _PROBES[backend]


def compile_network(model: nn.Module, *, modules: Optional[Sequence[str]] = None,
                    freeze: bool = False, **compile_kwargs) -> list[str]:
    """Compile ``model``'s static network modules in place; run eagerly when compiling fails.

    Args:
        model: the task model (e.g. ``TopdownPoseEstimator``, ``EncoderDecoder``), unwrapped.
        modules: names of the child modules to compile (default: those of
            :data:`STATIC_MODULES` that the model has, else the model's own forward).
        freeze: inference only: inductor freezing (``options={'freezing': True}``).
        **compile_kwargs: ``torch.compile`` arguments (``backend``, ``mode``, ``dynamic``,
            ``options``...).

    Returns:
        the names compiled (the model's class name for its own forward); [] (with a warning
        naming the reason) when ``torch.compile`` does not work here, the model then running
        exactly as before.

    Raises:
        ValueError: a name of ``modules`` that is not a child module of ``model``.
    """
    names = [n for n in STATIC_MODULES if isinstance(getattr(model, n, None), nn.Module)] \
        if modules is None else list(modules)
    targets = [getattr(model, n, None) for n in names]
    if modules is None and not names:  # a model without those parts: its whole forward
        names, targets = [type(model).__name__], [model]
    for n, module in zip(names, targets):
        if not isinstance(module, nn.Module):
            raise ValueError(f"compile: the model ({type(model).__name__}) has no module "
                             f"'{n}'; it has {sorted(dict(model.named_children()))}")
    kwargs = dict(compile_kwargs)
    if freeze:
        kwargs['options'] = dict(kwargs.get('options') or {}, freezing=True)
    ok, reason = inductor_available(kwargs.get('backend', 'inductor'))
    if not ok:
        warnings.warn(f'torch.compile is not available here ({reason}); running eagerly',
                      stacklevel=2)
        return []
    for module in targets:
        if hasattr(module, 'compile'):
            module.compile(**kwargs)
        else:  # torch < 2.2: no nn.Module.compile
            module.forward = torch.compile(module.forward, **kwargs)
    return names
