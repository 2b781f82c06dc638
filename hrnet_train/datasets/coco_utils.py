"""Reading COCO annotation files: what the COCO keypoint and detection datasets share."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
from mmengine.logging import print_log

from hrnet_train.utils.errors import DataError

from .paths import data_root_hint


def load_coco_json(path: str, what: str, data_root: str | None = None):
    """Read a COCO json: FileNotFoundError naming ``what`` and the path when it is missing
    (with :func:`data_root_hint`), a one-line DataError when it is not JSON."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}' + data_root_hint(path, data_root))
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        reason = str(e).replace('\n', ' ')
        raise DataError(f'{what} {path} is not valid JSON ({reason})') from None


# How many offenders the one skip_invalid log line names.
NUM_NAMED_OFFENDERS = 5


def bbox_problem(bbox) -> str | None:
    """Why ``bbox`` is not [x, y, w, h] of 4 finite numbers, or None."""
    try:
        box = np.asarray(bbox, dtype=np.float64)
    except (TypeError, ValueError):
        box = None
    if box is None or box.shape != (4,):
        return f'has bbox {str(bbox)[:80]}, expected [x, y, w, h]'
    if not np.isfinite(box).all():
        return f'has non-finite bbox {bbox} (NaN or Inf)'
    return None


def report_invalid_annotations(invalid: list[tuple[object, str]], ann_file: str, *,
                               skip_invalid: bool) -> None:
    """Raise on the first invalid annotation, or log them all in one line (``skip_invalid``).

    Args:
        invalid: (annotation id, problem) pairs in file order; a problem reads as the end of a
            sentence starting with the annotation id ("has non-finite bbox ...").
        ann_file: the annotation file, named in the message.
        skip_invalid: log the count and the first few instead of raising.
    """
    if not invalid:
        return
    if not skip_invalid:
        ann_id, problem = invalid[0]
        raise DataError(f'annotation id {ann_id} in {ann_file} {problem}')
    named = '; '.join(f'id {i} {p}' for i, p in invalid[:NUM_NAMED_OFFENDERS])
    more = ' ...' if len(invalid) > NUM_NAMED_OFFENDERS else ''
    print_log(f'{ann_file}: skip_invalid dropped {len(invalid)} invalid annotations: '
              f'{named}{more}', logger='current', level=logging.WARNING)
