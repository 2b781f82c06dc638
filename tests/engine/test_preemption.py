"""SIGTERM to a real training process: it checkpoints the current iteration and exits 0; resuming
reproduces the uninterrupted run exactly."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch

import _toy
from hrnet_train.utils import safe_torch_load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAX_ITERS = 12


def test_sigterm_checkpoints_and_resume_matches(tmp_path):
    work_dir = tmp_path / 'cut'
    progress = tmp_path / 'progress'
    env = dict(os.environ, PYTHONPATH=osp.dirname(osp.abspath(__file__)))
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), _toy.CONFIG,
           '--work-dir', str(work_dir), '--cfg-options', f'train_cfg.max_iters={MAX_ITERS}',
           'train_cfg.val_begin=1000', 'model.sleep=0.3', f'model.progress_file={progress}']
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if progress.exists() and int(progress.read_text() or 0) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    stopped_at = int(progress.read_text())  # the iteration that was running got finished
    assert 2 <= stopped_at < MAX_ITERS, out[-3000:]
    assert 'Stop signal received' in out
    ckpt_path = work_dir / f'iter_{stopped_at}.pth'
    ckpt = safe_torch_load(ckpt_path)
    assert ckpt['meta']['iter'] == stopped_at
    assert (work_dir / 'last_checkpoint').read_text() == str(ckpt_path)

    # resume (auto) to the end, in this process
    cfg = _toy.toy_config(work_dir, resume=True, **{'train_cfg.max_iters': MAX_ITERS,
                                                    'train_cfg.val_begin': 1000})
    resumed = _toy.build_runner(cfg)
    resumed.train()
    assert resumed.model.train_forwards == MAX_ITERS - stopped_at  # zero lost, zero repeated

    cfg = _toy.toy_config(tmp_path / 'full', **{'train_cfg.max_iters': MAX_ITERS,
                                                'train_cfg.val_begin': 1000})
    full = _toy.build_runner(cfg)
    full.train()
    assert resumed.model.seen_indices == full.model.seen_indices[stopped_at:]
    for key, value in _toy.model_state(full).items():
        assert torch.equal(_toy.model_state(resumed)[key], value), key
