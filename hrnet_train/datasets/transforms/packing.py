"""Packing of top-down pose samples into model inputs and data samples."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from hrnet_train.registry import TRANSFORMS

# warp_matrix (image -> input pixels) is what the model inverts to map predictions back.
_DEFAULT_META_KEYS = ('img_id', 'img_path', 'id', 'category_id', 'bbox', 'bbox_center',
                      'bbox_scale', 'bbox_score', 'input_size', 'warp_matrix', 'flip_indices',
                      'ori_shape', 'img_shape')


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) or (H, W) array -> contiguous (C, H, W) tensor of the same dtype."""
    if img.ndim == 2:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).contiguous()


@TRANSFORMS.register_module()
class PackPoseInputs(BaseTransform):
    """Pack a top-down pose sample for the model.

    Reads:   img, heatmaps, keypoint_weights, keypoints, keypoints_visible (all but img optional),
             meta_keys (those present)
    Returns: dict(inputs=(3, H, W) uint8 tensor, data_samples=BaseDataElement) whose metainfo holds
             the present ``meta_keys`` and whose data fields are ``gt_heatmaps`` (K, h, w) float32
             tensor, ``keypoint_weights`` (K,) float32 tensor, ``gt_keypoints`` (K, 2) float32
             numpy in input pixels and ``gt_keypoints_visible`` (K,) float32 numpy, when present.
    """

    def __init__(self, meta_keys: Sequence[str] = _DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError('PackPoseInputs needs "img"')
        inputs = image_to_tensor(results['img'])
        sample = BaseDataElement(
            metainfo={k: results[k] for k in self.meta_keys if k in results})
        if results.get('heatmaps') is not None:
            sample.gt_heatmaps = torch.from_numpy(
                np.ascontiguousarray(results['heatmaps'], dtype=np.float32))
        if results.get('keypoint_weights') is not None:
            sample.keypoint_weights = torch.from_numpy(
                np.ascontiguousarray(results['keypoint_weights'], dtype=np.float32))
        if results.get('keypoints') is not None:
            sample.gt_keypoints = np.asarray(results['keypoints'], dtype=np.float32)
        if results.get('keypoints_visible') is not None:
            sample.gt_keypoints_visible = np.asarray(results['keypoints_visible'],
                                                     dtype=np.float32)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
