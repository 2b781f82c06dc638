"""Run an exported ONNX model with onnxruntime on one image; write the drawing and a JSON.

Usage::

    python tools/deploy/run_onnx.py MODEL.onnx CONFIG IMAGE --out-dir DIR [--bbox x1 y1 x2 y2]

Writes to DIR, named after the image (``<stem>``):

- pose: ``<stem>_pose.png`` (keypoints and skeleton, ``draw_pose``) and ``<stem>.json``
  (``keypoints`` (K, 2) image pixels, ``keypoint_scores``, ``bbox``);
- seg: ``<stem>.png`` (label map in the dataset palette, ``colorize_seg_map``),
  ``<stem>_overlay.png`` (``overlay``, as ``SegVisualizationHook``) and ``<stem>.json``
  (``labels_png`` name, class pixel counts);
- cls: ``<stem>.json`` (``topk_indices``, ``topk_scores``, ``topk_classes``);
- det: ``<stem>_det.png`` (``draw_detections``) and ``<stem>.json``.

The model's input is prepared by the config's test pipeline (for pose, the box ``--bbox``,
default the whole image, is warped to the crop as in testing). Errors are one line, exit code 2.
"""
from __future__ import annotations

import json
import os

import cv2
import numpy as np

from hrnet_train.engine.launch import ToolArgumentParser, exit_process, run_tool


def parse_args(argv):
    p = ToolArgumentParser(description='Run an exported ONNX model on an image (hrnet-train)')
    p.add_argument('model', help='.onnx file from tools/deploy/export_onnx.py')
    p.add_argument('config', help='the config the model was exported from')
    p.add_argument('image', help='image file')
    p.add_argument('--out-dir', required=True, help='output directory')
    p.add_argument('--bbox', type=float, nargs=4, metavar=('X1', 'Y1', 'X2', 'Y2'),
                   help='pose: person box in image pixels (default: the whole image)')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='pose: keypoints drawn above this score; det: boxes drawn')
    return p.parse_args(argv)


def _write_rgb(path: str, img: np.ndarray) -> None:
    if not cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')


def main(argv=None) -> int:
    args = parse_args(argv)
    from hrnet_train.config import load_config
    from hrnet_train.datasets.transforms.loading import read_image
    from hrnet_train.deploy.runtime import dataset_meta_of, load_session, run_image

    session = load_session(args.model)
    cfg = load_config(args.config)
    img = read_image(args.image)
    result = run_image(session, cfg, img, bbox=args.bbox)
    meta = dataset_meta_of(session)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.image))[0]
    out = dict(task=result['task'], image=args.image, model=args.model)
    written = []
    if result['task'] == 'pose':
        from hrnet_train.visualization.pose import draw_pose
        path = os.path.join(args.out_dir, f'{stem}_pose.png')
        _write_rgb(path, draw_pose(img, result['keypoints'], result['scores'],
                                   meta.get('skeleton') or (), score_thr=args.score_thr))
        written.append(path)
        out.update(bbox=result['bbox'], keypoints=result['keypoints'].tolist(),
                   keypoint_scores=result['scores'].tolist())
    elif result['task'] == 'seg':
        from hrnet_train.visualization.seg import colorize_seg_map, overlay
        labels = result['labels']
        palette = meta.get('palette') or _default_palette(int(labels.max()) + 1)
        path = os.path.join(args.out_dir, f'{stem}.png')
        _write_rgb(path, colorize_seg_map(labels, palette))
        over = os.path.join(args.out_dir, f'{stem}_overlay.png')
        _write_rgb(over, overlay(img, labels, palette))
        written += [path, over]
        ids, counts = np.unique(labels, return_counts=True)
        classes = meta.get('classes') or []
        out.update(labels_png=os.path.basename(path), shape=list(labels.shape),
                   pixels={(classes[i] if i < len(classes) else str(int(i))): int(c)
                           for i, c in zip(ids, counts)})
    elif result['task'] == 'cls':
        classes = meta.get('classes') or []
        idx = [int(i) for i in result['topk_indices']]
        out.update(topk_indices=idx, topk_scores=[float(s) for s in result['topk_scores']],
                   topk_classes=[classes[i] if i < len(classes) else str(i) for i in idx])
    else:
        from hrnet_train.visualization.det import draw_detections
        path = os.path.join(args.out_dir, f'{stem}_det.png')
        classes = meta.get('classes') or [str(i) for i in range(int(
            result['labels'].max(initial=0)) + 1)]
        _write_rgb(path, draw_detections(img, result['boxes'], result['labels'],
                                         result['scores'], classes, score_thr=args.score_thr))
        written.append(path)
        out.update(boxes=result['boxes'].tolist(), scores=result['scores'].tolist(),
                   labels=result['labels'].tolist())
    json_path = os.path.join(args.out_dir, f'{stem}.json')
    with open(json_path, 'w') as f:
        json.dump(out, f, indent=1)
    written.append(json_path)
    print('wrote ' + ', '.join(written))
    return 0


def _default_palette(n: int) -> list:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(max(n, 1), 3)).tolist()


if __name__ == '__main__':
    exit_process(run_tool(main))
