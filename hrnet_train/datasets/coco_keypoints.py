"""COCO-format keypoint dataset for top-down pose estimation: one sample per person instance."""
from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.fileio import join_path
from mmengine.logging import print_log

from hrnet_train.registry import DATASETS, TRANSFORMS
from hrnet_train.structures import xywh_to_xyxy
from hrnet_train.utils.errors import DataError

from .coco_utils import bbox_problem, load_coco_json, report_invalid_annotations

# leoxiaobin/deep-high-resolution-net.pytorch:lib/dataset/coco.py and the COCO categories entry.
_COCO_KEYPOINT_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
    'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle')
# COCO categories[0]['skeleton'] is 1-based; stored here 0-based.
_COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))
# OKS sigmas, pycocotools cocoeval.py / official coco.py.
_COCO_SIGMAS = (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89,
                .89)

# Keys whose length must equal the number of keypoints.
_PER_KEYPOINT_KEYS = ('flip_indices', 'joint_weights', 'sigmas')


def parse_pose_metainfo(metainfo: Mapping) -> dict:
    """Validate and normalise pose dataset meta information.

    Args:
        metainfo: must hold ``keypoint_names`` (K str), ``flip_indices`` (K ints, an involution)
            and ``sigmas`` (K OKS sigmas); may hold ``dataset_name``, ``num_keypoints`` (must equal
            K), ``upper_body_ids``/``lower_body_ids`` (default empty: half-body is then never
            applied), ``joint_weights`` (default ones) and ``skeleton`` (0-based index pairs,
            default empty). Other keys are kept as they are.

    Returns:
        dict with ``num_keypoints`` set, ``joint_weights`` (K,) float32, ``sigmas`` (K,) float64
        (as pycocotools) and the index fields as lists of int.
    """
    meta = dict(metainfo)
    if 'keypoint_names' not in meta:
        raise ValueError('metainfo needs key "keypoint_names" (one name per keypoint)')
    names = [str(n) for n in meta['keypoint_names']]
    num = len(names)
    if num == 0:
        raise ValueError('metainfo "keypoint_names" is empty')
    if meta.get('num_keypoints', num) != num:
        raise ValueError(f'metainfo "num_keypoints" is {meta["num_keypoints"]} but '
                         f'"keypoint_names" has {num} entries')
    for key in ('flip_indices', 'sigmas'):
        if key not in meta:
            raise ValueError(f'metainfo needs key "{key}" with {num} values (one per keypoint)')
    meta.setdefault('dataset_name', 'custom')
    meta.setdefault('joint_weights', np.ones(num, dtype=np.float32))
    meta.setdefault('upper_body_ids', [])
    meta.setdefault('lower_body_ids', [])
    meta.setdefault('skeleton', [])
    for key in _PER_KEYPOINT_KEYS:
        if len(meta[key]) != num:
            raise ValueError(f'metainfo "{key}" has {len(meta[key])} values, expected {num} '
                             f'(one per keypoint)')

    def index_list(key: str) -> list[int]:
        ids = [int(i) for i in meta[key]]
        if any(not 0 <= i < num for i in ids):
            raise ValueError(f'metainfo "{key}" has indices outside [0, {num}): {ids}')
        return ids

    flip = index_list('flip_indices')
    if any(flip[flip[i]] != i for i in range(num)):
        raise ValueError(
            f'metainfo "flip_indices" must swap pairs (flip[flip[i]] == i), got {flip}')
    skeleton = [tuple(int(i) for i in pair) for pair in meta['skeleton']]
    if any(len(p) != 2 or not all(0 <= i < num for i in p) for p in skeleton):
        raise ValueError(f'metainfo "skeleton" must be 0-based index pairs in [0, {num})')
    meta.update(
        keypoint_names=names, num_keypoints=num, flip_indices=flip,
        upper_body_ids=index_list('upper_body_ids'), lower_body_ids=index_list('lower_body_ids'),
        joint_weights=np.asarray(meta['joint_weights'], dtype=np.float32).reshape(num),
        sigmas=np.asarray(meta['sigmas'], dtype=np.float64).reshape(num),
        skeleton=[list(p) for p in skeleton])
    return meta


def _parse_keypoints(raw, num_kpts: int) -> tuple[np.ndarray | None, str | None]:
    """A flat COCO keypoint list as (K, 3) float32 (x, y, v), or None and why it is not one."""
    try:
        kpts = np.asarray(raw, dtype=np.float32)  # JSON null becomes NaN
    except (TypeError, ValueError):
        return None, f'has keypoints {str(raw)[:80]}, expected {3 * num_kpts} numbers'
    if kpts.size != 3 * num_kpts:
        return None, (f'has {kpts.size} keypoint values, expected {3 * num_kpts} '
                      f'(num_keypoints={num_kpts} from metainfo)')
    kpts = kpts.reshape(num_kpts, 3)
    bad = np.flatnonzero(~np.isfinite(kpts).all(1))
    if len(bad):
        return None, f'has non-finite keypoints (NaN or Inf) at keypoint index {bad.tolist()}'
    return kpts, None


_IMMUTABLE = (str, int, float, bool, type(None), np.generic)


def _private_copy(value):
    """A copy of one record value that a transform may change in place without touching the
    dataset: arrays copied, immutable values shared, anything else deep-copied."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def _det_box_is_valid(det) -> bool:
    """A detector box usable as a person box: finite score and bbox, width and height > 0."""
    if not isinstance(det, Mapping) or 'image_id' not in det:
        return False
    try:
        box = np.asarray(det.get('bbox'), dtype=np.float64)
        score = float(det.get('score'))
    except (TypeError, ValueError):
        return False
    return (box.shape == (4,) and bool(np.isfinite(box).all()) and np.isfinite(score)
            and box[2] > 0 and box[3] > 0)


@DATASETS.register_module()
class CocoKeypointDataset(BaseDataset):
    """COCO keypoint annotations (or a custom keypoint set in COCO format) for top-down pose.

    Each sample is one person instance (see ``docs/architecture.md`` for the keys). With GT boxes
    the instances are the non-crowd annotations with at least one labelled keypoint whose box,
    clipped to the image as in the official ``coco.py``, has positive area. With detector boxes
    (``bbox_file``) there is one instance per box of a dataset category with score >=
    ``det_score_thr`` (official IMAGE_THRE semantics: ``score < thre`` is dropped).

    Checks (``DataError`` with the file name, one line):

    - ``data_root`` and the image folder ``data_prefix['img']`` exist; the annotation and
      detection files are JSON in COCO format; every ``images`` entry has ``id`` and
      ``file_name``.
    - Every ``categories`` entry with a ``keypoints`` name list has exactly the metainfo
      ``keypoint_names``, in order (the error names the category id and the first differing
      position).
    - Every non-crowd annotation with ``keypoints`` has K finite (x, y, v) triplets, a finite
      ``bbox`` [x, y, w, h] and an ``image_id`` listed in ``images`` (the error names the
      annotation id). With ``skip_invalid=True`` such annotations are dropped instead and one
      warning gives their count and the first few.
    - Detector boxes with a non-finite score or bbox, or a width or height <= 0, are dropped with
      one warning counting them; boxes on images not in ``images`` likewise.
    - The dataset is not empty.

    Args:
        ann_file: COCO keypoint json, joined with ``data_root`` when relative.
        metainfo: overrides of :attr:`METAINFO`. Giving ``keypoint_names`` different from COCO's
            starts a custom keypoint set: then ``flip_indices`` and ``sigmas`` must be given too,
            and nothing else is inherited from COCO (see :func:`parse_pose_metainfo`).
        data_root: root joined with ``ann_file``, ``data_prefix`` and ``bbox_file`` when they
            are relative: the one place a user edits to move the dataset.
        data_prefix: ``dict(img=folder)``; image paths are ``folder/<images[].file_name>``.
        pipeline: transform configs (built with ``hrnet_train`` TRANSFORMS) or callables.
        test_mode: evaluation mode (no refetching on a ``None`` pipeline result).
        bbox_file: COCO results json of detector boxes (list of ``image_id``, ``category_id``,
            ``bbox`` [x, y, w, h], ``score``); a relative path is joined with ``data_root``, like
            ``ann_file`` (mmpose leaves it relative to the working directory).
        det_score_thr: detector boxes scoring below this are dropped (official 0.0).
        use_gt_bbox: use the annotation boxes even when ``bbox_file`` is given.
        skip_invalid: drop invalid annotations (see Checks) with one warning instead of raising
            on the first.
        serialize_data, lazy_init, indices, max_refetch: as mmengine ``BaseDataset``.

    ``metainfo['ann_file']`` is the resolved annotation file: ``CocoKeypointMetric`` without an
    ``ann_file`` of its own evaluates against it, so the evaluator follows ``data_root`` too.
    """

    METAINFO: dict = dict(
        dataset_name='coco',
        keypoint_names=list(_COCO_KEYPOINT_NAMES),
        num_keypoints=17,
        flip_indices=[0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15],
        upper_body_ids=list(range(11)),
        lower_body_ids=list(range(11, 17)),
        joint_weights=[1.] * 17,
        sigmas=[s / 10 for s in _COCO_SIGMAS],
        skeleton=[list(p) for p in _COCO_SKELETON],
    )

    def __init__(self, ann_file: str = '', metainfo: Mapping | None = None,
                 data_root: str = '', data_prefix: Mapping | None = None,
                 pipeline: Sequence = (), test_mode: bool = False, *,
                 bbox_file: str | None = None, det_score_thr: float = 0.0,
                 use_gt_bbox: bool = False, skip_invalid: bool = False,
                 serialize_data: bool = True, lazy_init: bool = False,
                 indices: int | Sequence[int] | None = None, max_refetch: int = 1000) -> None:
        data_prefix = dict(img='') if data_prefix is None else dict(data_prefix)
        if 'img' not in data_prefix:
            raise ValueError(f'data_prefix needs key "img" (image folder), got {data_prefix}')
        if not ann_file:
            raise ValueError('ann_file is required (a COCO keypoint json)')
        if bbox_file and data_root and not os.path.isabs(bbox_file):
            bbox_file = join_path(data_root, bbox_file)
        self.bbox_file = bbox_file
        self.det_score_thr = float(det_score_thr)
        self.use_gt_bbox = use_gt_bbox
        self.skip_invalid = bool(skip_invalid)
        # Built here with our registry so the dataset also works without a default scope.
        pipeline = [TRANSFORMS.build(dict(t)) if isinstance(t, Mapping) else t for t in pipeline]
        super().__init__(
            ann_file=ann_file, metainfo=metainfo, data_root=data_root, data_prefix=data_prefix,
            pipeline=pipeline, test_mode=test_mode, serialize_data=serialize_data,
            lazy_init=lazy_init, indices=indices, max_refetch=max_refetch)
        self._metainfo['ann_file'] = self.ann_file  # joined with data_root by BaseDataset

    @classmethod
    def _load_metainfo(cls, metainfo: Mapping | None = None) -> dict:
        meta = copy.deepcopy(dict(cls.METAINFO))
        metainfo = copy.deepcopy(dict(metainfo or {}))
        names = metainfo.get('keypoint_names')
        if names is not None and list(names) != list(meta['keypoint_names']):
            meta = {}  # a custom keypoint set inherits nothing keypoint-specific from COCO
        meta.update(metainfo)
        return parse_pose_metainfo(meta)

    @property
    def uses_detector_boxes(self) -> bool:
        """True when samples come from ``bbox_file`` rather than the annotation boxes."""
        return bool(self.bbox_file) and not self.use_gt_bbox

    def load_data_list(self) -> list[dict]:
        if self.data_root and not os.path.isdir(self.data_root):
            raise DataError(f'data_root {self.data_root} does not exist (a folder)')
        img_dir = self.data_prefix['img']
        if img_dir and not os.path.isdir(img_dir):
            raise DataError(f'image folder {img_dir} (data_prefix img) does not exist')
        coco = load_coco_json(self.ann_file, 'annotation file', self.data_root)
        if not isinstance(coco, dict) or not isinstance(coco.get('images'), list):
            raise DataError(f'annotation file {self.ann_file} is not COCO format '
                            '(no "images" list)')
        self._check_categories(coco.get('categories', []))
        images = {}
        for i, img in enumerate(coco['images']):
            if not isinstance(img, Mapping) or 'id' not in img or 'file_name' not in img:
                raise DataError(f'annotation file {self.ann_file}: images[{i}] needs "id" and '
                                f'"file_name", got {repr(img)[:80]}')
            images[img['id']] = dict(
                img_path=join_path(img_dir, img['file_name']),
                width=img.get('width'), height=img.get('height'))
        if self.uses_detector_boxes:
            cat_ids = {c['id'] for c in coco.get('categories', [])}
            data_list = self._load_detector_instances(images, cat_ids)
            if not data_list:
                raise DataError(f'detection file {self.bbox_file}: no box left with score >= '
                                f'{self.det_score_thr} on the images of {self.ann_file}')
            return data_list
        data_list = self._load_gt_instances(images, coco.get('annotations', []))
        if not data_list:
            raise DataError(f'annotation file {self.ann_file} has no usable person instance '
                            '(non-crowd, with a labelled keypoint and a non-empty box)')
        return data_list

    def _check_categories(self, categories: list) -> None:
        """Each category's ``keypoints`` names must be the metainfo ``keypoint_names``."""
        names = self._metainfo['keypoint_names']
        for cat in categories:
            cat_names = cat.get('keypoints') if isinstance(cat, Mapping) else None
            if not cat_names:  # absent or empty: nothing to check
                continue
            cat_names = [str(n) for n in cat_names]
            if cat_names == names:
                continue
            pos = next((i for i, (a, b) in enumerate(zip(cat_names, names)) if a != b),
                       min(len(cat_names), len(names)))
            ours = repr(cat_names[pos]) if pos < len(cat_names) else 'nothing'
            theirs = repr(names[pos]) if pos < len(names) else 'nothing'
            raise DataError(
                f'annotation file {self.ann_file}: category id {cat.get("id")} lists '
                f'{len(cat_names)} keypoint names, metainfo keypoint_names {len(names)}; first '
                f'difference at position {pos}: {ours} in the file, {theirs} in metainfo '
                f'(give metainfo=dict(keypoint_names=..., flip_indices=..., sigmas=...) '
                f'matching the file)')

    def _load_gt_instances(self, images: dict, annotations: list) -> list[dict]:
        num_kpts = self._metainfo['num_keypoints']
        data_list, skipped_no_kpts, skipped_box, invalid = [], 0, 0, []
        for ann in annotations:
            if ann.get('iscrowd', 0):
                continue
            if 'keypoints' not in ann:
                skipped_no_kpts += 1
                continue
            kpts, problem = _parse_keypoints(ann['keypoints'], num_kpts)
            problem = problem or bbox_problem(ann.get('bbox'))
            img = images.get(ann.get('image_id'))
            if problem is None and img is None:
                problem = (f'refers to image_id {ann.get("image_id")}, which is not in '
                           '"images"')
            if problem is not None:
                invalid.append((ann.get('id'), problem))
                if not self.skip_invalid:
                    break
                continue
            if not (kpts[:, 2] > 0).any():
                skipped_no_kpts += 1
                continue
            # Clip to the image like the official coco.py (_load_coco_keypoint_annotation_kernal).
            x, y, w, h = (float(v) for v in ann['bbox'])
            x1, y1 = max(0., x), max(0., y)
            x2, y2 = x1 + max(0., w - 1), y1 + max(0., h - 1)
            if img['width'] is not None:
                x2 = min(img['width'] - 1., x2)
            if img['height'] is not None:
                y2 = min(img['height'] - 1., y2)
            # A box clipped to one point has no size for the affine warp (TopdownAffine).
            point = x2 == x1 and y2 == y1
            if ann.get('area', w * h) <= 0 or x2 < x1 or y2 < y1 or point:
                skipped_box += 1
                continue
            data_list.append(dict(
                img_path=img['img_path'], img_id=ann['image_id'], id=ann['id'],
                category_id=ann.get('category_id', 1),
                bbox=np.array([x1, y1, x2, y2], dtype=np.float32), bbox_score=1.0,
                keypoints=kpts[:, :2].copy(),
                keypoints_visible=(kpts[:, 2] > 0).astype(np.float32),
                area=float(ann.get('area', w * h)), iscrowd=0,
                num_keypoints=int(ann.get('num_keypoints', (kpts[:, 2] > 0).sum()))))
        report_invalid_annotations(invalid, self.ann_file, skip_invalid=self.skip_invalid)
        if skipped_no_kpts or skipped_box:
            print_log(f'{self.ann_file}: skipped {skipped_no_kpts} annotations without labelled '
                      f'keypoints and {skipped_box} with an empty box', logger='current',
                      level=logging.INFO)
        return data_list

    def _load_detector_instances(self, images: dict, cat_ids: set) -> list[dict]:
        dets = load_coco_json(self.bbox_file, 'detection file', self.data_root)
        if not isinstance(dets, list):
            raise DataError(f'detection file {self.bbox_file} must hold a list of boxes '
                            '(COCO results format)')
        if not dets:
            raise DataError(f'detection file {self.bbox_file} holds no boxes')
        num_kpts = self._metainfo['num_keypoints']
        data_list, unknown_img, bad_box = [], 0, 0
        for det in dets:
            if not _det_box_is_valid(det):
                bad_box += 1
                continue
            if cat_ids and det.get('category_id', 1) not in cat_ids:
                continue
            if det['score'] < self.det_score_thr:
                continue
            img = images.get(det['image_id'])
            if img is None:
                unknown_img += 1
                continue
            # official _box2cs: centre x + w / 2 and size w, i.e. the continuous xyxy box
            bbox = xywh_to_xyxy(np.asarray(det['bbox'], dtype=np.float32))
            data_list.append(dict(
                img_path=img['img_path'], img_id=det['image_id'], id=len(data_list),
                category_id=det.get('category_id', 1), bbox=bbox,
                bbox_score=float(det['score']),
                # no ground truth: zero keypoints, all unlabelled (keypoint metrics skip them)
                keypoints=np.zeros((num_kpts, 2), dtype=np.float32),
                keypoints_visible=np.zeros(num_kpts, dtype=np.float32),
                area=float(det['bbox'][2] * det['bbox'][3]), iscrowd=0, num_keypoints=0))
        if bad_box:
            print_log(f'{self.bbox_file}: dropped {bad_box} of {len(dets)} boxes with a width '
                      'or height <= 0, a non-finite bbox or score, or no image_id',
                      logger='current', level=logging.WARNING)
        if unknown_img:
            print_log(f'{self.bbox_file}: skipped {unknown_img} boxes whose image_id is not in '
                      f'{self.ann_file}', logger='current', level=logging.WARNING)
        print_log(f'{self.bbox_file}: {len(data_list)} boxes with score >= '
                  f'{self.det_score_thr}', logger='current', level=logging.INFO)
        return data_list

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The idx-th instance plus the per-sample meta the transforms read (architecture doc).

        The record is the sample's own copy: with ``serialize_data`` (the default) it is
        unpickled from the shared bytes (mmengine); otherwise its arrays are copied and its other
        values shared, immutable ones as they are (str, numbers) and any other a deep copy,
        instead of mmengine's deep copy of the whole record. The meta lists and ``joint_weights``
        are fresh per sample, so a transform may change them in place.
        """
        if self.serialize_data:
            info = super().get_data_info(idx)
        else:
            info = {k: _private_copy(v) for k, v in self.data_list[idx].items()}
            info['sample_idx'] = idx if idx >= 0 else len(self) + idx
        meta = self._metainfo
        info['flip_indices'] = list(meta['flip_indices'])
        info['upper_body_ids'] = list(meta['upper_body_ids'])
        info['lower_body_ids'] = list(meta['lower_body_ids'])
        info['joint_weights'] = meta['joint_weights'].copy()
        return info
