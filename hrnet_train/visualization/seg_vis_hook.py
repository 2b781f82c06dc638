"""Write coloured predicted label maps and overlays after validation/testing."""
from __future__ import annotations

import os
import os.path as osp
from typing import Sequence

import cv2
import numpy as np
import torch

from hrnet_train.datasets.transforms.loading import read_image
from hrnet_train.registry import HOOKS

from .eval_image_hook import EvalImageHook
from .seg import colorize_seg_map, overlay


def _as_label_map(seg) -> np.ndarray:
    """(H, W) int64 from a tensor / array of shape (H, W) or (1, H, W)."""
    if hasattr(seg, 'data') and not isinstance(seg, (torch.Tensor, np.ndarray)):
        seg = seg.data  # mmseg-style PixelData
    if isinstance(seg, torch.Tensor):
        seg = seg.detach().cpu().numpy()
    seg = np.asarray(seg)
    if seg.ndim == 3 and seg.shape[0] == 1:
        seg = seg[0]
    if seg.ndim != 2:
        raise ValueError(f'pred_seg_map must be (H, W) or (1, H, W), got {seg.shape}')
    return seg.astype(np.int64)


@HOOKS.register_module()
class SegVisualizationHook(EvalImageHook):
    """Save the predicted label maps of the first ``max_images`` images of every evaluation.

    For each image, under ``<work_dir>/vis/<tag>/`` (``<tag>``: ``val_iter<n>``,
    ``val_epoch<n>``, ``val`` or ``test``; see :class:`EvalImageHook`):

    - ``<image stem>.png``: the prediction coloured with the dataset palette
      (``dataset.metainfo['palette']``, class id -> RGB), at the original image size;
    - ``<image stem>_overlay.png``: that colour blended over the image with weight ``alpha``.

    Image stems that repeat within one evaluation (same file name in two folders) get ``_1``,
    ``_2``... appended.

    Reads, per predicted data sample: ``pred_seg_map`` (H, W) int64 at ``ori_shape`` (as
    ``EncoderDecoder.predict`` fills it) and ``img_path``.

    Args:
        max_images: at most this many images per evaluation; 0 writes none.
        alpha: colour weight of the overlay, in [0, 1].
        phases: 'val' and/or 'test'.
    """

    pred_key = 'pred_seg_map'
    written_as = 'predicted label maps (+ overlays)'

    def __init__(self, *, max_images: int = 20, alpha: float = 0.5,
                 phases: Sequence[str] = ('val', 'test')) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        super().__init__(max_images=max_images, phases=phases)
        self.alpha = float(alpha)
        self._palette = None

    def prepare(self, runner, meta: dict) -> bool:
        palette = meta.get('palette')
        if palette is None:
            runner.logger.warning(
                'SegVisualizationHook: the dataset metainfo has no palette; no images written')
            return False
        self._palette = palette
        return True

    def write(self, pred, img_path: str, out_dir: str) -> None:
        seg = _as_label_map(pred)
        os.makedirs(out_dir, exist_ok=True)
        name = self.unique_name(osp.splitext(osp.basename(img_path))[0])
        color = colorize_seg_map(seg, self._palette)  # (H, W, 3) RGB
        img = read_image(img_path)
        if img.shape[:2] != seg.shape:
            # pred_seg_map is at ori_shape; differs only for a pipeline without LoadImage's
            # ori_shape, or one that rotates/crops the image.
            img = cv2.resize(img, (seg.shape[1], seg.shape[0]), interpolation=cv2.INTER_LINEAR)
        blended = overlay(img, seg, self._palette, alpha=self.alpha)
        cv2.imwrite(osp.join(out_dir, f'{name}.png'), cv2.cvtColor(color, cv2.COLOR_RGB2BGR))
        cv2.imwrite(osp.join(out_dir, f'{name}_overlay.png'),
                    cv2.cvtColor(blended, cv2.COLOR_RGB2BGR))
