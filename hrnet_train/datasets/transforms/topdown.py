"""Top-down pose transforms: half-body, box jitter, the affine warp to the input and targets.

Sources: leoxiaobin/deep-high-resolution-net.pytorch ``lib/dataset/JointsDataset.py``
(half_body_transform, __getitem__) and ``lib/utils/transforms.py`` (get_affine_transform); UDP
warp: Huang et al., CVPR 2020 (mmpose ``get_udp_warp_matrix``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from hrnet_train.registry import KEYPOINT_CODECS, TRANSFORMS

__all__ = [
    'fix_aspect_ratio', 'build_warp_matrix', 'build_udp_warp_matrix', 'RandomHalfBody',
    'RandomBBoxTransform', 'TopdownAffine', 'GenerateTarget'
]


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


@TRANSFORMS.register_module()
class RandomHalfBody(BaseTransform):
    """Replace the box by one around the upper or the lower body (official half_body_transform).

    Applied with probability ``prob`` when at least ``min_total_keypoints`` keypoints are visible
    (official: more than 8). The upper half is preferred with probability
    ``upper_prioritized_prob`` (official: a normal draw < 0.5, 69.1 %) if it has at least
    ``min_upper_keypoints`` visible; otherwise the lower half if it has at least
    ``min_lower_keypoints``; otherwise the upper half if eligible; otherwise nothing. The defaults
    reproduce the official ``len(...) > 2`` tests. The new centre is the mean of the chosen
    keypoints and the size their extent times ``padding``.

    Reads:   keypoints (K, 2) image pixels, keypoints_visible, upper_body_ids, lower_body_ids
    Changes: bbox_center, bbox_scale (when applied)
    Adds:    half_body (bool)
    """

    def __init__(self, min_total_keypoints: int = 9, min_upper_keypoints: int = 3,
                 min_lower_keypoints: int = 3, padding: float = 1.5, prob: float = 0.3,
                 upper_prioritized_prob: float = 0.69) -> None:
        if not 0 <= prob <= 1 or not 0 <= upper_prioritized_prob <= 1:
            raise ValueError('prob and upper_prioritized_prob must be in [0, 1], got '
                             f'{prob}, {upper_prioritized_prob}')
        if padding <= 0:
            raise ValueError(f'padding must be > 0, got {padding}')
        self.min_total_keypoints = min_total_keypoints
        self.min_upper_keypoints = min_upper_keypoints
        self.min_lower_keypoints = min_lower_keypoints
        self.padding = padding
        self.prob = prob
        self.upper_prioritized_prob = upper_prioritized_prob

    def select_half_body(self, keypoints_visible: np.ndarray, upper_body_ids: list[int],
                         lower_body_ids: list[int], prefer_upper: bool) -> list[int] | None:
        """Ids of the half to keep, or None. Deterministic given ``prefer_upper``."""
        visible = np.asarray(keypoints_visible) > 0
        upper = [i for i in upper_body_ids if visible[i]]
        lower = [i for i in lower_body_ids if visible[i]]
        upper_ok = len(upper) >= max(2, self.min_upper_keypoints)
        lower_ok = len(lower) >= max(2, self.min_lower_keypoints)
        if prefer_upper and upper_ok:
            return upper
        if lower_ok:
            return lower
        return upper if upper_ok else None

    def transform(self, results: dict) -> dict:
        results['half_body'] = False
        visible = np.asarray(results['keypoints_visible'])
        if visible.sum() < self.min_total_keypoints or np.random.rand() >= self.prob:
            return results
        prefer_upper = bool(np.random.rand() < self.upper_prioritized_prob)
        ids = self.select_half_body(visible, results.get('upper_body_ids', []),
                                    results.get('lower_body_ids', []), prefer_upper)
        if ids is None:
            return results
        selected = np.asarray(results['keypoints'], dtype=np.float32)[ids]
        size = selected.max(axis=0) - selected.min(axis=0)
        if not (size > 0).any():
            return results
        results['bbox_center'] = selected.mean(axis=0).astype(np.float32)
        results['bbox_scale'] = (size * self.padding).astype(np.float32)
        results['half_body'] = True
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_total_keypoints={self.min_total_keypoints}, '
                f'min_upper_keypoints={self.min_upper_keypoints}, '
                f'min_lower_keypoints={self.min_lower_keypoints}, padding={self.padding}, '
                f'prob={self.prob}, upper_prioritized_prob={self.upper_prioritized_prob})')


@TRANSFORMS.register_module()
class RandomBBoxTransform(BaseTransform):
    """Randomly shift, scale and rotate the box (official JointsDataset augmentation).

    - shift, with probability ``shift_prob``: ``center += clip(N(0, 1), -1, 1) * shift_factor *
      bbox_scale`` per axis (off by default, as in the official recipe);
    - scale: ``bbox_scale *= clip(N(0, 1) * scale_factor + 1, 1 - scale_factor,
      1 + scale_factor)``;
    - rotation, with probability ``rotate_prob``: ``clip(N(0, 1) * rotate_factor,
      -2 * rotate_factor, 2 * rotate_factor)`` degrees, else 0.

    Reads:   bbox_center, bbox_scale
    Changes: bbox_center, bbox_scale
    Adds:    bbox_rotation (float, degrees)
    """

    def __init__(self, *, shift_factor: float = 0.0, shift_prob: float = 0.3,
                 scale_factor: float = 0.35, rotate_factor: float = 45.0,
                 rotate_prob: float = 0.6) -> None:
        if not 0 <= scale_factor < 1:
            raise ValueError(f'scale_factor must be in [0, 1), got {scale_factor}')
        for name, p in (('shift_prob', shift_prob), ('rotate_prob', rotate_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {p}')
        self.shift_factor = shift_factor
        self.shift_prob = shift_prob
        self.scale_factor = scale_factor
        self.rotate_factor = rotate_factor
        self.rotate_prob = rotate_prob

    def transform(self, results: dict) -> dict:
        center = np.array(results['bbox_center'], dtype=np.float32)
        scale = np.array(results['bbox_scale'], dtype=np.float32)
        if self.shift_factor > 0 and np.random.rand() < self.shift_prob:
            offset = np.clip(np.random.randn(2), -1., 1.) * self.shift_factor
            center = center + (offset * scale).astype(np.float32)
        sf = self.scale_factor
        scale = scale * np.float32(np.clip(np.random.randn() * sf + 1, 1 - sf, 1 + sf))
        rot = 0.
        if np.random.rand() < self.rotate_prob:
            rf = self.rotate_factor
            rot = float(np.clip(np.random.randn() * rf, -2 * rf, 2 * rf))
        results['bbox_center'] = center
        results['bbox_scale'] = scale
        results['bbox_rotation'] = rot
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(shift_factor={self.shift_factor}, '
                f'shift_prob={self.shift_prob}, scale_factor={self.scale_factor}, '
                f'rotate_factor={self.rotate_factor}, rotate_prob={self.rotate_prob})')


@TRANSFORMS.register_module()
class TopdownAffine(BaseTransform):
    """Warp the person box to the model input.

    ``bbox_scale`` first gets the input's aspect ratio (the shorter side grows). Keypoints outside
    the input keep their coordinates; the codec gives them zero weight when their Gaussian is off
    the heatmap.

    Reads:   img, bbox_center, bbox_scale, bbox_rotation (optional, degrees), keypoints (optional)
    Changes: img -> (H, W, 3) uint8 of input_size; keypoints -> input pixels;
             bbox_scale -> aspect-fixed (w, h) image pixels
    Adds:    input_size (w, h), input_center (2,), input_scale (2,) (the warped box, image pixels),
             warp_matrix (2, 3) float32, image pixels -> input pixels

    Args:
        input_size: model input (width, height), e.g. (192, 256).
        use_udp: use the unbiased (UDP) warp; pair it with the ``UDPHeatmap`` codec.
    """

    def __init__(self, input_size: tuple[int, int], *, use_udp: bool = False) -> None:
        if len(input_size) != 2 or any(int(s) != s or s < 2 for s in input_size):
            raise ValueError(f'input_size must be (width, height) of integers >= 2, '
                             f'got {input_size}')
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.use_udp = use_udp

    def transform(self, results: dict) -> dict:
        w, h = self.input_size
        center = np.asarray(results['bbox_center'], dtype=np.float32)
        scale = fix_aspect_ratio(results['bbox_scale'], w / h)
        if not (scale > 0).all():
            raise ValueError(f'bbox_scale must be positive, got {results["bbox_scale"]} '
                             f'(img_path={results.get("img_path")})')
        rot = float(results.get('bbox_rotation', 0.))
        if self.use_udp:
            warp = build_udp_warp_matrix(center, scale, rot, (w, h))
        else:
            warp = build_warp_matrix(center, scale, rot, (w, h))
        results['img'] = cv2.warpAffine(results['img'], warp, (w, h), flags=cv2.INTER_LINEAR)
        if results.get('keypoints') is not None:
            kpts = np.asarray(results['keypoints'], dtype=np.float32)
            results['keypoints'] = (kpts @ warp[:, :2].T + warp[:, 2]).astype(np.float32)
        results['bbox_scale'] = scale
        results['input_size'] = (w, h)
        results['input_center'] = center.copy()
        results['input_scale'] = scale.copy()
        results['warp_matrix'] = warp
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(input_size={self.input_size}, use_udp={self.use_udp})'


@TRANSFORMS.register_module()
class GenerateTarget(BaseTransform):
    """Encode the input-space keypoints into heatmap targets with a codec.

    Reads:   keypoints (K, 2) input pixels, keypoints_visible (K,), joint_weights (K,) (only with
             use_dataset_keypoint_weights)
    Adds:    heatmaps (K, h, w) float32, keypoint_weights (K,) float32

    Args:
        encoder: codec config (``KEYPOINT_CODECS``), e.g. ``dict(type='MSRAHeatmap',
            input_size=(192, 256), heatmap_size=(48, 64), sigma=2)``, or a codec object.
        use_dataset_keypoint_weights: multiply the weights by the dataset ``joint_weights``
            (official USE_DIFFERENT_JOINTS_WEIGHT, off by default).
    """

    def __init__(self, encoder: Mapping | object, *,
                 use_dataset_keypoint_weights: bool = False) -> None:
        self.encoder_cfg = encoder
        self.encoder = KEYPOINT_CODECS.build(dict(encoder)) if isinstance(encoder, Mapping) \
            else encoder
        self.use_dataset_keypoint_weights = use_dataset_keypoint_weights

    def transform(self, results: dict) -> dict:
        if results.get('keypoints') is None:
            raise KeyError('GenerateTarget needs "keypoints" (K, 2) in input pixels')
        encoded = self.encoder.encode(results['keypoints'], results['keypoints_visible'])
        weights = encoded['keypoint_weights']
        if self.use_dataset_keypoint_weights:
            if 'joint_weights' not in results:
                raise KeyError('use_dataset_keypoint_weights=True needs "joint_weights" '
                               '(added by the pose dataset)')
            weights = weights * np.asarray(results['joint_weights'], dtype=np.float32)
        results['heatmaps'] = encoded['heatmaps']
        results['keypoint_weights'] = weights.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(encoder={self.encoder!r}, '
                f'use_dataset_keypoint_weights={self.use_dataset_keypoint_weights})')
