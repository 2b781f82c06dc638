"""Write images with the predicted boxes drawn, after validation/testing."""
from __future__ import annotations

import os
import os.path as osp
from typing import Sequence

import cv2

from hrnet_train.datasets.transforms.loading import read_image
from hrnet_train.registry import HOOKS
from hrnet_train.utils.samples import get_sample_field

from .det import draw_detections
from .eval_image_hook import EvalImageHook


@HOOKS.register_module()
class DetVisualizationHook(EvalImageHook):
    """Save the first ``max_images`` images of every evaluation with their predicted boxes.

    Files go to ``<work_dir>/vis/<tag>/<image file name>`` (``<tag>``: ``val_iter<n>``,
    ``val_epoch<n>``, ``val`` or ``test``; see :class:`EvalImageHook`). File names that repeat
    within one evaluation (same name in two folders) get ``_1``, ``_2``... before the extension.

    Reads, per predicted data sample: ``img_path`` and ``pred_instances`` (``bboxes`` (D, 4)
    xyxy in original image pixels, ``scores``, ``labels``), as the detector's ``predict``
    fills them; the class names and palette come from ``dataset.metainfo`` (``classes``,
    ``palette``, as ``CocoDetection`` sets them).

    Args:
        score_thr: draw boxes scoring above this.
        max_images: at most this many images per evaluation; 0 writes none.
        phases: 'val' and/or 'test'.
    """

    pred_key = 'pred_instances'
    written_as = 'images with predicted boxes'

    def __init__(self, *, score_thr: float = 0.3, max_images: int = 20,
                 phases: Sequence[str] = ('val', 'test')) -> None:
        super().__init__(max_images=max_images, phases=phases)
        self.score_thr = float(score_thr)
        self._classes: Sequence[str] = ()
        self._palette = None

    def prepare(self, runner, meta: dict) -> bool:
        if not meta.get('classes'):
            runner.logger.warning(
                'DetVisualizationHook: the dataset metainfo has no classes; no images written')
            return False
        self._classes = tuple(meta['classes'])
        self._palette = meta.get('palette')
        return True

    def write(self, pred, img_path: str, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        stem, ext = osp.splitext(osp.basename(img_path))
        name = self.unique_name(stem) + ext
        drawn = draw_detections(read_image(img_path), get_sample_field(pred, 'bboxes'),
                                get_sample_field(pred, 'labels'),
                                get_sample_field(pred, 'scores'), self._classes,
                                score_thr=self.score_thr, palette=self._palette)
        cv2.imwrite(osp.join(out_dir, name), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
