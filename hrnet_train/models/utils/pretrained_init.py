"""``init_cfg=dict(type='Pretrained', ...)`` through hrnet-train's one loading path.

mmengine's ``BaseModule.init_weights`` builds ``Pretrained`` from its root
``WEIGHT_INITIALIZERS``, which resolves to this child registry under the ``hrnet_train`` default
scope (configs set ``default_scope='hrnet_train'``; ``register_all_modules()`` sets it). mmengine's
own ``PretrainedInit`` loads with ``strict=False`` and knows none of the official layouts.
"""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model.weight_init import update_init_info

from hrnet_train.registry import WEIGHT_INITIALIZERS
from hrnet_train.utils.errors import ConfigError

from .official_weights import REMOTE_PREFIXES, load_checkpoint


@WEIGHT_INITIALIZERS.register_module()
class Pretrained:
    """Initialise a module from any checkpoint :func:`load_checkpoint` accepts.

    Every model key must come from the file (after ``ignore_missing``); file keys with no place
    in the module (an ImageNet classifier, the multi-scale fusion rows a pose backbone lacks,
    another model's head) are allowed and reported. Shape mismatches raise.

    Args:
        checkpoint: path, URL or ``open-mmlab://`` name.
        prefix: load only the file keys under this prefix, e.g. ``'backbone.'`` (mmengine).
        map_location: for reading the file (mmengine).
        strict: False only reports missing keys instead of raising.
        ignore_missing: model key prefixes allowed to be missing, e.g. ``('head.',)``.
    """

    def __init__(self, checkpoint: Union[str, os.PathLike], *, prefix: Optional[str] = None,
                 map_location: Union[str, torch.device, Callable, None] = 'cpu',
                 strict: bool = True, ignore_missing: Sequence[str] = ()) -> None:
        if not isinstance(checkpoint, (str, os.PathLike)) or not os.fspath(checkpoint):
            raise ConfigError(f"init_cfg Pretrained: checkpoint must be a path or URL, "
                              f"got {checkpoint!r}")
        self.checkpoint = os.fspath(checkpoint)
        self.prefix = prefix
        self.map_location = map_location
        self.strict = strict
        self.ignore_missing = tuple(ignore_missing)
        self.wholemodule = False  # set by mmengine's initialize(); unused, as in PretrainedInit

    def __call__(self, module: nn.Module) -> None:
        # A local file (not a REMOTE_PREFIXES name, which the loader downloads) must exist.
        if not self.checkpoint.startswith(REMOTE_PREFIXES) and not os.path.isfile(self.checkpoint):
            raise FileNotFoundError(
                f'init_cfg Pretrained: checkpoint file not found: {self.checkpoint} (put the '
                'weights there, point init_cfg.checkpoint at them: a path, a URL or an '
                'open-mmlab:// name, or start from random weights with init_cfg=None, e.g. '
                '--cfg-options model.backbone.init_cfg=None)')
        load_checkpoint(module, self.checkpoint, strict=self.strict, allow_unexpected=True,
                        ignore_missing=self.ignore_missing, prefix=self.prefix,
                        map_location=self.map_location)
        if hasattr(module, '_params_init_info'):  # mmengine's init summary
            update_init_info(module, init_info=f'Pretrained: load from {self.checkpoint}')
