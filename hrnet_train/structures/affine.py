"""Affine warps between image and model-input pixels, with exact inverses.

A warp is a (2, 3) float32 matrix ``M`` mapping source pixels to destination pixels; points
(..., 2) map as ``p @ M[:, :2].T + M[:, 2]`` (:func:`apply_affine`), and
:func:`invert_affine` gives the matrix of the reverse mapping. Top-down pose builds its crop warp
here (:func:`build_warp_matrix`, official; :func:`build_udp_warp_matrix`, UDP), packs it with
every sample, and maps predictions back with its inverse, so every codec and warp round-trips.

Sources: leoxiaobin/deep-high-resolution-net.pytorch ``lib/utils/transforms.py``
(get_affine_transform); UDP: Huang et al., "The Devil is in the Details", CVPR 2020 (mmpose
``get_udp_warp_matrix``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def fix_aspect_ratio(bbox_scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Enlarge a box size to the given width/height ratio (official ``_box2cs``).

    Args:
        bbox_scale: (2,) float, box (w, h) in pixels.
        aspect_ratio: target w / h.

    Returns:
        (2,) float32 (w, h), the shorter side grown, the other unchanged.
    """
    w, h = (float(v) for v in bbox_scale)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return np.array([w, h], dtype=np.float32)


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    direction = a - b
    return b + np.array([-direction[1], direction[0]], dtype=np.float32)


def build_warp_matrix(center: np.ndarray, scale: np.ndarray, rot: float,
                      output_size: tuple[int, int], *, inv: bool = False) -> np.ndarray:
    """Affine matrix of the official ``get_affine_transform`` (scale in pixels, not /200).

    The box centre maps to ``(out_w / 2, out_h / 2)``; the box width ``scale[0]`` maps to
    ``out_w`` (the height is implied: fix the aspect ratio first). ``rot`` degrees rotate the
    *source* direction, i.e. the image content turns by ``-rot`` (counter-clockwise on screen for
    positive ``rot``), as in the official code.

    Args:
        center: (2,) float, box centre (x, y) in image pixels.
        scale: (2,) float, box (w, h) in image pixels.
        rot: rotation in degrees.
        output_size: (width, height) of the output.
        inv: return the inverse mapping, output pixels -> image pixels.

    Returns:
        (2, 3) float32 matrix, image pixels -> output pixels (or the inverse).
    """
    center = np.asarray(center, dtype=np.float32)
    src_w = float(scale[0])
    dst_w, dst_h = output_size
    rot_rad = math.radians(rot)
    sn, cs = math.sin(rot_rad), math.cos(rot_rad)
    # get_dir([0, -src_w / 2], rot_rad)
    src_dir = np.array([src_w * 0.5 * sn, -src_w * 0.5 * cs], dtype=np.float32)
    dst_dir = np.array([0, dst_w * -0.5], dtype=np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + dst_dir
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    if inv:
        return cv2.getAffineTransform(dst, src).astype(np.float32)
    return cv2.getAffineTransform(src, dst).astype(np.float32)


def build_udp_warp_matrix(center: np.ndarray, scale: np.ndarray, rot: float,
                          output_size: tuple[int, int]) -> np.ndarray:
    """Affine matrix of unbiased data processing (Huang et al., CVPR 2020, ``get_warp_matrix``).

    The box centre maps to ``((out_w - 1) / 2, (out_h - 1) / 2)`` and the box size ``scale`` to
    ``output_size - 1`` pixel steps, so pixel centres stay aligned. ``rot`` turns the content by
    ``+rot`` degrees (the UDP reference's sign, opposite to :func:`build_warp_matrix`; random
    rotation is symmetric, so training is unaffected).

    Args:
        center: (2,) float, box centre (x, y) in image pixels.
        scale: (2,) float, box (w, h) in image pixels.
        rot: rotation in degrees.
        output_size: (width, height) of the output.

    Returns:
        (2, 3) float32 matrix, image pixels -> output pixels.
    """
    cx, cy = (float(v) for v in center)
    rot_rad = math.radians(rot)
    sn, cs = math.sin(rot_rad), math.cos(rot_rad)
    scale_x = (output_size[0] - 1) / float(scale[0])
    scale_y = (output_size[1] - 1) / float(scale[1])
    mat = np.zeros((2, 3), dtype=np.float32)
    mat[0, 0] = cs * scale_x
    mat[0, 1] = -sn * scale_x
    mat[0, 2] = scale_x * (-cx * cs + cy * sn + 0.5 * float(scale[0]))
    mat[1, 0] = sn * scale_y
    mat[1, 1] = cs * scale_y
    mat[1, 2] = scale_y * (-cx * sn - cy * cs + 0.5 * float(scale[1]))
    return mat


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The exact inverse of a (2, 3) affine matrix (destination -> source pixels).

    Raises:
        ValueError: when the matrix is not (2, 3) or its linear part is singular.
    """
    mat = np.asarray(matrix, dtype=np.float64)
    if mat.shape != (2, 3):
        raise ValueError(f'affine matrix must have shape (2, 3), got {mat.shape}')
    linear = mat[:, :2]
    det = np.linalg.det(linear)
    if not np.isfinite(det) or abs(det) < 1e-12:
        raise ValueError(f'affine matrix is singular (determinant {det}): {mat.tolist()}')
    inv_linear = np.linalg.inv(linear)
    out = np.empty((2, 3), dtype=np.float64)
    out[:, :2] = inv_linear
    out[:, 2] = -inv_linear @ mat[:, 2]
    return out.astype(np.float32)


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (..., 2) points with a (2, 3) affine matrix; returns float32 (a new array).

    The product is computed in float64, so a warp followed by its inverse returns the points to
    within ~1e-4 px for image-sized coordinates.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[-1:] != (2,):
        raise ValueError(f'points must have shape (..., 2), got {pts.shape}')
    mat = np.asarray(matrix, dtype=np.float64)
    if mat.shape != (2, 3):
        raise ValueError(f'affine matrix must have shape (2, 3), got {mat.shape}')
    return (pts @ mat[:, :2].T + mat[:, 2]).astype(np.float32)


def apply_affine_to_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (..., 4) xyxy boxes with an affine matrix: the axis-aligned box around the four mapped
    corners (exact for scaling and translation; the enclosing box under rotation).

    Returns:
        (..., 4) float32 xyxy.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape[-1:] != (4,):
        raise ValueError(f'boxes must have shape (..., 4), got {boxes.shape}')
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    corners = np.stack([np.stack([x1, y1], -1), np.stack([x2, y1], -1),
                        np.stack([x1, y2], -1), np.stack([x2, y2], -1)], axis=-2)  # (..., 4, 2)
    mapped = apply_affine(corners, matrix).astype(np.float64)
    return np.concatenate([mapped.min(axis=-2), mapped.max(axis=-2)], axis=-1).astype(np.float32)
