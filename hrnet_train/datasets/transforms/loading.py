"""Image loading shared by every task."""
from __future__ import annotations

import os

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from hrnet_train.registry import TRANSFORMS
from hrnet_train.utils.errors import DataError

_JPEG_SOI, _JPEG_EOI = b'\xff\xd8', b'\xff\xd9'
# PNG signature, and the last 8 bytes of every PNG: the IEND chunk type and its CRC (PNG spec).
_PNG_SIGNATURE, _PNG_IEND = b'\x89PNG\r\n\x1a\n', b'IEND\xaeB`\x82'
# Bytes inspected per step when skipping trailing zero padding; cameras pad to a block size.
_TAIL_CHUNK = 4096


def _end_without_zero_padding(data: np.ndarray) -> int:
    """Length of ``data`` (1-D uint8) once trailing zero bytes are dropped."""
    end = len(data)
    if end and data[end - 1]:
        return end  # the usual case: no padding
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        nonzero = np.flatnonzero(data[start:end])
        if len(nonzero):
            return start + int(nonzero[-1]) + 1
        end = start
    return 0


def _missing_end_marker(data: np.ndarray) -> str | None:
    """What is missing at the end of a JPEG or PNG file, or None (complete, or another format).

    Args:
        data: (N,) uint8, the whole file.
    """
    head = data[:8].tobytes()
    if head.startswith(_JPEG_SOI):
        end = _end_without_zero_padding(data)
        if data[max(0, end - 2):end].tobytes() != _JPEG_EOI:
            return 'no JPEG end-of-image marker FFD9'
    elif head == _PNG_SIGNATURE:
        end = _end_without_zero_padding(data)
        if data[max(0, end - 8):end].tobytes() != _PNG_IEND:
            return 'no PNG IEND chunk'
    return None


def read_image(path: str, *, to_rgb: bool = True) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8, RGB by default.

    The file is read once and decoded from memory. JPEG and PNG files must end with their end
    marker (JPEG FFD9, PNG IEND; trailing zero bytes after it are allowed, as some cameras write
    them): a truncated JPEG would otherwise decode without an error, its missing part grey.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        DataError: naming the file when it is truncated or cannot be decoded.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    data = np.fromfile(path, dtype=np.uint8)
    missing = _missing_end_marker(data)
    if missing is not None:
        raise DataError(f'image file {path} is truncated or corrupt ({missing} at the end)')
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f'could not decode image file {path} (not an image, or corrupt)')
    if to_rgb:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


@TRANSFORMS.register_module()
class LoadImage(BaseTransform):
    """Read ``img_path`` from disk with :func:`read_image` (truncated JPEG/PNG files are errors).

    Reads:   img_path
    Adds:    img (H, W, 3) uint8 (RGB unless ``to_rgb=False``), img_shape (H, W), ori_shape (H, W)
    """

    def __init__(self, *, to_rgb: bool = True) -> None:
        self.to_rgb = to_rgb

    def transform(self, results: dict) -> dict:
        img = read_image(results['img_path'], to_rgb=self.to_rgb)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(to_rgb={self.to_rgb})'
