"""Write images with the predicted boxes drawn, after validation/testing."""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional, Sequence

import cv2
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from hrnet_train.datasets.transforms.loading import read_image
from hrnet_train.registry import HOOKS

from .det import draw_detections


def _get(sample, key: str, default=None):
    """A field or metainfo key of a data sample (``BaseDataElement`` or flat dict)."""
    if isinstance(sample, dict):
        return sample.get(key, default)
    if key in sample:
        return sample.get(key)
    return sample.metainfo.get(key, default)


@HOOKS.register_module()
class DetVisualizationHook(Hook):
    """Save the first ``max_images`` images of every evaluation with their predicted boxes.

    Files go to ``<work_dir>/vis/<tag>/<image file name>``, where ``<tag>`` is
    ``val_iter<n>`` (iteration-based training), ``val_epoch<n>`` (epoch-based training),
    ``val`` (``runner.val()`` alone) or ``test``. Only the main process writes (in distributed
    evaluation: the first images of its shard). File names that repeat within one evaluation
    (same name in two folders) get ``_1``, ``_2``... before the extension.

    Reads, per predicted data sample: ``img_path`` and ``pred_instances`` (``bboxes`` (D, 4)
    xyxy in original image pixels, ``scores``, ``labels``), as the detector's ``predict``
    fills them; the class names and palette come from ``dataset.metainfo`` (``classes``,
    ``palette``, as ``CocoDetection`` sets them).

    Args:
        score_thr: draw boxes scoring above this.
        max_images: at most this many images per evaluation; 0 writes none.
        phases: 'val' and/or 'test'.
    """

    priority = 'LOW'

    def __init__(self, *, score_thr: float = 0.3, max_images: int = 20,
                 phases: Sequence[str] = ('val', 'test')) -> None:
        if max_images < 0:
            raise ValueError(f'max_images must be >= 0, got {max_images}')
        if set(phases) - {'val', 'test'}:
            raise ValueError(f"phases must be a subset of ('val', 'test'), got {tuple(phases)}")
        self.score_thr = float(score_thr)
        self.max_images = int(max_images)
        self.phases = tuple(phases)
        self.last_out_dir: Optional[str] = None
        self._out_dir: Optional[str] = None
        self._classes: Sequence[str] = ()
        self._palette = None
        self._written: list[str] = []

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
        if phase not in self.phases or not is_main_process() or self.max_images == 0:
            return
        meta = getattr(dataloader.dataset, 'metainfo', None) or {}
        if not meta.get('classes'):
            runner.logger.warning(
                'DetVisualizationHook: the dataset metainfo has no classes; no images written')
            return
        self._classes = tuple(meta['classes'])
        self._palette = meta.get('palette')
        self._out_dir = osp.join(runner.work_dir, 'vis', self._tag(runner, phase))

    def _collect(self, outputs) -> None:
        if self._out_dir is None:
            return
        for sample in outputs or ():
            if len(self._written) >= self.max_images:
                return
            pred = _get(sample, 'pred_instances')
            path = _get(sample, 'img_path')
            if pred is None or path is None:
                continue
            self._write_one(pred, path)

    def _write_one(self, pred, img_path: str) -> None:
        os.makedirs(self._out_dir, exist_ok=True)
        stem, ext = osp.splitext(osp.basename(img_path))
        name, n = f'{stem}{ext}', 0
        while name in self._written:
            n += 1
            name = f'{stem}_{n}{ext}'
        self._written.append(name)
        drawn = draw_detections(read_image(img_path), _get(pred, 'bboxes'), _get(pred, 'labels'),
                                _get(pred, 'scores'), self._classes, score_thr=self.score_thr,
                                palette=self._palette)
        cv2.imwrite(osp.join(self._out_dir, name), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))

    def _finish(self, runner) -> None:
        if self._out_dir is not None and self._written:
            runner.logger.info(f'wrote {len(self._written)} images with predicted boxes to '
                               f'{self._out_dir}')
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
