"""Detection, end to end on the four real COCO images bundled in data/coco_tiny: a short
Faster R-CNN training run whose losses fall, evaluation to the 12 COCO bbox stats, the
detections drawn, then tools/test.py --dump and tools/analysis/coco_eval.py on the results."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs/det/faster-rcnn_hrnetv2p-w18-small_coco-tiny_quickstart.py'
STATS = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl']
IMAGES = {785: (425, 640), 40083: (333, 500), 196141: (429, 640), 197388: (392, 640)}


@pytest.mark.slow
def test_quickstart_trains_evaluates_and_tests(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    from hrnet_train.engine.launch import build_runner
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_epochs = 3
    cfg.train_cfg.val_interval = 3
    cfg.train_dataloader.dataset.times = 4  # 8 iterations of 2 images per epoch
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                end=8)]
    cfg.default_hooks.checkpoint.interval = 3
    cfg.default_hooks.logger.interval = 1
    cfg.experiment_name = 'det_e2e'
    runner = build_runner(cfg)
    runner.train()

    hub = runner.message_hub
    losses = hub.get_scalar('train/loss').data[0]
    assert len(losses) == 24 and np.all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < np.mean(losses[:4]), losses
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox'):
        assert np.all(np.isfinite(hub.get_scalar(f'train/{key}').data[0])), key
    metrics = {k[len('val/'):]: float(v.current()) for k, v in hub.log_scalars.items()
               if k.startswith('val/coco/')}
    assert sorted(metrics) == sorted(f'coco/{s}' for s in STATS)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    vis = tmp_path / 'work' / 'vis' / 'val_epoch3'
    assert sorted(os.listdir(vis)) == ['000000000785.jpg', '000000040083.jpg',
                                       '000000196141.jpg', '000000197388.jpg']

    ckpt = tmp_path / 'work' / 'epoch_3.pth'
    out, dump = tmp_path / 'metrics.json', tmp_path / 'res'
    proc = subprocess.run([sys.executable, 'tools/test.py', str(CONFIG), str(ckpt),
                           '--work-dir', str(tmp_path / 'test'), '--out', str(out),
                           '--dump', str(dump)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = json.loads(out.read_text())
    for key in saved:  # the same weights and data give the same numbers
        assert abs(saved[key] - metrics[key]) < 1e-9, key
    results = json.loads((tmp_path / 'res.bbox.json').read_text())
    assert results and {r['category_id'] for r in results} == {1}  # the file's person id
    assert (f'{len(results)} results written to {dump}.bbox.json'
            in proc.stdout + proc.stderr)  # the log says where --dump went
    for r in results:  # COCO xywh in original image pixels
        h, w = IMAGES[r['image_id']]
        x, y, bw, bh = r['bbox']
        assert -1e-3 <= x and -1e-3 <= y and x + bw <= w + 1e-3 and y + bh <= h + 1e-3

    proc = subprocess.run([sys.executable, 'tools/analysis/coco_eval.py',
                           'data/coco_tiny/annotations/test_coco.json',
                           str(tmp_path / 'res.bbox.json'), '--iou-type', 'bbox', '--json'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    ap = stats.get('AP', stats.get('bbox/AP'))
    assert ap == pytest.approx(saved['coco/AP'], abs=1e-9), stats
