"""Semantic segmentation from an image folder and a label folder (custom data)."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from hrnet_train.registry import DATASETS

from .seg_labels import build_label_table


def _list_files(root: str, suffix: str) -> list[str]:
    """Paths relative to ``root`` of every file below it ending in ``suffix``, sorted."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f'image folder not found: {root}')
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.endswith(suffix):
                found.append(name if rel_dir == '.' else os.path.join(rel_dir, name))
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
    applies ``label_map`` to the raw file values and then ``reduce_zero_label``.

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
        **kwargs: ``pipeline``, ``test_mode``, ``lazy_init``, ``serialize_data``, ``indices``,
            ``max_refetch`` of ``BaseDataset``.

    Data info keys: ``img_path``, ``seg_map_path`` (when labelled), ``label_map`` ((256,) uint8
    lookup table or None), ``reduce_zero_label``, ``num_classes``.
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
        **kwargs: Any,
    ) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='')
        if 'img_path' not in data_prefix:
            raise ValueError(f"data_prefix must have an 'img_path' key, got {dict(data_prefix)}")
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.reduce_zero_label = bool(reduce_zero_label)
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

    def load_data_list(self) -> list[dict]:
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix.get('seg_map_path')
        if self.ann_file:
            stems = self._read_split_file(self.ann_file)
        else:
            stems = [p[:-len(self.img_suffix)] for p in _list_files(img_dir, self.img_suffix)]
        data_list = []
        for stem in stems:
            img_path = os.path.join(img_dir, stem + self.img_suffix)
            if self.ann_file and not os.path.isfile(img_path):
                raise FileNotFoundError(
                    f'image file not found: {img_path} (listed in {self.ann_file})')
            info = dict(img_path=img_path, label_map=self.label_table)
            if seg_dir is not None:
                seg_map_path, label_map = self._find_seg_map(seg_dir, stem, img_path)
                info.update(seg_map_path=seg_map_path, label_map=label_map)
            info['reduce_zero_label'] = self.reduce_zero_label
            info['num_classes'] = self.num_classes
            data_list.append(info)
        return data_list

    def _find_seg_map(self, seg_dir: str, stem: str,
                      img_path: str) -> tuple[str, Optional[np.ndarray]]:
        """Label file of one image and the lookup table to apply to it."""
        path = os.path.join(seg_dir, stem + self.seg_map_suffix)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'label file not found: {path} (for image {img_path})')
        return path, self.label_table

    @staticmethod
    def _read_split_file(path: str) -> list[str]:
        if not os.path.isfile(path):
            raise FileNotFoundError(f'split file (ann_file) not found: {path}')
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]


def check_classes(classes: Sequence[str], expected: Sequence[str], dataset: str) -> None:
    """Raise when a config renames or subsets the fixed classes of a public dataset."""
    if tuple(classes) != tuple(expected):
        raise ValueError(
            f'{dataset} has the fixed classes {tuple(expected)}; got metainfo.classes='
            f'{tuple(classes)}. For another class set use SegFolderDataset with label_map.')
