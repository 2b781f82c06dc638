"""CrowdPose keypoint AP of top-down predictions: AP / AR and AP on easy, medium, hard images.

Predictions are rescored, deduplicated and OKS-NMSed exactly as by ``CocoKeypointMetric``
(official HRNet recipe); only the evaluation differs: crowdposetools' rules
(``evaluation/functional/crowdpose.py``), as mmpose ``CocoMetric(iou_type='keypoints_crowd',
use_area=False, prefix='crowdpose')`` in configs/body_2d_keypoint/topdown_heatmap/crowdpose/.
"""
from __future__ import annotations

from typing import Optional

from hrnet_train.registry import METRICS
from hrnet_train.utils.errors import ConfigError

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

    def zero_stats(self) -> dict[str, float]:
        return {name: 0.0 for name in CROWDPOSE_STAT_NAMES}

    def evaluate_results_file(self, res_file: str, sigmas) -> dict[str, float]:
        """Evaluate the results file with crowdposetools' rules."""
        return evaluate_crowdpose_results(self._coco, res_file, sigmas,
                                          crowd_index_thresholds=self.crowd_index_thresholds)
