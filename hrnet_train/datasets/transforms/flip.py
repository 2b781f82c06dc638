"""Random horizontal flip shared by pose and segmentation pipelines."""
from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from hrnet_train.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Mirror the image and every annotation present, with probability ``prob``.

    A pixel at x moves to ``w - 1 - x`` (official pose ``fliplr_joints``: x -> w - x - 1); boxes
    mirror their two x edges, so their centre mirrors the same way. Keypoint channels are swapped
    with ``flip_indices`` (left <-> right).

    Reads:   img, keypoints (optional, with keypoints_visible and flip_indices), bbox_center,
             bbox (x1, y1, x2, y2), gt_seg_map (all optional)
    Changes: img, keypoints, keypoints_visible, bbox_center, bbox, gt_seg_map (when flipped)
    Adds:    flip (bool), flip_direction ('horizontal' or None)

    Args:
        prob: flip probability.
        direction: only 'horizontal' is supported.
    """

    def __init__(self, prob: float = 0.5, direction: str = 'horizontal') -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if direction != 'horizontal':
            raise ValueError(f"direction must be 'horizontal', got {direction!r}")
        self.prob = prob
        self.direction = direction

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.prob)
        results['flip'] = flip
        results['flip_direction'] = self.direction if flip else None
        if flip:
            self.flip(results)
        return results

    @staticmethod
    def flip(results: dict) -> dict:
        """Mirror ``results`` in place, unconditionally."""
        img = results['img']
        w = img.shape[1]
        results['img'] = cv2.flip(img, 1)  # same as img[:, ::-1], ~30x faster (contiguous)
        if results.get('keypoints') is not None:
            if 'flip_indices' not in results:
                raise KeyError('RandomFlip needs "flip_indices" to flip keypoints '
                               '(the pose dataset adds it)')
            idx = np.asarray(results['flip_indices'], dtype=np.int64)
            kpts = np.array(results['keypoints'], dtype=np.float32)
            if kpts.shape[-2] != len(idx):
                raise ValueError(f'flip_indices has {len(idx)} entries but keypoints have '
                                 f'{kpts.shape[-2]}')
            kpts[..., 0] = w - 1 - kpts[..., 0]
            results['keypoints'] = kpts[..., idx, :]
            if results.get('keypoints_visible') is not None:
                results['keypoints_visible'] = np.asarray(results['keypoints_visible'])[..., idx]
        if results.get('bbox_center') is not None:
            center = np.array(results['bbox_center'], dtype=np.float32)
            center[..., 0] = w - 1 - center[..., 0]
            results['bbox_center'] = center
        if results.get('bbox') is not None:
            bbox = np.array(results['bbox'], dtype=np.float32)
            bbox[..., [0, 2]] = w - 1 - bbox[..., [2, 0]]
            results['bbox'] = bbox
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = cv2.flip(results['gt_seg_map'], 1)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob}, direction={self.direction!r})'
