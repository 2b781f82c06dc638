"""MPII, end to end on the five real people bundled in data/mpii_tiny: tools/train.py on the
quickstart config for a few iterations, the official PCKh table in the log with finite values,
then tools/test.py on the saved checkpoint reproducing the same numbers."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = 'configs/pose/hrnet-w18-small_mpii-tiny_quickstart.py'
NAMES = ['Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Mean', 'Mean@0.1']


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(ROOT), env.get('PYTHONPATH')) if p)
    return env


def _table_rows(text):
    """The values of every '| hrnet | ... |' row MpiiPCKhMetric logs."""
    header = '| Arch | ' + ' | '.join(NAMES) + ' |'
    assert header in text, text[-3000:]
    return [[float(v) for v in m.group(1).split(' | ')]
            for m in re.finditer(r'^\| hrnet \| (.*) \|$', text, flags=re.M)]


@pytest.mark.slow
def test_quickstart_trains_and_reports_pckh(tmp_path):
    work = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options',
         'train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'train_dataloader.dataset.times=2',
         'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1'],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    rows = _table_rows(out)
    assert len(rows) == 1 and len(rows[0]) == len(NAMES)
    assert all(math.isfinite(v) and 0. <= v <= 100. for v in rows[0]), rows
    assert 'per joint: rank' in out
    losses = [float(v) for v in re.findall(r'loss_kpt: ([0-9.e+-]+)', out)]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses), losses
    assert sorted(os.listdir(work / 'vis' / 'val_epoch2')) == [
        '004645041.jpg', '005808361.jpg', '051423444.jpg', '052475643.jpg', '060754485.jpg']

    ckpt = work / 'epoch_2.pth'
    assert ckpt.is_file()
    metrics = tmp_path / 'metrics.json'
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG, str(ckpt), '--work-dir', str(tmp_path / 'test'),
         '--out', str(metrics)], cwd=ROOT, env=_env(), capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    saved = json.loads(metrics.read_text())
    assert sorted(saved) == sorted(f'mpii/{n}' for n in NAMES)
    for name, value in zip(NAMES, rows[0]):  # the table shows 3 decimals
        assert abs(saved[f'mpii/{name}'] - value) < 1e-3 + 1e-9, name
