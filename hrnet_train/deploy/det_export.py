"""ONNX export of the two-stage detectors (Faster / Cascade R-CNN), post-processing in the graph.

:class:`DetExportModule` wraps a :class:`~hrnet_train.models.detectors.TwoStageDetector` for
batch 1 at a fixed input size: ``image`` (1, 3, H, W) float32 RGB in 0..255 (resized / padded
by the caller) -> ``boxes`` (N, 4) float32 xyxy in input pixels, ``scores`` (N,), ``labels``
(N,) int64. Inside the graph: the data preprocessor (channel order, mean / std, padding to
``pad_size_divisor``), backbone, neck, the RPN's test-time proposal selection (per-level top
``nms_pre``, decoding clipped to (H, W), ``min_bbox_size``, NMS within each level, top
``max_per_img``), RoIAlign on the level of each RoI, the box head(s), decoding, score threshold
and per-class NMS: the steps and numbers of ``model.predict`` with ``img_shape = ori_shape =
(H, W)`` and ``scale_factor = 1``.

Only the forward of this module is export-specific; the model's own PyTorch path is untouched.
Two ops are ``torch.autograd.Function`` s whose ``forward`` runs ``hrnet_train.ops`` (so the
traced values are the PyTorch ones) and whose ``symbolic`` emits the ONNX op (TorchScript
exporter, ``torch.onnx.export(..., dynamo=False)``):

- ``RoiAlign`` (opset >= 16): ``coordinate_transformation_mode='half_pixel'`` is torchvision's
  ``aligned=True`` (``'output_half_pixel'`` its ``aligned=False``); ``sampling_ratio=0`` is the
  same adaptive ``ceil(roi_size / output_size)`` grid in onnxruntime
  (onnxruntime/core/providers/cpu/object_detection/roialign.cc) and torchvision
  (torchvision/csrc/ops/cpu/roi_align_kernel.cpp), both drop samples outside
  ``[-1, H] x [-1, W]`` and both give 0 for an empty aligned RoI (measured in
  tests/deploy/test_det_export.py: at most 5e-7 apart).
- ``NonMaxSuppression``: onnxruntime's IoU (``inter / (area1 + area2 - inter)`` in float32,
  ``> iou_threshold``) is torchvision's nms_kernel.cpp; the graph follows
  ``hrnet_train.ops.batched_nms`` step for step, including its switch between the coordinate
  offset trick (<= 1000 boxes) and one NMS per group (the op's class dimension, > 1000 boxes):
  both are computed and the one PyTorch would use is selected (``Where``).

Our pure-PyTorch RoIAlign does not export on its own: its sample grids have data-dependent
sizes (the adaptive ``ceil`` per RoI), its chunking is Python control flow and it is an
autograd Function without ``symbolic`` (TorchScript exporter: ``RuntimeError:
unordered_map::at``; ``dynamo=True``: ``torch.export`` fails), hence ``RoiAlign``. The
``dynamo=True`` exporter is not supported here (the ops' ``symbolic`` is TorchScript-only).

Known differences (ulp-level): FPN levels are compared against powers of two (ONNX has no
``Log2``); tied scores are ordered by index in onnxruntime's TopK / NMS and by PyTorch's CPU
sort in ``predict``.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hrnet_train.models.roi_heads.standard_roi_head import parse_rcnn_test_cfg
from hrnet_train.ops import nms, roi_align
from hrnet_train.utils.errors import ConfigError

INPUT_NAMES = ('image',)
OUTPUT_NAMES = ('boxes', 'scores', 'labels')
MIN_OPSET = 16  # RoiAlign coordinate_transformation_mode
DEFAULT_OPSET = 17
# hrnet_train.ops.batched_nms (torchvision ops/boxes.py): one NMS per group above this many
# box coordinates on CPU, the coordinate offset trick below
_PER_GROUP_NUMEL = 4000
_INT64_MAX_BOXES = 1 << 30  # NonMaxSuppression max_output_boxes_per_class: no limit


# ---------------------------------------------------------------------------- ONNX ops
@contextlib.contextmanager
def _no_tracing():
    """Run the PyTorch value of an op without recording it (the Function's symbolic is what
    the exported graph holds)."""
    state = torch._C._get_tracing_state()
    torch._C._set_tracing_state(None)
    try:
        yield
    finally:
        torch._C._set_tracing_state(state)


class _RoiAlignOp(torch.autograd.Function):
    """``hrnet_train.ops.roi_align`` in PyTorch, ONNX ``RoiAlign`` (mode avg) when exported.

    Shapes: feat (1, C, h, w); boxes (K, 4) xyxy input pixels; batch_indices (K,) int64;
    returns (K, C, oh, ow).
    """

    @staticmethod
    def forward(ctx, feat: Tensor, boxes: Tensor, batch_indices: Tensor,
                output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int,
                aligned: bool) -> Tensor:
        rois = torch.cat([batch_indices[:, None].to(boxes), boxes], dim=1)
        with _no_tracing():  # roi_align is itself an autograd Function: keep it off the trace
            return roi_align(feat, rois, output_size, spatial_scale, sampling_ratio, aligned)

    @staticmethod
    def symbolic(g, feat, boxes, batch_indices, output_size, spatial_scale, sampling_ratio,
                 aligned):
        return g.op('RoiAlign', feat, boxes, batch_indices,
                    output_height_i=int(output_size[0]), output_width_i=int(output_size[1]),
                    sampling_ratio_i=max(int(sampling_ratio), 0),
                    spatial_scale_f=float(spatial_scale), mode_s='avg',
                    coordinate_transformation_mode_s='half_pixel' if aligned
                    else 'output_half_pixel')


class _NonMaxSuppressionOp(torch.autograd.Function):
    """Greedy NMS per group, ONNX ``NonMaxSuppression`` (center_point_box=0) when exported.

    The op reads corners as (y1, x1, y2, x2); IoU is symmetric in x and y, so xyxy boxes give
    the same IoU. Boxes with score ``<= score_threshold`` are not candidates.

    Shapes: boxes (1, N, 4); scores (1, G, N); returns (M, 3) int64 ``(0, group, box)``.
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, iou_threshold: float,
                score_threshold: float) -> Tensor:
        rows = []
        with _no_tracing():
            for group in range(scores.shape[1]):
                cand = torch.nonzero(scores[0, group] > score_threshold).squeeze(1)
                kept = cand[nms(boxes[0, cand], scores[0, group, cand], iou_threshold)]
                rows.append(torch.stack([torch.zeros_like(kept), torch.full_like(kept, group),
                                         kept], dim=1))
            return torch.cat(rows, dim=0)

    @staticmethod
    def symbolic(g, boxes, scores, iou_threshold, score_threshold):
        max_out = g.op('Constant', value_t=torch.tensor([_INT64_MAX_BOXES], dtype=torch.int64))
        iou = g.op('Constant', value_t=torch.tensor([iou_threshold], dtype=torch.float32))
        thr = g.op('Constant', value_t=torch.tensor([score_threshold], dtype=torch.float32))
        return g.op('NonMaxSuppression', boxes, scores, max_out, iou, thr, center_point_box_i=0)


def _kept_mask(selected: Tensor, like: Tensor) -> Tensor:
    """(M, 3) NonMaxSuppression rows -> (N,) float mask (1 = kept) over the boxes of ``like``."""
    box_idx = selected[:, 2]
    return torch.zeros_like(like).scatter(0, box_idx, torch.ones_like(box_idx, dtype=like.dtype))


def batched_nms_graph(boxes: Tensor, scores: Tensor, idxs: Tensor, num_groups: int,
                      iou_threshold: float) -> Tensor:
    """``hrnet_train.ops.batched_nms`` built from ONNX-exportable ops.

    Both of its strategies are computed: the coordinate offset trick (boxes moved by ``idx *
    (max coordinate + 1)``, one NMS) and one NMS per group (the op's class dimension, scores of
    other groups set to -1 and excluded by ``score_threshold=-0.5``); the result of the one
    ``batched_nms`` picks for this many boxes (> 4000 coordinates: per group) is kept.

    Args:
        boxes: (N, 4) xyxy with non-negative coordinates (clipped boxes: the max coordinate
            is taken over the boxes and 0, so N = 0 exports).
        scores: (N,) scores in [0, 1].
        idxs: (N,) int64 groups in ``[0, num_groups)``.
        num_groups: number of groups (levels, classes).
        iou_threshold: NMS IoU threshold.

    Returns:
        (D,) int64 kept indices by decreasing score.
    """
    max_coordinate = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    offsets = idxs.to(boxes) * (max_coordinate + 1.0)
    shifted = boxes + offsets[:, None]
    mask = _kept_mask(_NonMaxSuppressionOp.apply(shifted[None], scores[None, None],
                                                 float(iou_threshold), -0.5), scores)
    if num_groups > 1:  # with one group both strategies are the same NMS
        groups = torch.arange(num_groups, device=idxs.device)
        member = idxs[None, :] == groups[:, None]  # (G, N)
        group_scores = torch.where(member, scores[None, :], torch.full_like(scores, -1.0))
        per_group = _kept_mask(_NonMaxSuppressionOp.apply(boxes[None], group_scores[None],
                                                          float(iou_threshold), -0.5), scores)
        numel = torch.ones_like(scores).sum() * 4.0
        mask = torch.where(numel > _PER_GROUP_NUMEL, per_group, mask)
    keep = torch.nonzero(mask > 0).squeeze(1)
    order = torch.sort(scores[keep], descending=True)[1]
    return keep[order]


def map_roi_levels_graph(boxes: Tensor, num_levels: int, *, finest_scale: float,
                         legacy: bool = False) -> Tensor:
    """``map_roi_levels`` without ``log2`` (ONNX has none): ``floor(log2(v)) >= k`` is
    ``v >= 2 ** k`` for ``v = sqrt(w h) / finest_scale + 1e-6``; identical but for ``v`` within
    a float step of a power of two.

    Args:
        boxes: (K, 4) xyxy input pixels. Returns: (K,) int64 levels in ``[0, num_levels)``.
    """
    extra = 1.0 if legacy else 0.0
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0] + extra) * (boxes[:, 3] - boxes[:, 1] + extra))
    value = scale / finest_scale + 1e-6
    levels = torch.zeros_like(value, dtype=torch.long)
    for k in range(1, num_levels):
        levels = levels + (value >= 2.0 ** k).long()
    return levels


# ---------------------------------------------------------------------------- the module
class DetExportModule(nn.Module):
    """A ``TwoStageDetector`` (FasterRCNN, CascadeRCNN) for ONNX: image in, detections out.

    Args:
        model: the detector (its weights are used as they are; call ``eval()``-mode models).
        score_thr: R-CNN score threshold (exclusive), replaces ``test_cfg.rcnn.score_thr``.
        max_per_img: detections kept after per-class NMS (<= 0: all), replaces
            ``test_cfg.rcnn.max_per_img``.

    The RPN settings (``test_cfg.rpn``) and the R-CNN NMS IoU come from the model.

    Shapes:
        image: (1, 3, H, W) float32 RGB in 0..255, H and W fixed at export time.
        returns: boxes (N, 4) float32 xyxy in input pixels (clipped to [0, W] x [0, H]), scores
        (N,) float32 by decreasing score, labels (N,) int64 in [0, num_classes).
    """

    def __init__(self, model: nn.Module, *, score_thr: float = 0.05,
                 max_per_img: int = 100) -> None:
        super().__init__()
        for name in ('data_preprocessor', 'backbone', 'neck', 'rpn_head', 'roi_head'):
            if not hasattr(model, name):
                raise ConfigError(f'DetExportModule needs a TwoStageDetector (FasterRCNN, '
                                  f'CascadeRCNN); {type(model).__name__} has no {name!r}')
        self.model = model
        self.score_thr = float(score_thr)
        self.max_per_img = int(max_per_img)
        pre = model.data_preprocessor
        self.bgr_to_rgb = bool(getattr(pre, '_channel_conversion', False))
        self.normalize = bool(getattr(pre, '_enable_normalize', False))
        self.pad_size_divisor = int(getattr(pre, 'pad_size_divisor', 1))
        self.pad_value = float(getattr(pre, 'pad_value', 0.0))
        if self.normalize:
            self.register_buffer('mean', pre.mean.detach().clone().float().view(1, -1, 1, 1),
                                 persistent=False)
            self.register_buffer('std', pre.std.detach().clone().float().view(1, -1, 1, 1),
                                 persistent=False)
        self.rpn_cfg = dict(model.rpn_head.test_cfg)  # check_proposal_cfg's numbers
        self.rcnn_iou = parse_rcnn_test_cfg(model.roi_head.test_cfg,
                                            'model.test_cfg.rcnn')['iou_threshold']
        roi_head = model.roi_head
        heads = roi_head.bbox_head
        self.bbox_heads = list(heads) if isinstance(heads, nn.ModuleList) else [heads]
        extractors = roi_head.bbox_roi_extractor
        self.extractors = (list(extractors) if isinstance(extractors, nn.ModuleList)
                           else [extractors])
        self.num_classes = int(self.bbox_heads[0].num_classes)

    # ---------------------------------------------------------------- steps
    def preprocess(self, image: Tensor) -> Tensor:
        """(1, 3, H, W) RGB 0..255 -> the data preprocessor's (1, 3, H_pad, W_pad)."""
        x = image.float()
        if self.bgr_to_rgb:
            x = x[:, [2, 1, 0]]
        if self.normalize:
            x = (x - self.mean) / self.std
        h, w = int(x.shape[2]), int(x.shape[3])
        d = self.pad_size_divisor
        pad_h, pad_w = math.ceil(h / d) * d - h, math.ceil(w / d) * d - w
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), value=self.pad_value)
        return x

    def proposals(self, feats: Sequence[Tensor], img_shape: tuple[int, int]) -> Tensor:
        """RPN test-time proposals (``RPNHead.predict_by_feat`` for one image): (P, 4)."""
        rpn = self.model.rpn_head
        cfg = self.rpn_cfg
        cls_scores, bbox_preds = rpn(feats)
        sizes = [tuple(int(s) for s in c.shape[-2:]) for c in cls_scores]
        mlvl_anchors = rpn.anchor_generator.grid_anchors(sizes, cls_scores[0].device)
        all_scores, all_deltas, all_anchors, all_levels = [], [], [], []
        for level, (cls, reg, anchors) in enumerate(zip(cls_scores, bbox_preds, mlvl_anchors)):
            scores = cls[0].float().permute(1, 2, 0).reshape(-1).sigmoid()
            deltas = reg[0].float().permute(1, 2, 0).reshape(-1, 4)
            if 0 < cfg['nms_pre'] < anchors.shape[0]:
                scores, order = scores.topk(cfg['nms_pre'])
                deltas, anchors = deltas[order], anchors[order]
            all_scores.append(scores)
            all_deltas.append(deltas)
            all_anchors.append(anchors)
            all_levels.append(torch.full((anchors.shape[0],), level, dtype=torch.long))
        bboxes = rpn.bbox_coder.decode(torch.cat(all_anchors), torch.cat(all_deltas),
                                       max_shape=img_shape)
        scores, levels = torch.cat(all_scores), torch.cat(all_levels)
        if cfg['min_bbox_size'] >= 0:
            off = 1.0 if rpn.legacy else 0.0
            keep = torch.nonzero(((bboxes[:, 2] - bboxes[:, 0] + off) > cfg['min_bbox_size'])
                                 & ((bboxes[:, 3] - bboxes[:, 1] + off) > cfg['min_bbox_size'])
                                 ).squeeze(1)
            bboxes, scores, levels = bboxes[keep], scores[keep], levels[keep]
        keep = batched_nms_graph(bboxes, scores, levels, len(cls_scores), cfg['iou_threshold'])
        return bboxes[keep[:cfg['max_per_img']]]

    def roi_features(self, stage: int, feats: Sequence[Tensor], boxes: Tensor) -> Tensor:
        """``SingleRoIExtractor`` of one stage: (K, 4) boxes -> (K, C, oh, ow)."""
        ex = self.extractors[stage]
        levels = map_roi_levels_graph(boxes, ex.num_inputs, finest_scale=ex.finest_scale,
                                      legacy=ex.legacy)
        pooled_boxes = boxes
        if ex.legacy:
            pooled_boxes = torch.cat([boxes[:, :2], boxes[:, 2:] + 1.0], dim=1)
        outs, inds = [], []
        for level, (feat, stride) in enumerate(zip(feats[:ex.num_inputs], ex.featmap_strides)):
            idx = torch.nonzero(levels == level).squeeze(1)
            outs.append(_RoiAlignOp.apply(feat, pooled_boxes[idx], torch.zeros_like(idx),
                                          ex.roi_layer_output_size, 1.0 / stride,
                                          ex.sampling_ratio, ex.aligned))
            inds.append(idx)
        order = torch.cat(inds)
        inverse = torch.zeros_like(order).scatter(0, order, torch.arange(
            order.shape[0], dtype=order.dtype))
        return torch.cat(outs)[inverse]

    def detections(self, boxes: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                   head: nn.Module, img_shape: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
        """``Shared2FCBBoxHead.predict_by_feat`` + ``multiclass_nms`` for one image."""
        scores = F.softmax(cls_score.float(), dim=-1)
        bboxes = head.bbox_coder.decode(boxes.float(), bbox_pred.float(), max_shape=img_shape)
        n, c = scores.shape[0], self.num_classes
        if bboxes.shape[1] == 4:
            bboxes = bboxes[:, None].expand(n, c, 4)
        flat_boxes = bboxes.reshape(-1, 4)
        flat_scores = scores[:, :-1].reshape(-1)
        labels = torch.arange(c).expand(n, c).reshape(-1)
        valid = torch.nonzero(flat_scores > self.score_thr).squeeze(1)
        flat_boxes, flat_scores, labels = flat_boxes[valid], flat_scores[valid], labels[valid]
        keep = batched_nms_graph(flat_boxes, flat_scores, labels, c, self.rcnn_iou)
        if self.max_per_img > 0:
            keep = keep[:self.max_per_img]
        return flat_boxes[keep], flat_scores[keep], labels[keep]

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
            raise ValueError(f'image must be (1, 3, H, W), got {tuple(image.shape)}')
        img_shape = (int(image.shape[2]), int(image.shape[3]))
        feats = self.model.extract_feat(self.preprocess(image))
        boxes = self.proposals(feats, img_shape)
        num_stages = len(self.bbox_heads)
        cls_sum: Optional[Tensor] = None
        for stage, head in enumerate(self.bbox_heads):
            cls_score, bbox_pred = head(self.roi_features(stage, feats, boxes))
            cls_sum = cls_score if cls_sum is None else cls_sum + cls_score
            if stage < num_stages - 1:  # CascadeRoIHead.predict: refine with the best class
                labels = cls_score[:, :-1].argmax(dim=1)
                boxes = head.regress_by_class(boxes, labels, bbox_pred, img_shape)
        if num_stages > 1:
            cls_score = cls_sum / float(num_stages)  # mmdet: the mean of the stages' logits
        return self.detections(boxes, cls_score, bbox_pred, self.bbox_heads[-1], img_shape)


# ---------------------------------------------------------------------------- helpers
def export_detector_onnx(model: nn.Module, path: str, *, input_hw: tuple[int, int],
                         score_thr: float = 0.05, max_per_img: int = 100,
                         opset: int = DEFAULT_OPSET) -> str:
    """Export ``DetExportModule(model, score_thr, max_per_img)`` at (H, W) = ``input_hw``.

    The TorchScript exporter (``dynamo=False``) is used: the ONNX ops come from the
    ``symbolic`` of the two autograd Functions. Input ``image`` (1, 3, H, W) float32; outputs
    ``boxes`` (N, 4), ``scores`` (N,), ``labels`` (N,) with a dynamic N.

    Returns:
        ``path``.
    """
    if int(opset) < MIN_OPSET:
        raise ConfigError(f'opset={opset}: detection export needs opset >= {MIN_OPSET} (RoiAlign '
                          'coordinate_transformation_mode)')
    h, w = (int(v) for v in input_hw)
    was_training = model.training
    module = DetExportModule(model.eval(), score_thr=score_thr, max_per_img=max_per_img).eval()
    dummy = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)) * 255.0
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')  # tracer warnings: the sizes are fixed by design
            torch.onnx.export(module, (dummy,), str(path), input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), opset_version=int(opset),
                              dynamic_axes={name: {0: 'num_dets'} for name in OUTPUT_NAMES},
                              do_constant_folding=True, dynamo=False)
    finally:
        model.train(was_training)
    return str(path)


def run_detector_onnx(session, image) -> tuple:
    """Run an exported detector: ``session`` an ``onnxruntime.InferenceSession``, ``image``
    (1, 3, H, W) (or (3, H, W)) float32 RGB 0..255 array / tensor at the exported size.

    Returns:
        numpy ``boxes`` (N, 4) float32, ``scores`` (N,) float32, ``labels`` (N,) int64.
    """
    import numpy as np
    arr = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    boxes, scores, labels = session.run(list(OUTPUT_NAMES), {INPUT_NAMES[0]: arr})
    return boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1).astype(np.int64)
