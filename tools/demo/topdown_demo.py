"""Draw the poses a top-down model predicts for the people in an image.

    python tools/demo/topdown_demo.py CONFIG CHECKPOINT IMAGE [--bboxes x1 y1 x2 y2 ...]
        [--bbox-file dets.json --bbox-thr 0.3] [--out out.jpg] [--json poses.json]

Person boxes come from ``--bboxes`` (xyxy, image pixels), or from a COCO results file of detector
boxes (``image_id`` matched by ``--image-id``, or every box when the file covers one image), or
default to the whole image.
"""
from __future__ import annotations

import json
import sys

import cv2
import numpy as np

from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.utils.errors import DataError


def main(argv: list[str] | None = None) -> int:
    p = ToolArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('image')
    p.add_argument('--bboxes', type=float, nargs='+', help='x1 y1 x2 y2 [x1 y1 x2 y2 ...]')
    p.add_argument('--bbox-file', help='COCO results json of person boxes (xywh)')
    p.add_argument('--image-id', type=int, help='image_id to take from --bbox-file')
    p.add_argument('--bbox-thr', type=float, default=0.3)
    p.add_argument('--kpt-thr', type=float, default=0.3)
    p.add_argument('--out', default='demo_out.jpg')
    p.add_argument('--json', help='also write the poses as JSON')
    p.add_argument('--device', default='cpu')
    args = p.parse_args(argv)

    from hrnet_train.apis import inference_topdown, init_model
    from hrnet_train.datasets.transforms.loading import read_image
    from hrnet_train.visualization import draw_pose

    boxes, scores = None, None
    if args.bboxes:
        if len(args.bboxes) % 4:
            p.error('--bboxes takes groups of four numbers: x1 y1 x2 y2')
        boxes = np.array(args.bboxes, np.float32).reshape(-1, 4)
    elif args.bbox_file:
        with open(args.bbox_file) as f:
            dets = json.load(f)
        if args.image_id is not None:
            dets = [d for d in dets if d['image_id'] == args.image_id]
        dets = [d for d in dets if d.get('score', 1.0) >= args.bbox_thr]
        boxes = np.array([d['bbox'] for d in dets], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        scores = [d.get('score', 1.0) for d in dets]
    model = init_model(args.config, args.checkpoint, device=args.device)
    poses = inference_topdown(model, args.image, boxes, bbox_scores=scores)
    img = read_image(args.image)
    if poses:
        kpts = np.stack([p.pred_keypoints for p in poses])
        kscores = np.stack([p.pred_keypoint_scores for p in poses])
        img = draw_pose(img, kpts, kscores, model.dataset_meta.get('skeleton', ()),
                        score_thr=args.kpt_thr)
    if not cv2.imwrite(args.out, cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise DataError(f'--out {args.out}: could not write the image (folder or suffix?)')
    print(f'{len(poses)} pose(s) drawn to {args.out}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump([dict(bbox=[float(v) for v in p.bbox], keypoints=p.pred_keypoints.tolist(),
                            scores=p.pred_keypoint_scores.tolist()) for p in poses], f)
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
