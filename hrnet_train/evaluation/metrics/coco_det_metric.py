"""COCO box AP and proposal recall of detector predictions (pycocotools ``COCOeval``).

Behavioural reference: mmdet 3.x ``CocoMetric`` (open-mmlab/mmdetection:
mmdet/evaluation/metrics/coco_metric.py), metrics ``'bbox'`` and ``'proposal'``.
"""
from __future__ import annotations

import contextlib
import io
import logging
from collections import OrderedDict
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrnet_train.registry import METRICS
from hrnet_train.structures import xyxy_to_xywh
from hrnet_train.utils.arrays import to_numpy
from hrnet_train.utils.errors import ConfigError, DataError
from hrnet_train.utils.samples import get_sample_field

from ..functional.coco_eval import (
    coco_results_file,
    evaluate_coco_results,
    format_coco_stats,
    load_coco_gt,
    zero_coco_stats,
)

_METRICS = ('bbox', 'proposal')


def _as_id(value: Any) -> Any:
    """Image ids as plain Python values (tensors and numpy scalars become int)."""
    if hasattr(value, 'detach') or isinstance(value, np.generic) or isinstance(value, np.ndarray):
        return int(to_numpy(value))
    return value


def proposal_names(proposal_nums: Sequence[int]) -> list[str]:
    """Result keys of the 'proposal' metric: ``AR@N`` per N, then ``AR_{s,m,l}@max(N)``."""
    top = max(proposal_nums)
    return [f'AR@{n}' for n in proposal_nums] + [f'AR_{a}@{top}' for a in 'sml']


def evaluate_proposal_recall(coco: COCO, results: Sequence[dict],
                             proposal_nums: Sequence[int]) -> dict[str, float]:
    """Class-agnostic average recall of boxes: mmdet ``CocoMetric``'s 'proposal' metric.

    Every box counts whatever its category (``COCOeval`` with ``useCats=0``) and at most
    ``max(proposal_nums)`` boxes per image, highest score first, are kept
    (``params.maxDets = proposal_nums``). AR@N is COCOeval's AR over IoU 0.50:0.95 with the
    top N boxes per image, exactly as its summary computes ``AR@maxDets`` (area 'all'); the
    small / medium / large ARs use the largest N. Crowd GT boxes are matched without counting,
    as in COCOeval.

    Args:
        coco: the GT.
        results: COCO results (``image_id``, ``category_id``, ``bbox`` [x, y, w, h],
            ``score``), not empty, on image ids of the GT.
        proposal_nums: increasing box counts, e.g. (100, 300, 1000).

    Returns:
        ``{name: value}`` in :func:`proposal_names` order; -1 where no GT box is in the area
        range (pycocotools convention).
    """
    nums = [int(n) for n in proposal_nums]
    with contextlib.redirect_stdout(io.StringIO()):  # loadRes / evaluate print progress
        coco_dt = coco.loadRes([dict(r) for r in results])
        coco_eval = COCOeval(coco, coco_dt, 'bbox')
        coco_eval.params.useCats = 0
        coco_eval.params.maxDets = nums
        coco_eval.evaluate()
        coco_eval.accumulate()
    recall = coco_eval.eval['recall']  # (T IoUs, K=1, A areas, M maxDets), -1 = no GT

    def mean_recall(area: int, det: int) -> float:
        r = recall[:, :, area, det]
        r = r[r > -1]
        return float(r.mean()) if r.size else -1.0

    # params.areaRngLbl = ['all', 'small', 'medium', 'large']
    values = [mean_recall(0, m) for m in range(len(nums))] + [mean_recall(a, -1)
                                                             for a in (1, 2, 3)]
    return dict(zip(proposal_names(nums), values))


@METRICS.register_module()
class CocoDetMetric(BaseMetric):
    """COCO box AP (the 12 ``COCOeval`` stats) and proposal recall of detections.

    ``process`` reads from each data sample (a flat dict as mmengine's evaluator passes it, or a
    ``BaseDataElement``): ``img_id`` and ``pred_instances`` with ``bboxes`` (D, 4) xyxy in
    ORIGINAL image pixels, ``scores`` (D,) and ``labels`` (D,) int64 in [0, num_classes).
    Results are written in the COCO results format: ``bbox`` [x, y, w, h], ``score`` and
    ``category_id = cat_ids[label]``. A repeated image id (padding of a distributed sampler)
    counts once; boxes or scores that are NaN/Inf are dropped with one warning.

    Metrics (keys prefixed ``coco/``):

    - ``'bbox'``: ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``, ``AR1``, ``AR10``,
      ``AR100``, ``ARs``, ``ARm``, ``ARl`` of pycocotools with its standard parameters
      (maxDets 1/10/100; mmdet sets maxDets to ``proposal_nums`` here, which changes only the
      AR1/AR10 entries it does not report), over every image of the GT file.
    - ``'proposal'``: ``AR@100``, ``AR@300``, ``AR@1000``, ``AR_s@1000``, ``AR_m@1000``,
      ``AR_l@1000`` (for the default ``proposal_nums``) of the ``pred_instances`` taken
      class-agnostically: mmdet ``CocoMetric``'s 'proposal' (COCOeval with ``useCats=0`` and
      ``maxDets=proposal_nums``), not its 'proposal_fast'. See
      :func:`evaluate_proposal_recall`.

    Categories: ``cat_ids`` come from ``dataset_meta['cat_ids']`` (``CocoDetection``); without
    them, from the GT categories named by ``dataset_meta['classes']``, or every GT category in
    id order. When they are a subset of the GT's categories (a dataset built with
    ``metainfo=dict(classes=...)``), only those categories are evaluated (mmdet sets
    ``params.catIds``), for both metrics.

    Args:
        ann_file: COCO GT json. None evaluates against the annotation file of the dataset being
            evaluated (``dataset_meta['ann_file']``, set by ``CocoDetection``), so moving
            ``data_root`` moves the evaluator too.
        metric: ``'bbox'``, ``'proposal'`` or both.
        proposal_nums: box counts per image of the 'proposal' recalls, increasing.
        format_only: only write ``<outfile_prefix>.bbox.json`` and return ``{}`` (e.g.
            test-dev submissions, whose GT has no annotations).
        outfile_prefix: where to write the results json (``tools/test.py --dump`` sets it);
            None writes to a temporary directory.
        collect_device: ``'cpu'`` or ``'gpu'``, see mmengine ``BaseMetric``.
        prefix: key prefix; defaults to ``'coco'``.

    Raises (in ``compute_metrics``):
        DataError: a processed image id is not in the GT file; a ``cat_ids`` entry is not a GT
            category; a label outside ``[0, len(cat_ids))``.

    No results at all (no image processed, or no box) give every stat 0.0 with a warning.
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: Union[str, Sequence[str]] = ('bbox',),
                 *,
                 proposal_nums: Sequence[int] = (100, 300, 1000),
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = (metric,) if isinstance(metric, str) else tuple(metric)
        bad = [m for m in metrics if m not in _METRICS]
        if bad or not metrics:
            raise ConfigError(f'metric: expected one or more of {_METRICS}, got {metric!r}')
        nums = tuple(int(n) for n in proposal_nums)
        if not nums or any(n <= 0 for n in nums) or list(nums) != sorted(set(nums)):
            raise ConfigError(f'proposal_nums: expected increasing positive counts, e.g. '
                              f'(100, 300, 1000), got {proposal_nums!r}')
        if format_only and outfile_prefix is None:
            raise ConfigError('outfile_prefix: required when format_only=True')
        self.ann_file = ann_file
        self.metrics = metrics
        self.proposal_nums = nums
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self._coco: Optional[COCO] = None  # loaded on first evaluation: building reads no file
        self._coco_file: Optional[str] = None
        self._coco_subset: dict[tuple, COCO] = {}

    # ------------------------------------------------------------------ inputs
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store one record per data sample (see the class docstring for the keys read)."""
        for sample in data_samples:
            pred = get_sample_field(sample, 'pred_instances')
            img_id = get_sample_field(sample, 'img_id')
            if pred is None or img_id is None:
                raise KeyError(f'{type(self).__name__}.process: data sample lacks '
                               f'{"pred_instances" if pred is None else "img_id"!r}')
            missing = [k for k in ('bboxes', 'scores', 'labels')
                       if get_sample_field(pred, k) is None]
            if missing:
                raise KeyError(f'{type(self).__name__}.process: pred_instances of image {img_id} '
                               f'lacks {missing}')
            bboxes = to_numpy(get_sample_field(pred, 'bboxes')).astype(np.float64).reshape(-1, 4)
            scores = to_numpy(get_sample_field(pred, 'scores')).astype(np.float64).reshape(-1)
            labels = to_numpy(get_sample_field(pred, 'labels')).astype(np.int64).reshape(-1)
            if not len(bboxes) == len(scores) == len(labels):
                raise ValueError(f'pred_instances of image {img_id}: bboxes (D, 4), scores (D,) '
                                 f'and labels (D,) disagree: {len(bboxes)}, {len(scores)}, '
                                 f'{len(labels)}')
            self.results.append(dict(img_id=_as_id(img_id), bboxes=bboxes, scores=scores,
                                     labels=labels))

    # ------------------------------------------------------------------ GT and categories
    def _gt_file(self) -> str:
        ann_file = self.ann_file or (self.dataset_meta or {}).get('ann_file')
        if not ann_file:
            raise ConfigError(f'{type(self).__name__}: no ann_file given and the dataset meta has '
                              'none (CocoDetection provides it); set the evaluator ann_file')
        return ann_file

    def _load_gt(self) -> COCO:
        path = self._gt_file()
        if self._coco is None or self._coco_file != path:
            self._coco, self._coco_file, self._coco_subset = load_coco_gt(path), path, {}
        return self._coco

    def _cat_ids(self, coco: Optional[COCO]) -> list:
        """Label index -> COCO category id."""
        meta = self.dataset_meta or {}
        if meta.get('cat_ids') is not None:
            return list(meta['cat_ids'])
        if coco is None:
            raise ConfigError(f'{type(self).__name__}: format_only needs dataset_meta["cat_ids"] '
                              '(CocoDetection provides it) or a GT file to map labels to '
                              'category ids')
        cats = sorted(coco.dataset.get('categories', []), key=lambda c: c['id'])
        if meta.get('classes') is not None:
            by_name = {c['name']: c['id'] for c in cats}
            missing = [n for n in meta['classes'] if n not in by_name]
            if missing:
                raise DataError(f'dataset classes {missing[:5]} are not categories of '
                                f'{self._coco_file}')
            return sorted(by_name[n] for n in meta['classes'])
        return [c['id'] for c in cats]

    def _gt_for(self, coco: COCO, cat_ids: list) -> COCO:
        """The GT restricted to ``cat_ids`` (same as COCOeval ``params.catIds = cat_ids``)."""
        gt_cats = set(coco.getCatIds())
        unknown = [c for c in cat_ids if c not in gt_cats]
        if unknown:
            raise DataError(f'category ids {unknown[:5]} of the dataset (cat_ids) are not '
                            f'categories of {self._coco_file}')
        key = tuple(sorted(cat_ids))
        if set(key) == gt_cats:
            return coco
        if key not in self._coco_subset:
            keep = set(key)
            data = dict(coco.dataset)
            data['categories'] = [c for c in coco.dataset['categories'] if c['id'] in keep]
            data['annotations'] = [a for a in coco.dataset['annotations']
                                   if a['category_id'] in keep]
            self._coco_subset[key] = load_coco_gt(data)
        return self._coco_subset[key]

    # ------------------------------------------------------------------ outputs
    def results_to_coco(self, results: list[dict], cat_ids: Sequence) -> list[dict]:
        """Processed records -> COCO results (``image_id``, ``category_id``, ``bbox`` [x, y, w,
        h] in image pixels, ``score``), in record order; repeated image ids count once."""
        coco_results, seen, num_bad = [], set(), 0
        for rec in results:
            if rec['img_id'] in seen:
                continue
            seen.add(rec['img_id'])
            labels = rec['labels']
            bad = (labels < 0) | (labels >= len(cat_ids))
            if bad.any():
                raise DataError(f'{type(self).__name__}: image {rec["img_id"]} has label '
                                f'{int(labels[bad][0])}, expected [0, {len(cat_ids)}) '
                                f'(one per dataset class)')
            finite = np.isfinite(rec['bboxes']).all(1) & np.isfinite(rec['scores'])
            num_bad += int((~finite).sum())
            # As a float64 tensor: xyxy_to_xywh casts numpy input to float32, which moves the
            # official cocoapi example's AP by 5e-4.
            xywh = xyxy_to_xywh(torch.from_numpy(rec['bboxes'][finite])).numpy()
            for box, score, label in zip(xywh.tolist(), rec['scores'][finite].tolist(),
                                         labels[finite].tolist()):
                coco_results.append(dict(image_id=rec['img_id'], category_id=cat_ids[label],
                                         bbox=box, score=score))
        if num_bad:
            print_log(f'{type(self).__name__}: dropped {num_bad} predicted boxes with a NaN/Inf '
                      'coordinate or score', logger='current', level=logging.WARNING)
        return coco_results

    def _zero_stats(self) -> dict[str, float]:
        stats: dict[str, float] = OrderedDict()
        if 'bbox' in self.metrics:
            stats.update(zero_coco_stats('bbox'))
        if 'proposal' in self.metrics:
            stats.update({name: 0.0 for name in proposal_names(self.proposal_nums)})
        return stats

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Write ``<prefix>.bbox.json`` and evaluate it with pycocotools ``COCOeval``."""
        logger: MMLogger = MMLogger.get_current_instance()
        name = type(self).__name__
        coco = None if self.format_only and (self.dataset_meta or {}).get('cat_ids') is not None \
            else self._load_gt()
        cat_ids = self._cat_ids(coco)
        coco_results = self.results_to_coco(results, cat_ids)

        with coco_results_file(coco_results, self.outfile_prefix, 'bbox') as res_file:
            if self.outfile_prefix is not None:  # kept (tools/test.py --dump): say where
                logger.info(f'{name}: {len(coco_results)} results written to {res_file}')
            if self.format_only:
                return {}
            unknown = sorted({r['img_id'] for r in results} - set(coco.getImgIds()), key=str)
            if unknown:
                raise DataError(f'{name}: image id {unknown[0]} is not in the GT file '
                                f'{self._coco_file} ({len(unknown)} unknown image ids)')
            gt = self._gt_for(coco, cat_ids)
            if not coco_results:
                print_log(f'{name}: no predicted boxes to evaluate; every stat is 0',
                          logger='current', level=logging.WARNING)
                return self._zero_stats()
            stats: dict[str, float] = OrderedDict()
            if 'bbox' in self.metrics:
                stats.update(evaluate_coco_results(gt, coco_results, 'bbox'))
            if 'proposal' in self.metrics:
                stats.update(evaluate_proposal_recall(gt, coco_results, self.proposal_nums))
        logger.info(f'{name} ({len(coco_results)} boxes on {len({r["img_id"] for r in results})}'
                    f' images, {len(gt.getImgIds())} GT images):\n{format_coco_stats(stats)}')
        return stats
