"""Faster R-CNN HRNetV2p: parameters and GFLOPs reproduce the official fork's README table.

HRNet/HRNet-Object-Detection README: W18 26.2M / 159.1, W32 45.0M / 245.3, W40 60.5M / 314.9,
W48 79.4M / 399.1 GFLOPs. Measured here (REFERENCE §3.8): the parameter figures are the fork's
model (81-class head: fc_reg has 4 background rows more than ours) counted in units of 2**20
without the frozen BN's affine parameters; the GFLOPs are backbone + HRFPN + RPN at 800x1216
plus 512 RoIs through the box head, multiply-adds / 1024**3 (tools/analysis/get_flops.py).
Backbone + HRFPN alone: 12.6M, 32.4M, 48.6M, 68.5M (1e6 units).
"""
import pytest
import torch
from mmengine.config import Config

from hrnet_train.registry import MODELS
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.complexity import config_complexity, count_parameters

register_all_modules()
TABLE = {'w18': (26.2, 159.1, 12.6), 'w32': (45.0, 245.3, 32.4), 'w40': (60.5, 314.9, 48.6),
         'w48': (79.4, 399.1, 68.5)}


def _cfg(arch):
    cfg = Config.fromfile(f'configs/det/faster-rcnn_hrnetv2p-{arch}_1x_coco.py')
    cfg.model.backbone.init_cfg = None
    return cfg


@pytest.mark.parametrize('arch', sorted(TABLE))
def test_params_and_gflops_match_the_official_table(arch, monkeypatch):
    from pathlib import Path
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    params_m, gflops, backbone_neck = TABLE[arch]
    cfg = _cfg(arch)
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    fork_extra = 4 * (1024 + 1)  # the background rows of the fork's class-specific fc_reg
    bn = sum(p.numel() for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for p in m.parameters())
    assert round((count_parameters(model) + fork_extra - bn) / 2 ** 20, 1) == params_m
    assert round((count_parameters(model.backbone) + count_parameters(model.neck)) / 1e6,
                 1) == backbone_neck
    c = config_complexity(cfg, (800, 1216))
    assert abs(c.gflops - gflops) < 0.25, c.gflops
