import pytest
import torch

from hrnet_train.models.task_modules.assigner import AssignResult, MaxIoUAssigner
from hrnet_train.models.task_modules.sampler import RandomSampler, sample_random_indices
from hrnet_train.registry import TASK_UTILS
from hrnet_train.utils.errors import ConfigError


def _assign(num_pos, num_neg, num_ignored, num_gts=3):
    """An AssignResult with shuffled positives (of GT k % num_gts), negatives and ignored."""
    gen = torch.Generator().manual_seed(123)
    gt_inds = torch.cat([torch.arange(num_pos) % num_gts + 1,
                         torch.zeros(num_neg, dtype=torch.long), torch.full((num_ignored,), -1)])
    gt_inds = gt_inds[torch.randperm(gt_inds.numel(), generator=gen)]
    labels = torch.where(gt_inds > 0, gt_inds + 10, torch.full_like(gt_inds, -1))
    return AssignResult(num_gts, gt_inds, torch.rand(gt_inds.numel(), generator=gen), labels)


def _priors(n):
    xy = torch.arange(n, dtype=torch.float32)[:, None].expand(n, 2)
    return torch.cat([xy, xy + 5], dim=1)


def _gts(num_gts=3):
    return torch.tensor([[100., 100., 120., 130.], [0., 50., 10., 60.], [7., 7., 9., 9.]])[:num_gts]


def test_counts_and_candidates():
    torch.manual_seed(0)
    res = _assign(num_pos=40, num_neg=300, num_ignored=50)
    pos_cand = set(torch.nonzero(res.gt_inds > 0).squeeze(1).tolist())
    neg_cand = set(torch.nonzero(res.gt_inds == 0).squeeze(1).tolist())
    sampler = RandomSampler(64, 0.25, add_gt_as_proposals=False)
    out = sampler.sample(res, _priors(390), _gts(), torch.tensor([11, 12, 13]))
    assert out.num_pos == 16 and out.num_neg == 48  # int(64 * 0.25) positives, the rest negative
    assert set(out.pos_inds.tolist()) <= pos_cand and set(out.neg_inds.tolist()) <= neg_cand
    assert out.pos_inds.unique().numel() == 16 and torch.equal(out.pos_inds, out.pos_inds.sort()[0])
    assert out.avg_factor == 64
    torch.testing.assert_close(out.pos_priors, _priors(390)[out.pos_inds])
    torch.testing.assert_close(out.priors, torch.cat([out.pos_priors, out.neg_priors]))
    assert torch.equal(out.pos_assigned_gt_inds, res.gt_inds[out.pos_inds] - 1)
    torch.testing.assert_close(out.pos_gt_bboxes, _gts()[out.pos_assigned_gt_inds])
    assert torch.equal(out.pos_gt_labels, out.pos_assigned_gt_inds + 11)
    assert not out.pos_is_gt.any()
    # the same seed draws the same samples; another seed others
    torch.manual_seed(0)
    again = sampler.sample(_assign(40, 300, 50), _priors(390), _gts(), torch.tensor([11, 12, 13]))
    assert torch.equal(again.pos_inds, out.pos_inds) and torch.equal(again.neg_inds, out.neg_inds)
    torch.manual_seed(1)
    other = sampler.sample(_assign(40, 300, 50), _priors(390), _gts(), torch.tensor([11, 12, 13]))
    assert not torch.equal(other.neg_inds, out.neg_inds)


def test_fewer_candidates_than_requested():
    torch.manual_seed(0)
    res = _assign(num_pos=2, num_neg=10, num_ignored=5)
    out = RandomSampler(64, 0.5, add_gt_as_proposals=False).sample(
        res, _priors(17), _gts(), torch.tensor([1, 2, 3]))
    assert torch.equal(out.pos_inds, torch.nonzero(res.gt_inds > 0).squeeze(1))
    assert torch.equal(out.neg_inds, torch.nonzero(res.gt_inds == 0).squeeze(1))
    assert (out.num_pos, out.num_neg, out.avg_factor) == (2, 10, 12)


def test_neg_pos_ub():
    torch.manual_seed(0)
    res = _assign(num_pos=2, num_neg=100, num_ignored=0)
    out = RandomSampler(16, 0.25, neg_pos_ub=3, add_gt_as_proposals=False).sample(
        res, _priors(102), _gts(), torch.tensor([1, 2, 3]))
    assert (out.num_pos, out.num_neg) == (2, 6)  # 14 expected, capped at 3 per positive
    none = RandomSampler(16, 0.25, neg_pos_ub=3, add_gt_as_proposals=False).sample(
        _assign(0, 100, 0), _priors(100), _gts(), torch.tensor([1, 2, 3]))
    assert (none.num_pos, none.num_neg, none.avg_factor) == (0, 3, 1 + 3)  # max(1, 0) positives


def test_add_gt_as_proposals():
    torch.manual_seed(0)
    gts, labels = _gts(2), torch.tensor([4, 5])
    priors = torch.tensor([[100., 100., 120., 130.], [101., 100., 121., 130.],
                           [300., 300., 310., 310.], [0., 0., 4., 4.]])
    res = MaxIoUAssigner(0.5, 0.5, min_pos_iou=0.5, match_low_quality=False).assign(
        priors, gts, labels)
    assert res.gt_inds.tolist() == [1, 1, 0, 0]
    out = RandomSampler(8, 0.5).sample(res, priors, gts, labels)
    assert res.gt_inds.tolist() == [1, 2, 1, 1, 0, 0]  # the assign result grew in place
    assert out.pos_inds.tolist() == [0, 1, 2, 3] and out.neg_inds.tolist() == [4, 5]
    assert out.pos_is_gt.tolist() == [1, 1, 0, 0]
    torch.testing.assert_close(out.pos_priors, torch.cat([gts, priors[:2]]))
    assert out.pos_assigned_gt_inds.tolist() == [0, 1, 0, 0]
    assert out.pos_gt_labels.tolist() == [4, 5, 4, 4]
    torch.testing.assert_close(out.pos_gt_bboxes, gts[[0, 1, 0, 0]])
    assert out.num_gts == 2


def test_empty_gts_and_helper():
    torch.manual_seed(0)
    res = MaxIoUAssigner(0.5, 0.5).assign(_priors(5), torch.zeros(0, 4),
                                          torch.zeros(0, dtype=torch.long))
    out = RandomSampler(4, 0.5).sample(res, _priors(5), torch.zeros(0, 4),
                                       torch.zeros(0, dtype=torch.long))
    assert out.num_pos == 0 and out.num_neg == 4 and out.pos_gt_bboxes.shape == (0, 4)
    assert out.avg_factor == 5
    torch.manual_seed(0)
    picked = sample_random_indices(torch.arange(10, 20), 4)
    assert picked.numel() == 4 and set(picked.tolist()) <= set(range(10, 20))
    assert sample_random_indices(torch.arange(3), 5).tolist() == [0, 1, 2]


def test_registry_and_errors():
    s = TASK_UTILS.build(dict(type='RandomSampler', num=256, pos_fraction=0.5,
                              add_gt_as_proposals=False))
    assert s.num == 256 and not s.add_gt_as_proposals
    with pytest.raises(ConfigError, match='pos_fraction'):
        RandomSampler(8, 1.5)
    with pytest.raises(ValueError, match='covers 3 priors'):
        s.sample(AssignResult(0, torch.zeros(3, dtype=torch.long), torch.zeros(3),
                              torch.full((3,), -1)), _priors(4), torch.zeros(0, 4),
                 torch.zeros(0, dtype=torch.long))
