"""Geometry shared by every task: boxes, keypoints and affine warps (the bottom layer).

Conventions (every module of hrnet-train uses these):

- **Boxes** are (B, 4) ``x1, y1, x2, y2`` in continuous image pixels: the image covers
  ``[0, W] x [0, H]``, a box's width is ``x2 - x1`` (no legacy ``+ 1``), a horizontal flip maps
  ``x -> W - x``. COCO's ``[x, y, w, h]`` converts with :func:`xywh_to_xyxy` and back with
  :func:`xyxy_to_xywh`, nowhere else.
- **Keypoints** are (..., K, 2) ``x, y`` pixels of the array they refer to, pixel centres on
  integers (the official HRNet pose convention); a horizontal flip maps ``x -> W - 1 - x``
  (official ``fliplr_joints``), :func:`flip_keypoints`.
- **Warps** are (2, 3) float32 affine matrices mapping source pixels to destination pixels,
  applied to points as ``p @ M[:, :2].T + M[:, 2]`` (:func:`apply_affine`); every warp built
  here has an exact inverse, :func:`invert_affine`.

Nothing here imports another hrnet-train module: functions take arrays (numpy, and torch where
stated) and numbers.
"""
from .affine import (
                     apply_affine,
                     apply_affine_to_boxes,
                     build_udp_warp_matrix,
                     build_warp_matrix,
                     fix_aspect_ratio,
                     invert_affine,
)
from .boxes import (
                     box_area,
                     box_iou,
                     boxes_to_center_scale,
                     clip_boxes,
                     flip_boxes,
                     xywh_to_xyxy,
                     xyxy_to_xywh,
)
from .keypoints import flip_keypoints

__all__ = [
    'apply_affine', 'apply_affine_to_boxes', 'build_udp_warp_matrix', 'build_warp_matrix',
    'fix_aspect_ratio', 'invert_affine', 'box_area', 'box_iou', 'boxes_to_center_scale',
    'clip_boxes', 'flip_boxes', 'xywh_to_xyxy', 'xyxy_to_xywh', 'flip_keypoints',
]
