"""Parameters and GFLOPs of the Cityscapes configs at 1024x2048 against the official table.

REFERENCE section 4 (HRNet/HRNet-Semantic-Segmentation:README.md, 1024x2048 input): W48 65.8M /
696.2 GFLOPs, small-v1 1.5M / 31.1, small-v2 3.9M / 71.6; counted W18 9.64M / 137.3, W32
29.55M / 336.4, W40 45.89M / 498.7. GFLOPs are conv + linear multiply-adds / 1024**3 (the official
``get_model_summary``; ``hrnet_train.utils.complexity``); W48 / 1e9 is the 747.5 beside it.

How the README rounds: GFLOPs to the nearest 0.1 (small-v2 counts 71.579 -> 71.6; truncating
would give 71.5), parameters truncated to 0.1M (W48 counts 65,859,379 -> 65.8; rounding would give
65.9). The tests assert exactly that.

The models are built from the real configs (SyncBN included: it builds without a process group
and runs like BN in eval mode) on the ``meta`` device: no memory is allocated and no arithmetic
runs, but every forward hook still sees the output shapes, so W48 at 1024x2048 counts in about a
second on CPU.
"""
import functools
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from hrnet_train.registry import MODELS
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.complexity import Complexity, config_complexity, count_complexity

ROOT = Path(__file__).resolve().parents[2]
W48_CONFIG = 'configs/seg/hrnetv2-w48_cityscapes-512x1024.py'


@functools.lru_cache(maxsize=None)  # W48 is counted by two tests
def _complexity(config: str, arch_override: tuple[str, int] | None = None,
                shape: tuple[int, int] = (1024, 2048)) -> Complexity:
    register_all_modules()
    cfg = Config.fromfile(ROOT / config)
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None  # no ImageNet file needed
    if arch_override is not None:  # a width without its own config: W48's with the widths swapped
        arch, c = arch_override
        model_cfg.backbone.arch = arch
        model_cfg.neck.in_channels = (c, 2 * c, 4 * c, 8 * c)
        model_cfg.decode_head.in_channels = 15 * c
    return config_complexity(cfg, shape)  # meta device: shapes only


@pytest.mark.parametrize('config,params,gflops', [
    (W48_CONFIG, 65.8, 696.2),
    ('configs/seg/hrnetv2-w18-small-v1_cityscapes-512x1024.py', 1.5, 31.1),
    ('configs/seg/hrnetv2-w18-small-v2_cityscapes-512x1024.py', 3.9, 71.6),
])
def test_readme_table(config, params, gflops):
    c = _complexity(config)
    assert math.floor(c.params / 1e5) / 10 == params  # README truncates to 0.1M
    assert round(c.gflops, 1) == gflops  # and rounds GFLOPs to 0.1


def test_exact_w48_counts_and_1e9_convention():
    c = _complexity(W48_CONFIG)
    assert c.params == 65_859_379
    assert c.flops == 747_513_053_184  # 696.18 x 1024**3
    assert round(c.gflops_1e9, 1) == 747.5  # the paper-style / 1e9 figure (REFERENCE section 4)


@pytest.mark.parametrize('config,override,mparams,gflops', [
    ('configs/seg/hrnetv2-w18_cityscapes-512x1024.py', None, 9.64, 137.3),
    (W48_CONFIG, ('w32', 32), 29.55, 336.4),
    (W48_CONFIG, ('w40', 40), 45.89, 498.7),
])
def test_counted_widths(config, override, mparams, gflops):
    c = _complexity(config, override)
    assert round(c.mparams, 2) == mparams
    assert round(c.gflops, 1) == gflops


def test_meta_count_equals_a_real_forward():
    """The meta trick counts what a real CPU forward counts (small-v1 at a small input)."""
    meta = _complexity('configs/seg/hrnetv2-w18-small-v1_cityscapes-512x1024.py',
                       shape=(128, 256))
    register_all_modules()
    cfg = Config.fromfile(ROOT / 'configs/seg/hrnetv2-w18-small-v1_cityscapes-512x1024.py')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    real = count_complexity(model, torch.zeros(1, 3, 128, 256), lambda m, x: m(x, mode='tensor'))
    assert (meta.params, meta.flops) == (real.params, real.flops)
    # 1024x2048 has 64x the pixels; every conv output scales with it (all strides divide 128x256)
    assert meta.flops * 64 == _complexity(
        'configs/seg/hrnetv2-w18-small-v1_cityscapes-512x1024.py').flops
