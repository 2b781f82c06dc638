"""Write coloured predicted label maps and overlays after validation/testing."""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from hrnet_train.datasets.transforms.loading import read_image
from hrnet_train.registry import HOOKS

from .seg import colorize_seg_map, overlay


def _get(sample, key: str, default=None):
    """A field or metainfo key of a data sample (``BaseDataElement`` or flat dict)."""
    if isinstance(sample, dict):
        return sample.get(key, default)
    if key in sample:
        return sample.get(key)
    return sample.metainfo.get(key, default)


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
class SegVisualizationHook(Hook):
    """Save the predicted label maps of the first ``max_images`` images of every evaluation.

    For each image, under ``<work_dir>/vis/<tag>/``:

    - ``<image stem>.png``: the prediction coloured with the dataset palette
      (``dataset.metainfo['palette']``, class id -> RGB), at the original image size;
    - ``<image stem>_overlay.png``: that colour blended over the image with weight ``alpha``.

    ``<tag>`` is ``val_iter<n>`` (iteration-based training), ``val_epoch<n>`` (epoch-based
    training), ``val`` (``runner.val()`` alone) or ``test``. Only the main process writes (in
    distributed evaluation: the first images of its shard). Image stems that repeat within one
    evaluation (same file name in two folders) get ``_1``, ``_2``... appended.

    Reads, per predicted data sample: ``pred_seg_map`` (H, W) int64 at ``ori_shape`` (as
    ``EncoderDecoder.predict`` fills it) and ``img_path``.

    Args:
        max_images: at most this many images per evaluation; 0 writes none.
        alpha: colour weight of the overlay, in [0, 1].
        phases: 'val' and/or 'test'.
    """

    priority = 'LOW'

    def __init__(self, *, max_images: int = 20, alpha: float = 0.5,
                 phases: Sequence[str] = ('val', 'test')) -> None:
        if max_images < 0:
            raise ValueError(f'max_images must be >= 0, got {max_images}')
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        unknown = set(phases) - {'val', 'test'}
        if unknown:
            raise ValueError(f"phases must be a subset of ('val', 'test'), got {tuple(phases)}")
        self.max_images = int(max_images)
        self.alpha = float(alpha)
        self.phases = tuple(phases)
        self.last_out_dir: Optional[str] = None
        self._out_dir: Optional[str] = None
        self._palette = None
        self._written: list[str] = []

    # ------------------------------------------------------------------ per evaluation
    @staticmethod
    def _tag(runner, phase: str) -> str:
        if phase == 'test':
            return 'test'
        # The train loop is only built by runner.train(); a bare runner.val() has none.
        loop = getattr(runner, '_train_loop', None)
        if isinstance(loop, IterBasedTrainLoop):
            return f'val_iter{runner.iter}'
        if isinstance(loop, EpochBasedTrainLoop):
            return f'val_epoch{runner.epoch}'
        return 'val'

    def _start(self, runner, phase: str, dataloader) -> None:
        self._written = []
        self._out_dir = None
        if phase not in self.phases or not is_main_process():
            return
        meta = getattr(dataloader.dataset, 'metainfo', None) or {}
        palette = meta.get('palette')
        if palette is None:
            runner.logger.warning(
                'SegVisualizationHook: the dataset metainfo has no palette; no images written')
            return
        self._palette = palette
        self._out_dir = osp.join(runner.work_dir, 'vis', self._tag(runner, phase))

    def _collect(self, outputs) -> None:
        if self._out_dir is None:
            return
        for sample in outputs or ():
            if len(self._written) >= self.max_images:
                return
            pred = _get(sample, 'pred_seg_map')
            path = _get(sample, 'img_path')
            if pred is None or path is None:
                continue
            self._write_one(_as_label_map(pred), path)

    def _write_one(self, seg: np.ndarray, img_path: str) -> None:
        os.makedirs(self._out_dir, exist_ok=True)
        stem = osp.splitext(osp.basename(img_path))[0]
        name, n = stem, 0
        while name in self._written:
            n += 1
            name = f'{stem}_{n}'
        self._written.append(name)
        color = colorize_seg_map(seg, self._palette)  # (H, W, 3) RGB
        img = read_image(img_path)
        if img.shape[:2] != seg.shape:
            # pred_seg_map is at ori_shape; differs only for a pipeline without LoadImage's
            # ori_shape, or one that rotates/crops the image.
            img = cv2.resize(img, (seg.shape[1], seg.shape[0]), interpolation=cv2.INTER_LINEAR)
        blended = overlay(img, seg, self._palette, alpha=self.alpha)
        cv2.imwrite(osp.join(self._out_dir, f'{name}.png'),
                    cv2.cvtColor(color, cv2.COLOR_RGB2BGR))
        cv2.imwrite(osp.join(self._out_dir, f'{name}_overlay.png'),
                    cv2.cvtColor(blended, cv2.COLOR_RGB2BGR))

    def _finish(self, runner) -> None:
        if self._out_dir is not None and self._written:
            runner.logger.info(f'wrote {len(self._written)} predicted label maps (+ overlays) '
                               f'to {self._out_dir}')
            self.last_out_dir = self._out_dir
        self._out_dir = None

    # ------------------------------------------------------------------ hook points
    def before_val_epoch(self, runner) -> None:
        self._start(runner, 'val', runner.val_dataloader)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._collect(outputs)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._finish(runner)

    def before_test_epoch(self, runner) -> None:
        self._start(runner, 'test', runner.test_dataloader)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._collect(outputs)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._finish(runner)
