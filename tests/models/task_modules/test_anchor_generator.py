import math

import pytest
import torch

from hrnet_train.models.task_modules.anchor_generator import (
    AnchorGenerator,
    anchor_inside_flags,
    make_base_anchors,
)
from hrnet_train.registry import TASK_UTILS
from hrnet_train.utils.errors import ConfigError


def test_base_anchors_stride4_mmdet3_by_hand():
    # stride 4, scale 8: size 32; ratio r = h / w: w = 32 / sqrt(r), h = 32 sqrt(r), centre 0.
    s2 = math.sqrt(2.0)
    expected = torch.tensor([
        [-16 * s2, -16 / s2, 16 * s2, 16 / s2],  # ratio 0.5: 45.25 x 22.63
        [-16.0, -16.0, 16.0, 16.0],  # ratio 1
        [-16 / s2, -16 * s2, 16 / s2, 16 * s2],  # ratio 2
    ])
    gen = AnchorGenerator(strides=(4,))
    assert gen.num_base_anchors == 3
    torch.testing.assert_close(gen.base_anchors[0], expected, rtol=0, atol=1e-5)


def test_base_anchors_stride4_legacy_by_hand():
    # centre (4 - 1) / 2 = 1.5; corners 1.5 -/+ (size - 1) / 2, rounded:
    # ratio 0.5: w 45.2548, h 22.6274 -> 1.5 -/+ 22.1274, 1.5 -/+ 10.8137
    expected = torch.tensor([[-21., -9., 24., 12.], [-14., -14., 17., 17.], [-9., -21., 12., 24.]])
    torch.testing.assert_close(AnchorGenerator(strides=(4,), legacy=True).base_anchors[0],
                               expected, rtol=0, atol=0)


def test_base_anchors_stride16_legacy_by_hand():
    # centre 7.5; ratio 1: size 128 -> 7.5 -/+ 63.5; ratio 0.5: w 181.02, h 90.51
    base = make_base_anchors(16, (8,), (0.5, 1.0), legacy=True)
    torch.testing.assert_close(base, torch.tensor([[-83., -37., 98., 52.], [-56., -56., 71., 71.]]),
                               rtol=0, atol=0)


def test_widths_ratios_and_scale_major_order():
    base = make_base_anchors(8, (2, 4), (0.5, 2.0))  # ratio-major: (r0,s0), (r0,s1), (r1,s0), ...
    w = base[:, 2] - base[:, 0]
    h = base[:, 3] - base[:, 1]
    torch.testing.assert_close(h / w, torch.tensor([0.5, 0.5, 2.0, 2.0]))
    torch.testing.assert_close(torch.sqrt(w * h), torch.tensor([16., 32., 16., 32.]))


def test_grid_order_on_2x3_map():
    gen = AnchorGenerator(strides=(4, 8))
    anchors = gen.grid_anchors([(2, 3), (1, 1)], device='cpu')
    assert [tuple(a.shape) for a in anchors] == [(18, 4), (3, 4)]
    base = gen.base_anchors[0]
    row = 0
    for y in range(2):
        for x in range(3):
            for a in range(3):
                shift = torch.tensor([4. * x, 4. * y, 4. * x, 4. * y])
                torch.testing.assert_close(anchors[0][row], base[a] + shift)
                row += 1
    torch.testing.assert_close(anchors[1], gen.base_anchors[1])


def test_valid_flags_are_the_centres_inside_the_region():
    gen = AnchorGenerator(strides=(4, 8))
    flags = gen.valid_flags([(2, 3), (2, 2)], (5, 7))
    # stride 4: ceil(5/4) = 2 rows, ceil(7/4) = 2 columns valid; stride 8: 1 x 1.
    cells4 = [[True, True, False], [True, True, False]]
    cells8 = [[True, False], [False, False]]
    exp4 = torch.tensor([c for row in cells4 for c in row]).repeat_interleave(3)
    exp8 = torch.tensor([c for row in cells8 for c in row]).repeat_interleave(3)
    assert torch.equal(flags[0], exp4) and torch.equal(flags[1], exp8)
    # the same as "anchor centre (x s, y s) inside [0, W) x [0, H)"
    anchors = gen.grid_anchors([(2, 3), (2, 2)])
    for a, f in zip(anchors, flags):
        cx, cy = (a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2
        assert torch.equal(f, (cx < 7) & (cy < 5))


def test_anchor_inside_flags_by_hand():
    anchors = torch.tensor([[0., 0., 9., 9.], [-1., 0., 5., 5.], [2., 2., 10., 8.],
                            [0., 0., 9., 9.]])
    valid = torch.tensor([True, True, True, False])
    assert torch.equal(anchor_inside_flags(anchors, valid, (10, 10), -1), valid)
    # border 0: x2 < W is required, so x2 = 10 falls out
    assert anchor_inside_flags(anchors, valid, (10, 10), 0).tolist() == [True, False, False, False]
    assert anchor_inside_flags(anchors, valid, (10, 10), 1).tolist() == [True, True, True, False]


def test_registry_and_errors():
    gen = TASK_UTILS.build(dict(type='AnchorGenerator'))
    assert gen.strides == (4, 8, 16, 32, 64) and gen.num_levels == 5
    with pytest.raises(ConfigError, match='strides'):
        AnchorGenerator(strides=(4, 0))
    with pytest.raises(ConfigError, match='ratios'):
        AnchorGenerator(ratios=())
    with pytest.raises(ValueError, match='5 levels'):
        gen.grid_anchors([(2, 2)])
