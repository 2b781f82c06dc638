"""What the hooks that write prediction images after validation/testing share."""
from __future__ import annotations

import os.path as osp
from abc import ABCMeta, abstractmethod
from typing import Any, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from hrnet_train.utils.samples import get_sample_field

from .names import UniqueNames


def eval_tag(runner, phase: str) -> str:
    """``val_iter<n>`` (iteration-based training), ``val_epoch<n>`` (epoch-based training),
    ``val`` (``runner.val()`` alone) or ``test``."""
    if phase == 'test':
        return 'test'
    # The train loop is only built by runner.train(); a bare runner.val() has none.
    loop = getattr(runner, '_train_loop', None)
    if isinstance(loop, IterBasedTrainLoop):
        return f'val_iter{runner.iter}'
    if isinstance(loop, EpochBasedTrainLoop):
        return f'val_epoch{runner.epoch}'
    return 'val'


class EvalImageHook(Hook, metaclass=ABCMeta):
    """Write an image per prediction of the first ``max_images`` images of every evaluation to
    ``<work_dir>/vis/<tag>/`` (:func:`eval_tag`), on the main process only (in distributed
    evaluation: the first images of its shard).

    Subclasses set ``pred_key`` (the data-sample field holding the prediction) and ``written_as``
    (what the log line calls the files) and implement :meth:`prepare` (read what drawing needs
    from the dataset meta) and :meth:`write` (draw one prediction; name files with
    :meth:`unique_name`, so that images of the same name in two folders do not overwrite each
    other).

    Args:
        max_images: at most this many images per evaluation; 0 writes none.
        phases: 'val' and/or 'test'.
    """

    priority = 'LOW'
    pred_key = ''
    written_as = 'images'

    def __init__(self, *, max_images: int = 20, phases: Sequence[str] = ('val', 'test')) -> None:
        if max_images < 0:
            raise ValueError(f'max_images must be >= 0, got {max_images}')
        if set(phases) - {'val', 'test'}:
            raise ValueError(f"phases must be a subset of ('val', 'test'), got {tuple(phases)}")
        self.max_images = int(max_images)
        self.phases = tuple(phases)
        self.last_out_dir: Optional[str] = None
        self._out_dir: Optional[str] = None
        self._names = UniqueNames()

    # ------------------------------------------------------------------ for subclasses
    def prepare(self, runner, meta: dict) -> bool:
        """Read what drawing needs from the dataset meta; False (after a warning) skips."""
        return True

    @abstractmethod
    def write(self, pred: Any, img_path: str, out_dir: str) -> None:
        """Draw one prediction of the image at ``img_path`` into ``out_dir`` (every subclass
        implements it; the base class cannot be built)."""

    def unique_name(self, stem: str) -> str:
        """``stem``, or ``stem_1``, ``stem_2``... when already used in this evaluation."""
        return self._names(stem)

    # ------------------------------------------------------------------ per evaluation
    def _start(self, runner, phase: str, dataloader) -> None:
        self._names, self._out_dir = UniqueNames(), None
        if phase not in self.phases or not is_main_process() or self.max_images == 0:
            return
        meta = getattr(dataloader.dataset, 'metainfo', None) or {}
        if self.prepare(runner, dict(meta)):
            self._out_dir = osp.join(runner.work_dir, 'vis', eval_tag(runner, phase))

    def _collect(self, outputs) -> None:
        if self._out_dir is None:
            return
        for sample in outputs or ():
            if len(self._names) >= self.max_images:
                return
            pred = get_sample_field(sample, self.pred_key)
            path = get_sample_field(sample, 'img_path')
            if pred is not None and path is not None:
                self.write(pred, path, self._out_dir)

    def _finish(self, runner) -> None:
        if self._out_dir is not None and self._names:
            runner.logger.info(f'wrote {len(self._names)} {self.written_as} to {self._out_dir}')
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
