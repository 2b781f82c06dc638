"""Inference from Python: build a model from a config + checkpoint and run it on images.

    model = init_model('configs/pose/hrnet-w32_coco-256x192.py', 'hrnet_w32.pth')
    poses = inference_topdown(model, 'person.jpg', bboxes=[[10, 20, 200, 400]])
    poses[0].pred_keypoints  # (K, 2) image pixels; poses[0].pred_keypoint_scores (K,)
"""
from __future__ import annotations

import copy
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.structures import BaseDataElement

from hrnet_train.registry import DATASETS, MODELS, TRANSFORMS

ImageLike = Union[str, np.ndarray]


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
               device: str = 'cpu', cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build ``cfg.model``, load ``checkpoint`` strictly and put it in eval mode on ``device``.

    ``checkpoint`` is a path, URL or ``open-mmlab://`` name in any layout
    :func:`hrnet_train.models.utils.load_checkpoint` accepts; every model tensor must come from
    it (``CheckpointError`` otherwise). ``model.cfg`` is set, and ``model.dataset_meta`` from the
    checkpoint's ``meta.dataset_meta`` when it has one, else from the config's test dataset.
    """
    from hrnet_train.config import load_config
    from hrnet_train.models.utils import load_checkpoint, read_checkpoint
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
    return model.to(device).eval()


def _test_pipeline(cfg: Config, *, from_array: bool) -> Compose:
    steps = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    if from_array:
        steps = [s for s in steps if s['type'] != 'LoadImage']
    return Compose([TRANSFORMS.build(s) for s in steps])


def _load(img: ImageLike) -> dict:
    from hrnet_train.datasets.transforms.loading import read_image
    if isinstance(img, str):
        arr = read_image(img)
        return dict(img=arr, img_path=img, img_shape=arr.shape[:2], ori_shape=arr.shape[:2])
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f'img must be a file path or an (H, W, 3) uint8 RGB array, got '
                         f'{arr.dtype} {arr.shape}')
    return dict(img=arr, img_path='', img_shape=arr.shape[:2], ori_shape=arr.shape[:2])


@torch.no_grad()
def inference_topdown(model: torch.nn.Module, img: ImageLike,
                      bboxes: Optional[Sequence[Sequence[float]]] = None, *,
                      bbox_format: str = 'xyxy',
                      bbox_scores: Optional[Sequence[float]] = None) -> list[BaseDataElement]:
    """Estimate one pose per person box.

    Args:
        model: from :func:`init_model` (a ``TopdownPoseEstimator`` with ``cfg``, ``dataset_meta``).
        img: image path or (H, W, 3) uint8 RGB array.
        bboxes: (B, 4) person boxes in image pixels; None uses the whole image as one box.
        bbox_format: 'xyxy' or 'xywh' (COCO results format).
        bbox_scores: (B,) detector scores kept in the results (default 1).

    Returns:
        B data samples with ``pred_keypoints`` (K, 2) image pixels, ``pred_keypoint_scores`` (K,)
        and metainfo ``bbox`` (xyxy), ``bbox_score``.
    """
    base = _load(img)
    h, w = base['img_shape']
    boxes = np.array([[0, 0, w, h]] if bboxes is None else bboxes, dtype=np.float32).reshape(-1, 4)
    if bbox_format == 'xywh':
        boxes[:, 2:] += boxes[:, :2]
    elif bbox_format != 'xyxy':
        raise ValueError(f"bbox_format must be 'xyxy' or 'xywh', got '{bbox_format}'")
    if len(boxes) == 0:
        return []
    scores = np.ones(len(boxes), np.float32) if bbox_scores is None else np.asarray(bbox_scores,
                                                                                    np.float32)
    meta = getattr(model, 'dataset_meta', {}) or {}
    pipeline = _test_pipeline(model.cfg, from_array=True)
    samples = []
    for i, box in enumerate(boxes):
        results = dict(base, img=base['img'].copy(), bbox=box, bbox_score=float(scores[i]),
                       id=i, img_id=0, category_id=1,
                       flip_indices=meta.get('flip_indices'))
        samples.append(pipeline(results))
    data = model.data_preprocessor(pseudo_collate(samples), False)
    return model(data['inputs'], data['data_samples'], mode='predict')


@torch.no_grad()
def inference_segmentor(model: torch.nn.Module, img: ImageLike) -> BaseDataElement:
    """Segment one image with the config's test pipeline and ``model.test_cfg``.

    Returns:
        a data sample with ``pred_seg_map`` (H, W) long tensor at the image size.
    """
    base = _load(img)
    steps = [s for s in copy.deepcopy(model.cfg.test_dataloader.dataset.pipeline)
             if s['type'] not in ('LoadImage', 'LoadSegAnnotation')]
    pipeline = Compose([TRANSFORMS.build(s) for s in steps])
    data = model.data_preprocessor(pseudo_collate([pipeline(base)]), False)
    return model(data['inputs'], data['data_samples'], mode='predict')[0]
