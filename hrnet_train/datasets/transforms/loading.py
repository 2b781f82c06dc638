"""Image loading shared by every task."""
from __future__ import annotations

import os

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from hrnet_train.registry import TRANSFORMS


def read_image(path: str, *, to_rgb: bool = True) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8, RGB by default.

    Raises FileNotFoundError / ValueError naming the file when it is missing or not decodable.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'could not decode image file {path} (not an image, or corrupt)')
    if to_rgb:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


@TRANSFORMS.register_module()
class LoadImage(BaseTransform):
    """Read ``img_path`` from disk.

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
