"""Box to centre/scale conversion for top-down pose."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from hrnet_train.registry import TRANSFORMS


@TRANSFORMS.register_module()
class GetBBoxCenterScale(BaseTransform):
    """Turn the person box into a centre and a padded size.

    The official code pads the box by 1.25 and fixes its aspect ratio in ``_box2cs``; here the
    aspect ratio is fixed later by ``TopdownAffine`` (both are multiplicative, so the result is the
    same). ``bbox_scale`` is in pixels, not the official units of 200 pixels.

    Reads:   bbox (4,) x1, y1, x2, y2 image pixels
    Adds:    bbox_center (2,) float32 image pixels; bbox_scale (2,) float32 = (w, h) * padding
    """

    def __init__(self, padding: float = 1.25) -> None:
        if padding <= 0:
            raise ValueError(f'padding must be > 0, got {padding}')
        self.padding = padding

    def transform(self, results: dict) -> dict:
        bbox = np.asarray(results['bbox'], dtype=np.float32)
        if bbox.shape != (4,):
            raise ValueError(f'bbox must have shape (4,) (x1, y1, x2, y2), got {bbox.shape}')
        results['bbox_center'] = (bbox[:2] + bbox[2:]) * np.float32(0.5)
        results['bbox_scale'] = (bbox[2:] - bbox[:2]) * np.float32(self.padding)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(padding={self.padding})'
