"""Read a config file: a Python config, or an official HRNet yacs experiment (``*.yaml``)."""
from __future__ import annotations

import os.path as osp

from mmengine.config import Config

from hrnet_train.utils.errors import ConfigError

YACS_SUFFIXES = ('.yaml', '.yml')


def load_config(path: str) -> Config:
    """Read a Python config, or convert an official HRNet yacs YAML experiment file
    (:func:`hrnet_train.config.yacs_import.yacs_to_config`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: the file cannot be read as a config (syntax error, missing ``_base_`` file,
            failing ``custom_imports``, an unconvertible YAML); one line naming ``path``.
    """
    if path.lower().endswith(YACS_SUFFIXES):
        from .yacs_import import yacs_to_config
        return yacs_to_config(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    try:
        return Config.fromfile(path)
    except SyntaxError as exc:
        where = f'{exc.filename}, line {exc.lineno}' if exc.lineno else path
        if exc.filename in (None, '<unknown>'):
            where = f'{path}, line {exc.lineno}' if exc.lineno else path
        raise ConfigError(f'{where}: {exc.msg}') from exc
    except ImportError as exc:  # custom_imports; mmengine's message lists the whole sys.path
        cause = exc.__cause__ or exc
        raise ConfigError(f'{path}: custom_imports failed: {cause}') from exc
    except FileNotFoundError as exc:
        missing = exc.filename or str(exc)
        raise ConfigError(f'{path}: file not found: {missing} (a _base_ entry?)') from exc
    except (NameError, KeyError, ValueError, TypeError, AssertionError, RuntimeError) as exc:
        raise ConfigError(f'{path}: {_first_line(exc)}') from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
