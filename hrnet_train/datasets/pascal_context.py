"""PASCAL-Context semantic segmentation: 59 classes (background ignored) or 60 (with background).

Label files are mmseg's converted ``SegmentationClassContext/*.png``: 0 = background, 1..59 = the
59 classes in the alphabetical order below (``tools/dataset_converters/pascal_context.py`` writes
them from ``trainval_merged.json``; the official HRNet ``lib/datasets/pascal_ctx.py`` builds the
same maps in memory with the Detail API).
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import DataError

from .paths import data_root_hint
from .seg_folder import SegFolderDataset, check_fixed_labels

# The 59 classes, in label order 1..59 (open-mmlab/mmsegmentation 1.x
# mmseg/datasets/pascal_context.py, PascalContextDataset59). This is the order of their raw
# PASCAL-Context ids (labels.txt of the 459 classes is alphabetical), which the official
# ``_class_to_index`` (np.digitize over the sorted id list) turns into 1..59.
PASCAL_CONTEXT_59_CLASSES = (
    'aeroplane', 'bag', 'bed', 'bedclothes', 'bench', 'bicycle', 'bird', 'boat', 'book',
    'bottle', 'building', 'bus', 'cabinet', 'car', 'cat', 'ceiling', 'chair', 'cloth',
    'computer', 'cow', 'cup', 'curtain', 'dog', 'door', 'fence', 'floor', 'flower', 'food',
    'grass', 'ground', 'horse', 'keyboard', 'light', 'motorbike', 'mountain', 'mouse', 'person',
    'plate', 'platform', 'pottedplant', 'road', 'rock', 'sheep', 'shelves', 'sidewalk', 'sign',
    'sky', 'snow', 'sofa', 'table', 'track', 'train', 'tree', 'truck', 'tvmonitor', 'wall',
    'water', 'window', 'wood')
PASCAL_CONTEXT_60_CLASSES = ('background',) + PASCAL_CONTEXT_59_CLASSES

# mmseg's PascalContextDataset palette (60 entries, background first); the 59-class set uses
# entries 1..59, as mmseg's PascalContextDataset59 does.
PASCAL_CONTEXT_60_PALETTE = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80),
    (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7),
    (150, 5, 61), (120, 120, 70), (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4),
    (255, 51, 7), (204, 70, 3), (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255),
    (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92), (112, 9, 255),
    (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10), (7, 255, 255),
    (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255),
    (140, 140, 140), (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0),
    (153, 255, 0), (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255))
PASCAL_CONTEXT_59_PALETTE = PASCAL_CONTEXT_60_PALETTE[1:]


def check_split_file(dataset: SegFolderDataset) -> None:
    """A public set read through a split file: ``ann_file`` must name an existing file."""
    name = type(dataset).__name__
    if not dataset.ann_file:
        raise ValueError(f'{name} needs ann_file (a split file listing one image stem per line)')
    if not os.path.isfile(dataset.ann_file):
        raise DataError(f'{name}: split file (ann_file) {dataset.ann_file} does not exist'
                        + data_root_hint(dataset.ann_file, dataset.data_root))


@DATASETS.register_module()
class PascalContextDataset(SegFolderDataset):
    """PASCAL-Context, 59 classes: background (label 0) is ignored, labels 1..59 -> 0..58.

    This is the official HRNet setting (``lib/datasets/pascal_ctx.py`` with NUM_CLASSES 59:
    ``label - 1``, background -> ignore) and mmseg's ``PascalContextDataset59``; the reported
    54.1 mIoU averages the 59 classes. ``PascalContextDataset60`` keeps background as class 0.

    Layout (mmseg's converted layout, ``data_root='data/VOCdevkit/VOC2010'``)::

        JPEGImages/<stem>.jpg
        SegmentationClassContext/<stem>.png               0 = background, 1..59 (uint8)
        ImageSets/SegmentationContext/{train,val}.txt     one stem per line (4998 / 5105)

    ``data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext')``,
    ``ann_file='ImageSets/SegmentationContext/train.txt'`` (required: JPEGImages also holds the
    VOC images without a Context label).

    Checks: those of ``SegFolderDataset`` (folders exist, listed images and label files exist,
    ``skip_invalid``); the split file exists (``DataError``). When loading, a label file value
    above 59 (other than 255) is a ``DataError`` naming the file (``LoadSegAnnotation`` checks
    the values against ``num_classes`` after the zero reduction).

    Args:
        img_suffix, seg_map_suffix: '.jpg' and '.png' unless given.
        Others: see ``SegFolderDataset``; ``reduce_zero_label`` and ``label_map`` are fixed here.
    """

    METAINFO: dict = dict(classes=PASCAL_CONTEXT_59_CLASSES,
                          palette=list(PASCAL_CONTEXT_59_PALETTE))
    REDUCE_ZERO_LABEL = True

    def __init__(self, *, data_root: str = '', data_prefix: Optional[Mapping[str, str]] = None,
                 ann_file: str = '', metainfo: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> None:
        name = type(self).__name__
        check_fixed_labels(name, kwargs, metainfo, self.METAINFO['classes'],
                           name + ' sets {key} itself (59 classes: reduce_zero_label; '
                           'PascalContextDataset60: none)')
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '.png')
        super().__init__(
            data_root=data_root, data_prefix=data_prefix, ann_file=ann_file, metainfo=metainfo,
            reduce_zero_label=self.REDUCE_ZERO_LABEL, **kwargs)

    def load_data_list(self) -> list[dict]:
        check_split_file(self)
        return super().load_data_list()


@DATASETS.register_module()
class PascalContextDataset60(PascalContextDataset):
    """PASCAL-Context, 60 classes: background is class 0 and is evaluated (labels used as is).

    The official HRNet setting with NUM_CLASSES 60 (48.3 mIoU) and mmseg's
    ``PascalContextDataset``. Same layout and checks as ``PascalContextDataset``; a label
    value above 59 (other than 255) is a ``DataError``.
    """

    METAINFO: dict = dict(classes=PASCAL_CONTEXT_60_CLASSES,
                          palette=list(PASCAL_CONTEXT_60_PALETTE))
    REDUCE_ZERO_LABEL = False
