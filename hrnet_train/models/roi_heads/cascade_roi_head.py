"""The Cascade R-CNN RoI head: box heads in sequence, each trained at a higher IoU.

mmdet 3.x ``mmdet/models/roi_heads/cascade_roi_head.py`` (box branch only); Cai and
Vasconcelos, "Cascade R-CNN", CVPR 2018.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from hrnet_train.registry import MODELS, TASK_UTILS
from hrnet_train.utils.errors import ConfigError

from .bbox_head import empty_detections
from .roi_extractor import boxes_to_rois
from .standard_roi_head import (
    assign_and_sample,
    check_rcnn_train_cfg,
    parse_rcnn_test_cfg,
    sampled_boxes,
    split_by_image,
)

Cfgs = Union[Mapping, Sequence[Mapping]]


def _per_stage(cfg: Cfgs, num_stages: int, key: str) -> list[dict]:
    if isinstance(cfg, Mapping):
        return [dict(cfg) for _ in range(num_stages)]
    cfgs = [dict(c) for c in cfg]
    if len(cfgs) != num_stages:
        raise ConfigError(f'{key} must be one config or a list of num_stages={num_stages}, got '
                          f'{len(cfgs)}')
    return cfgs


@MODELS.register_module()
class CascadeRoIHead(nn.Module):
    """Box branch of Cascade R-CNN (mmdet ``CascadeRoIHead`` without masks).

    Train: stage ``i`` assigns and samples its proposals with ``train_cfg[i]`` (IoU 0.5 / 0.6
    / 0.7), computes the losses of ``bbox_head[i]`` (reported as ``s{i}.loss_cls``,
    ``s{i}.loss_bbox`` times ``stage_loss_weights[i]``, and ``s{i}.acc`` unweighted), and its
    sampled RoIs, regressed by its own predictions and without the GT-added ones, are the
    proposals of stage ``i + 1`` (mmdet ``refine_bboxes``, no gradient). Predict: the proposals
    are refined by stages 0..n-2 (each with its best foreground class); detections use the
    stages' mean cls logits on the last RoIs and the last stage's regression of them.

    Args:
        num_stages: number of stages (3).
        stage_loss_weights: one weight per stage (1, 0.5, 0.25).
        bbox_roi_extractor: ``SingleRoIExtractor`` config, or one per stage.
        bbox_head: ``Shared2FCBBoxHead`` config (class-agnostic in Cascade R-CNN), or one per
            stage (the configs use stds .1/.1/.2/.2, .05/.05/.1/.1, .033/.033/.067/.067).
        train_cfg: one ``dict(assigner, sampler, pos_weight)`` per stage (the detector's
            ``train_cfg.rcnn``); needed by :meth:`loss`.
        test_cfg: ``dict(score_thr, nms=dict(type='nms', iou_threshold), max_per_img)``.

    Modules: ``bbox_roi_extractor.{0..n-1}`` (no weights), ``bbox_head.{0..n-1}`` (the
    checkpoint keys of mmdet and of the fork).
    """

    def __init__(self, num_stages: int = 3, stage_loss_weights: Sequence[float] = (1, .5, .25),
                 *, bbox_roi_extractor: Cfgs, bbox_head: Cfgs,
                 train_cfg: Optional[Sequence[Mapping]] = None,
                 test_cfg: Optional[Mapping] = None) -> None:
        super().__init__()
        if int(num_stages) != num_stages or num_stages < 1:
            raise ConfigError(f'num_stages must be a positive int, got {num_stages!r}')
        self.num_stages = int(num_stages)
        weights = tuple(float(w) for w in stage_loss_weights)
        if len(weights) != self.num_stages:
            raise ConfigError(f'stage_loss_weights must have num_stages={self.num_stages} '
                              f'entries, got {list(stage_loss_weights)}')
        self.stage_loss_weights = weights
        self.bbox_roi_extractor = nn.ModuleList(
            MODELS.build(c) for c in _per_stage(bbox_roi_extractor, self.num_stages,
                                                'bbox_roi_extractor'))
        self.bbox_head = nn.ModuleList(
            MODELS.build(c) for c in _per_stage(bbox_head, self.num_stages, 'bbox_head'))
        self.train_cfg = None
        self.bbox_assigner: list = []
        self.bbox_sampler: list = []
        if train_cfg is not None:
            if isinstance(train_cfg, Mapping) or len(train_cfg) != self.num_stages:
                raise ConfigError(f'train_cfg must be a list of num_stages={self.num_stages} '
                                  'dict(assigner, sampler, pos_weight), one per stage')
            self.train_cfg = [check_rcnn_train_cfg(c, f'train_cfg[{i}]')
                              for i, c in enumerate(train_cfg)]
            self.bbox_assigner = [TASK_UTILS.build(c['assigner']) for c in self.train_cfg]
            self.bbox_sampler = [TASK_UTILS.build(c['sampler']) for c in self.train_cfg]
        self.test_cfg = None if test_cfg is None else dict(test_cfg)
        if test_cfg is not None:
            parse_rcnn_test_cfg(test_cfg)

    def _bbox_forward(self, stage: int, feats: Sequence[Tensor],
                      rois: Tensor) -> tuple[Tensor, Tensor]:
        extractor = self.bbox_roi_extractor[stage]
        return self.bbox_head[stage](extractor(feats[:extractor.num_inputs], rois))

    def loss(self, feats: Sequence[Tensor], rpn_proposals: Sequence[InstanceData],
             batch_data_samples: Sequence[Any]) -> dict[str, Tensor]:
        """``s{i}.loss_cls``, ``s{i}.loss_bbox`` (weighted by stage) and ``s{i}.acc``."""
        if self.train_cfg is None:
            raise ConfigError('CascadeRoIHead.loss needs train_cfg (the detector\'s '
                              'train_cfg.rcnn, one dict per stage)')
        if len(rpn_proposals) != len(batch_data_samples):
            raise ValueError(f'got {len(rpn_proposals)} proposal sets for '
                             f'{len(batch_data_samples)} data samples')
        img_shapes = [tuple(s.metainfo['img_shape'][:2]) for s in batch_data_samples]
        proposals = [p.bboxes.detach() for p in rpn_proposals]
        losses = {}
        for stage in range(self.num_stages):
            head = self.bbox_head[stage]
            sampling_results = [
                assign_and_sample(self.bbox_assigner[stage], self.bbox_sampler[stage], p, s)
                for p, s in zip(proposals, batch_data_samples)]
            rois = boxes_to_rois([sampled_boxes(res) for res in sampling_results])
            cls_score, bbox_pred = self._bbox_forward(stage, feats, rois)
            stage_losses, targets = head.loss_and_target(
                cls_score, bbox_pred, sampling_results,
                pos_weight=self.train_cfg[stage]['pos_weight'])
            weight = self.stage_loss_weights[stage]
            for name, value in stage_losses.items():
                losses[f's{stage}.{name}'] = value * weight if 'loss' in name else value
            if stage < self.num_stages - 1:
                with torch.no_grad():
                    flags = [res.pos_is_gt.bool() for res in sampling_results]
                    proposals = head.refine_bboxes(rois, targets[0], cls_score, bbox_pred,
                                                   flags, img_shapes)
        return losses

    def predict(self, feats: Sequence[Tensor], rpn_proposals: Sequence[InstanceData],
                batch_data_samples: Sequence[Any], *, rescale: bool = True
                ) -> list[InstanceData]:
        """Detections per image: ``bboxes`` (D, 4) xyxy (original image pixels when
        ``rescale``), ``scores`` (D,), ``labels`` (D,) int64 (mmdet 3.x ``predict_bbox``)."""
        test = parse_rcnn_test_cfg(self.test_cfg)
        if len(rpn_proposals) != len(batch_data_samples):
            raise ValueError(f'got {len(rpn_proposals)} proposal sets for '
                             f'{len(batch_data_samples)} data samples')
        metas = [sample.metainfo for sample in batch_data_samples]
        proposals = [p.bboxes for p in rpn_proposals]
        counts = [len(p) for p in proposals]
        rois = boxes_to_rois(proposals)
        if rois.shape[0] == 0:
            return [empty_detections(rois.device) for _ in metas]
        stage_scores = []
        for stage in range(self.num_stages):
            cls_score, bbox_pred = self._bbox_forward(stage, feats, rois)
            stage_scores.append(cls_score)
            if stage < self.num_stages - 1:
                labels = cls_score[:, :-1].argmax(dim=1)
                refined = []
                for i, meta in enumerate(metas):
                    inds = torch.nonzero(rois[:, 0] == i).squeeze(1)
                    boxes = self.bbox_head[stage].regress_by_class(
                        rois[inds, 1:], labels[inds], bbox_pred[inds], meta['img_shape'])
                    refined.append(torch.cat([rois[inds, :1], boxes], dim=1))
                rois = torch.cat(refined, dim=0)
        # mmdet averages the stages' logits (not probabilities); softmax comes after
        cls_score = sum(stage_scores) / float(self.num_stages)
        return self.bbox_head[-1].predict_by_feat(
            split_by_image(rois, counts), split_by_image(cls_score, counts),
            split_by_image(bbox_pred, counts), metas, rescale=rescale, **test)
