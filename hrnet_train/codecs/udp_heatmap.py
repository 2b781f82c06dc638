"""UDP Gaussian heatmap codec (Huang et al., "The Devil is in the Details", CVPR 2020)."""
from __future__ import annotations

import numpy as np

from hrnet_train.registry import KEYPOINT_CODECS

from .base import BaseHeatmapCodec
from .functional import refine_keypoints_dark_udp, render_udp_gaussian_heatmaps


@KEYPOINT_CODECS.register_module()
class UDPHeatmap(BaseHeatmapCodec):
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

    Attributes:
        flip_shift: 0. With UDP's unit-length scaling, mirroring the input (x -> W - 1 - x)
            mirrors the heatmap exactly (h -> w - 1 - h): no shift after flipping back.
    """

    flip_shift = 0.0

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int],
                 sigma: float = 2., *, blur_kernel_size: int = 11) -> None:
        super().__init__(input_size, heatmap_size, sigma, blur_kernel_size)
        # (2,) input pixels per heatmap pixel, (x, y).
        self.stride = ((np.array(self.input_size, dtype=np.float32) - 1)
                       / (np.array(self.heatmap_size, dtype=np.float32) - 1))

    def _render(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return render_udp_gaussian_heatmaps(keypoints, visible, self.heatmap_size, self.sigma)

    def _refine(self, keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
        return refine_keypoints_dark_udp(keypoints, heatmaps,
                                         blur_kernel_size=self.blur_kernel_size)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'heatmap_size={self.heatmap_size}, sigma={self.sigma}, '
                f'blur_kernel_size={self.blur_kernel_size})')
