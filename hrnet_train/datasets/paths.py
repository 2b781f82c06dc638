"""What a dataset says when a file its config names is missing."""
from __future__ import annotations

import os


def data_root_hint(path: str, data_root: str | None) -> str:
    """The hint to append to a missing-file message when ``data_root`` was joined to the path.

    mmengine's ``BaseDataset`` joins a relative ``ann_file`` (and our datasets a relative
    ``bbox_file`` / ``gt_file``) to ``data_root``, so ``ann_file='data/x/train.lst'`` with
    ``data_root='data/x'`` looks for ``data/x/data/x/train.lst``. Returns ``''`` when the
    path does not start with ``data_root``.
    """
    if not data_root or not path.startswith(os.path.join(data_root, '')):
        return ''
    return (f" (relative paths in a dataset config are joined to data_root '{data_root}': "
            'give them relative to it, or absolute)')
