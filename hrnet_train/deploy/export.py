"""Wrap a trained model into an export module with pre-processing and decoding in the graph, and
write it to ONNX.

Every export module takes one input, ``image``: (B, 3, H, W) float32 **RGB in [0, 255],
unnormalised** (what ``LoadImage`` + the test pipeline produce, as float). The model's data
preprocessor (RGB->BGR when it has ``bgr_to_rgb=True``, then ``(x - mean) / std``) runs inside.
Outputs per task (see docs/deploy.md):

- pose (``TopdownPoseEstimator``), the warped person crop at the codec's input size:
  ``keypoints`` (B, K, 2) float32, (x, y) **crop pixels**, and ``scores`` (B, K) heatmap maxima;
- seg (``EncoderDecoder``): ``labels`` (B, H, W) int64 at the input size, optionally ``probs``
  (B, C, H, W) float32;
- cls (``ImageClassifier``): ``topk_indices`` (B, k) int64 and ``topk_scores`` (B, k) softmax
  probabilities;
- det (``TwoStageDetector``): ``hrnet_train.deploy.det_export.DetExportModule``, batch 1,
  ``boxes`` (N, 4) xyxy input pixels, ``scores`` (N,), ``labels`` (N,).
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hrnet_train.models.utils.fuse_bn import fuse_batchnorm
from hrnet_train.utils.errors import CheckpointError, ConfigError, import_optional

from .decode import (
    decode_argmax,
    flip_back_heatmaps,
    refine_dark,
    refine_dark_udp,
    refine_quarter_offset,
)

__all__ = ['TASK_OUTPUTS', 'model_task', 'default_input_size', 'check_checkpoint_task',
           'build_export_module', 'export_onnx', 'PoseExportModule', 'SegExportModule',
           'ClsExportModule']

#: output names per task, in order
TASK_OUTPUTS = {
    'pose': ('keypoints', 'scores'),
    'seg': ('labels', 'probs'),
    'cls': ('topk_indices', 'topk_scores'),
    'det': ('boxes', 'scores', 'labels'),
}
#: first key component of a whole model's state dict -> task
_TASK_OF_ROOT = {'head': 'pose', 'decode_head': 'seg', 'cls_head': 'cls', 'rpn_head': 'det',
                 'roi_head': 'det'}
_STORED_META = ('classes', 'palette', 'skeleton', 'keypoint_names', 'flip_indices')
_DET_EXPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'det_export.py')


def _jsonable(value):
    return value.tolist() if hasattr(value, 'tolist') else list(value)


def model_task(model: nn.Module) -> str:
    """'pose', 'seg', 'cls' or 'det' from the model class (ConfigError for anything else)."""
    from hrnet_train.models.detectors.classifier import ImageClassifier
    from hrnet_train.models.detectors.encoder_decoder import EncoderDecoder
    from hrnet_train.models.detectors.topdown_pose import TopdownPoseEstimator
    from hrnet_train.models.detectors.two_stage import TwoStageDetector
    for cls, task in ((TopdownPoseEstimator, 'pose'), (EncoderDecoder, 'seg'),
                      (ImageClassifier, 'cls'), (TwoStageDetector, 'det')):
        if isinstance(model, cls):
            return task
    raise ConfigError(f'cannot export a {type(model).__name__}: model.type must be '
                      'TopdownPoseEstimator, EncoderDecoder, ImageClassifier or a two-stage '
                      'detector')


def check_checkpoint_task(model: nn.Module, state_dict: dict, *, source: str) -> None:
    """Raise a one-line CheckpointError when ``state_dict`` holds a model of another task.

    Args:
        model: the model built from the config.
        state_dict: the checkpoint's tensors (whole-model keys such as ``head.*``,
            ``decode_head.*``, ``cls_head.*``, ``rpn_head.*``); bare backbones pass.
        source: the checkpoint path, for the message.
    """
    task = model_task(model)
    found = {_TASK_OF_ROOT[k.split('.', 1)[0]] for k in state_dict
             if k.split('.', 1)[0] in _TASK_OF_ROOT}
    if found and task not in found:
        other = '/'.join(sorted(found))
        keys = sorted({k.split('.', 1)[0] + '.*' for k in state_dict
                       if k.split('.', 1)[0] in _TASK_OF_ROOT})
        raise CheckpointError(f'checkpoint {source} holds a {other} model ({", ".join(keys)} '
                              f'keys) but the config builds a {type(model).__name__} ({task}); '
                              f'pass the config the checkpoint was trained with')


def default_input_size(cfg, model: nn.Module) -> tuple[int, int]:
    """The (width, height) an export takes by default: the pose codec's ``input_size``; the test
    pipeline's ``CenterCrop.crop_size`` (cls) or ``Resize.scale`` (seg, det: the size an image of
    that aspect ratio is resized to). ConfigError when neither is in the config."""
    task = model_task(model)
    if task == 'pose':
        return tuple(int(v) for v in model.codec.input_size)
    steps = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', []) or []
    want = ('CenterCrop', 'crop_size') if task == 'cls' else ('Resize', 'scale')
    for step in steps:
        if step.get('type') == want[0] and step.get(want[1]) is not None:
            size = step[want[1]]
            size = (size, size) if isinstance(size, int) else size
            return int(size[0]), int(size[1])
    raise ConfigError(f'test_dataloader.dataset.pipeline has no {want[0]} with {want[1]}; '
                      'pass --input-size W H')


class _Normalize(nn.Module):
    """The data preprocessor's image normalisation: (B, 3, H, W) RGB 0..255 -> model input."""

    def __init__(self, preprocessor: Optional[nn.Module]) -> None:
        super().__init__()
        self.swap = bool(getattr(preprocessor, '_channel_conversion', False))
        enabled = bool(getattr(preprocessor, '_enable_normalize', False))
        mean = preprocessor.mean.detach().float().reshape(1, -1, 1, 1) if enabled else None
        std = preprocessor.std.detach().float().reshape(1, -1, 1, 1) if enabled else None
        self.register_buffer('mean', mean if mean is not None else torch.zeros(1, 3, 1, 1))
        self.register_buffer('std', std if std is not None else torch.ones(1, 3, 1, 1))

    def forward(self, image: Tensor) -> Tensor:
        if self.swap:  # bgr_to_rgb / rgb_to_bgr: the preprocessor reverses the channel order
            image = image.flip(1)
        return (image - self.mean) / self.std


class PoseExportModule(nn.Module):
    """Crop -> heatmaps -> keypoints, the codec's decoding in the graph.

    Args:
        model: a ``TopdownPoseEstimator`` (its ``codec``: ``MSRAHeatmap`` with or without
            ``unbiased`` (DARK), or ``UDPHeatmap``).
        flip_test: also run the mirrored crop, flip it back (``flip_indices``, the model's
            ``flip_shift``) and average, as ``TopdownPoseEstimator.predict_heatmaps``.
        flip_indices: K ints; needed with ``flip_test`` (dataset meta ``flip_indices``).
        fuse_bn: fold BatchNorm into the convolutions first.

    Shapes:
        image: (B, 3, H, W) float32 RGB 0..255, (W, H) = ``codec.input_size``.
        returns: keypoints (B, K, 2) crop pixels (x, y); scores (B, K) heatmap maxima.
    """

    def __init__(self, model: nn.Module, *, flip_test: bool = False,
                 flip_indices: Optional[list] = None, fuse_bn: bool = True) -> None:
        super().__init__()
        from hrnet_train.codecs import MSRAHeatmap, UDPHeatmap
        codec = model.codec
        if isinstance(codec, UDPHeatmap):
            self.refine = 'dark_udp'
        elif isinstance(codec, MSRAHeatmap):
            self.refine = 'dark' if codec.unbiased else 'quarter'
        else:
            raise ConfigError(f'cannot export the decoding of model.codec '
                              f'{type(codec).__name__}: expected MSRAHeatmap or UDPHeatmap')
        if flip_test and flip_indices is None:
            raise ConfigError('--flip-test needs the dataset meta flip_indices (the checkpoint '
                              "meta or the config's test dataset)")
        self.normalize = _Normalize(model.data_preprocessor)
        net = fuse_batchnorm(model) if fuse_bn else model
        self.backbone, self.head = net.backbone, net.head
        self.flip_test = flip_test
        self.flip_indices = list(flip_indices) if flip_indices is not None else None
        self.flip_shift = float(model.flip_shift)
        self.blur_kernel_size = int(codec.blur_kernel_size)
        self.input_size = tuple(codec.input_size)
        self.register_buffer('stride', torch.as_tensor(codec.stride, dtype=torch.float32))

    def heatmaps(self, image: Tensor) -> Tensor:
        """(B, 3, H, W) RGB 0..255 -> (B, K, h, w) heatmaps, flip-averaged with flip_test."""
        x = self.normalize(image)
        heatmaps = self.head(self.backbone(x))
        if self.flip_test:
            flipped = self.head(self.backbone(x.flip(-1)))
            heatmaps = 0.5 * (heatmaps + flip_back_heatmaps(flipped, self.flip_indices,
                                                            self.flip_shift))
        return heatmaps

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        heatmaps = self.heatmaps(image)
        keypoints, scores, _ = decode_argmax(heatmaps)
        if self.refine == 'quarter':
            keypoints = refine_quarter_offset(keypoints, heatmaps)
        elif self.refine == 'dark':
            keypoints = refine_dark(keypoints, heatmaps, blur_kernel_size=self.blur_kernel_size)
        else:
            keypoints = refine_dark_udp(keypoints, heatmaps,
                                        blur_kernel_size=self.blur_kernel_size)
        keypoints = keypoints * (scores > 0).unsqueeze(-1).to(keypoints.dtype)  # codec: 0 there
        return keypoints * self.stride, scores


class SegExportModule(nn.Module):
    """Image -> label map with the model's ``test_cfg`` (whole/slide, scales, flip) in the graph.

    Args:
        model: an ``EncoderDecoder``.
        with_probs: also output ``probs``: the softmax of the logits (one view) or the TTA
            scores normalised to sum 1 over classes.
        fuse_bn: fold BatchNorm into the convolutions first.

    Shapes:
        image: (B, 3, H, W) float32 RGB 0..255.
        returns: labels (B, H, W) int64; probs (B, C, H, W) float32 with ``with_probs``.
    """

    def __init__(self, model: nn.Module, *, with_probs: bool = False,
                 fuse_bn: bool = True) -> None:
        super().__init__()
        self.normalize = _Normalize(model.data_preprocessor)
        self.model = fuse_batchnorm(model) if fuse_bn else model.eval()
        self.with_probs = with_probs
        self.single_view = (tuple(model.test_scales) == (1.0,) and not model.test_flip)

    def forward(self, image: Tensor):
        scores = self.model.inference(self.normalize(image))  # (B, C, H, W)
        labels = scores.argmax(dim=1)
        if not self.with_probs:
            return labels
        if self.single_view:
            probs = scores.softmax(dim=1)
        else:
            probs = scores / scores.sum(dim=1, keepdim=True)
        return labels, probs


class ClsExportModule(nn.Module):
    """Image -> top-k classes and softmax probabilities.

    Args:
        model: an ``ImageClassifier``.
        topk: k, at most the number of classes.
        fuse_bn: fold BatchNorm into the convolutions first.

    Shapes:
        image: (B, 3, H, W) float32 RGB 0..255.
        returns: topk_indices (B, k) int64, topk_scores (B, k) float32, best first.
    """

    def __init__(self, model: nn.Module, *, topk: int = 5, fuse_bn: bool = True) -> None:
        super().__init__()
        if not 1 <= topk <= model.num_classes:
            raise ConfigError(f'--topk must be in [1, {model.num_classes}] (the model has '
                              f'{model.num_classes} classes), got {topk}')
        self.normalize = _Normalize(model.data_preprocessor)
        net = fuse_batchnorm(model) if fuse_bn else model.eval()
        self.backbone, self.cls_head = net.backbone, net.cls_head
        self.topk = int(topk)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        probs = F.softmax(self.cls_head(self.backbone(self.normalize(image))), dim=1)
        scores, indices = probs.topk(self.topk, dim=1)
        return indices, scores


def build_export_module(model: nn.Module, *, flip_test: bool = False,
                        flip_indices: Optional[list] = None, with_probs: bool = False,
                        topk: int = 5, fuse_bn: bool = True, score_thr: float = 0.05,
                        max_per_img: int = 100) -> nn.Module:
    """The export module for ``model``'s task (see the module docstring), in eval mode.

    Args:
        model: a built model (weights loaded); it is not modified.
        flip_test, flip_indices: pose only, see :class:`PoseExportModule`. ``flip_indices``
            defaults to ``model.dataset_meta['flip_indices']`` when the model has one.
        with_probs: seg only, also output ``probs``.
        topk: cls only.
        fuse_bn: fold BatchNorm (pose, seg, cls).
        score_thr, max_per_img: det only, passed to ``DetExportModule``.
    """
    task = model_task(model)
    if task == 'pose':
        if flip_indices is None:
            flip_indices = (getattr(model, 'dataset_meta', None) or {}).get('flip_indices')
        module = PoseExportModule(model, flip_test=flip_test, flip_indices=flip_indices,
                                  fuse_bn=fuse_bn)
    elif task == 'seg':
        module = SegExportModule(model, with_probs=with_probs, fuse_bn=fuse_bn)
    elif task == 'cls':
        module = ClsExportModule(model, topk=topk, fuse_bn=fuse_bn)
    else:
        if not os.path.isfile(_DET_EXPORT):
            raise ConfigError('detection export is provided by hrnet_train/deploy/det_export.py, '
                              'which is not installed here')
        from .det_export import DetExportModule
        module = DetExportModule(model, score_thr=score_thr, max_per_img=max_per_img)
    module.task = task
    return module.eval()


def export_onnx(model: nn.Module, path: str, *, input_shape: tuple[int, int],
                dynamic_batch: bool = False, opset: int = 17,
                dataset_meta: Optional[dict] = None, **options) -> str:
    """Export ``model`` (a built model, or a module from :func:`build_export_module`) to ONNX.

    Uses the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``): HRNet traces to a
    static graph (its branch loops unroll), and the decoding's gathers / TopK / ArgMax map to
    plain ONNX ops. The file gets metadata ``hrnet_train.task`` and ``hrnet_train.outputs``.

    Args:
        model: the model; wrapped with ``build_export_module(model, **options)`` unless it has
            a ``task`` attribute already.
        path: output ``.onnx`` file.
        input_shape: (H, W) of the ``image`` input in pixels.
        dynamic_batch: make the batch axis dynamic (not for detection, which is batch 1).
        opset: ONNX opset.
        dataset_meta: stored as JSON metadata ``hrnet_train.dataset_meta`` (its ``classes``,
            ``palette``, ``skeleton``, ``keypoint_names``, ``flip_indices``) for the runner's
            drawing; default ``model.dataset_meta`` when the model has one.

    Returns:
        ``path``.
    """
    onnx = import_optional('onnx', 'ONNX export', 'export')
    module = model if hasattr(model, 'task') else build_export_module(model, **options)
    task = module.task
    outputs = list(TASK_OUTPUTS[task])
    if task == 'seg' and not module.with_probs:
        outputs = outputs[:1]
    if task == 'det' and dynamic_batch:
        raise ConfigError('--dynamic-batch: detection export is batch 1')
    h, w = (int(s) for s in input_shape)
    dummy = torch.zeros(1, 3, h, w)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {'image': {0: 'batch'}, **{o: {0: 'batch'} for o in outputs}}
    elif task == 'det':
        dynamic_axes = {o: {0: 'num_dets'} for o in outputs}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's warnings name the shape checks and constant index tensors, which are
        # fixed for the exported input size by design (the parity tests run the graph, dynamic
        # batch included); they would only alarm a user.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(module, (dummy,), path, input_names=['image'], output_names=outputs,
                          dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False)
    if dataset_meta is None:
        dataset_meta = getattr(model, 'dataset_meta', None) or {}
    meta = {k: dataset_meta[k] for k in _STORED_META if dataset_meta.get(k) is not None}
    proto = onnx.load(path)
    for key, value in (('hrnet_train.task', task), ('hrnet_train.outputs', ','.join(outputs)),
                       ('hrnet_train.dataset_meta', json.dumps(meta, default=_jsonable))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, path)
    return path
