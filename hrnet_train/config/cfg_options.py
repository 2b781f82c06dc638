"""``--cfg-options KEY=VALUE ...``: parsing and merging into a loaded config.

:class:`CfgOptionsAction` is mmengine's ``DictAction`` with an argparse error (not a traceback)
for an item without ``=``. :func:`merge_cfg_options` merges the parsed options and

- moves every dataset whose ``data_root`` equals the config's top-level ``data_root`` when
  ``data_root=DIR`` is given, so that ``data_root`` is the one place to point a config at data;
- rejects a key that nothing would read: a near miss of a key that exists at that level
  (``model.test_cfg.flip_tset``), a new top-level key the Runner does not read
  (``batch_size=2``), or a variable of the config file (``codec.sigma``: its value was copied
  where it is used when the file was read).
"""
from __future__ import annotations

import argparse
import difflib
import logging
from typing import Any, Iterator, Mapping, MutableMapping, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from hrnet_train.utils.errors import ConfigError

from .validation import did_you_mean, known_top_level_keys

_EXAMPLE = 'e.g. train_dataloader.batch_size=2'
# Top-level variables that something reads after loading: data_root (moved above), input_size
# (tools/analysis/get_flops.py).
_READ_VARIABLES = frozenset({'data_root', 'input_size'})
_SIBLING_NEAR_MISS = 0.8


class CfgOptionsAction(DictAction):
    """``--cfg-options`` items ``KEY=VALUE``; a malformed item is an argparse error naming it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        items = values if isinstance(values, (list, tuple)) else [values]
        for item in items:
            key, sep, value = item.partition('=')
            if not sep or not key.strip():
                parser.error(f'argument {option_string or "--cfg-options"}: {item!r} is not '
                             f'KEY=VALUE ({_EXAMPLE})')
            if value.count('(') != value.count(')') or value.count('[') != value.count(']'):
                parser.error(f'argument {option_string or "--cfg-options"}: {item!r} has '
                             'unbalanced brackets in its value')
        super().__call__(parser, namespace, values, option_string)


def merge_cfg_options(cfg: Config, options: Optional[Mapping[str, Any]]) -> None:
    """Merge parsed ``--cfg-options`` into ``cfg`` (an ``mmengine.Config``) in place.

    Args:
        cfg: the loaded config.
        options: dotted keys to values, as :class:`CfgOptionsAction` parses them; ``None`` or
            empty does nothing.

    Raises:
        ConfigError: a key that addresses past the end of a list or into a non-dict value, a
            near miss of an existing key, a new top-level key that nothing reads, or a variable
            of the config file; the message names the key.
    """
    if not options:
        return
    options = dict(options)
    if 'data_root' in options:
        move_data_root(cfg, options.pop('data_root'))
    for key in options:
        _check_new_key(cfg, key)
    try:
        cfg.merge_from_dict(options)
    except (KeyError, TypeError, ValueError) as exc:  # mmengine's messages span several lines
        text = str(exc.args[0]) if exc.args else str(exc)
        raise ConfigError(f'--cfg-options: {" ".join(text.split())}') from exc


def move_data_root(cfg: Config, data_root: Any) -> list[str]:
    """Set the top-level ``data_root`` and the ``data_root`` of every dataset that used it.

    Datasets are those of ``*_dataloader.dataset`` and, recursively, the ``dataset`` /
    ``datasets`` of wrappers such as ``RepeatDataset``. A dataset whose ``data_root`` differs
    from the old top-level value keeps it.

    Returns:
        the dotted keys of the datasets that moved (also logged).

    Raises:
        ConfigError: the config has no top-level ``data_root``.
    """
    if 'data_root' not in cfg:
        raise ConfigError('--cfg-options data_root: this config has no top-level data_root; set '
                          'the datasets\' own key instead (e.g. '
                          'train_dataloader.dataset.data_root=DIR)')
    old = cfg['data_root']
    cfg['data_root'] = data_root
    moved = []
    for path, dataset in _datasets(cfg):
        if dataset.get('data_root') == old:
            dataset['data_root'] = data_root
            moved.append(path)
    if moved:
        print_log(f'data_root: {old!r} -> {data_root!r} for {", ".join(moved)}',
                  logger='current')
    else:
        print_log(f'data_root: {old!r} -> {data_root!r}, but no dataset used {old!r}',
                  logger='current', level=logging.WARNING)
    return moved


def _datasets(cfg: Config) -> Iterator[tuple[str, MutableMapping]]:
    for key, loader in cfg.items():
        if key.endswith('_dataloader') and isinstance(loader, Mapping):
            yield from _dataset_tree(loader.get('dataset'), f'{key}.dataset')


def _dataset_tree(node: Any, path: str) -> Iterator[tuple[str, MutableMapping]]:
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _dataset_tree(item, f'{path}.{i}')
    elif isinstance(node, MutableMapping):
        yield path, node
        for key in ('dataset', 'datasets'):  # RepeatDataset, ConcatDataset, ...
            if key in node:
                yield from _dataset_tree(node[key], f'{path}.{key}')


def _check_new_key(cfg: Config, key: str) -> None:
    """Reject ``key`` if merging it would create or change an entry nothing reads."""
    parts = key.split('.')
    root = cfg.to_dict() if isinstance(cfg, Config) else cfg  # a Config is no Mapping
    if (parts[0] in root and parts[0] not in _READ_VARIABLES and 'runner_type' not in root
            and parts[0] not in known_top_level_keys()):
        _reject_variable(root, key, parts)
    node: Any = root
    for i, part in enumerate(parts):
        where = '.'.join(parts[:i])
        if isinstance(node, (list, tuple)):
            if not part.isdigit():
                raise ConfigError(f'--cfg-options {key}: {where} is a list; address an entry '
                                  f'by its index, {where}.0 .. {where}.{len(node) - 1}')
            if int(part) >= len(node):
                raise ConfigError(f'--cfg-options {key}: {where} has {len(node)} entries '
                                  f'(indices 0 .. {len(node) - 1}); a new entry needs the whole '
                                  'list in the config file')
            node = node[int(part)]
        elif isinstance(node, Mapping):
            if part not in node:
                _check_missing(root, key, parts, i, node)
                return
            node = node[part]
        else:
            raise ConfigError(f'--cfg-options {key}: {where} is {_short(node)}, not a dict, so '
                              f"it has no key '{part}'")


def _check_missing(cfg: Mapping, key: str, parts: Sequence[str], i: int,
                   parent: Mapping) -> None:
    part = parts[i]
    if i == 0:
        if part in known_top_level_keys() or 'runner_type' in cfg:
            return
        hint = did_you_mean(part, list(cfg) + sorted(known_top_level_keys()), cutoff=0.8)
        if not hint:
            nested = sorted((p for p in _dotted_keys(cfg) if p.endswith('.' + part)),
                            key=lambda p: (not p.startswith('train'), len(p), p))
            if nested:
                hint = f"; did you mean '{nested[0]}'?"
        raise ConfigError(f"--cfg-options {key}: the config has no top-level '{part}' and the "
                          f'Runner does not read it{hint}')
    if 'type' in parent:  # a component: validate_config checks its constructor arguments
        return
    siblings = [k for k in parent if isinstance(k, str)]
    match = difflib.get_close_matches(part, siblings, n=1, cutoff=_SIBLING_NEAR_MISS)
    if match:
        where = '.'.join(parts[:i])
        raise ConfigError(f"--cfg-options {key}: {where} has no key '{part}'; did you mean "
                          f"'{match[0]}'?")


def _reject_variable(cfg: Mapping, key: str, parts: Sequence[str]) -> None:
    """A config file's own variable (``codec``, ``train_pipeline``): its value was copied where
    it is used when the file was read, so an option on it changes nothing."""
    value = cfg[parts[0]]
    where = ''
    if isinstance(value, (Mapping, list, tuple)) and value:
        rest = ''.join(f'.{p}' for p in parts[1:])
        known = known_top_level_keys()  # not into other variables (codec -> train_pipeline)
        copies = [p + rest for p in _paths_of(cfg, value) if p.split('.')[0] in known]
        if copies:
            where = f" (it was copied to {', '.join(copies[:3])})"
    raise ConfigError(f"--cfg-options {key}: '{parts[0]}' is a variable of the config file; its "
                      'value was copied where it is used when the file was read, so this changes '
                      f'nothing; set the keys that use it{where}')


def _paths_of(node: Any, value: Any, prefix: str = '') -> Iterator[str]:
    """Dotted paths below ``node`` whose value equals ``value``."""
    if prefix and node == value:
        yield prefix[:-1]
        return
    items = (node.items() if isinstance(node, Mapping)
             else enumerate(node) if isinstance(node, (list, tuple)) else ())
    for k, v in items:
        yield from _paths_of(v, value, f'{prefix}{k}.')


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _dotted_keys(node: Any, prefix: str = '') -> Iterator[str]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            path = f'{prefix}{k}'
            yield path
            yield from _dotted_keys(v, path + '.')
