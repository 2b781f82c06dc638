"""tools/analysis/get_flops.py and the config-level counter behind it."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from hrnet_train.utils.complexity import config_complexity

ROOT = Path(__file__).resolve().parents[2]


def test_backbone_w32_counts_from_config():
    c4 = config_complexity(Config.fromfile(ROOT / 'configs/backbones/hrnet-w32.py'), (64, 64))
    c1 = config_complexity(Config.fromfile(ROOT / 'configs/backbones/hrnet-w32-pose.py'), (64, 64))
    assert c4.params == 29_305_536
    assert c1.params == 28_535_552


@pytest.mark.parametrize('config,hw,mparams,gflops', [
    ('hrnet-w32_coco-256x192.py', (256, 192), 28.5, 7.1),
    ('hrnet-w32_coco-384x288.py', (384, 288), 28.5, 16.0),
    ('hrnet-w48_coco-256x192.py', (256, 192), 63.6, 14.6),
    ('hrnet-w48_coco-384x288.py', (384, 288), 63.6, 32.9)])
def test_pose_configs_reproduce_official_table(config, hw, mparams, gflops):
    """leoxiaobin/deep-high-resolution-net.pytorch README: params / GFLOPs of the pose models."""
    c = config_complexity(Config.fromfile(ROOT / 'configs/pose' / config), hw)
    assert round(c.mparams, 1) == mparams
    assert round(c.gflops, 1) == gflops


def test_meta_count_equals_cpu_count():
    cfg = Config.fromfile(ROOT / 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py')
    meta = config_complexity(cfg, (128, 96))
    cpu = config_complexity(cfg, (128, 96), device='cpu')
    assert (meta.params, meta.flops) == (cpu.params, cpu.flops)


def test_cli_json():
    out = subprocess.run([sys.executable, 'tools/analysis/get_flops.py',
                          'configs/pose/hrnet-w32_coco-256x192.py', '--json'],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res['input_shape'] == [256, 192]  # from the config's input_size (w, h)
    assert res['params'] == 28_536_113 and res['gflops'] == 7.12 and res['gflops_1e9'] == 7.65
