"""MPII PCKh@0.5, the official HRNet evaluation table (leoxiaobin/deep-high-resolution-net.pytorch:
lib/dataset/mpii.py ``evaluate``; the maths is in ``evaluation/functional/pckh.py``)."""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from hrnet_train.registry import METRICS
from hrnet_train.utils.arrays import to_numpy
from hrnet_train.utils.errors import ConfigError, DataError

from ..functional.pckh import (
    MPII_JOINT_SHORT_NAMES,
    SC_BIAS,
    evaluate_mpii_pckh,
    format_mpii_pckh_table,
    load_mpii_gt_json,
    load_mpii_gt_mat,
)


@METRICS.register_module()
class MpiiPCKhMetric(BaseMetric):
    """The official MPII PCKh table: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Mean,
    Mean@0.1, in percent (keys ``mpii/Head`` ... ``mpii/Mean``, ``mpii/Mean@0.1``).

    ``process`` reads from each flat data-sample dict ``id`` (the person's index in valid.json,
    set by ``MPIIDataset``) and ``pred_keypoints`` (16, 2) 0-based image pixels. Results may come
    in any order and from several ranks: they are sorted by ``id`` and repeats (distributed
    sampler padding) dropped; then there must be exactly one prediction per GT person, ids
    0..N-1, or a ``DataError`` says what is missing. Predictions get +1 (MATLAB 1-based, as the
    GT) before the official maths.

    Args:
        gt_file: the GT. ``*.mat``: the official ``annot/gt_valid.mat`` (``pos_gt_src``,
            ``jnt_missing``, ``headboxes_src``; needs scipy). ``*.json``: a head-box file, one
            ``[[x1, y1], [x2, y2]]`` per person of valid.json in its order; joints and visibility
            then come from ``ann_file``. None (the configs' default): the val dataset's
            ``gt_file`` (``dataset_meta['gt_file']``, joined with its ``data_root``).
        ann_file: the annotation json for a JSON head-box file; None: the dataset's
            (``dataset_meta['ann_file']``).
        thr: PCKh threshold in head sizes (official 0.5).
        sc_bias: head size = sc_bias x head-box diagonal (official 0.6).
        low_thr_index: row of ``np.arange(0, 0.51, 0.01)`` reported as Mean@0.1: 11 (threshold
            0.11) as the official code, 10 (0.10) as mmpose ``MpiiPCKAccuracy``.
        collect_device, prefix: see mmengine ``BaseMetric``; the prefix defaults to ``'mpii'``.
    """

    default_prefix: Optional[str] = 'mpii'

    def __init__(self, gt_file: Optional[str] = None, *, ann_file: Optional[str] = None,
                 thr: float = 0.5, sc_bias: float = SC_BIAS, low_thr_index: int = 11,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 < thr:
            raise ValueError(f'thr: expected > 0, got {thr}')
        if not 0 <= low_thr_index <= 50:
            raise ValueError(f'low_thr_index: expected 0..50 (np.arange(0, 0.51, 0.01)), got '
                             f'{low_thr_index}')
        self.gt_file = gt_file
        self.ann_file = ann_file
        self.thr = thr
        self.sc_bias = sc_bias
        self.low_thr_index = low_thr_index
        self._gt = None  # read on first evaluation, so building a config reads no file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store (id, prediction) per data sample (see the class docstring)."""
        for sample in data_samples:
            for key in ('id', 'pred_keypoints'):
                if key not in sample:
                    raise KeyError(f'{type(self).__name__}.process: data sample lacks {key!r}')
            pred = to_numpy(sample['pred_keypoints']).astype(np.float64)
            if pred.ndim == 3 and pred.shape[0] == 1:  # (1, K, 2) instance-batched
                pred = pred[0]
            if pred.shape != (len(MPII_JOINT_SHORT_NAMES), 2):
                raise ValueError(f'pred_keypoints: expected (16, 2) MPII joints, got {pred.shape}')
            self.results.append(dict(id=int(to_numpy(sample['id'])), pred=pred))

    def _load_gt(self) -> dict:
        meta = self.dataset_meta or {}
        gt_file = self.gt_file or meta.get('gt_file')
        if not gt_file:
            raise ConfigError(f'{type(self).__name__}: no gt_file given and the dataset has none; '
                              'set val_dataloader.dataset.gt_file (annot/gt_valid.mat or a JSON '
                              'head-box file) or the evaluator gt_file')
        ext = os.path.splitext(gt_file)[1].lower()
        if ext == '.mat':
            return load_mpii_gt_mat(gt_file)
        if ext == '.json':
            ann_file = self.ann_file or meta.get('ann_file')
            if not ann_file:
                raise ConfigError(f'{type(self).__name__}: the JSON head-box file {gt_file} needs '
                                  'the annotation json (evaluator ann_file or an MPIIDataset)')
            return load_mpii_gt_json(ann_file, gt_file)
        raise ConfigError(f'{type(self).__name__}: gt_file {gt_file} must be a .mat '
                          '(official gt_valid.mat) or a .json head-box file')

    def compute_metrics(self, results: list) -> dict[str, float]:
        if self._gt is None:
            self._gt = self._load_gt()
        gt = self._gt
        num = len(gt['gt'])
        by_id = {}
        for rec in results:
            by_id.setdefault(rec['id'], rec['pred'])
        ids = sorted(by_id)
        if ids != list(range(num)):
            outside = [i for i in ids if not 0 <= i < num]
            missing = sorted(set(range(num)) - set(ids))
            raise DataError(
                f'{type(self).__name__}: {len(ids)} predicted persons for {num} GT persons; '
                f'expected ids 0..{num - 1} (the valid.json order), missing {missing[:5]}'
                f'{"..." if len(missing) > 5 else ""}, out of range {outside[:5]}')
        pred = np.stack([by_id[i] for i in ids]) + 1.0  # 0-based -> MATLAB 1-based (official)
        out = evaluate_mpii_pckh(pred, gt['gt'], gt['visible'], gt['headboxes'], thr=self.thr,
                                 sc_bias=self.sc_bias, low_thr_index=self.low_thr_index)
        per_joint = ', '.join(f'{n} {v:.1f}' for n, v in zip(MPII_JOINT_SHORT_NAMES,
                                                                 out['per_joint']))
        print_log(f'{type(self).__name__} (PCKh@{self.thr}, {num} persons):\n'
                  f'{format_mpii_pckh_table(out["table"])}\nper joint: {per_joint}',
                  logger='current', level=logging.INFO)
        return OrderedDict(out['table'])
