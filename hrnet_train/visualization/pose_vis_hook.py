"""Write images with the predicted skeletons drawn, after validation/testing."""
from __future__ import annotations

import os
import os.path as osp
from collections import defaultdict
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook

from hrnet_train.datasets.transforms.loading import read_image
from hrnet_train.registry import HOOKS
from hrnet_train.utils.samples import get_sample_field

from .pose import draw_pose


@HOOKS.register_module()
class PoseVisualizationHook(Hook):
    """Draw every predicted pose of an image onto it and save it under
    ``<work_dir>/vis/<phase>_<epoch or iter>/<image file name>``.

    Args:
        bbox_score_thr: skip instances whose box score is below this (detector boxes include
            many low-score boxes).
        keypoint_score_thr: draw a keypoint when its score is above this.
        max_images: at most this many images per evaluation.
        phases: 'val' and/or 'test'.
    """

    priority = 'LOW'

    def __init__(self, *, bbox_score_thr: float = 0.3, keypoint_score_thr: float = 0.2,
                 max_images: int = 20, phases: Sequence[str] = ('val', 'test')) -> None:
        self.bbox_score_thr = bbox_score_thr
        self.keypoint_score_thr = keypoint_score_thr
        self.max_images = max_images
        self.phases = tuple(phases)
        self._poses: dict[str, list] = defaultdict(list)
        self.last_out_dir: Optional[str] = None

    def _collect(self, outputs) -> None:
        for sample in outputs or ():
            kpts = get_sample_field(sample, 'pred_keypoints')
            path = get_sample_field(sample, 'img_path')
            if kpts is None or path is None:
                continue
            if float(get_sample_field(sample, 'bbox_score', 1.0)) < self.bbox_score_thr:
                continue
            scores = get_sample_field(sample, 'pred_keypoint_scores')
            self._poses[path].append((np.asarray(kpts), np.asarray(scores)))

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if 'val' in self.phases:
            self._collect(outputs)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if 'test' in self.phases:
            self._collect(outputs)

    def _gather(self) -> dict:
        """Every rank's poses, merged (a distributed sampler splits one image's people)."""
        from mmengine.dist import all_gather_object, get_world_size
        if get_world_size() == 1:
            return dict(self._poses)
        merged: dict[str, list] = defaultdict(list)
        for part in all_gather_object(dict(self._poses)):
            for path, poses in part.items():
                merged[path].extend(poses)
        return dict(merged)

    def _write(self, runner, phase: str, dataloader) -> None:
        from mmengine.dist import is_main_process
        all_poses = self._gather()
        self._poses.clear()
        if not all_poses or not is_main_process():
            return
        meta = getattr(dataloader.dataset, 'metainfo', {}) or {}
        skeleton = meta.get('skeleton', ())
        tag = f'{phase}_epoch{runner.epoch}' if phase == 'val' else phase
        out_dir = osp.join(runner.work_dir, 'vis', tag)
        os.makedirs(out_dir, exist_ok=True)
        for path in sorted(all_poses)[:self.max_images]:
            poses = all_poses[path]
            img = read_image(path)
            kpts = np.stack([p[0] for p in poses])
            scores = np.stack([p[1] for p in poses])
            drawn = draw_pose(img, kpts, scores, skeleton, score_thr=self.keypoint_score_thr)
            cv2.imwrite(osp.join(out_dir, osp.basename(path)),
                        cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
        runner.logger.info(f'wrote {min(len(all_poses), self.max_images)} images with predicted '
                           f'skeletons to {out_dir}')
        self.last_out_dir = out_dir

    def after_val_epoch(self, runner, metrics=None) -> None:
        if 'val' in self.phases:
            self._write(runner, 'val', runner.val_dataloader)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if 'test' in self.phases:
            self._write(runner, 'test', runner.test_dataloader)
