"""Evaluate a COCO results json against a COCO GT json with pycocotools.

Usage:
    python tools/analysis/coco_eval.py GT.json RESULTS.json --iou-type keypoints [--json]
        [--sigmas S1 S2 ...] [--no-use-area]

Prints the COCOeval stats (12 for bbox/segm, 10 for keypoints) as a table, or as one JSON object
with --json. Bad input (missing file, empty results, image ids not in the GT, ...) prints one line
to stderr and exits with code 2 (``--debug`` shows the traceback; docs/errors.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.evaluation.functional.coco_eval import (
    COCO_STAT_NAMES,
    evaluate_coco_results,
    format_coco_stats,
)
from hrnet_train.utils.errors import ConfigError


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ToolArgumentParser(description='COCO evaluation of a results json (pycocotools)')
    parser.add_argument('gt', help='COCO GT annotation json')
    parser.add_argument('results', help='COCO results json (list of result dicts)')
    parser.add_argument('--iou-type', required=True, choices=sorted(COCO_STAT_NAMES),
                        help='what to evaluate')
    parser.add_argument('--json', action='store_true', help='print the stats as one JSON object')
    parser.add_argument('--sigmas', type=float, nargs='+', default=None,
                        help='keypoints: one OKS sigma per keypoint (default: the 17 COCO sigmas)')
    parser.add_argument('--no-use-area', action='store_true',
                        help='keypoints: scale OKS by 0.53 x GT box area instead of the GT area')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.sigmas is not None and args.iou_type != 'keypoints':
        raise ConfigError('--sigmas applies only to --iou-type keypoints')
    stats = evaluate_coco_results(
        args.gt, args.results, args.iou_type, args.sigmas, use_area=not args.no_use_area)
    if args.json:
        print(json.dumps(stats))
    else:
        print(format_coco_stats(stats))
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
