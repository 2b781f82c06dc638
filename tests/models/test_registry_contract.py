"""Every registered model part builds from a small default config and runs.

One entry per name in ``MODELS``: the config it builds from, a tiny input, and the output it must
give. Trainable parts also run backward and must get finite gradients on every parameter that
took part. A component registered without an entry here fails
``test_every_registered_model_part_has_a_contract``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from hrnet_train.registry import MODELS
from hrnet_train.structures import build_warp_matrix
from hrnet_train.utils import register_all_modules

register_all_modules()

N = 2
TINY_BACKBONE = dict(type='HRNet', arch='w18-small-v1')
TINY_POSE = dict(
    type='TopdownPoseEstimator',
    backbone=dict(TINY_BACKBONE, multi_scale_output=False),
    head=dict(type='HeatmapHead', num_keypoints=3),
    codec=dict(type='MSRAHeatmap', input_size=(32, 48), heatmap_size=(8, 12), sigma=1),
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[0., 0., 0.], std=[1., 1., 1.]))
TINY_SEG = dict(type='EncoderDecoder', backbone=TINY_BACKBONE, neck=dict(type='HRNetV2Concat'),
                decode_head=dict(type='SegHead', num_classes=4))


def _randn(*shape):
    return torch.randn(*shape, requires_grad=True)


def _labels(*shape, classes=4):
    labels = torch.randint(0, classes, shape)
    labels.view(-1)[:3] = 255  # a few ignored pixels
    return labels


def _pose_samples():
    samples = []
    for _ in range(N):
        s = BaseDataElement(metainfo=dict(
            flip_indices=[0, 2, 1],
            warp_matrix=build_warp_matrix(np.array([20., 30.]), np.array([32., 48.]), 0.,
                                          (32, 48))))
        s.gt_heatmaps = torch.rand(3, 12, 8)
        s.keypoint_weights = torch.ones(3)
        samples.append(s)
    return samples


def _seg_samples():
    samples = []
    for _ in range(N):
        s = BaseDataElement(metainfo=dict(img_shape=(32, 48), ori_shape=(32, 48)))
        s.gt_seg_map = _labels(1, 32, 48)
        samples.append(s)
    return samples


def _check_scalar(out):
    assert out.dim() == 0 and torch.isfinite(out)
    return out


def _check_list(shapes):
    def check(out):
        assert [tuple(o.shape) for o in out] == shapes
        return sum(o.float().mean() for o in out)
    return check


def _check_shape(shape):
    def check(out):
        assert tuple(out.shape) == shape
        return out.float().mean()
    return check


def _check_losses(keys):
    def check(out):
        assert set(out) == set(keys), out
        return sum(v for k, v in out.items() if k.startswith('loss'))
    return check


def _seg_preprocess(module):
    data = dict(inputs=[torch.randint(0, 255, (3, 30, 40), dtype=torch.uint8)] * N,
                data_samples=_seg_samples())
    out = module(data, training=False)
    assert tuple(out['inputs'].shape) == (N, 3, 30, 40)
    assert out['inputs'].dtype == torch.float32
    return None


# name -> (config overrides, call(module) -> output, check(output) -> loss to back-propagate or
# None for parts without parameters to train)
CONTRACTS = {
    'HRNet': (TINY_BACKBONE, lambda m: m(_randn(N, 3, 64, 64)),
              _check_list([(N, 16, 16, 16), (N, 32, 8, 8), (N, 64, 4, 4), (N, 128, 2, 2)])),
    'HRNetV2Concat': (dict(in_channels=(4, 8)),
                      lambda m: m([_randn(N, 4, 8, 8), _randn(N, 8, 4, 4)]),
                      _check_shape((N, 12, 8, 8))),
    'HeatmapHead': (dict(in_channels=8, num_keypoints=3), lambda m: m([_randn(N, 8, 16, 12)]),
                    _check_shape((N, 3, 16, 12))),
    'SegHead': (dict(in_channels=8, num_classes=4), lambda m: m(_randn(N, 8, 16, 12)),
                _check_shape((N, 4, 16, 12))),
    'KeypointMSELoss': (dict(), lambda m: m(_randn(N, 3, 8, 6), torch.rand(N, 3, 8, 6),
                                            torch.ones(N, 3)), _check_scalar),
    'KeypointOHKMMSELoss': (dict(topk=2), lambda m: m(_randn(N, 3, 8, 6), torch.rand(N, 3, 8, 6),
                                                      torch.ones(N, 3)), _check_scalar),
    'CrossEntropyLoss': (dict(), lambda m: m(_randn(N, 4, 8, 8), _labels(N, 32, 32)),
                         _check_scalar),
    'OhemCrossEntropyLoss': (dict(min_kept=10), lambda m: m(_randn(N, 4, 8, 8),
                                                            _labels(N, 32, 32)), _check_scalar),
    'SegDataPreprocessor': (dict(), _seg_preprocess, lambda out: None),
    'TopdownPoseEstimator': (TINY_POSE, lambda m: m(torch.randn(N, 3, 48, 32), _pose_samples(),
                                                    mode='loss'),
                             _check_losses({'loss_kpt', 'acc_pose'})),
    'EncoderDecoder': (TINY_SEG, lambda m: m(torch.randn(N, 3, 32, 48), _seg_samples(),
                                             mode='loss'), _check_losses({'loss_ce', 'acc_seg'})),
}

PREDICT = {
    'TopdownPoseEstimator': (lambda m: m(torch.randn(N, 3, 48, 32), _pose_samples(),
                                         mode='predict'),
                             lambda out: [s.pred_keypoints.shape for s in out] == [(3, 2)] * N),
    'EncoderDecoder': (lambda m: m(torch.randn(N, 3, 32, 48), _seg_samples(), mode='predict'),
                       lambda out: [tuple(s.pred_seg_map.shape) for s in out] == [(32, 48)] * N),
}


def test_every_registered_model_part_has_a_contract():
    assert sorted(MODELS.module_dict) == sorted(CONTRACTS)


@pytest.mark.parametrize('name', sorted(CONTRACTS))
def test_builds_runs_and_backpropagates(name):
    torch.manual_seed(0)
    cfg, call, check = CONTRACTS[name]
    module = MODELS.build(dict(cfg, type=name))
    loss = check(call(module))
    params = [p for p in module.parameters() if p.requires_grad]
    if loss is None:
        assert not params, f'{name} has parameters but its contract trains none'
        return
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in params if p.grad is not None]
    if params:
        assert grads, f'{name}: no parameter received a gradient'
    assert all(torch.isfinite(g).all() for g in grads), name


@pytest.mark.parametrize('name', sorted(PREDICT))
def test_whole_models_predict(name):
    torch.manual_seed(0)
    cfg = CONTRACTS[name][0]
    module = MODELS.build(dict(cfg, type=name)).eval()
    call, ok = PREDICT[name]
    with torch.no_grad():
        assert ok(call(module))
