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
from mmengine.structures import BaseDataElement, InstanceData

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
RPN_TRAIN = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3,
                                 min_pos_iou=0.3),
                 sampler=dict(type='RandomSampler', num=64, pos_fraction=0.5,
                              add_gt_as_proposals=False))
RCNN_TRAIN = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5,
                                min_pos_iou=0.5, match_low_quality=False),
                  sampler=dict(type='RandomSampler', num=16, pos_fraction=0.25), pos_weight=-1)
TINY_HEAD = dict(type='Shared2FCBBoxHead', in_channels=4, fc_out_channels=8, num_classes=3)
TINY_ROI = dict(bbox_roi_extractor=dict(type='SingleRoIExtractor', out_channels=4,
                                        featmap_strides=(4, 8)),
                bbox_head=TINY_HEAD, train_cfg=RCNN_TRAIN)
TINY_CASCADE = dict(TINY_ROI, bbox_head=[dict(TINY_HEAD, reg_class_agnostic=True)] * 3,
                    train_cfg=[RCNN_TRAIN] * 3)
TINY_DET = dict(
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[0., 0., 0.], std=[1., 1., 1.]),
    backbone=TINY_BACKBONE, neck=dict(type='HRFPN', out_channels=4),
    rpn_head=dict(type='RPNHead', feat_channels=4),
    roi_head=dict(TINY_ROI, type='StandardRoIHead', train_cfg=None),
    train_cfg=dict(rpn=RPN_TRAIN, rcnn=RCNN_TRAIN,
                   rpn_proposal=dict(nms_pre=50, max_per_img=20,
                                     nms=dict(type='nms', iou_threshold=0.7))),
    test_cfg=dict(rpn=dict(nms_pre=50, max_per_img=20, nms=dict(type='nms', iou_threshold=0.7)),
                  rcnn=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
                            max_per_img=10)))
TINY_CASCADE_DET = dict(TINY_DET, roi_head=dict(TINY_CASCADE, type='CascadeRoIHead',
                                                train_cfg=None),
                        train_cfg=dict(TINY_DET['train_cfg'], rcnn=[RCNN_TRAIN] * 3))
TINY_CLS = dict(backbone=TINY_BACKBONE, head=dict(type='HRNetClsHead', num_classes=3),
                data_preprocessor=dict(type='ImgDataPreprocessor', mean=[0., 0., 0.],
                                       std=[1., 1., 1.]),
                train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                                         dict(type='CutMix', alpha=1.0)]))
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


def _det_samples(img_shape=(32, 48)):
    samples = []
    for _ in range(N):
        s = BaseDataElement(metainfo=dict(img_shape=img_shape, ori_shape=img_shape,
                                          pad_shape=img_shape, scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[4., 4., 20., 28.]]),
                                      labels=torch.tensor([1]))
        s.ignored_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                           labels=torch.zeros(0, dtype=torch.long))
        samples.append(s)
    return samples


def _roi_loss(m):
    feats = [_randn(N, 4, 8, 12), _randn(N, 4, 4, 6)]
    proposals = [InstanceData(bboxes=torch.tensor([[0., 0., 16., 16.], [3., 5., 21., 25.]]),
                              scores=torch.tensor([0.9, 0.8])) for _ in range(N)]
    return m.loss(feats, proposals, _det_samples())


def _det_preprocess(module):
    data = dict(inputs=[torch.randint(0, 255, (3, 30, 40), dtype=torch.uint8)] * N,
                data_samples=_det_samples((30, 40)))
    out = module(data, training=True)
    assert tuple(out['inputs'].shape) == (N, 3, 32, 64)  # padded to 32
    assert out['data_samples'][0].pad_shape == (32, 64)
    return None


def _cls_samples():
    return [BaseDataElement(gt_label=torch.tensor([i % 3])) for i in range(N)]


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
        return sum(v for k, v in out.items() if k.startswith('loss') or '.loss' in k)
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
    'OCRHead': (dict(in_channels=8, num_classes=4, channels=6, key_channels=4),
                lambda m: m(_randn(N, 8, 16, 12)), _check_list([(N, 4, 16, 12)] * 2)),
    'KeypointMSELoss': (dict(), lambda m: m(_randn(N, 3, 8, 6), torch.rand(N, 3, 8, 6),
                                            torch.ones(N, 3)), _check_scalar),
    'KeypointOHKMMSELoss': (dict(topk=2), lambda m: m(_randn(N, 3, 8, 6), torch.rand(N, 3, 8, 6),
                                                      torch.ones(N, 3)), _check_scalar),
    'CrossEntropyLoss': (dict(), lambda m: m(_randn(N, 4, 8, 8), _labels(N, 32, 32)),
                         _check_scalar),
    'OhemCrossEntropyLoss': (dict(min_kept=10), lambda m: m(_randn(N, 4, 8, 8),
                                                            _labels(N, 32, 32)), _check_scalar),
    'RMILoss': (dict(), lambda m: m(_randn(N, 4, 8, 8), _labels(N, 32, 32)), _check_scalar),
    'SegDataPreprocessor': (dict(), _seg_preprocess, lambda out: None),
    'HRNetClsHead': (dict(in_channels=(4, 8, 16, 32), num_classes=3, incre_planes=(2, 4, 8, 16),
                          final_channels=8),
                     lambda m: m([_randn(N, 4 * 2 ** i, 8 >> i, 8 >> i) for i in range(4)]),
                     _check_shape((N, 3))),
    'ImageClassifier': (TINY_CLS, lambda m: m(torch.randn(N, 3, 32, 32), _cls_samples(),
                                              mode='loss'),
                        _check_losses({'loss_cls', 'acc_top1'})),
    'DetDataPreprocessor': (dict(), _det_preprocess, lambda out: None),
    'HRFPN': (dict(in_channels=(4, 8), out_channels=6),
              lambda m: m([_randn(N, 4, 16, 16), _randn(N, 8, 8, 8)]),
              _check_list([(N, 6, 16, 16), (N, 6, 8, 8), (N, 6, 4, 4), (N, 6, 2, 2),
                           (N, 6, 1, 1)])),
    'RPNHead': (dict(in_channels=4, feat_channels=4, train_cfg=RPN_TRAIN),
                lambda m: m.loss([_randn(N, 4, max(8 >> i, 1), max(12 >> i, 1))
                                  for i in range(5)], _det_samples()),
                _check_losses({'loss_rpn_cls', 'loss_rpn_bbox'})),
    'L1Loss': (dict(), lambda m: m(_randn(N, 4), torch.rand(N, 4)), _check_scalar),
    'SmoothL1Loss': (dict(beta=1 / 9), lambda m: m(_randn(N, 4), torch.rand(N, 4)),
                     _check_scalar),
    'SingleRoIExtractor': (dict(out_channels=4, featmap_strides=(4, 8)),
                           lambda m: m([_randn(N, 4, 8, 8), _randn(N, 4, 4, 4)],
                                       torch.tensor([[0., 0., 0., 20., 20.],
                                                     [1., 2., 2., 30., 30.]])),
                           _check_shape((2, 4, 7, 7))),
    'Shared2FCBBoxHead': (dict(in_channels=4, fc_out_channels=8, num_classes=3),
                          lambda m: m(_randn(5, 4, 7, 7)), _check_list([(5, 4), (5, 12)])),
    'StandardRoIHead': (TINY_ROI, _roi_loss, _check_losses({'loss_cls', 'acc', 'loss_bbox'})),
    'CascadeRoIHead': (TINY_CASCADE, _roi_loss,
                       _check_losses({f's{i}.{k}' for i in range(3)
                                      for k in ('loss_cls', 'acc', 'loss_bbox')})),
    'TwoStageDetector': (TINY_DET, lambda m: m(torch.rand(N, 3, 64, 64), _det_samples(),
                                               mode='loss'),
                         _check_losses({'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'acc',
                                        'loss_bbox'})),
    'FasterRCNN': (TINY_DET, lambda m: m(torch.rand(N, 3, 64, 64), _det_samples(), mode='loss'),
                   _check_losses({'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'acc',
                                  'loss_bbox'})),
    'CascadeRCNN': (TINY_CASCADE_DET, lambda m: m(torch.rand(N, 3, 64, 64), _det_samples(),
                                                  mode='loss'),
                    _check_losses({'loss_rpn_cls', 'loss_rpn_bbox'}
                                  | {f's{i}.{k}' for i in range(3)
                                     for k in ('loss_cls', 'acc', 'loss_bbox')})),
    'TopdownPoseEstimator': (TINY_POSE, lambda m: m(torch.randn(N, 3, 48, 32), _pose_samples(),
                                                    mode='loss'),
                             _check_losses({'loss_kpt', 'acc_pose'})),
    'EncoderDecoder': (TINY_SEG, lambda m: m(torch.randn(N, 3, 32, 48), _seg_samples(),
                                             mode='loss'), _check_losses({'loss_ce', 'acc_seg'})),
}

PREDICT = {
    'ImageClassifier': (lambda m: m(torch.randn(N, 3, 32, 32), _cls_samples(), mode='predict'),
                        lambda out: [tuple(s.pred_score.shape) for s in out] == [(3,)] * N),
    'FasterRCNN': (lambda m: m(torch.rand(N, 3, 64, 64), _det_samples(), mode='predict'),
                   lambda out: all(s.pred_instances.bboxes.shape[-1] == 4 for s in out)),
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
