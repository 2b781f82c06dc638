"""PCK of top-down predictions normalised by the person box (mmpose ``PCKAccuracy``, 'bbox')."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from hrnet_train.registry import METRICS
from hrnet_train.utils.arrays import to_numpy

from ..functional.pck import pck_accuracy


@METRICS.register_module()
class PCKAccuracy(BaseMetric):
    """Percentage of keypoints within ``thr x max(box w, box h)`` of the ground truth.

    ``process`` reads from each flat data-sample dict: ``pred_keypoints`` (K, 2) image pixels,
    ``bbox`` (4,) x1, y1, x2, y2 image pixels, and the ground truth either as ``keypoints`` (K, 2)
    image pixels with ``keypoints_visible`` (K,), or as ``gt_keypoints`` (K, 2) input pixels with
    ``gt_keypoints_visible`` (K,), mapped back with ``bbox_center``, ``bbox_scale`` and
    ``input_size`` by the pose detector's ``keypoints_to_image`` (unrotated test-time crop).

    Args:
        thr: threshold on the distance divided by the longer box side.
        collect_device: see mmengine ``BaseMetric``.
        prefix: key prefix; defaults to ``'pck'`` (key ``pck/PCK``).
    """

    default_prefix: Optional[str] = 'pck'

    def __init__(self,
                 thr: float = 0.05,
                 *,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thr = thr

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store pred, GT (image pixels), visibility and box size per sample."""
        for sample in data_samples:
            pred = to_numpy(sample['pred_keypoints']).astype(np.float64).reshape(-1, 2)
            if 'keypoints' in sample:
                gt = to_numpy(sample['keypoints']).astype(np.float64).reshape(-1, 2)
                visible = to_numpy(sample['keypoints_visible']).reshape(-1)
            elif 'gt_keypoints' in sample:
                # the detector's own input -> image mapping (imported here: models import torch)
                from hrnet_train.models.detectors.topdown_pose import keypoints_to_image
                gt = keypoints_to_image(
                    to_numpy(sample['gt_keypoints']).astype(np.float64).reshape(-1, 2),
                    to_numpy(sample['input_size']), to_numpy(sample['bbox_center']),
                    to_numpy(sample['bbox_scale'])).astype(np.float64)
                visible = to_numpy(sample['gt_keypoints_visible']).reshape(-1)
            else:
                raise KeyError(f"{type(self).__name__}.process: data sample lacks 'keypoints' "
                               "(image px) and 'gt_keypoints' (input px)")
            bbox = to_numpy(sample['bbox']).astype(np.float64).reshape(4)
            box_size = float(np.max(bbox[2:] - bbox[:2]))
            self.results.append(dict(pred=pred, gt=gt, mask=visible > 0, box_size=box_size))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Return ``{'PCK': average over keypoint types}``."""
        if not results:
            return {'PCK': 0.0}
        pred = np.stack([r['pred'] for r in results])
        gt = np.stack([r['gt'] for r in results])
        mask = np.stack([r['mask'] for r in results])
        norm = np.array([[r['box_size'], r['box_size']] for r in results])
        _, avg_acc, _ = pck_accuracy(pred, gt, mask, self.thr, norm)
        return {'PCK': float(avg_acc)}
