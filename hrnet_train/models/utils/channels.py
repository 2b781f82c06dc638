"""Channels of a model part taken from the part before it, so one ``backbone.arch`` switches a
whole model (``--cfg-options model.backbone.arch=w48``)."""
from __future__ import annotations

from typing import Sequence, Union

from hrnet_train.utils.errors import ConfigError

Channels = Union[int, Sequence[int]]


def fill_in_channels(cfg: dict, channels: Channels, *, key: str, source: str) -> dict:
    """Return ``cfg`` (a component config) with ``in_channels`` set to ``channels``.

    Args:
        cfg: config of the next component (neck or head).
        channels: what the previous component outputs: an int, or one int per branch.
        key: the config path of ``cfg`` for messages, e.g. ``'model.decode_head'``.
        source: what produced ``channels``, e.g. ``'the backbone (w48)'``.

    Raises:
        ConfigError: when ``cfg`` gives an ``in_channels`` that differs from ``channels``.
    """
    cfg = dict(cfg)
    expected = int(channels) if isinstance(channels, int) else tuple(int(c) for c in channels)
    given = cfg.get('in_channels')
    if given is None:
        cfg['in_channels'] = expected
        return cfg
    given_norm = int(given) if isinstance(given, int) else tuple(int(c) for c in given)
    if given_norm != expected:
        raise ConfigError(f'{key}.in_channels={given_norm} but {source} gives {expected}; '
                          f'remove {key}.in_channels to take it from there')
    return cfg


def describe(module) -> str:
    """'the backbone (w32)' style name of a built component for messages."""
    arch = getattr(module, 'arch', None)
    return f'the {type(module).__name__}' + (f' ({arch})' if arch else '')
