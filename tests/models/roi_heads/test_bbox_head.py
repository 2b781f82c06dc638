import math
from types import SimpleNamespace

import pytest
import torch

import hrnet_train.models.losses.box_losses  # noqa: F401  (registers L1Loss)
import hrnet_train.models.task_modules  # noqa: F401  (registers DeltaXYWHBBoxCoder)
from hrnet_train.models.roi_heads.bbox_head import (
    Shared2FCBBoxHead,
    compute_accuracy,
    compute_roi_targets,
    multiclass_nms,
    select_class_deltas,
)
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError

TINY = dict(type='Shared2FCBBoxHead', in_channels=8, fc_out_channels=16, roi_feat_size=7,
            num_classes=3)
# the positive of the 2-RoI case: prior (0, 0, 10, 10), GT (1, 1, 11, 13); with stds
# (.1, .1, .2, .2): dx = (6 - 5) / 10 / .1, dy = (7 - 5) / 10 / .1, dw = log(10 / 10) / .2,
# dh = log(12 / 10) / .2
POS_DELTA = [1.0, 2.0, 0.0, math.log(1.2) / 0.2]


def _two_roi_result():
    return SimpleNamespace(pos_priors=torch.tensor([[0., 0., 10., 10.]]),
                           neg_priors=torch.tensor([[30., 30., 50., 40.]]),
                           pos_gt_bboxes=torch.tensor([[1., 1., 11., 13.]]),
                           pos_gt_labels=torch.tensor([1]))


def test_module_names_shapes_and_checkpoint_keys():
    head = MODELS.build(TINY)
    sd = head.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        'shared_fcs.0.weight': (16, 8 * 49), 'shared_fcs.0.bias': (16,),
        'shared_fcs.1.weight': (16, 16), 'shared_fcs.1.bias': (16,),
        'fc_cls.weight': (4, 16), 'fc_cls.bias': (4,),
        'fc_reg.weight': (12, 16), 'fc_reg.bias': (12,)}
    cls_score, bbox_pred = head(torch.randn(5, 8, 7, 7))
    assert cls_score.shape == (5, 4) and bbox_pred.shape == (5, 12)
    agnostic = MODELS.build(dict(TINY, reg_class_agnostic=True))
    assert agnostic.fc_reg.weight.shape == (4, 16)
    assert agnostic(torch.randn(0, 8, 7, 7))[1].shape == (0, 4)
    with pytest.raises(ValueError, match=r'\(K, 8, 7, 7\)'):
        head(torch.randn(2, 8, 5, 5))


def test_default_coco_head_matches_mmdet_sizes_and_init():
    torch.manual_seed(0)
    head = Shared2FCBBoxHead(in_channels=16, fc_out_channels=256, num_classes=80).requires_grad_(
        False)
    assert head.fc_cls.weight.shape == (81, 256) and head.fc_reg.weight.shape == (320, 256)
    assert abs(float(head.fc_cls.weight.std()) - 0.01) < 0.0005
    assert abs(float(head.fc_reg.weight.std()) - 0.001) < 0.00005
    for fc, fan_in in ((head.shared_fcs[0], 16 * 49), (head.shared_fcs[1], 256)):
        bound = math.sqrt(6 / (fan_in + 256))  # Xavier uniform
        assert float(fc.weight.abs().max()) <= bound
        assert abs(float(fc.weight.std()) - bound / math.sqrt(3)) < 0.02 * bound
    for module in (*head.shared_fcs, head.fc_cls, head.fc_reg):
        assert float(module.bias.abs().max()) == 0.0
    assert head.bbox_coder.stds == (0.1, 0.1, 0.2, 0.2)


def test_compute_roi_targets_and_get_targets_by_hand():
    head = MODELS.build(TINY)
    labels, label_weights, bbox_targets, bbox_weights = head.get_targets([_two_roi_result()])
    assert labels.tolist() == [1, 3]  # negative: background = num_classes
    assert label_weights.tolist() == [1.0, 1.0]
    torch.testing.assert_close(bbox_targets, torch.tensor([POS_DELTA, [0., 0., 0., 0.]]))
    assert bbox_weights.tolist() == [[1.] * 4, [0.] * 4]
    # two images, the second without positives; pos_weight 2
    empty_pos = SimpleNamespace(pos_priors=torch.zeros((0, 4)),
                                neg_priors=torch.tensor([[0., 0., 5., 5.], [1., 1., 4., 4.]]),
                                pos_gt_bboxes=torch.zeros((0, 4)),
                                pos_gt_labels=torch.zeros((0,), dtype=torch.long))
    labels, label_weights, _, bbox_weights = head.get_targets(
        [_two_roi_result(), empty_pos], pos_weight=2.0)
    assert labels.tolist() == [1, 3, 3, 3]
    assert label_weights.tolist() == [2.0, 1.0, 1.0, 1.0]
    assert bbox_weights.sum() == 4
    out = compute_roi_targets(torch.zeros((0, 4)), torch.zeros((0,), dtype=torch.long), 0,
                              num_classes=3)
    assert [tuple(t.shape) for t in out] == [(0,), (0,), (0, 4), (0, 4)]


def test_accuracy_and_class_slices():
    logits = torch.tensor([[2., 0., 0., 0.], [0., 0., 0., 1.], [0., 3., 0., 0.]])
    assert float(compute_accuracy(logits, torch.tensor([1, 3, 1]))) == pytest.approx(200 / 3)
    assert float(compute_accuracy(torch.zeros((0, 4)), torch.zeros((0,), dtype=torch.long))) == 0
    pred = torch.arange(24.).view(2, 12)
    assert select_class_deltas(pred, torch.tensor([2, 0])).tolist() == [
        [8., 9., 10., 11.], [12., 13., 14., 15.]]
    agnostic = torch.arange(8.).view(2, 4)
    assert select_class_deltas(agnostic, torch.tensor([2, 0])) is agnostic


def test_losses_by_hand_on_the_two_roi_case():
    head = MODELS.build(TINY)
    targets = head.get_targets([_two_roi_result()])
    cls_score = torch.tensor([[2., 0., 0., 0.], [0., 0., 0., 1.]], requires_grad=True)
    bbox_pred = torch.full((2, 12), 100.0)  # only row 0, class 1 (columns 4..7) is used
    bbox_pred[0, 4:8] = torch.tensor([1.5, 2.0, 0.0, 0.0])
    bbox_pred.requires_grad_()
    losses = head.loss(cls_score, bbox_pred, *targets)
    assert set(losses) == {'loss_cls', 'acc', 'loss_bbox'}
    ce0 = math.log(math.exp(2) + 3)  # label 1 has logit 0
    ce1 = math.log(3 + math.e) - 1.0  # background (3) has logit 1
    assert float(losses['loss_cls']) == pytest.approx((ce0 + ce1) / 2, rel=1e-6)
    assert float(losses['acc']) == pytest.approx(50.0)
    # L1 on the positive's class-1 deltas, summed, divided by the 2 sampled RoIs
    l1 = abs(1.5 - POS_DELTA[0]) + abs(2.0 - POS_DELTA[1]) + abs(0 - POS_DELTA[3])
    assert float(losses['loss_bbox']) == pytest.approx(l1 / 2, rel=1e-5)
    (losses['loss_cls'] + losses['loss_bbox']).backward()
    assert float(bbox_pred.grad[1].abs().sum()) == 0
    assert float(bbox_pred.grad[0, :4].abs().sum()) == 0
    # pos_weight 2: the positive's CE counts twice, the divisor stays the 2 weighted RoIs
    targets2 = head.get_targets([_two_roi_result()], pos_weight=2.0)
    losses2 = head.loss(cls_score, bbox_pred, *targets2)
    assert float(losses2['loss_cls']) == pytest.approx((2 * ce0 + ce1) / 2, rel=1e-6)


def test_without_positives_loss_bbox_is_a_zero_in_the_graph():
    head = MODELS.build(TINY)
    result = SimpleNamespace(pos_priors=torch.zeros((0, 4)),
                             neg_priors=torch.tensor([[0., 0., 5., 5.]]),
                             pos_gt_bboxes=torch.zeros((0, 4)),
                             pos_gt_labels=torch.zeros((0,), dtype=torch.long))
    cls_score, bbox_pred = head(torch.randn(1, 8, 7, 7))
    losses, targets = head.loss_and_target(cls_score, bbox_pred, [result])
    assert float(losses['loss_bbox']) == 0.0 and losses['loss_bbox'].requires_grad
    assert float(losses['loss_cls']) == pytest.approx(
        float(-torch.log_softmax(cls_score, 1)[0, 3]), rel=1e-6)
    sum(losses[k] for k in ('loss_cls', 'loss_bbox')).backward()
    assert float(head.fc_reg.weight.grad.abs().sum()) == 0.0
    # no RoIs at all: finite zeros
    cls_score, bbox_pred = head(torch.zeros(0, 8, 7, 7))
    empty = SimpleNamespace(pos_priors=torch.zeros((0, 4)), neg_priors=torch.zeros((0, 4)),
                            pos_gt_bboxes=torch.zeros((0, 4)),
                            pos_gt_labels=torch.zeros((0,), dtype=torch.long))
    losses, _ = head.loss_and_target(cls_score, bbox_pred, [empty])
    assert all(float(v) == 0.0 for v in losses.values())


def test_multiclass_nms_by_hand():
    # 3 RoIs x 2 classes, class-specific boxes; background column last
    boxes = torch.tensor([
        [0., 0., 10., 10., 100., 100., 110., 110.],
        [1., 0., 11., 10., 0., 0., 10., 10.],   # overlaps RoI 0 in class 0 (IoU 9/11)
        [50., 50., 60., 60., 0., 1., 10., 11.],  # class 1 overlaps RoI 1's class-1 box
    ])
    scores = torch.tensor([[0.6, 0.1, 0.3], [0.7, 0.2, 0.1], [0.04, 0.5, 0.46]])
    bboxes, det_scores, labels = multiclass_nms(boxes, scores, score_thr=0.05,
                                                iou_threshold=0.5, max_per_img=100)
    # class 0: RoI 1 (0.7) suppresses RoI 0 (0.6); RoI 2 (0.04) is under the threshold.
    # class 1: RoI 2 (0.5) suppresses RoI 1 (0.2, IoU 9/11); RoI 0 (0.1) is far away.
    assert det_scores.tolist() == pytest.approx([0.7, 0.5, 0.1])
    assert labels.tolist() == [0, 1, 1]
    assert bboxes.tolist() == [[1., 0., 11., 10.], [0., 1., 10., 11.], [100., 100., 110., 110.]]
    _, s, _ = multiclass_nms(boxes, scores, score_thr=0.05, iou_threshold=0.5, max_per_img=2)
    assert s.tolist() == pytest.approx([0.7, 0.5])
    # shared (class-agnostic) boxes: the same box for both classes survives in both
    shared = torch.tensor([[0., 0., 10., 10.]])
    b, s, lab = multiclass_nms(shared, torch.tensor([[0.3, 0.6, 0.1]]), score_thr=0.05,
                               iou_threshold=0.5, max_per_img=100)
    assert lab.tolist() == [1, 0] and b.tolist() == [[0., 0., 10., 10.]] * 2
    b, s, lab = multiclass_nms(shared, torch.tensor([[0.01, 0.01, 0.98]]), score_thr=0.05,
                               iou_threshold=0.5, max_per_img=100)
    assert b.shape == (0, 4) and s.shape == (0,) and lab.dtype == torch.long


def _constant_head(num_classes=3, cls_bias=(0., 5., 0., 0.), reg_bias=None, agnostic=False):
    """A head whose outputs do not depend on the input: every weight 0, biases as given."""
    head = Shared2FCBBoxHead(in_channels=8, fc_out_channels=16, num_classes=num_classes,
                             reg_class_agnostic=agnostic)
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        head.fc_cls.bias.copy_(torch.as_tensor(cls_bias, dtype=torch.float32))
        if reg_bias is not None:
            head.fc_reg.bias.copy_(torch.as_tensor(reg_bias, dtype=torch.float32))
    return head


def test_predict_by_feat_decodes_the_winning_class_and_rescales():
    reg = torch.zeros(12)
    reg[4:8] = torch.tensor([0.5, 0.0, 0.0, 0.0])  # class 1: dx = .5 * .1 -> + 0.05 w
    head = _constant_head(reg_bias=reg)
    rois = torch.tensor([[0., 10., 20., 50., 60.]])
    cls_score, bbox_pred = head(torch.randn(1, 8, 7, 7))
    meta = dict(img_shape=(100, 100), ori_shape=(200, 50), scale_factor=(2.0, 0.5))
    (res,) = head.predict_by_feat([rois], [cls_score], [bbox_pred], [meta], rescale=True,
                                  score_thr=0.05, iou_threshold=0.5, max_per_img=100)
    # (10, 20, 50, 60) + 0.05 * 40 in x -> (12, 20, 52, 60) in img_shape pixels -> / (2, .5)
    # = (6, 40, 26, 120); classes 0 and 2 score 1 / (e^5 + 3) < 0.05
    assert res.labels.tolist() == [1]
    assert res.scores.tolist() == pytest.approx([math.exp(5) / (math.exp(5) + 3)])
    torch.testing.assert_close(res.bboxes, torch.tensor([[6., 40., 26., 120.]]))
    # without rescale: img_shape pixels, clipped to img_shape
    far = torch.tensor([[0., 80., 20., 99., 60.]])
    (res,) = head.predict_by_feat([far], [cls_score[:1]], [bbox_pred[:1]], [meta],
                                  rescale=False, score_thr=0.05, iou_threshold=0.5,
                                  max_per_img=100)
    torch.testing.assert_close(res.bboxes, torch.tensor([[80.95, 20., 99.95, 60.]]))
    # rescaled boxes are clipped to ori_shape (h 200, w 50): x 99.95 / 2 -> 49.975 <= 50
    (res,) = head.predict_by_feat([far], [cls_score[:1]], [bbox_pred[:1]],
                                  [dict(meta, ori_shape=(200, 45))], rescale=True,
                                  score_thr=0.05, iou_threshold=0.5, max_per_img=100)
    torch.testing.assert_close(res.bboxes, torch.tensor([[40.475, 40., 45., 120.]]))
    (res,) = head.predict_by_feat([torch.zeros((0, 5))], [cls_score[:0]], [bbox_pred[:0]],
                                  [meta], rescale=True, score_thr=0.05, iou_threshold=0.5,
                                  max_per_img=100)
    assert res.bboxes.shape == (0, 4) and res.labels.dtype == torch.long


def test_refine_bboxes_regresses_and_drops_added_gts():
    head = _constant_head(reg_bias=[0.5, 0., 0., 0.], agnostic=True)
    rois = torch.tensor([[0., 0., 0., 10., 10.], [0., 20., 20., 40., 40.],
                         [1., 0., 0., 20., 10.]])
    labels = torch.tensor([0, 3, 3])
    cls_score, bbox_pred = head(torch.zeros(3, 8, 7, 7))
    out = head.refine_bboxes(rois, labels, cls_score, bbox_pred,
                             [torch.tensor([True]), torch.zeros(0, dtype=torch.bool)],
                             [(100, 100), (100, 15)])
    assert len(out) == 2
    # image 0: the positive is an added GT -> dropped; the negative moves by 0.05 * 20 = 1
    torch.testing.assert_close(out[0], torch.tensor([[21., 20., 41., 40.]]))
    # image 1: moves by 0.05 * 20 = 1 and is clipped to w = 15
    torch.testing.assert_close(out[1], torch.tensor([[1., 0., 15., 10.]]))


def test_config_errors():
    with pytest.raises(ConfigError, match='ignore_index'):
        Shared2FCBBoxHead(in_channels=8, fc_out_channels=16, num_classes=300,
                          loss_cls=dict(type='CrossEntropyLoss'))
    with pytest.raises(ConfigError, match='num_classes'):
        Shared2FCBBoxHead(num_classes=0)
    with pytest.raises(ConfigError, match='legacy'):
        Shared2FCBBoxHead(in_channels=8, fc_out_channels=16, legacy=True,
                          bbox_coder=dict(type='DeltaXYWHBBoxCoder', legacy=False))
    legacy = Shared2FCBBoxHead(in_channels=8, fc_out_channels=16, legacy=True)
    assert legacy.bbox_coder.legacy


def test_half_precision_outputs_are_decoded_in_float32():
    # under autocast the head's outputs are float16; boxes past 1024 px would move by a pixel
    head = _constant_head()
    rois = torch.tensor([[0., 1000.25, 10., 1100.75, 50.]])
    cls_score, bbox_pred = (t.half() for t in head(torch.zeros(1, 8, 7, 7)))
    meta = dict(img_shape=(2000, 2000), ori_shape=(2000, 2000), scale_factor=(1.0, 1.0))
    (res,) = head.predict_by_feat([rois], [cls_score], [bbox_pred], [meta], rescale=True,
                                  score_thr=0.05, iou_threshold=0.5, max_per_img=100)
    assert res.bboxes.dtype == torch.float32
    assert res.bboxes.tolist() == [[1000.25, 10., 1100.75, 50.]]
    boxes = head.regress_by_class(rois[:, 1:], torch.tensor([1]), bbox_pred, (2000, 2000))
    assert boxes.tolist() == [[1000.25, 10., 1100.75, 50.]]
