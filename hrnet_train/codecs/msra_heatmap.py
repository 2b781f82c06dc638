"""MSRA Gaussian heatmap codec of the official HRNet pose code, with an optional DARK mode."""
from __future__ import annotations

import numpy as np

from hrnet_train.registry import KEYPOINT_CODECS

from .base import BaseHeatmapCodec
from .functional import (
    refine_keypoints_dark,
    refine_keypoints_quarter_offset,
    render_gaussian_heatmaps,
    render_unbiased_gaussian_heatmaps,
)


@KEYPOINT_CODECS.register_module()
class MSRAHeatmap(BaseHeatmapCodec):
    """Keypoints <-> Gaussian heatmaps as in leoxiaobin/deep-high-resolution-net.pytorch.

    Input pixels map to heatmap pixels by ``x / stride`` with ``stride = input_size /
    heatmap_size`` (4 for 256x192 -> 64x48), and back by ``x * stride``.

    Args:
        input_size: model input (width, height) in pixels, e.g. (192, 256).
        heatmap_size: heatmap (width, height), e.g. (48, 64).
        sigma: Gaussian standard deviation in heatmap pixels (2 for 256x192, 3 for 384x288).
        unbiased: DARK mode: render at the exact sub-pixel location and decode with the DARK
            Taylor refinement instead of the quarter-pixel offset.
        blur_kernel_size: odd kernel of the DARK modulation blur (only used when unbiased).

    Attributes:
        flip_shift: heatmap pixels by which a heatmap predicted on a horizontally flipped input
            is shifted right after mirroring it back (flip test). An input pixel x mirrors to
            ``W - 1 - x``, i.e. heatmap ``h`` to ``w - 1/stride - h``, so mirroring the heatmap
            leaves it ``1 - 1/stride`` pixels left of the original: 0.75 for stride 4 with the
            exact (DARK) rendering. With the rounded MSRA rendering the rendered peak moves by
            a whole pixel instead, which is the official ``SHIFT_HEATMAP`` of 1.
    """

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int],
                 sigma: float = 2., *, unbiased: bool = False,
                 blur_kernel_size: int = 11) -> None:
        super().__init__(input_size, heatmap_size, sigma, blur_kernel_size)
        self.unbiased = unbiased
        # (2,) input pixels per heatmap pixel, (x, y).
        self.stride = (np.array(self.input_size, dtype=np.float32)
                       / np.array(self.heatmap_size, dtype=np.float32))
        self.flip_shift = float(1 - 1 / self.stride[0]) if unbiased else 1.0

    def _render(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        render = render_unbiased_gaussian_heatmaps if self.unbiased else render_gaussian_heatmaps
        return render(keypoints, visible, self.heatmap_size, self.sigma)

    def _refine(self, keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
        if self.unbiased:
            return refine_keypoints_dark(keypoints, heatmaps,
                                         blur_kernel_size=self.blur_kernel_size)
        return refine_keypoints_quarter_offset(keypoints, heatmaps)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'heatmap_size={self.heatmap_size}, sigma={self.sigma}, '
                f'unbiased={self.unbiased}, blur_kernel_size={self.blur_kernel_size})')
