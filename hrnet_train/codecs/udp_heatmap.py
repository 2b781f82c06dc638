"""UDP Gaussian heatmap codec (Huang et al., "The Devil is in the Details", CVPR 2020)."""
from __future__ import annotations

import numpy as np

from hrnet_train.registry import KEYPOINT_CODECS

from .functional import (decode_heatmap_argmax, refine_keypoints_dark_udp,
                         render_udp_gaussian_heatmaps)
from .msra_heatmap import _check_size


@KEYPOINT_CODECS.register_module()
class UDPHeatmap:
    """Keypoints <-> Gaussian heatmaps with unbiased data processing.

    Input pixels map to heatmap pixels by ``x / stride`` with ``stride = (input_size - 1) /
    (heatmap_size - 1)``, so the first and last pixel centres of both grids coincide; decoding
    maps back with the same stride. Use it with ``TopdownAffine(use_udp=True)``.

    Args:
        input_size: model input (width, height) in pixels, e.g. (192, 256).
        heatmap_size: heatmap (width, height), e.g. (48, 64).
        sigma: Gaussian standard deviation in heatmap pixels.
        blur_kernel_size: odd kernel of the DARK-UDP modulation blur (11 for 64x48; mmpose uses 17
            for 96x72).
    """

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int],
                 sigma: float = 2., *, blur_kernel_size: int = 11) -> None:
        self.input_size = _check_size('input_size', input_size)
        self.heatmap_size = _check_size('heatmap_size', heatmap_size)
        if sigma <= 0:
            raise ValueError(f'sigma must be > 0, got {sigma}')
        if blur_kernel_size < 1 or blur_kernel_size % 2 != 1:
            raise ValueError(
                f'blur_kernel_size must be a positive odd integer, got {blur_kernel_size}')
        self.sigma = float(sigma)
        self.blur_kernel_size = blur_kernel_size
        # (2,) input pixels per heatmap pixel, (x, y).
        self.stride = ((np.array(self.input_size, dtype=np.float32) - 1)
                       / (np.array(self.heatmap_size, dtype=np.float32) - 1))

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray) -> dict:
        """Render the target heatmaps.

        Args:
            keypoints: (K, 2) float, (x, y) in input pixels.
            keypoints_visible: (K,) float in {0, 1}.

        Returns:
            dict with ``heatmaps`` (K, h, w) float32 and ``keypoint_weights`` (K,) float32.
        """
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if keypoints.ndim != 2 or keypoints.shape[1] != 2:
            raise ValueError(f'keypoints must have shape (K, 2), got {keypoints.shape}')
        heatmaps, weights = render_udp_gaussian_heatmaps(
            keypoints / self.stride, keypoints_visible, self.heatmap_size, self.sigma)
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
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        if heatmaps.ndim != 4:
            raise ValueError(f'heatmaps must have shape (N, K, h, w), got {heatmaps.shape}')
        if heatmaps.shape[-2:] != self.heatmap_size[::-1]:
            raise ValueError(f'heatmaps must be {self.heatmap_size[1]}x{self.heatmap_size[0]} '
                             f'(h x w, heatmap_size={self.heatmap_size}), got '
                             f'{heatmaps.shape[-2]}x{heatmaps.shape[-1]}')
        keypoints, scores = decode_heatmap_argmax(heatmaps)
        keypoints = refine_keypoints_dark_udp(keypoints, heatmaps,
                                              blur_kernel_size=self.blur_kernel_size)
        keypoints[scores <= 0] = 0
        return keypoints * self.stride, scores

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'heatmap_size={self.heatmap_size}, sigma={self.sigma}, '
                f'blur_kernel_size={self.blur_kernel_size})')
