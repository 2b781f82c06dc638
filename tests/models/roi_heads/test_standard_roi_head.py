import math

import pytest
import torch
from mmengine.structures import BaseDataElement, InstanceData

import hrnet_train.models.losses.box_losses  # noqa: F401  (registers L1Loss)
import hrnet_train.models.task_modules  # noqa: F401  (registers coder, assigner, sampler)
from hrnet_train.models.roi_heads.standard_roi_head import StandardRoIHead, parse_rcnn_test_cfg
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError

NUM_CLASSES = 3
RCNN_TRAIN = dict(
    assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                  match_low_quality=False, ignore_iof_thr=-1),
    sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1,
                 add_gt_as_proposals=True),
    pos_weight=-1)
RCNN_TEST = dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
EXTRACTOR = dict(type='SingleRoIExtractor', out_channels=8, featmap_strides=[4, 8, 16, 32])
HEAD = dict(type='Shared2FCBBoxHead', in_channels=8, fc_out_channels=16, roi_feat_size=7,
            num_classes=NUM_CLASSES)


def build_head(**overrides):
    cfg = dict(type='StandardRoIHead', bbox_roi_extractor=EXTRACTOR, bbox_head=HEAD,
               train_cfg=RCNN_TRAIN, test_cfg=RCNN_TEST)
    cfg.update(overrides)
    return MODELS.build(cfg)


def make_feats(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 8, size // s, size // s, generator=g) for s in (4, 8, 16, 32, 64)]


def make_sample(gt_bboxes, gt_labels, *, img_shape=(64, 64), ori_shape=None,
                scale_factor=(1.0, 1.0)):
    sample = BaseDataElement(metainfo=dict(img_shape=img_shape,
                                           ori_shape=ori_shape or img_shape,
                                           pad_shape=img_shape, scale_factor=scale_factor))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(gt_bboxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.tensor(gt_labels, dtype=torch.long))
    sample.ignored_instances = InstanceData(bboxes=torch.zeros((0, 4)),
                                            labels=torch.zeros((0,), dtype=torch.long))
    return sample


def proposals(boxes):
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return InstanceData(bboxes=boxes, scores=torch.ones(len(boxes)))


def random_proposals(gts, num, seed):
    g = torch.Generator().manual_seed(seed)
    gts = torch.tensor(gts, dtype=torch.float32)
    base = gts[torch.randint(0, len(gts), (num,), generator=g)]
    boxes = base + torch.randn(num, 4, generator=g) * 6
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 2)
    return proposals(boxes.clamp(0, 64))


def set_constant(head, cls_bias, reg_bias=None):
    """Make a box head's outputs independent of its input: weights 0, biases as given."""
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        head.fc_cls.bias.copy_(torch.as_tensor(cls_bias, dtype=torch.float32))
        if reg_bias is not None:
            head.fc_reg.bias.copy_(torch.as_tensor(reg_bias, dtype=torch.float32))


def test_checkpoint_keys():
    head = build_head(bbox_head=dict(HEAD, fc_out_channels=32))
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == {
        'bbox_head.shared_fcs.0.weight': (32, 8 * 49), 'bbox_head.shared_fcs.0.bias': (32,),
        'bbox_head.shared_fcs.1.weight': (32, 32), 'bbox_head.shared_fcs.1.bias': (32,),
        'bbox_head.fc_cls.weight': (4, 32), 'bbox_head.fc_cls.bias': (4,),
        'bbox_head.fc_reg.weight': (12, 32), 'bbox_head.fc_reg.bias': (12,)}


def test_loss_targets_end_to_end_by_hand():
    # one GT (label 2) and three proposals: IoU 1 and 29/31 -> positive, far away -> negative.
    # With the GT added, the sampled RoIs are 3 positives and 1 negative.
    head = build_head()
    logits = [0.5, -1.0, 2.0, 0.0]
    set_constant(head.bbox_head, logits)
    gt = [[10., 10., 40., 40.]]
    props = [proposals([[10., 10., 40., 40.], [11., 10., 41., 40.], [45., 45., 60., 60.]])]
    losses = head.loss(make_feats(n=1), props, [make_sample(gt, [2])])
    log_z = math.log(sum(math.exp(v) for v in logits))
    ce_fg, ce_bg = log_z - logits[2], log_z - logits[3]
    assert float(losses['loss_cls']) == pytest.approx((3 * ce_fg + ce_bg) / 4, rel=1e-6)
    assert float(losses['acc']) == pytest.approx(75.0)  # class 2 wins on every RoI
    # deltas predicted 0; targets 0 except the shifted proposal: dx = (25 - 26) / 30 / 0.1
    assert float(losses['loss_bbox']) == pytest.approx((1 / 30 / 0.1) / 4, rel=1e-5)


def test_losses_finite_and_decreasing_under_sgd():
    torch.manual_seed(0)
    head = build_head()
    feats = make_feats()
    gts = [[[4., 6., 30., 40.], [30., 20., 60., 50.]], [[10., 10., 50., 30.]]]
    samples = [make_sample(gts[0], [0, 1]), make_sample(gts[1], [2])]
    props = [random_proposals(gts[0], 40, 1), random_proposals(gts[1], 40, 2)]
    opt = torch.optim.SGD(head.parameters(), lr=0.2, momentum=0.9)
    totals = []
    for _ in range(10):
        torch.manual_seed(123)  # the same sampled RoIs every step
        losses = head.loss(feats, props, samples)
        assert set(losses) == {'loss_cls', 'acc', 'loss_bbox'}
        assert all(torch.isfinite(v) for v in losses.values())
        total = losses['loss_cls'] + losses['loss_bbox']
        totals.append(float(total))
        opt.zero_grad()
        total.backward()
        opt.step()
    assert totals[0] > 1.0 and totals[-1] < 0.75 * totals[0]
    assert all(b < a for a, b in zip(totals, totals[1:]))


@pytest.mark.parametrize('gt,props', [
    ([], [[5., 5., 30., 30.], [20., 20., 60., 50.]]),  # no GT: negatives only
    ([[5., 5., 30., 30.]], []),  # no proposal: the GT alone
    ([], []),  # nothing at all
])
def test_no_nan_without_gts_or_proposals(gt, props):
    head = build_head()
    feats = [f.requires_grad_() for f in make_feats(n=1)]
    losses = head.loss(feats, [proposals(props)], [make_sample(gt, [1] * len(gt))])
    assert set(losses) == {'loss_cls', 'acc', 'loss_bbox'}
    assert all(torch.isfinite(v) for v in losses.values())
    if not gt:
        assert float(losses['loss_bbox']) == 0.0
    (losses['loss_cls'] + losses['loss_bbox']).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())
    results = head.predict(feats, [proposals(props)], [make_sample(gt, [1] * len(gt))])
    assert results[0].bboxes.shape[1] == 4 and results[0].labels.dtype == torch.long


def test_predict_returns_the_winning_class_box_in_original_pixels():
    head = build_head()
    reg = torch.zeros(12)
    reg[4:8] = torch.tensor([0.5, 0., 0., 0.])  # class 1: x moves by 0.05 w
    set_constant(head.bbox_head, [0., 5., 0., 0.], reg)
    samples = [make_sample([], [], img_shape=(64, 64), ori_shape=(128, 32),
                           scale_factor=(2.0, 0.5)),
               make_sample([], [], img_shape=(64, 64))]
    props = [proposals([[10., 20., 50., 60.]]), proposals([])]
    res = head.predict(make_feats(), props, samples)
    assert len(res) == 2 and len(res[1]) == 0 and res[1].bboxes.shape == (0, 4)
    # (10, 20, 50, 60) -> (12, 20, 52, 60) -> / (w 2, h 0.5) -> (6, 40, 26, 120)
    assert res[0].labels.tolist() == [1]
    assert res[0].scores.tolist() == pytest.approx([math.exp(5) / (math.exp(5) + 3)])
    torch.testing.assert_close(res[0].bboxes, torch.tensor([[6., 40., 26., 120.]]))
    res = head.predict(make_feats(), props, samples, rescale=False)
    torch.testing.assert_close(res[0].bboxes, torch.tensor([[12., 20., 52., 60.]]))
    empty = head.predict(make_feats(), [proposals([]), proposals([])], samples)
    assert [len(r) for r in empty] == [0, 0]


def test_config_errors():
    with pytest.raises(ConfigError, match='train_cfg: unknown keys'):
        build_head(train_cfg=dict(RCNN_TRAIN, pos_weigth=1))
    with pytest.raises(ConfigError, match='iou_threshold'):
        build_head(test_cfg=dict(RCNN_TEST, nms=dict(type='nms', iou_thr=0.5)))
    with pytest.raises(ConfigError, match='needs train_cfg'):
        build_head(train_cfg=None).loss(make_feats(n=1), [proposals([])],
                                        [make_sample([], [])])
    with pytest.raises(ConfigError, match='test_cfg is None'):
        parse_rcnn_test_cfg(None)
    assert parse_rcnn_test_cfg(RCNN_TEST) == dict(score_thr=0.05, iou_threshold=0.5,
                                                  max_per_img=100)
    assert isinstance(build_head(), StandardRoIHead)
