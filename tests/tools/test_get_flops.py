"""tools/analysis/get_flops.py on the backbone configs."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_backbone_w32_counts_from_config():
    sys.path.insert(0, str(ROOT / 'tools' / 'analysis'))
    try:
        from get_flops import model_complexity
    finally:
        sys.path.pop(0)
    from mmengine.config import Config
    c4 = model_complexity(Config.fromfile(ROOT / 'configs/backbones/hrnet-w32.py'), (64, 64))
    c1 = model_complexity(Config.fromfile(ROOT / 'configs/backbones/hrnet-w32-pose.py'), (64, 64))
    assert c4.params == 29_305_536
    assert c1.params == 28_535_552


def test_cli_json():
    out = subprocess.run([sys.executable, 'tools/analysis/get_flops.py',
                          'configs/backbones/hrnet-w32-pose.py', '--shape', '256', '192',
                          '--json'], cwd=ROOT, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res['params'] == 28_535_552
    # backbone alone (no head): the 7.1 GFLOPs of the table minus the 17-way 1x1 head
    assert abs(res['gflops'] - 7.12) < 0.02
