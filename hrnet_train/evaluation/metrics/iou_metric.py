"""Semantic segmentation metric: IoU accumulated over the whole dataset."""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from hrnet_train.evaluation.functional.confusion import intersect_and_union, summarize_areas
from hrnet_train.registry import METRICS
from hrnet_train.utils.arrays import to_numpy

_ALLOWED = ('mIoU', 'mDice')


def _squeeze_map(x: Any, key: str, img_path: str) -> np.ndarray:
    """(H, W) from (H, W) or (1, H, W); also accepts mmseg's ``{'data': ...}`` pixel data."""
    if isinstance(x, dict) and 'data' in x:
        x = x['data']
    x = to_numpy(x)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f'{key} must be (H, W) or (1, H, W), got {x.shape} for {img_path}')
    return x


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table with right-aligned columns."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def fmt(r: Sequence[str]) -> str:
        return '|' + '|'.join(f' {str(c):>{w}} ' for c, w in zip(r, widths)) + '|'

    return '\n'.join([line, fmt(header), line, *[fmt(r) for r in rows], line])


@METRICS.register_module()
class IoUMetric(BaseMetric):
    """mIoU / mAcc / aAcc (and optionally mDice) over the whole dataset.

    ``process`` adds up the per-class intersection, union, prediction and label areas of every
    image; ``compute_metrics`` turns the dataset totals into IoU (never a mean of per-image
    mIoUs). Classes absent from both prediction and label are NaN and left out of the means.

    ``process`` reads, per flat data sample dict: ``pred_seg_map`` (H, W) int (tensor or
    ndarray) and ``gt_seg_map`` (1, H, W) or (H, W) int, 255 = ignore, at the same size.

    Returns (percent): ``aAcc``, ``mIoU``, ``mAcc``, [``mDice``], and ``IoU.<class>`` per class
    (``Dice.<class>`` too with 'mDice'). A per-class table is logged.

    Args:
        iou_metrics: any of 'mIoU', 'mDice'.
        ignore_index: label value skipped.
        num_classes: used when the dataset meta has no ``classes`` (class names become '0', '1'...).
        prefix, collect_device: see mmengine ``BaseMetric``.
    """

    default_prefix: Optional[str] = None

    def __init__(self, iou_metrics: Sequence[str] = ('mIoU',), *, ignore_index: int = 255,
                 num_classes: Optional[int] = None, prefix: Optional[str] = None,
                 collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(iou_metrics, str):
            iou_metrics = (iou_metrics,)
        unknown = [m for m in iou_metrics if m not in _ALLOWED]
        if unknown or not iou_metrics:
            raise ValueError(
                f'iou_metrics must be a non-empty subset of {_ALLOWED}, got {iou_metrics}')
        self.iou_metrics = tuple(iou_metrics)
        self.ignore_index = ignore_index
        self._num_classes = num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        meta = self.dataset_meta or {}
        if meta.get('classes'):
            return tuple(meta['classes'])
        if self._num_classes is None:
            raise ValueError(
                'IoUMetric needs the class names: set by the runner from the dataset meta '
                "('classes'), or pass num_classes=")
        return tuple(str(i) for i in range(self._num_classes))

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        num_classes = len(self.class_names)
        for sample in data_samples:
            img_path = sample.get('img_path', '<unknown image>')
            if 'gt_seg_map' not in sample:
                raise KeyError(f'IoUMetric needs gt_seg_map in the data sample of {img_path}')
            pred = _squeeze_map(sample['pred_seg_map'], 'pred_seg_map', img_path)
            label = _squeeze_map(sample['gt_seg_map'], 'gt_seg_map', img_path)
            if pred.shape != label.shape:
                raise ValueError(
                    f'pred_seg_map {pred.shape} and gt_seg_map {label.shape} differ for {img_path}')
            self.results.append(
                intersect_and_union(pred, label, num_classes, ignore_index=self.ignore_index))

    def compute_metrics(self, results: list) -> dict[str, float]:
        names = self.class_names
        totals = [np.sum([r[i] for r in results], axis=0) for i in range(4)]
        summary = summarize_areas(*totals)
        absent = [name for name, area in zip(names, totals[3]) if area == 0]
        if absent:  # their IoU is NaN and mIoU averages the others: say so
            print_log(f'IoUMetric: {len(absent)} of {len(names)} classes have no ground-truth '
                      f'pixel in the evaluated set ({", ".join(absent[:10])}'
                      f'{", ..." if len(absent) > 10 else ""}); mIoU averages the other '
                      f'{len(names) - len(absent)}. If the labels use fewer classes than '
                      'metainfo.classes, check the dataset metainfo and num_classes',
                      logger='current', level=logging.WARNING)

        header = ['Class', 'IoU', 'Acc'] + (['Dice'] if 'mDice' in self.iou_metrics else [])
        rows = []
        for c, name in enumerate(names):
            row = [name, f'{summary["IoU"][c] * 100:.2f}', f'{summary["Acc"][c] * 100:.2f}']
            if 'mDice' in self.iou_metrics:
                row.append(f'{summary["Dice"][c] * 100:.2f}')
            rows.append(row)
        print_log('per class results:\n' + format_table(header, rows), logger='current')

        metrics = dict(aAcc=summary['aAcc'] * 100)
        if 'mIoU' in self.iou_metrics:
            metrics['mIoU'] = summary['mIoU'] * 100
        metrics['mAcc'] = summary['mAcc'] * 100
        if 'mDice' in self.iou_metrics:
            metrics['mDice'] = summary['mDice'] * 100
        for c, name in enumerate(names):
            metrics[f'IoU.{name}'] = float(summary['IoU'][c] * 100)
            if 'mDice' in self.iou_metrics:
                metrics[f'Dice.{name}'] = float(summary['Dice'][c] * 100)
        return metrics
