"""Convert an official HRNet yacs YAML experiment file into an hrnet-train ``mmengine.Config``.

Supported: ``MODEL.NAME: pose_hrnet`` (leoxiaobin/deep-high-resolution-net.pytorch, COCO and MPII)
and ``MODEL.NAME: seg_hrnet`` (HRNet/HRNet-Semantic-Segmentation, Cityscapes). The YAML is merged
into the official yacs defaults first (``lib/config/default.py`` of each repository), so a key
the YAML leaves out takes the official default, which is not always the value of the published
YAMLs (REFERENCE §3.7: e.g. ``TEST.FLIP_TEST`` defaults to False). The result starts from this
repository's ``configs/_base_`` files for the task and overrides every field the YAML decides.

Keys that are not official, and official settings that change training or testing but have no
counterpart here, are reported in one ``YacsImportWarning``; keys the official code never reads
(or that only name output folders) are dropped silently. ``docs/yacs_import.md`` has the table.
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import Optional, Union

from mmengine.config import Config

from ._common import (
    _EXTRA_KEYS,
    _STAGE_KEYS,
    _STAGE_OTHER_KEYS,
    YacsImportError,
    YacsImportWarning,
    _merge_defaults,
    _read_yaml,
    _split_unknown,
)
from .pose import _POSE_DEFAULTS, _convert_pose
from .seg import _SEG_DEFAULTS, _convert_seg

__all__ = ['yacs_to_config', 'YacsImportError', 'YacsImportWarning']


def yacs_to_config(path: Union[str, os.PathLike], *, data_root: Optional[str] = None) -> Config:
    """Convert an official HRNet yacs experiment file into an hrnet-train config.

    Args:
        path: ``.yaml`` experiment file with ``MODEL.NAME`` ``pose_hrnet`` or ``seg_hrnet``.
        data_root: replaces the file's ``DATASET.ROOT`` (pose: the folder holding
            ``annotations/`` and ``images/``; seg: the folder holding ``cityscapes/`` and
            ``list/``).

    Returns:
        A config that builds with ``MODELS.build(cfg.model)`` and that ``tools/train.py`` runs.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        YacsImportError: the file is not a convertible experiment (the message names the key).

    Warns:
        YacsImportWarning: listing unknown keys and official settings that are not honoured.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: yacs experiment file not found')
    raw = _read_yaml(path)
    name = raw.get('MODEL', {}).get('NAME') if isinstance(raw.get('MODEL'), dict) else None
    if name == 'pose_hrnet':
        defaults, convert = _POSE_DEFAULTS, _convert_pose
    elif name == 'seg_hrnet':
        defaults, convert = _SEG_DEFAULTS, _convert_seg
    elif name is None:
        raise YacsImportError(f"{path}: MODEL.NAME is missing; expected 'pose_hrnet' (pose) "
                              "or 'seg_hrnet' (segmentation)")
    else:
        raise YacsImportError(f"{path}: MODEL.NAME {name!r} is not supported; expected "
                              "'pose_hrnet' (pose) or 'seg_hrnet' (segmentation)")
    extra = raw['MODEL'].pop('EXTRA', None)
    if not isinstance(extra, dict):
        raise YacsImportError(f'{path}: MODEL.EXTRA is missing or not a mapping (it holds '
                              'STAGE2..STAGE4)')
    known, unknown = _split_unknown(raw, defaults, '')
    unknown += [f'MODEL.EXTRA.{k}' for k in extra if k not in _EXTRA_KEYS]
    for s in ('STAGE1', 'STAGE2', 'STAGE3', 'STAGE4'):
        if isinstance(extra.get(s), dict):
            unknown += [f'MODEL.EXTRA.{s}.{k}' for k in extra[s]
                        if k not in _STAGE_KEYS + _STAGE_OTHER_KEYS]
    yc = _merge_defaults(path, defaults, known)
    notes: list[str] = []
    cfg_dict = convert(path, yc, extra, data_root, notes)
    if unknown:
        notes.insert(0, 'unknown keys (not in the official defaults): ' + ', '.join(unknown))
    if notes:
        warnings.warn(f'{path}: settings not honoured by the converted config: '
                      + '; '.join(notes), YacsImportWarning, stacklevel=2)
    stem = osp.splitext(osp.basename(path))[0]
    # filename ends in .py so that the Runner dumps the config as Python into the work dir.
    return Config(cfg_dict, cfg_text=f'# converted from {path} by yacs_to_config\n',
                  filename=osp.join(osp.dirname(path), stem + '.py'))

