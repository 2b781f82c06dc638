"""CrowdPose keypoint AP of top-down predictions: AP / AR and AP on easy, medium, hard images.

Predictions are rescored, deduplicated and OKS-NMSed exactly as by ``CocoKeypointMetric``
(official HRNet recipe); only the evaluation differs: crowdposetools' rules
(``evaluation/functional/crowdpose.py``), as mmpose ``CocoMetric(iou_type='keypoints_crowd',
use_area=False, prefix='crowdpose')`` in configs/body_2d_keypoint/topdown_heatmap/crowdpose/.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Optional

from mmengine.logging import MMLogger, print_log

from hrnet_train.registry import METRICS
from hrnet_train.utils.errors import ConfigError

from ..functional.coco_eval import coco_results_file, format_coco_stats, load_coco_gt
from ..functional.crowdpose import (
    CROWD_INDEX_THRESHOLDS,
    CROWDPOSE_STAT_NAMES,
    evaluate_crowdpose_results,
)
from .coco_keypoint_metric import CocoKeypointMetric


@METRICS.register_module()
class CrowdPoseMetric(CocoKeypointMetric):
    """CrowdPose AP (crowdposetools) of top-down predictions, one instance per data sample.

    ``process`` reads what ``CocoKeypointMetric.process`` reads. The stats are
    ``crowdpose/AP``, ``AP .5``, ``AP .75``, ``AR``, ``AR .5``, ``AR .75``, ``AP(E)``, ``AP(M)``,
    ``AP(H)``; the easy/medium/hard sets come from the GT ``images[].crowdIndex``.

    Args:
        ann_file: CrowdPose GT json; None evaluates against the dataset's (``CrowdPoseDataset``
            puts it in ``dataset_meta['ann_file']``).
        crowd_index_thresholds: easy ``< first``, medium ``< second``, hard otherwise
            (crowdposetools: (0.2, 0.8)).
        **kwargs: ``score_mode``, ``keypoint_score_thr``, ``nms_mode``, ``nms_thr``,
            ``format_only``, ``outfile_prefix``, ``collect_device``, ``prefix`` as
            ``CocoKeypointMetric``. ``use_area`` is not accepted: CrowdPose always scales OKS
            by ``0.53 * GT box area``.

    Keypoint sigmas come from ``dataset_meta['sigmas']`` (CrowdPose's 14 when absent).
    """

    default_prefix: Optional[str] = 'crowdpose'

    def __init__(self, ann_file: Optional[str] = None, *,
                 crowd_index_thresholds: tuple[float, float] = CROWD_INDEX_THRESHOLDS,
                 **kwargs) -> None:
        if 'use_area' in kwargs:
            raise ConfigError('CrowdPoseMetric: use_area is not an option (CrowdPose scales OKS '
                              'by 0.53 * GT box area, as crowdposetools); remove it')
        first, second = (float(t) for t in crowd_index_thresholds)
        if not first <= second:
            raise ConfigError(f'CrowdPoseMetric: crowd_index_thresholds must be (first, second) '
                              f'with first <= second, got {tuple(crowd_index_thresholds)}')
        super().__init__(ann_file, use_area=False, **kwargs)
        self.crowd_index_thresholds = (first, second)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Write ``<prefix>.keypoints.json`` and evaluate it with crowdposetools' rules."""
        logger: MMLogger = MMLogger.get_current_instance()
        coco_results = self.results_to_coco(results)
        with coco_results_file(coco_results, self.outfile_prefix, 'keypoints') as res_file:
            if self.format_only:
                logger.info(f'{type(self).__name__}: results written to {res_file}')
                return {}
            if not coco_results:
                print_log(f'{type(self).__name__}: no predictions to evaluate; every stat is 0',
                          logger='current', level=logging.WARNING)
                return {name: 0.0 for name in CROWDPOSE_STAT_NAMES}
            if self._coco is None:
                self._coco = load_coco_gt(self._gt_file())
            stats = evaluate_crowdpose_results(
                self._coco, res_file, (self.dataset_meta or {}).get('sigmas'),
                crowd_index_thresholds=self.crowd_index_thresholds)
        logger.info(f'{type(self).__name__} ({len(coco_results)} results):\n'
                    f'{format_coco_stats(stats)}')
        return OrderedDict(stats)
