import math

import pytest
import torch
from test_standard_roi_head import (
    EXTRACTOR,
    HEAD,
    RCNN_TEST,
    make_feats,
    make_sample,
    proposals,
    random_proposals,
    set_constant,
)

from hrnet_train.models.roi_heads.cascade_roi_head import CascadeRoIHead
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError


def stage_train_cfg(iou):
    return dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=iou, neg_iou_thr=iou, min_pos_iou=iou,
                      match_low_quality=False, ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1,
                     add_gt_as_proposals=True),
        pos_weight=-1)


TRAIN = [stage_train_cfg(0.5), stage_train_cfg(0.6), stage_train_cfg(0.7)]
AGNOSTIC = dict(HEAD, reg_class_agnostic=True)


def build_cascade(**overrides):
    cfg = dict(type='CascadeRoIHead', num_stages=3, stage_loss_weights=[1, 0.5, 0.25],
               bbox_roi_extractor=EXTRACTOR, bbox_head=[AGNOSTIC] * 3, train_cfg=TRAIN,
               test_cfg=RCNN_TEST)
    cfg.update(overrides)
    return MODELS.build(cfg)


GTS = [[[4., 6., 30., 40.], [30., 20., 60., 50.]], [[10., 10., 50., 30.]]]


def batch():
    samples = [make_sample(GTS[0], [0, 1]), make_sample(GTS[1], [2])]
    return samples, [random_proposals(GTS[0], 30, 1), random_proposals(GTS[1], 30, 2)]


def test_checkpoint_keys_and_loss_names():
    head = build_cascade()
    keys = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    for i in range(3):
        assert keys[f'bbox_head.{i}.shared_fcs.0.weight'] == (16, 8 * 49)
        assert keys[f'bbox_head.{i}.shared_fcs.1.weight'] == (16, 16)
        assert keys[f'bbox_head.{i}.fc_cls.weight'] == (4, 16)
        assert keys[f'bbox_head.{i}.fc_reg.weight'] == (4, 16)  # class-agnostic
    assert len(keys) == 3 * 8 and len(head.bbox_roi_extractor) == 3
    samples, props = batch()
    torch.manual_seed(0)
    losses = head.loss(make_feats(), props, samples)
    assert set(losses) == {f's{i}.{n}' for i in range(3) for n in ('loss_cls', 'acc',
                                                                    'loss_bbox')}
    assert all(torch.isfinite(v) for v in losses.values())


def test_stage_loss_weights_scale_every_loss_but_not_acc():
    samples, props = batch()
    torch.manual_seed(0)
    weighted = build_cascade()
    plain = build_cascade(stage_loss_weights=[1, 1, 1])
    plain.load_state_dict(weighted.state_dict())
    a = weighted.loss(make_feats(), props, samples)
    b = plain.loss(make_feats(), props, samples)  # every candidate is sampled: no randomness
    for stage, w in enumerate((1.0, 0.5, 0.25)):
        for name in ('loss_cls', 'loss_bbox'):
            key = f's{stage}.{name}'
            assert float(a[key]) == pytest.approx(w * float(b[key]), rel=1e-6), key
        assert float(a[f's{stage}.acc']) == float(b[f's{stage}.acc'])


def test_stage_one_trains_on_the_refined_stage_zero_rois():
    # Stage 0 regresses every RoI by dx = 0.5 * 0.1 -> x + 0.05 w. Stage 1's proposals must be
    # the input proposals moved by hand (every proposal is sampled, the added GTs dropped), so
    # s1.loss_* = 0.5 x a StandardRoIHead with stage 1's head on those proposals.
    samples, props = batch()
    cascade = build_cascade()
    set_constant(cascade.bbox_head[0], [0., 1., 0., 0.], [0.5, 0., 0., 0.])
    losses = cascade.loss(make_feats(), props, samples)
    moved = []
    for p in props:
        boxes = p.bboxes.clone()
        shift = 0.05 * (boxes[:, 2] - boxes[:, 0])
        boxes[:, 0] += shift
        boxes[:, 2] += shift
        moved.append(proposals(boxes.clamp(0, 64)))
    reference = MODELS.build(dict(type='StandardRoIHead', bbox_roi_extractor=EXTRACTOR,
                                  bbox_head=AGNOSTIC, train_cfg=TRAIN[1], test_cfg=RCNN_TEST))
    reference.bbox_head.load_state_dict(cascade.bbox_head[1].state_dict())
    direct = reference.loss(make_feats(), moved, samples)
    for name in ('loss_cls', 'loss_bbox'):
        assert float(losses[f's1.{name}']) == pytest.approx(0.5 * float(direct[name]), rel=1e-5)
    assert float(losses['s1.acc']) == pytest.approx(float(direct['acc']))
    # keeping the added GTs (moved) among the proposals would change the stage-1 loss
    with_gts = []
    for gt, m in zip(GTS, moved):
        gt = torch.tensor(gt)
        shift = 0.05 * (gt[:, 2] - gt[:, 0])
        gt[:, 0] += shift
        gt[:, 2] += shift
        with_gts.append(proposals(torch.cat([gt, m.bboxes])))
    assert float(reference.loss(make_feats(), with_gts, samples)['loss_cls']) != \
        pytest.approx(float(direct['loss_cls']), rel=1e-5)


def test_predict_averages_stage_logits_and_refines_rois_through_the_stages():
    cascade = build_cascade()
    set_constant(cascade.bbox_head[0], [0., 3., 0., 0.], [0.5, 0., 0., 0.])  # x + 0.05 w
    set_constant(cascade.bbox_head[1], [0., 0., 3., 0.], [0., 0.5, 0., 0.])  # y + 0.05 h
    set_constant(cascade.bbox_head[2], [0., 6., 0., 0.], [0.5, 0., 0., 0.])  # x + 0.05 w
    samples = [make_sample([], [], ori_shape=(128, 32), scale_factor=(2.0, 0.5)),
               make_sample([], [])]
    res = cascade.predict(make_feats(), [proposals([[10., 20., 50., 60.]]), proposals([])],
                          samples)
    # mean logits (0, 3, 1, 0): p1 = e^3 / Z, p2 = e / Z with Z = e^3 + e + 2 (both > 0.05)
    z = math.exp(3) + math.e + 2
    assert res[0].labels.tolist() == [1, 2]
    assert res[0].scores.tolist() == pytest.approx([math.exp(3) / z, math.e / z])
    # (10, 20, 50, 60) -> x + 2 -> y + 2 -> x + 2 = (14, 22, 54, 62) -> / (2, .5)
    torch.testing.assert_close(res[0].bboxes, torch.tensor([[7., 44., 27., 124.]] * 2))
    assert len(res[1]) == 0
    empty = cascade.predict(make_feats(), [proposals([]), proposals([])], samples)
    assert [len(r) for r in empty] == [0, 0]


@pytest.mark.parametrize('gt,props', [([], [[5., 5., 30., 30.]]), ([[5., 5., 30., 30.]], []),
                                      ([], [])])
def test_no_nan_without_gts_or_proposals(gt, props):
    cascade = build_cascade()
    losses = cascade.loss(make_feats(n=1), [proposals(props)],
                          [make_sample(gt, [1] * len(gt))])
    assert len(losses) == 9 and all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in cascade.parameters())


def test_config_errors():
    with pytest.raises(ConfigError, match='stage_loss_weights'):
        build_cascade(stage_loss_weights=[1, 0.5])
    with pytest.raises(ConfigError, match='bbox_head'):
        build_cascade(bbox_head=[AGNOSTIC] * 2)
    with pytest.raises(ConfigError, match='train_cfg must be a list'):
        build_cascade(train_cfg=TRAIN[0])
    one = build_cascade(bbox_head=AGNOSTIC)  # one config is used for every stage
    assert isinstance(one, CascadeRoIHead) and len(one.bbox_head) == 3
    assert one.bbox_head[0] is not one.bbox_head[2]
