"""Top-down pose transforms: half-body, box jitter, the affine warp to the input and targets.

Sources: leoxiaobin/deep-high-resolution-net.pytorch ``lib/dataset/JointsDataset.py``
(half_body_transform, __getitem__) and ``lib/utils/transforms.py`` (get_affine_transform); UDP
warp: Huang et al., CVPR 2020 (mmpose ``get_udp_warp_matrix``).
"""
from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from hrnet_train.registry import KEYPOINT_CODECS, TRANSFORMS
from hrnet_train.structures import (
    apply_affine,
    build_udp_warp_matrix,
    build_warp_matrix,
    fix_aspect_ratio,
)

from .loading import DeferredImage

__all__ = ['RandomHalfBody', 'RandomBBoxTransform', 'TopdownAffine', 'GenerateTarget']


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

    A ``DeferredImage`` (``LoadImage(reduced_decode=True)``) is decoded here, at the largest
    reduction r in {1, 2, 4, 8} with ``r * margin`` <= the image pixels per input pixel along the
    warp's most stretched direction (the box after the aspect fix over ``input_size``), and
    warped in one ``cv2.warpAffine`` from the reduced image: the source matrix is ``warp_matrix
    @ P``, P the reduced -> image pixel map (``x = r u + (r - 1) / 2``, then the mirror ``x ->
    W - 1 - x`` when RandomFlip marked it). With r = 1 and no mirror the result is bit-identical
    to the eager path. ``warp_matrix`` stays image pixels -> input pixels, so keypoints, codecs
    and the evaluation's inverse map are unchanged.

    Reads:   img ((H, W, 3) uint8 or DeferredImage), bbox_center, bbox_scale, bbox_rotation
             (optional, degrees), keypoints (optional)
    Changes: img -> (H, W, 3) uint8 of input_size; keypoints -> input pixels;
             bbox_scale -> aspect-fixed (w, h) image pixels
    Adds:    input_size (w, h), input_center (2,), input_scale (2,) (the warped box, image pixels),
             warp_matrix (2, 3) float32, image pixels -> input pixels, decode_reduction (int r,
             1 for an image decoded by LoadImage)

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
        img = results['img']
        if isinstance(img, DeferredImage):
            results['img'], results['decode_reduction'] = _warp_deferred(img, warp, (w, h))
        else:
            results['img'] = cv2.warpAffine(img, warp, (w, h), flags=cv2.INTER_LINEAR)
            results['decode_reduction'] = 1
        if results.get('keypoints') is not None:
            results['keypoints'] = apply_affine(results['keypoints'], warp)
        results['bbox_scale'] = scale
        results['input_size'] = (w, h)
        results['input_center'] = center.copy()
        results['input_scale'] = scale.copy()
        results['warp_matrix'] = warp
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(input_size={self.input_size}, use_udp={self.use_udp})'


def _min_step(linear: np.ndarray) -> float:
    """Source pixels per output pixel along the most stretched direction of a (2, 2) map
    (source -> output): 1 / its largest singular value (closed form for 2 x 2)."""
    a, b, c, d = (float(v) for v in np.asarray(linear, dtype=np.float64).ravel())
    s = a * a + b * b + c * c + d * d
    sigma_max = np.sqrt(0.5 * (s + np.sqrt(max(s * s - 4 * (a * d - b * c) ** 2, 0.))))
    return float(1. / sigma_max) if sigma_max > 0 else 0.


def _warp_deferred(img: DeferredImage, warp: np.ndarray,
                   size: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Decode ``img`` at the reduction the warp allows and warp it to ``size``.

    Args:
        img: the undecoded (maybe mirrored) image.
        warp: (2, 3) float32, image pixels -> output pixels.
        size: output (width, height).

    Returns:
        (height, width, 3) uint8 and the reduction r used.
    """
    r = img.reduction_for(_min_step(warp[:, :2]))
    src = img.pixels(r)  # read only: LoadImage(cache_last=True) shares it with the next sample
    if r == 1 and not img.flipped:
        mat = warp  # the eager path's exact matrix: bit-identical output
    else:
        mat = warp.astype(np.float64) @ img.reduced_to_image(r)  # reduced px -> output px
    return cv2.warpAffine(src, mat, size, flags=cv2.INTER_LINEAR), r


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
