"""Label-id lookup tables for semantic segmentation: raw file values -> train ids.

A lookup table is a (256,) int16 array ``table`` with ``train_id = table[raw_id]``: 0..254 are
train ids, 255 means ignore and ``INVALID_RAW_ID`` (-1) marks a value that must not occur in the
label files at all (``convert_label_ids`` raises on it). Tables are what datasets put in
``label_map`` and what ``LoadSegAnnotation`` applies.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional

import numpy as np

from hrnet_train.utils.errors import DataError

IGNORE_INDEX = 255
INVALID_RAW_ID = -1

# Cityscapes labelId -> trainId for the 19 evaluated classes (cityscapesScripts
# helpers/labels.py; HRNet-Semantic-Segmentation lib/datasets/cityscapes.py, ``label_mapping``).
# Every other id (0-6, 9, 10, 14-16, 18, 29, 30) maps to 255.
CITYSCAPES_ID_TO_TRAIN_ID: dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
# labelIds files hold ids 0..33 only: cityscapesScripts preparation/json2labelImg.py starts from
# 'unlabeled' (0) and skips polygons with a negative id ("that polygon should not be drawn"),
# so the licence plate (-1) never appears; 34..255 mean a wrong or damaged file.
CITYSCAPES_NUM_LABEL_IDS = 34


def build_label_table(mapping: Mapping[int, int], *, default: int = IGNORE_INDEX,
                      valid_ids: Optional[Iterable[int]] = None) -> np.ndarray:
    """Turn a ``{raw_id: train_id}`` mapping into a lookup table.

    Args:
        mapping: raw ids in [0, 255] to train ids in [0, 255].
        default: train id of every valid raw id not in ``mapping`` (ignore by default).
        valid_ids: the raw ids a label file may hold; every other id gets ``INVALID_RAW_ID``.
            None: all 256 values are valid (a user's ``label_map``: unlisted ids -> ``default``).

    Returns:
        (256,) int16 table, ``table[raw_id] = train_id``, -1 for invalid raw ids.
    """
    table = np.full(256, default, dtype=np.int16)
    if valid_ids is not None:
        valid = np.zeros(256, dtype=bool)
        valid[[int(i) for i in valid_ids]] = True
        table[~valid] = INVALID_RAW_ID
    for raw_id, train_id in mapping.items():
        if not 0 <= int(raw_id) <= 255 or not 0 <= int(train_id) <= 255:
            raise ValueError(
                f'label_map entries must map ids in [0, 255] to ids in [0, 255], '
                f'got {raw_id} -> {train_id}')
        if table[int(raw_id)] == INVALID_RAW_ID:
            raise ValueError(f'label_map maps raw id {raw_id}, which is not in valid_ids')
        table[int(raw_id)] = int(train_id)
    return table


def _format_ids(ids: np.ndarray) -> str:
    """Sorted ids as runs, e.g. ``0..33`` or ``0..5, 7, 9..12``."""
    runs, start = [], None
    for i, v in enumerate(ids):
        if start is None:
            start = v
        if i + 1 == len(ids) or ids[i + 1] != v + 1:
            runs.append(str(start) if start == v else f'{start}..{v}')
            start = None
    return ', '.join(runs)


def convert_label_ids(label: np.ndarray, table: np.ndarray, *,
                      path: Optional[str] = None) -> np.ndarray:
    """Map raw label ids to train ids with a lookup table.

    Args:
        label: (H, W) uint8 raw ids (e.g. Cityscapes ``*_gtFine_labelIds.png``).
        table: (256,) integer lookup table with values in [-1, 255], see ``build_label_table``;
            a uint8 table (no invalid ids) is accepted too.
        path: the label file, named in the error.

    Returns:
        (H, W) uint8 train ids, 255 = ignore.

    Raises:
        DataError: when ``label`` holds raw ids the table marks invalid (-1).
    """
    table = np.asarray(table)
    if (table.shape != (256,) or not np.issubdtype(table.dtype, np.integer)
            or table.min() < INVALID_RAW_ID or table.max() > 255):
        raise ValueError(
            f'label_map must be a (256,) integer lookup table with values in [-1, 255], got '
            f'shape {table.shape} dtype {table.dtype}')
    if label.dtype != np.uint8:
        raise ValueError(f'label must be uint8 raw ids, got dtype {label.dtype}')
    out = table[label]
    if table.min() < 0 and out.min() < 0:
        invalid = out < 0
        bad = np.unique(label[invalid])
        valid = np.flatnonzero(table >= 0)
        raise DataError(
            f'label file {path or "(in memory)"} holds raw ids {bad.tolist()[:10]} '
            f'({int(invalid.sum())} px) that are not valid for its label table (valid raw ids: '
            f'{_format_ids(valid)})')
    return out.astype(np.uint8)


CITYSCAPES_LABEL_TABLE: np.ndarray = build_label_table(
    CITYSCAPES_ID_TO_TRAIN_ID, valid_ids=range(CITYSCAPES_NUM_LABEL_IDS))
CITYSCAPES_LABEL_TABLE.setflags(write=False)
