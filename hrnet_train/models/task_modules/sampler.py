"""Random sampling of positive and negative priors (mmdet 3.x ``RandomSampler``).

Source: open-mmlab/mmdetection:mmdet/models/task_modules/samplers/random_sampler.py,
base_sampler.py and sampling_result.py. Draws use ``torch.randperm`` on the CPU with torch's
global generator (seeded by the runner), as mmdet does, so a seed gives the same samples on
every device.
"""
from __future__ import annotations

import torch
from torch import Tensor

from hrnet_train.registry import TASK_UTILS
from hrnet_train.utils.errors import ConfigError

from .assigner import AssignResult


def sample_random_indices(candidates: Tensor, num: int) -> Tensor:
    """``num`` distinct entries of ``candidates`` drawn uniformly, or all when there are fewer.

    Args:
        candidates: (K,) int64 indices.
        num: how many to draw, >= 0.

    Returns:
        (min(K, num),) int64, sorted ascending (mmdet's ``unique()``).
    """
    if candidates.numel() <= num:
        return candidates.unique()
    perm = torch.randperm(candidates.numel())[:num].to(candidates.device)
    return candidates[perm].unique()


class SamplingResult:
    """The sampled priors of one image.

    ``pos_inds`` / ``neg_inds`` index the priors the sampler saw: the GT boxes first when they
    were added as proposals, then the input priors.

    Attributes:
        pos_inds, neg_inds: (P,), (Q,) int64, ascending.
        num_pos, num_neg: P and Q, the true counts (mmdet stores ``max(P, 1)`` and
            ``max(Q, 1)`` under these names; that is :attr:`avg_factor`'s business here).
        avg_factor: ``max(P, 1) + max(Q, 1)``, mmdet's loss normaliser for sampled heads.
        pos_priors, neg_priors: (P, 4), (Q, 4) xyxy.
        priors: (P + Q, 4), positives then negatives (what a RoI head pools, in this order).
        pos_is_gt: (P,) uint8, 1 where the positive is a GT box added as a proposal.
        num_gts: G.
        pos_assigned_gt_inds: (P,) int64 0-based GT index of each positive.
        pos_gt_bboxes: (P, 4) xyxy the GT box of each positive.
        pos_gt_labels: (P,) int64.
    """

    def __init__(self, pos_inds: Tensor, neg_inds: Tensor, priors: Tensor, gt_bboxes: Tensor,
                 assign_result: AssignResult, gt_flags: Tensor) -> None:
        self.pos_inds = pos_inds
        self.neg_inds = neg_inds
        self.num_pos = int(pos_inds.numel())
        self.num_neg = int(neg_inds.numel())
        self.avg_factor = max(self.num_pos, 1) + max(self.num_neg, 1)
        self.pos_priors = priors[pos_inds]
        self.neg_priors = priors[neg_inds]
        self.pos_is_gt = gt_flags[pos_inds]
        self.num_gts = int(gt_bboxes.shape[0])
        self.pos_assigned_gt_inds = assign_result.gt_inds[pos_inds] - 1
        self.pos_gt_labels = assign_result.labels[pos_inds]
        gt_bboxes = gt_bboxes.reshape(-1, 4)
        if gt_bboxes.numel() == 0:
            self.pos_gt_bboxes = gt_bboxes.new_zeros((0, 4))
        else:
            self.pos_gt_bboxes = gt_bboxes[self.pos_assigned_gt_inds]

    @property
    def priors(self) -> Tensor:
        return torch.cat([self.pos_priors, self.neg_priors], dim=0)

    def __repr__(self) -> str:
        return (f'SamplingResult(num_pos={self.num_pos}, num_neg={self.num_neg}, '
                f'num_gts={self.num_gts}, pos_is_gt={int(self.pos_is_gt.sum())})')


@TASK_UTILS.register_module()
class RandomSampler:
    """Draw ``num`` priors per image, at most ``num * pos_fraction`` of them positive.

    Positives are drawn first (all of them when there are fewer than ``int(num *
    pos_fraction)``); negatives fill the rest of ``num``, capped at ``neg_pos_ub * max(1,
    #positives)`` when ``neg_pos_ub >= 0``. With fewer candidates than asked for, all are
    taken.

    Args:
        num: samples per image (RPN 256, R-CNN 512).
        pos_fraction: the largest positive share (RPN 0.5, R-CNN 0.25).
        neg_pos_ub: upper bound of negatives per positive; -1 for none.
        add_gt_as_proposals: prepend the GT boxes to the priors as positives of themselves
            (R-CNN yes, RPN no).
    """

    def __init__(self, num: int, pos_fraction: float, *, neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True) -> None:
        if not isinstance(num, int) or num <= 0:
            raise ConfigError(f'RandomSampler num must be a positive int, got {num!r}')
        if not 0 <= pos_fraction <= 1:
            raise ConfigError(f'RandomSampler pos_fraction must be in [0, 1], got '
                              f'{pos_fraction!r}')
        self.num = num
        self.pos_fraction = float(pos_fraction)
        self.neg_pos_ub = neg_pos_ub
        self.add_gt_as_proposals = bool(add_gt_as_proposals)

    def sample(self, assign_result: AssignResult, priors: Tensor, gt_bboxes: Tensor,
               gt_labels: Tensor) -> SamplingResult:
        """Sample one image's priors.

        Args:
            assign_result: the assignment of ``priors``; with ``add_gt_as_proposals`` it is
                extended in place by :meth:`AssignResult.add_gts_` (as in mmdet).
            priors: (N, 4) xyxy (extra columns are dropped).
            gt_bboxes: (G, 4) xyxy.
            gt_labels: (G,) int64.

        Returns:
            :class:`SamplingResult`.
        """
        if priors.dim() < 2:
            priors = priors[None, :]
        priors = priors[:, :4]
        if assign_result.num_preds != priors.shape[0]:
            raise ValueError(f'assign_result covers {assign_result.num_preds} priors, got '
                             f'{priors.shape[0]} priors')
        gt_bboxes = gt_bboxes.reshape(-1, 4)
        gt_flags = priors.new_zeros((priors.shape[0],), dtype=torch.uint8)
        if self.add_gt_as_proposals and gt_bboxes.shape[0] > 0:
            priors = torch.cat([gt_bboxes.to(priors), priors], dim=0)
            assign_result.add_gts_(gt_labels)
            gt_flags = torch.cat([gt_flags.new_ones(gt_bboxes.shape[0]), gt_flags])

        gt_inds = assign_result.gt_inds
        pos_candidates = torch.nonzero(gt_inds > 0, as_tuple=False).squeeze(1)
        pos_inds = sample_random_indices(pos_candidates, int(self.num * self.pos_fraction))
        num_expected_neg = self.num - pos_inds.numel()
        if self.neg_pos_ub >= 0:
            num_expected_neg = min(num_expected_neg,
                                   int(self.neg_pos_ub * max(1, pos_inds.numel())))
        neg_candidates = torch.nonzero(gt_inds == 0, as_tuple=False).squeeze(1)
        neg_inds = sample_random_indices(neg_candidates, num_expected_neg)
        return SamplingResult(pos_inds, neg_inds, priors, gt_bboxes, assign_result, gt_flags)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num={self.num}, pos_fraction={self.pos_fraction}, '
                f'neg_pos_ub={self.neg_pos_ub}, add_gt_as_proposals={self.add_gt_as_proposals})')
