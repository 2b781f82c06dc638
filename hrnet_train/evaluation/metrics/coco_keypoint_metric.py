"""COCO keypoint AP for top-down pose estimation, as the official HRNet evaluation.

Official recipe (REFERENCE §3.1, leoxiaobin/deep-high-resolution-net.pytorch:lib/dataset/coco.py
``evaluate``): instance score = box score x mean of the keypoint scores above ``in_vis_thre`` (0.2),
OKS-NMS at 0.9 per image with area = ``prod(scale * 200)`` (the padded box in pixels), then
pycocotools ``COCOeval(iouType='keypoints')``. ``score_mode='bbox_rle'`` is mmpose's rescoring for
RLE regression heads (open-mmlab/mmpose:mmpose/evaluation/metrics/coco_metric.py
``CocoMetric.compute_metrics``).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from hrnet_train.registry import METRICS
from hrnet_train.utils.arrays import to_numpy
from hrnet_train.utils.errors import ConfigError

from ..functional.coco_eval import (
    coco_results_file,
    evaluate_coco_results,
    format_coco_stats,
    load_coco_gt,
    zero_coco_stats,
)
from ..functional.nms import oks_nms, soft_oks_nms

_SCORE_MODES = ('bbox', 'bbox_keypoint', 'bbox_rle')
_NMS_MODES = ('oks_nms', 'soft_oks_nms', 'none')


@METRICS.register_module()
class CocoKeypointMetric(BaseMetric):
    """COCO keypoint AP/AR of top-down predictions (one person instance per data sample).

    ``process`` reads from each flat data-sample dict:
        img_id (int), id (int, instance id; duplicates within an image are dropped),
        category_id (int, default 1), pred_keypoints (K, 2) image pixels, pred_keypoint_scores (K,),
        bbox_score (float, default 1.0), bbox_scale (2,) padded box (w, h) in pixels, whose product
        is the instance area for OKS-NMS (without it, the keypoint extent is used, as mmpose does).

    Args:
        ann_file: COCO keypoint GT json. None (the configs' default) evaluates against the
            annotation file of the dataset being evaluated (``dataset_meta['ann_file']``, set by
            ``CocoKeypointDataset``), so moving ``data_root`` moves the evaluator too.
        use_area: scale OKS by the GT ``area`` (True, COCO) or by ``0.53 * box area``.
        score_mode: the instance score that ranks poses for OKS-NMS and COCOeval:
            ``'bbox'``: the box score;
            ``'bbox_keypoint'``: box score x mean of the keypoint scores above
            ``keypoint_score_thr`` (0 if none; official);
            ``'bbox_rle'``: box score + mean + max of all K keypoint scores (mmpose's mode for RLE
            regression heads; ``keypoint_score_thr`` is not used). The score is a sum, so it can
            exceed 1; only its order matters to NMS and COCOeval.
        keypoint_score_thr: official ``in_vis_thre``; used by ``'bbox_keypoint'`` only.
        nms_mode: ``'oks_nms'``, ``'soft_oks_nms'`` or ``'none'``.
        nms_thr: OKS threshold of the NMS (official 0.9).
        format_only: only write ``<outfile_prefix>.keypoints.json`` and return ``{}``.
        outfile_prefix: where to write the results json; None writes to a temporary directory.
        collect_device: ``'cpu'`` or ``'gpu'``, see mmengine ``BaseMetric``.
        prefix: key prefix; defaults to ``'coco'`` (``coco/AP`` ...).

    Keypoint sigmas come from ``dataset_meta['sigmas']`` (COCO's 17 when absent).
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 *,
                 use_area: bool = True,
                 score_mode: str = 'bbox_keypoint',
                 keypoint_score_thr: float = 0.2,
                 nms_mode: str = 'oks_nms',
                 nms_thr: float = 0.9,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if score_mode not in _SCORE_MODES:
            raise ValueError(f'score_mode: expected one of {_SCORE_MODES}, got {score_mode!r}')
        if nms_mode not in _NMS_MODES:
            raise ValueError(f'nms_mode: expected one of {_NMS_MODES}, got {nms_mode!r}')
        if format_only and outfile_prefix is None:
            raise ValueError('outfile_prefix: required when format_only=True')
        self.ann_file = ann_file
        self.use_area = use_area
        self.score_mode = score_mode
        self.keypoint_score_thr = keypoint_score_thr
        self.nms_mode = nms_mode
        self.nms_thr = nms_thr
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self._coco = None  # GT is loaded on first evaluation, so building a config reads no file

    def _gt_file(self) -> str:
        ann_file = self.ann_file or (self.dataset_meta or {}).get('ann_file')
        if not ann_file:
            raise ConfigError(f'{type(self).__name__}: no ann_file given and the dataset meta has '
                              'none (CocoKeypointDataset provides it); set the evaluator ann_file')
        return ann_file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store one record per data sample (see the class docstring for the keys read)."""
        for sample in data_samples:
            for key in ('img_id', 'id', 'pred_keypoints', 'pred_keypoint_scores'):
                if key not in sample:
                    raise KeyError(f'{type(self).__name__}.process: data sample lacks {key!r}')
            keypoints = to_numpy(sample['pred_keypoints']).astype(np.float64)
            scores = to_numpy(sample['pred_keypoint_scores']).astype(np.float64)
            if keypoints.ndim == 3 and keypoints.shape[0] == 1:  # (1, K, 2) instance-batched
                keypoints, scores = keypoints[0], scores.reshape(-1)
            if (keypoints.ndim != 2 or keypoints.shape[1] != 2
                    or scores.shape != keypoints.shape[:1]):
                raise ValueError('pred_keypoints / pred_keypoint_scores: expected (K, 2) and '
                                 f'(K,), got {keypoints.shape} and {scores.shape}')
            if 'bbox_scale' in sample:
                area = float(np.prod(to_numpy(sample['bbox_scale'])))
            else:
                extent = keypoints.max(axis=0) - keypoints.min(axis=0)
                area = float(extent[0] * extent[1])
            self.results.append(
                dict(
                    img_id=int(to_numpy(sample['img_id'])),
                    id=int(to_numpy(sample['id'])),
                    category_id=int(to_numpy(sample.get('category_id', 1))),
                    keypoints=keypoints,
                    keypoint_scores=scores,
                    bbox_score=float(to_numpy(sample.get('bbox_score', 1.0))),
                    area=area))

    def _instance_score(self, rec: dict) -> float:
        if self.score_mode == 'bbox':
            return rec['bbox_score']
        kpt_scores = rec['keypoint_scores']
        if self.score_mode == 'bbox_rle':
            # mmpose coco_metric.py: bbox_score + mean + max of the keypoint scores, no threshold
            return rec['bbox_score'] + float(kpt_scores.mean()) + float(kpt_scores.max())
        valid = kpt_scores[kpt_scores > self.keypoint_score_thr]
        # official: mean over the confident keypoints, 0 if there is none
        return rec['bbox_score'] * (float(valid.mean()) if valid.size else 0.0)

    def _select(self, records: list[dict]) -> list[dict]:
        """Per-image NMS; ``records`` holds the instances of one image."""
        if self.nms_mode == 'none' or len(records) == 0:
            return records
        keypoints = np.stack([np.concatenate([r['keypoints'], r['keypoint_scores'][:, None]], 1)
                              for r in records])  # (N, K, 3)
        scores = np.array([r['score'] for r in records])
        areas = np.array([r['area'] for r in records])
        sigmas = (self.dataset_meta or {}).get('sigmas')
        nms = oks_nms if self.nms_mode == 'oks_nms' else soft_oks_nms
        keep = nms(keypoints, scores, areas, self.nms_thr, sigmas=sigmas)
        return [records[i] for i in keep]

    def results_to_coco(self, results: list[dict]) -> list[dict]:
        """Rescore, deduplicate and NMS the processed records; return COCO keypoint results.

        Returns:
            list of ``{'image_id', 'category_id', 'keypoints': 3K floats (x, y, score),
            'score'}``, grouped by image in order of first appearance.
        """
        by_image: dict[int, list[dict]] = OrderedDict()
        for rec in results:
            by_image.setdefault(rec['img_id'], []).append(rec)
        coco_results = []
        for recs in by_image.values():
            # Sort by instance id and drop repeats (samples padded by the distributed sampler).
            recs = sorted(recs, key=lambda r: r['id'])
            recs = [r for i, r in enumerate(recs) if i == 0 or r['id'] != recs[i - 1]['id']]
            for rec in recs:
                rec['score'] = self._instance_score(rec)
            for rec in self._select(recs):
                kpts = np.concatenate([rec['keypoints'], rec['keypoint_scores'][:, None]], axis=1)
                coco_results.append(
                    dict(
                        image_id=rec['img_id'],
                        category_id=rec['category_id'],
                        keypoints=kpts.reshape(-1).tolist(),
                        score=float(rec['score'])))
        return coco_results

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Write ``<prefix>.keypoints.json`` and evaluate it with pycocotools ``COCOeval``."""
        logger: MMLogger = MMLogger.get_current_instance()
        coco_results = self.results_to_coco(results)

        with coco_results_file(coco_results, self.outfile_prefix, 'keypoints') as res_file:
            if self.outfile_prefix is not None:  # kept (tools/test.py --dump): say where
                logger.info(f'{type(self).__name__}: {len(coco_results)} results written to '
                            f'{res_file}')
            if self.format_only:
                return {}
            if not coco_results:
                print_log(f'{type(self).__name__}: no predictions to evaluate; every stat is 0',
                          logger='current', level=logging.WARNING)
                return self.zero_stats()
            if self._coco is None:
                self._coco = load_coco_gt(self._gt_file())
            stats = self.evaluate_results_file(res_file, (self.dataset_meta or {}).get('sigmas'))
        logger.info(f'{type(self).__name__} ({len(coco_results)} results):\n'
                    f'{format_coco_stats(stats)}')
        return OrderedDict(stats)

    def zero_stats(self) -> dict[str, float]:
        """Every stat 0, for an evaluation without predictions."""
        return dict(zero_coco_stats('keypoints'))

    def evaluate_results_file(self, res_file: str, sigmas) -> dict[str, float]:
        """Evaluate the results file against ``self._coco`` (pycocotools ``COCOeval``)."""
        return evaluate_coco_results(self._coco, res_file, 'keypoints', sigmas,
                                     use_area=self.use_area)
