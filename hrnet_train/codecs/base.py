"""What every heatmap codec shares: argument checks and the batched decode skeleton."""
from __future__ import annotations

import abc

import numpy as np


def check_size(name: str, size: tuple[int, int]) -> tuple[int, int]:
    """Validate a (width, height) pair of integers >= 2."""
    if len(size) != 2 or any(int(s) != s or s < 2 for s in size):
        raise ValueError(f'{name} must be (width, height) of integers >= 2, got {size}')
    return int(size[0]), int(size[1])


class BaseHeatmapCodec(abc.ABC):
    """Keypoints <-> heatmaps with ``stride`` (2,) input pixels per heatmap pixel.

    Subclasses set ``input_size``, ``heatmap_size``, ``sigma``, ``blur_kernel_size``, ``stride`` and
    implement ``_render`` (input-space keypoints / stride -> heatmaps, weights) and ``_refine``
    (sub-pixel refinement of the argmax locations, heatmap pixels).
    """

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    stride: np.ndarray
    #: heatmap pixels to shift a mirrored-back flip-test heatmap right (see each codec)
    flip_shift: float

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int],
                 sigma: float, blur_kernel_size: int) -> None:
        self.input_size = check_size('input_size', input_size)
        self.heatmap_size = check_size('heatmap_size', heatmap_size)
        if sigma <= 0:
            raise ValueError(f'sigma must be > 0, got {sigma}')
        if blur_kernel_size < 1 or blur_kernel_size % 2 != 1:
            raise ValueError(
                f'blur_kernel_size must be a positive odd integer, got {blur_kernel_size}')
        self.sigma = float(sigma)
        self.blur_kernel_size = blur_kernel_size

    @abc.abstractmethod
    def _render(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, 2) heatmap-pixel keypoints, (K,) visibility -> (K, h, w) heatmaps, (K,) weights."""

    @abc.abstractmethod
    def _refine(self, keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
        """(N, K, 2) argmax locations, (N, K, h, w) heatmaps -> refined (N, K, 2) heatmap px."""

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray) -> dict:
        """Render the target heatmaps.

        Args:
            keypoints: (K, 2) float, (x, y) in input pixels.
            keypoints_visible: (K,) float in {0, 1}.

        Returns:
            dict with ``heatmaps`` (K, h, w) float32 and ``keypoint_weights`` (K,) float32 (0 for
            invisible keypoints and for keypoints whose Gaussian is entirely off the map).
        """
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if keypoints.ndim != 2 or keypoints.shape[1] != 2:
            raise ValueError(f'keypoints must have shape (K, 2), got {keypoints.shape}')
        heatmaps, weights = self._render(keypoints / self.stride, keypoints_visible)
        return dict(heatmaps=heatmaps, keypoint_weights=weights)

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decode one instance: (K, h, w) -> keypoints (K, 2) input pixels, scores (K,)."""
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        if heatmaps.ndim != 3:
            raise ValueError(f'heatmaps must have shape (K, h, w), got {heatmaps.shape}')
        keypoints, scores = self.decode_batch(heatmaps[None])
        return keypoints[0], scores[0]

    def decode_batch(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decode a batch.

        Args:
            heatmaps: (N, K, h, w) float (numpy, or a CPU tensor).

        Returns:
            keypoints: (N, K, 2) float32, (x, y) in input pixels; (0, 0) where the maximum <= 0.
            scores: (N, K) float32, heatmap maxima.
        """
        from .functional import decode_heatmap_argmax
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        if heatmaps.ndim != 4:
            raise ValueError(f'heatmaps must have shape (N, K, h, w), got {heatmaps.shape}')
        if heatmaps.shape[-2:] != self.heatmap_size[::-1]:
            raise ValueError(f'heatmaps must be {self.heatmap_size[1]}x{self.heatmap_size[0]} '
                             f'(h x w, heatmap_size={self.heatmap_size}), got '
                             f'{heatmaps.shape[-2]}x{heatmaps.shape[-1]}')
        keypoints, scores = decode_heatmap_argmax(heatmaps)
        keypoints = self._refine(keypoints, heatmaps)
        keypoints[scores <= 0] = 0
        return keypoints * self.stride, scores
