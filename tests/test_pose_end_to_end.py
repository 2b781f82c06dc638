"""Pose, end to end on the four real COCO images bundled in data/coco_tiny: a short training run
whose loss falls, evaluation with all 10 COCO keypoint stats, skeleton images, then
tools/test.py --out/--dump on the saved checkpoint."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py'
STATS = ['AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5', 'AR .75', 'AR (M)', 'AR (L)']


def test_quickstart_trains_evaluates_and_tests(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the config's data paths are relative to the repo root
    from hrnet_train.engine.launch import build_runner
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_epochs = 4
    cfg.train_cfg.val_interval = 4
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.train_dataloader.dataset.times = 4  # 4 iterations of 12 people per epoch
    cfg.default_hooks.checkpoint.interval = 4
    cfg.default_hooks.logger.interval = 1
    cfg.experiment_name = 'pose_e2e'
    runner = build_runner(cfg)
    runner.train()

    losses = runner.message_hub.get_scalar('train/loss_kpt').data[0]
    assert len(losses) == 16
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4]), losses

    metrics = {k: v for k, v in runner.message_hub.runtime_info.items() if k.startswith('coco/')}
    if not metrics:  # mmengine keeps the last val metrics in the log scalars
        metrics = {k: float(v.current()) for k, v in runner.message_hub.log_scalars.items()
                   if k.startswith('val/coco/')}
        metrics = {k[len('val/'):]: v for k, v in metrics.items()}
    assert sorted(metrics) == sorted(f'coco/{s}' for s in STATS)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())

    vis = tmp_path / 'work' / 'vis' / 'val_epoch4'
    assert sorted(os.listdir(vis)) == ['000000000785.jpg', '000000040083.jpg',
                                       '000000196141.jpg', '000000197388.jpg']

    ckpt = tmp_path / 'work' / 'epoch_4.pth'
    assert ckpt.is_file()
    out, dump = tmp_path / 'metrics.json', tmp_path / 'res'
    proc = subprocess.run([sys.executable, 'tools/test.py', str(CONFIG), str(ckpt),
                           '--work-dir', str(tmp_path / 'test'), '--out', str(out),
                           '--dump', str(dump)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = json.loads(out.read_text())
    assert sorted(saved) == sorted(f'coco/{s}' for s in STATS)
    for key in saved:  # the same weights and data give the same numbers
        assert abs(saved[key] - metrics[key]) < 1e-9, key
    results = json.loads((tmp_path / 'res.keypoints.json').read_text())
    assert results and len(results[0]['keypoints']) == 51
    assert (f'CocoKeypointMetric: {len(results)} results written to {dump}.keypoints.json'
            in proc.stdout + proc.stderr)  # the log says where --dump went
    assert {r['image_id'] for r in results} == {785, 40083, 196141, 197388}

    # The same weights in the official release layout (bare backbone keys + final_layer.*, as
    # pose_hrnet_w32_256x192.pth) give the same numbers: they used to load as nothing (every key
    # "unexpected"), leaving a random model that tools/test.py evaluated with exit code 0.
    import torch
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    official = {k[len('backbone.'):] if k.startswith('backbone.') else k[len('head.'):]: v
                for k, v in state.items()}
    assert 'final_layer.weight' in official and 'conv1.weight' in official
    official_ckpt = tmp_path / 'pose_hrnet_official_layout.pth'
    torch.save(official, official_ckpt)
    out2 = tmp_path / 'metrics_official.json'
    proc = subprocess.run([sys.executable, 'tools/test.py', str(CONFIG), str(official_ckpt),
                           '--work-dir', str(tmp_path / 'test2'), '--out', str(out2)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'loaded 350/350 tensors' in proc.stdout + proc.stderr
    assert json.loads(out2.read_text()) == saved

    # The inference speed switches give the same numbers (BN folding rounds at 1e-6), and the
    # log says what they did; --onednn where this torch build has oneDNN's fused kernel.
    from hrnet_train.models.layers.onednn_conv import onednn_available
    switches = [('--fuse-bn', 'fuse_bn: folded 58/58 BatchNorm layers into their convolutions')]
    if onednn_available()[0]:
        switches.append(('--onednn', 'fuse_bn: folded 58/58 BatchNorm layers into their '
                         'convolutions; onednn: 59 convolutions prepacked (46 with their ReLU, '
                         '19 with the residual add), 0 left plain, 0 BatchNorms unfolded'))
    for k, (switch, line) in enumerate(switches):
        out_k = tmp_path / f'metrics_fast{k}.json'
        proc = subprocess.run([sys.executable, 'tools/test.py', str(CONFIG), str(ckpt),
                               '--work-dir', str(tmp_path / f'fast{k}'), '--out', str(out_k),
                               switch, '--channels-last'],
                              cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert line in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
        fast = json.loads(out_k.read_text())
        for key in saved:
            assert abs(fast[key] - saved[key]) < 1e-4, (switch, key)


def test_detector_box_evaluation_on_bundled_images(tmp_path, monkeypatch):
    """The official protocol: person detector boxes (score >= 0), flip test, rescoring, OKS-NMS;
    here with the bundled real detections and an untrained model (numbers need not be high)."""
    monkeypatch.chdir(ROOT)
    import torch

    from hrnet_train.registry import MODELS
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(CONFIG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'init.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    dets = 'person_detection_results/test_coco_det_AP_H_56.json'  # joined with data_root
    out, dump = tmp_path / 'm.json', tmp_path / 'det'
    proc = subprocess.run([sys.executable, 'tools/test.py', str(CONFIG), str(ckpt),
                           '--work-dir', str(tmp_path / 'w'), '--out', str(out), '--dump',
                           str(dump), '--cfg-options', f'test_dataloader.dataset.bbox_file={dets}',
                           'test_dataloader.dataset.det_score_thr=0.0'],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(json.loads(out.read_text())) == sorted(f'coco/{s}' for s in STATS)
    results = json.loads((tmp_path / 'det.keypoints.json').read_text())
    boxes = json.load(open(ROOT / 'data/coco_tiny' / dets))
    # one pose per detector box before OKS-NMS; NMS only removes
    assert 0 < len(results) <= len(boxes) == 118
    assert {r['image_id'] for r in results} <= {b['image_id'] for b in boxes}
