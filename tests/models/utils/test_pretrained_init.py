"""``init_cfg=dict(type='Pretrained', ...)`` goes through ``load_checkpoint`` on any module."""
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import DefaultScope, build_from_cfg

from hrnet_train.models.backbones.hrnet import HRNet
from hrnet_train.models.utils import Pretrained
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[3]
ARCH = 'w18-small-v1'
# Classification head keys of an official ImageNet file (REFERENCE §2.2); never loaded into a
# backbone, so their shapes do not matter here.
CLS_HEAD = ('incre_modules.0.0.conv1.weight', 'downsamp_modules.0.0.weight',
            'final_layer.0.weight', 'final_layer.1.running_mean', 'classifier.weight',
            'classifier.bias')


def _pose_cfg(**backbone) -> dict:
    return dict(
        type='TopdownPoseEstimator',
        backbone=dict(type='HRNet', arch=ARCH, multi_scale_output=False, **backbone),
        head=dict(type='HeatmapHead', in_channels=16, num_keypoints=17),
        codec=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2),
        test_cfg=dict(flip_test=False))


def _random_state(module: torch.nn.Module, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.randn(v.shape, generator=g) if v.is_floating_point() else v + 2)
            for k, v in module.state_dict().items()}


@pytest.fixture()
def log_lines():
    lines = []

    class _Collect(logging.Handler):
        def emit(self, record):
            lines.append((record.levelname, record.getMessage()))

    handler = _Collect(level=logging.DEBUG)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_mmengine_builds_ours_under_the_hrnet_train_scope():
    cfg = dict(type='Pretrained', checkpoint='x.pth', prefix='backbone.', map_location='cpu')
    with DefaultScope.overwrite_default_scope('hrnet_train'):
        init = build_from_cfg(cfg, MMENGINE_WEIGHT_INITIALIZERS)
    assert type(init) is Pretrained and init.prefix == 'backbone.'
    with DefaultScope.overwrite_default_scope('mmengine'):  # another scope: mmengine's own
        assert type(build_from_cfg(cfg, MMENGINE_WEIGHT_INITIALIZERS)) is not Pretrained


def test_importing_the_models_registers_it():
    """What tools/train.py and tools/test.py do: register_all_modules(), then build."""
    code = ('from hrnet_train.utils import register_all_modules; register_all_modules(); '
            'from mmengine.registry import WEIGHT_INITIALIZERS, build_from_cfg; '
            "init = build_from_cfg(dict(type='Pretrained', checkpoint='x'), WEIGHT_INITIALIZERS); "
            'print(type(init).__module__)')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == 'hrnet_train.models.utils.pretrained_init'


def test_whole_model_init_cfg_loads_an_official_pose_release(tmp_path, log_lines):
    """mmengine's own PretrainedInit would load nothing from these bare keys (strict=False)."""
    src = MODELS.build(_pose_cfg())
    state = _random_state(src)
    src.load_state_dict(state)
    official = {k.split('.', 1)[1]: v for k, v in state.items()}  # bare + final_layer.*
    path = tmp_path / 'pose_hrnet.pth'
    torch.save(official, path)
    with DefaultScope.overwrite_default_scope('hrnet_train'):
        model = MODELS.build(dict(_pose_cfg(), init_cfg=dict(type='Pretrained',
                                                             checkpoint=str(path))))
        model.init_weights()
    for k, v in state.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert ('INFO', f'load {path}: loaded 350/350 tensors') in log_lines


def test_imagenet_file_into_pose_backbone_skips_and_reports_the_cls_head(tmp_path, log_lines):
    imagenet = _random_state(HRNet(ARCH))  # multi-scale, as every ImageNet model
    imagenet.update({k: torch.zeros(4) for k in CLS_HEAD})
    path = tmp_path / 'hrnet_w18_small_model_v1.pth'
    torch.save(imagenet, path)
    model = MODELS.build(_pose_cfg(init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    model.init_weights()
    backbone = model.backbone.state_dict()
    assert all(torch.equal(backbone[k], imagenet[k]) for k in backbone)
    levels, lines = zip(*[entry for entry in log_lines if entry[1].startswith('load ')])
    assert levels == ('INFO',) and len(lines) == 1
    n = len(backbone)
    fuse_rows = sorted(k for k in imagenet if k not in backbone and k not in CLS_HEAD)
    assert fuse_rows and all(k.startswith('stage4.0.fuse_layers.') for k in fuse_rows)
    assert lines[0].startswith(f'load {path}: loaded {n}/{n} tensors; unexpected '
                               f'({len(fuse_rows)}): stage4.0.fuse_layers.1.')
    assert lines[0].endswith(f'; skipped (6): {", ".join(CLS_HEAD)}; the file\'s backbone was '
                             "built with multi_scale_output=True and the model's with False")


def test_backbone_init_cfg_with_prefix_from_a_whole_model_file(tmp_path):
    src = MODELS.build(_pose_cfg())
    state = _random_state(src)
    path = tmp_path / 'td-hm_hrnet.pth'
    torch.save({'meta': {'epoch': 1}, 'state_dict': state}, path)
    backbone = HRNet(ARCH, multi_scale_output=False,
                     init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    backbone.init_weights()
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, state['backbone.' + k]), k


def test_missing_backbone_keys_fail_unless_allowed(tmp_path):
    pose_backbone = _random_state(HRNet(ARCH, multi_scale_output=False))  # no fuse rows 1..3
    path = tmp_path / 'pose_backbone.pth'
    torch.save(pose_backbone, path)
    with pytest.raises(CheckpointError, match=r'missing from the file: '
                                              r'stage4\.0\.fuse_layers\.1\..*multi_scale_output'):
        HRNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(path))).init_weights()
    model = HRNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                      ignore_missing=('stage4.0.fuse_layers.',)))
    model.init_weights()  # the rows keep the official normal(std=0.001) init
    assert model.stage4[0].fuse_layers[1][0][0][0].weight.std() < 0.01
    HRNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(path), strict=False)).init_weights()


def test_other_initializers_run_before_pretrained(tmp_path):
    state = {k: v for k, v in _random_state(HRNet(ARCH)).items() if not k.startswith('stage4.')}
    path = tmp_path / 'partial.pth'
    torch.save(state, path)
    model = HRNet(ARCH, init_cfg=[dict(type='Pretrained', checkpoint=str(path), strict=False),
                                  dict(type='Constant', layer='Conv2d', val=3.0)])
    model.init_weights()
    assert torch.equal(model.conv1.weight, state['conv1.weight'])  # Pretrained came last
    assert bool((model.stage4[0].branches[0][0].conv1.weight == 3.0).all())  # not in the file


def test_bad_checkpoint_argument():
    with pytest.raises(ValueError, match='init_cfg Pretrained: checkpoint must be a path'):
        HRNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=None)).init_weights()


def test_missing_local_file_names_the_ways_out(tmp_path):
    path = tmp_path / 'pretrained_models' / 'hrnetv2_w18_imagenet_pretrained.pth'
    model = HRNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(FileNotFoundError) as err:
        model.init_weights()
    msg = str(err.value)
    assert msg.startswith(f'init_cfg Pretrained: checkpoint file not found: {path} (')
    assert 'open-mmlab://' in msg and '--cfg-options model.backbone.init_cfg=None' in msg
    assert '\n' not in msg
