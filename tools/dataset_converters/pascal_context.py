"""Write PASCAL-Context label PNGs and split files from ``trainval_merged.json`` (no Detail API).

Usage::

    python tools/dataset_converters/pascal_context.py data/VOCdevkit data/trainval_merged.json
        [--out-dir DIR]

writes ``VOC2010/SegmentationClassContext/<stem>.png`` (uint8: 0 = background, 1..59 the 59
classes of ``PascalContextDataset``) and ``VOC2010/ImageSets/SegmentationContext/{train,val}.txt``
(sorted stems), the layout of open-mmlab/mmsegmentation tools/dataset_converters/pascal_context.py.

That converter and the official HRNet ``lib/datasets/pascal_ctx.py`` build each map with the
compiled Detail API (``detail.Detail(json, img_dir, phase).getMask(img)``). ``getMask`` is plain
Python over the JSON: start from zeros of the image's ``height`` x ``width``; for every entry of
``annos_segmentation`` with this ``image_id``, in file order, decode its ``segmentation`` (a COCO
RLE, decoded by the Detail API's copy of the COCO mask code) and write its ``category_id`` where the
mask is set, so later entries overwrite earlier ones. The images of a split are the ``images``
entries whose ``phase`` is ``train`` or ``val``. This file does the same with ``pycocotools.mask``
and maps the 60 raw ids (0 and the 59 category ids, sorted) to 0..59 as the official
``_class_to_index`` does (np.digitize over the sorted ids).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from typing import Any, Mapping, Optional, Sequence

import cv2
import numpy as np
from mmengine.utils import track_progress
from pycocotools import mask as mask_utils

from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.utils.errors import DataError

# Raw PASCAL-Context category ids of background (0) and the 59 classes, sorted: label k of the
# written maps is CONTEXT_RAW_IDS[k] (HRNet-Semantic-Segmentation lib/datasets/pascal_ctx.py and
# mmseg tools/dataset_converters/pascal_context.py, ``_mapping``).
CONTEXT_RAW_IDS = np.array(sorted([
    0, 2, 259, 260, 415, 324, 9, 258, 144, 18, 19, 22, 23, 397, 25, 284, 158, 159, 416, 33, 162,
    420, 454, 295, 296, 427, 44, 45, 46, 308, 59, 440, 445, 31, 232, 65, 354, 424, 68, 326, 72,
    458, 34, 207, 80, 355, 85, 347, 220, 349, 360, 98, 187, 104, 105, 366, 189, 368, 113, 115]))
SPLITS = ('train', 'val')


def decode_segmentation(segm: Any, height: int, width: int) -> np.ndarray:
    """One annotation's mask as (H, W) bool.

    Args:
        segm: COCO RLE ``{'size': [H, W], 'counts': str}`` (the Detail JSON), or uncompressed
            RLE (``counts`` a list) or polygons ``[[x1, y1, ...], ...]``.
        height, width: the image size, for the uncompressed forms.
    """
    if isinstance(segm, Mapping) and isinstance(segm.get('counts'), (str, bytes)):
        rle = dict(segm)
        if isinstance(rle['counts'], str):
            rle['counts'] = rle['counts'].encode('ascii')
    else:
        rles = mask_utils.frPyObjects(segm, height, width)
        rle = mask_utils.merge(rles) if isinstance(rles, list) else rles
    return mask_utils.decode(rle).astype(bool)


def render_label(image: Mapping[str, Any], annotations: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Label map of one image: raw category ids painted in order, then mapped to 0..59.

    Args:
        image: a ``images`` entry (``height``, ``width``, ``file_name``).
        annotations: its ``annos_segmentation`` entries, in file order.

    Returns:
        (H, W) uint8, 0 = background, k = the class with raw id ``CONTEXT_RAW_IDS[k]``.

    Raises:
        DataError: naming the image when a mask has another size than the image or a category
            id is not one of the 60 (the official code asserts the same).
    """
    h, w = int(image['height']), int(image['width'])
    raw = np.zeros((h, w), dtype=np.int64)
    for ann in annotations:
        m = decode_segmentation(ann['segmentation'], h, w)
        if m.shape != (h, w):
            raise DataError(f'{image["file_name"]}: annotation {ann.get("id")} mask is '
                            f'{m.shape[1]}x{m.shape[0]}, the image {w}x{h}')
        raw[m] = int(ann['category_id'])
    index = np.searchsorted(CONTEXT_RAW_IDS, raw)
    index = np.minimum(index, len(CONTEXT_RAW_IDS) - 1)
    bad = CONTEXT_RAW_IDS[index] != raw
    if bad.any():
        raise DataError(f'{image["file_name"]}: category ids {np.unique(raw[bad]).tolist()[:10]} '
                        'are not among the 59 PASCAL-Context classes (expected the merged '
                        'trainval_merged.json)')
    return index.astype(np.uint8)


def load_detail_json(path: str) -> tuple[dict[str, list[dict]], dict[Any, list[dict]]]:
    """``({phase: images}, {image_id: annotations in file order})`` of a Detail JSON."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'annotation json not found: {path}')
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f'{path} is not valid JSON: {e}') from e
    for key in ('images', 'annos_segmentation'):
        if not isinstance(data, dict) or key not in data:
            raise DataError(f'{path} has no "{key}" list (expected the PASCAL in Detail format '
                            'of trainval_merged.json)')
    images: dict[str, list[dict]] = defaultdict(list)
    for img in data['images']:
        images[img.get('phase', '')].append(img)
    anns: dict[Any, list[dict]] = defaultdict(list)
    for ann in data['annos_segmentation']:
        anns[ann['image_id']].append(ann)
    return images, anns


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('devkit_path', help='VOCdevkit folder holding VOC2010/JPEGImages')
    parser.add_argument('json_path', help='trainval_merged.json')
    parser.add_argument('-o', '--out-dir',
                        help='label folder (default VOC2010/SegmentationClassContext)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    voc = os.path.join(args.devkit_path, 'VOC2010')
    out_dir = args.out_dir or os.path.join(voc, 'SegmentationClassContext')
    split_dir = os.path.join(voc, 'ImageSets', 'SegmentationContext')
    images, anns = load_detail_json(args.json_path)
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(split_dir, exist_ok=True)

    def write(img: dict) -> str:
        stem = os.path.splitext(os.path.basename(img['file_name']))[0]
        dst = os.path.join(out_dir, stem + '.png')
        if not cv2.imwrite(dst, render_label(img, anns.get(img['image_id'], []))):
            raise OSError(f'could not write {dst}')
        return stem

    for split in SPLITS:
        if not images.get(split):
            raise DataError(f'{args.json_path}: no image with phase "{split}"')
        stems = track_progress(write, images[split])
        with open(os.path.join(split_dir, f'{split}.txt'), 'w') as f:
            f.writelines(s + '\n' for s in sorted(stems))
        print(f'{split}: {len(stems)} label maps written to {out_dir}')


if __name__ == '__main__':
    sys.exit(run_tool(main))
