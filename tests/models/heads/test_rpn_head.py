import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement, InstanceData

from hrnet_train.models.heads.rpn_head import RPNHead
from hrnet_train.models.losses import box_losses, cross_entropy  # noqa: F401  (registers)
from hrnet_train.models.task_modules import box_coder  # noqa: F401  (registers)
from hrnet_train.models.task_modules.assigner import box_iof
from hrnet_train.registry import MODELS
from hrnet_train.structures import box_iou
from hrnet_train.utils.errors import ConfigError

TRAIN_CFG = dict(
    assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                  match_low_quality=True, ignore_iof_thr=-1),
    sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1,
                 add_gt_as_proposals=False),
    allowed_border=-1, pos_weight=-1)
SMALL_ANCHORS = dict(type='AnchorGenerator', strides=(4, 8, 16, 32, 64), scales=(2,),
                     ratios=(0.5, 1.0, 2.0))


def _sample(img_shape, gts, ignored=None, scale_factor=(1.0, 1.0)):
    s = BaseDataElement(metainfo=dict(img_shape=img_shape, pad_shape=img_shape,
                                      scale_factor=scale_factor, img_path='toy.jpg'))
    gts = torch.as_tensor(gts, dtype=torch.float32).reshape(-1, 4)
    s.gt_instances = InstanceData(bboxes=gts, labels=torch.zeros(len(gts), dtype=torch.long))
    ign = torch.zeros(0, 4) if ignored is None else torch.as_tensor(ignored).reshape(-1, 4)
    s.ignored_instances = InstanceData(bboxes=ign, labels=torch.zeros(len(ign), dtype=torch.long))
    return s


def _feats(n, c, h, w, levels=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, max(h >> i, 1), max(w >> i, 1), generator=gen)
            for i in range(levels)]


def _constant_head(head, cls_bias):
    """Zero every weight: logits = cls_bias, deltas = 0 everywhere."""
    with torch.no_grad():
        for conv in (head.rpn_conv, head.rpn_cls, head.rpn_reg):
            conv.weight.zero_()
            conv.bias.zero_()
        head.rpn_cls.bias.fill_(cls_bias)
    return head


def _softplus(x):
    return math.log1p(math.exp(x))


def test_forward_shapes_keys_and_init():
    head = MODELS.build(dict(type='RPNHead'))
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes == {'rpn_conv.weight': (256, 256, 3, 3), 'rpn_conv.bias': (256,),
                      'rpn_cls.weight': (3, 256, 1, 1), 'rpn_cls.bias': (3,),
                      'rpn_reg.weight': (12, 256, 1, 1), 'rpn_reg.bias': (12,)}
    assert head.rpn_conv.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert head.rpn_reg.bias.abs().sum() == 0
    small = RPNHead(8, 6)
    cls, reg = small(_feats(2, 8, 16, 24))
    assert [tuple(c.shape) for c in cls] == [(2, 3, 16, 24), (2, 3, 8, 12), (2, 3, 4, 6),
                                             (2, 3, 2, 3), (2, 3, 1, 1)]
    assert [tuple(r.shape) for r in reg] == [(2, 12, 16, 24), (2, 12, 8, 12), (2, 12, 4, 6),
                                             (2, 12, 2, 3), (2, 12, 1, 1)]
    with pytest.raises(ValueError, match='5 levels'):
        small(_feats(2, 8, 16, 24, levels=4))


def test_one_gt_on_one_anchor():
    head = RPNHead(4, 4, anchor_generator=SMALL_ANCHORS, train_cfg=TRAIN_CFG)
    # stride 8, scale 2: 16 x 16 anchors; cell (y 3, x 4), ratio 1 is [24, 16, 40, 32]. The GT is
    # that anchor moved 1 px right: IoU 240/272 = 0.88; the neighbours (8 px away) stay < 0.3.
    gt = torch.tensor([[25., 16., 41., 32.]])
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    targets, avg_factor = head.get_targets(sizes, [_sample((64, 64), gt)], torch.device('cpu'))
    pos, neg, pos_t = targets[0]
    index = 16 * 16 * 3 + (3 * 8 + 4) * 3 + 1
    anchors = torch.cat(head.anchor_generator.grid_anchors(sizes))
    torch.testing.assert_close(anchors[index], torch.tensor([24., 16., 40., 32.]))
    assert pos.tolist() == [index]
    torch.testing.assert_close(pos_t, torch.tensor([[1 / 16, 0., 0., 0.]]))
    iou = box_iou(gt, anchors)[0]
    assert int((iou >= 0.7).sum()) == 1 and int((iou < 0.3).sum()) > 255
    assert neg.numel() == 255 and bool((iou[neg] < 0.3).all())  # 256 samples, one positive
    assert avg_factor == 256

    b = 0.3
    _constant_head(head, b)
    losses = head.loss(_feats(1, 4, 16, 16), [_sample((64, 64), gt)])
    expected_cls = (_softplus(-b) + 255 * _softplus(b)) / 256
    assert losses['loss_rpn_cls'].item() == pytest.approx(expected_cls, rel=1e-5)
    assert losses['loss_rpn_bbox'].item() == pytest.approx(1 / 16 / 256, rel=1e-5)


def test_empty_gt_gives_only_negatives():
    # 16 x 16 image: levels 4x4, 2x2, 1x1, 1x1, 1x1 -> 3 * 23 = 69 anchors, all sampled.
    head = _constant_head(RPNHead(4, 4, train_cfg=TRAIN_CFG), cls_bias=-0.7)
    feats = _feats(1, 4, 4, 4)
    losses = head.loss(feats, [_sample((16, 16), torch.zeros(0, 4))])
    assert losses['loss_rpn_cls'].item() == pytest.approx(69 * _softplus(-0.7) / (1 + 69),
                                                          rel=1e-5)
    assert losses['loss_rpn_bbox'].item() == 0.0
    sum(losses.values()).backward()
    assert torch.isfinite(head.rpn_cls.bias.grad).all() and head.rpn_cls.bias.grad.abs().sum() > 0
    assert head.rpn_reg.bias.grad is None or torch.equal(head.rpn_reg.bias.grad,
                                                        torch.zeros(12))


def test_ignored_boxes_exclude_anchors():
    cfg = dict(TRAIN_CFG, assigner=dict(TRAIN_CFG['assigner'], ignore_iof_thr=0.5))
    head = RPNHead(4, 4, anchor_generator=SMALL_ANCHORS, train_cfg=cfg)
    ignored = torch.tensor([[0., 0., 32., 64.]])
    sample = _sample((64, 64), [[40., 40., 56., 56.]], ignored=ignored)
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    torch.manual_seed(0)
    [(pos, neg, _)], _ = head.get_targets(sizes, [sample], torch.device('cpu'))
    anchors = torch.cat(head.anchor_generator.grid_anchors(sizes))
    assert pos.numel() >= 1
    assert bool((box_iof(anchors[neg], ignored)[:, 0] <= 0.5).all())
    assert int((box_iof(anchors, ignored)[:, 0] > 0.5).sum()) > 300  # many were candidates


def test_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    head = RPNHead(8, 8, train_cfg=TRAIN_CFG)
    feats = _feats(2, 8, 16, 16, seed=1)
    samples = [_sample((64, 64), [[4., 6., 40., 30.], [30., 20., 60., 62.]]),
               _sample((60, 50), [[10., 10., 26., 42.]])]
    opt = torch.optim.SGD(head.parameters(), lr=0.5, momentum=0.9)
    history = []
    for _ in range(30):
        losses = head.loss(feats, samples)
        total = losses['loss_rpn_cls'] + losses['loss_rpn_bbox']
        assert torch.isfinite(total)
        history.append([v.item() for v in losses.values()])
        opt.zero_grad()
        total.backward()
        opt.step()
    first, last = history[0], history[-1]
    assert last[0] < 0.6 * first[0]  # classification
    assert last[1] < 0.7 * first[1]  # box regression (0.022 -> 0.012 here)


def _reference_proposals(head, cls, reg, img_shape, nms_pre, max_per_img, iou_thr):
    """Slow path: top nms_pre per level, decode, drop empty boxes, greedy NMS per level."""
    sizes = [tuple(c.shape[-2:]) for c in cls]
    cand = []
    for level, (c, r, a) in enumerate(zip(cls, reg, head.anchor_generator.grid_anchors(sizes))):
        s = c[0].permute(1, 2, 0).reshape(-1).sigmoid()
        d = r[0].permute(1, 2, 0).reshape(-1, 4)
        order = s.argsort(descending=True)[:nms_pre]
        boxes = head.bbox_coder.decode(a[order], d[order], max_shape=img_shape)
        cand += [(s[i].item(), level, boxes[k]) for k, i in enumerate(order.tolist())]
    cand = [c for c in cand if (c[2][2] - c[2][0]) > 0 and (c[2][3] - c[2][1]) > 0]
    cand.sort(key=lambda c: -c[0])
    kept = []
    for score, level, box in cand:
        if all(lv != level or box_iou(box[None], b[None])[0, 0] <= iou_thr
               for _, lv, b in kept):
            kept.append((score, level, box))
    kept = kept[:max_per_img]
    return torch.stack([k[2] for k in kept]), torch.tensor([k[0] for k in kept])


def test_proposals_match_reference_and_stay_inside():
    torch.manual_seed(0)
    test_cfg = dict(nms_pre=40, max_per_img=50, nms=dict(type='nms', iou_threshold=0.5),
                    min_bbox_size=0)
    head = RPNHead(4, 8, test_cfg=test_cfg)
    with torch.no_grad():  # larger weights: varied scores and boxes
        for conv in (head.rpn_conv, head.rpn_cls, head.rpn_reg):
            conv.weight.normal_(0, 0.3)
    feats = _feats(2, 4, 16, 16, seed=3)
    samples = [_sample((60, 50), []), _sample((64, 64), [], scale_factor=(2.0, 0.5))]
    with torch.no_grad():
        props = head.predict(feats, samples)
        cls, reg = head(feats)
    for i, (p, s) in enumerate(zip(props, samples)):
        h, w = s.metainfo['img_shape']
        assert set(p.keys()) == {'bboxes', 'scores'}
        assert 0 < len(p) <= 50
        assert bool((p.bboxes[:, 0::2] >= 0).all() and (p.bboxes[:, 0::2] <= w).all())
        assert bool((p.bboxes[:, 1::2] >= 0).all() and (p.bboxes[:, 1::2] <= h).all())
        assert bool((p.scores[:-1] >= p.scores[1:]).all())
        ref_boxes, ref_scores = _reference_proposals(
            head, [c[i:i + 1] for c in cls], [r[i:i + 1] for r in reg], (h, w), 40, 50, 0.5)
        torch.testing.assert_close(p.bboxes, ref_boxes)
        torch.testing.assert_close(p.scores, ref_scores)
    # max_per_img caps the result; rescale divides by scale_factor (w, h)
    head.test_cfg['max_per_img'] = 7
    with torch.no_grad():
        capped = head.predict(feats, samples)
        rescaled = head.predict(feats, samples, rescale=True)
    assert [len(p) for p in capped] == [7, 7]
    torch.testing.assert_close(capped[1].bboxes, props[1].bboxes[:7])
    torch.testing.assert_close(rescaled[1].bboxes,
                               capped[1].bboxes * torch.tensor([0.5, 2.0, 0.5, 2.0]))


def test_loss_and_predict():
    torch.manual_seed(0)
    proposal_cfg = dict(nms_pre=2000, max_per_img=20, nms=dict(type='nms', iou_threshold=0.7),
                        min_bbox_size=0)
    head = RPNHead(4, 4, train_cfg=TRAIN_CFG)
    feats = [f.requires_grad_() for f in _feats(2, 4, 16, 16)]
    samples = [_sample((64, 64), [[4., 6., 40., 30.]]), _sample((64, 64), torch.zeros(0, 4))]
    losses, props = head.loss_and_predict(feats, samples, proposal_cfg=proposal_cfg)
    assert set(losses) == {'loss_rpn_cls', 'loss_rpn_bbox'}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert [len(p) for p in props] == [20, 20]
    assert not props[0].bboxes.requires_grad
    sum(losses.values()).backward()
    assert feats[0].grad is not None


def test_legacy_and_config_errors():
    head = RPNHead(4, 4, train_cfg=TRAIN_CFG, legacy=True)
    assert head.anchor_generator.legacy and head.bbox_coder.legacy
    assert head.train_cfg['assigner'].legacy
    torch.testing.assert_close(head.anchor_generator.base_anchors[0][1],
                               torch.tensor([-14., -14., 17., 17.]))
    with pytest.raises(ConfigError, match='anchor_generator.legacy'):
        RPNHead(4, 4, anchor_generator=dict(type='AnchorGenerator', legacy=False), legacy=True)
    with pytest.raises(ConfigError, match='add_gt_as_proposals'):
        RPNHead(4, 4, train_cfg=dict(TRAIN_CFG, sampler=dict(TRAIN_CFG['sampler'],
                                                             add_gt_as_proposals=True)))
    with pytest.raises(ConfigError, match='nms_thr'):
        RPNHead(4, 4, test_cfg=dict(nms_pre=10, max_per_img=10, nms_thr=0.7,
                                    nms=dict(type='nms', iou_threshold=0.7)))
    with pytest.raises(ConfigError, match='use_sigmoid'):
        RPNHead(4, 4, loss_cls=dict(type='CrossEntropyLoss'))
    with pytest.raises(ConfigError, match='train_cfg'):
        RPNHead(4, 4).loss(_feats(1, 4, 4, 4), [_sample((16, 16), torch.zeros(0, 4))])


def test_smooth_l1_rpn_like_the_fork():
    head = _constant_head(RPNHead(4, 4, anchor_generator=SMALL_ANCHORS, train_cfg=TRAIN_CFG,
                                  loss_bbox=dict(type='SmoothL1Loss', beta=1 / 9)), 0.0)
    gt = torch.tensor([[25., 16., 41., 32.]])
    losses = head.loss(_feats(1, 4, 16, 16), [_sample((64, 64), gt)])
    # |d| = 1/16 < 1/9: 0.5 d^2 / beta over avg_factor 256
    assert losses['loss_rpn_bbox'].item() == pytest.approx(0.5 * (1 / 16) ** 2 * 9 / 256, rel=1e-5)
    assert losses['loss_rpn_cls'].item() == pytest.approx(math.log(2), rel=1e-5)
    assert F.softplus(torch.tensor(0.0)).item() == pytest.approx(math.log(2))
