"""Classification, end to end on data/cls_tiny (real crops of the bundled COCO and Cityscapes
images, three classes): a short training run whose loss falls and whose held-out top-1 beats
always answering the largest class, then tools/test.py on the saved checkpoint."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs/cls/hrnet-w18-small-v1_cls-tiny_quickstart.py'
MAJORITY = 100 * 9 / 22  # val: 7 building, 9 person, 6 road


@pytest.mark.slow
def test_quickstart_learns_and_tests(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    from hrnet_train.engine.launch import build_runner
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_epochs = 10
    cfg.train_cfg.val_interval = 10
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                end=10)]
    cfg.default_hooks.checkpoint.interval = 10
    cfg.default_hooks.logger.interval = 1
    cfg.experiment_name = 'cls_e2e'
    runner = build_runner(cfg)
    runner.train()

    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 50 and np.all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
    top1 = float(runner.message_hub.get_scalar('val/accuracy/top1').current())
    assert top1 > MAJORITY + 10, top1

    out = tmp_path / 'metrics.json'
    proc = subprocess.run([sys.executable, 'tools/test.py', str(CONFIG),
                           str(tmp_path / 'work' / 'epoch_10.pth'), '--work-dir',
                           str(tmp_path / 'test'), '--out', str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())['accuracy/top1'] == pytest.approx(top1, abs=1e-9)
