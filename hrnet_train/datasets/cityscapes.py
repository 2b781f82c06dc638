"""Cityscapes semantic segmentation (19 evaluated classes, fine annotations)."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import numpy as np

from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import DataError

from .paths import data_root_hint
from .seg_folder import SegFolderDataset, check_fixed_labels
from .seg_labels import CITYSCAPES_LABEL_TABLE

CITYSCAPES_CLASSES = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
    'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
    'motorcycle', 'bicycle')

# RGB colours of the train ids (cityscapesScripts helpers/labels.py).
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32))

# Cross-entropy class weights in train-id order (HRNet-Semantic-Segmentation
# lib/datasets/cityscapes.py, ``class_weights``), used by the official recipe.
CLASS_WEIGHTS = (
    0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023, 0.9539,
    0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507)

_LABEL_IDS_SUFFIX = '_gtFine_labelIds.png'
_LABEL_TRAIN_IDS_SUFFIX = '_gtFine_labelTrainIds.png'


def _table_for(seg_map_path: str) -> Optional[np.ndarray]:
    """Raw labelIds files need the 34 -> 19 table; labelTrainIds files are already train ids.

    The table marks raw ids 34..255 invalid, so ``LoadSegAnnotation`` raises on them.
    """
    return CITYSCAPES_LABEL_TABLE if seg_map_path.endswith('_labelIds.png') else None


@DATASETS.register_module()
class CityscapesDataset(SegFolderDataset):
    """Cityscapes in its official on-disk layout, or from an official list file.

    Layout (``data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')``)::

        data_root/leftImg8bit/val/<city>/<name>_leftImg8bit.png
        data_root/gtFine/val/<city>/<name>_gtFine_labelTrainIds.png   (preferred, if present)
        data_root/gtFine/val/<city>/<name>_gtFine_labelIds.png        (else; mapped 34 -> 19)

    ``tools/dataset_converters/cityscapes.py`` writes the labelTrainIds files. With ``ann_file``
    the samples come from an official HRNet list file (``data/list/cityscapes/*.lst``): one line
    per sample, ``leftImg8bit/...png<TAB>gtFine/...png`` relative to ``data_root``; a line with
    the image only (test list) gives an unlabelled sample. A listed ``*_labelIds.png`` gets the
    34 -> 19 lookup table, any other label file is read as train ids.

    Checks: those of ``SegFolderDataset`` (folders exist, the walk finds ``*<img_suffix>`` images,
    listed images and label files exist, ``skip_invalid``); a list-file line has one or two
    fields. When loading, a labelIds file holding ids outside 0..33 is a ``DataError`` naming
    the file and the ids (cityscapesScripts writes 0..33 only), as is a labelTrainIds value that
    is neither 0..18 nor 255.

    Args:
        seg_map_suffix: label file ending preferred by the folder walk; when it is the
            labelTrainIds ending and that file is missing, ``_gtFine_labelIds.png`` is used.
        Others: see ``SegFolderDataset`` (``label_map`` is set per file here, not an argument;
            ``skip_invalid`` applies to the folder walk and to list files).
    """

    METAINFO: dict = dict(classes=CITYSCAPES_CLASSES, palette=list(CITYSCAPES_PALETTE))

    def __init__(
        self,
        *,
        data_root: str = '',
        data_prefix: Optional[Mapping[str, str]] = None,
        ann_file: str = '',
        metainfo: Optional[Mapping[str, Any]] = None,
        img_suffix: str = '_leftImg8bit.png',
        seg_map_suffix: str = _LABEL_TRAIN_IDS_SUFFIX,
        **kwargs: Any,
    ) -> None:
        check_fixed_labels('CityscapesDataset', kwargs, metainfo, CITYSCAPES_CLASSES,
                           'CityscapesDataset sets {key} itself (labelIds files get the '
                           'official 34 -> 19 table)')
        super().__init__(
            data_root=data_root, data_prefix=data_prefix, ann_file=ann_file, metainfo=metainfo,
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def load_data_list(self) -> list[dict]:
        if not self.ann_file:
            return super().load_data_list()
        return self._load_list_file(self.ann_file)

    def _find_seg_map(self, seg_dir: str, stem: str,
                      img_path: str) -> tuple[str, Optional[np.ndarray]]:
        suffixes = [self.seg_map_suffix]
        if self.seg_map_suffix == _LABEL_TRAIN_IDS_SUFFIX:
            suffixes.append(_LABEL_IDS_SUFFIX)
        # stem is '<city>/<city>_<seq>_<frame>' (img_suffix stripped).
        candidates = [os.path.join(seg_dir, stem + s) for s in suffixes]
        for path in candidates:
            if os.path.isfile(path):
                return path, _table_for(path)
        raise DataError(
            f'label file not found for image {img_path}: looked for '
            + ' and '.join(candidates))

    def _load_list_file(self, list_file: str) -> list[dict]:
        if not os.path.isfile(list_file):
            raise FileNotFoundError(f'Cityscapes list file (ann_file) not found: {list_file}'
                                    + data_root_hint(list_file, self.data_root))
        if self.data_root and not os.path.isdir(self.data_root):
            raise DataError(f'data_root {self.data_root} does not exist (a folder)')
        root = self.data_root or ''
        data_list, invalid = [], []
        with open(list_file) as f:
            for line_no, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) > 2:
                    raise DataError(
                        f'{list_file}:{line_no}: expected "image<TAB>label" or "image", '
                        f'got {line.rstrip()!r}')
                try:
                    data_list.append(self._list_sample(fields, root, f'{list_file}:{line_no}'))
                except DataError as e:
                    if not self.skip_invalid:
                        raise
                    invalid.append(str(e))
        return self._report_dropped(data_list, invalid, list_file)

    def _list_sample(self, fields: list[str], root: str, where: str) -> dict:
        """Data info of one list-file line ``image [label]``, paths relative to ``root``."""
        img_path = os.path.join(root, fields[0])
        if not os.path.isfile(img_path):
            raise DataError(f'image file not found: {img_path} (listed in {where})')
        info = dict(img_path=img_path, label_map=None)
        if len(fields) == 2:
            seg_map_path = os.path.join(root, fields[1])
            if not os.path.isfile(seg_map_path):
                raise DataError(f'label file not found: {seg_map_path} (listed in {where})')
            info['seg_map_path'] = seg_map_path
            info['label_map'] = _table_for(seg_map_path)
        info['reduce_zero_label'] = False
        info['num_classes'] = self.num_classes
        return info
