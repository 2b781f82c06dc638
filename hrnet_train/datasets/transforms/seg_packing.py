"""Packing of segmentation samples into model inputs and data samples."""
from __future__ import annotations

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from hrnet_train.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackSegInputs(BaseTransform):
    """Pack a segmentation sample: ``dict(inputs, data_samples)``.

    Reads:   img (H, W, 3) uint8, gt_seg_map (H', W') uint8 (optional; at test time it keeps the
             original size while img may be resized), and the metainfo keys below
    Returns: inputs (3, H, W) uint8 tensor; data_samples ``BaseDataElement`` with data field
             gt_seg_map (1, H', W') int64 tensor (when labelled) and metainfo img_path,
             seg_map_path, ori_shape, img_shape, scale_factor (default (1.0, 1.0)),
             flip (default False), flip_direction, plus any of ``meta_keys`` that exist.
    """

    DEFAULT_META_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'scale_factor',
                         'flip', 'flip_direction')

    def __init__(self, *, meta_keys: tuple[str, ...] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'img must be (H, W, 3) uint8, got {img.shape} {img.dtype}')
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        results.setdefault('scale_factor', (1.0, 1.0))
        results.setdefault('flip', False)
        metainfo = {k: results[k] for k in self.meta_keys if k in results}
        sample = BaseDataElement(metainfo=metainfo)
        seg = results.get('gt_seg_map')
        if seg is not None:
            sample.gt_seg_map = torch.from_numpy(
                np.ascontiguousarray(seg)[None].astype(np.int64))  # (1, H, W)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
