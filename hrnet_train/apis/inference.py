"""Inference from Python: build a model from a config + checkpoint and run it on images.

    model = init_model('configs/pose/hrnet-w32_coco-256x192.py', 'hrnet_w32.pth')
    poses = inference_topdown(model, 'person.jpg', [[10, 20, 200, 400]])
    poses[0].keypoints  # (K, 2) image pixels; poses[0].keypoint_scores (K,)

Every ``inference_*`` function takes one image or a list of them. An image is a file path or an
(H, W, 3) uint8 array in RGB order, the order the project's ``LoadImage`` gives and the configs'
normalisation expects; pass ``channel_order='bgr'`` for arrays from ``cv2.imread`` or
``cv2.VideoCapture``. One image gives one result (for pose: the list of its people), a list gives
a list of them, and a list goes through the model in batches of ``batch_size`` (None: all in one
forward). The results are the dataclasses of :mod:`hrnet_train.apis.results`. See
docs/inference.md.
"""
from __future__ import annotations

import copy
import os
import warnings
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log

from hrnet_train.registry import DATASETS, MODELS, TRANSFORMS
from hrnet_train.utils.errors import DataError
from hrnet_train.utils.malloc import keep_freed_memory as _keep_freed_memory

from .results import ClsResult, DetResult, PoseResult, SegResult

ImageLike = Union[str, os.PathLike, np.ndarray]
Images = Union[ImageLike, Sequence[ImageLike]]
# Test-pipeline steps the inference functions skip: the image comes in already read, and there
# are no annotations.
_SKIPPED_STEPS = ('LoadImage', 'LoadSegAnnotation', 'LoadDetAnnotations')
TASKS = ('pose', 'seg', 'det', 'cls')


def _dataset_meta(cfg: Config) -> dict:
    """Dataset meta of the config's test dataset, without reading any annotation file."""
    ds_cfg = cfg.test_dataloader.dataset if 'test_dataloader' in cfg else None
    while ds_cfg is not None and 'dataset' in ds_cfg:  # wrappers such as RepeatDataset
        ds_cfg = ds_cfg.dataset
    if ds_cfg is None:
        return {}
    ds_cls = DATASETS.get(ds_cfg.type)
    metainfo = copy.deepcopy(dict(ds_cfg.metainfo)) if ds_cfg.get('metainfo') else None
    return dict(ds_cls._load_metainfo(metainfo))  # the dataset's own parsing and defaults


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None, *,
               device: str = 'cpu', cfg_options: Optional[dict] = None,
               fuse_bn: Union[bool, str] = False, channels_last: bool = False,
               compile: Union[bool, dict] = False,
               keep_freed_memory: Optional[bool] = None) -> torch.nn.Module:
    """Build ``cfg.model``, load ``checkpoint`` strictly and put it in eval mode on ``device``.

    ``checkpoint`` is a path, URL or ``open-mmlab://`` name in any layout
    :func:`hrnet_train.models.utils.load_checkpoint` accepts; every model tensor must come from
    it (``CheckpointError`` otherwise, e.g. for a checkpoint of another task). ``model.cfg`` is
    set, and ``model.dataset_meta`` from the checkpoint's ``meta.dataset_meta`` when it has one
    (every checkpoint ``tools/train.py`` writes does), else from the config's test dataset.

    The speed switches (docs/benchmark.md; each leaves the results equal up to float rounding):
    ``fuse_bn`` folds every BatchNorm into its convolution (``'onednn'``: also runs the CPU
    convolutions through oneDNN's prepacked kernels with their ReLU and residual add fused,
    :func:`hrnet_train.models.utils.fuse_onednn`, with ``channels_last``, which it turns on; the
    folding alone with a warning where the kernel is unavailable; not with ``compile``);
    ``channels_last`` stores the weights
    and the input batches as NHWC; ``compile`` (True or ``torch.compile`` arguments) compiles the
    backbone and head with inductor freezing, eager with a warning where that does not work.
    The first calls of a compiled model are slow (graph building), and each new input shape
    builds a graph again. ``keep_freed_memory`` (None: the config's key, on in
    ``default_runtime.py``): on a CPU ``device``, glibc malloc keeps freed blocks for reuse
    (:func:`hrnet_train.utils.malloc.keep_freed_memory`, a setting of the whole process, as in
    ``tools/train.py``/``test.py``); without it every large activation is a fresh ``mmap`` whose
    pages fault in again on each call (about 30 % of W32's batch-8 inference time on a 2-vCPU VM,
    docs/benchmark.md).
    """
    from hrnet_train.config import load_config
    from hrnet_train.engine.channels_last import enable_channels_last
    from hrnet_train.models.utils import (
        apply_fuse_bn,
        compile_network,
        load_checkpoint,
        read_checkpoint,
    )
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    cfg = load_config(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    if 'backbone' in model_cfg:
        model_cfg.backbone.pop('init_cfg', None)  # the checkpoint replaces ImageNet weights
    model = MODELS.build(model_cfg)
    meta = _dataset_meta(cfg)
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint)
        load_checkpoint(model, ckpt, strict=True, source=str(checkpoint))
        if isinstance(ckpt, dict) and isinstance(ckpt.get('meta'), dict):
            meta = dict(ckpt['meta'].get('dataset_meta') or meta)
    model.cfg = cfg
    model.dataset_meta = meta
    model = model.to(device).eval()
    if keep_freed_memory is None:
        keep_freed_memory = bool(cfg.get('keep_freed_memory', False))
    if keep_freed_memory and torch.device(device).type == 'cpu':
        _keep_freed_memory()
    line, ok = apply_fuse_bn(model, fuse_bn, compile=compile)
    if not ok:
        warnings.warn(line, stacklevel=2)
    elif line:  # what was folded / packed, as tools/test.py logs it
        print_log(line, logger='current')
    channels_last = channels_last or (ok and fuse_bn == 'onednn')  # its kernels run NHWC
    if channels_last:
        enable_channels_last(model)
    if compile:
        compile_network(model, freeze=True, **({} if compile is True else dict(compile)))
    return model


def model_task(model: torch.nn.Module) -> str:
    """'pose', 'seg', 'det' or 'cls': what the model's class predicts."""
    from hrnet_train.models.detectors import (
        EncoderDecoder,
        ImageClassifier,
        TopdownPoseEstimator,
        TwoStageDetector,
    )
    for cls, task in ((TopdownPoseEstimator, 'pose'), (EncoderDecoder, 'seg'),
                      (TwoStageDetector, 'det'), (ImageClassifier, 'cls')):
        if isinstance(model, cls):
            return task
    raise ValueError(f'{type(model).__name__} is not a model the inference API knows; expected '
                     'TopdownPoseEstimator, EncoderDecoder, a TwoStageDetector or ImageClassifier')


def _check_task(model: torch.nn.Module, task: str, func: str) -> None:
    found = model_task(model)
    if found != task:
        raise ValueError(f'{func} needs a {task} model, got {type(model).__name__} ({found}); '
                         f'use inference_{_FUNC_OF_TASK[found]}')


_FUNC_OF_TASK = dict(pose='topdown', seg='segmentor', det='detector', cls='classifier')


def class_names(model: torch.nn.Module, num_classes: int) -> tuple[str, ...]:
    """``model.dataset_meta['classes']``, or ``class_0`` ... when it has none or too few."""
    names = tuple((getattr(model, 'dataset_meta', None) or {}).get('classes') or ())
    if len(names) != num_classes:
        names = tuple(f'class_{i}' for i in range(num_classes))
    return names


def _test_pipeline(cfg: Config) -> Compose:
    steps = [s for s in copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
             if s['type'] not in _SKIPPED_STEPS]
    return Compose([TRANSFORMS.build(s) for s in steps])


def load_image(img: ImageLike, *, channel_order: str = 'rgb') -> dict:
    """``img`` (path or (H, W, 3) uint8 array) as the results dict a test pipeline starts from.

    Returns:
        ``img`` (H, W, 3) uint8 RGB, ``img_path`` ('' for arrays), ``img_shape`` and
        ``ori_shape`` (H, W).

    Raises:
        DataError: naming the file when it is missing or cannot be decoded.
        ValueError: for an array that is not (H, W, 3) uint8.
    """
    from hrnet_train.datasets.transforms.loading import read_image
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got '{channel_order}'")
    if isinstance(img, (str, os.PathLike)):
        path = os.fspath(img)
        try:
            arr = read_image(path)
        except FileNotFoundError as exc:
            raise DataError(str(exc)) from None
        return dict(img=arr, img_path=path, img_shape=arr.shape[:2], ori_shape=arr.shape[:2])
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f'image must be a file path or an (H, W, 3) uint8 {channel_order.upper()}'
                         f' array, got {arr.dtype} {arr.shape}')
    arr = np.ascontiguousarray(arr[..., ::-1] if channel_order == 'bgr' else arr)
    return dict(img=arr, img_path='', img_shape=arr.shape[:2], ori_shape=arr.shape[:2])


def _as_list(images: Images) -> tuple[list, bool]:
    """(the images as a list, whether one image was given)."""
    if isinstance(images, (str, os.PathLike, np.ndarray)):
        return [images], True
    return list(images), False


def _chunks(items: list, batch_size: Optional[int]) -> list[list]:
    if batch_size is not None and batch_size < 1:
        raise ValueError(f'batch_size must be >= 1 or None, got {batch_size}')
    size = len(items) if batch_size is None else batch_size
    return [items[i:i + size] for i in range(0, len(items), max(size, 1))]


def _predict(model: torch.nn.Module, samples: list) -> list:
    data = model.data_preprocessor(pseudo_collate(samples), False)
    return model(data['inputs'], data['data_samples'], mode='predict')


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _person_boxes(boxes, scores, shape: tuple[int, int], bbox_format: str):
    h, w = shape
    arr = np.array([[0, 0, w, h]] if boxes is None else boxes, dtype=np.float32).reshape(-1, 4)
    if bbox_format == 'xywh':
        arr[:, 2:] += arr[:, :2]
    elif bbox_format != 'xyxy':
        raise ValueError(f"bbox_format must be 'xyxy' or 'xywh', got '{bbox_format}'")
    sc = np.ones(len(arr), np.float32) if scores is None else \
        np.asarray(scores, np.float32).reshape(-1)
    if len(sc) != len(arr):
        raise ValueError(f'got {len(sc)} box scores for {len(arr)} boxes')
    return arr, sc


@torch.no_grad()
def inference_topdown(model: torch.nn.Module, image: Images, boxes=None, *,
                      bbox_format: str = 'xyxy', bbox_scores=None, channel_order: str = 'rgb',
                      batch_size: Optional[int] = None):
    """Estimate one pose per person box.

    Args:
        model: from :func:`init_model` (a ``TopdownPoseEstimator``).
        image: one image (path or (H, W, 3) uint8 array), or a list of them.
        boxes: for one image: (B, 4) person boxes in image pixels, or None for the whole image
            as one box; for a list of images: a list with one such entry per image (None: the
            whole image for each).
        bbox_format: 'xyxy' or 'xywh' (COCO results format).
        bbox_scores: (B,) detector scores kept in the results (default 1), or one (B,) per image.
        channel_order: 'rgb' or 'bgr', the order of array images.
        batch_size: people per forward; None: every person of every image in one forward.

    Returns:
        one image: a list of :class:`PoseResult`, one per box, in the order of ``boxes``;
        a list of images: a list of such lists.
    """
    _check_task(model, 'pose', 'inference_topdown')
    images, single = _as_list(image)
    per_image_boxes = [boxes] if single else (list(boxes) if boxes is not None
                                              else [None] * len(images))
    per_image_scores = [bbox_scores] if single else (list(bbox_scores) if bbox_scores is not None
                                                     else [None] * len(images))
    if len(per_image_boxes) != len(images) or len(per_image_scores) != len(images):
        raise ValueError(f'boxes / bbox_scores: expected one entry per image ({len(images)}), '
                         f'got {len(per_image_boxes)} / {len(per_image_scores)}')
    meta = getattr(model, 'dataset_meta', {}) or {}
    pipeline = _test_pipeline(model.cfg)
    people = []  # (image index, box, score, packed sample)
    for i, img in enumerate(images):
        base = load_image(img, channel_order=channel_order)
        bxs, scs = _person_boxes(per_image_boxes[i], per_image_scores[i], base['img_shape'],
                                 bbox_format)
        for j, (box, score) in enumerate(zip(bxs, scs)):
            results = dict(base, img=base['img'].copy(), bbox=box, bbox_score=float(score),
                           id=j, img_id=i, category_id=1, flip_indices=meta.get('flip_indices'))
            people.append((i, box, float(score), pipeline(results)))
    out: list[list[PoseResult]] = [[] for _ in images]
    for chunk in _chunks(people, batch_size):
        if not chunk:
            continue
        preds = _predict(model, [p[3] for p in chunk])
        for (i, box, score, _), pred in zip(chunk, preds):
            out[i].append(PoseResult(keypoints=_to_numpy(pred.pred_keypoints).astype(np.float32),
                                     keypoint_scores=_to_numpy(pred.pred_keypoint_scores)
                                     .astype(np.float32),
                                     bbox=box.astype(np.float32), bbox_score=score))
    return out[0] if single else out


def _run_batched(model, images: list, channel_order: str, batch_size: Optional[int]) -> list:
    pipeline = _test_pipeline(model.cfg)
    preds = []
    for chunk in _chunks(images, batch_size):
        if chunk:
            preds += _predict(model, [pipeline(load_image(img, channel_order=channel_order))
                                      for img in chunk])
    return preds


@torch.no_grad()
def inference_segmentor(model: torch.nn.Module, image: Images, *, channel_order: str = 'rgb',
                        batch_size: Optional[int] = None):
    """Segment images with the config's test pipeline and ``model.test_cfg``.

    Images of different sizes in one batch are padded to the largest by the data preprocessor;
    the padding is cropped off before resizing back, but the network sees it, so the border
    pixels may differ from one-by-one inference (``batch_size=1`` avoids that).

    Returns:
        one image: a :class:`SegResult` (``label_map`` (H, W) int64 at the original size);
        a list of images: a list of them.
    """
    _check_task(model, 'seg', 'inference_segmentor')
    images, single = _as_list(image)
    names = class_names(model, int(model.decode_head.num_classes))
    out = [SegResult(label_map=_to_numpy(p.pred_seg_map).astype(np.int64), class_names=names)
           for p in _run_batched(model, images, channel_order, batch_size)]
    return out[0] if single else out


@torch.no_grad()
def inference_detector(model: torch.nn.Module, image: Images, *, channel_order: str = 'rgb',
                       batch_size: Optional[int] = None):
    """Detect objects with the config's test pipeline and ``model.test_cfg`` (NMS, max boxes).

    Returns:
        one image: a :class:`DetResult` (``bboxes`` (N, 4) xyxy original image pixels, best
        score first); a list of images: a list of them.
    """
    _check_task(model, 'det', 'inference_detector')
    images, single = _as_list(image)
    names = class_names(model, model.num_classes)
    out = []
    for pred in _run_batched(model, images, channel_order, batch_size):
        inst = pred.pred_instances
        scores = _to_numpy(inst.scores).astype(np.float32).reshape(-1)
        order = np.argsort(-scores, kind='stable')
        out.append(DetResult(bboxes=_to_numpy(inst.bboxes).astype(np.float32).reshape(-1, 4)[order],
                             scores=scores[order],
                             labels=_to_numpy(inst.labels).astype(np.int64).reshape(-1)[order],
                             class_names=names))
    return out[0] if single else out


@torch.no_grad()
def inference_classifier(model: torch.nn.Module, image: Images, *, topk: int = 5,
                         channel_order: str = 'rgb', batch_size: Optional[int] = None):
    """Classify images with the config's test pipeline.

    Args:
        topk: how many classes to return (at most the number of classes).

    Returns:
        one image: a :class:`ClsResult` (the ``min(topk, C)`` best classes, best first);
        a list of images: a list of them.
    """
    _check_task(model, 'cls', 'inference_classifier')
    if topk < 1:
        raise ValueError(f'topk must be >= 1, got {topk}')
    images, single = _as_list(image)
    names = class_names(model, model.num_classes)
    out = []
    for pred in _run_batched(model, images, channel_order, batch_size):
        probs = _to_numpy(pred.pred_score).astype(np.float32)  # (C,)
        idx = np.argsort(-probs, kind='stable')[:topk]
        out.append(ClsResult(indices=idx.astype(np.int64), names=[names[i] for i in idx],
                             scores=probs[idx]))
    return out[0] if single else out


def inference(model: torch.nn.Module, image: Images, **kwargs):
    """The ``inference_*`` function of the model's task (:func:`model_task`) on ``image``."""
    func = dict(pose=inference_topdown, seg=inference_segmentor, det=inference_detector,
                cls=inference_classifier)[model_task(model)]
    return func(model, image, **kwargs)
