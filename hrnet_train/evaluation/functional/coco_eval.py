"""Run pycocotools ``COCOeval`` on results in the COCO results format, with input checks.

Used by ``CocoKeypointMetric``, ``CocoDetMetric`` and ``tools/analysis/coco_eval.py``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import os.path as osp
import tempfile
import warnings
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .oks import resolve_sigmas

# Names of ``COCOeval.stats`` in order, per iouType (pycocotools COCOeval.summarize).
BOX_STAT_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm',
                  'ARl')
KEYPOINT_STAT_NAMES = ('AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5', 'AR .75',
                       'AR (M)', 'AR (L)')
COCO_STAT_NAMES = {'bbox': BOX_STAT_NAMES, 'segm': BOX_STAT_NAMES, 'keypoints': KEYPOINT_STAT_NAMES}
_RESULT_KEY = {'bbox': 'bbox', 'segm': 'segmentation', 'keypoints': 'keypoints'}

PathLike = Union[str, 'os.PathLike[str]']


class _COCOevalBoxArea(COCOeval):
    """COCOeval whose OKS scale is ``0.53 * box area`` instead of the GT ``area``.

    This is xtcocotools' ``use_area=False`` (jin-s13/xtcocoapi:xtcocotools/cocoeval.py
    ``computeOks``); area ranges still use the GT ``area``.
    """

    def computeOks(self, imgId, catId):  # noqa: N802 (pycocotools name)
        keys = [(imgId, catId)] if self.params.useCats else [(imgId, c) for c in self.params.catIds]
        saved = {k: self._gts[k] for k in keys}
        try:
            for k, gts in saved.items():
                self._gts[k] = [dict(g, area=g['bbox'][2] * g['bbox'][3] * 0.53) for g in gts]
            return super().computeOks(imgId, catId)
        finally:
            for k, gts in saved.items():
                self._gts[k] = gts


def load_coco_gt(gt: Union[PathLike, Mapping[str, Any], COCO]) -> COCO:
    """Return a pycocotools ``COCO`` for a GT json path, a parsed GT dict or an existing ``COCO``.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the content is not a COCO GT (needs ``images`` and ``annotations``).
    """
    if isinstance(gt, COCO):
        return gt
    if isinstance(gt, Mapping):
        dataset = dict(gt)
    else:
        path = os.fspath(gt)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'gt: no such file: {path}')
        try:
            with open(path, encoding='utf-8') as f:
                dataset = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'gt: {path} is not valid JSON ({e})') from e
    if not isinstance(dataset, dict) or 'images' not in dataset or 'annotations' not in dataset:
        raise ValueError("gt: expected a COCO GT dict with 'images' and 'annotations'")
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress
        coco.createIndex()
    return coco


def _load_results(results: Union[PathLike, Sequence[Mapping[str, Any]]]) -> list[dict]:
    if isinstance(results, (str, os.PathLike)):
        path = os.fspath(results)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'results: no such file: {path}')
        try:
            with open(path, encoding='utf-8') as f:
                results = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'results: {path} is not valid JSON ({e})') from e
    if not isinstance(results, (list, tuple)):
        raise ValueError('results: expected a list of COCO result dicts')
    # loadRes adds area/bbox/id to each dict: shallow copies keep the caller's data unchanged.
    return [dict(r) for r in results]


def _check_results(coco: COCO, results: list[dict], iou_type: str) -> None:
    if not results:
        raise ValueError('results: the list is empty; nothing to evaluate')
    key = _RESULT_KEY[iou_type]
    missing = [i for i, r in enumerate(results) if 'image_id' not in r or key not in r
               or 'score' not in r or 'category_id' not in r]
    if missing:
        raise ValueError(f"results: entry {missing[0]} lacks one of 'image_id', 'category_id', "
                         f"'score', {key!r} (needed for iou_type={iou_type!r})")
    unknown_imgs = sorted({r['image_id'] for r in results} - set(coco.getImgIds()))
    if unknown_imgs:
        raise ValueError(f'results: {len(unknown_imgs)} image id(s) are not in the GT, e.g. '
                         f'{unknown_imgs[:5]}')
    unknown_cats = sorted({r['category_id'] for r in results} - set(coco.getCatIds()))
    if unknown_cats:
        warnings.warn(f'results: category id(s) {unknown_cats[:5]} are not in the GT categories; '
                      'those results are ignored by COCOeval')


def _gt_num_keypoints(coco: COCO) -> int:
    for ann in coco.dataset['annotations']:
        if 'keypoints' in ann:
            return len(ann['keypoints']) // 3
    raise ValueError("gt: iou_type='keypoints' needs GT annotations with 'keypoints'")


def evaluate_coco_results(
    gt: Union[PathLike, Mapping[str, Any], COCO],
    results: Union[PathLike, Sequence[Mapping[str, Any]]],
    iou_type: str,
    sigmas: Optional[Sequence[float]] = None,
    *,
    use_area: bool = True,
    verbose: bool = False,
) -> dict[str, float]:
    """Evaluate COCO-format results with pycocotools ``COCOeval``.

    Args:
        gt: GT json path, parsed GT dict, or a pycocotools ``COCO``.
        results: results json path or list of result dicts (``image_id``, ``category_id``,
            ``score`` and ``bbox`` (x, y, w, h) / ``segmentation`` (RLE or polygons) /
            ``keypoints`` (3K floats x, y, score in image pixels)).
        iou_type: ``'bbox'``, ``'segm'`` or ``'keypoints'``.
        sigmas: (K,) OKS sigmas for ``'keypoints'``; None means the 17 COCO sigmas, which is only
            valid for 17-keypoint GT.
        use_area: ``'keypoints'`` only; False scales OKS by ``0.53 * GT box area`` instead of the
            GT ``area`` (xtcocotools' ``use_area=False``, for sets without segmentation areas).
        verbose: let pycocotools print its progress and summary table to stdout.

    Returns:
        ``{name: value}`` for the stats of ``iou_type`` in ``COCO_STAT_NAMES`` order (10 for
        keypoints, 12 for bbox/segm); -1 where a stat has no GT (pycocotools convention).

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: unknown ``iou_type``; empty results; results on image ids not in the GT; a
            result lacking the field ``iou_type`` needs; sigmas not matching the keypoint count.
    """
    if iou_type not in COCO_STAT_NAMES:
        raise ValueError(f'iou_type: expected one of {sorted(COCO_STAT_NAMES)}, got {iou_type!r}')
    coco = load_coco_gt(gt)
    dets = _load_results(results)
    _check_results(coco, dets, iou_type)

    if iou_type == 'keypoints':
        num_kpts = _gt_num_keypoints(coco)
        bad = [i for i, r in enumerate(dets) if len(r['keypoints']) != 3 * num_kpts]
        if bad:
            raise ValueError(f"results: entry {bad[0]} has {len(dets[bad[0]]['keypoints'])} "
                             f'keypoint values, expected 3 * {num_kpts} to match the GT')
        kpt_sigmas = resolve_sigmas(sigmas, num_kpts)

    stdout = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with stdout:
        coco_dt = coco.loadRes(dets)
        eval_cls = COCOeval if use_area or iou_type != 'keypoints' else _COCOevalBoxArea
        coco_eval = eval_cls(coco, coco_dt, iou_type)
        if iou_type == 'keypoints':
            coco_eval.params.kpt_oks_sigmas = kpt_sigmas
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return {name: float(v) for name, v in zip(COCO_STAT_NAMES[iou_type], coco_eval.stats)}


def format_coco_stats(stats: Mapping[str, float]) -> str:
    """Render ``{name: value}`` as an aligned two-column text table, one stat per line."""
    width = max((len(k) for k in stats), default=0)
    return '\n'.join(f'{name:<{width}}  {value:.4f}' for name, value in stats.items())


def zero_coco_stats(iou_type: str) -> dict[str, float]:
    """All stats of ``iou_type`` set to 0.0 (the result of evaluating no predictions)."""
    return {name: 0.0 for name in COCO_STAT_NAMES[iou_type]}


__all__ = [
    'BOX_STAT_NAMES', 'KEYPOINT_STAT_NAMES', 'COCO_STAT_NAMES', 'load_coco_gt',
    'evaluate_coco_results', 'format_coco_stats', 'zero_coco_stats'
]


@contextlib.contextmanager
def coco_results_file(results: list, outfile_prefix: Optional[str],
                      iou_type: str) -> Iterator[str]:
    """Write COCO results to ``<outfile_prefix>.<iou_type>.json`` and yield its path.

    Args:
        results: COCO results dicts (``image_id``, ``category_id``, ``score`` and ``bbox`` xywh
            or ``keypoints``).
        outfile_prefix: where to keep the file (its folder is created); None writes to a
            temporary folder that is removed when the block ends.
        iou_type: ``'bbox'``, ``'segm'`` or ``'keypoints'``: the file name suffix (mmdet and
            mmpose name their dumps ``<prefix>.bbox.json`` / ``<prefix>.keypoints.json``).
    """
    with contextlib.ExitStack() as stack:
        if outfile_prefix is None:
            outfile_prefix = osp.join(stack.enter_context(tempfile.TemporaryDirectory()),
                                      'results')
        else:
            os.makedirs(osp.dirname(osp.abspath(outfile_prefix)), exist_ok=True)
        path = f'{outfile_prefix}.{iou_type}.json'
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(results, f)
        yield path
