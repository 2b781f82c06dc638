"""Semantic segmentation from an image folder and a label folder (custom data)."""
from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import DataError

from .paths import data_root_hint
from .seg_labels import build_label_table

# How many offenders the one skip_invalid log line names.
_NUM_NAMED_OFFENDERS = 3


def _list_files(root: str, suffix: str) -> list[str]:
    """Paths relative to ``root`` of every file below it ending in ``suffix``, sorted.

    Raises:
        DataError: naming ``root`` and ``suffix`` when ``root`` is not a folder or holds no
            such file.
    """
    if not os.path.isdir(root):
        raise DataError(f'image folder {root} does not exist (looking for *{suffix} images)')
    found, other = [], Counter()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.endswith(suffix):
                found.append(name if rel_dir == '.' else os.path.join(rel_dir, name))
            else:
                other[os.path.splitext(name)[1] or name] += 1
    if not found:
        hint = (f'; its {sum(other.values())} other files mostly end in '
                f'"{other.most_common(1)[0][0]}": check img_suffix' if other else '; it is empty')
        raise DataError(f'no image ending in "{suffix}" below {root}{hint}')
    return sorted(found)


def _default_palette(num_classes: int) -> list[tuple[int, int, int]]:
    """A fixed pseudo-random RGB palette, the same on every run."""
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, size=(num_classes, 3))
    return [tuple(int(v) for v in c) for c in colors]


@DATASETS.register_module()
class SegFolderDataset(BaseDataset):
    """Images in ``data_prefix['img_path']``, label maps of the same stem in ``seg_map_path``.

    ``<img_dir>/<stem><img_suffix>`` pairs with ``<ann_dir>/<stem><seg_map_suffix>``; ``stem`` may
    contain sub-folders. Without ``ann_file`` every image below ``img_dir`` is used (sorted); with
    it, ``ann_file`` is a split file listing one stem per line (mmseg's format). Without
    ``seg_map_path`` in ``data_prefix`` the samples carry no label (inference).

    Label files hold (H, W) class ids, 255 = ignore. They are read by ``LoadSegAnnotation``, which
    applies ``label_map`` to the raw file values and then ``reduce_zero_label``, and checks them.

    Checks (``DataError`` naming the folder or file, one line): ``data_root``, the image folder
    and the label folder exist; the folder walk finds at least one ``*<img_suffix>`` file (the
    error names the folder and the suffix); every image listed in ``ann_file`` and every label
    file exists (with ``skip_invalid=True`` such samples are dropped instead, with one warning
    giving their count and the first few); the dataset is not empty.

    Args:
        metainfo: must hold ``classes`` (names, one per train id); ``palette`` (list of RGB
            triplets, one per class) is optional and is generated when missing.
        data_root, data_prefix, ann_file: see mmengine ``BaseDataset``. ``data_prefix`` keys:
            ``img_path`` (required) and ``seg_map_path`` (optional).
        img_suffix, seg_map_suffix: file name endings after the stem.
        reduce_zero_label: label 0 becomes 255 and every other label is decreased by 1 (for
            sets where 0 is "other", e.g. ADE20K).
        label_map: ``{raw_id: train_id}``; raw ids not listed become 255. ``None``: file values
            are already train ids.
        skip_invalid: drop samples whose label file (or listed image) is missing, with one
            warning, instead of raising on the first.
        **kwargs: ``pipeline``, ``test_mode``, ``lazy_init``, ``serialize_data``, ``indices``,
            ``max_refetch`` of ``BaseDataset``.

    Data info keys: ``img_path``, ``seg_map_path`` (when labelled), ``label_map`` ((256,) int16
    lookup table, see ``seg_labels``, or None), ``reduce_zero_label``, ``num_classes``.
    """

    METAINFO: dict = dict()

    def __init__(
        self,
        *,
        data_root: str = '',
        data_prefix: Optional[Mapping[str, str]] = None,
        ann_file: str = '',
        metainfo: Optional[Mapping[str, Any]] = None,
        img_suffix: str = '.jpg',
        seg_map_suffix: str = '.png',
        reduce_zero_label: bool = False,
        label_map: Optional[Mapping[int, int]] = None,
        skip_invalid: bool = False,
        **kwargs: Any,
    ) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='')
        if 'img_path' not in data_prefix:
            raise ValueError(f"data_prefix must have an 'img_path' key, got {dict(data_prefix)}")
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.reduce_zero_label = bool(reduce_zero_label)
        self.skip_invalid = bool(skip_invalid)
        self.label_table = None if label_map is None else build_label_table(label_map)
        merged = self._check_metainfo(metainfo)
        super().__init__(
            ann_file=ann_file, metainfo=merged, data_root=data_root,
            data_prefix=dict(data_prefix), **kwargs)

    def _check_metainfo(self, metainfo: Optional[Mapping[str, Any]]) -> dict:
        merged = dict(self.METAINFO)
        merged.update(metainfo or {})
        classes = merged.get('classes')
        if not classes:
            raise ValueError(
                f'{type(self).__name__} needs metainfo=dict(classes=(...)) naming every class')
        merged['classes'] = tuple(classes)
        palette = merged.get('palette')
        if palette is None:
            palette = _default_palette(len(classes))
        palette = [tuple(int(v) for v in c) for c in palette]
        if len(palette) != len(classes) or any(len(c) != 3 for c in palette):
            raise ValueError(
                f'metainfo.palette must hold one RGB triplet per class ({len(classes)}), '
                f'got {len(palette)} entries')
        merged['palette'] = palette
        return merged

    @property
    def num_classes(self) -> int:
        return len(self._metainfo['classes'])

    def _check_folders(self) -> None:
        """data_root, the image folder and the label folder must exist."""
        if self.data_root and not os.path.isdir(self.data_root):
            raise DataError(f'data_root {self.data_root} does not exist (a folder)')
        for key, what in (('img_path', 'image folder'), ('seg_map_path', 'label folder')):
            folder = self.data_prefix.get(key)
            if folder and not os.path.isdir(folder):
                raise DataError(f'{what} {folder} (data_prefix {key}) does not exist')

    def _report_dropped(self, data_list: list, invalid: list[str], source: str) -> list[dict]:
        """Log the samples skip_invalid dropped in one line; an empty result is an error."""
        if invalid:
            named = '; '.join(invalid[:_NUM_NAMED_OFFENDERS])
            more = ' ...' if len(invalid) > _NUM_NAMED_OFFENDERS else ''
            print_log(f'{source}: skip_invalid dropped {len(invalid)} of '
                      f'{len(invalid) + len(data_list)} samples: {named}{more}',
                      logger='current', level=logging.WARNING)
        if not data_list and invalid:
            raise DataError(f'{source}: no sample left (all {len(invalid)} dropped by '
                            'skip_invalid)')
        if not data_list:
            raise DataError(f'{source}: no sample listed')
        return data_list

    def load_data_list(self) -> list[dict]:
        self._check_folders()
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix.get('seg_map_path')
        if self.ann_file:
            stems = self._read_split_file(self.ann_file)
        else:
            stems = [p[:-len(self.img_suffix)] for p in _list_files(img_dir, self.img_suffix)]
        data_list, invalid = [], []
        for stem in stems:
            img_path = os.path.join(img_dir, stem + self.img_suffix)
            try:
                if self.ann_file and not os.path.isfile(img_path):
                    raise DataError(
                        f'image file not found: {img_path} (listed in {self.ann_file})')
                info = dict(img_path=img_path, label_map=self.label_table)
                if seg_dir is not None:
                    seg_map_path, label_map = self._find_seg_map(seg_dir, stem, img_path)
                    info.update(seg_map_path=seg_map_path, label_map=label_map)
            except DataError as e:
                if not self.skip_invalid:
                    raise
                invalid.append(str(e))
                continue
            info['reduce_zero_label'] = self.reduce_zero_label
            info['num_classes'] = self.num_classes
            data_list.append(info)
        return self._report_dropped(data_list, invalid, self.ann_file or img_dir)

    def _find_seg_map(self, seg_dir: str, stem: str,
                      img_path: str) -> tuple[str, Optional[np.ndarray]]:
        """Label file of one image and the lookup table to apply to it."""
        path = os.path.join(seg_dir, stem + self.seg_map_suffix)
        if not os.path.isfile(path):
            raise DataError(f'label file not found: {path} (for image {img_path})')
        return path, self.label_table

    def _read_split_file(self, path: str) -> list[str]:
        if not os.path.isfile(path):
            raise FileNotFoundError(f'split file (ann_file) not found: {path}'
                                    + data_root_hint(path, self.data_root))
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]


def check_classes(classes: Sequence[str], expected: Sequence[str], dataset: str) -> None:
    """Raise when a config renames or subsets the fixed classes of a public dataset."""
    if tuple(classes) != tuple(expected):
        raise ValueError(
            f'{dataset} has the fixed classes {tuple(expected)}; got metainfo.classes='
            f'{tuple(classes)}. For another class set use SegFolderDataset with label_map.')


def check_fixed_labels(dataset: str, kwargs: Mapping[str, Any],
                       metainfo: Optional[Mapping[str, Any]], classes: Sequence[str],
                       reason: str) -> None:
    """Raise when a config overrides what a public dataset fixes: its label convention
    (``label_map``/``reduce_zero_label`` in ``kwargs``; ``reason`` says why, with ``{key}``) or
    its classes (:func:`check_classes`)."""
    for key in ('label_map', 'reduce_zero_label'):
        if key in kwargs:
            raise ValueError(reason.format(key=key) + f'; remove {key} from the config')
    if metainfo and 'classes' in metainfo:
        check_classes(metainfo['classes'], classes, dataset)
