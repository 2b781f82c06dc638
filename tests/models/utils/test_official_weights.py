"""Official/OpenMMLab checkpoint containers load strictly into our models."""
import collections

import numpy as np
import pytest
import torch
import torch.nn as nn

from hrnet_train.models.backbones.hrnet import HRNet
from hrnet_train.models.utils.official_weights import canonical_key, load_checkpoint
from hrnet_train.utils.errors import CheckpointError


class _PoseLike(nn.Module):
    """Stands for a whole model with the hrnet-train naming backbone.* / head.final_layer.*."""

    def __init__(self):
        super().__init__()
        self.backbone = HRNet('w18-small-v1', multi_scale_output=False)
        self.head = nn.Module()
        self.head.final_layer = nn.Conv2d(16, 17, 1)


class _SegLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = HRNet('w18-small-v1')
        self.decode_head = nn.Module()
        self.decode_head.last_layer = nn.Sequential(nn.Conv2d(240, 240, 1), nn.BatchNorm2d(240),
                                                    nn.ReLU(), nn.Conv2d(240, 19, 1))


def _randomised(module: nn.Module) -> dict:
    torch.manual_seed(1)
    return {k: torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v + 3
            for k, v in module.state_dict().items()}


def _assert_equal_state(model, expected_by_key):
    sd = model.state_dict()
    for k, v in expected_by_key.items():
        assert torch.equal(sd[k], v), k


def test_plain_official_backbone_and_pose_release():
    src = _PoseLike()
    official = {k[len('backbone.'):] if k.startswith('backbone.') else k[len('head.'):]: v
                for k, v in _randomised(src).items()}  # bare keys + final_layer.*
    target = _PoseLike()
    report = load_checkpoint(target, official, strict=True)
    assert not report.missing and not report.unexpected
    assert torch.equal(target.head.final_layer.weight, official['final_layer.weight'])
    _assert_equal_state(target.backbone, {k: v for k, v in official.items()
                                          if not k.startswith('final_layer')})
    # the same file into a bare backbone: the pose head is unexpected -> strict raises
    with pytest.raises(CheckpointError, match='2 file key.s. not in the model: final_layer'):
        load_checkpoint(HRNet('w18-small-v1', multi_scale_output=False), official)
    rep = load_checkpoint(HRNet('w18-small-v1', multi_scale_output=False), official,
                          strict=True, allow_unexpected=True)
    assert sorted(rep.unexpected) == ['final_layer.bias', 'final_layer.weight']


def test_official_pose_training_checkpoint_module_prefix():
    src = _randomised(_PoseLike())
    bare = {k.replace('backbone.', '').replace('head.', ''): v for k, v in src.items()}
    ckpt = {'epoch': 140, 'model': 'pose_hrnet', 'perf': 0.74,
            'state_dict': collections.OrderedDict(('module.' + k, v) for k, v in bare.items()),
            'best_state_dict': {}, 'optimizer': {}}
    target = _PoseLike()
    load_checkpoint(target, ckpt, strict=True)
    _assert_equal_state(target, src)


def test_official_seg_fullmodel_with_loss_buffer():
    src = _randomised(_SegLike())
    bare = {k.replace('backbone.', '').replace('decode_head.', ''): v for k, v in src.items()}
    state = {'model.' + k: v for k, v in bare.items()}
    state['loss.criterion.weight'] = torch.ones(19)
    target = _SegLike()
    report = load_checkpoint(target, {'epoch': 3, 'best_mIoU': 0.5, 'state_dict': state},
                                   strict=True)
    assert report.skipped == ['loss.criterion.weight']
    _assert_equal_state(target, src)


def test_openmmlab_prefixes_and_mmseg_head_rename_fills_the_conv_bias():
    src = _randomised(_SegLike())
    mm = {}
    for k, v in src.items():
        k = k.replace('decode_head.last_layer.0.', 'decode_head.convs.0.conv.')
        k = k.replace('decode_head.last_layer.1.', 'decode_head.convs.0.bn.')
        k = k.replace('decode_head.last_layer.3.', 'decode_head.conv_seg.')
        mm[k] = v
    del mm['decode_head.convs.0.conv.bias']  # mmseg's conv before BN has no bias
    ckpt = {'meta': {'epoch': 1, 'dataset_meta': {'palette': np.zeros((3, 3))}}, 'state_dict': mm}
    target = _SegLike()
    report = load_checkpoint(target, ckpt, strict=True)  # raised 'missing' before the fill
    assert not report.missing and report.filled == ['decode_head.last_layer.0.bias']
    assert not target.decode_head.last_layer[0].bias.any()
    _assert_equal_state(target, {k: v for k, v in src.items()
                                 if k != 'decode_head.last_layer.0.bias'})
    # an official-layout file that lacks the bias is not mmseg's: still missing
    official = {k: v for k, v in src.items() if k != 'decode_head.last_layer.0.bias'}
    with pytest.raises(CheckpointError,
                       match='missing from the file: decode_head.last_layer.0.bias'):
        load_checkpoint(_SegLike(), official)


def test_maskrcnn_benchmark_body_prefix_without_num_batches_tracked():
    src = _randomised(HRNet('w18-small-v1'))
    state = {'backbone.body.' + k: v for k, v in src.items() if 'num_batches_tracked' not in k}
    target = HRNet('w18-small-v1')
    report = load_checkpoint(target, state, strict=True)
    assert len(report.filled) == sum('num_batches_tracked' in k for k in src)
    _assert_equal_state(target, {k: v for k, v in src.items() if 'num_batches_tracked' not in k})


def test_imagenet_release_drops_classification_head():
    src = _randomised(HRNet('w18-small-v1'))
    state = dict(src)
    state['incre_modules.0.0.conv1.weight'] = torch.zeros(32, 16, 1, 1)
    state['downsamp_modules.0.0.weight'] = torch.zeros(256, 128, 3, 3)
    state['final_layer.0.weight'] = torch.zeros(2048, 1024, 1, 1)
    state['classifier.weight'] = torch.zeros(1000, 2048)
    target = HRNet('w18-small-v1')
    report = load_checkpoint(target, state, strict=True)
    assert sorted(report.skipped) == sorted(['incre_modules.0.0.conv1.weight',
                                             'downsamp_modules.0.0.weight',
                                             'final_layer.0.weight', 'classifier.weight'])


def test_pose_file_into_multiscale_model_reports_missing_fuse_rows():
    src = _randomised(HRNet('w18-small-v1', multi_scale_output=False))
    target = HRNet('w18-small-v1')
    report = load_checkpoint(target, src, strict=False)
    assert report.missing and all(k.startswith('stage4.0.fuse_layers.') for k in report.missing)
    assert not any(k.startswith('stage4.0.fuse_layers.0.') for k in report.missing)
    assert report.hint == ("the file's backbone was built with multi_scale_output=False and the "
                           "model's with True")
    with pytest.raises(CheckpointError, match='multi_scale_output=False and the model.s with True'):
        load_checkpoint(HRNet('w18-small-v1'), src)


def test_shape_mismatch_fails_loudly():
    src = _randomised(_PoseLike())
    src['head.final_layer.weight'] = torch.zeros(14, 16, 1, 1)
    src['head.final_layer.bias'] = torch.zeros(14)
    with pytest.raises(CheckpointError,
                       match=r'head.final_layer.weight: file \(14, 16, 1, 1\) '
                             r'vs model \(17, 16, 1, 1\)'):
        load_checkpoint(_PoseLike(), src)


def test_file_round_trip_under_weights_only(tmp_path):
    """A mmengine-style checkpoint with numpy meta loads with weights_only semantics."""
    src = _randomised(_PoseLike())
    path = tmp_path / 'mm.pth'
    torch.save({'meta': {'epoch': 3, 'seed': np.int64(7), 'dataset_meta': {
        'sigmas': np.array([0.1, 0.2])}}, 'state_dict': src}, path)
    target = _PoseLike()
    load_checkpoint(target, str(path), strict=True)
    _assert_equal_state(target, src)
    with pytest.raises(CheckpointError, match='not found: .*nope.pth'):
        load_checkpoint(_PoseLike(), str(tmp_path / 'nope.pth'))
    bad = tmp_path / 'trunc.pth'
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match='trunc.pth'):
        load_checkpoint(_PoseLike(), str(bad))


def test_pretrained_init_cfg(tmp_path):
    src = _randomised(HRNet('w18-small-v1'))
    path = tmp_path / 'imagenet.pth'
    torch.save({'model.' + k: v for k, v in src.items()}, path)
    model = HRNet('w18-small-v1', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    _assert_equal_state(model, src)


@pytest.mark.parametrize('key,expected', [
    ('module.stage2.0.branches.0.0.conv1.weight', 'backbone.stage2.0.branches.0.0.conv1.weight'),
    ('model.last_layer.3.weight', 'decode_head.last_layer.3.weight'),
    ('final_layer.weight', 'head.final_layer.weight'),
    ('final_layer.0.weight', 'cls_head.final_layer.0.weight'),
    ('backbone.body.conv1.weight', 'backbone.conv1.weight'),
    ('head.final_layer.bias', 'head.final_layer.bias'),
    ('loss.criterion.weight', None),
    ('decode_head.convs.0.bn.running_var', 'decode_head.last_layer.1.running_var'),
    ('decode_head.conv_seg.weight', 'decode_head.last_layer.3.weight'),
    ('module.model.stage4.0.fuse_layers.0.1.0.weight',
     'backbone.stage4.0.fuse_layers.0.1.0.weight'),
])
def test_canonical_key(key, expected):
    assert canonical_key(key) == expected


def test_same_width_other_depth_says_another_arch():
    from hrnet_train.models.backbones.hrnet import ARCH_SETTINGS
    deeper = {s: dict(v) for s, v in ARCH_SETTINGS['w18-small-v1'].items()}
    deeper['stage3']['num_modules'] = 2  # w18-small-v1 has 1
    with pytest.raises(CheckpointError, match=r'file key\(s\) not in the model: stage3\.1\..*'
                                              r'another arch'):
        load_checkpoint(HRNet('w18-small-v1'), HRNet(extra=deeper).state_dict())
