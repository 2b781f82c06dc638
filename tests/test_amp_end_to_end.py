"""`tools/train.py <quickstart> --amp` trains every task's model (bfloat16 autocast on CPU).

The pose model used to crash at the first iteration: its training accuracy converted the bf16
head output with ``.numpy()``. Each quickstart runs a couple of iterations through the real tool
and must log finite losses and end with a checkpoint whose weights are finite.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
QUICKSTARTS = {
    'pose': ('configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py', [
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'train_dataloader.dataset.times=2',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
        'param_scheduler.1.end=1'], 'epoch_1.pth'),
    'seg': ('configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py', [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'param_scheduler.0.end=2'], 'iter_2.pth'),
}


@pytest.mark.slow
@pytest.mark.parametrize('task', sorted(QUICKSTARTS))
def test_quickstart_trains_with_amp(task, tmp_path):
    config, options, ckpt_name = QUICKSTARTS[task]
    work_dir = tmp_path / task
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--amp', '--work-dir', str(work_dir),
         '--cfg-options', *options], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-1500:], proc.stderr[-3000:])
    scalars = next(work_dir.rglob('vis_data/scalars.json')).read_text().splitlines()
    losses = [json.loads(line)['loss'] for line in scalars if '"loss"' in line]
    assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses), losses
    state = torch.load(work_dir / ckpt_name, map_location='cpu', weights_only=False)
    assert state['optimizer']['loss_scaler'] == {}  # bfloat16: no loss scaling
    assert all(torch.isfinite(v).all() for v in state['state_dict'].values()
               if v.is_floating_point())
