"""The Faster R-CNN RoI head: sample RPN proposals, pool them, classify and regress.

mmdet 3.x ``mmdet/models/roi_heads/standard_roi_head.py`` (box branch only).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from hrnet_train.registry import MODELS, TASK_UTILS
from hrnet_train.utils.errors import ConfigError, DataError

from .bbox_head import empty_detections
from .roi_extractor import boxes_to_rois

_TRAIN_CFG_KEYS = frozenset({'assigner', 'sampler', 'pos_weight', 'debug'})
_TEST_CFG_KEYS = frozenset({'score_thr', 'nms', 'max_per_img'})


# ---------------------------------------------------------------------------- config checks
def check_rcnn_train_cfg(cfg: Mapping, key: str) -> dict:
    """Validate an R-CNN train_cfg ``dict(assigner, sampler, pos_weight=-1)``; returns a copy."""
    if not isinstance(cfg, Mapping):
        raise ConfigError(f'{key} must be a dict(assigner=..., sampler=..., pos_weight=-1), '
                          f'got {type(cfg).__name__}')
    cfg = dict(cfg)
    unknown = set(cfg) - _TRAIN_CFG_KEYS
    if unknown:
        raise ConfigError(f'{key}: unknown keys {sorted(unknown)}; expected a subset of '
                          f'{sorted(_TRAIN_CFG_KEYS)}')
    for name in ('assigner', 'sampler'):
        if not isinstance(cfg.get(name), Mapping):
            raise ConfigError(f'{key}.{name} must be a TASK_UTILS config dict, got '
                              f'{cfg.get(name)!r}')
    if cfg.get('debug'):
        raise ConfigError(f'{key}.debug=True is not supported; remove it')
    cfg['pos_weight'] = float(cfg.get('pos_weight', -1.0))
    return cfg


def parse_rcnn_test_cfg(cfg: Optional[Mapping], key: str = 'test_cfg') -> dict:
    """``dict(score_thr, nms=dict(type='nms', iou_threshold), max_per_img)`` -> the numbers
    ``score_thr``, ``iou_threshold``, ``max_per_img`` that ``Shared2FCBBoxHead.predict_by_feat``
    takes."""
    if cfg is None:
        raise ConfigError(f'{key} is None; prediction needs dict(score_thr=0.05, '
                          "nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)")
    cfg = dict(cfg)
    unknown = set(cfg) - _TEST_CFG_KEYS
    missing = _TEST_CFG_KEYS - set(cfg)
    if unknown or missing:
        raise ConfigError(f'{key}: expected exactly the keys {sorted(_TEST_CFG_KEYS)}, got '
                          f'{sorted(cfg)}')
    nms = dict(cfg['nms'])
    if nms.get('type', 'nms') != 'nms' or set(nms) - {'type', 'iou_threshold'} or \
            'iou_threshold' not in nms:
        raise ConfigError(f"{key}.nms must be dict(type='nms', iou_threshold=float), got "
                          f'{cfg["nms"]!r} (mmdet 1.x iou_thr is iou_threshold)')
    return dict(score_thr=float(cfg['score_thr']), iou_threshold=float(nms['iou_threshold']),
                max_per_img=int(cfg['max_per_img']))


# ---------------------------------------------------------------------------- sampling helpers
def unpack_gt(sample: Any) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    """(gt bboxes (G, 4), gt labels (G,) int64, ignored bboxes (I, 4) or None) of a sample."""
    gt = sample.get('gt_instances') if hasattr(sample, 'get') else None
    if gt is None or 'bboxes' not in gt or 'labels' not in gt:
        raise DataError('data sample has no gt_instances with bboxes and labels (needed by the '
                        'RoI head loss)')
    ignored = sample.get('ignored_instances')
    ignored_bboxes = None
    if ignored is not None and 'bboxes' in ignored and len(ignored.bboxes) > 0:
        ignored_bboxes = ignored.bboxes
    return gt.bboxes, gt.labels.long(), ignored_bboxes


def assign_and_sample(assigner: Any, sampler: Any, proposals: Tensor, sample: Any) -> Any:
    """Assign one image's proposals to its GTs, then sample (GTs are added as proposals when the
    sampler says so). Returns the sampler's SamplingResult."""
    gt_bboxes, gt_labels, ignored = unpack_gt(sample)
    gt_bboxes = gt_bboxes.to(proposals)
    assign_result = assigner.assign(proposals, gt_bboxes, gt_labels, ignored)
    return sampler.sample(assign_result, proposals, gt_bboxes, gt_labels)


def sampled_boxes(sampling_result: Any) -> Tensor:
    """(P + M, 4) the sampled RoIs of one image: positives then negatives (mmdet's order)."""
    return torch.cat([sampling_result.pos_priors, sampling_result.neg_priors], dim=0)


def split_by_image(tensor: Tensor, counts: Sequence[int]) -> tuple[Tensor, ...]:
    return tensor.split(list(counts), dim=0)


@MODELS.register_module()
class StandardRoIHead(nn.Module):
    """Box branch of Faster R-CNN (mmdet ``StandardRoIHead`` without masks).

    Train: per image, the RPN proposals are assigned to the GTs (``train_cfg.assigner``) and
    sampled (``train_cfg.sampler``, GTs added as proposals); the sampled RoIs (positives first)
    are pooled by ``bbox_roi_extractor`` from the first ``num_inputs`` levels and go through
    ``bbox_head``. Predict: every proposal is pooled and scored, then decoded, rescaled and
    NMS-ed by the box head.

    Args:
        bbox_roi_extractor: ``SingleRoIExtractor`` config.
        bbox_head: ``Shared2FCBBoxHead`` config.
        train_cfg: ``dict(assigner, sampler, pos_weight=-1)`` (the detector's
            ``train_cfg.rcnn``); needed by :meth:`loss`.
        test_cfg: ``dict(score_thr, nms=dict(type='nms', iou_threshold), max_per_img)``;
            needed by :meth:`predict`.

    Shapes:
        feats: the neck's levels (N, C, H / s, W / s), strides 4.. (only the first
            ``bbox_roi_extractor.num_inputs`` are read).
        rpn_proposals: per image InstanceData ``bboxes`` (B_i, 4) xyxy in img_shape pixels.
    """

    def __init__(self, bbox_roi_extractor: Mapping, bbox_head: Mapping,
                 train_cfg: Optional[Mapping] = None,
                 test_cfg: Optional[Mapping] = None) -> None:
        super().__init__()
        self.bbox_roi_extractor = MODELS.build(bbox_roi_extractor)
        self.bbox_head = MODELS.build(bbox_head)
        self.train_cfg = None if train_cfg is None else check_rcnn_train_cfg(train_cfg,
                                                                              'train_cfg')
        self.test_cfg = None if test_cfg is None else dict(test_cfg)
        if test_cfg is not None:
            parse_rcnn_test_cfg(test_cfg)
        self.bbox_assigner = self.bbox_sampler = None
        if self.train_cfg is not None:
            self.bbox_assigner = TASK_UTILS.build(self.train_cfg['assigner'])
            self.bbox_sampler = TASK_UTILS.build(self.train_cfg['sampler'])

    def _bbox_forward(self, feats: Sequence[Tensor], rois: Tensor) -> tuple[Tensor, Tensor]:
        roi_feats = self.bbox_roi_extractor(feats[:self.bbox_roi_extractor.num_inputs], rois)
        return self.bbox_head(roi_feats)

    def loss(self, feats: Sequence[Tensor], rpn_proposals: Sequence[InstanceData],
             batch_data_samples: Sequence[Any]) -> dict[str, Tensor]:
        """``loss_cls``, ``acc`` (percent) and ``loss_bbox`` of the sampled RoIs."""
        if self.train_cfg is None:
            raise ConfigError('StandardRoIHead.loss needs train_cfg (the detector\'s '
                              'train_cfg.rcnn)')
        if len(rpn_proposals) != len(batch_data_samples):
            raise ValueError(f'got {len(rpn_proposals)} proposal sets for '
                             f'{len(batch_data_samples)} data samples')
        sampling_results = [
            assign_and_sample(self.bbox_assigner, self.bbox_sampler,
                              proposals.bboxes.detach(), sample)
            for proposals, sample in zip(rpn_proposals, batch_data_samples)]
        rois = boxes_to_rois([sampled_boxes(res) for res in sampling_results])
        cls_score, bbox_pred = self._bbox_forward(feats, rois)
        losses, _ = self.bbox_head.loss_and_target(cls_score, bbox_pred, sampling_results,
                                                   pos_weight=self.train_cfg['pos_weight'])
        return losses

    def predict(self, feats: Sequence[Tensor], rpn_proposals: Sequence[InstanceData],
                batch_data_samples: Sequence[Any], *, rescale: bool = True
                ) -> list[InstanceData]:
        """Detections per image: ``bboxes`` (D, 4) xyxy (original image pixels when
        ``rescale``, else img_shape pixels), ``scores`` (D,), ``labels`` (D,) int64."""
        test = parse_rcnn_test_cfg(self.test_cfg)
        if len(rpn_proposals) != len(batch_data_samples):
            raise ValueError(f'got {len(rpn_proposals)} proposal sets for '
                             f'{len(batch_data_samples)} data samples')
        metas = [sample.metainfo for sample in batch_data_samples]
        proposals = [p.bboxes for p in rpn_proposals]
        rois = boxes_to_rois(proposals)
        if rois.shape[0] == 0:
            return [empty_detections(rois.device) for _ in metas]
        cls_score, bbox_pred = self._bbox_forward(feats, rois)
        counts = [len(p) for p in proposals]
        return self.bbox_head.predict_by_feat(
            split_by_image(rois, counts), split_by_image(cls_score, counts),
            split_by_image(bbox_pred, counts), metas, rescale=rescale, **test)
