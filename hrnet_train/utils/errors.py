"""The exceptions hrnet-train raises for a user's mistake or a failed run.

Each message is one line that names the file, config key or annotation at fault and says what was
expected. The command-line tools print that line and exit with code 2 (``--debug`` or
``HRNET_DEBUG=1`` shows the traceback instead); :class:`TrainingDivergedError` exits with 1.
They subclass the builtin types that callers already catch (``ValueError``,
``FloatingPointError``), so code written against those keeps working.
"""
from __future__ import annotations

import importlib
from types import ModuleType


class ConfigError(ValueError):
    """A config key or value is wrong: unknown key or type, wrong value, missing entry."""


class DataError(ValueError):
    """Input data is wrong: unreadable or truncated image, malformed annotation, bad label map."""


class CheckpointError(ValueError):
    """A checkpoint cannot be read, or does not fit the model (missing keys, shapes)."""


class TrainingDivergedError(FloatingPointError):
    """Training stopped by a guard: a NaN/Inf loss or a loss spike."""


class MissingDependencyError(ImportError):
    """An optional package a feature needs is not installed."""


def import_optional(name: str, feature: str, extra: str) -> ModuleType:
    """``importlib.import_module(name)``, or a :class:`MissingDependencyError` whose one line
    names the feature and the install command (``pip install -e ".[extra]"``)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise MissingDependencyError(
            f'{feature} needs the {name} package, which is not installed ({e}): '
            f'pip install -e ".[{extra}]" (or pip install {name})') from None
