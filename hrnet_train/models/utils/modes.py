"""The ``forward(inputs, data_samples, mode)`` dispatch every whole model shares."""
from __future__ import annotations

from typing import Any, Optional

MODES = ('tensor', 'loss', 'predict')


def forward_by_mode(model: Any, inputs: Any, data_samples: Optional[list], mode: str) -> Any:
    """mmengine's three modes: ``'tensor'`` -> ``model._forward(inputs)`` (the network alone),
    ``'loss'`` -> ``model.loss(inputs, data_samples)`` (dict of losses), ``'predict'`` ->
    ``model.predict(inputs, data_samples)`` (data samples with ``pred_*`` fields)."""
    if mode == 'tensor':
        return model._forward(inputs)
    if mode == 'loss':
        return model.loss(inputs, data_samples)
    if mode == 'predict':
        return model.predict(inputs, data_samples)
    raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
