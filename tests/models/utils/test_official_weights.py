"""Official/OpenMMLab checkpoint containers load strictly into our models."""
import collections

import numpy as np
import pytest
import torch
import torch.nn as nn

from hrnet_train.models.backbones.hrnet import HRNet
from hrnet_train.models.utils.official_weights import canonical_key, load_official_weights


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
    report = load_official_weights(target, official, strict=True)
    assert not report.missing and not report.unexpected
    assert torch.equal(target.head.final_layer.weight, official['final_layer.weight'])
    _assert_equal_state(target.backbone, {k: v for k, v in official.items()
                                          if not k.startswith('final_layer')})
    # the same file into a bare backbone: the pose head is unexpected -> strict raises
    with pytest.raises(KeyError, match='unexpected'):
        load_official_weights(HRNet('w18-small-v1', multi_scale_output=False), official)
    rep = load_official_weights(HRNet('w18-small-v1', multi_scale_output=False), official,
                                strict=False)
    assert rep.unexpected == ['final_layer.bias', 'final_layer.weight'] or \
        sorted(rep.unexpected) == ['final_layer.bias', 'final_layer.weight']


def test_official_pose_training_checkpoint_module_prefix():
    src = _randomised(_PoseLike())
    bare = {k.replace('backbone.', '').replace('head.', ''): v for k, v in src.items()}
    ckpt = {'epoch': 140, 'model': 'pose_hrnet', 'perf': 0.74,
            'state_dict': collections.OrderedDict(('module.' + k, v) for k, v in bare.items()),
            'best_state_dict': {}, 'optimizer': {}}
    target = _PoseLike()
    load_official_weights(target, ckpt, strict=True)
    _assert_equal_state(target, src)


def test_official_seg_fullmodel_with_loss_buffer():
    src = _randomised(_SegLike())
    bare = {k.replace('backbone.', '').replace('decode_head.', ''): v for k, v in src.items()}
    state = {'model.' + k: v for k, v in bare.items()}
    state['loss.criterion.weight'] = torch.ones(19)
    target = _SegLike()
    report = load_official_weights(target, {'epoch': 3, 'best_mIoU': 0.5, 'state_dict': state},
                                   strict=True)
    assert report.skipped == ['loss.criterion.weight']
    _assert_equal_state(target, src)


def test_openmmlab_prefixes_and_mmseg_head_rename():
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
    report = load_official_weights(target, ckpt, strict=False)
    assert report.missing == ['decode_head.last_layer.0.bias']
    _assert_equal_state(target, {k: v for k, v in src.items() if k != 'decode_head.last_layer.0.bias'})
    with pytest.raises(KeyError, match='missing'):
        load_official_weights(_SegLike(), ckpt, strict=True)
    load_official_weights(_SegLike(), ckpt, strict=True, ignore_missing=('decode_head.',))


def test_maskrcnn_benchmark_body_prefix_without_num_batches_tracked():
    src = _randomised(HRNet('w18-small-v1'))
    state = {'backbone.body.' + k: v for k, v in src.items() if 'num_batches_tracked' not in k}
    target = HRNet('w18-small-v1')
    report = load_official_weights(target, state, strict=True)
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
    report = load_official_weights(target, state, strict=True)
    assert sorted(report.skipped) == sorted(['incre_modules.0.0.conv1.weight',
                                             'downsamp_modules.0.0.weight',
                                             'final_layer.0.weight', 'classifier.weight'])


def test_pose_file_into_multiscale_model_reports_missing_fuse_rows():
    src = _randomised(HRNet('w18-small-v1', multi_scale_output=False))
    target = HRNet('w18-small-v1')
    report = load_official_weights(target, src, strict=False)
    assert report.missing and all(k.startswith('stage4.0.fuse_layers.') for k in report.missing)
    assert not any(k.startswith('stage4.0.fuse_layers.0.') for k in report.missing)


def test_shape_mismatch_fails_loudly():
    src = _randomised(_PoseLike())
    src['head.final_layer.weight'] = torch.zeros(14, 16, 1, 1)
    src['head.final_layer.bias'] = torch.zeros(14)
    with pytest.raises(ValueError, match=r'head.final_layer.weight: file \(14, 16, 1, 1\)'):
        load_official_weights(_PoseLike(), src)


def test_file_round_trip_under_weights_only(tmp_path):
    """A mmengine-style checkpoint with numpy meta loads with weights_only semantics."""
    src = _randomised(_PoseLike())
    path = tmp_path / 'mm.pth'
    torch.save({'meta': {'epoch': 3, 'seed': np.int64(7), 'dataset_meta': {
        'sigmas': np.array([0.1, 0.2])}}, 'state_dict': src}, path)
    target = _PoseLike()
    load_official_weights(target, str(path), strict=True)
    _assert_equal_state(target, src)
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_official_weights(_PoseLike(), str(tmp_path / 'nope.pth'))
    bad = tmp_path / 'trunc.pth'
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RuntimeError, match='trunc.pth'):
        load_official_weights(_PoseLike(), str(bad))


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
])
def test_canonical_key(key, expected):
    assert canonical_key(key) == expected
