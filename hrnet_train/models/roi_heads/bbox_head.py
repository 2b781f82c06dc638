"""The shared two-FC box head of Faster / Cascade R-CNN: targets, losses and post-processing.

mmdet 3.x ``mmdet/models/roi_heads/bbox_heads/{bbox_head,convfc_bbox_head}.py`` and
``mmdet/models/layers/bbox_nms.py`` (``multiclass_nms``); the module names are those of the
fork (HRNet/HRNet-Object-Detection ``mmdet/models/bbox_heads/convfc_bbox_head.py``) and of
mmdet, so both checkpoints load (after the fork's background-first rows are moved last).

Classes: labels in ``[0, num_classes)``, background ``num_classes`` (the LAST ``fc_cls``
output). Boxes: (B, 4) xyxy, img_shape pixels unless stated.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor, nn

from hrnet_train.ops import batched_nms
from hrnet_train.registry import MODELS, TASK_UTILS
from hrnet_train.utils.errors import ConfigError, DataError

# mmdet configs/_base_/models/faster-rcnn_r50_fpn.py (roi_head.bbox_head)
DEFAULT_BBOX_CODER = (('type', 'DeltaXYWHBBoxCoder'), ('target_means', (0., 0., 0., 0.)),
                      ('target_stds', (0.1, 0.1, 0.2, 0.2)))
# ignore_index -100: no label (background = num_classes included) is ever ignored (mmdet)
DEFAULT_LOSS_CLS = (('type', 'CrossEntropyLoss'), ('ignore_index', -100), ('loss_weight', 1.0))
DEFAULT_LOSS_BBOX = (('type', 'L1Loss'), ('loss_weight', 1.0))


# ---------------------------------------------------------------------------- pure maths
def compute_roi_targets(pos_deltas: Tensor, pos_gt_labels: Tensor, num_neg: int, *,
                        num_classes: int, pos_weight: float = -1.0
                        ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Classification and regression targets of one image's sampled RoIs (positives first).

    mmdet ``BBoxHead._get_targets_single``: positives get their GT label, weight
    ``pos_weight`` (1 when <= 0) and their encoded deltas with box weight 1; negatives get the
    background label ``num_classes``, weight 1 and zero deltas with box weight 0.

    Args:
        pos_deltas: (P, 4) encoded regression targets of the positives.
        pos_gt_labels: (P,) int64 labels in ``[0, num_classes)``.
        num_neg: number of negatives, which follow the positives.
        num_classes: number of foreground classes.
        pos_weight: classification weight of the positives; <= 0 means 1.

    Returns:
        labels (P + num_neg,) int64, label_weights (P + num_neg,), bbox_targets
        (P + num_neg, 4), bbox_weights (P + num_neg, 4).
    """
    num_pos = pos_deltas.shape[0]
    if pos_gt_labels.shape != (num_pos,):
        raise ValueError(f'pos_gt_labels must have shape ({num_pos},), got '
                         f'{tuple(pos_gt_labels.shape)}')
    n = num_pos + int(num_neg)
    labels = pos_deltas.new_full((n,), num_classes, dtype=torch.long)
    label_weights = pos_deltas.new_zeros(n)
    bbox_targets = pos_deltas.new_zeros(n, 4)
    bbox_weights = pos_deltas.new_zeros(n, 4)
    labels[:num_pos] = pos_gt_labels.long()
    label_weights[:num_pos] = 1.0 if pos_weight <= 0 else float(pos_weight)
    label_weights[num_pos:] = 1.0
    bbox_targets[:num_pos] = pos_deltas
    bbox_weights[:num_pos] = 1.0
    return labels, label_weights, bbox_targets, bbox_weights


def compute_accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Top-1 accuracy in percent over all rows (mmdet ``accuracy``; 0 for no rows).

    Args:
        logits: (K, C + 1) class scores (background included).
        labels: (K,) int64 targets.

    Returns:
        scalar float tensor in [0, 100], no gradient.
    """
    if logits.shape[0] == 0:
        return logits.new_zeros(())
    correct = (logits.detach().argmax(dim=1) == labels).float().sum()
    return correct * (100.0 / logits.shape[0])


def select_class_deltas(bbox_pred: Tensor, labels: Tensor) -> Tensor:
    """The 4 deltas of each row's class: class-specific (K, 4C) -> (K, 4); (K, 4) unchanged.

    Args:
        bbox_pred: (K, 4C) deltas, class c in columns ``4c:4c+4``; or (K, 4) class-agnostic.
        labels: (K,) int64 foreground classes (ignored for class-agnostic input).
    """
    if bbox_pred.shape[1] == 4:
        return bbox_pred
    k = bbox_pred.shape[0]
    return bbox_pred.view(k, -1, 4)[torch.arange(k, device=bbox_pred.device), labels]


def multiclass_nms(bboxes: Tensor, scores: Tensor, *, score_thr: float, iou_threshold: float,
                   max_per_img: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class NMS of R-CNN outputs, background dropped (mmdet ``multiclass_nms``).

    Every (box, class) pair with score > ``score_thr`` is a candidate; NMS runs within each class
    (``batched_nms`` over the labels); the kept pairs are ordered by decreasing score and the
    first ``max_per_img`` returned (all when <= 0).

    Args:
        bboxes: (n, 4C) class-specific boxes, or (n, 4) shared by all classes.
        scores: (n, C + 1) probabilities, background last.
        score_thr: minimum score (exclusive).
        iou_threshold: NMS IoU threshold.
        max_per_img: detections to keep.

    Returns:
        bboxes (D, 4), scores (D,), labels (D,) int64 in ``[0, C)``.
    """
    n, num_classes = scores.shape[0], scores.shape[1] - 1
    if bboxes.shape[1] == 4:
        boxes = bboxes[:, None].expand(n, num_classes, 4)
    elif bboxes.shape[1] == 4 * num_classes:
        boxes = bboxes.view(n, num_classes, 4)
    else:
        raise ValueError(f'bboxes must have 4 or {4 * num_classes} columns for {num_classes} '
                         f'classes, got {tuple(bboxes.shape)}')
    boxes = boxes.reshape(-1, 4)
    flat_scores = scores[:, :-1].reshape(-1)
    labels = torch.arange(num_classes, device=scores.device).expand(n, num_classes).reshape(-1)
    valid = torch.nonzero(flat_scores > score_thr).squeeze(1)
    boxes, flat_scores, labels = boxes[valid], flat_scores[valid], labels[valid]
    if boxes.shape[0] == 0:
        return boxes, flat_scores, labels
    keep = batched_nms(boxes, flat_scores, labels, iou_threshold)
    if max_per_img > 0:
        keep = keep[:max_per_img]
    return boxes[keep], flat_scores[keep], labels[keep]


def empty_detections(device: torch.device) -> InstanceData:
    """An image without detections: bboxes (0, 4), scores (0,), labels (0,) int64."""
    return InstanceData(bboxes=torch.zeros((0, 4), device=device),
                        scores=torch.zeros((0,), device=device),
                        labels=torch.zeros((0,), dtype=torch.long, device=device))


def _meta(img_meta: Mapping, key: str) -> Any:
    if key not in img_meta:
        raise DataError(f'data sample metainfo has no {key!r} (expected keys img_shape, '
                        'ori_shape, scale_factor)')
    return img_meta[key]


# ---------------------------------------------------------------------------- the head
def _build_with_defaults(cfg: Optional[Mapping], defaults: tuple) -> dict:
    return dict(defaults) if cfg is None else dict(cfg)


@MODELS.register_module()
class Shared2FCBBoxHead(nn.Module):
    """Two shared FC layers, then a classifier and a box regressor (mmdet ``Shared2FCBBoxHead``).

    ``flatten -> shared_fcs.0 (fc_out_channels) -> ReLU -> shared_fcs.1 -> ReLU -> fc_cls
    (num_classes + 1, background last) / fc_reg (4 num_classes, or 4 when class-agnostic)``.
    Init as mmdet and the fork: shared FCs Xavier-uniform, ``fc_cls`` normal(std 0.01),
    ``fc_reg`` normal(std 0.001), biases 0.

    Args:
        in_channels: RoI feature channels (256).
        fc_out_channels: width of the shared FCs (1024).
        roi_feat_size: RoI feature side (7).
        num_classes: foreground classes (80 for COCO).
        bbox_coder: ``TASK_UTILS`` box coder config; None means ``DeltaXYWHBBoxCoder`` with
            stds (.1, .1, .2, .2) (Cascade R-CNN's later stages use smaller stds).
        reg_class_agnostic: one box per RoI instead of one per class (Cascade R-CNN).
        loss_cls: ``MODELS`` loss on (K, C + 1) logits and (K,) labels taking ``weight`` and
            ``avg_factor``; None means ``CrossEntropyLoss`` with nothing ignored.
        loss_bbox: ``MODELS`` loss on (P, 4) deltas taking ``weight`` and ``avg_factor``; None
            means ``L1Loss`` (mmdet 3.x; the fork used ``SmoothL1Loss`` with beta 1).
        legacy: build the coder with ``legacy=True`` (the fork's ``+ 1`` box sizes).

    Shapes:
        x: (K, in_channels, roi_feat_size, roi_feat_size).
        returns: cls_score (K, num_classes + 1) logits, bbox_pred (K, 4 num_classes) or (K, 4)
        deltas (class c in columns ``4c:4c+4``).
    """

    def __init__(self, in_channels: int = 256, fc_out_channels: int = 1024,
                 roi_feat_size: int = 7, num_classes: int = 80, *,
                 bbox_coder: Optional[Mapping] = None, reg_class_agnostic: bool = False,
                 loss_cls: Optional[Mapping] = None, loss_bbox: Optional[Mapping] = None,
                 legacy: bool = False) -> None:
        super().__init__()
        for name, value in (('in_channels', in_channels), ('fc_out_channels', fc_out_channels),
                            ('roi_feat_size', roi_feat_size), ('num_classes', num_classes)):
            if int(value) != value or value <= 0:
                raise ConfigError(f'{name} must be a positive int, got {value!r}')
        self.in_channels = int(in_channels)
        self.fc_out_channels = int(fc_out_channels)
        self.roi_feat_size = int(roi_feat_size)
        self.num_classes = int(num_classes)
        self.reg_class_agnostic = bool(reg_class_agnostic)
        self.legacy = bool(legacy)

        coder_cfg = _build_with_defaults(bbox_coder, DEFAULT_BBOX_CODER)
        if coder_cfg.setdefault('legacy', self.legacy) != self.legacy:
            raise ConfigError(f'bbox_coder.legacy={coder_cfg["legacy"]} contradicts the head\'s '
                              f'legacy={self.legacy}; set one of them')
        self.bbox_coder = TASK_UTILS.build(coder_cfg)
        self.loss_cls = MODELS.build(_build_with_defaults(loss_cls, DEFAULT_LOSS_CLS))
        self.loss_bbox = MODELS.build(_build_with_defaults(loss_bbox, DEFAULT_LOSS_BBOX))
        ignore_index = getattr(self.loss_cls, 'ignore_index', None)
        if ignore_index is not None and 0 <= ignore_index <= self.num_classes:
            raise ConfigError(f'loss_cls.ignore_index={ignore_index} is a class of this head '
                              f'(labels 0..{self.num_classes}, background {self.num_classes}); '
                              'set loss_cls.ignore_index=-100')

        flat = self.in_channels * self.roi_feat_size ** 2
        self.shared_fcs = nn.ModuleList([nn.Linear(flat, self.fc_out_channels),
                                         nn.Linear(self.fc_out_channels, self.fc_out_channels)])
        self.fc_cls = nn.Linear(self.fc_out_channels, self.num_classes + 1)
        self.fc_reg = nn.Linear(self.fc_out_channels,
                                4 if self.reg_class_agnostic else 4 * self.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # mmdet BBoxHead / ConvFCBBoxHead init_cfg; the fork's init_weights does the same.
        for fc in self.shared_fcs:
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.zeros_(self.fc_cls.bias)
        nn.init.normal_(self.fc_reg.weight, std=0.001)
        nn.init.zeros_(self.fc_reg.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        expected = (self.in_channels, self.roi_feat_size, self.roi_feat_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f'expected RoI features (K, {expected[0]}, {expected[1]}, '
                             f'{expected[2]}), got {tuple(x.shape)}')
        x = x.flatten(1)  # (K, C*7*7)
        for fc in self.shared_fcs:
            x = F.relu(fc(x))
        return self.fc_cls(x), self.fc_reg(x)

    # ------------------------------------------------------------------ training
    def get_targets(self, sampling_results: Sequence[Any], *, pos_weight: float = -1.0
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Targets of the sampled RoIs of a batch, concatenated over images in the RoI order
        ``[pos_priors, neg_priors]`` of each image (see :func:`compute_roi_targets`).

        Args:
            sampling_results: per image, with ``pos_priors`` (P, 4), ``neg_priors`` (M, 4),
                ``pos_gt_bboxes`` (P, 4), ``pos_gt_labels`` (P,).
            pos_weight: classification weight of positives (<= 0: 1).

        Returns:
            labels (K,) int64, label_weights (K,), bbox_targets (K, 4) encoded deltas,
            bbox_weights (K, 4).
        """
        parts = []
        for res in sampling_results:
            pos_priors = res.pos_priors
            if pos_priors.shape[0] > 0:
                deltas = self.bbox_coder.encode(pos_priors, res.pos_gt_bboxes)
            else:
                deltas = pos_priors.new_zeros((0, 4))
            parts.append(compute_roi_targets(deltas, res.pos_gt_labels, res.neg_priors.shape[0],
                                             num_classes=self.num_classes,
                                             pos_weight=pos_weight))
        return tuple(torch.cat(t, dim=0) for t in zip(*parts))

    def loss(self, cls_score: Tensor, bbox_pred: Tensor, labels: Tensor, label_weights: Tensor,
             bbox_targets: Tensor, bbox_weights: Tensor) -> dict[str, Tensor]:
        """``loss_cls``, ``acc`` and ``loss_bbox`` of the sampled RoIs (mmdet ``BBoxHead.loss``).

        ``loss_cls`` = sum of weighted CE / max(#RoIs with weight > 0, 1); ``acc`` = top-1 in
        percent over all RoIs; ``loss_bbox`` = the regression loss on the positives' deltas of
        their GT class, summed and divided by the number of sampled RoIs K (positives and
        negatives, mmdet's ``avg_factor=bbox_targets.size(0)``). Without positives
        ``loss_bbox`` is a zero that keeps ``fc_reg`` in the graph.

        Args:
            cls_score: (K, C + 1) logits; bbox_pred: (K, 4C) or (K, 4) deltas; the targets as
                :meth:`get_targets` returns them.
        """
        # float32 under autocast as mmdet's force_fp32
        cls_score, bbox_pred = cls_score.float(), bbox_pred.float()
        avg_factor = max(float((label_weights > 0).sum()), 1.0)
        losses = dict(loss_cls=self.loss_cls(cls_score, labels, weight=label_weights,
                                             avg_factor=avg_factor),
                      acc=compute_accuracy(cls_score, labels))
        pos = torch.nonzero((labels >= 0) & (labels < self.num_classes)).squeeze(1)
        if pos.numel() > 0:
            pos_pred = select_class_deltas(bbox_pred[pos], labels[pos])
            losses['loss_bbox'] = self.loss_bbox(pos_pred, bbox_targets[pos],
                                                 weight=bbox_weights[pos],
                                                 avg_factor=float(bbox_targets.shape[0]))
        else:
            losses['loss_bbox'] = bbox_pred.sum() * 0.0
        return losses

    def loss_and_target(self, cls_score: Tensor, bbox_pred: Tensor,
                        sampling_results: Sequence[Any], *, pos_weight: float = -1.0
                        ) -> tuple[dict[str, Tensor], tuple[Tensor, Tensor, Tensor, Tensor]]:
        """:meth:`get_targets` then :meth:`loss`; returns (losses, targets)."""
        targets = self.get_targets(sampling_results, pos_weight=pos_weight)
        return self.loss(cls_score, bbox_pred, *targets), targets

    # ------------------------------------------------------------------ box refinement
    def regress_by_class(self, priors: Tensor, labels: Tensor, bbox_pred: Tensor,
                         max_shape: Sequence[int]) -> Tensor:
        """Apply each row's deltas of class ``labels`` (any for class-agnostic) to ``priors``.

        Args:
            priors: (n, 4) boxes; labels: (n,) int64 in ``[0, C)``; bbox_pred: (n, 4C) or
                (n, 4); max_shape: (h, w) to clip to (img_shape).

        Returns:
            (n, 4) decoded boxes, clipped to ``max_shape``.
        """
        if priors.shape[0] == 0:
            return priors.new_zeros((0, 4))
        deltas = select_class_deltas(bbox_pred.float(), labels)  # float16 boxes are too coarse
        return self.bbox_coder.decode(priors.float(), deltas, max_shape=tuple(max_shape[:2]))

    def refine_bboxes(self, rois: Tensor, labels: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                      pos_is_gts: Sequence[Tensor], img_shapes: Sequence[Sequence[int]]
                      ) -> list[Tensor]:
        """Regressed sampled RoIs of each image, GT-added RoIs dropped (mmdet ``refine_bboxes``).

        A RoI regresses with its target label, or with its best foreground class when the
        target is background. The result is the next cascade stage's proposals.

        Args:
            rois: (K, 5) sampled RoIs, per image ``[positives, negatives]``.
            labels: (K,) int64 target labels (background ``num_classes``).
            cls_score: (K, C + 1) logits; bbox_pred: (K, 4C) or (K, 4).
            pos_is_gts: per image, (P_i,) bool, True where the positive is an added GT.
            img_shapes: per image (h, w) to clip to.

        Returns:
            one (B_i, 4) tensor per image.
        """
        if cls_score.shape[0] > 0:
            labels = torch.where(labels == self.num_classes, cls_score[:, :-1].argmax(dim=1),
                                 labels)
        out = []
        for i, img_shape in enumerate(img_shapes):
            inds = torch.nonzero(rois[:, 0] == i).squeeze(1)
            boxes = self.regress_by_class(rois[inds, 1:], labels[inds], bbox_pred[inds],
                                          img_shape)
            keep = torch.ones(inds.numel(), dtype=torch.bool, device=rois.device)
            is_gt = pos_is_gts[i].to(device=rois.device, dtype=torch.bool)
            keep[:is_gt.numel()] = ~is_gt
            out.append(boxes[keep])
        return out

    # ------------------------------------------------------------------ inference
    def predict_by_feat(self, rois: Sequence[Tensor], cls_scores: Sequence[Tensor],
                        bbox_preds: Sequence[Tensor], batch_img_metas: Sequence[Mapping], *,
                        rescale: bool, score_thr: float, iou_threshold: float,
                        max_per_img: int) -> list[InstanceData]:
        """Detections of each image from its RoIs and head outputs (mmdet ``predict_by_feat``).

        Per image: softmax scores; each class's deltas decoded on the RoI and clipped to
        ``img_shape``; with ``rescale`` divided by ``scale_factor`` (w, h) and clipped to
        ``ori_shape``; then :func:`multiclass_nms`.

        Args:
            rois: per image (n_i, 5) RoIs in img_shape pixels.
            cls_scores: per image (n_i, C + 1) logits.
            bbox_preds: per image (n_i, 4C) or (n_i, 4) deltas.
            batch_img_metas: per image metainfo with ``img_shape`` (h, w), and with rescale
                ``scale_factor`` (w_scale, h_scale) and ``ori_shape`` (h, w).
            rescale: return boxes in original image pixels.
            score_thr, iou_threshold, max_per_img: see :func:`multiclass_nms`.

        Returns:
            per image InstanceData ``bboxes`` (D, 4), ``scores`` (D,), ``labels`` (D,) int64.
        """
        if not len(rois) == len(cls_scores) == len(bbox_preds) == len(batch_img_metas):
            raise ValueError(f'rois, cls_scores, bbox_preds and batch_img_metas must have one '
                             f'entry per image, got {len(rois)}, {len(cls_scores)}, '
                             f'{len(bbox_preds)} and {len(batch_img_metas)}')
        results = []
        for roi, cls_score, bbox_pred, img_meta in zip(rois, cls_scores, bbox_preds,
                                                       batch_img_metas):
            if roi.shape[0] == 0:
                results.append(empty_detections(roi.device))
                continue
            scores = F.softmax(cls_score.float(), dim=-1)
            img_shape = tuple(_meta(img_meta, 'img_shape')[:2])
            # float32 even under autocast: float16 boxes have 1-pixel steps past 1024
            bboxes = self.bbox_coder.decode(roi[:, 1:].float(), bbox_pred.float(),
                                            max_shape=img_shape)
            if rescale:
                w_scale, h_scale = (float(s) for s in _meta(img_meta, 'scale_factor')[:2])
                ori_h, ori_w = (float(s) for s in _meta(img_meta, 'ori_shape')[:2])
                n = bboxes.shape[0]
                bboxes = bboxes.view(n, -1, 4) / bboxes.new_tensor(
                    [w_scale, h_scale, w_scale, h_scale])
                bboxes[..., 0::2] = bboxes[..., 0::2].clamp(0, ori_w)
                bboxes[..., 1::2] = bboxes[..., 1::2].clamp(0, ori_h)
                bboxes = bboxes.view(n, -1)
            det_bboxes, det_scores, det_labels = multiclass_nms(
                bboxes, scores, score_thr=score_thr, iou_threshold=iou_threshold,
                max_per_img=max_per_img)
            results.append(InstanceData(bboxes=det_bboxes, scores=det_scores,
                                        labels=det_labels))
        return results
