"""Utilities: safe checkpoint loading, environment setup."""
from .safe_load import allow_checkpoint_globals, safe_torch_load
from .setup_env import register_all_modules

__all__ = ['allow_checkpoint_globals', 'safe_torch_load', 'register_all_modules']
