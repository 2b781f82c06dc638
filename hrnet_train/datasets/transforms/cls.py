"""Classification transforms: the ImageNet crops and the packing of a classification sample.

Behaviour follows torchvision ``RandomResizedCrop`` / ``CenterCrop`` and mmpretrain
(open-mmlab/mmpretrain:mmpretrain/datasets/transforms/processing.py ``RandomResizedCrop``,
``ResizeEdge``; mmcv ``CenterCrop``, which mmpretrain's configs use). Resizing is OpenCV
(``cv2.resize``, mmpretrain's default backend): its bilinear mode does not low-pass filter when
shrinking, whereas torchvision on PIL images (the official HRNet-Image-Classification loader)
does, so a model trained with one and tested with the other may differ by a few tenths of a
point.

Sizes are ``(width, height)`` (an int means a square); ``img_shape`` / ``ori_shape`` are
``(H, W)``. Images are (H, W, 3) uint8 RGB. Random draws use ``np.random``, as our other
transforms (seeded per worker by mmengine).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from hrnet_train.registry import TRANSFORMS

from .packing import image_to_tensor

_INTERPOLATIONS = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR,
                   'bicubic': cv2.INTER_CUBIC, 'area': cv2.INTER_AREA,
                   'lanczos': cv2.INTER_LANCZOS4}
_EDGES = ('short', 'long', 'width', 'height')


def _size_pair(size, name: str) -> tuple[int, int]:
    """``size`` (int or (w, h)) as a (w, h) pair of positive ints."""
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise ValueError(f'{name} must be a positive int or (width, height), got {size!r}')
    return int(pair[0]), int(pair[1])


def _range_pair(value, name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not 0 < lo <= hi:
        raise ValueError(f'{name} must be (min, max) with 0 < min <= max, got {value!r}')
    return lo, hi


def _interpolation(name: str) -> int:
    if name not in _INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {tuple(_INTERPOLATIONS)}, got {name!r}')
    return _INTERPOLATIONS[name]


def fallback_crop_box(width: int, height: int,
                     ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """The fallback of ``RandomResizedCrop``: the largest centred crop with the aspect ratio
    clamped to ``ratio`` (torchvision ``RandomResizedCrop.get_params``).

    Args:
        width, height: image size in pixels.
        ratio: (min, max) of crop width / crop height.

    Returns:
        (x0, y0, w, h) in pixels: top-left corner (floor-centred) and size of the crop.
    """
    in_ratio = width / height
    if in_ratio < min(ratio):  # too tall: full width
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):  # too wide: full height
        w, h = int(round(height * max(ratio))), height
    else:  # whole image
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random area and aspect ratio, then resize it to ``size`` (Inception-style).

    Up to ``max_attempts`` (10, torchvision) draws of an area fraction ``s ~ U(scale)`` and a
    ratio ``r = exp(U(log ratio))`` (width / height); the crop is ``w = round(sqrt(s * A *
    r))``, ``h = round(sqrt(s * A / r))`` for image area ``A``, accepted when ``0 < w <= W``
    and ``0 < h <= H``, at ``y0 ~ randint(0, H - h + 1)``, then ``x0 ~ randint(0, W - w + 1)``.
    When no draw fits: :func:`fallback_crop_box`. The crop is resized with ``cv2.resize``.

    Reads:   img (H, W, 3) uint8
    Changes: img -> (size h, size w, 3) uint8; img_shape
    Adds:    crop_box (x0, y0, w, h), the crop in the input image's pixels

    Args:
        size: output (w, h), or an int for a square (torchvision's ``size`` is (h, w)).
        scale: (min, max) of the crop area as a fraction of the image area.
        ratio: (min, max) of the crop's width / height.
        interpolation: 'bilinear' (default), 'nearest', 'bicubic', 'area' or 'lanczos'.
        max_attempts: random draws before the central fallback.
    """

    def __init__(self, size: int | tuple[int, int] = 224, *,
                 scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), interpolation: str = 'bilinear',
                 max_attempts: int = 10) -> None:
        self.size = _size_pair(size, 'size')
        self.scale = _range_pair(scale, 'scale')
        self.ratio = _range_pair(ratio, 'ratio')
        self.interpolation = interpolation
        self._cv2_interpolation = _interpolation(interpolation)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) \
                or max_attempts < 0:
            raise ValueError(f'max_attempts must be an int >= 0, got {max_attempts!r}')
        self.max_attempts = max_attempts

    def draw_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """A random crop (x0, y0, w, h) in pixels of a ``width`` x ``height`` image."""
        area = width * height
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            target_area = area * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                y0 = int(np.random.randint(0, height - h + 1))
                x0 = int(np.random.randint(0, width - w + 1))
                return x0, y0, w, h
        return fallback_crop_box(width, height, self.ratio)

    def transform(self, results: dict) -> dict:
        img = results['img']
        x0, y0, w, h = self.draw_box(img.shape[1], img.shape[0])
        crop = img[y0:y0 + h, x0:x0 + w]
        results['img'] = cv2.resize(crop, self.size, interpolation=self._cv2_interpolation)
        results['img_shape'] = (self.size[1], self.size[0])
        results['crop_box'] = (x0, y0, w, h)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, scale={self.scale}, '
                f'ratio={tuple(round(r, 4) for r in self.ratio)}, '
                f'interpolation={self.interpolation!r}, max_attempts={self.max_attempts})')


def edge_resize_size(width: int, height: int, scale: int, edge: str) -> tuple[int, int]:
    """Output (w, h) of ``ResizeEdge``: ``edge`` becomes ``scale``, the other side keeps the
    aspect ratio, truncated (mmpretrain ``ResizeEdge``; torchvision ``Resize(int)`` also
    truncates). 500 x 375 with the short edge to 256 -> 341 x 256.

    A square image counts as "width is not shorter", so 'short' and 'long' both set the height
    first, which gives the same result.
    """
    if (edge == 'short' and width < height) or (edge == 'long' and width > height) \
            or edge == 'width':
        return scale, int(scale * height / width)
    return int(scale * width / height), scale


@TRANSFORMS.register_module()
class ResizeEdge(BaseTransform):
    """Resize so that one edge (the short one by default) has ``scale`` pixels, keeping the
    aspect ratio (see :func:`edge_resize_size`).

    Reads:   img (H, W, 3) uint8
    Changes: img, img_shape
    Adds:    scale_factor (w_scale, h_scale), new size / old size, composed with an earlier one

    Args:
        scale: the target length of ``edge`` in pixels (256 for the 224 ImageNet test crop).
        edge: 'short', 'long', 'width' or 'height'.
        interpolation: 'bilinear' (default), 'nearest', 'bicubic', 'area' or 'lanczos'.
    """

    def __init__(self, scale: int = 256, *, edge: str = 'short',
                 interpolation: str = 'bilinear') -> None:
        if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale <= 0:
            raise ValueError(f'scale must be a positive int (pixels), got {scale!r}')
        if edge not in _EDGES:
            raise ValueError(f'edge must be one of {_EDGES}, got {edge!r}')
        self.scale = int(scale)
        self.edge = edge
        self.interpolation = interpolation
        self._cv2_interpolation = _interpolation(interpolation)

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        new_w, new_h = edge_resize_size(w, h, self.scale, self.edge)
        if (new_w, new_h) != (w, h):
            results['img'] = cv2.resize(img, (new_w, new_h),
                                        interpolation=self._cv2_interpolation)
        results['img_shape'] = (new_h, new_w)
        prev = results.get('scale_factor', (1.0, 1.0))
        results['scale_factor'] = (prev[0] * new_w / w, prev[1] * new_h / h)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, edge={self.edge!r}, '
                f'interpolation={self.interpolation!r})')


def center_crop_box(width: int, height: int,
                    crop_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred crop of ``CenterCrop`` (mmcv ``CenterCrop``; torchvision ``center_crop``
    places it the same way): ``x0 = round((W - w) / 2)``, Python's round (half to even), so
    341 - 224 = 117 gives x0 = 58. A crop side larger than the image is clipped to it.

    Returns:
        (x0, y0, w, h) in pixels.
    """
    w, h = min(crop_size[0], width), min(crop_size[1], height)
    return int(round((width - w) / 2)), int(round((height - h) / 2)), w, h


@TRANSFORMS.register_module()
class CenterCrop(BaseTransform):
    """Cut the centre ``crop_size`` out of the image (see :func:`center_crop_box`).

    An image smaller than ``crop_size`` in a dimension gives a smaller output in it (mmcv's
    default ``auto_pad=False``, which mmpretrain's configs use); with ``auto_pad=True`` it is
    first padded with 0 at the bottom and right (mmcv ``Pad``) so that the output always has
    ``crop_size``. torchvision pads both sides instead. After ``ResizeEdge(256)`` the 224 crop
    always fits, so the ImageNet pipelines never pad.

    Reads:   img (H, W, 3) uint8
    Changes: img -> (min(H, h), min(W, w), 3), or (h, w, 3) with auto_pad; img_shape
    Adds:    crop_box (x0, y0, w, h), the crop in the (padded) input image's pixels

    Args:
        crop_size: (w, h), or an int for a square.
        auto_pad: zero-pad an image smaller than ``crop_size`` first.
    """

    def __init__(self, crop_size: int | tuple[int, int] = 224, *, auto_pad: bool = False) -> None:
        self.crop_size = _size_pair(crop_size, 'crop_size')
        self.auto_pad = bool(auto_pad)

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        if self.auto_pad and (w < self.crop_size[0] or h < self.crop_size[1]):
            pad_w, pad_h = max(self.crop_size[0] - w, 0), max(self.crop_size[1] - h, 0)
            img = cv2.copyMakeBorder(img, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
            h, w = img.shape[:2]
        x0, y0, cw, ch = center_crop_box(w, h, self.crop_size)
        results['img'] = np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw])
        results['img_shape'] = (ch, cw)
        results['crop_box'] = (x0, y0, cw, ch)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(crop_size={self.crop_size}, auto_pad={self.auto_pad})'


def _label_tensor(label, where: str) -> torch.Tensor:
    """An integer class index (int, numpy or tensor scalar, or one element) as (1,) int64."""
    arr = label.detach().cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
    if arr.size != 1 or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f'PackClsInputs: gt_label of {where or "the sample"} must be one '
                         f'integer class index, got {label!r}'[:200])
    return torch.tensor([int(arr.reshape(()))], dtype=torch.int64)


@TRANSFORMS.register_module()
class PackClsInputs(BaseTransform):
    """Pack a classification sample for the model.

    Reads:   img (H, W, 3) uint8, gt_label (int; optional, absent at inference), meta_keys
             (those present)
    Returns: dict(inputs=(3, H, W) uint8 tensor, data_samples=BaseDataElement) with metainfo
             the present ``meta_keys`` (``img_shape``, when listed, is the image's (H, W)) and
             the data field ``gt_label`` (1,) int64 tensor when the sample has one.

    Args:
        meta_keys: the keys copied into the data sample's metainfo.
    """

    DEFAULT_META_KEYS = ('img_path', 'ori_shape', 'img_shape')

    def __init__(self, *, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if img is None:
            raise KeyError('PackClsInputs needs "img"')
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'PackClsInputs: img must be (H, W, 3) uint8, got {img.shape} '
                             f'{img.dtype}')
        meta = {k: results[k] for k in self.meta_keys if k in results}
        if 'img_shape' in self.meta_keys:
            meta['img_shape'] = tuple(img.shape[:2])
        sample = BaseDataElement(metainfo=meta)
        if results.get('gt_label') is not None:
            sample.gt_label = _label_tensor(results['gt_label'], results.get('img_path', ''))
        return dict(inputs=image_to_tensor(img), data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
