"""What the pose and seg converters share: errors, reading and merging the yacs file,
the backbone stages, and small config helpers."""
from __future__ import annotations

import copy
from typing import Any, Optional

import yaml
from mmengine.config import Config
from yacs.config import CfgNode

from hrnet_train.utils.errors import ConfigError

from ..packaged_configs import config_root


class YacsImportError(ConfigError):
    """A yacs experiment file that cannot be converted; the message names the file and key."""


class YacsImportWarning(UserWarning):
    """Settings of a yacs experiment file that the converted config does not honour."""


# Relative to config_root(): the wheel's hrnet_train/_configs, else the repository's configs/.
_POSE_BASES = ('_base_/models/hrnet-w32_topdown.py', '_base_/datasets/coco-keypoints_256x192.py',
               '_base_/schedules/adam_210e.py', '_base_/default_runtime.py')
_MPII_POSE_BASES = ('_base_/models/hrnet-w32_topdown.py', '_base_/datasets/mpii_256x256.py',
                    '_base_/schedules/adam_210e.py', '_base_/default_runtime.py')
_SEG_BASES = ('_base_/models/hrnetv2-w48_fcn.py', '_base_/datasets/cityscapes-512x1024.py',
              '_base_/schedules/sgd-poly_120k.py', '_base_/default_runtime.py')



_STAGE_KEYS = ('NUM_MODULES', 'NUM_BRANCHES', 'BLOCK', 'NUM_BLOCKS', 'NUM_CHANNELS')
_STAGE1_SEG_KEYS = ('BLOCK', 'NUM_BLOCKS', 'NUM_CHANNELS')  # seg_hrnet.py reads only these
# FUSE_METHOD is passed around but never used; NUM_RANCHES is the seg YAMLs' typo (REFERENCE §1.3).
_STAGE_OTHER_KEYS = ('FUSE_METHOD', 'NUM_RANCHES')
_EXTRA_KEYS = ('PRETRAINED_LAYERS', 'FINAL_CONV_KERNEL', 'STEM_INPLANES', 'WITH_HEAD',
               'STAGE1', 'STAGE2', 'STAGE3', 'STAGE4')
_EXPANSION = {'BASIC': 1, 'BOTTLENECK': 4}
# pose_hrnet.py hard-codes stage 1 (layer1 = 4 Bottlenecks of 64 planes) and ignores STAGE1.
_POSE_STAGE1 = dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4,),
                    num_channels=(64,))
_BACKBONE_LAYERS = frozenset({'conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1', 'stage2',
                              'transition2', 'stage3', 'transition3', 'stage4'})
# leoxiaobin/deep-high-resolution-net.pytorch:lib/dataset/coco.py ``joints_weight``.
_COCO_JOINTS_WEIGHT = [1., 1., 1., 1., 1., 1., 1., 1.2, 1.2, 1.5, 1.5, 1., 1., 1.2, 1.2, 1.5, 1.5]
# Official list files -> this repository's folder layout (same images, same train ids).


# ------------------------------------------------------------------------------ reading
def _read_yaml(path: str) -> dict:
    try:
        with open(path, encoding='utf-8') as f:
            raw = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise YacsImportError(f'{path}: not a valid YAML file ({first})') from None
    if not isinstance(raw, dict):
        raise YacsImportError(f'{path}: not a yacs experiment file (expected KEY: value '
                              f'mappings at the top level, got {type(raw).__name__})')
    return raw


def _split_unknown(raw: dict, schema: dict, prefix: str) -> tuple[dict, list[str]]:
    """Split ``raw`` into the keys ``schema`` knows and the dotted names of the others."""
    known, unknown = {}, []
    for k, v in raw.items():
        key = f'{prefix}{k}'
        if k not in schema:
            unknown.append(key)
        elif isinstance(schema[k], dict) and isinstance(v, dict):
            known[k], sub = _split_unknown(v, schema[k], key + '.')
            unknown += sub
        else:
            known[k] = v
    return known, unknown


def _merge_defaults(path: str, defaults: dict, known: dict) -> CfgNode:
    """Official defaults with the file's values merged in by yacs (its type checks included)."""
    cfg = CfgNode(copy.deepcopy(defaults))
    try:
        cfg.merge_from_other_cfg(CfgNode(known))
    except (KeyError, ValueError, AssertionError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise YacsImportError(f'{path}: {msg}') from None
    return cfg


def _get(cfg: CfgNode, key: str) -> Any:
    node = cfg
    for part in key.split('.'):
        node = node[part]
    return node


def _check_unsupported(cfg: CfgNode, extra: dict, table: dict, notes: list[str]) -> None:
    for key, (neutral, why) in table.items():
        value = _get(cfg, key)
        if value != neutral:
            notes.append(f'{key}={value!r} ({why})')
    stem = extra.get('STEM_INPLANES', 64)
    if stem != 64:
        notes.append(f'MODEL.EXTRA.STEM_INPLANES={stem!r} (the stem always has 64 channels)')
    if extra.get('WITH_HEAD', True) is not True:
        notes.append(f"MODEL.EXTRA.WITH_HEAD={extra['WITH_HEAD']!r} (the head is always built)")


# ------------------------------------------------------------------------------ backbone
def _stage(path: str, extra: dict, name: str, keys: tuple[str, ...]) -> dict:
    """One ``MODEL.EXTRA.STAGEk`` node as an ``HRNet(extra=...)`` stage dict."""
    where = f'MODEL.EXTRA.{name}'
    node = extra.get(name)
    if node is None:
        raise YacsImportError(f'{path}: {where} is missing')
    if not isinstance(node, dict):
        raise YacsImportError(f'{path}: {where} must be a mapping, got {node!r}')
    for k in keys:
        if k not in node:
            raise YacsImportError(f'{path}: {where}.{k} is missing')
    block = str(node['BLOCK']).upper()
    if block not in _EXPANSION:
        raise YacsImportError(f"{path}: {where}.BLOCK must be BASIC or BOTTLENECK, "
                              f"got {node['BLOCK']!r}")
    ints = {}
    for k in ('NUM_BLOCKS', 'NUM_CHANNELS'):
        v = node[k]
        if (not isinstance(v, list) or not v
                or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v)):
            raise YacsImportError(f'{path}: {where}.{k} must be a list of positive integers, '
                                  f'got {v!r}')
        ints[k] = tuple(v)
    num_branches = node.get('NUM_BRANCHES', 1) if 'NUM_BRANCHES' in keys else 1
    num_modules = node.get('NUM_MODULES', 1) if 'NUM_MODULES' in keys else 1
    for k, v in (('NUM_BRANCHES', num_branches), ('NUM_MODULES', num_modules)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise YacsImportError(f'{path}: {where}.{k} must be a positive integer, got {v!r}')
    for k in ('NUM_BLOCKS', 'NUM_CHANNELS'):
        if len(ints[k]) != num_branches:
            raise YacsImportError(f'{path}: {where}.{k} needs NUM_BRANCHES={num_branches} '
                                  f'entries, got {list(ints[k])}')
    return dict(num_modules=num_modules, num_branches=num_branches, block=block,
                num_blocks=ints['NUM_BLOCKS'], num_channels=ints['NUM_CHANNELS'])


def _backbone_extra(path: str, extra: dict, *, task: str, notes: list[str]) -> dict:
    stages = {f'stage{k}': _stage(path, extra, f'STAGE{k}', _STAGE_KEYS) for k in (2, 3, 4)}
    if task == 'pose':
        given = extra.get('STAGE1')
        if given is not None:
            try:
                same = _stage(path, extra, 'STAGE1', _STAGE1_SEG_KEYS) == _POSE_STAGE1
            except YacsImportError:
                same = False
            if not same:
                notes.append('MODEL.EXTRA.STAGE1 (pose_hrnet ignores it: stage 1 is always 4 '
                             'Bottlenecks of 64 planes)')
        stages['stage1'] = dict(_POSE_STAGE1)
    else:
        stages['stage1'] = _stage(path, extra, 'STAGE1', _STAGE1_SEG_KEYS)
    return {f'stage{k}': stages[f'stage{k}'] for k in (1, 2, 3, 4)}


def _final_conv_kernel(path: str, extra: dict, allowed: tuple[int, ...]) -> int:
    k = extra.get('FINAL_CONV_KERNEL', 1)
    if k not in allowed:
        raise YacsImportError(f'{path}: MODEL.EXTRA.FINAL_CONV_KERNEL must be one of '
                              f'{list(allowed)}, got {k!r}')
    return int(k)


def _pretrained(extra: dict, checkpoint: str, init_weights: bool,
                notes: list[str]) -> Optional[dict]:
    if not (init_weights and checkpoint):
        return None
    layers = extra.get('PRETRAINED_LAYERS', ['*'])
    if isinstance(layers, list) and layers[:1] != ['*'] and not _BACKBONE_LAYERS <= set(layers):
        notes.append(f'MODEL.EXTRA.PRETRAINED_LAYERS={layers!r} (every backbone layer is loaded '
                     'from MODEL.PRETRAINED)')
    return dict(type='Pretrained', checkpoint=checkpoint)


# ------------------------------------------------------------------------------ helpers
def _load_bases(names: tuple[str, ...]) -> dict:
    """Merge ``configs/<name>`` files in order into one plain dict (later files win)."""
    merged: dict = {}
    root = config_root()
    for name in names:
        file = root / name
        if not file.is_file():
            raise FileNotFoundError(f'yacs_to_config needs {name}, but {file} is missing '
                                    '(the installed configs are incomplete)')
        merged = _deep_update(merged, _plain(Config.fromfile(str(file)).to_dict()))
    return merged


def _plain(obj: Any) -> Any:
    """Fresh dicts/lists/tuples all the way down (config files alias e.g. val and test)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


def _deep_update(base: dict, new: dict) -> dict:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = v
    return base


def _patch_pipeline(pipeline: list, updates: dict[str, Optional[dict]]) -> list:
    """Update transforms by type; ``None`` drops the transform."""
    types = {t['type'] for t in pipeline}
    missing = set(updates) - types
    if missing:  # the base config changed under the converter
        raise RuntimeError(f'yacs_to_config: base pipeline lacks {sorted(missing)}')
    out = []
    for t in pipeline:
        t = dict(t)
        if t['type'] in updates:
            if updates[t['type']] is None:
                continue
            t.update(updates[t['type']])
        out.append(t)
    return out


def _loader_workers(loader: dict, num_workers: int) -> None:
    loader['num_workers'] = num_workers
    loader['persistent_workers'] = num_workers > 0


def _pair(path: str, key: str, value: Any) -> tuple[int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise YacsImportError(f'{path}: {key} must be [width, height] of positive integers, '
                              f'got {value!r}')
    return int(value[0]), int(value[1])


def _num_gpus(path: str, yc: CfgNode) -> int:
    if len(yc.GPUS) < 1:
        raise YacsImportError(f'{path}: GPUS must list at least one GPU, got {yc.GPUS!r}')
    return len(yc.GPUS)


def _common_runtime(cfg: dict, yc: CfgNode, resume: bool) -> None:
    cfg['env_cfg']['cudnn_benchmark'] = bool(yc.CUDNN.BENCHMARK)
    cfg['randomness']['deterministic'] = bool(yc.CUDNN.DETERMINISTIC)
    cfg['default_hooks']['logger']['interval'] = int(yc.PRINT_FREQ)
    # Official AUTO_RESUME / TRAIN.RESUME: continue from the output folder's checkpoint if any.
    cfg['resume'] = 'auto' if resume else False

