"""Convert an official HRNet yacs YAML experiment file into an hrnet-train ``mmengine.Config``.

Supported: ``MODEL.NAME: pose_hrnet`` (leoxiaobin/deep-high-resolution-net.pytorch, COCO) and
``MODEL.NAME: seg_hrnet`` (HRNet/HRNet-Semantic-Segmentation, Cityscapes). The YAML is merged
into the official yacs defaults first (``lib/config/default.py`` of each repository), so a key
the YAML leaves out takes the official default, which is not always the value of the published
YAMLs (REFERENCE §3.7: e.g. ``TEST.FLIP_TEST`` defaults to False). The result starts from this
repository's ``configs/_base_`` files for the task and overrides every field the YAML decides.

Keys that are not official, and official settings that change training or testing but have no
counterpart here, are reported in one ``YacsImportWarning``; keys the official code never reads
(or that only name output folders) are dropped silently. ``docs/yacs_import.md`` has the table.
"""
from __future__ import annotations

import copy
import os
import os.path as osp
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from mmengine.config import Config
from yacs.config import CfgNode

__all__ = ['yacs_to_config', 'YacsImportError', 'YacsImportWarning']


class YacsImportError(ValueError):
    """A yacs experiment file that cannot be converted; the message names the file and key."""


class YacsImportWarning(UserWarning):
    """Settings of a yacs experiment file that the converted config does not honour."""


# Repository configs: <repo>/configs (hrnet_train is installed editable from the repo root).
_CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'
_POSE_BASES = ('_base_/models/hrnet-w32_topdown.py', '_base_/datasets/coco-keypoints_256x192.py',
               '_base_/schedules/adam_210e.py', '_base_/default_runtime.py')
_SEG_BASES = ('_base_/models/hrnetv2-w48_fcn.py', '_base_/datasets/cityscapes-512x1024.py',
              '_base_/schedules/sgd-poly_120k.py', '_base_/default_runtime.py')

# ------------------------------------------------------------------------------------------
# Official yacs defaults (MODEL.EXTRA is free-form officially and is handled separately).
# leoxiaobin/deep-high-resolution-net.pytorch:lib/config/default.py
_POSE_DEFAULTS: dict = dict(
    OUTPUT_DIR='', LOG_DIR='', DATA_DIR='', GPUS=(0,), WORKERS=4, PRINT_FREQ=20,
    AUTO_RESUME=False, PIN_MEMORY=True, RANK=0,
    CUDNN=dict(BENCHMARK=True, DETERMINISTIC=False, ENABLED=True),
    MODEL=dict(NAME='pose_hrnet', INIT_WEIGHTS=True, PRETRAINED='', NUM_JOINTS=17,
               TAG_PER_JOINT=True, TARGET_TYPE='gaussian', IMAGE_SIZE=[256, 256],
               HEATMAP_SIZE=[64, 64], SIGMA=2),
    LOSS=dict(USE_OHKM=False, TOPK=8, USE_TARGET_WEIGHT=True, USE_DIFFERENT_JOINTS_WEIGHT=False),
    DATASET=dict(ROOT='', DATASET='mpii', TRAIN_SET='train', TEST_SET='valid', DATA_FORMAT='jpg',
                 HYBRID_JOINTS_TYPE='', SELECT_DATA=False, FLIP=True, SCALE_FACTOR=0.25,
                 ROT_FACTOR=30, PROB_HALF_BODY=0.0, NUM_JOINTS_HALF_BODY=8, COLOR_RGB=False),
    TRAIN=dict(LR_FACTOR=0.1, LR_STEP=[90, 110], LR=0.001, OPTIMIZER='adam', MOMENTUM=0.9,
               WD=0.0001, NESTEROV=False, GAMMA1=0.99, GAMMA2=0.0, BEGIN_EPOCH=0, END_EPOCH=140,
               RESUME=False, CHECKPOINT='', BATCH_SIZE_PER_GPU=32, SHUFFLE=True),
    TEST=dict(BATCH_SIZE_PER_GPU=32, FLIP_TEST=False, POST_PROCESS=False, SHIFT_HEATMAP=False,
              USE_GT_BBOX=False, IMAGE_THRE=0.1, NMS_THRE=0.6, SOFT_NMS=False, OKS_THRE=0.5,
              IN_VIS_THRE=0.0, COCO_BBOX_FILE='', BBOX_THRE=1.0, MODEL_FILE=''),
    DEBUG=dict(DEBUG=False, SAVE_BATCH_IMAGES_GT=False, SAVE_BATCH_IMAGES_PRED=False,
               SAVE_HEATMAPS_GT=False, SAVE_HEATMAPS_PRED=False),
)
# HRNet/HRNet-Semantic-Segmentation:lib/config/default.py (pytorch-v1.1), plus the keys the
# HRNet-OCR branch added (MODEL.ALIGN_CORNERS ... TEST.OUTPUT_INDEX) so that its plain
# seg_hrnet YAMLs convert too. MODEL.ALIGN_CORNERS defaults to True on the OCR branch, but v1.1
# (which has no such key) upsamples with align_corners=False: absent means False here.
_SEG_DEFAULTS: dict = dict(
    OUTPUT_DIR='', LOG_DIR='', GPUS=(0,), WORKERS=4, PRINT_FREQ=20, AUTO_RESUME=False,
    PIN_MEMORY=True, RANK=0,
    CUDNN=dict(BENCHMARK=True, DETERMINISTIC=False, ENABLED=True),
    MODEL=dict(NAME='seg_hrnet', PRETRAINED='', ALIGN_CORNERS=False, NUM_OUTPUTS=1,
               OCR=dict(MID_CHANNELS=512, KEY_CHANNELS=256, DROPOUT=0.05, SCALE=1)),
    LOSS=dict(USE_OHEM=False, OHEMTHRES=0.9, OHEMKEEP=100000, CLASS_BALANCE=True,
              BALANCE_WEIGHTS=[1]),
    DATASET=dict(ROOT='', DATASET='cityscapes', NUM_CLASSES=19,
                 TRAIN_SET='list/cityscapes/train.lst', EXTRA_TRAIN_SET='',
                 TEST_SET='list/cityscapes/val.lst'),
    TRAIN=dict(FREEZE_LAYERS='', FREEZE_EPOCHS=-1, NONBACKBONE_KEYWORDS=[], NONBACKBONE_MULT=10,
               IMAGE_SIZE=[1024, 512], BASE_SIZE=2048, DOWNSAMPLERATE=1, FLIP=True,
               MULTI_SCALE=True, SCALE_FACTOR=16, RANDOM_BRIGHTNESS=False,
               RANDOM_BRIGHTNESS_SHIFT_VALUE=10, LR_FACTOR=0.1, LR_STEP=[90, 110], LR=0.01,
               EXTRA_LR=0.001, OPTIMIZER='sgd', MOMENTUM=0.9, WD=0.0001, NESTEROV=False,
               IGNORE_LABEL=-1, BEGIN_EPOCH=0, END_EPOCH=484, EXTRA_EPOCH=0, RESUME=False,
               BATCH_SIZE_PER_GPU=32, SHUFFLE=True, NUM_SAMPLES=0),
    TEST=dict(IMAGE_SIZE=[2048, 1024], BASE_SIZE=2048, BATCH_SIZE_PER_GPU=32, NUM_SAMPLES=0,
              MODEL_FILE='', FLIP_TEST=False, MULTI_SCALE=False, CENTER_CROP_TEST=False,
              SCALE_LIST=[1], OUTPUT_INDEX=-1),
    DEBUG=dict(DEBUG=False, SAVE_BATCH_IMAGES_GT=False, SAVE_BATCH_IMAGES_PRED=False,
               SAVE_HEATMAPS_GT=False, SAVE_HEATMAPS_PRED=False),
)

# Settings that change what the official code does and have no counterpart here: key -> (the
# value under which the official code behaves like the converted config, why it is not honoured).
_POSE_UNSUPPORTED: dict[str, tuple[Any, str]] = {
    'CUDNN.ENABLED': (True, 'cuDNN is always enabled'),
    'DATASET.DATA_FORMAT': ('jpg', 'images are read from files, not zip archives'),
    'DATASET.SELECT_DATA': (False, 'the official select_data filter is not implemented'),
    'LOSS.USE_OHKM': (False, 'not read by the official tools/train.py either (plain MSE); set '
                             "model.loss=dict(type='KeypointOHKMMSELoss') to use OHKM"),
    'TRAIN.BEGIN_EPOCH': (0, 'training starts at epoch 0; resume with tools/train.py --resume'),
    'TEST.POST_PROCESS': (True, 'the MSRAHeatmap codec always applies the quarter-pixel step'),
    'TEST.MODEL_FILE': ('', 'pass the checkpoint to tools/test.py instead'),
}
_SEG_UNSUPPORTED: dict[str, tuple[Any, str]] = {
    'CUDNN.ENABLED': (True, 'cuDNN is always enabled'),
    'DATASET.EXTRA_TRAIN_SET': ('', 'the second (extra) training phase is not converted'),
    'TRAIN.EXTRA_EPOCH': (0, 'the second (extra) training phase is not converted'),
    'TRAIN.BEGIN_EPOCH': (0, 'training starts at iteration 0; resume with tools/train.py --resume'),
    'TRAIN.DOWNSAMPLERATE': (1, 'labels are always kept at the image size'),
    'TRAIN.NUM_SAMPLES': (0, 'the whole training list is used'),
    'TRAIN.RANDOM_BRIGHTNESS': (False, 'no random-brightness transform'),
    'TRAIN.FREEZE_LAYERS': ('', 'layer freezing by name is not converted'),
    'TRAIN.FREEZE_EPOCHS': (-1, 'layer freezing by name is not converted'),
    'TRAIN.NONBACKBONE_KEYWORDS': ([], 'per-module lr multipliers are not converted'),
    'TEST.NUM_SAMPLES': (0, 'the whole test list is used'),
    'TEST.CENTER_CROP_TEST': (False, 'no centre-crop testing'),
    'TEST.MODEL_FILE': ('', 'pass the checkpoint to tools/test.py instead'),
    'TEST.OUTPUT_INDEX': (-1, 'seg_hrnet has one output'),
    'MODEL.NUM_OUTPUTS': (1, 'seg_hrnet has one output'),
    'LOSS.BALANCE_WEIGHTS': ([1], 'seg_hrnet has one output, weighted 1'),
}

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
_CITYSCAPES_FOLDER_SPLITS = {'list/cityscapes/train.lst': 'train',
                             'list/cityscapes/val.lst': 'val'}
# Lines of the official list files (REFERENCE §3.6), for the epoch length of the schedule.
_CITYSCAPES_LIST_SIZES = {'train.lst': 2975, 'val.lst': 500, 'trainval.lst': 3475,
                          'test.lst': 1525}


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
    for name in names:
        file = _CONFIG_ROOT / name
        if not file.is_file():
            raise FileNotFoundError(f'yacs_to_config needs the repository configs, but {file} '
                                    'is missing (install hrnet-train from a source checkout)')
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


# ------------------------------------------------------------------------------ pose
def _convert_pose(path: str, yc: CfgNode, extra: dict, data_root: Optional[str],
                  notes: list[str]) -> dict:
    _check_unsupported(yc, extra, _POSE_UNSUPPORTED, notes)
    if yc.DATASET.DATASET != 'coco':
        raise YacsImportError(f"{path}: DATASET.DATASET {yc.DATASET.DATASET!r} is not supported "
                              "for pose_hrnet; expected 'coco'")
    if yc.MODEL.NUM_JOINTS != 17:
        raise YacsImportError(f'{path}: MODEL.NUM_JOINTS={yc.MODEL.NUM_JOINTS} but COCO has 17 '
                              'keypoints')
    if yc.MODEL.TARGET_TYPE != 'gaussian':
        raise YacsImportError(f"{path}: MODEL.TARGET_TYPE must be 'gaussian' (the only one the "
                              f"official code supports), got {yc.MODEL.TARGET_TYPE!r}")
    input_size = _pair(path, 'MODEL.IMAGE_SIZE', list(yc.MODEL.IMAGE_SIZE))
    heatmap_size = _pair(path, 'MODEL.HEATMAP_SIZE', list(yc.MODEL.HEATMAP_SIZE))
    stages = _backbone_extra(path, extra, task='pose', notes=notes)
    kernel = _final_conv_kernel(path, extra, (1, 3))
    num_gpus = _num_gpus(path, yc)

    cfg = _load_bases(_POSE_BASES)
    # Official update_config joins DATA_DIR with DATASET.ROOT and MODEL.PRETRAINED.
    yaml_root = osp.join(yc.DATA_DIR, yc.DATASET.ROOT)
    root = yaml_root if data_root is None else data_root
    pretrained = osp.join(yc.DATA_DIR, yc.MODEL.PRETRAINED) if yc.MODEL.PRETRAINED else ''

    # ---- model
    s4 = stages['stage4']
    codec = dict(type='MSRAHeatmap', input_size=input_size, heatmap_size=heatmap_size,
                 sigma=yc.MODEL.SIGMA)
    model = cfg['model']
    model['backbone'].update(
        arch=None, extra=stages, multi_scale_output=False,
        init_cfg=_pretrained(extra, pretrained, yc.MODEL.INIT_WEIGHTS, notes))
    model['head'].update(in_channels=s4['num_channels'][0] * _EXPANSION[s4['block']],
                         num_keypoints=yc.MODEL.NUM_JOINTS, final_conv_kernel=kernel)
    model['loss'] = dict(type='KeypointMSELoss', use_target_weight=yc.LOSS.USE_TARGET_WEIGHT)
    model['codec'] = codec
    model['test_cfg'] = dict(flip_test=yc.TEST.FLIP_TEST, shift_heatmap=yc.TEST.SHIFT_HEATMAP)

    # ---- data (official layout: ROOT/annotations/<prefix>_<set>.json, ROOT/images/<set>/)
    def ann_file(image_set: str) -> str:
        prefix = 'image_info' if 'test' in image_set else 'person_keypoints'
        return f'annotations/{prefix}_{image_set}.json'

    def img_prefix(image_set: str) -> str:
        return 'images/' + ('test2017' if 'test' in image_set else image_set) + '/'

    load = {} if yc.DATASET.COLOR_RGB else dict(to_rgb=False)  # official cv2 BGR without it
    joint_weights = yc.LOSS.USE_DIFFERENT_JOINTS_WEIGHT
    train_pipeline = _patch_pipeline(cfg['train_pipeline'], {
        'LoadImage': load,
        'RandomFlip': dict(prob=0.5) if yc.DATASET.FLIP else None,
        # official: half body when more than NUM_JOINTS_HALF_BODY joints are visible
        'RandomHalfBody': (dict(prob=yc.DATASET.PROB_HALF_BODY,
                                min_total_keypoints=yc.DATASET.NUM_JOINTS_HALF_BODY + 1)
                           if yc.DATASET.PROB_HALF_BODY > 0 else None),
        'RandomBBoxTransform': dict(scale_factor=yc.DATASET.SCALE_FACTOR,
                                    rotate_factor=yc.DATASET.ROT_FACTOR),
        'TopdownAffine': dict(input_size=input_size),
        'GenerateTarget': dict(encoder=dict(codec),
                               **(dict(use_dataset_keypoint_weights=True) if joint_weights
                                  else {})),
    })
    val_pipeline = _patch_pipeline(cfg['val_pipeline'], {
        'LoadImage': load, 'TopdownAffine': dict(input_size=input_size)})

    train = cfg['train_dataloader']
    train['batch_size'] = yc.TRAIN.BATCH_SIZE_PER_GPU
    # Official DataParallel: WORKERS loader processes for all GPUs; here each GPU has a loader.
    _loader_workers(train, yc.WORKERS // num_gpus)
    train['pin_memory'] = yc.PIN_MEMORY
    train['sampler']['shuffle'] = yc.TRAIN.SHUFFLE
    train['dataset'].update(data_root=root, ann_file=ann_file(yc.DATASET.TRAIN_SET),
                            data_prefix=dict(img=img_prefix(yc.DATASET.TRAIN_SET)),
                            pipeline=train_pipeline)
    if joint_weights:
        train['dataset']['metainfo'] = dict(joint_weights=list(_COCO_JOINTS_WEIGHT))

    bbox_file = yc.TEST.COCO_BBOX_FILE or None
    if bbox_file and data_root is not None:  # keep a detections file under the old root
        rel = osp.relpath(osp.normpath(bbox_file), osp.normpath(yaml_root))
        if not rel.startswith(os.pardir):
            bbox_file = osp.join(data_root, rel)
    if not yc.TEST.USE_GT_BBOX and not bbox_file:
        raise YacsImportError(f'{path}: TEST.USE_GT_BBOX is false but TEST.COCO_BBOX_FILE is '
                              'empty (the detector boxes to test on)')
    val = cfg['val_dataloader']
    val['batch_size'] = yc.TEST.BATCH_SIZE_PER_GPU
    _loader_workers(val, yc.WORKERS // num_gpus)
    val['pin_memory'] = yc.PIN_MEMORY
    val['dataset'].update(data_root=root, ann_file=ann_file(yc.DATASET.TEST_SET),
                          data_prefix=dict(img=img_prefix(yc.DATASET.TEST_SET)),
                          bbox_file=bbox_file, det_score_thr=yc.TEST.IMAGE_THRE,
                          use_gt_bbox=yc.TEST.USE_GT_BBOX, pipeline=val_pipeline)
    cfg['test_dataloader'] = copy.deepcopy(val)

    evaluator = cfg['val_evaluator']
    evaluator.update(keypoint_score_thr=yc.TEST.IN_VIS_THRE, nms_thr=yc.TEST.OKS_THRE,
                     nms_mode='soft_oks_nms' if yc.TEST.SOFT_NMS else 'oks_nms')
    if 'test' in yc.DATASET.TEST_SET:  # official: results file only, no evaluation
        evaluator.update(ann_file=None, format_only=True,
                         outfile_prefix=f'results/keypoints_{yc.DATASET.TEST_SET}')
    else:
        evaluator['ann_file'] = osp.join(root, ann_file(yc.DATASET.TEST_SET))
    cfg['test_evaluator'] = copy.deepcopy(evaluator)

    # ---- schedule (official get_optimizer: Adam gets no weight decay, TRAIN.WD is unused)
    if yc.TRAIN.OPTIMIZER == 'adam':
        optimizer = dict(type='Adam', lr=yc.TRAIN.LR, weight_decay=0.0)
    elif yc.TRAIN.OPTIMIZER == 'sgd':
        optimizer = dict(type='SGD', lr=yc.TRAIN.LR, momentum=yc.TRAIN.MOMENTUM,
                         weight_decay=yc.TRAIN.WD, nesterov=yc.TRAIN.NESTEROV)
    else:
        raise YacsImportError(f"{path}: TRAIN.OPTIMIZER must be 'adam' or 'sgd', "
                              f'got {yc.TRAIN.OPTIMIZER!r}')
    cfg['optim_wrapper']['optimizer'] = optimizer
    end = yc.TRAIN.END_EPOCH
    cfg['param_scheduler'] = [dict(type='MultiStepLR', by_epoch=True, begin=0, end=end,
                                   milestones=list(yc.TRAIN.LR_STEP), gamma=yc.TRAIN.LR_FACTOR)]
    cfg['train_cfg']['max_epochs'] = end
    cfg['train_cfg']['val_interval'] = min(cfg['train_cfg']['val_interval'], max(end, 1))
    cfg['auto_scale_lr'] = dict(base_batch_size=yc.TRAIN.BATCH_SIZE_PER_GPU * num_gpus)

    # ---- runtime
    _common_runtime(cfg, yc, yc.AUTO_RESUME)
    cfg['default_hooks']['checkpoint'].update(save_best='coco/AP', rule='greater')
    cfg.update(data_root=root, input_size=input_size, codec=codec,
               train_pipeline=train_pipeline, val_pipeline=val_pipeline)
    return cfg


# ------------------------------------------------------------------------------ seg
def _num_train_images(path: str, root: str, train_set: str) -> int:
    name = osp.basename(train_set)
    if name in _CITYSCAPES_LIST_SIZES:
        return _CITYSCAPES_LIST_SIZES[name]
    list_file = osp.join(root, train_set)
    if osp.isfile(list_file):
        with open(list_file) as f:
            return sum(1 for line in f if line.strip())
    raise YacsImportError(f'{path}: DATASET.TRAIN_SET {train_set!r} is not an official '
                          f'Cityscapes list and {list_file} does not exist (its line count sets '
                          'the epoch length of the schedule)')


def _seg_split(root: str, cs_root: str, split_file: str) -> dict:
    """Dataset fields for an official list file: the folder layout for train/val, else the list."""
    split = _CITYSCAPES_FOLDER_SPLITS.get(osp.normpath(split_file).replace(os.sep, '/'))
    if split is not None:
        return dict(data_root=cs_root, data_prefix=dict(img_path=f'leftImg8bit/{split}',
                                                        seg_map_path=f'gtFine/{split}'))
    # Official: the list file is ROOT/<split_file>, its lines are relative to ROOT/cityscapes.
    # Absolute, because mmengine joins a relative ann_file to data_root and a '..' from there
    # would leave a symlinked ROOT/cityscapes.
    return dict(data_root=cs_root, data_prefix=dict(img_path=''),
                ann_file=osp.abspath(osp.join(root, split_file)))


def _convert_seg(path: str, yc: CfgNode, extra: dict, data_root: Optional[str],
                 notes: list[str]) -> dict:
    _check_unsupported(yc, extra, _SEG_UNSUPPORTED, notes)
    if yc.DATASET.DATASET != 'cityscapes':
        raise YacsImportError(f"{path}: DATASET.DATASET {yc.DATASET.DATASET!r} is not supported "
                              "for seg_hrnet; expected 'cityscapes'")
    if yc.DATASET.NUM_CLASSES != 19:
        raise YacsImportError(f'{path}: DATASET.NUM_CLASSES={yc.DATASET.NUM_CLASSES} but '
                              'Cityscapes has 19 classes')
    if yc.TRAIN.OPTIMIZER != 'sgd':
        raise YacsImportError(f"{path}: TRAIN.OPTIMIZER must be 'sgd' (the only one the official "
                              f'seg code supports), got {yc.TRAIN.OPTIMIZER!r}')
    crop_size = _pair(path, 'TRAIN.IMAGE_SIZE', list(yc.TRAIN.IMAGE_SIZE))
    test_size = _pair(path, 'TEST.IMAGE_SIZE', list(yc.TEST.IMAGE_SIZE))
    stages = _backbone_extra(path, extra, task='seg', notes=notes)
    _final_conv_kernel(path, extra, (1,))  # SegHead's classifier is a 1x1 conv
    num_gpus = _num_gpus(path, yc)
    root = yc.DATASET.ROOT if data_root is None else data_root
    cs_root = osp.join(root, 'cityscapes')  # official: images at ROOT/cityscapes/<list entry>
    align = bool(yc.MODEL.ALIGN_CORNERS)

    cfg = _load_bases(_SEG_BASES)

    # ---- model
    s4 = stages['stage4']
    channels = tuple(c * _EXPANSION[s4['block']] for c in s4['num_channels'])
    model = cfg['model']
    model['backbone'].update(arch=None, extra=stages, align_corners=align,
                             init_cfg=_pretrained(extra, yc.MODEL.PRETRAINED, True, notes))
    model['neck'].update(in_channels=channels, align_corners=align)
    model['decode_head'].update(in_channels=sum(channels), num_classes=yc.DATASET.NUM_CLASSES)
    class_weight = model['loss']['class_weight']  # official Cityscapes class weights
    # TRAIN.IGNORE_LABEL only encodes "ignore" inside the official code; labels here use 255.
    if yc.LOSS.USE_OHEM:
        model['loss'] = dict(type='OhemCrossEntropyLoss', thresh=yc.LOSS.OHEMTHRES,
                             min_kept=yc.LOSS.OHEMKEEP, class_weight=class_weight,
                             ignore_index=255, align_corners=align)
    else:
        model['loss'] = dict(type='CrossEntropyLoss', class_weight=class_weight,
                             ignore_index=255, align_corners=align)
    model['align_corners'] = align
    scales = [float(s) for s in yc.TEST.SCALE_LIST]
    test_cfg: dict = dict(mode='whole')
    if any(s > 1 for s in scales):
        # official cityscapes.py multi_scale_inference: windows of TEST.IMAGE_SIZE, stride = window
        test_cfg = dict(mode='slide', crop_size=test_size, stride=test_size)
    if scales != [1.0] or yc.TEST.FLIP_TEST:
        test_cfg.update(scales=scales, flip=bool(yc.TEST.FLIP_TEST), tta_combine='exp_sum')
    model['test_cfg'] = test_cfg

    # ---- data
    train_updates: dict[str, Optional[dict]] = {
        'RandomFlip': dict(prob=0.5) if yc.TRAIN.FLIP else None}
    if yc.TRAIN.MULTI_SCALE:
        # official: long side BASE_SIZE * (0.5 + randint(0, SCALE_FACTOR) / 10), random crop
        train_updates['RandomResize'] = dict(
            scale=(yc.TRAIN.BASE_SIZE, yc.TRAIN.BASE_SIZE),
            ratio_range=(0.5, 0.5 + yc.TRAIN.SCALE_FACTOR / 10), ratio_step=0.1)
        train_updates['RandomCrop'] = dict(crop_size=crop_size)
    else:  # official gen_sample: no resize and no crop without MULTI_SCALE
        train_updates.update(RandomResize=None, RandomCrop=None)
    train_pipeline = _patch_pipeline(cfg['train_pipeline'], train_updates)
    test_pipeline = _patch_pipeline(cfg['test_pipeline'], {
        'Resize': dict(scale=(yc.TEST.BASE_SIZE, yc.TEST.BASE_SIZE))})

    train = cfg['train_dataloader']
    train['batch_size'] = yc.TRAIN.BATCH_SIZE_PER_GPU
    _loader_workers(train, yc.WORKERS)  # official DDP: WORKERS per process
    train['sampler']['shuffle'] = yc.TRAIN.SHUFFLE
    train['dataset'].update(_seg_split(root, cs_root, yc.DATASET.TRAIN_SET),
                            pipeline=train_pipeline)
    val = cfg['val_dataloader']
    _loader_workers(val, yc.WORKERS)
    val['dataset'].update(_seg_split(root, cs_root, yc.DATASET.TEST_SET),
                          pipeline=test_pipeline)
    cfg['test_dataloader'] = copy.deepcopy(val)
    cfg['test_evaluator'] = copy.deepcopy(cfg['val_evaluator'])

    # ---- schedule: poly per iteration over END_EPOCH epochs of
    # int(num_train_images / BATCH_SIZE_PER_GPU / len(GPUS)) iterations (official train.py).
    num_images = _num_train_images(path, root, yc.DATASET.TRAIN_SET)
    epoch_iters = int(num_images / yc.TRAIN.BATCH_SIZE_PER_GPU / num_gpus)
    max_iters = yc.TRAIN.END_EPOCH * epoch_iters
    if max_iters < 1:
        raise YacsImportError(f'{path}: TRAIN.END_EPOCH={yc.TRAIN.END_EPOCH} with '
                              f'{num_images} images at batch {yc.TRAIN.BATCH_SIZE_PER_GPU} x '
                              f'{num_gpus} GPUs gives no iterations')
    cfg['optim_wrapper']['optimizer'] = dict(
        type='SGD', lr=yc.TRAIN.LR, momentum=yc.TRAIN.MOMENTUM, weight_decay=yc.TRAIN.WD,
        nesterov=yc.TRAIN.NESTEROV)
    cfg['param_scheduler'][0].update(end=max_iters)
    cfg['train_cfg'].update(max_iters=max_iters,
                            val_interval=min(cfg['train_cfg']['val_interval'], max_iters))
    cfg['auto_scale_lr'] = dict(base_batch_size=yc.TRAIN.BATCH_SIZE_PER_GPU * num_gpus)

    # ---- runtime: iteration-based logging and checkpoints, as configs/seg/*.py
    _common_runtime(cfg, yc, yc.TRAIN.RESUME)
    cfg['default_hooks']['logger']['log_metric_by_epoch'] = False
    cfg['default_hooks']['checkpoint'].update(
        by_epoch=False, interval=min(4000, max_iters), max_keep_ckpts=3, save_best='mIoU')
    cfg['log_processor']['by_epoch'] = False
    cfg.update(data_root=cs_root, train_pipeline=train_pipeline, test_pipeline=test_pipeline)
    return cfg
