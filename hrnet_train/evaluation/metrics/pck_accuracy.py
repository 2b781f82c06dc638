"""PCK of top-down predictions: at one threshold of the person box (mmpose ``PCKAccuracy``, 'bbox')
and its area under the curve over thresholds of a fixed distance (mmpose ``AUC``)."""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from hrnet_train.registry import METRICS
from hrnet_train.structures import apply_affine, invert_affine
from hrnet_train.utils.arrays import to_numpy
from hrnet_train.utils.errors import ConfigError, DataError

from ..functional.pck import compute_keypoint_auc, pck_accuracy


def _read_keypoints(sample: dict, owner: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prediction and ground truth of one flat top-down data sample, in image pixels.

    Reads ``pred_keypoints`` (K, 2) image pixels and the ground truth either as ``keypoints`` (K, 2)
    image pixels with ``keypoints_visible`` (K,), or as ``gt_keypoints`` (K, 2) input pixels with
    ``gt_keypoints_visible`` (K,), mapped back through the inverse of ``warp_matrix`` (2, 3),
    image -> input pixels, exactly as the pose detector maps its predictions.

    Returns:
        pred: (K, 2) float64, gt: (K, 2) float64, both image pixels; mask: (K,) bool, labelled.
    """
    if 'pred_keypoints' not in sample:
        raise KeyError(f"{owner}.process: data sample lacks 'pred_keypoints' (image px)")
    pred = to_numpy(sample['pred_keypoints']).astype(np.float64).reshape(-1, 2)
    if 'keypoints' in sample:
        gt = to_numpy(sample['keypoints']).astype(np.float64).reshape(-1, 2)
        visible = to_numpy(sample['keypoints_visible']).reshape(-1)
    elif 'gt_keypoints' in sample:
        if 'warp_matrix' not in sample:
            raise KeyError(f"{owner}.process: data sample has 'gt_keypoints' (input px) but no "
                           "'warp_matrix'; keep it in PackPoseInputs meta_keys")
        # the detector's own input -> image mapping (TopdownPoseEstimator.predict)
        gt = apply_affine(
            to_numpy(sample['gt_keypoints']).reshape(-1, 2),
            invert_affine(to_numpy(sample['warp_matrix']))).astype(np.float64)
        visible = to_numpy(sample['gt_keypoints_visible']).reshape(-1)
    else:
        raise KeyError(f"{owner}.process: data sample lacks 'keypoints' (image px) and "
                       "'gt_keypoints' (input px)")
    if pred.shape != gt.shape or visible.shape != gt.shape[:1]:
        raise DataError(f'{owner}.process: expected pred_keypoints, GT keypoints and visibility '
                        f'of K keypoints each, got {pred.shape}, {gt.shape} and {visible.shape}')
    return pred, gt, visible > 0


def _stack_keypoints(results: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, K, 2) pred, (N, K, 2) gt and (N, K) mask from the stored per-sample records."""
    return (np.stack([r['pred'] for r in results]), np.stack([r['gt'] for r in results]),
            np.stack([r['mask'] for r in results]))


@METRICS.register_module()
class PCKAccuracy(BaseMetric):
    """Percentage of keypoints within ``thr x max(box w, box h)`` of the ground truth.

    ``process`` reads from each flat data-sample dict: ``pred_keypoints`` (K, 2) image pixels,
    ``bbox`` (4,) x1, y1, x2, y2 image pixels, and the ground truth either as ``keypoints`` (K, 2)
    image pixels with ``keypoints_visible`` (K,), or as ``gt_keypoints`` (K, 2) input pixels with
    ``gt_keypoints_visible`` (K,), mapped back through the inverse of ``warp_matrix`` (2, 3), as
    the pose detector maps its predictions. The GT must be real annotations: samples made from a
    detector's boxes carry placeholder keypoints.

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
            pred, gt, mask = _read_keypoints(sample, type(self).__name__)
            bbox = to_numpy(sample['bbox']).astype(np.float64).reshape(4)
            box_size = float(np.max(bbox[2:] - bbox[:2]))
            self.results.append(dict(pred=pred, gt=gt, mask=mask, box_size=box_size))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Return ``{'PCK': average over keypoint types}``."""
        if not results:
            return {'PCK': 0.0}
        pred, gt, mask = _stack_keypoints(results)
        norm = np.array([[r['box_size'], r['box_size']] for r in results])
        _, avg_acc, _ = pck_accuracy(pred, gt, mask, self.thr, norm)
        return {'PCK': float(avg_acc)}


@METRICS.register_module()
class AUC(BaseMetric):
    """Area under the PCK curve over ``num_thrs`` thresholds of a fixed distance (mmpose ``AUC``).

    PCK at ``thr x norm_factor`` pixels, averaged over ``thr = 0, 1 / num_thrs, ..,
    (num_thrs - 1) / num_thrs`` (see :func:`compute_keypoint_auc`); a perfect prediction scores
    ``1 - 1 / num_thrs``. ``process`` reads the same data-sample fields as :class:`PCKAccuracy`
    except ``bbox``.

    Args:
        norm_factor: distance in image pixels that maps to threshold 1 (mmpose default 30).
        num_thrs: number of thresholds (mmpose default 20).
        collect_device: see mmengine ``BaseMetric``.
        prefix: key prefix; defaults to ``'auc'`` (key ``auc/@20thrs``, as mmpose).
    """

    default_prefix: Optional[str] = 'auc'

    def __init__(self,
                 norm_factor: float = 30.0,
                 *,
                 num_thrs: int = 20,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(norm_factor, bool) or not isinstance(norm_factor, (int, float)) \
                or not norm_factor > 0:
            raise ConfigError(f'norm_factor: expected a positive distance in pixels, got '
                              f'{norm_factor!r}')
        if isinstance(num_thrs, bool) or not isinstance(num_thrs, int) or num_thrs < 1:
            raise ConfigError(f'num_thrs: expected an integer >= 1, got {num_thrs!r}')
        self.norm_factor = float(norm_factor)
        self.num_thrs = num_thrs

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store pred, GT (image pixels) and visibility per sample."""
        for sample in data_samples:
            pred, gt, mask = _read_keypoints(sample, type(self).__name__)
            self.results.append(dict(pred=pred, gt=gt, mask=mask))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Return ``{'@<num_thrs>thrs': AUC}`` (mmpose's key); 0 without a labelled keypoint."""
        key = f'@{self.num_thrs}thrs'
        if not results or not any(r['mask'].any() for r in results):
            print_log(f'{type(self).__name__}: no labelled keypoint to evaluate; AUC is 0',
                      logger='current', level=logging.WARNING)
            return {key: 0.0}
        pred, gt, mask = _stack_keypoints(results)
        auc = compute_keypoint_auc(pred, gt, mask, self.norm_factor, num_thrs=self.num_thrs)
        return {key: auc}
