"""Two-stage detectors on HRNetV2p: Faster R-CNN and Cascade R-CNN."""
from __future__ import annotations

import copy
from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement, InstanceData
from torch import Tensor, nn

from hrnet_train.models.utils.channels import describe, fill_in_channels
from hrnet_train.models.utils.modes import forward_by_mode
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError

_TRAIN_CFG_KEYS = frozenset({'rpn', 'rpn_proposal', 'rcnn'})
_TEST_CFG_KEYS = frozenset({'rpn', 'rcnn'})


def _check_keys(cfg: Optional[dict], allowed: frozenset, name: str) -> dict:
    cfg = dict(cfg or {})
    unknown = set(cfg) - allowed
    if unknown:
        raise ConfigError(f'model.{name}: unknown keys {sorted(unknown)}; expected a subset of '
                          f'{sorted(allowed)}')
    return cfg


@MODELS.register_module()
class TwoStageDetector(BaseModel):
    """Backbone -> neck -> RPN head -> RoI head (mmdet 3.x ``TwoStageDetector`` data flow).

    Data flow: ``data_preprocessor`` (``DetDataPreprocessor``: normalise, pad to 32) ->
    ``backbone`` (``HRNet``, 4 branches) -> ``neck`` (``HRFPN``, 5 levels, strides 4..64) ->
    ``rpn_head`` (``RPNHead``: anchors on all 5 levels; losses and proposals in img_shape
    pixels) -> ``roi_head`` (``StandardRoIHead`` / ``CascadeRoIHead``: RoIAlign on strides
    4..32, box head; detections rescaled to the original image).

    Args:
        backbone, neck, rpn_head, roi_head: component configs. The neck takes ``in_channels``
            from the backbone and the RPN head from the neck when the config omits them.
        train_cfg: ``dict(rpn=..., rpn_proposal=..., rcnn=...)`` (mmdet's keys): ``rpn`` goes
            to the RPN head (assigner, sampler), ``rpn_proposal`` sets the training proposals,
            ``rcnn`` goes to the RoI head (a list of three for Cascade R-CNN).
        test_cfg: ``dict(rpn=..., rcnn=...)``: test proposals and detection post-processing.
        data_preprocessor: default ``DetDataPreprocessor``.

    Data samples (docs/architecture.md): training reads ``gt_instances`` (``bboxes`` (G, 4)
    xyxy in img_shape pixels, ``labels`` (G,) in [0, num_classes)) and ``ignored_instances``;
    prediction fills ``pred_instances`` (``bboxes`` (D, 4) original image pixels, ``scores``
    (D,), ``labels`` (D,)).

    Modes of ``forward(inputs, data_samples, mode)``: ``'loss'`` (RPN losses ``loss_rpn_*``,
    RoI losses and ``acc``), ``'predict'``, ``'tensor'`` (the network only, on ``num_rois``
    empty RoIs: what ``tools/analysis/get_flops.py`` counts).
    """

    def __init__(self, backbone: dict, neck: dict, rpn_head: dict, roi_head: dict, *,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Union[dict, list, None] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='DetDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.train_cfg = _check_keys(train_cfg, _TRAIN_CFG_KEYS, 'train_cfg')
        self.test_cfg = _check_keys(test_cfg, _TEST_CFG_KEYS, 'test_cfg')
        self.backbone = MODELS.build(backbone)
        if getattr(self.backbone, 'out_channels', None) is not None:
            neck = fill_in_channels(neck, self.backbone.out_channels, key='model.neck',
                                    source=describe(self.backbone))
        self.neck = MODELS.build(neck)
        rpn_head = dict(rpn_head)
        if getattr(self.neck, 'out_channels', None) is not None:
            rpn_head = fill_in_channels(rpn_head, self.neck.out_channels, key='model.rpn_head',
                                        source=describe(self.neck))
        rpn_head.update(train_cfg=copy.deepcopy(self.train_cfg.get('rpn')),
                        test_cfg=copy.deepcopy(self.test_cfg.get('rpn')))
        self.rpn_head = MODELS.build(rpn_head)
        roi_head = dict(roi_head)
        roi_head.update(train_cfg=copy.deepcopy(self.train_cfg.get('rcnn')),
                        test_cfg=copy.deepcopy(self.test_cfg.get('rcnn')))
        self.roi_head = MODELS.build(roi_head)

    # ------------------------------------------------------------------ structure
    @property
    def bbox_heads(self) -> list[nn.Module]:
        """The RoI head's box heads (one; three for Cascade R-CNN)."""
        heads = self.roi_head.bbox_head
        return list(heads) if isinstance(heads, nn.ModuleList) else [heads]

    @property
    def num_classes(self) -> int:
        return int(self.bbox_heads[0].num_classes)

    def check_dataset_meta(self, meta: dict, *, split: str = 'dataset') -> None:
        """Raise ConfigError when the dataset's classes do not fit the box head."""
        classes = meta.get('classes')
        if classes is not None and len(classes) != self.num_classes:
            raise ConfigError(f'model.roi_head.bbox_head.num_classes={self.num_classes} but the '
                              f'{split} has {len(classes)} classes (metainfo.classes); set '
                              'num_classes to the number of classes (without background)')

    # ------------------------------------------------------------------ forward
    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """(N, 3, H, W) normalised, padded images -> the neck's levels (strides 4..64)."""
        return tuple(self.neck(self.backbone(inputs)))

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        return forward_by_mode(self, inputs, data_samples, mode)

    def _forward(self, inputs: Tensor, num_rois: int = 512) -> tuple:
        """The network without the data-dependent steps (anchor assignment, NMS, RoIAlign):
        the RPN outputs and ``num_rois`` RoI features through every box head. RoIAlign has no
        multiply-adds in the official counting convention, so its output is a zero tensor."""
        feats = self.extract_feat(inputs)
        rpn_outs = self.rpn_head(feats)
        extractor = self.roi_head.bbox_roi_extractor
        extractor = extractor[0] if isinstance(extractor, nn.ModuleList) else extractor
        size = extractor.roi_layer_output_size
        rois = inputs.new_zeros((num_rois, extractor.out_channels, *size))
        return rpn_outs, tuple(head(rois) for head in self.bbox_heads)

    def loss(self, inputs: Tensor, data_samples: Sequence[BaseDataElement]) -> dict:
        feats = self.extract_feat(inputs)
        # the RPN is class-agnostic: every GT is foreground class 0 (mmdet two_stage.py)
        rpn_samples = copy.deepcopy(list(data_samples))
        for sample in rpn_samples:
            sample.gt_instances.labels = torch.zeros_like(sample.gt_instances.labels)
        proposal_cfg = self.train_cfg.get('rpn_proposal', self.test_cfg.get('rpn'))
        rpn_losses, proposals = self.rpn_head.loss_and_predict(feats, rpn_samples,
                                                               proposal_cfg=proposal_cfg)
        roi_losses = self.roi_head.loss(feats, proposals, data_samples)
        overlap = set(rpn_losses) & set(roi_losses)
        if overlap:
            raise RuntimeError(f'RPN and RoI head losses share names {sorted(overlap)}')
        return {**rpn_losses, **roi_losses}

    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: Optional[Sequence[BaseDataElement]] = None) -> list:
        """Fill ``pred_instances`` (original image pixels) in each data sample."""
        n, _, h, w = inputs.shape
        if data_samples is None:
            data_samples = [BaseDataElement(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                                          scale_factor=(1.0, 1.0),
                                                          pad_shape=(h, w)))
                            for _ in range(n)]
        feats = self.extract_feat(inputs)
        proposals = self.rpn_head.predict(feats, data_samples, rescale=False)
        results = self.roi_head.predict(feats, proposals, data_samples, rescale=True)
        for sample, result in zip(data_samples, results):
            sample.pred_instances = result if isinstance(result, InstanceData) else \
                InstanceData(**result)
        return list(data_samples)


@MODELS.register_module()
class FasterRCNN(TwoStageDetector):
    """Faster R-CNN (Ren et al., NeurIPS 2015) with ``StandardRoIHead``; see
    :class:`TwoStageDetector`. With HRNetV2p: HRNet/HRNet-Object-Detection
    ``configs/hrnet/faster_rcnn_hrnetv2p_w*_1x.py``."""


@MODELS.register_module()
class CascadeRCNN(TwoStageDetector):
    """Cascade R-CNN (Cai and Vasconcelos, CVPR 2018) with ``CascadeRoIHead`` (3 stages, IoU
    0.5/0.6/0.7); see :class:`TwoStageDetector`."""
