"""Cut a tiny real-image classification set (folder layout) out of the bundled images.

Usage::

    python tools/dataset_converters/make_cls_tiny.py [--out data/cls_tiny] [--overwrite]

Writes ``<out>/{train,val}/<class>/*.jpg`` for three classes:

- ``person``: the COCO person boxes of ``data/coco_tiny/annotations/test_coco.json`` with both
  sides >= 30 px (12 of its 14; not crowd), each cut three times (the box with some context,
  shifted and scaled, see ``PERSON_JITTERS``) and shrunk so that the long side is 32 px;
- ``building``, ``road``: the non-overlapping 16 x 16 windows of the Cityscapes frame in
  ``data/cityscapes_tiny`` in which at least 90 % of the pixels have that train id (label
  file ``*_gtFine_labelTrainIds.png``), at their native size.

The split is deterministic and has no source in both halves: every 4th person box (in
annotation id order) goes to val with its three cuts, and every 4th window of a class (in
raster order). Everything is fixed (sorted inputs, constant jitters, JPEG quality 90), so two
runs write the same file names and pixels; ``tests/tools/test_make_cls_tiny.py`` checks the
committed copy against a fresh run. The images keep the terms of their sources (data/README.md).
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from typing import Optional, Sequence

import cv2
import numpy as np

from hrnet_train.datasets.coco_utils import load_coco_json
from hrnet_train.datasets.transforms.loading import read_image
from hrnet_train.datasets.transforms.seg import read_seg_map
from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.utils.errors import DataError

CLASSES = ('building', 'person', 'road')  # sorted: the folder layout's label order
SPLITS = ('train', 'val')
VAL_EVERY = 4  # source k goes to val when k % VAL_EVERY == VAL_EVERY - 1

COCO_ANN = 'annotations/test_coco.json'
COCO_IMAGES = 'val2017'
PERSON_MIN_SIDE = 30  # px; drops the two small boxes of test_coco.json (11 x 68, 17 x 32)
# (dx, dy, s): centre shifted by dx * box w and dy * box h, sides times s, clipped to the image
PERSON_JITTERS = ((0.0, 0.0, 1.1), (-0.08, -0.04, 1.3), (0.08, 0.05, 1.0))
PERSON_LONG_SIDE = 32  # px after shrinking (cv2 INTER_AREA)

CITYSCAPES_TRAIN_IDS = {'building': 2, 'road': 0}  # Cityscapes train ids (helpers/labels.py)
IMG_SUFFIX = '_leftImg8bit.png'
LABEL_SUFFIX = '_gtFine_labelTrainIds.png'
WINDOW = 16  # px, non-overlapping grid
MIN_PURITY = 0.9  # fraction of the window's pixels with the class's train id (255 counts against)

JPEG_QUALITY = 90


def _split(index: int) -> str:
    return 'val' if index % VAL_EVERY == VAL_EVERY - 1 else 'train'


def person_crops(coco_root: str) -> list[tuple[str, str, np.ndarray]]:
    """(split, file name, (h, w, 3) uint8 BGR crop) of every person cut, in a fixed order."""
    ann_file = os.path.join(coco_root, COCO_ANN)
    coco = load_coco_json(ann_file, 'COCO annotation file')
    images = {img['id']: img for img in coco.get('images', [])}
    boxes = sorted((a for a in coco.get('annotations', [])
                    if not a.get('iscrowd', 0) and min(a['bbox'][2:]) >= PERSON_MIN_SIDE),
                   key=lambda a: a['id'])
    if not boxes:
        raise DataError(f'{ann_file}: no person box with both sides >= {PERSON_MIN_SIDE} px')
    out = []
    for k, ann in enumerate(boxes):
        info = images[ann['image_id']]
        img = read_image(os.path.join(coco_root, COCO_IMAGES, info['file_name']), to_rgb=False)
        height, width = img.shape[:2]
        x, y, w, h = (float(v) for v in ann['bbox'])
        for j, (dx, dy, s) in enumerate(PERSON_JITTERS):
            cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
            x1, x2 = max(0, math.floor(cx - s * w / 2)), min(width, math.ceil(cx + s * w / 2))
            y1, y2 = max(0, math.floor(cy - s * h / 2)), min(height, math.ceil(cy + s * h / 2))
            crop = img[y1:y2, x1:x2]
            f = PERSON_LONG_SIDE / max(crop.shape[:2])
            size = (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            name = f'{ann["image_id"]:012d}_ann{ann["id"]}_cut{j}.jpg'
            out.append((_split(k), name, crop))
    return out


def _cityscapes_frames(root: str) -> list[tuple[str, str, str]]:
    """(stem, image path, label path) of every frame below ``root/leftImg8bit``, sorted."""
    img_root = os.path.join(root, 'leftImg8bit')
    if not os.path.isdir(img_root):
        raise FileNotFoundError(f'Cityscapes image folder not found: {img_root}')
    frames = []
    for dirpath, dirnames, filenames in os.walk(img_root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, img_root)
        for name in sorted(n for n in filenames if n.endswith(IMG_SUFFIX)):
            stem = name[:-len(IMG_SUFFIX)]
            label = os.path.join(root, 'gtFine', rel, stem + LABEL_SUFFIX)
            if not os.path.isfile(label):
                raise DataError(f'label file not found: {label} (for {name}; write it with '
                                'tools/dataset_converters/cityscapes.py)')
            frames.append((stem, os.path.join(dirpath, name), label))
    if not frames:
        raise DataError(f'no *{IMG_SUFFIX} image below {img_root}')
    return frames


def region_crops(cityscapes_root: str) -> dict[str, list[tuple[str, str, np.ndarray]]]:
    """Per class: (split, file name, (WINDOW, WINDOW, 3) uint8 BGR window), in raster order."""
    windows: dict[str, list[tuple[str, np.ndarray]]] = {c: [] for c in CITYSCAPES_TRAIN_IDS}
    for stem, img_path, label_path in _cityscapes_frames(cityscapes_root):
        img = read_image(img_path, to_rgb=False)
        label = read_seg_map(label_path)
        if label.shape != img.shape[:2]:
            raise DataError(f'label file {label_path} is {label.shape[::-1]} (w, h) but its image '
                            f'is {img.shape[1::-1]}')
        for y0 in range(0, img.shape[0] - WINDOW + 1, WINDOW):
            for x0 in range(0, img.shape[1] - WINDOW + 1, WINDOW):
                patch = label[y0:y0 + WINDOW, x0:x0 + WINDOW]
                for name, train_id in CITYSCAPES_TRAIN_IDS.items():
                    if (patch == train_id).mean() >= MIN_PURITY:
                        windows[name].append((f'{stem}_x{x0:03d}_y{y0:03d}.jpg',
                                              img[y0:y0 + WINDOW, x0:x0 + WINDOW]))
    for name, found in windows.items():
        if not found:
            raise DataError(f'{cityscapes_root}: no {WINDOW} x {WINDOW} window is >= '
                            f'{MIN_PURITY:.0%} {name}')
    return {name: [(_split(k), file, crop) for k, (file, crop) in enumerate(found)]
            for name, found in windows.items()}


def make_cls_tiny(out: str, *, coco_root: str, cityscapes_root: str,
                  overwrite: bool = False) -> dict[tuple[str, str], int]:
    """Write the dataset to ``out``; returns the number of images per (split, class)."""
    if any(os.path.exists(os.path.join(out, s)) for s in SPLITS):
        if not overwrite:
            raise FileExistsError(f'{out} already holds train/ or val/; pass --overwrite to '
                                  'replace them')
        for split in SPLITS:
            shutil.rmtree(os.path.join(out, split), ignore_errors=True)
    samples = dict(region_crops(cityscapes_root), person=person_crops(coco_root))
    counts = {}
    for name in CLASSES:
        for split in SPLITS:
            os.makedirs(os.path.join(out, split, name), exist_ok=True)
            counts[split, name] = 0
        for split, file, crop in samples[name]:
            path = os.path.join(out, split, name, file)
            if not cv2.imwrite(path, crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise OSError(f'could not write {path}')
            counts[split, name] += 1
    return counts


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='data/cls_tiny', help='output folder')
    parser.add_argument('--coco-root', default='data/coco_tiny',
                        help=f'folder with {COCO_ANN} and {COCO_IMAGES}/')
    parser.add_argument('--cityscapes-root', default='data/cityscapes_tiny',
                        help='folder with leftImg8bit/ and gtFine/ (labelTrainIds files)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing <out>/train and <out>/val')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    counts = make_cls_tiny(args.out, coco_root=args.coco_root,
                           cityscapes_root=args.cityscapes_root, overwrite=args.overwrite)
    total = sum(os.path.getsize(os.path.join(d, f))
                for split in SPLITS for d, _, files in os.walk(os.path.join(args.out, split))
                for f in files)
    for split in SPLITS:
        per_class = ', '.join(f'{name} {counts[split, name]}' for name in CLASSES)
        print(f'{split}: {per_class}')
    print(f'{sum(counts.values())} images, {total / 1024:.1f} KiB in {args.out}')


if __name__ == '__main__':
    sys.exit(run_tool(main))
