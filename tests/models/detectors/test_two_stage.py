"""Faster / Cascade R-CNN on HRNetV2p: data flow, predictions in original image pixels, and
released checkpoint layouts (mmdet 2.x/3.x, the official fork) loading strictly."""
import copy

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement, InstanceData

from hrnet_train.models.utils import load_checkpoint
from hrnet_train.registry import MODELS
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError

register_all_modules()

C = 16  # pyramid channels of the tiny model


def _tiny(type_='FasterRCNN', num_classes=3, **extra):
    rcnn = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5,
                              min_pos_iou=0.5, match_low_quality=False),
                sampler=dict(type='RandomSampler', num=32, pos_fraction=0.25), pos_weight=-1)
    head = dict(type='Shared2FCBBoxHead', in_channels=C, fc_out_channels=32, roi_feat_size=7,
                num_classes=num_classes)
    if type_ == 'CascadeRCNN':
        roi_head = dict(type='CascadeRoIHead', num_stages=3, stage_loss_weights=[1, 0.5, 0.25],
                        bbox_roi_extractor=dict(type='SingleRoIExtractor', out_channels=C),
                        bbox_head=[dict(head, reg_class_agnostic=True) for _ in range(3)])
        rcnn = [rcnn] * 3
    else:
        roi_head = dict(type='StandardRoIHead',
                        bbox_roi_extractor=dict(type='SingleRoIExtractor', out_channels=C),
                        bbox_head=head)
    cfg = dict(
        type=type_,
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[0., 0., 0.], std=[1., 1., 1.]),
        backbone=dict(type='HRNet', arch='w18-small-v1'),
        neck=dict(type='HRFPN', out_channels=C),
        rpn_head=dict(type='RPNHead', feat_channels=C),
        roi_head=roi_head,
        train_cfg=dict(
            rpn=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3,
                                   min_pos_iou=0.3),
                     sampler=dict(type='RandomSampler', num=64, pos_fraction=0.5,
                                  add_gt_as_proposals=False)),
            rpn_proposal=dict(nms_pre=200, max_per_img=100, nms=dict(type='nms',
                                                                     iou_threshold=0.7)),
            rcnn=rcnn),
        test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100,
                               nms=dict(type='nms', iou_threshold=0.7)),
                      rcnn=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
                                max_per_img=20)))
    cfg.update(extra)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _samples(n=2, scale=0.5):
    """Images of 80x112 resized from 160x224 (scale_factor 0.5), one or two GT boxes each."""
    out = []
    for i in range(n):
        s = BaseDataElement(metainfo=dict(img_shape=(80, 112), ori_shape=(160, 224),
                                          pad_shape=(96, 128), batch_input_shape=(96, 128),
                                          scale_factor=(scale, scale), img_id=i))
        boxes = torch.tensor([[10., 12., 50., 60.], [60., 20., 100., 70.]])[:i + 1]
        s.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0, 2])[:i + 1])
        s.ignored_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                           labels=torch.zeros(0, dtype=torch.long))
        out.append(s)
    return out


@pytest.mark.parametrize('type_', ['FasterRCNN', 'CascadeRCNN'])
def test_loss_backward_and_predict(type_):
    model = _tiny(type_)
    assert model.neck.in_channels == (16, 32, 64, 128)  # filled from the backbone
    assert model.rpn_head.rpn_conv.in_channels == C  # filled from the neck
    inputs = torch.rand(2, 3, 96, 128)
    losses = model(inputs, _samples(), mode='loss')
    assert {'loss_rpn_cls', 'loss_rpn_bbox'} <= set(losses)
    total = sum(v for k, v in losses.items() if k.startswith('loss') or '.loss' in k)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)

    model.eval()
    out = model(inputs, _samples(), mode='predict')
    for sample in out:
        pred = sample.pred_instances
        assert pred.bboxes.shape[1] == 4 and len(pred.bboxes) == len(pred.scores) <= 20
        # rescaled to the 160x224 original image
        assert (pred.bboxes[:, 0::2] >= 0).all() and (pred.bboxes[:, 0::2] <= 224).all()
        assert (pred.bboxes[:, 1::2] >= 0).all() and (pred.bboxes[:, 1::2] <= 160).all()
        assert pred.labels.dtype == torch.int64 and (pred.labels < 3).all()


def test_tensor_mode_and_dataset_meta_check():
    model = _tiny()
    rpn_outs, box_outs = model(torch.rand(1, 3, 96, 128), mode='tensor')
    assert [tuple(t.shape) for t in rpn_outs[0]] == [(1, 3, 24, 32), (1, 3, 12, 16), (1, 3, 6, 8),
                                                     (1, 3, 3, 4), (1, 3, 1, 2)]
    (cls_score, bbox_pred), = box_outs
    assert tuple(cls_score.shape) == (512, 4) and tuple(bbox_pred.shape) == (512, 12)
    model.check_dataset_meta(dict(classes=('a', 'b', 'c')))
    with pytest.raises(ConfigError, match=r'num_classes=3 but the dataset has 2 classes'):
        model.check_dataset_meta(dict(classes=('a', 'b')))
    with pytest.raises(ConfigError, match=r"model.train_cfg: unknown keys \['rnp'\]"):
        _tiny(train_cfg=dict(rnp=dict()))


def _randomised(model):
    """Non-trivial weights, so that a wrong mapping cannot pass by init symmetry."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return model


def _mmdet_layout(state):
    """Our keys -> mmdet 3.x's: HRFPN convs inside ConvModules (`.conv.`)."""
    out = {}
    for k, v in state.items():
        k = k.replace('neck.reduction_conv.', 'neck.reduction_conv.conv.')
        for i in range(5):
            k = k.replace(f'neck.fpn_convs.{i}.', f'neck.fpn_convs.{i}.conv.')
        out[k] = v
    return out


def _fork_layout(state, num_classes):
    """Our keys and rows -> the official fork's: top-level bbox_head, `fpn_conv`, `.0.`, and
    background FIRST in fc_cls with 4 background rows leading fc_reg."""
    out = {}
    for k, v in state.items():
        k = k.replace('neck.reduction_conv.', 'neck.reduction_conv.0.')
        k = k.replace('neck.fpn_convs.', 'neck.fpn_conv.')
        k = k.replace('roi_head.bbox_head.', 'bbox_head.')
        if k.startswith('bbox_head.fc_cls.'):
            v = torch.cat([v[-1:], v[:-1]])  # background last -> first
        if k.startswith('bbox_head.fc_reg.'):
            v = torch.cat([torch.full_like(v[:4], 7.0), v])  # background regression rows
        out[k] = v
    return out


def _outputs(model, inputs):
    model.eval()
    with torch.no_grad():
        rpn_outs, box_outs = model(inputs, mode='tensor')
        return [t for level in rpn_outs for t in level] + [t for o in box_outs for t in o]


@pytest.mark.parametrize('layout', ['mmdet', 'fork'])
def test_released_layouts_load_strictly_and_compute_the_same(layout, tmp_path):
    trained = _randomised(_tiny())
    state = trained.state_dict()
    if layout == 'mmdet':
        file_state = _mmdet_layout(state)
        assert 'neck.fpn_convs.3.conv.weight' in file_state
        ckpt = dict(meta=dict(dataset_meta=dict(classes=('a', 'b', 'c'),
                                                sigmas=np.ones(3))),
                    state_dict=file_state)
    else:
        file_state = _fork_layout(state, 3)
        assert file_state['bbox_head.fc_reg.weight'].shape[0] == 16  # 4 x (3 + 1)
        ckpt = dict(meta=dict(epoch=12), state_dict=file_state, optimizer={})
    path = tmp_path / f'{layout}.pth'
    torch.save(ckpt, path)
    fresh = _tiny()
    report = load_checkpoint(fresh, str(path), strict=True)
    assert len(report.loaded) == report.total and not report.missing and not report.unexpected
    if layout == 'fork':
        assert sorted(report.converted) == ['bbox_head.fc_cls.bias', 'bbox_head.fc_cls.weight',
                                            'bbox_head.fc_reg.bias', 'bbox_head.fc_reg.weight']
    inputs = torch.rand(1, 3, 64, 96)
    for a, b in zip(_outputs(trained, inputs), _outputs(fresh, inputs)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fork_background_row_lands_last():
    """By hand: the fork's fc_cls row 0 (background) becomes our last row."""
    model = _tiny(num_classes=2)
    state = copy.deepcopy(model.state_dict())
    rows = torch.arange(3.)[:, None].expand(3, 32).clone()  # fork rows: bg=0, a=1, b=2
    fork = _fork_layout(state, 2)
    fork['bbox_head.fc_cls.weight'] = rows
    load_checkpoint(model, fork, strict=True)
    np.testing.assert_array_equal(model.roi_head.bbox_head.fc_cls.weight[:, 0].detach().numpy(),
                                  [1., 2., 0.])


@pytest.mark.parametrize('type_', ['FasterRCNN', 'CascadeRCNN'])
def test_images_without_boxes_give_finite_losses(type_):
    """An image with no GT box (kept with filter_empty_gt=False) or only crowd boxes: every
    loss finite, the box losses zero, gradients finite; never a NaN."""
    model = _tiny(type_)
    samples = _samples()
    samples[0].gt_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                           labels=torch.zeros(0, dtype=torch.long))
    samples[1].ignored_instances = samples[1].gt_instances
    samples[1].gt_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                           labels=torch.zeros(0, dtype=torch.long))
    losses = model(torch.rand(2, 3, 96, 128), samples, mode='loss')
    assert all(torch.isfinite(v).all() for v in losses.values()), losses
    assert losses['loss_rpn_bbox'].item() == 0.0
    bbox_losses = [v for k, v in losses.items() if k.endswith('loss_bbox')]
    assert all(v.item() == 0.0 for v in bbox_losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
