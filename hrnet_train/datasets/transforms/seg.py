"""Label loading, geometric transforms (resize, crop) and colour jitter.

Sizes are ``(width, height)`` everywhere in this file (``scale``, ``crop_size``,
``scale_factor``); shapes stored in ``results`` (``img_shape``, ``ori_shape``) are ``(H, W)``.
Images are (H, W, 3) uint8 RGB; ``gt_seg_map`` is (H, W) uint8 train ids with 255 = ignore.
The geometric transforms also move the annotations of other tasks when present, in the
conventions of ``hrnet_train.structures``: ``gt_bboxes`` (B, 4) continuous xyxy (with the
per-box ``gt_bboxes_labels`` and ``gt_ignore_flags``) and ``keypoints`` (..., K, 2) pixel
centres (with ``keypoints_visible``).
"""
from __future__ import annotations

import os
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from hrnet_train.registry import TRANSFORMS
from hrnet_train.structures import box_area, clip_boxes
from hrnet_train.utils.errors import DataError

from ..seg_labels import IGNORE_INDEX, convert_label_ids


def read_seg_map(path: str) -> np.ndarray:
    """Read a label image as (H, W) uint8 raw values.

    Palette PNGs give their palette indices (as in mmseg, which reads labels with Pillow for
    this reason); 16-bit files are accepted when every value fits in uint8.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        DataError: naming the file when it is truncated or not decodable, has more than one
            channel, or holds values outside [0, 255].
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'label file not found: {path}')
    try:
        with Image.open(path) as im:
            seg = np.array(im)
    except OSError as e:
        raise DataError(f'could not decode label file {path}: {e}') from e
    if seg.ndim != 2:
        raise DataError(
            f'label file {path} must be single-channel (grey or palette), got shape {seg.shape}')
    if seg.dtype != np.uint8:
        if seg.size and (seg.min() < 0 or seg.max() > 255):
            raise DataError(
                f'label file {path} holds values outside [0, 255] '
                f'(min {seg.min()}, max {seg.max()})')
        seg = seg.astype(np.uint8)
    return seg


def reduce_zero_label(seg: np.ndarray) -> np.ndarray:
    """0 -> 255 (ignore), k -> k - 1 otherwise; 255 stays 255 (mmseg ``reduce_zero_label``)."""
    out = seg.astype(np.int16) - 1
    out[seg == 0] = IGNORE_INDEX
    out[seg == IGNORE_INDEX] = IGNORE_INDEX
    return out.astype(np.uint8)


@TRANSFORMS.register_module()
class LoadSegAnnotation(BaseTransform):
    """Read the label map of a sample and convert it to train ids.

    The raw file values go through ``label_map`` (a (256,) int16 lookup table from the dataset,
    e.g. Cityscapes labelIds -> trainIds) and then ``reduce_zero_label``. Checks, each a
    ``DataError`` naming the label file: the size must equal the image's original size; no raw
    value may be one the table marks invalid (-1: e.g. Cityscapes labelIds above 33); every
    final value must be a class id below ``num_classes`` or 255.

    Reads:   seg_map_path, ori_shape or img_shape (from ``LoadImage``, which must run first),
             label_map, reduce_zero_label, num_classes (each optional, from the dataset)
    Adds:    gt_seg_map (H, W) uint8, 255 = ignore

    Args:
        num_classes: overrides ``results['num_classes']``; None and absent there: values unchecked.
        reduce_zero_label: overrides ``results['reduce_zero_label']`` when not None.
    """

    def __init__(self, *, num_classes: Optional[int] = None,
                 reduce_zero_label: Optional[bool] = None) -> None:
        if num_classes is not None and not 0 < num_classes <= IGNORE_INDEX:
            raise ValueError(f'num_classes must be in [1, 255], got {num_classes}')
        self.num_classes = num_classes
        self.reduce_zero_label = reduce_zero_label

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        seg = read_seg_map(path)
        ref_shape = results.get('ori_shape', results.get('img_shape'))
        if ref_shape is None:
            raise KeyError(
                f'LoadSegAnnotation needs img_shape/ori_shape to check {path}; '
                'put LoadImage before it in the pipeline')
        if tuple(seg.shape) != tuple(ref_shape[:2]):
            raise DataError(
                f'label file {path} is {seg.shape[1]}x{seg.shape[0]} (WxH) but its image '
                f'{results.get("img_path", "")} is {ref_shape[1]}x{ref_shape[0]}')
        label_map = results.get('label_map')
        if label_map is not None:
            seg = convert_label_ids(seg, label_map, path=path)
        reduce = self.reduce_zero_label
        if reduce is None:
            reduce = results.get('reduce_zero_label', False)
        if reduce:
            seg = reduce_zero_label(seg)
        num_classes = self.num_classes or results.get('num_classes')
        if num_classes is not None:
            bad = (seg >= num_classes) & (seg != IGNORE_INDEX)
            if bad.any():
                values = np.unique(seg[bad])
                raise DataError(
                    f'label file {path} holds values {values.tolist()[:10]} '
                    f'({int(bad.sum())} px) outside [0, {num_classes}) and not {IGNORE_INDEX}'
                    + (' after label_map' if label_map is not None else '')
                    + (' after reduce_zero_label' if reduce else ''))
        results['gt_seg_map'] = seg
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'reduce_zero_label={self.reduce_zero_label})')


def rescale_size(old_size: tuple[int, int], scale: tuple[int, int]) -> tuple[int, int]:
    """Size that fits ``old_size`` into ``scale`` keeping the aspect ratio (mmcv ``rescale_size``).

    The long side is bounded by ``max(scale)`` and the short side by ``min(scale)``.

    Args:
        old_size: (w, h) pixels.
        scale: (w, h) pixels; only its long and short sides matter.

    Returns:
        (w, h) pixels, rounded half up.
    """
    w, h = old_size
    factor = min(max(scale) / max(w, h), min(scale) / min(w, h))
    return int(w * factor + 0.5), int(h * factor + 0.5)


# Per-box arrays that travel with gt_bboxes (mmdet 3.x names).
_PER_BOX_KEYS = ('gt_bboxes_labels', 'gt_ignore_flags')


def _resize_sample(results: dict, scale: tuple[int, int], keep_ratio: bool) -> dict:
    """Resize img (bilinear), gt_seg_map (nearest), gt_bboxes and keypoints; update img_shape
    and scale_factor."""
    img = results['img']
    h, w = img.shape[:2]
    new_w, new_h = rescale_size((w, h), scale) if keep_ratio else (int(scale[0]), int(scale[1]))
    if (new_w, new_h) != (w, h):
        results['img'] = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = cv2.resize(
                results['gt_seg_map'], (new_w, new_h), interpolation=cv2.INTER_NEAREST)
        sx, sy = new_w / w, new_h / h
        if results.get('gt_bboxes') is not None:  # continuous: x -> x * s
            boxes = np.asarray(results['gt_bboxes'], dtype=np.float32)
            results['gt_bboxes'] = clip_boxes(boxes * np.float32([sx, sy, sx, sy]),
                                              (new_w, new_h))
        if results.get('keypoints') is not None:  # pixel centres (cv2's half-pixel grid)
            kpts = np.asarray(results['keypoints'], dtype=np.float32)
            results['keypoints'] = ((kpts + 0.5) * np.float32([sx, sy]) - 0.5).astype(np.float32)
    results['img_shape'] = (new_h, new_w)
    # Composed with an earlier resize so it always maps ori_shape -> img_shape.
    prev = results.get('scale_factor', (1.0, 1.0))
    results['scale_factor'] = (prev[0] * new_w / w, prev[1] * new_h / h)
    return results


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize to a fixed scale (test time).

    Reads:   img, gt_seg_map (optional)
    Changes: img (bilinear), gt_seg_map (nearest), img_shape
    Adds:    scale_factor (w_scale, h_scale), new size / old size, composed with an earlier one

    Args:
        scale: (w, h). With ``keep_ratio`` the image is scaled to fit: long side <= max(scale),
            short side <= min(scale); else it is resized to exactly (w, h).
    """

    def __init__(self, scale: tuple[int, int], *, keep_ratio: bool = True) -> None:
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f'scale must be (width, height) > 0, got {scale}')
        self.scale = (int(scale[0]), int(scale[1]))
        self.keep_ratio = keep_ratio

    def transform(self, results: dict) -> dict:
        return _resize_sample(results, self.scale, self.keep_ratio)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(scale={self.scale}, keep_ratio={self.keep_ratio})'


@TRANSFORMS.register_module()
class RandomResize(BaseTransform):
    """Resize to ``scale`` times a random ratio (mmseg ``RandomResize`` with ``ratio_range``).

    The target is ``(int(scale[0] * r), int(scale[1] * r))`` with ``r ~ U(ratio_range)``, then
    resized as in ``Resize``. With ``ratio_step``, ``r`` is drawn uniformly from
    ``lo, lo + step, ..., hi`` instead: the official HRNet recipe is ``ratio_range=(0.5, 2.1),
    ratio_step=0.1`` (HRNet-Semantic-Segmentation lib/datasets/base_dataset.py,
    ``0.5 + randint(0, 16) / 10``, long side 2048 * r).

    Reads:   img, gt_seg_map (optional)
    Changes: img (bilinear), gt_seg_map (nearest), img_shape
    Adds:    scale_factor (w_scale, h_scale); scale (w, h), the drawn target
    """

    def __init__(self, scale: tuple[int, int] = (2048, 1024),
                 ratio_range: tuple[float, float] = (0.5, 2.0), *, keep_ratio: bool = True,
                 ratio_step: Optional[float] = None) -> None:
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f'scale must be (width, height) > 0, got {scale}')
        lo, hi = ratio_range
        if not 0 < lo <= hi:
            raise ValueError(
                f'ratio_range must be (low, high) with 0 < low <= high, got {ratio_range}')
        if ratio_step is not None and ratio_step <= 0:
            raise ValueError(f'ratio_step must be > 0 or None, got {ratio_step}')
        self.scale = (int(scale[0]), int(scale[1]))
        self.ratio_range = (float(lo), float(hi))
        self.keep_ratio = keep_ratio
        self.ratio_step = ratio_step

    def _draw_ratio(self) -> float:
        lo, hi = self.ratio_range
        if self.ratio_step is None:
            return float(np.random.uniform(lo, hi))
        num = int(round((hi - lo) / self.ratio_step)) + 1
        return lo + self.ratio_step * int(np.random.randint(num))

    def transform(self, results: dict) -> dict:
        ratio = self._draw_ratio()
        target = (int(self.scale[0] * ratio), int(self.scale[1] * ratio))
        results['scale'] = target
        return _resize_sample(results, target, self.keep_ratio)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, ratio_range={self.ratio_range}, '
                f'keep_ratio={self.keep_ratio}, ratio_step={self.ratio_step})')


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Pad to at least ``crop_size`` and take a random crop of exactly ``crop_size``.

    Padding goes to the bottom and right, image 0 and label 255, as in the official HRNet code
    (lib/datasets/base_dataset.py, ``pad_image``). With ``cat_max_ratio < 1`` the crop is redrawn
    up to 10 times until no single class covers ``cat_max_ratio`` or more of its labelled pixels
    (mmseg ``RandomCrop``).

    Boxes and keypoints move with the crop: ``gt_bboxes`` are shifted and clipped to it, and the
    boxes left empty are dropped together with their ``gt_bboxes_labels`` / ``gt_ignore_flags``;
    keypoints are shifted and those outside the crop become invisible.

    Reads:   img, gt_seg_map, gt_bboxes (+ per-box keys), keypoints (+ keypoints_visible)
             (all but img optional)
    Changes: img, gt_seg_map -> crop_size; img_shape; gt_bboxes, keypoints, keypoints_visible
    Adds:    crop_offset (x0, y0), the crop's top-left corner in the input image

    Args:
        crop_size: (w, h), e.g. (1024, 512) for the 512x1024 Cityscapes recipe.
        cat_max_ratio: largest fraction of one class in the crop; 1.0 disables the check.
        ignore_index: label of padding and of pixels not counted by ``cat_max_ratio``.
    """

    def __init__(self, crop_size: tuple[int, int], *, cat_max_ratio: float = 1.0,
                 ignore_index: int = IGNORE_INDEX) -> None:
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'crop_size must be (width, height) > 0, got {crop_size}')
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(f'cat_max_ratio must be in (0, 1], got {cat_max_ratio}')
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def _draw_offset(self, h: int, w: int) -> tuple[int, int]:
        crop_w, crop_h = self.crop_size
        y0 = int(np.random.randint(0, h - crop_h + 1))
        x0 = int(np.random.randint(0, w - crop_w + 1))
        return y0, x0

    def transform(self, results: dict) -> dict:
        img = results['img']
        seg = results.get('gt_seg_map')
        crop_w, crop_h = self.crop_size
        h, w = img.shape[:2]
        pad_h, pad_w = max(crop_h - h, 0), max(crop_w - w, 0)
        if pad_h or pad_w:
            img = cv2.copyMakeBorder(img, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            if seg is not None:
                seg = cv2.copyMakeBorder(
                    seg, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=self.ignore_index)
            h, w = img.shape[:2]
        y0, x0 = self._draw_offset(h, w)
        if self.cat_max_ratio < 1.0 and seg is not None:
            for _ in range(10):
                patch = seg[y0:y0 + crop_h, x0:x0 + crop_w]
                labels, counts = np.unique(patch, return_counts=True)
                counts = counts[labels != self.ignore_index]
                if len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio:
                    break
                y0, x0 = self._draw_offset(h, w)
        results['img'] = np.ascontiguousarray(img[y0:y0 + crop_h, x0:x0 + crop_w])
        if seg is not None:
            results['gt_seg_map'] = np.ascontiguousarray(seg[y0:y0 + crop_h, x0:x0 + crop_w])
        results['img_shape'] = (crop_h, crop_w)
        results['crop_offset'] = (x0, y0)
        self._crop_annotations(results, x0, y0)
        return results

    def _crop_annotations(self, results: dict, x0: int, y0: int) -> None:
        crop_w, crop_h = self.crop_size
        if results.get('gt_bboxes') is not None:
            boxes = np.asarray(results['gt_bboxes'], dtype=np.float32).reshape(-1, 4)
            boxes = clip_boxes(boxes - np.float32([x0, y0, x0, y0]), (crop_w, crop_h))
            keep = box_area(boxes) > 0
            results['gt_bboxes'] = boxes[keep]
            for key in _PER_BOX_KEYS:
                if results.get(key) is not None:
                    results[key] = np.asarray(results[key])[keep]
        if results.get('keypoints') is not None:
            kpts = np.asarray(results['keypoints'], dtype=np.float32) - np.float32([x0, y0])
            results['keypoints'] = kpts
            if results.get('keypoints_visible') is not None:
                inside = ((kpts[..., 0] >= 0) & (kpts[..., 0] <= crop_w - 1)
                          & (kpts[..., 1] >= 0) & (kpts[..., 1] <= crop_h - 1))
                results['keypoints_visible'] = np.where(
                    inside, results['keypoints_visible'], 0).astype(np.float32)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'cat_max_ratio={self.cat_max_ratio}, ignore_index={self.ignore_index})')


def _scale_shift_uint8(x: np.ndarray, *, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    return np.clip(x.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


@TRANSFORMS.register_module()
class PhotoMetricDistortion(BaseTransform):
    """Random brightness, contrast, saturation and hue (mmseg ``PhotoMetricDistortion``).

    Each step runs with probability 0.5, in the order brightness, contrast (either here or
    last, 50/50), saturation, hue. Draws come from ``np.random`` as in mmseg. Works on RGB
    (mmseg's runs on BGR; the HSV steps are converted accordingly).

    Reads:   img (H, W, 3) uint8 RGB
    Changes: img

    Args:
        brightness_delta: pixel offset drawn from U(-delta, delta).
        contrast_range: multiplier range.
        saturation_range: multiplier range of the HSV saturation.
        hue_delta: integer hue offset in OpenCV's [0, 180) hue units.
    """

    def __init__(self, brightness_delta: int = 32,
                 contrast_range: tuple[float, float] = (0.5, 1.5),
                 saturation_range: tuple[float, float] = (0.5, 1.5),
                 hue_delta: int = 18) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_range = tuple(contrast_range)
        self.saturation_range = tuple(saturation_range)
        self.hue_delta = hue_delta

    def _brightness(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return _scale_shift_uint8(
                img, beta=np.random.uniform(-self.brightness_delta, self.brightness_delta))
        return img

    def _contrast(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return _scale_shift_uint8(img, alpha=np.random.uniform(*self.contrast_range))
        return img

    def _saturation(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            hsv[:, :, 1] = _scale_shift_uint8(
                hsv[:, :, 1], alpha=np.random.uniform(*self.saturation_range))
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return img

    def _hue(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            # mmseg draws randint(-d, d), i.e. -d .. d - 1.
            delta = np.random.randint(-self.hue_delta, self.hue_delta) if self.hue_delta else 0
            hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + delta) % 180
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return img

    def transform(self, results: dict) -> dict:
        img = results['img']
        img = self._brightness(img)
        contrast_first = np.random.randint(2)
        if contrast_first:
            img = self._contrast(img)
        img = self._saturation(img)
        img = self._hue(img)
        if not contrast_first:
            img = self._contrast(img)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(brightness_delta={self.brightness_delta}, '
                f'contrast_range={self.contrast_range}, '
                f'saturation_range={self.saturation_range}, hue_delta={self.hue_delta})')
