"""Derive stand-in PCKh ground truth for data/mpii_tiny from its own joints.

Usage::

    python tools/dataset_converters/make_mpii_tiny_gt.py [--root data/mpii_tiny] [--mat PATH]

The official ``annot/gt_valid.mat`` holds the annotated MPII head rectangles; the 5 persons in
data/mpii_tiny (mmpose ``tests/data/mpii``) come without them. This tool writes
``<root>/annot/headboxes_valid.json`` instead: per person of ``annot/valid.json``, in its order,
the axis-aligned box spanned by the person's ``upper_neck`` (joint 8) and ``head_top`` (joint 9),
``[[min x, min y], [max x, max y]]`` in the file's MATLAB 1-based pixels. Its diagonal is the
neck-to-head-top distance, so the PCKh head size is 0.6 x that distance. The real MPII head box
is a different, hand-drawn rectangle: PCKh numbers on this file are a smoke test of the
pipeline, not MPII numbers.

``--mat PATH`` also writes the same GT in the official ``gt_valid.mat`` layout (needs scipy):
``dataset_joints`` (1, 16), ``jnt_missing`` (16, N) = 1 - joints_vis, ``pos_gt_src`` (16, 2, N)
= joints, ``headboxes_src`` (2, 2, N) = the boxes above. The output is deterministic;
``tests/tools/test_make_mpii_tiny_gt.py`` checks the committed JSON against a fresh run.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Optional, Sequence

import numpy as np

from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.evaluation.functional.pckh import MPII_JOINT_SHORT_NAMES
from hrnet_train.utils.errors import DataError

NECK, HEAD_TOP = 8, 9  # MPII joint ids upper_neck, head_top


def derive_headboxes(anns: list) -> np.ndarray:
    """(N, 2, 2) float64 head boxes spanned by upper_neck and head_top (see the module doc)."""
    boxes = []
    for i, ann in enumerate(anns):
        joints = np.asarray(ann['joints'], dtype=np.float64)
        vis = np.asarray(ann['joints_vis'])
        if joints.shape != (16, 2) or not (vis[NECK] > 0 and vis[HEAD_TOP] > 0):
            raise DataError(f'entry {i}: needs 16 joints with upper_neck and head_top visible')
        pts = joints[[NECK, HEAD_TOP]]
        boxes.append([pts.min(axis=0), pts.max(axis=0)])
    return np.asarray(boxes)


def write_gt_mat(path: str, anns: list, headboxes: np.ndarray) -> None:
    """The derived GT in the official gt_valid.mat layout (scipy.io.savemat)."""
    from scipy.io import savemat
    joints = np.asarray([a['joints'] for a in anns], dtype=np.float64)  # (N, 16, 2)
    vis = np.asarray([a['joints_vis'] for a in anns], dtype=np.float64)  # (N, 16)
    names = np.empty((1, len(MPII_JOINT_SHORT_NAMES)), dtype=object)
    names[0, :] = list(MPII_JOINT_SHORT_NAMES)
    savemat(path, dict(dataset_joints=names, jnt_missing=(1 - vis).T,
                       pos_gt_src=joints.transpose(1, 2, 0),
                       headboxes_src=headboxes.transpose(1, 2, 0)))


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default='data/mpii_tiny', help='folder with annot/valid.json')
    parser.add_argument('--mat', default=None, help='also write a gt_valid.mat-layout file here')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    ann_file = os.path.join(args.root, 'annot', 'valid.json')
    with open(ann_file) as f:
        anns = json.load(f)
    boxes = derive_headboxes(anns)
    out = os.path.join(args.root, 'annot', 'headboxes_valid.json')
    lines = [json.dumps([[round(float(v), 4) for v in corner] for corner in box])
             for box in boxes]
    with open(out, 'w') as f:
        f.write('[\n' + ',\n'.join(lines) + '\n]\n')  # one person per line
    print(f'wrote {len(boxes)} head boxes to {out}')
    if args.mat:
        write_gt_mat(args.mat, anns, boxes)
        print(f'wrote {args.mat} (gt_valid.mat layout)')


if __name__ == '__main__':
    sys.exit(run_tool(main))
