import math

import pytest
import torch

from hrnet_train.models.task_modules.box_coder import (
    DeltaXYWHBBoxCoder,
    decode_box_deltas,
    encode_box_deltas,
)
from hrnet_train.registry import TASK_UTILS
from hrnet_train.utils.errors import ConfigError


def _random_boxes(n, gen, scale=100.0):
    xy = torch.rand(n, 2, generator=gen) * scale
    wh = torch.rand(n, 2, generator=gen) * scale + 2.0
    return torch.cat([xy, xy + wh], dim=1)


def test_encode_by_hand():
    anchor = torch.tensor([[0., 0., 10., 10.]])
    gt = torch.tensor([[2., 2., 12., 14.]])  # centre (7, 8), size 10 x 12; anchor (5, 5), 10 x 10
    d = encode_box_deltas(anchor, gt)
    torch.testing.assert_close(d, torch.tensor([[0.2, 0.3, 0.0, math.log(1.2)]]))
    coder = DeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    torch.testing.assert_close(coder.encode(anchor, gt),
                               torch.tensor([[2.0, 3.0, 0.0, math.log(1.2) / 0.2]]))
    # legacy: sizes + 1 -> anchor 11 x 11, gt 11 x 13
    legacy = encode_box_deltas(anchor, gt, legacy=True)
    torch.testing.assert_close(legacy, torch.tensor([[2 / 11, 3 / 11, 0.0, math.log(13 / 11)]]))


def test_decode_known_values():
    # mmdet's delta2bbox docstring example (max_shape 32 x 32)
    rois = torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.], [0., 0., 1., 1.], [5., 5., 5., 5.]])
    deltas = torch.tensor([[0., 0., 0., 0.], [1., 1., 1., 1.], [0., 0., 2., -1.],
                           [0.7, -1.9, -0.5, 0.3]])
    out = DeltaXYWHBBoxCoder().decode(rois, deltas, max_shape=(32, 32))
    e = math.e
    expected = torch.tensor([[0., 0., 1., 1.],
                             [1.5 - e / 2, 1.5 - e / 2, 1.5 + e / 2, 1.5 + e / 2],
                             [0., 0.5 - 0.5 / e, 0.5 + e * e / 2, 0.5 + 0.5 / e],
                             [5., 5., 5., 5.]])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(out[1:3], torch.tensor([[0.1409, 0.1409, 2.8591, 2.8591],
                                                       [0.0000, 0.3161, 4.1945, 0.6839]]),
                               rtol=0, atol=1e-4)


def test_wh_ratio_clip_and_border_clip():
    rois = torch.tensor([[10., 10., 20., 20.]])
    big = decode_box_deltas(rois, torch.tensor([[0., 0., 10., -10.]]))
    w, h = big[0, 2] - big[0, 0], big[0, 3] - big[0, 1]
    assert w.item() == pytest.approx(10 * 1000 / 16, rel=1e-5)  # dw clamped to log(1000/16)
    assert h.item() == pytest.approx(10 * 16 / 1000, rel=1e-5)
    clipped = decode_box_deltas(rois, torch.tensor([[0., 0., 3., 3.]]), max_shape=(40, 30))
    # centre 15, size 10 e^3 = 200.9: clipped to x in [0, 30], y in [0, 40]
    torch.testing.assert_close(clipped, torch.tensor([[0., 0., 30., 40.]]))
    no_clip = DeltaXYWHBBoxCoder(clip_border=False).decode(rois, torch.tensor([[0., 0., 3., 3.]]),
                                                           max_shape=(40, 30))
    assert no_clip[0, 0] < 0
    legacy = decode_box_deltas(rois, torch.tensor([[0., 0., 3., 3.]]), max_shape=(40, 30),
                               legacy=True)
    torch.testing.assert_close(legacy, torch.tensor([[0., 0., 29., 39.]]))


def test_legacy_decode_by_hand():
    # roi 0..9 (width 10 with + 1), centre 4.5; dx = 0.1 -> centre 5.5; dw = log 2 -> width 20
    out = decode_box_deltas(torch.tensor([[0., 0., 9., 9.]]),
                            torch.tensor([[0.1, 0.0, math.log(2.0), 0.0]]), legacy=True)
    torch.testing.assert_close(out, torch.tensor([[5.5 - 10 + 0.5, 0., 5.5 + 10 - 0.5, 9.]]))


@pytest.mark.parametrize('legacy', [False, True])
def test_round_trip(legacy):
    gen = torch.Generator().manual_seed(0)
    anchors = _random_boxes(200, gen)
    gts = _random_boxes(200, gen)
    coder = DeltaXYWHBBoxCoder(target_means=(0.1, -0.1, 0.05, 0.0),
                               target_stds=(0.1, 0.1, 0.2, 0.2), legacy=legacy)
    deltas = coder.encode(anchors, gts)
    raw_dwh = deltas[:, 2:] * 0.2 + torch.tensor([0.05, 0.0])
    assert raw_dwh.abs().max() < math.log(1000 / 16)  # no clamping in this test
    torch.testing.assert_close(coder.decode(anchors, deltas), gts, rtol=0, atol=1e-4)


def test_class_specific_deltas():
    gen = torch.Generator().manual_seed(1)
    rois = _random_boxes(5, gen)
    deltas = torch.randn(5, 12, generator=gen) * 0.5
    coder = DeltaXYWHBBoxCoder(target_stds=(0.1, 0.1, 0.2, 0.2))
    out = coder.decode(rois, deltas, max_shape=(80, 90))
    assert out.shape == (5, 12)
    for k in range(3):
        torch.testing.assert_close(out[:, 4 * k:4 * k + 4],
                                   coder.decode(rois, deltas[:, 4 * k:4 * k + 4], (80, 90)))
    assert coder.decode(rois[:0], deltas[:0]).shape == (0, 12)


def test_registry_and_errors():
    coder = TASK_UTILS.build(dict(type='DeltaXYWHBBoxCoder', target_stds=(.1, .1, .2, .2),
                                  legacy=True))
    assert coder.stds == (.1, .1, .2, .2) and coder.legacy
    with pytest.raises(ConfigError, match='target_stds'):
        DeltaXYWHBBoxCoder(target_stds=(1., 1.))
    with pytest.raises(ValueError, match=r'\(B, 4k\)'):
        coder.decode(torch.zeros(2, 4), torch.zeros(2, 5))
