"""Object keypoint similarity (OKS) between one pose and a set of poses.

The formula is the one of the official HRNet ``oks_iou``
(leoxiaobin/deep-high-resolution-net.pytorch:lib/nms/nms.py), which OKS-NMS uses; pycocotools'
``COCOeval.computeOks`` uses the same kernel with the GT area only.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

# COCO keypoint sigmas (https://cocodataset.org/#keypoints-eval, pycocotools Params.setKpParams).
COCO_KEYPOINT_SIGMAS = np.array([
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89
]) / 10.0


def resolve_sigmas(sigmas: Optional[Sequence[float]], num_keypoints: int) -> np.ndarray:
    """Return per-keypoint OKS sigmas as a (K,) float64 array.

    Args:
        sigmas: (K,) sigmas, or None for the 17 COCO sigmas.
        num_keypoints: K, the number of keypoints the sigmas must cover.

    Returns:
        (K,) float64.
    """
    if sigmas is None:
        if num_keypoints != len(COCO_KEYPOINT_SIGMAS):
            raise ValueError(
                f'sigmas: None means the 17 COCO sigmas, but the poses have {num_keypoints} '
                'keypoints; pass one sigma per keypoint')
        return COCO_KEYPOINT_SIGMAS.copy()
    out = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if out.shape[0] != num_keypoints:
        raise ValueError(f'sigmas: expected {num_keypoints} values, got {out.shape[0]}')
    return out


def compute_oks(
    gt: np.ndarray,
    dets: np.ndarray,
    gt_area: float,
    det_areas: Union[float, np.ndarray, None] = None,
    *,
    sigmas: Optional[Sequence[float]] = None,
    vis_thr: Optional[float] = None,
) -> Union[np.ndarray, float]:
    """OKS of one reference pose against N poses.

    ``oks = mean_k exp(-d_k^2 / (2 * s * (2 sigma_k)^2))`` with ``s`` the mean of the two areas,
    as in the official ``oks_iou``.

    Args:
        gt: (K, 2) or (K, 3), (x, y[, score]) in image pixels; the reference pose.
        dets: (N, K, 2|3) or (K, 2|3), the other poses, same convention.
        gt_area: area of the reference pose in pixels^2 (official: ``prod(scale * 200)``).
        det_areas: (N,) or scalar areas of the other poses; None uses ``gt_area``.
        sigmas: (K,) per-keypoint sigmas; None means the 17 COCO sigmas.
        vis_thr: if given, only keypoints whose score (third column) is above ``vis_thr`` in both
            poses count; a pair with no such keypoint has OKS 0. The official code writes
            ``list(vg > t) and list(vd > t)``, which evaluates to the detection mask alone; we use
            the intended ``and`` of both (as mmpose does). Neither official nor mmpose evaluation
            passes a threshold, so reported numbers never depend on this.

    Returns:
        (N,) float64 OKS in [0, 1], or a float when ``dets`` is (K, C).
    """
    gt = np.asarray(gt, dtype=np.float64)
    dets = np.asarray(dets, dtype=np.float64)
    single = dets.ndim == 2
    if single:
        dets = dets[None]
    if gt.ndim != 2 or gt.shape[1] not in (2, 3):
        raise ValueError(f'gt: expected shape (K, 2) or (K, 3), got {gt.shape}')
    if dets.ndim != 3 or dets.shape[1] != gt.shape[0] or dets.shape[2] not in (2, 3):
        raise ValueError(f'dets: expected shape (N, {gt.shape[0]}, 2|3), got {dets.shape}')
    num_dets, num_kpts = dets.shape[:2]
    variances = (resolve_sigmas(sigmas, num_kpts) * 2)**2  # (K,)

    areas = np.full(num_dets, float(gt_area))
    if det_areas is not None:
        areas = (areas + np.broadcast_to(np.asarray(det_areas, dtype=np.float64), (num_dets, ))) / 2
    sq_dist = ((dets[..., :2] - gt[None, :, :2])**2).sum(-1)  # (N, K)
    e = sq_dist / variances / (areas[:, None] + np.spacing(1)) / 2
    sim = np.exp(-e)  # (N, K)

    if vis_thr is None:
        oks = sim.mean(axis=1)
    else:
        if gt.shape[1] != 3 or dets.shape[2] != 3:
            raise ValueError('vis_thr needs scores: gt and dets must have 3 columns (x, y, score)')
        mask = (gt[None, :, 2] > vis_thr) & (dets[..., 2] > vis_thr)  # (N, K)
        count = mask.sum(axis=1)
        oks = np.where(count > 0, (sim * mask).sum(axis=1) / np.maximum(count, 1), 0.0)
    return float(oks[0]) if single else oks
