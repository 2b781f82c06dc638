"""tools/analysis/coco_eval.py: table, JSON and exit code 2 on bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / 'tests' / 'data' / 'cocoeval'
KP = DATA / 'faster_coco_eval' / 'keypoints_dataset'


def _run(*args):
    return subprocess.run([sys.executable, 'tools/analysis/coco_eval.py', *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True)


def test_keypoints_table():
    out = _run(KP / 'gt_dataset.json', KP / 'dt_dataset.json', '--iou-type', 'keypoints')
    assert out.returncode == 0, out.stderr
    rows = dict(line.rsplit(maxsplit=1) for line in out.stdout.strip().splitlines())
    assert [k.strip() for k in rows] == ['AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5',
                                         'AR .75', 'AR (M)', 'AR (L)']
    # faster_coco_eval tests/test_keypoints.py: AP 0.50488..., AR (L) 0.75
    assert float(rows['AP']) == pytest.approx(0.5049, abs=1e-4)


def test_bbox_json_matches_cocoapi_printout():
    out = _run(DATA / 'faster_coco_eval' / 'instances_val2014_100.json',
               DATA / 'cocoapi' / 'instances_val2014_fakebbox100_results.json', '--iou-type',
               'bbox', '--json')
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert list(stats) == ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs',
                           'ARm', 'ARl']
    # cocoapi results/val2014_fake_eval_res.txt prints bbox AP 0.505 ... ARl 0.564
    assert round(stats['AP'], 3) == 0.505 and round(stats['ARl'], 3) == 0.564


def test_bad_input_exits_2_with_one_line(tmp_path):
    """Missing files, empty results, foreign image ids: one line on stderr, exit code 2.

    (Each case's message is tested on evaluate_coco_results; one process keeps this test fast.)
    """
    empty = tmp_path / 'empty.json'
    empty.write_text('[]')
    out = _run(KP / 'gt_dataset.json', empty, '--iou-type', 'keypoints')
    assert out.returncode == 2 and out.stdout == ''
    assert out.stderr.strip().count('\n') == 0
    assert out.stderr.startswith('error: results: the list is empty')
