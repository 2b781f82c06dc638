"""Every config loads, dumps, reloads to the same dict, builds its model, names only
registered components and passes validate_config (no unknown key, type or top-level typo)."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from hrnet_train import registry
from hrnet_train.config import validate_config
from hrnet_train.utils import register_all_modules

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)


# Op specs, not registry entries: their `type` names the op their consumer runs and checks
# (SingleRoIExtractor: RoIAlign; RPN / RoI heads: nms, as in mmdet configs).
_OP_SPEC_KEYS = ('roi_layer', 'nms')


def _types(node, path=''):
    """Yield (path, type name) of every ``type=`` in a config tree (op specs excluded)."""
    if isinstance(node, dict):
        if path.rsplit('.', 1)[-1] in _OP_SPEC_KEYS:
            return
        if isinstance(node.get('type'), str):
            yield path, node['type']
        for k, v in node.items():
            yield from _types(v, f'{path}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _types(v, f'{path}[{i}]')


_REGISTRIES = (registry.MODELS, registry.KEYPOINT_CODECS, registry.TRANSFORMS,
               registry.DATA_SAMPLERS, registry.DATASETS, registry.METRICS, registry.HOOKS,
               registry.PARAM_SCHEDULERS, registry.OPTIMIZERS, registry.OPTIM_WRAPPERS,
               registry.LOOPS, registry.VISBACKENDS, registry.VISUALIZERS, registry.LOG_PROCESSORS,
               registry.RUNNERS, registry.WEIGHT_INITIALIZERS, registry.TASK_UTILS)


def _is_registered(name: str) -> bool:
    return any(reg.get(name) is not None for reg in _REGISTRIES)


def test_configs_found():
    assert len(CONFIGS) >= 14


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_config_loads_dumps_builds(path, tmp_path):
    register_all_modules()
    cfg = Config.fromfile(str(path))
    dumped = tmp_path / 'dump.py'
    cfg.dump(str(dumped))
    assert Config.fromfile(str(dumped)).to_dict() == cfg.to_dict()
    for where, name in _types(cfg.to_dict()):
        assert _is_registered(name), f'{path.name}: {where}.type={name!r} is not registered'
    validate_config(cfg)  # the helper variables (data_root, codec, train_pipeline, ...) pass
    with torch.device('meta'):
        model = registry.MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


BASES = sorted((ROOT / 'configs' / '_base_').rglob('*.py'))


@pytest.mark.parametrize('path', BASES, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_base_fragments_validate(path):
    """A fragment alone (e.g. only the dataset part) names real arguments too."""
    register_all_modules()
    validate_config(Config.fromfile(str(path)))


@pytest.mark.parametrize('config,arch,head_in,neck_in', [
    ('pose/hrnet-w32_coco-256x192.py', 'w48', 48, None),
    ('seg/hrnetv2-w48_cityscapes-512x1024.py', 'w18-small-v1', 240, (16, 32, 64, 128)),
])
def test_one_arch_option_switches_the_whole_model(config, arch, head_in, neck_in):
    """`--cfg-options model.backbone.arch=...` alone: the neck and head follow the backbone."""
    register_all_modules()
    cfg = Config.fromfile(str(ROOT / 'configs' / config))
    cfg.merge_from_dict({'model.backbone.arch': arch, 'model.backbone.init_cfg': None})
    with torch.device('meta'):
        model = registry.MODELS.build(cfg.model)
    head = model.head if hasattr(model, 'head') else model.decode_head
    assert head.in_channels == head_in
    if neck_in is not None:
        assert model.neck.in_channels == neck_in


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_checkpoints_kept_stay_bounded(path):
    """A full schedule keeps at most ~25 periodic checkpoints (plus the best): a 210-epoch pose
    run saving every epoch used to keep all 210 (~70 GB for W32 with its Adam state)."""
    cfg = Config.fromfile(str(path))
    if 'train_cfg' not in cfg:
        pytest.skip('no training schedule (a model fragment)')
    ckpt = cfg.default_hooks.checkpoint
    loop = cfg.train_cfg
    length = loop.get('max_epochs') if ckpt.get('by_epoch', True) else loop.get('max_iters')
    assert length, f'{path.name}: no schedule length for the checkpoint hook'
    saved = length // ckpt.get('interval', 1)
    keep = ckpt.get('max_keep_ckpts', -1)
    assert (saved if keep is None or keep < 0 else min(saved, keep)) <= 25, (
        f'{path.name}: {saved} periodic checkpoints, max_keep_ckpts={keep}')
