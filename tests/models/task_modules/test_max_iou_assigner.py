import pytest
import torch

from hrnet_train.models.task_modules.assigner import (
    AssignResult,
    MaxIoUAssigner,
    box_iof,
    legacy_box_iou,
)
from hrnet_train.registry import TASK_UTILS
from hrnet_train.structures import box_iou
from hrnet_train.utils.errors import ConfigError

RPN = dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3)


def _reference(overlaps, gt_labels, pos, neg, min_pos, low_quality, assign_all):
    """mmdet's assign_wrt_overlaps written out with Python loops."""
    g, n = overlaps.shape
    ov = overlaps.tolist()
    inds = [-1] * n
    for j in range(n):
        col = [ov[i][j] for i in range(g)]
        best = max(col)
        arg = col.index(best)
        if 0 <= best < neg:
            inds[j] = 0
        if best >= pos:
            inds[j] = arg + 1
    if low_quality:
        for i in range(g):
            best = max(ov[i])
            if best < min_pos:
                continue
            if assign_all:
                for j in range(n):
                    if ov[i][j] == best:
                        inds[j] = i + 1
            else:
                inds[ov[i].index(best)] = i + 1
    labels = [int(gt_labels[k - 1]) if k > 0 else -1 for k in inds]
    return inds, labels


def test_hand_worked_rpn_case():
    gts = torch.tensor([[0., 0., 10., 10.], [50., 50., 60., 60.]])
    priors = torch.tensor([
        [0., 0., 10., 10.],  # IoU 1 with GT 0 -> positive
        [0., 0., 10., 5.],  # IoU 0.5 -> between the thresholds: ignored
        [20., 20., 30., 30.],  # IoU 0 -> negative
        [5., 0., 15., 10.],  # IoU 50 / 150 = 1/3 -> ignored
        [52., 50., 62., 60.],  # IoU 80 / 120 = 2/3 with GT 1: its best prior -> low-quality pos
    ])
    labels = torch.tensor([3, 7])
    res = MaxIoUAssigner(**RPN).assign(priors, gts, labels)
    assert res.num_gts == 2
    assert res.gt_inds.tolist() == [1, -1, 0, -1, 2]
    assert res.labels.tolist() == [3, -1, -1, -1, 7]
    torch.testing.assert_close(res.max_overlaps, torch.tensor([1.0, 0.5, 0.0, 1 / 3, 2 / 3]))
    strict = MaxIoUAssigner(**RPN, match_low_quality=False).assign(priors, gts, labels)
    assert strict.gt_inds.tolist() == [1, -1, 0, -1, -1]
    high_min = MaxIoUAssigner(0.7, 0.3, min_pos_iou=0.7).assign(priors, gts, labels)
    assert high_min.gt_inds.tolist() == [1, -1, 0, -1, -1]
    pair = MaxIoUAssigner(0.7, (0.1, 0.3), min_pos_iou=0.3).assign(priors, gts, labels)
    assert pair.gt_inds.tolist() == [1, -1, -1, -1, 2]  # IoU 0 is below the (0.1, 0.3) band


def test_ties_and_gt_max_assign_all():
    gts = torch.tensor([[50., 50., 60., 60.]])
    priors = torch.tensor([[45., 50., 55., 60.], [55., 50., 65., 60.], [0., 0., 5., 5.]])
    labels = torch.tensor([0])
    both = MaxIoUAssigner(**RPN).assign(priors, gts, labels)  # both tied at 1/3
    assert both.gt_inds.tolist() == [1, 1, 0]
    one = MaxIoUAssigner(**RPN, gt_max_assign_all=False).assign(priors, gts, labels)
    assert sorted(one.gt_inds[:2].tolist()) == [-1, 1] and one.gt_inds[2] == 0


def test_later_gt_overrides_the_best_match():
    # The prior's best GT is GT 0 (IoU 110/120), but it is also GT 1's best prior; mmdet's loop
    # over GTs hands it to GT 1 (the quirk its comments describe).
    gts = torch.tensor([[0., 0., 10., 12.], [0., 0., 10., 10.]])
    priors = torch.tensor([[0., 0., 10., 11.], [30., 30., 40., 40.]])
    res = MaxIoUAssigner(**RPN).assign(priors, gts, torch.tensor([4, 5]))
    assert res.gt_inds.tolist() == [2, 0] and res.labels.tolist() == [5, -1]


def test_min_pos_iou_zero_quirk():
    # A GT that overlaps nothing has best IoU 0 >= min_pos_iou = 0: it takes every prior (mmdet).
    gts = torch.tensor([[100., 100., 110., 110.]])
    priors = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    res = MaxIoUAssigner(0.5, 0.5).assign(priors, gts, torch.tensor([1]))
    assert res.gt_inds.tolist() == [1, 1]
    assert MaxIoUAssigner(0.5, 0.5, min_pos_iou=0.1).assign(
        priors, gts, torch.tensor([1])).gt_inds.tolist() == [0, 0]


@pytest.mark.parametrize('cfg', [
    dict(low_quality=True, assign_all=True, pos=0.7, neg=0.3, min_pos=0.3),
    dict(low_quality=True, assign_all=False, pos=0.7, neg=0.3, min_pos=0.3),
    dict(low_quality=False, assign_all=True, pos=0.5, neg=0.5, min_pos=0.5),
    dict(low_quality=True, assign_all=True, pos=0.6, neg=0.4, min_pos=0.0),
])
def test_matches_reference_loop_on_random_boxes(cfg):
    gen = torch.Generator().manual_seed(0)
    # integer boxes on a small grid make exact IoU ties common
    def boxes(n):
        xy = torch.randint(0, 20, (n, 2), generator=gen).float()
        wh = torch.randint(2, 12, (n, 2), generator=gen).float()
        return torch.cat([xy, xy + wh], 1)
    gts, priors = boxes(6), boxes(300)
    labels = torch.randint(0, 9, (6,), generator=gen)
    res = MaxIoUAssigner(cfg['pos'], cfg['neg'], min_pos_iou=cfg['min_pos'],
                         match_low_quality=cfg['low_quality'],
                         gt_max_assign_all=cfg['assign_all']).assign(priors, gts, labels)
    inds, lab = _reference(box_iou(gts, priors), labels, cfg['pos'], cfg['neg'],
                           cfg['min_pos'], cfg['low_quality'], cfg['assign_all'])
    if cfg['assign_all']:
        assert res.gt_inds.tolist() == inds
        assert res.labels.tolist() == lab
    else:  # which of several tied priors argmax picks is up to torch; compare the counts
        assert (res.gt_inds > 0).sum() == sum(k > 0 for k in inds)


def test_ignore_iof():
    gts = torch.tensor([[0., 0., 10., 10.]])
    ignore = torch.tensor([[100., 100., 200., 200.]])
    priors = torch.tensor([[110., 110., 120., 120.],  # inside the ignored box: IoF 1
                           [190., 100., 210., 110.],  # half inside: IoF 0.5, not > 0.5
                           [0., 0., 10., 10.]])
    iof = box_iof(priors, ignore)
    torch.testing.assert_close(iof[:, 0], torch.tensor([1.0, 0.5, 0.0]))
    res = MaxIoUAssigner(**RPN, ignore_iof_thr=0.5).assign(priors, gts, torch.tensor([0]), ignore)
    assert res.gt_inds.tolist() == [-1, 0, 1]
    off = MaxIoUAssigner(**RPN).assign(priors, gts, torch.tensor([0]), ignore)
    assert off.gt_inds.tolist() == [0, 0, 1]


def test_no_gts_and_no_priors():
    priors = torch.tensor([[0., 0., 10., 10.], [5., 5., 8., 8.]])
    res = MaxIoUAssigner(**RPN, ignore_iof_thr=0.5).assign(
        priors, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
        torch.tensor([[0., 0., 9., 9.]]))
    assert res.num_gts == 0 and res.gt_inds.tolist() == [0, 0]
    assert res.labels.tolist() == [-1, -1] and res.max_overlaps.tolist() == [0.0, 0.0]
    empty = MaxIoUAssigner(**RPN).assign(torch.zeros(0, 4), priors, torch.tensor([1, 2]))
    assert empty.gt_inds.shape == (0,) and empty.num_gts == 2


def test_legacy_iou_by_hand():
    a = torch.tensor([[0., 0., 9., 9.]])
    b = torch.tensor([[0., 0., 9., 9.], [5., 0., 14., 9.], [10., 0., 19., 9.]])
    # + 1 sizes: areas 100; overlaps 100, 5 x 10 = 50, 0 (x 10 > 9)
    torch.testing.assert_close(legacy_box_iou(a, b), torch.tensor([[1.0, 50 / 150, 0.0]]))
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1.0, 36 / 126, 0.0]]))
    res = MaxIoUAssigner(0.3, 0.3, legacy=True).assign(b, a, torch.tensor([0]))
    assert res.gt_inds.tolist() == [1, 1, 0]  # 1/3 >= 0.3 with + 1; 36/126 = 0.29 without
    assert MaxIoUAssigner(0.3, 0.3, match_low_quality=False).assign(
        b, a, torch.tensor([0])).gt_inds.tolist() == [1, 0, 0]


def test_add_gts():
    res = AssignResult(2, torch.tensor([0, 2, -1]), torch.tensor([0.1, 0.8, 0.4]),
                       torch.tensor([-1, 6, -1]))
    res.add_gts_(torch.tensor([5, 6]))
    assert res.gt_inds.tolist() == [1, 2, 0, 2, -1]
    assert res.labels.tolist() == [5, 6, -1, 6, -1]
    torch.testing.assert_close(res.max_overlaps, torch.tensor([1.0, 1.0, 0.1, 0.8, 0.4]))
    assert res.num_preds == 5


def test_registry_and_errors():
    a = TASK_UTILS.build(dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=[0.1, 0.5]))
    assert a.neg_iou_thr == (0.1, 0.5)
    with pytest.raises(ConfigError, match='neg_iou_thr'):
        MaxIoUAssigner(0.5, 'low')
    with pytest.raises(ValueError, match='gt_labels'):
        a.assign(torch.zeros(2, 4), torch.zeros(1, 4), torch.zeros(2, dtype=torch.long))
