"""Region proposal network head (mmdet 3.x ``RPNHead``: one class, sigmoid scores).

Sources: open-mmlab/mmdetection:mmdet/models/dense_heads/rpn_head.py and anchor_head.py
(targets, ``loss_by_feat``, ``_predict_by_feat_single``, ``_bbox_post_process``); the fork's
HRNet/HRNet-Object-Detection:mmdet/models/anchor_heads/rpn_head.py for ``legacy``. Module names
``rpn_conv``, ``rpn_cls``, ``rpn_reg`` are the checkpoint keys of both.

Boxes are xyxy in input pixels (``img_shape``), the convention of
:mod:`hrnet_train.structures.boxes`.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor, nn

from hrnet_train.ops import batched_nms
from hrnet_train.registry import MODELS, TASK_UTILS
from hrnet_train.utils.errors import ConfigError, DataError

from ..task_modules.anchor_generator import anchor_inside_flags

DEFAULT_ANCHOR_GENERATOR = dict(type='AnchorGenerator', strides=(4, 8, 16, 32, 64), scales=(8,),
                                ratios=(0.5, 1.0, 2.0))
DEFAULT_BBOX_CODER = dict(type='DeltaXYWHBBoxCoder', target_means=(0., 0., 0., 0.),
                          target_stds=(1., 1., 1., 1.))
DEFAULT_LOSS_CLS = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)
DEFAULT_LOSS_BBOX = dict(type='L1Loss', loss_weight=1.0)
# mmdet 3.x configs/_base_/models/faster-rcnn_r50_fpn.py, test_cfg.rpn
DEFAULT_TEST_CFG = dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                        min_bbox_size=0)

_TRAIN_KEYS = frozenset({'assigner', 'sampler', 'allowed_border', 'pos_weight', 'debug'})
_PROPOSAL_KEYS = frozenset({'nms_pre', 'max_per_img', 'nms', 'min_bbox_size'})
_RENAMED = {'nms_post': 'max_per_img', 'max_num': 'max_per_img', 'nms_thr': 'nms.iou_threshold',
            'nms_across_levels': 'nothing (NMS is always per level)'}


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)


def check_proposal_cfg(cfg: Any, name: str) -> dict:
    """Validate an RPN proposal config (``train_cfg.rpn_proposal`` / ``test_cfg.rpn``).

    Returns:
        dict with ``nms_pre`` (int, <= 0 keeps all), ``max_per_img`` (int),
        ``iou_threshold`` (float), ``min_bbox_size`` (float, < 0 disables the filter).
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f'{name} must be a dict with nms_pre, max_per_img, nms, min_bbox_size, '
                          f'got {cfg!r}')
    for key in cfg:
        if key in _RENAMED:
            raise ConfigError(f'{name}.{key} is an mmdet 1.x/2.x key; use {_RENAMED[key]}')
        if key not in _PROPOSAL_KEYS:
            raise ConfigError(f'{name} has unknown key {key!r}; expected {sorted(_PROPOSAL_KEYS)}')
    for key in ('max_per_img', 'nms'):
        if key not in cfg:
            raise ConfigError(f'{name}.{key} is missing')
    nms = cfg['nms']
    if not isinstance(nms, Mapping) or nms.get('type', 'nms') != 'nms' or \
            'iou_threshold' not in nms or set(nms) - {'type', 'iou_threshold'}:
        raise ConfigError(f"{name}.nms must be dict(type='nms', iou_threshold=float), got {nms!r}")
    return dict(nms_pre=int(cfg.get('nms_pre', -1)), max_per_img=int(cfg['max_per_img']),
                iou_threshold=float(nms['iou_threshold']),
                min_bbox_size=float(cfg.get('min_bbox_size', -1)))


def select_proposals(bboxes: Tensor, scores: Tensor, level_ids: Tensor, *, iou_threshold: float,
                     max_per_img: int, min_bbox_size: float = 0.0,
                     legacy: bool = False) -> tuple[Tensor, Tensor]:
    """mmdet's RPN ``_bbox_post_process``: size filter, NMS within each level, top ``max_per_img``.

    Args:
        bboxes: (B, 4) xyxy decoded proposals.
        scores: (B,) objectness in [0, 1].
        level_ids: (B,) int64 pyramid level of each proposal; NMS never suppresses across
            levels (``batched_nms`` over the level ids).
        iou_threshold: NMS IoU threshold.
        max_per_img: number of proposals kept.
        min_bbox_size: boxes with width or height ``<= min_bbox_size`` are dropped; negative
            disables the filter (mmdet 3.x; legacy widths are ``x2 - x1 + 1``).
        legacy: the ``+ 1`` widths in the size filter. The NMS is ``hrnet_train.ops`` NMS
            without ``+ 1`` either way.

    Returns:
        bboxes (D, 4) and scores (D,), D <= max_per_img, in decreasing score.
    """
    if min_bbox_size >= 0:
        off = 1.0 if legacy else 0.0
        w = bboxes[:, 2] - bboxes[:, 0] + off
        h = bboxes[:, 3] - bboxes[:, 1] + off
        keep = (w > min_bbox_size) & (h > min_bbox_size)
        if not bool(keep.all()):
            bboxes, scores, level_ids = bboxes[keep], scores[keep], level_ids[keep]
    if bboxes.shape[0] == 0:
        return bboxes.new_zeros((0, 4)), scores.new_zeros((0,))
    keep = batched_nms(bboxes, scores, level_ids, iou_threshold)[:max_per_img]
    return bboxes[keep], scores[keep]


def _merge_legacy(cfg: Optional[Mapping], default: Mapping, legacy: bool, name: str) -> dict:
    cfg = copy.deepcopy(dict(default if cfg is None else cfg))
    if legacy:
        if cfg.setdefault('legacy', True) is not True:
            raise ConfigError(f'{name}.legacy={cfg["legacy"]} contradicts RPNHead legacy=True; '
                              'set one of them')
    return cfg


@MODELS.register_module()
class RPNHead(nn.Module):
    """Objectness and box deltas for A anchors per cell on every pyramid level.

    ``rpn_conv`` (3x3, feat_channels, ReLU) is shared by the levels; ``rpn_cls`` (1x1, A
    outputs) gives sigmoid objectness logits, ``rpn_reg`` (1x1, 4A) deltas ``(dx, dy, dw, dh)``
    for anchor a in channels ``4a .. 4a + 3``. Init: normal(std 0.01), bias 0 (both codes).

    Train (``loss_and_predict``): per image, the anchors of all levels are concatenated; those
    valid for ``img_shape`` (and inside it by ``allowed_border``) are assigned to the GTs and
    sampled; ``loss_rpn_cls`` is the sigmoid BCE of the sampled anchors (GT label 0,
    background 1) and ``loss_rpn_bbox`` the box loss of the positives' deltas against the
    coder's targets. Both are divided by mmdet's ``avg_factor``: the sum over images of
    ``max(#pos, 1) + max(#neg, 1)`` (mmdet ``SamplingResult.avg_factor``; the fork's
    ``num_total_samples`` is the same). An image without GTs gives only negatives.

    Proposals: per image and level, the top ``nms_pre`` anchors by score are decoded and
    clipped to ``img_shape``, boxes of width or height ``<= min_bbox_size`` dropped, NMS run per
    level, and the best ``max_per_img`` kept (:func:`select_proposals`).

    Args:
        in_channels: channels of every pyramid level.
        feat_channels: channels of ``rpn_conv``.
        anchor_generator: ``TASK_UTILS`` config; None for strides 4..64, scale 8, ratios
            0.5/1/2.
        bbox_coder: ``TASK_UTILS`` config; None for ``DeltaXYWHBBoxCoder`` with stds 1.
        train_cfg: ``assigner``, ``sampler`` (``add_gt_as_proposals=False``),
            ``allowed_border`` (-1: every valid anchor), ``pos_weight`` (-1: weight 1);
            needed only for the loss.
        test_cfg: proposal config of :meth:`predict` (``nms_pre``, ``max_per_img``,
            ``nms=dict(type='nms', iou_threshold)``, ``min_bbox_size``); None for mmdet 3.x's
            1000 / 1000 / 0.7 / 0.
        loss_cls: ``MODELS`` loss with ``use_sigmoid=True`` taking (S, 1) logits, (S,) labels,
            ``weight`` and ``avg_factor``; None for ``CrossEntropyLoss(use_sigmoid=True)``.
        loss_bbox: ``MODELS`` loss on (P, 4) deltas with ``weight``, ``avg_factor``; None for
            ``L1Loss`` (the fork: ``SmoothL1Loss(beta=1/9)``).
        legacy: the fork's ``+ 1`` convention: sets ``legacy=True`` on the anchor generator, the
            box coder and the assigner (an explicit ``legacy=False`` there is an error) and
            uses ``+ 1`` widths in the proposal size filter.

    Shapes:
        feats: list of L tensors (N, in_channels, h_l, w_l), strides of the anchor generator.
        forward returns: cls_scores list of (N, A, h_l, w_l), bbox_preds list of
            (N, 4A, h_l, w_l).
    """

    def __init__(self, in_channels: int = 256, feat_channels: int = 256, *,
                 anchor_generator: Optional[Mapping] = None,
                 bbox_coder: Optional[Mapping] = None, train_cfg: Optional[Mapping] = None,
                 test_cfg: Optional[Mapping] = None, loss_cls: Optional[Mapping] = None,
                 loss_bbox: Optional[Mapping] = None, legacy: bool = False) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.feat_channels = int(feat_channels)
        self.legacy = bool(legacy)
        self.anchor_generator = TASK_UTILS.build(_merge_legacy(
            anchor_generator, DEFAULT_ANCHOR_GENERATOR, self.legacy, 'anchor_generator'))
        self.bbox_coder = TASK_UTILS.build(_merge_legacy(
            bbox_coder, DEFAULT_BBOX_CODER, self.legacy, 'bbox_coder'))
        self.num_anchors = self.anchor_generator.num_base_anchors
        self.loss_cls = MODELS.build(copy.deepcopy(dict(loss_cls or DEFAULT_LOSS_CLS)))
        if not getattr(self.loss_cls, 'use_sigmoid', False):
            raise ConfigError(f'RPNHead loss_cls must be a sigmoid loss (use_sigmoid=True), got '
                              f'{loss_cls!r}')
        self.loss_bbox = MODELS.build(copy.deepcopy(dict(loss_bbox or DEFAULT_LOSS_BBOX)))
        self.train_cfg = None if train_cfg is None else self._build_train_cfg(train_cfg)
        self.test_cfg = check_proposal_cfg(DEFAULT_TEST_CFG if test_cfg is None else test_cfg,
                                           'rpn_head.test_cfg')

        self.rpn_conv = nn.Conv2d(self.in_channels, self.feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(self.feat_channels, self.num_anchors, 1)
        self.rpn_reg = nn.Conv2d(self.feat_channels, self.num_anchors * 4, 1)
        self.init_weights()

    def _build_train_cfg(self, cfg: Mapping) -> dict:
        if not isinstance(cfg, Mapping):
            raise ConfigError(f'rpn_head.train_cfg must be a dict, got {cfg!r}')
        unknown = set(cfg) - _TRAIN_KEYS
        if unknown:
            raise ConfigError(f'rpn_head.train_cfg has unknown keys {sorted(unknown)}; expected '
                              f'{sorted(_TRAIN_KEYS)}')
        for key in ('assigner', 'sampler'):
            if key not in cfg:
                raise ConfigError(f'rpn_head.train_cfg.{key} is missing')
        assigner = TASK_UTILS.build(_merge_legacy(cfg['assigner'], {}, self.legacy,
                                                  'train_cfg.assigner'))
        sampler = TASK_UTILS.build(copy.deepcopy(dict(cfg['sampler'])))
        if getattr(sampler, 'add_gt_as_proposals', False):
            raise ConfigError('rpn_head.train_cfg.sampler.add_gt_as_proposals must be False: GT '
                              'boxes have no anchor, so no RPN prediction to train')
        return dict(assigner=assigner, sampler=sampler,
                    allowed_border=float(cfg.get('allowed_border', -1)),
                    pos_weight=float(cfg.get('pos_weight', -1)))

    def init_weights(self) -> None:
        for conv in (self.rpn_conv, self.rpn_cls, self.rpn_reg):
            nn.init.normal_(conv.weight, mean=0.0, std=0.01)
            nn.init.constant_(conv.bias, 0.0)

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        if len(feats) != self.anchor_generator.num_levels:
            raise ValueError(f'RPNHead expects {self.anchor_generator.num_levels} levels '
                             f'(strides {self.anchor_generator.strides}), got {len(feats)}')
        cls_scores, bbox_preds = [], []
        for x in feats:
            if x.shape[1] != self.in_channels:
                raise ValueError(f'RPNHead expects {self.in_channels} input channels, got '
                                 f'{x.shape[1]}')
            x = F.relu(self.rpn_conv(x))
            cls_scores.append(self.rpn_cls(x))
            bbox_preds.append(self.rpn_reg(x))
        return cls_scores, bbox_preds

    # ---------------------------------------------------------------- training
    def loss(self, feats: Sequence[Tensor], batch_data_samples: Sequence[Any]) -> dict:
        """``{'loss_rpn_cls', 'loss_rpn_bbox'}`` of one batch (RPN-only training)."""
        cls_scores, bbox_preds = self(feats)
        return self.loss_by_feat(cls_scores, bbox_preds, batch_data_samples)

    def loss_and_predict(self, feats: Sequence[Tensor], batch_data_samples: Sequence[Any],
                         proposal_cfg: Optional[Mapping] = None
                         ) -> tuple[dict, list[InstanceData]]:
        """Losses and (detached) proposals from one forward pass.

        Args:
            feats: the pyramid levels.
            batch_data_samples: per image, metainfo ``img_shape`` and ``gt_instances.bboxes``
                (G, 4) in img_shape pixels (labels are not used: every GT is "object");
                optional ``ignored_instances.bboxes``.
            proposal_cfg: ``train_cfg.rpn_proposal`` (see :func:`check_proposal_cfg`); None
                uses ``test_cfg``.

        Returns:
            losses ``{'loss_rpn_cls', 'loss_rpn_bbox'}`` (scalars) and per image
            ``InstanceData(bboxes (D, 4), scores (D,))`` in img_shape pixels.
        """
        cls_scores, bbox_preds = self(feats)
        losses = self.loss_by_feat(cls_scores, bbox_preds, batch_data_samples)
        cfg = self.test_cfg if proposal_cfg is None else check_proposal_cfg(
            proposal_cfg, 'train_cfg.rpn_proposal')
        metas = [s.metainfo for s in batch_data_samples]
        proposals = self.predict_by_feat(cls_scores, bbox_preds, metas, cfg=cfg)
        return losses, proposals

    def get_targets(self, featmap_sizes: Sequence[tuple[int, int]],
                    batch_data_samples: Sequence[Any], device: torch.device
                    ) -> tuple[list[tuple[Tensor, Tensor, Tensor]], int]:
        """Assign and sample the anchors of every image (mmdet ``AnchorHead.get_targets``).

        Args:
            featmap_sizes: (h_l, w_l) per level.
            batch_data_samples: as :meth:`loss_and_predict`.
            device: device of the anchors.

        Returns:
            per image ``(pos_inds (P,), neg_inds (Q,), pos_targets (P, 4))``: indices into the
            image's anchors of all levels concatenated (order of
            :meth:`AnchorGenerator.grid_anchors`) and the coder's deltas of the positives;
            and ``avg_factor``, the sum of ``max(P, 1) + max(Q, 1)`` over images.
        """
        if self.train_cfg is None:
            raise ConfigError('rpn_head.train_cfg is needed for the loss (assigner, sampler)')
        cfg = self.train_cfg
        anchors = torch.cat(self.anchor_generator.grid_anchors(featmap_sizes, device))  # (M, 4)
        targets, avg_factor = [], 0
        for i, sample in enumerate(batch_data_samples):
            img_shape = tuple(sample.metainfo['img_shape'][:2])
            valid = torch.cat(self.anchor_generator.valid_flags(featmap_sizes, img_shape, device))
            inside = anchor_inside_flags(anchors, valid, img_shape, cfg['allowed_border'])
            inside_idx = torch.nonzero(inside, as_tuple=False).squeeze(1)
            if inside_idx.numel() == 0:
                raise DataError(f'image {sample.metainfo.get("img_path", i)}: no anchor lies '
                                f'inside img_shape {img_shape} (allowed_border='
                                f'{cfg["allowed_border"]})')
            priors = anchors[inside_idx]
            gt_bboxes, ignored = _gt_boxes(sample, device)
            gt_labels = torch.zeros(gt_bboxes.shape[0], dtype=torch.long, device=device)
            assign_result = cfg['assigner'].assign(priors, gt_bboxes, gt_labels, ignored)
            res = cfg['sampler'].sample(assign_result, priors, gt_bboxes, gt_labels)
            pos_targets = (self.bbox_coder.encode(res.pos_priors, res.pos_gt_bboxes)
                           if res.num_pos else anchors.new_zeros((0, 4)))
            targets.append((inside_idx[res.pos_inds], inside_idx[res.neg_inds], pos_targets))
            avg_factor += res.avg_factor
        return targets, avg_factor

    def loss_by_feat(self, cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor],
                     batch_data_samples: Sequence[Any]) -> dict:
        """Losses from head outputs; see the class docstring."""
        num_imgs = cls_scores[0].shape[0]
        if len(batch_data_samples) != num_imgs:
            raise ValueError(f'{len(batch_data_samples)} data samples for a batch of {num_imgs}')
        featmap_sizes = [tuple(c.shape[-2:]) for c in cls_scores]
        targets, avg_factor = self.get_targets(featmap_sizes, batch_data_samples,
                                               cls_scores[0].device)
        # float32 losses also under AMP (fp16 deltas would round the targets)
        cls_flat = torch.cat([c.permute(0, 2, 3, 1).reshape(num_imgs, -1)
                              for c in cls_scores], dim=1).float()  # (N, M), order (y, x, a)
        reg_flat = torch.cat([b.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4)
                              for b in bbox_preds], dim=1).float()  # (N, M, 4)
        pos_w = self.train_cfg['pos_weight']
        logits, labels, weights, pos_preds, pos_targets = [], [], [], [], []
        for i, (pos, neg, pos_t) in enumerate(targets):
            logits += [cls_flat[i, pos], cls_flat[i, neg]]
            labels += [torch.zeros_like(pos), torch.ones_like(neg)]  # 0 object, 1 background
            weights += [cls_flat.new_full((pos.numel(),), 1.0 if pos_w <= 0 else pos_w),
                        cls_flat.new_ones((neg.numel(),))]
            pos_preds.append(reg_flat[i, pos])
            pos_targets.append(pos_t)
        loss_cls = self.loss_cls(torch.cat(logits)[:, None], torch.cat(labels),
                                 torch.cat(weights), avg_factor=float(avg_factor))
        pred = torch.cat(pos_preds)
        target = torch.cat(pos_targets).to(pred)
        loss_bbox = self.loss_bbox(pred, target, torch.ones_like(target),
                                   avg_factor=float(avg_factor))
        return dict(loss_rpn_cls=loss_cls, loss_rpn_bbox=loss_bbox)

    # ---------------------------------------------------------------- proposals
    def predict(self, feats: Sequence[Tensor], batch_data_samples: Sequence[Any], *,
                rescale: bool = False) -> list[InstanceData]:
        """Proposals with ``test_cfg``: per image ``InstanceData(bboxes (D, 4), scores (D,))``
        in img_shape pixels (``rescale=True``: divided by ``scale_factor``, original-image
        pixels, not clipped; the detector never rescales proposals)."""
        cls_scores, bbox_preds = self(feats)
        metas = [s.metainfo for s in batch_data_samples]
        return self.predict_by_feat(cls_scores, bbox_preds, metas, cfg=self.test_cfg,
                                    rescale=rescale)

    def predict_by_feat(self, cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor],
                        batch_img_metas: Sequence[Mapping], *, cfg: Mapping,
                        rescale: bool = False) -> list[InstanceData]:
        """Proposals from head outputs (detached); ``cfg`` as returned by
        :func:`check_proposal_cfg`."""
        featmap_sizes = [tuple(c.shape[-2:]) for c in cls_scores]
        device = cls_scores[0].device
        mlvl_anchors = self.anchor_generator.grid_anchors(featmap_sizes, device)
        results = []
        for i, meta in enumerate(batch_img_metas):
            all_scores, all_deltas, all_anchors, all_levels = [], [], [], []
            for level, (cls, reg, anchors) in enumerate(zip(cls_scores, bbox_preds, mlvl_anchors)):
                # float32: fp16 (AMP) boxes of ~1000 px would be off by up to 0.5 px
                scores = cls[i].detach().float().permute(1, 2, 0).reshape(-1).sigmoid()  # (hwA,)
                deltas = reg[i].detach().float().permute(1, 2, 0).reshape(-1, 4)  # (hwA, 4)
                if 0 < cfg['nms_pre'] < scores.numel():
                    scores, order = scores.sort(descending=True, stable=True)
                    scores, order = scores[:cfg['nms_pre']], order[:cfg['nms_pre']]
                    deltas, anchors = deltas[order], anchors[order]
                all_scores.append(scores)
                all_deltas.append(deltas)
                all_anchors.append(anchors)
                all_levels.append(torch.full_like(scores, level, dtype=torch.long))
            img_shape = tuple(meta['img_shape'][:2])
            bboxes = self.bbox_coder.decode(torch.cat(all_anchors), torch.cat(all_deltas),
                                            max_shape=img_shape)
            if rescale:
                sw, sh = meta['scale_factor'][:2]
                bboxes = bboxes * bboxes.new_tensor([1 / sw, 1 / sh, 1 / sw, 1 / sh])
            bboxes, scores = select_proposals(
                bboxes, torch.cat(all_scores), torch.cat(all_levels),
                iou_threshold=cfg['iou_threshold'], max_per_img=cfg['max_per_img'],
                min_bbox_size=cfg['min_bbox_size'], legacy=self.legacy)
            results.append(InstanceData(bboxes=bboxes, scores=scores))
        return results


def _gt_boxes(sample: Any, device: torch.device) -> tuple[Tensor, Optional[Tensor]]:
    """(G, 4) GT boxes and (I, 4) ignored boxes (or None) of one data sample."""
    gt = sample.get('gt_instances', None)
    if gt is None or 'bboxes' not in gt:
        raise DataError(f'image {sample.metainfo.get("img_path", "?")}: the RPN loss needs '
                        'gt_instances.bboxes')
    gt_bboxes = torch.as_tensor(gt.bboxes, dtype=torch.float32, device=device).reshape(-1, 4)
    ignored = sample.get('ignored_instances', None)
    ignored_bboxes = None
    if ignored is not None and 'bboxes' in ignored:
        ignored_bboxes = torch.as_tensor(ignored.bboxes, dtype=torch.float32,
                                         device=device).reshape(-1, 4)
    return gt_bboxes, ignored_bboxes
