"""Label-id lookup tables for semantic segmentation: raw file values -> train ids.

A lookup table is a (256,) uint8 array ``table`` with ``train_id = table[raw_id]``; 255 means
ignore. Tables are what datasets put in ``label_map`` and what ``LoadSegAnnotation`` applies.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

IGNORE_INDEX = 255

# Cityscapes labelId -> trainId for the 19 evaluated classes (cityscapesScripts
# helpers/labels.py; HRNet-Semantic-Segmentation lib/datasets/cityscapes.py, ``label_mapping``).
# Every other id (0-6, 9, 10, 14-16, 18, 29, 30 and the licence plate, -1) maps to 255.
CITYSCAPES_ID_TO_TRAIN_ID: dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}


def build_label_table(mapping: Mapping[int, int], *, default: int = IGNORE_INDEX) -> np.ndarray:
    """Turn a ``{raw_id: train_id}`` mapping into a lookup table.

    Args:
        mapping: raw ids in [0, 255] to train ids in [0, 255].
        default: train id of every raw id not in ``mapping`` (ignore by default).

    Returns:
        (256,) uint8 table, ``table[raw_id] = train_id``.
    """
    table = np.full(256, default, dtype=np.uint8)
    for raw_id, train_id in mapping.items():
        if not 0 <= int(raw_id) <= 255 or not 0 <= int(train_id) <= 255:
            raise ValueError(
                f'label_map entries must map ids in [0, 255] to ids in [0, 255], '
                f'got {raw_id} -> {train_id}')
        table[int(raw_id)] = int(train_id)
    return table


def convert_label_ids(label: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Map raw label ids to train ids with a lookup table.

    Args:
        label: (H, W) uint8 raw ids (e.g. Cityscapes ``*_gtFine_labelIds.png``).
        table: (256,) uint8 lookup table, see ``build_label_table``.

    Returns:
        (H, W) uint8 train ids, 255 = ignore.
    """
    table = np.asarray(table)
    if table.shape != (256,) or table.dtype != np.uint8:
        raise ValueError(
            f'label_map must be a (256,) uint8 lookup table, got shape {table.shape} '
            f'dtype {table.dtype}')
    if label.dtype != np.uint8:
        raise ValueError(f'label must be uint8 raw ids, got dtype {label.dtype}')
    return table[label]


CITYSCAPES_LABEL_TABLE: np.ndarray = build_label_table(CITYSCAPES_ID_TO_TRAIN_ID)
CITYSCAPES_LABEL_TABLE.setflags(write=False)
