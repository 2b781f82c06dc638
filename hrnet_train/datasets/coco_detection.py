"""COCO-format object detection dataset: one sample per image, every box of the image in it.

Behaviour follows mmdet 3.x ``CocoDataset`` (open-mmlab/mmdetection:mmdet/datasets/coco.py,
``parse_data_info`` and ``filter_data``), with the checks of ``CocoKeypointDataset`` added.
"""
from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.fileio import join_path
from mmengine.logging import print_log

from hrnet_train.registry import DATASETS, TRANSFORMS
from hrnet_train.structures import xywh_to_xyxy
from hrnet_train.utils.errors import ConfigError, DataError

from .coco_utils import bbox_problem, load_coco_json, report_invalid_annotations

# mmdet's configs train with dict(filter_empty_gt=True, min_size=32); the contract's default.
_DEFAULT_FILTER_CFG = MappingProxyType(dict(filter_empty_gt=True, min_size=0))
_FILTER_KEYS = ('filter_empty_gt', 'min_size')


def make_palette(num_classes: int) -> list[tuple[int, int, int]]:
    """One RGB colour per class, the same on every call.

    The colours are mmdet's ``get_palette('random')`` (numpy seed 42,
    open-mmlab/mmdetection:mmdet/visualization/palette.py), drawn without touching numpy's
    global random state.

    Returns:
        ``num_classes`` (r, g, b) tuples of ints in [0, 255].
    """
    colors = np.random.RandomState(42).randint(0, 256, size=(num_classes, 3))
    return [tuple(int(c) for c in color) for color in colors]


def _degenerate(x: float, y: float, w: float, h: float, area: float, width: float,
                height: float) -> bool:
    """mmdet ``parse_data_info``'s drop rule for a COCO box [x, y, w, h] on a W x H image.

    A box is dropped when it does not overlap the image (its intersection with ``[0, W] x
    [0, H]`` has zero area), when the annotation ``area`` is <= 0, or when w or h < 1.
    """
    inter_w = max(0., min(x + w, width) - max(x, 0.))
    inter_h = max(0., min(y + h, height) - max(y, 0.))
    return inter_w * inter_h == 0 or area <= 0 or w < 1 or h < 1


@DATASETS.register_module()
class CocoDetection(BaseDataset):
    """COCO instances annotations (or any COCO-format box set) for object detection.

    Each sample is one image (data info keys: ``img_path``, ``img_id``, ``height``, ``width``,
    ``instances``), in the order of the file's ``images``. An instance is
    ``dict(bbox=[x1, y1, x2, y2], bbox_label=int, ignore_flag=0|1)``: the COCO box
    ``[x, y, w, h]`` as continuous xyxy (``x2 = x + w``, not clipped, as mmdet), the index of
    its category in ``metainfo['cat_ids']``, and 1 for ``iscrowd`` boxes (ignored in training,
    matched without penalty by COCOeval). A COCO keypoint file works too: it has ``bbox``,
    ``category_id`` and ``iscrowd``.

    Classes: ``metainfo['classes']`` are the category names in category-id order and
    ``metainfo['cat_ids']`` the matching COCO ids (label index -> id), both read from the
    file's ``categories``. ``metainfo=dict(classes=(...))`` selects those categories (mmdet
    behaviour): annotations of other categories are left out and labels index the selected
    categories, still in category-id order (a warning says so when the given order differs).
    ``metainfo['palette']`` holds one RGB colour per class (given, reordered with the classes,
    or :func:`make_palette`); ``metainfo['ann_file']`` the resolved annotation file, which
    ``CocoDetMetric`` evaluates against when it has no ``ann_file`` of its own.

    Annotations dropped (one log line counts them): those with ``ignore`` set (mmdet), and
    degenerate boxes: w or h < 1, ``area`` <= 0 (w * h when absent), or no overlap with the
    image (mmdet ``parse_data_info``).

    Image filtering (``filter_cfg``, training only; ``test_mode=True`` keeps every image, as
    mmdet): ``filter_empty_gt`` drops images without any annotation of a selected category
    (mmdet semantics: an annotation counts even when it is crowd or degenerate); ``min_size``
    drops images whose shorter side is below it. One log line counts the images dropped, or
    kept without annotations.

    Checks (``DataError``, one line naming the file):

    - ``data_root`` and the image folder ``data_prefix['img']`` exist; the annotation file is
      COCO JSON with an ``images`` and a non-empty ``categories`` list (``annotations`` may be
      absent, as in test-dev's image info files).
    - Categories have unique ``id`` and unique ``name``; every name of ``metainfo['classes']``
      is one of them.
    - Every image has ``id`` (unique), ``file_name``, and ``width`` and ``height`` > 0.
    - Every annotation has a finite ``bbox`` [x, y, w, h] (NaN/Inf are an error), an
      ``image_id`` listed in ``images``, a ``category_id`` listed in ``categories`` and a
      unique ``id`` (the error names the annotation id). With ``skip_invalid=True`` such
      annotations are dropped instead and one warning counts them and names the first few.
    - The dataset is not empty, before or after filtering.

    Args:
        ann_file: COCO json, joined with ``data_root`` when relative.
        metainfo: ``classes`` (a subset of the file's category names) and ``palette`` (one
            RGB triplet per class, in the order of ``classes``); other keys are kept as given.
        data_root: root joined with ``ann_file`` and ``data_prefix`` when they are relative.
        data_prefix: ``dict(img=folder)``; image paths are ``folder/<images[].file_name>``.
        pipeline: transform configs (built with ``hrnet_train`` TRANSFORMS) or callables.
        test_mode: evaluation mode: no image filtering, no refetching on a ``None`` sample.
        filter_cfg: ``dict(filter_empty_gt=bool, min_size=int)`` or None (no filtering).
        skip_invalid: drop invalid annotations (see Checks) with one warning instead of
            raising on the first.
        serialize_data, lazy_init, indices, max_refetch: as mmengine ``BaseDataset``. With
            ``lazy_init`` the metainfo ``classes``/``cat_ids``/``palette`` appear on
            ``full_init()``, when the file is read.
    """

    METAINFO: dict = dict()  # classes, cat_ids and palette come from the annotation file

    def __init__(self, ann_file: str = '', metainfo: Mapping | None = None,
                 data_root: str = '', data_prefix: Mapping | None = None,
                 pipeline: Sequence = (), test_mode: bool = False, *,
                 filter_cfg: Mapping | None = _DEFAULT_FILTER_CFG, skip_invalid: bool = False,
                 serialize_data: bool = True, lazy_init: bool = False,
                 indices: int | Sequence[int] | None = None, max_refetch: int = 1000) -> None:
        data_prefix = dict(img='') if data_prefix is None else dict(data_prefix)
        if 'img' not in data_prefix:
            raise ConfigError(f'data_prefix needs key "img" (image folder), got {data_prefix}')
        if not ann_file:
            raise ConfigError('ann_file is required (a COCO instances json)')
        if filter_cfg is not None:
            filter_cfg = dict(filter_cfg)
            unknown = sorted(set(filter_cfg) - set(_FILTER_KEYS))
            if unknown:
                raise ConfigError(f'filter_cfg: unknown keys {unknown}, expected a subset of '
                                  f'{_FILTER_KEYS}')
        self.skip_invalid = bool(skip_invalid)
        self._img_ids_with_ann: set = set()
        # Built here with our registry so the dataset also works without a default scope.
        pipeline = [TRANSFORMS.build(dict(t)) if isinstance(t, Mapping) else t for t in pipeline]
        super().__init__(
            ann_file=ann_file, metainfo=metainfo, data_root=data_root, data_prefix=data_prefix,
            filter_cfg=filter_cfg, pipeline=pipeline, test_mode=test_mode,
            serialize_data=serialize_data, lazy_init=lazy_init, indices=indices,
            max_refetch=max_refetch)
        self._metainfo['ann_file'] = self.ann_file  # joined with data_root by BaseDataset

    @classmethod
    def _load_metainfo(cls, metainfo: Mapping | None = None) -> dict:
        # mmengine's version reads string values as file names; ours takes values as given.
        meta = copy.deepcopy(dict(cls.METAINFO))
        meta.update(copy.deepcopy(dict(metainfo or {})))
        classes = meta.get('classes')
        if classes is not None:
            if isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
                raise ConfigError(f'metainfo classes: expected a sequence of category names, '
                                  f'got {classes!r}')
            if not classes or len(set(classes)) != len(classes):
                raise ConfigError(f'metainfo classes: expected distinct names (at least one), '
                                  f'got {classes!r}')
        palette = meta.get('palette')
        if palette is not None and (isinstance(palette, str)
                                    or any(len(c) != 3 for c in palette)):
            raise ConfigError(f'metainfo palette: expected RGB triplets (one per class), got '
                              f'{palette!r}')
        return meta

    # ------------------------------------------------------------------ loading
    def load_data_list(self) -> list[dict]:
        if self.data_root and not os.path.isdir(self.data_root):
            raise DataError(f'data_root {self.data_root} does not exist (a folder)')
        img_dir = self.data_prefix['img']
        if img_dir and not os.path.isdir(img_dir):
            raise DataError(f'image folder {img_dir} (data_prefix img) does not exist')
        self._img_ids_with_ann = set()
        coco = load_coco_json(self.ann_file, 'annotation file', self.data_root)
        if not isinstance(coco, dict) or not isinstance(coco.get('images'), list):
            raise DataError(f'annotation file {self.ann_file} is not COCO format '
                            '(no "images" list)')
        file_cat_ids, cat_ids = self._select_categories(coco.get('categories'))
        images = self._parse_images(coco['images'], img_dir)
        if not images:
            raise DataError(f'annotation file {self.ann_file} lists no images')
        annotations = coco.get('annotations') or []
        if not isinstance(annotations, list):
            raise DataError(f'annotation file {self.ann_file}: "annotations" must be a list')
        self._parse_annotations(annotations, images, file_cat_ids, cat_ids)
        return list(images.values())

    def _select_categories(self, categories) -> tuple[set, list]:
        """Validate ``categories``, pick the selected ones and fill the class metainfo.

        Returns:
            every category id of the file, and the selected ids in increasing order.
        """
        if not isinstance(categories, list) or not categories:
            raise DataError(f'annotation file {self.ann_file} has no "categories" list (needed '
                            'for the class names)')
        names_by_id: dict = {}
        for i, cat in enumerate(categories):
            if not isinstance(cat, Mapping) or 'id' not in cat or 'name' not in cat:
                raise DataError(f'annotation file {self.ann_file}: categories[{i}] needs "id" '
                                f'and "name", got {repr(cat)[:80]}')
            if cat['id'] in names_by_id:
                raise DataError(f'annotation file {self.ann_file}: category id {cat["id"]} '
                                'appears twice in "categories"')
            names_by_id[cat['id']] = str(cat['name'])
        ids_by_name = {name: cat_id for cat_id, name in names_by_id.items()}
        if len(ids_by_name) != len(names_by_id):
            dup = sorted({n for n in names_by_id.values()
                          if list(names_by_id.values()).count(n) > 1})
            raise DataError(f'annotation file {self.ann_file}: category names {dup} appear more '
                            'than once in "categories"')
        given = self._metainfo.get('classes')
        palette = self._metainfo.get('palette')
        if given is None:
            cat_ids = sorted(names_by_id)
            order = list(range(len(cat_ids)))
        else:
            missing = [n for n in given if n not in ids_by_name]
            if missing:
                raise DataError(f'metainfo classes {missing} are not categories of '
                                f'{self.ann_file} (it has {sorted(ids_by_name)[:10]}...)')
            order = sorted(range(len(given)), key=lambda i: ids_by_name[given[i]])
            if order != list(range(len(given))):
                print_log(f'{self.ann_file}: metainfo classes reordered to category-id order '
                          f'(label i is category cat_ids[i]): '
                          f'{[given[i] for i in order]}', logger='current',
                          level=logging.WARNING)
            cat_ids = [ids_by_name[given[i]] for i in order]
        if palette is not None and len(palette) != len(cat_ids):
            raise ConfigError(f'metainfo palette: expected {len(cat_ids)} RGB triplets (one per '
                              f'class), got {len(palette)}')
        self._metainfo['classes'] = tuple(names_by_id[i] for i in cat_ids)
        self._metainfo['cat_ids'] = list(cat_ids)
        self._metainfo['palette'] = make_palette(len(cat_ids)) if palette is None else [
            tuple(int(v) for v in palette[i]) for i in order]
        return set(names_by_id), cat_ids

    def _parse_images(self, entries: list, img_dir: str) -> dict:
        """``images`` entries as data infos without instances, keyed by image id."""
        images: dict = {}
        for i, img in enumerate(entries):
            if not isinstance(img, Mapping) or 'id' not in img or 'file_name' not in img:
                raise DataError(f'annotation file {self.ann_file}: images[{i}] needs "id" and '
                                f'"file_name", got {repr(img)[:80]}')
            size = (img.get('width'), img.get('height'))
            if not all(isinstance(v, (int, float)) and v > 0 for v in size):
                raise DataError(f'annotation file {self.ann_file}: image id {img["id"]} needs '
                                f'"width" and "height" > 0, got {size}')
            if img['id'] in images:
                raise DataError(f'annotation file {self.ann_file}: image id {img["id"]} appears '
                                'twice in "images"')
            images[img['id']] = dict(
                img_path=join_path(img_dir, img['file_name']), img_id=img['id'],
                height=img['height'], width=img['width'], instances=[])
        return images

    def _annotation_problem(self, ann, images: dict, file_cat_ids: set) -> str | None:
        """Why ``ann`` cannot be used, or None."""
        if not isinstance(ann, Mapping):
            return f'is not a dict ({repr(ann)[:80]})'
        problem = bbox_problem(ann.get('bbox'))
        if problem is not None:
            return problem
        if ann.get('image_id') not in images:
            return f'refers to image_id {ann.get("image_id")}, which is not in "images"'
        if ann.get('category_id') not in file_cat_ids:
            return f'has category_id {ann.get("category_id")}, which is not in "categories"'
        return None

    def _parse_annotations(self, annotations: list, images: dict, file_cat_ids: set,
                           cat_ids: list) -> None:
        """Add each usable annotation to its image's ``instances`` (in file order)."""
        label_of = {cat_id: i for i, cat_id in enumerate(cat_ids)}
        invalid, seen_ids, num_degenerate, num_ignore = [], set(), 0, 0
        kept = []  # (image, [x, y, w, h], label, ignore_flag)
        for ann in annotations:
            problem = self._annotation_problem(ann, images, file_cat_ids)
            ann_id = ann.get('id') if isinstance(ann, Mapping) else None
            if problem is None and ann_id is not None:
                if ann_id in seen_ids:
                    problem = 'appears twice (annotation ids must be unique)'
                seen_ids.add(ann_id)
            if problem is not None:
                invalid.append((ann_id, problem))
                if not self.skip_invalid:
                    break
                continue
            label = label_of.get(ann['category_id'])
            if label is None:  # not one of the selected classes
                continue
            img = images[ann['image_id']]
            self._img_ids_with_ann.add(img['img_id'])  # mmdet's cat_img_map: before dropping
            if ann.get('ignore', False):  # mmdet parse_data_info skips these
                num_ignore += 1
                continue
            x, y, w, h = (float(v) for v in ann['bbox'])
            if _degenerate(x, y, w, h, float(ann.get('area', w * h)), img['width'],
                           img['height']):
                num_degenerate += 1
                continue
            kept.append((img, (x, y, w, h), label, 1 if ann.get('iscrowd', 0) else 0))
        boxes = xywh_to_xyxy(np.array([k[1] for k in kept]).reshape(-1, 4)).tolist()
        for (img, _, label, ignore_flag), box in zip(kept, boxes):
            img['instances'].append(dict(bbox=box, bbox_label=label, ignore_flag=ignore_flag))
        report_invalid_annotations(invalid, self.ann_file, skip_invalid=self.skip_invalid)
        if num_degenerate or num_ignore:
            print_log(f'{self.ann_file}: dropped {num_degenerate} annotations with a degenerate '
                      'box (w or h < 1, area <= 0, or no overlap with the image)'
                      + (f' and {num_ignore} marked "ignore"' if num_ignore else ''),
                      logger='current', level=logging.INFO)

    # ------------------------------------------------------------------ filtering
    def filter_data(self) -> list[dict]:
        """Apply ``filter_cfg`` in training (mmdet ``CocoDataset.filter_data``)."""
        total = len(self.data_list)
        without_ann = [d for d in self.data_list if d['img_id'] not in self._img_ids_with_ann]
        if self.test_mode or self.filter_cfg is None:
            if without_ann:
                why = 'test_mode' if self.test_mode else 'filter_cfg=None'
                print_log(f'{self.ann_file}: kept {len(without_ann)} of {total} images without '
                          f'annotations of the selected classes ({why})', logger='current',
                          level=logging.INFO)
            return self.data_list
        filter_empty_gt = bool(self.filter_cfg.get('filter_empty_gt', False))
        min_size = self.filter_cfg.get('min_size', 0)
        kept, num_empty, num_small = [], 0, 0
        for info in self.data_list:
            if filter_empty_gt and info['img_id'] not in self._img_ids_with_ann:
                num_empty += 1
            elif min(info['width'], info['height']) < min_size:
                num_small += 1
            else:
                kept.append(info)
        if num_empty or num_small:
            print_log(f'{self.ann_file}: filter_cfg dropped {num_empty + num_small} of {total} '
                      f'images: {num_empty} without annotations of the selected classes '
                      f'(filter_empty_gt), {num_small} with a side < {min_size} (min_size)',
                      logger='current', level=logging.INFO)
        elif without_ann:
            print_log(f'{self.ann_file}: kept {len(without_ann)} of {total} images without '
                      'annotations of the selected classes (filter_empty_gt=False)',
                      logger='current', level=logging.INFO)
        if not kept:
            raise DataError(f'annotation file {self.ann_file}: no image left after '
                            f'filter_cfg={self.filter_cfg} (of {total})')
        return kept
