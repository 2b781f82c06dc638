"""HRNet-C: parameters and GFLOPs at 224x224 reproduce HRNet/HRNet-Image-Classification's README.

The convention that reproduces every row (REFERENCE §4; lib/utils/modelsummary.py
``get_model_summary``): parameters in units of 1e6 (not 2**20), all of them (BN affine
included); GFLOPs = multiply-adds of every conv (weight numel x output H x W) and linear layer,
divided by 1024**3 (not 1e9), for one 224x224 image. The small variants follow the same
convention. Counted: small-v1 13.19M / 1.492, small-v2 15.60M / 2.417, W18 21.30M / 3.989,
W30 37.71M / 7.549, W32 41.23M / 8.308, W40 57.56M / 11.82, W44 67.06M / 13.86,
W48 77.47M / 16.09, W64 128.06M / 26.91.
"""
import pytest
from mmengine.config import Config

import hrnet_train.models.detectors.classifier  # noqa: F401  registers ImageClassifier
import hrnet_train.models.heads.cls_head  # noqa: F401  registers HRNetClsHead
from hrnet_train.utils.complexity import config_complexity

# arch -> (params in M, GFLOPs), as printed in the README (3 significant digits for GFLOPs)
TABLE = {'w18-small-v1': (13.2, 1.49), 'w18-small-v2': (15.6, 2.42), 'w18': (21.3, 3.99),
         'w30': (37.7, 7.55), 'w32': (41.2, 8.31), 'w40': (57.6, 11.8), 'w44': (67.1, 13.9),
         'w48': (77.5, 16.1), 'w64': (128.1, 26.9)}


def _complexity(arch):
    cfg = Config(dict(model=dict(type='ImageClassifier', backbone=dict(type='HRNet', arch=arch),
                                 head=dict(type='HRNetClsHead', num_classes=1000))))
    return config_complexity(cfg, (224, 224))  # meta device


def _readme(value: float) -> float:
    """Round as the README prints: 3 significant digits."""
    return float(f'{value:.3g}')


@pytest.mark.parametrize('arch', list(TABLE))
def test_params_and_gflops_match_the_official_table(arch):
    params_m, gflops = TABLE[arch]
    c = _complexity(arch)
    assert round(c.params / 1e6, 1) == params_m, c.params
    assert _readme(c.gflops) == gflops, c.gflops


def test_the_other_units_do_not_reproduce_the_table():
    c = _complexity('w18')
    assert round(c.params / 2 ** 20, 1) == 20.3  # not 21.3
    assert _readme(c.gflops_1e9) == 4.28  # not 3.99
