"""Utilities: safe checkpoint loading, environment setup, official yacs YAML import."""
from .safe_load import allow_checkpoint_globals, safe_torch_load
from .setup_env import register_all_modules
from .yacs_import import yacs_to_config

__all__ = ['allow_checkpoint_globals', 'safe_torch_load', 'register_all_modules',
           'yacs_to_config']
