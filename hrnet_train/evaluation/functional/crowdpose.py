"""CrowdPose keypoint AP: pycocotools ``COCOeval`` with crowdposetools' rules.

Reproduces Jeff-sjtu/CrowdPose crowdpose-api/PythonAPI/crowdposetools/cocoeval.py (the official
tool; xtcocotools' and faster_coco_eval's ``iouType='keypoints_crowd'`` follow it):

- OKS and the area ranges use ``0.53 * bbox w * h`` of the GT, never its ``area`` field
  (``computeOks`` ``tmparea``, ``evaluateImg`` ``tmp_area``); CrowdPose GT has no ``area``.
- One maxDets, 20 (``Params.setKpParams``); AP/AR over the 'all' range [0, 1e10].
- ``ignore`` as pycocotools: ``iscrowd`` or ``num_keypoints == 0`` (``_prepare``).
- Stats (``summarize`` ``_summarizeKps``): AP, AP .5, AP .75, AR, AR .5, AR .75 over all
  images, then AP(E), AP(M), AP(H) (``get_type_result(first=0.2, second=0.8)``): each image set
  by its GT ``images[].crowdIndex`` (easy ``< 0.2``, medium ``< 0.8``, hard otherwise, ``split``)
  is evaluated alone and scored as ``round(mean(precision[:, :, :, 0, :]), 4)``: a plain mean
  over IoU thresholds x recall thresholds, rounded to 4 decimals; -1 for a bucket without GT.
"""
from __future__ import annotations

import contextlib
import io
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .coco_eval import PathLike, _check_results, _gt_num_keypoints, _load_results, load_coco_gt
from .oks import resolve_sigmas

# Names of the returned stats, in crowdposetools' order (stats[0, 1, 2, 5, 6, 7, 8, 9, 10];
# its stats[3], stats[4] stay 0) with mmpose's names (mmpose coco_metric.py, keypoints_crowd).
CROWDPOSE_STAT_NAMES = ('AP', 'AP .5', 'AP .75', 'AR', 'AR .5', 'AR .75', 'AP(E)', 'AP(M)',
                        'AP(H)')
# crowdposetools cocoeval.py computeOks.
CROWDPOSE_SIGMAS = np.array(
    [.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0
# crowdposetools cocoeval.py summarize: get_type_result(first=0.2, second=0.8).
CROWD_INDEX_THRESHOLDS = (0.2, 0.8)
_MAX_DETS = 20
_ALL_RANGE = [0 ** 2, 1e5 ** 2]


class _CrowdPoseCOCOeval(COCOeval):
    """pycocotools ``COCOeval`` whose GT area is ``0.53 * bbox area`` (crowdposetools)."""

    def __init__(self, coco_gt: COCO, coco_dt: COCO, sigmas: np.ndarray) -> None:
        super().__init__(coco_gt, coco_dt, 'keypoints')
        self.params.kpt_oks_sigmas = sigmas
        self.params.maxDets = [_MAX_DETS]
        self.params.areaRng = [list(_ALL_RANGE)]
        self.params.areaRngLbl = ['all']

    def _prepare(self) -> None:
        super()._prepare()
        # Copies: the GT dicts belong to the caller's COCO object.
        for key, gts in self._gts.items():
            self._gts[key] = [dict(g, area=g['bbox'][2] * g['bbox'][3] * 0.53) for g in gts]


def split_by_crowd_index(
    images: Sequence[Mapping[str, Any]],
    thresholds: tuple[float, float] = CROWD_INDEX_THRESHOLDS,
) -> tuple[list, list, list]:
    """Image ids of the easy, medium and hard sets (crowdposetools ``COCOeval.split``).

    Args:
        images: GT ``images`` entries, each with ``id`` and ``crowdIndex`` (float in [0, 1]).
        thresholds: (first, second): easy is ``crowdIndex < first``, medium ``< second``, hard
            the rest.

    Raises:
        ValueError: an image lacks ``crowdIndex``.
    """
    first, second = thresholds
    easy, medium, hard = [], [], []
    for img in images:
        if img.get('crowdIndex') is None:
            raise ValueError(f'gt: image id {img.get("id")} has no "crowdIndex"; CrowdPose AP '
                             '(E/M/H) needs it on every image')
        value = float(img['crowdIndex'])
        (easy if value < first else medium if value < second else hard).append(img['id'])
    return easy, medium, hard


def _mean_valid(values: np.ndarray) -> float:
    """Mean over the entries > -1, or -1 when there is none (pycocotools ``_summarize``)."""
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def evaluate_crowdpose_results(
    gt: Union[PathLike, Mapping[str, Any], COCO],
    results: Union[PathLike, Sequence[Mapping[str, Any]]],
    sigmas: Optional[Sequence[float]] = None,
    *,
    crowd_index_thresholds: tuple[float, float] = CROWD_INDEX_THRESHOLDS,
    verbose: bool = False,
) -> dict[str, float]:
    """Evaluate COCO-format keypoint results the way crowdposetools does (module docstring).

    Args:
        gt: CrowdPose GT json path, parsed dict or pycocotools ``COCO``; every ``images`` entry
            needs ``crowdIndex``.
        results: keypoint results (path or list of ``image_id``, ``category_id``, ``score``,
            ``keypoints`` 3K floats x, y, score in image pixels).
        sigmas: (K,) OKS sigmas; None means :data:`CROWDPOSE_SIGMAS` (then K must be 14).
        crowd_index_thresholds: easy/medium and medium/hard crowd-index boundaries.
        verbose: let pycocotools print its progress to stdout.

    Returns:
        ``{name: value}`` in :data:`CROWDPOSE_STAT_NAMES` order.

    Raises:
        FileNotFoundError, ValueError: as ``evaluate_coco_results``; also an image without
        ``crowdIndex``.
    """
    coco = load_coco_gt(gt)
    buckets = split_by_crowd_index(coco.dataset['images'], crowd_index_thresholds)
    dets = _load_results(results)
    _check_results(coco, dets, 'keypoints')
    num_kpts = _gt_num_keypoints(coco)
    bad = [i for i, r in enumerate(dets) if len(r['keypoints']) != 3 * num_kpts]
    if bad:
        raise ValueError(f"results: entry {bad[0]} has {len(dets[bad[0]]['keypoints'])} "
                         f'keypoint values, expected 3 * {num_kpts} to match the GT')
    if sigmas is None and num_kpts == len(CROWDPOSE_SIGMAS):
        sigmas = CROWDPOSE_SIGMAS
    kpt_sigmas = resolve_sigmas(sigmas, num_kpts)

    stdout = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with stdout:
        coco_dt = coco.loadRes(dets)
        coco_eval = _CrowdPoseCOCOeval(coco, coco_dt, kpt_sigmas)
        coco_eval.evaluate()
        coco_eval.accumulate()
        precision = coco_eval.eval['precision'][..., 0, 0]  # (T, R, K) at 'all', maxDets 20
        recall = coco_eval.eval['recall'][..., 0, 0]  # (T, K)
        thrs = coco_eval.params.iouThrs
        stats = [_mean_valid(precision), _mean_valid(precision[thrs == .5]),
                 _mean_valid(precision[thrs == .75]), _mean_valid(recall),
                 _mean_valid(recall[thrs == .5]), _mean_valid(recall[thrs == .75])]
        for img_ids in buckets:
            if not img_ids:  # crowdposetools: precision stays -1 everywhere
                stats.append(-1.0)
                continue
            coco_eval.params.imgIds = img_ids
            coco_eval.evaluate()
            coco_eval.accumulate()
            # crowdposetools get_type_result: round(np.mean(...), 4) on a numpy float, i.e.
            # np.round; the mean keeps any -1 entries.
            stats.append(float(np.round(np.mean(coco_eval.eval['precision'][:, :, :, 0, :]), 4)))
    return dict(zip(CROWDPOSE_STAT_NAMES, stats))


__all__ = ['CROWDPOSE_STAT_NAMES', 'CROWDPOSE_SIGMAS', 'CROWD_INDEX_THRESHOLDS',
           'split_by_crowd_index', 'evaluate_crowdpose_results']
