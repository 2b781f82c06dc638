"""Configs: loading (Python or official yacs YAML), ``--cfg-options``, validation, the
preparation the tools share, and where the packaged configs live."""
from .cfg_options import CfgOptionsAction, merge_cfg_options, move_data_root
from .loading import load_config
from .packaged_configs import config_root
from .preparation import prepare_config
from .validation import validate_config
from .yacs_import import YacsImportError, YacsImportWarning, yacs_to_config

__all__ = ['CfgOptionsAction', 'merge_cfg_options', 'move_data_root', 'load_config',
           'config_root', 'prepare_config', 'validate_config', 'YacsImportError',
           'YacsImportWarning', 'yacs_to_config']
