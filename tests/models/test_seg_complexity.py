"""Parameter counts of the HRNetV2 segmentation models (backbone + neck + head, 19 classes).

REFERENCE section 4 (HRNet/HRNet-Semantic-Segmentation:README.md): W48 65.8M, small-v1 1.5M,
small-v2 3.9M; counted W18 9.64M, W32 29.55M, W40 45.89M. The README truncates to 0.1M: the exact
W48 count 65,859,379 is 65.86M, printed as 65.8M.
"""
import math

import pytest
import torch

from hrnet_train.registry import MODELS


def _count(arch: str, c: int) -> int:
    cfg = dict(
        type='EncoderDecoder',
        backbone=dict(type='HRNet', arch=arch, upsample_mode='bilinear',
                      norm_cfg=dict(type='BN', momentum=0.01)),
        neck=dict(type='HRNetV2Concat', in_channels=(c, 2 * c, 4 * c, 8 * c)),
        decode_head=dict(type='SegHead', in_channels=15 * c, num_classes=19),
    )
    with torch.device('meta'):  # no memory, no init cost
        model = MODELS.build(cfg)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('arch,c,exact,readme', [
    ('w48', 48, 65_859_379, 65.8),
    ('w18-small-v1', 16, 1_540_819, 1.5),
    ('w18-small-v2', 18, 3_939_579, 3.9),
])
def test_published_param_counts(arch, c, exact, readme):
    n = _count(arch, c)
    assert n == exact
    assert math.floor(n / 1e5) / 10 == readme  # README truncates to 0.1M


@pytest.mark.parametrize('arch,c,millions', [('w18', 18, 9.64), ('w32', 32, 29.55),
                                             ('w40', 40, 45.89)])
def test_counted_param_counts(arch, c, millions):
    assert round(_count(arch, c) / 1e6, 2) == millions
