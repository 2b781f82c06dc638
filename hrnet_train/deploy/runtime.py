"""Run an exported ONNX model with onnxruntime on an image file, as the PyTorch test pipeline would.

    session = load_session('pose.onnx')
    result = run_image(session, cfg, 'person.jpg', bbox=(10, 20, 200, 400))
    result['keypoints']  # (K, 2) image pixels

The image goes through the config's test pipeline (``LoadImage`` replaced by a checked read; for
pose ``GetBBoxCenterScale`` + ``TopdownAffine`` warp the box to the crop exactly as in testing;
for seg the ``Resize``; for cls ``ResizeEdge`` + ``CenterCrop``), becomes a (1, 3, H, W) float32
RGB 0..255 batch, runs, and the outputs are mapped back to image pixels.
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from hrnet_train.ops import argmax
from hrnet_train.structures import apply_affine, invert_affine
from hrnet_train.utils.errors import DataError, import_optional

from .export import TASK_OUTPUTS

__all__ = ['load_session', 'session_task', 'session_meta', 'dataset_meta_of',
           'check_input_batch', 'run_session', 'keypoints_to_image', 'prepare_input',
           'run_image']


def load_session(path: str):
    """An ``onnxruntime.InferenceSession`` on CPU for ``path`` (one-line errors)."""
    ort = import_optional('onnxruntime', 'running an ONNX model', 'export')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'ONNX model not found: {path}')
    try:
        return ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise DataError(f'could not load ONNX model {path}: {str(exc).splitlines()[0]}') from exc


def session_meta(session) -> dict:
    """The ``hrnet_train.*`` metadata written by ``export_onnx`` (key prefix removed)."""
    props = session.get_modelmeta().custom_metadata_map
    return {k[len('hrnet_train.'):]: v for k, v in props.items() if k.startswith('hrnet_train.')}


def session_task(session) -> str:
    """'pose', 'seg', 'cls' or 'det': from the metadata, else from the output names."""
    task = session_meta(session).get('task')
    if task in TASK_OUTPUTS:
        return task
    names = [o.name for o in session.get_outputs()]
    for task, outputs in TASK_OUTPUTS.items():
        if names[:1] == list(outputs[:1]) and set(names) <= set(outputs):
            return task
    raise DataError(f'ONNX outputs {names} are none of the hrnet_train export contracts '
                    f'{ {k: list(v) for k, v in TASK_OUTPUTS.items()} }')


def check_input_batch(session, batch: np.ndarray) -> None:
    """Raise a one-line DataError unless ``batch`` fits the session's ``image`` input.

    Args:
        batch: (B, 3, H, W) float32 RGB 0..255; every fixed dimension of the ONNX input
            (batch, channels, height, width) must match.
    """
    spec = session.get_inputs()[0]
    batch = np.asarray(batch)
    names = ('batch', 'channels', 'height', 'width')
    if batch.ndim != len(spec.shape):
        raise DataError(f'the ONNX input {spec.name} is {len(spec.shape)}-D {spec.shape} '
                        f'(B, 3, H, W), got an array of shape {batch.shape}')
    for name, want, got in zip(names, spec.shape, batch.shape):
        if isinstance(want, int) and want != got:
            raise DataError(f'the ONNX input {spec.name} has fixed {name} {want} '
                            f'(shape {spec.shape}), got {got} (array shape {batch.shape}); '
                            'export with another --input-size / --dynamic-batch')


def run_session(session, batch: np.ndarray) -> dict[str, np.ndarray]:
    """Check ``batch`` (:func:`check_input_batch`) and run; returns output name -> array."""
    check_input_batch(session, batch)
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(batch, dtype=np.float32)}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed)))


def keypoints_to_image(keypoints: np.ndarray, warp_matrix: np.ndarray) -> np.ndarray:
    """Map crop-pixel keypoints back to the image: the exact inverse of ``TopdownAffine``'s warp.

    Args:
        keypoints: (..., 2) (x, y) crop (model input) pixels, the ONNX ``keypoints`` output.
        warp_matrix: (2, 3) image pixels -> crop pixels (``TopdownAffine``'s ``warp_matrix``).

    Returns:
        (..., 2) float32 (x, y) image pixels.
    """
    return apply_affine(keypoints, invert_affine(warp_matrix))


def _pipeline(cfg, task: str):
    from mmengine.dataset import Compose

    from hrnet_train.registry import TRANSFORMS
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    skip = ('LoadImage', 'LoadSegAnnotation', 'LoadDetAnnotations')
    steps = [s for s in copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
             if s['type'] not in skip]
    return Compose([TRANSFORMS.build(s) for s in steps])


def _input_hw(session) -> tuple[Optional[int], Optional[int]]:
    shape = session.get_inputs()[0].shape
    return tuple(s if isinstance(s, int) else None for s in shape[2:4])


def prepare_input(session, cfg, img: np.ndarray, *,
                  bbox: Optional[Sequence[float]] = None) -> tuple[np.ndarray, dict]:
    """The test pipeline's model input for one image.

    Args:
        session: the ONNX session (its task and fixed input size).
        cfg: the model's config (its ``test_dataloader.dataset.pipeline``).
        img: (H, W, 3) uint8 RGB.
        bbox: pose only: the person box x1, y1, x2, y2 in image pixels (default: whole image).

    Returns:
        batch: (1, 3, H_in, W_in) float32 RGB 0..255. A seg image resized smaller than a fixed
            ONNX input is padded bottom/right with the preprocessor's mean (0 after
            normalisation, its ``pad_value``); larger gives a DataError.
        info: ``warp_matrix`` (pose), ``img_shape`` (after resize), ``ori_shape``.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise DataError(f'image must be (H, W, 3) uint8 RGB, got {img.dtype} {img.shape}')
    task = session_task(session)
    h, w = img.shape[:2]
    results: dict[str, Any] = dict(img=img.copy(), img_path='', img_shape=(h, w),
                                   ori_shape=(h, w))
    if task == 'pose':
        box = np.array([0, 0, w, h] if bbox is None else bbox, dtype=np.float32).reshape(4)
        if not (box[2] > box[0] and box[3] > box[1]):
            raise DataError(f'--bbox must be x1 y1 x2 y2 with x2 > x1 and y2 > y1, got '
                            f'{box.tolist()}')
        results.update(bbox=box, bbox_score=1.0, id=0, img_id=0, category_id=1)
    packed = _pipeline(cfg, task)(results)
    meta = packed['data_samples'].metainfo
    x = packed['inputs'].numpy().astype(np.float32)[None]  # (1, 3, H, W)
    info = dict(img_shape=tuple(x.shape[-2:]), ori_shape=(h, w))
    if task == 'pose':
        info['warp_matrix'] = np.asarray(meta['warp_matrix'], dtype=np.float64)
    if task in ('seg', 'det'):
        want_h, want_w = _input_hw(session)
        got_h, got_w = x.shape[-2:]
        if (want_h is not None and got_h > want_h) or (want_w is not None and got_w > want_w):
            raise DataError(f'the test pipeline resizes the image to {got_w}x{got_h} (w x h), '
                            f'larger than the ONNX input {want_w}x{want_h}; export with '
                            f'--input-size {got_w} {got_h}')
        pad_h, pad_w = (want_h or got_h) - got_h, (want_w or got_w) - got_w
        if pad_h or pad_w:
            mean = _preprocessor_mean(cfg).reshape(1, 3, 1, 1)
            padded = np.broadcast_to(mean, (1, 3, got_h + pad_h, got_w + pad_w)).copy()
            padded[:, :, :got_h, :got_w] = x
            x = padded
    return x, info


def _preprocessor_mean(cfg) -> np.ndarray:
    pre = cfg.model.get('data_preprocessor') or {}
    mean = pre.get('mean') or (0.0, 0.0, 0.0)
    return np.asarray(mean, dtype=np.float32)


def _seg_to_image(outputs: dict, info: dict) -> np.ndarray:
    """(H_in, W_in) labels -> (H, W) int64 at the original image size."""
    img_h, img_w = info['img_shape']
    ori_h, ori_w = info['ori_shape']
    if 'probs' in outputs:
        probs = outputs['probs'][0][:, :img_h, :img_w]  # (C, h, w), padding dropped
        if (img_h, img_w) != (ori_h, ori_w):  # bilinear, half-pixel: F.interpolate(False)
            probs = np.stack([cv2.resize(p, (ori_w, ori_h), interpolation=cv2.INTER_LINEAR)
                              for p in probs])
        # ops.argmax: numpy's argmax(0) over the outer class axis took 271 ms per 19x1024x2048
        # map against 140 ms (same indices, ties and NaN included).
        return argmax(torch.from_numpy(np.ascontiguousarray(probs)), 0).numpy()
    labels = outputs['labels'][0][:img_h, :img_w]
    if (img_h, img_w) != (ori_h, ori_w):
        labels = cv2.resize(labels.astype(np.int32), (ori_w, ori_h),
                            interpolation=cv2.INTER_NEAREST)
    return labels.astype(np.int64)


def run_image(session, cfg, img: Union[str, np.ndarray], *,
              bbox: Optional[Sequence[float]] = None) -> dict:
    """Run the exported model on one image and map the outputs to image pixels.

    Args:
        session: from :func:`load_session`.
        cfg: the model's config.
        img: image path or (H, W, 3) uint8 RGB array.
        bbox: pose only, person box xyxy image pixels (default: the whole image).

    Returns:
        dict with ``task`` and, per task: pose ``keypoints`` (K, 2) image pixels, ``scores``
        (K,), ``bbox``; seg ``labels`` (H, W) int64 at the image size; cls ``topk_indices``
        (k,), ``topk_scores`` (k,); det ``boxes`` (N, 4) xyxy, ``scores``, ``labels``.
    """
    if isinstance(img, str):
        from hrnet_train.datasets.transforms.loading import read_image
        img = read_image(img)
    task = session_task(session)
    batch, info = prepare_input(session, cfg, img, bbox=bbox)
    outputs = run_session(session, batch)
    result: dict[str, Any] = dict(task=task, image_shape=tuple(np.asarray(img).shape[:2]))
    if task == 'pose':
        result['keypoints'] = keypoints_to_image(outputs['keypoints'][0], info['warp_matrix'])
        result['scores'] = outputs['scores'][0]
        h, w = result['image_shape']
        result['bbox'] = [float(v) for v in (bbox if bbox is not None else (0, 0, w, h))]
    elif task == 'seg':
        result['labels'] = _seg_to_image(outputs, info)
    elif task == 'cls':
        result['topk_indices'] = outputs['topk_indices'][0]
        result['topk_scores'] = outputs['topk_scores'][0]
    else:  # det: boxes in input pixels -> image pixels (the test pipeline's resize)
        scale = np.array([info['ori_shape'][1] / info['img_shape'][1],
                          info['ori_shape'][0] / info['img_shape'][0]] * 2, dtype=np.float32)
        result['boxes'] = outputs['boxes'] * scale
        result['scores'], result['labels'] = outputs['scores'], outputs['labels']
    return result


def dataset_meta_of(session) -> dict:
    """The dataset meta (classes, palette, skeleton, ...) ``export_onnx`` stored, or {}."""
    raw = session_meta(session).get('dataset_meta')
    return json.loads(raw) if raw else {}
