"""Max-IoU assignment of priors (anchors, proposals) to ground-truth boxes (mmdet 3.x).

Source: open-mmlab/mmdetection:mmdet/models/task_modules/assigners/max_iou_assigner.py and
assign_result.py; the fork's (mmdet v1) ``MaxIoUAssigner`` follows the same steps (always with
the low-quality matches) on ``+ 1`` overlaps (mmdet/core/bbox/geometry.py ``bbox_overlaps``).

``gt_inds`` per prior: 0 negative, -1 ignored (neither), k > 0 positive of GT k - 1.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from hrnet_train.registry import TASK_UTILS
from hrnet_train.structures import box_iou
from hrnet_train.utils.errors import ConfigError

_EPS = 1e-6  # mmdet's BboxOverlaps2D eps


def legacy_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU with the fork's ``+ 1`` sizes: ``w = x2 - x1 + 1`` (mmdet v1 overlaps).

    Args:
        boxes1: (B1, 4) xyxy.
        boxes2: (B2, 4) xyxy.

    Returns:
        (B1, B2) IoU in [0, 1].
    """
    area1 = (boxes1[:, 2] - boxes1[:, 0] + 1) * (boxes1[:, 3] - boxes1[:, 1] + 1)
    area2 = (boxes2[:, 2] - boxes2[:, 0] + 1) * (boxes2[:, 3] - boxes2[:, 1] + 1)
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (B1, B2, 2)
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (B1, B2, 2)
    wh = (rb - lt + 1).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - inter
    return inter / union.clamp(min=_EPS)


def box_iof(boxes1: Tensor, boxes2: Tensor, *, legacy: bool = False) -> Tensor:
    """Pairwise intersection over the area of the first box (mmdet ``mode='iof'``).

    Args:
        boxes1: (B1, 4) xyxy; the area in the denominator is theirs.
        boxes2: (B2, 4) xyxy.
        legacy: ``+ 1`` sizes.

    Returns:
        (B1, B2) in [0, 1]: the fraction of each ``boxes1`` box covered by each ``boxes2`` box.
    """
    off = 1.0 if legacy else 0.0
    area1 = ((boxes1[:, 2] - boxes1[:, 0] + off).clamp(min=0)
             * (boxes1[:, 3] - boxes1[:, 1] + off).clamp(min=0))
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (B1, B2, 2)
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (B1, B2, 2)
    wh = (rb - lt + off).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / area1[:, None].clamp(min=_EPS)


def assign_by_overlaps(overlaps: Tensor, gt_labels: Tensor, *, pos_iou_thr: float,
                       neg_iou_thr: Union[float, tuple[float, float]], min_pos_iou: float = 0.0,
                       match_low_quality: bool = True, gt_max_assign_all: bool = True
                       ) -> tuple[Tensor, Tensor, Tensor]:
    """mmdet's ``assign_wrt_overlaps``.

    Steps, in this order: every prior starts ignored (-1); a prior whose best IoU is in
    ``[0, neg_iou_thr)`` (or ``[lo, hi)`` for a pair) becomes negative; one whose best IoU is
    ``>= pos_iou_thr`` becomes a positive of that GT; then, with ``match_low_quality``, each GT
    whose best IoU is ``>= min_pos_iou`` takes its best prior (every prior reaching that IoU
    when ``gt_max_assign_all``), later GTs overriding earlier ones. As in mmdet,
    ``min_pos_iou=0`` lets a GT that overlaps nothing take every prior it has IoU 0 with.
    Overlaps of -1 (ignored priors) are never negative.

    Args:
        overlaps: (G, N) IoU of each GT with each prior, -1 for ignored priors.
        gt_labels: (G,) int64.
        pos_iou_thr, neg_iou_thr, min_pos_iou, match_low_quality, gt_max_assign_all: as above.

    Returns:
        gt_inds: (N,) int64, 0 negative, -1 ignored, k > 0 GT k - 1.
        max_overlaps: (N,) best IoU of each prior (0 when there is no GT).
        labels: (N,) int64, the label of the assigned GT, -1 where not positive.
    """
    num_gts, num_priors = overlaps.shape
    device = overlaps.device
    gt_inds = torch.full((num_priors,), -1, dtype=torch.long, device=device)
    labels = torch.full((num_priors,), -1, dtype=torch.long, device=device)
    if num_gts == 0 or num_priors == 0:
        if num_gts == 0:
            gt_inds.zero_()  # no GT: every prior is a negative (mmdet)
        return gt_inds, overlaps.new_zeros((num_priors,)), labels

    max_overlaps, argmax_overlaps = overlaps.max(dim=0)  # (N,) best GT per prior
    gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)  # (G,) best prior per GT

    if isinstance(neg_iou_thr, (tuple, list)):
        lo, hi = neg_iou_thr
        gt_inds[(max_overlaps >= lo) & (max_overlaps < hi)] = 0
    else:
        gt_inds[(max_overlaps >= 0) & (max_overlaps < neg_iou_thr)] = 0

    pos = max_overlaps >= pos_iou_thr
    gt_inds[pos] = argmax_overlaps[pos] + 1

    if match_low_quality:
        gt_ids = torch.arange(1, num_gts + 1, device=device)  # 1-based
        allowed = gt_max_overlaps >= min_pos_iou  # (G,)
        if gt_max_assign_all:
            hit = (overlaps == gt_max_overlaps[:, None]) & allowed[:, None]  # (G, N)
            # The loop of mmdet runs over GTs in order, so the last GT that hits a prior wins.
            last = (hit.long() * gt_ids[:, None]).max(dim=0).values  # (N,), 0 = no hit
        else:
            last = torch.zeros(num_priors, dtype=torch.long, device=device)
            last.scatter_reduce_(0, gt_argmax_overlaps[allowed], gt_ids[allowed], reduce='amax')
        gt_inds = torch.where(last > 0, last, gt_inds)

    pos_inds = torch.nonzero(gt_inds > 0, as_tuple=False).squeeze(1)
    if pos_inds.numel():
        labels[pos_inds] = gt_labels.to(device=device, dtype=torch.long)[gt_inds[pos_inds] - 1]
    return gt_inds, max_overlaps, labels


class AssignResult:
    """What the assigner decided for each prior.

    Attributes:
        num_gts: G.
        gt_inds: (N,) int64, 0 negative, -1 ignored, k > 0 GT k - 1.
        max_overlaps: (N,) best IoU per prior.
        labels: (N,) int64 label of the assigned GT, -1 where not positive.
    """

    def __init__(self, num_gts: int, gt_inds: Tensor, max_overlaps: Tensor,
                 labels: Tensor) -> None:
        self.num_gts = int(num_gts)
        self.gt_inds = gt_inds
        self.max_overlaps = max_overlaps
        self.labels = labels

    @property
    def num_preds(self) -> int:
        return int(self.gt_inds.numel())

    def add_gts_(self, gt_labels: Tensor) -> None:
        """Prepend the G ground-truth boxes as priors, each a positive of itself (IoU 1).

        mmdet's ``add_gt_``, used by samplers with ``add_gt_as_proposals``; changes this
        result in place, so that index i < G now means GT i.
        """
        gt_labels = gt_labels.to(device=self.gt_inds.device, dtype=torch.long)
        num = gt_labels.numel()
        self_inds = torch.arange(1, num + 1, dtype=torch.long, device=self.gt_inds.device)
        self.gt_inds = torch.cat([self_inds, self.gt_inds])
        self.max_overlaps = torch.cat([self.max_overlaps.new_ones(num), self.max_overlaps])
        self.labels = torch.cat([gt_labels, self.labels])

    def __repr__(self) -> str:
        return (f'AssignResult(num_gts={self.num_gts}, num_preds={self.num_preds}, '
                f'num_pos={int((self.gt_inds > 0).sum())}, '
                f'num_neg={int((self.gt_inds == 0).sum())})')


def _threshold(name: str, value) -> Union[float, tuple[float, float]]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(isinstance(v, (int, float)) for v in value):
            raise ConfigError(f'MaxIoUAssigner {name} must be a number or a (low, high) pair, '
                              f'got {value!r}')
        return float(value[0]), float(value[1])
    if not isinstance(value, (int, float)):
        raise ConfigError(f'MaxIoUAssigner {name} must be a number, got {value!r}')
    return float(value)


@TASK_UTILS.register_module()
class MaxIoUAssigner:
    """Assign each prior to the GT it overlaps most, or to background, or ignore it.

    Args:
        pos_iou_thr: IoU from which a prior is a positive (RPN 0.7, R-CNN 0.5).
        neg_iou_thr: IoU below which a prior is a negative (RPN 0.3, R-CNN 0.5), or a
            (low, high) pair.
        min_pos_iou: the least IoU of a low-quality match (RPN 0.3).
        match_low_quality: give each GT its best prior even under ``pos_iou_thr`` (RPN yes,
            R-CNN no).
        ignore_iof_thr: priors covered more than this fraction by an ignored box (IoF w.r.t.
            the prior) are ignored; negative: ignored boxes are not used.
        gt_max_assign_all: a GT takes every prior tied at its best IoU, not only the first.
        legacy: overlaps with the fork's ``+ 1`` sizes (:func:`legacy_box_iou`); otherwise
            :func:`hrnet_train.structures.box_iou`. ``RPNHead(legacy=True)`` sets it on its
            assigner; the R-CNN stages get it through their ``train_cfg.assigner``.
    """

    def __init__(self, pos_iou_thr: float, neg_iou_thr: Union[float, Sequence[float]], *,
                 min_pos_iou: float = 0.0, match_low_quality: bool = True,
                 ignore_iof_thr: float = -1.0, gt_max_assign_all: bool = True,
                 legacy: bool = False) -> None:
        self.pos_iou_thr = _threshold('pos_iou_thr', pos_iou_thr)
        if isinstance(self.pos_iou_thr, tuple):
            raise ConfigError(f'MaxIoUAssigner pos_iou_thr must be a number, got {pos_iou_thr!r}')
        self.neg_iou_thr = _threshold('neg_iou_thr', neg_iou_thr)
        self.min_pos_iou = float(min_pos_iou)
        self.match_low_quality = bool(match_low_quality)
        self.ignore_iof_thr = float(ignore_iof_thr)
        self.gt_max_assign_all = bool(gt_max_assign_all)
        self.legacy = bool(legacy)

    def overlaps(self, boxes1: Tensor, boxes2: Tensor) -> Tensor:
        """(B1, 4), (B2, 4) -> (B1, B2) IoU in this assigner's convention."""
        if self.legacy:
            return legacy_box_iou(boxes1, boxes2)
        return box_iou(boxes1, boxes2)

    def assign(self, priors: Tensor, gt_bboxes: Tensor, gt_labels: Tensor,
               gt_bboxes_ignore: Optional[Tensor] = None) -> AssignResult:
        """Assign priors to GTs.

        Args:
            priors: (N, 4) xyxy anchors or proposals.
            gt_bboxes: (G, 4) xyxy, same pixels.
            gt_labels: (G,) int64.
            gt_bboxes_ignore: (I, 4) xyxy ignored (crowd) boxes, or None.

        Returns:
            :class:`AssignResult` over the N priors.
        """
        priors = priors[:, :4].float()
        gt_bboxes = gt_bboxes.to(priors).reshape(-1, 4)
        if gt_labels.numel() != gt_bboxes.shape[0]:
            raise ValueError(f'gt_labels has {gt_labels.numel()} entries for '
                             f'{gt_bboxes.shape[0]} gt_bboxes')
        overlaps = self.overlaps(gt_bboxes, priors)  # (G, N)
        if (self.ignore_iof_thr > 0 and gt_bboxes_ignore is not None
                and gt_bboxes_ignore.numel() > 0 and priors.numel() > 0):
            iof = box_iof(priors, gt_bboxes_ignore.to(priors).reshape(-1, 4), legacy=self.legacy)
            ignored = iof.max(dim=1).values > self.ignore_iof_thr  # (N,)
            overlaps[:, ignored] = -1
        gt_inds, max_overlaps, labels = assign_by_overlaps(
            overlaps, gt_labels, pos_iou_thr=self.pos_iou_thr, neg_iou_thr=self.neg_iou_thr,
            min_pos_iou=self.min_pos_iou, match_low_quality=self.match_low_quality,
            gt_max_assign_all=self.gt_max_assign_all)
        return AssignResult(gt_bboxes.shape[0], gt_inds, max_overlaps, labels)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(pos_iou_thr={self.pos_iou_thr}, '
                f'neg_iou_thr={self.neg_iou_thr}, min_pos_iou={self.min_pos_iou}, '
                f'match_low_quality={self.match_low_quality}, legacy={self.legacy})')
