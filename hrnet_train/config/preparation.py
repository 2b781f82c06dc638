"""The config preparation that ``tools/train.py`` and ``tools/test.py`` share."""
from __future__ import annotations

from typing import Optional

from mmengine.config import Config

from hrnet_train.engine.launch import default_work_dir, select_dist_backend

from .cfg_options import merge_cfg_options
from .loading import load_config
from .validation import validate_config


def prepare_config(config_path: str, *, cfg_options: Optional[dict], launcher: str,
                   work_dir: Optional[str]) -> Config:
    """Load ``config_path``, apply ``--cfg-options`` (``data_root=DIR`` moves the datasets that
    use the config's ``data_root``), the launcher, the work dir (default
    ``./work_dirs/<config name>``) and the distributed backend, then :func:`validate_config`:
    all before anything is built.

    Raises:
        FileNotFoundError: the config file does not exist.
        ConfigError: the config cannot be read, an option does not fit it, or validation fails;
            one line naming the file or the dotted key.
    """
    cfg = load_config(config_path)
    merge_cfg_options(cfg, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(config_path)
    select_dist_backend(cfg)
    validate_config(cfg)
    return cfg
