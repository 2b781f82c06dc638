"""Write Cityscapes ``*_gtFine_labelTrainIds.png`` files next to the ``*_gtFine_labelIds.png`` ones.

Usage::

    python tools/dataset_converters/cityscapes.py data/cityscapes [--nproc 8] [--overwrite]

The official cityscapesScripts ``createTrainIdLabelImgs.py`` draws the train ids from the polygon
JSON files; mapping the labelIds images with the same 34 -> 19 table gives the same result and
needs no extra package. ``CityscapesDataset`` reads labelIds files directly when no labelTrainIds
file exists, so this step only saves the lookup at load time.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

import cv2
from mmengine.utils import track_parallel_progress, track_progress

from hrnet_train.datasets.seg_labels import CITYSCAPES_LABEL_TABLE, convert_label_ids
from hrnet_train.datasets.transforms.seg import read_seg_map
from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.utils.errors import DataError

LABEL_IDS_SUFFIX = '_gtFine_labelIds.png'
TRAIN_IDS_SUFFIX = '_gtFine_labelTrainIds.png'


def find_label_id_files(gt_dir: str) -> list[str]:
    """Every ``*_gtFine_labelIds.png`` below ``gt_dir``, sorted."""
    found = []
    for dirpath, _, filenames in os.walk(gt_dir):
        found += [os.path.join(dirpath, n) for n in filenames if n.endswith(LABEL_IDS_SUFFIX)]
    return sorted(found)


def convert_file(src: str, overwrite: bool = False) -> bool:
    """Write the labelTrainIds file of one labelIds file; False if it existed and was kept."""
    dst = src[:-len(LABEL_IDS_SUFFIX)] + TRAIN_IDS_SUFFIX
    if os.path.exists(dst) and not overwrite:
        return False
    train_ids = convert_label_ids(read_seg_map(src), CITYSCAPES_LABEL_TABLE)
    if not cv2.imwrite(dst, train_ids):
        raise OSError(f'could not write {dst}')
    return True


def _convert_star(args: tuple[str, bool]) -> bool:
    return convert_file(*args)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root', help='Cityscapes root holding gtFine/ and leftImg8bit/')
    parser.add_argument('--gt-dir', default='gtFine', help='label folder under data_root')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    parser.add_argument('--overwrite', action='store_true', help='rewrite existing files')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    gt_dir = os.path.join(args.data_root, args.gt_dir)
    if not os.path.isdir(gt_dir):
        raise FileNotFoundError(f'label folder not found: {gt_dir}')
    files = find_label_id_files(gt_dir)
    if not files:
        raise DataError(f'no *{LABEL_IDS_SUFFIX} files below {gt_dir}')
    jobs = [(f, args.overwrite) for f in files]
    # progress bar: 5000 label files take minutes
    if args.nproc > 1:
        written = track_parallel_progress(_convert_star, jobs, args.nproc, chunksize=16)
    else:
        written = track_progress(_convert_star, jobs)
    print(f'{sum(written)} labelTrainIds files written, {len(files) - sum(written)} kept '
          f'(of {len(files)} labelIds files in {gt_dir})')


if __name__ == '__main__':
    sys.exit(run_tool(main))
