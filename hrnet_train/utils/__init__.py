"""Utilities: safe checkpoint loading, environment setup, the exceptions hrnet-train raises.

The yacs importer lives in :mod:`hrnet_train.config.yacs_import`.
"""
from .errors import CheckpointError, ConfigError, DataError, TrainingDivergedError
from .safe_load import allow_checkpoint_globals, safe_torch_load
from .setup_env import register_all_modules

__all__ = ['allow_checkpoint_globals', 'safe_torch_load', 'register_all_modules',
           'CheckpointError', 'ConfigError', 'DataError', 'TrainingDivergedError']
