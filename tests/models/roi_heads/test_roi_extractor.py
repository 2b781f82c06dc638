import math

import pytest
import torch

from hrnet_train.models.roi_heads.roi_extractor import (
    SingleRoIExtractor,
    boxes_to_rois,
    map_roi_levels,
)
from hrnet_train.ops import roi_align
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError

STRIDES = (4, 8, 16, 32)


def _square(cx, cy, side):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def test_boxes_to_rois_prepends_the_image_index():
    a = torch.tensor([[1., 2., 3., 4.], [5., 6., 7., 8.]])
    b = torch.zeros((0, 4))
    c = torch.tensor([[9., 10., 11., 12.]])
    rois = boxes_to_rois([a, b, c])
    assert rois.tolist() == [[0, 1, 2, 3, 4], [0, 5, 6, 7, 8], [2, 9, 10, 11, 12]]
    assert boxes_to_rois([b]).shape == (0, 5)
    with pytest.raises(ValueError, match=r'boxes_list\[0\]'):
        boxes_to_rois([torch.zeros(3, 5)])


def test_map_roi_levels_by_hand():
    # sqrt(w h): < 112 -> 0, [112, 224) -> 1, [224, 448) -> 2, >= 448 -> 3 (finest_scale 56)
    sides = [1., 50., 111.9, 112., 223.9, 224., 447.9, 448., 2000.]
    expected = [0, 0, 0, 1, 1, 2, 2, 3, 3]
    rois = torch.tensor([[0.] + _square(1000., 1000., s) for s in sides])
    assert map_roi_levels(rois, 4).tolist() == expected
    # a non-square box uses sqrt(w h): 56 x 224 -> 112 -> level 1; 3 levels clamp to 2
    rect = torch.tensor([[0., 0., 0., 56., 224.], [0., 0., 0., 1000., 1000.]])
    assert map_roi_levels(rect, 4).tolist() == [1, 3]
    assert map_roi_levels(rect, 3).tolist() == [1, 2]
    # legacy: w = x2 - x1 + 1, so a 111-wide box is 112 and goes to level 1
    legacy = torch.tensor([[0., 0., 0., 111., 111.]])
    assert map_roi_levels(legacy, 4).tolist() == [0]
    assert map_roi_levels(legacy, 4, legacy=True).tolist() == [1]
    assert map_roi_levels(legacy, 4, finest_scale=28).tolist() == [1]


def _feats(channels=8, size=256, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, channels, size // s, size // s, generator=g) for s in STRIDES]


def test_features_equal_roi_align_on_the_chosen_level():
    feats = _feats()
    boxes = [[0.] + _square(60, 70, 40), [1.] + _square(100, 120, 150),
             [0.] + _square(128, 128, 300), [1.] + _square(128, 128, 250),
             [1.] + _square(30, 200, 20), [0.] + [10., 20., 250., 60.],
             [1.] + _square(128, 128, 460)]
    rois = torch.tensor(boxes)
    levels = [0, 1, 2, 2, 0, 0, 3]  # sqrt(w h): 40, 150, 300, 250, 20, 98 (240 x 40), 460
    ext = MODELS.build(dict(type='SingleRoIExtractor', out_channels=8,
                            featmap_strides=list(STRIDES)))
    assert ext.num_inputs == 4 and ext.roi_layer_output_size == (7, 7)
    out = ext(feats, rois)
    assert out.shape == (7, 8, 7, 7)
    for k, level in enumerate(levels):
        direct = roi_align(feats[level], rois[k:k + 1], 7, spatial_scale=1 / STRIDES[level],
                           sampling_ratio=0, aligned=True)
        torch.testing.assert_close(out[k:k + 1], direct)


def test_spatial_scale_and_half_pixel_offset_on_a_ramp():
    # Bilinear sampling reproduces a linear map exactly, so each bin of a feature map equal to
    # its x coordinate holds the mean sample x: the bin centre, x1 / s - 0.5 + (j + .5) w / 7s
    # with aligned=True.
    feats = []
    for s in STRIDES:
        size = 512 // s
        xs = torch.arange(size, dtype=torch.float32).view(1, 1, 1, size).expand(1, 8, size, size)
        feats.append(xs.contiguous())
    ext = SingleRoIExtractor(out_channels=8, featmap_strides=STRIDES)
    for side, level in ((56., 0), (140., 1), (280., 2), (448., 3)):
        x1 = 32.0
        rois = torch.tensor([[0., x1, 40., x1 + side, 40. + side]])
        out = ext(feats, rois)[0, 3]  # (7, 7), channel 3
        s = STRIDES[level]
        expected = torch.tensor([x1 / s - 0.5 + (j + 0.5) * side / (7 * s) for j in range(7)])
        torch.testing.assert_close(out, expected.expand(7, 7), atol=1e-4, rtol=0)


def test_legacy_passes_the_fork_end_coordinate():
    feats = _feats(seed=1)
    rois = torch.tensor([[0., 20., 30., 130., 90.], [1., 5., 5., 40., 60.]])
    ext = SingleRoIExtractor(dict(type='RoIAlign', output_size=7, sampling_ratio=2,
                                  aligned=False), out_channels=8, featmap_strides=STRIDES,
                             legacy=True)
    out = ext(feats, rois)
    # level by +1 sizes: sqrt(111 * 61) = 82 -> 0; sqrt(36 * 56) = 45 -> 0
    shifted = rois.clone()
    shifted[:, 3:] += 1
    direct = roi_align(feats[0], shifted, 7, spatial_scale=0.25, sampling_ratio=2,
                       aligned=False)
    torch.testing.assert_close(out, direct)
    plain = SingleRoIExtractor(dict(type='RoIAlign', output_size=7, sampling_ratio=2,
                                    aligned=False), out_channels=8, featmap_strides=STRIDES)
    assert not torch.allclose(plain(feats, rois), out)


def test_empty_rois_give_an_empty_batch_that_backpropagates():
    feats = [f.requires_grad_() for f in _feats()]
    ext = SingleRoIExtractor(out_channels=8, featmap_strides=STRIDES)
    out = ext(feats, torch.zeros((0, 5)))
    assert out.shape == (0, 8, 7, 7)
    (out.sum() + 0.0).backward()
    assert all(f.grad is not None and float(f.grad.abs().sum()) == 0.0 for f in feats)


def test_gradients_reach_only_the_used_level():
    feats = [f.requires_grad_() for f in _feats()]
    ext = SingleRoIExtractor(out_channels=8, featmap_strides=STRIDES)
    ext(feats, torch.tensor([[0.] + _square(64, 64, 150)])).sum().backward()
    sums = [float(f.grad.abs().sum()) for f in feats]
    assert sums[1] > 0 and sums[0] == sums[2] == sums[3] == 0
    assert all(math.isfinite(s) for s in sums)


def test_bad_arguments_name_themselves():
    with pytest.raises(ConfigError, match='roi_layer.type'):
        SingleRoIExtractor(dict(type='RoIPool', output_size=7))
    with pytest.raises(ConfigError, match='out_size'):
        SingleRoIExtractor(dict(type='RoIAlign', out_size=7, sample_num=2))
    with pytest.raises(ConfigError, match='aligned'):
        SingleRoIExtractor(legacy=True)
    with pytest.raises(ConfigError, match='featmap_strides'):
        SingleRoIExtractor(featmap_strides=())
    ext = SingleRoIExtractor(out_channels=8, featmap_strides=STRIDES)
    with pytest.raises(ValueError, match='4 feature levels'):
        ext(_feats()[:3], torch.zeros((0, 5)))
    with pytest.raises(ValueError, match=r'feats\[0\]'):
        ext([torch.zeros(1, 4, 8, 8)] * 4, torch.zeros((0, 5)))
    with pytest.raises(ValueError, match='rois'):
        ext(_feats(), torch.zeros((2, 4)))
