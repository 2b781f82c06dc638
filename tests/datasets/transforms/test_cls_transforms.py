"""Classification transforms: RandomResizedCrop, ResizeEdge, CenterCrop, PackClsInputs."""
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hrnet_train.datasets.transforms.cls import (
    CenterCrop,
    PackClsInputs,
    RandomResizedCrop,
    ResizeEdge,
    center_crop_box,
    edge_resize_size,
    fallback_crop_box,
)
from hrnet_train.datasets.transforms.loading import read_image
from hrnet_train.registry import TRANSFORMS

ROOT = Path(__file__).resolve().parents[3]
COCO_IMG = ROOT / 'data/coco_tiny/val2017/000000040083.jpg'  # 500 x 333


def _img(w, h, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- RandomResizedCrop
def test_rrc_crop_region_with_a_fixed_seed():
    img = _img(200, 100)
    np.random.seed(0)
    out = RandomResizedCrop(size=32)(dict(img=img))
    # np.random.seed(0) draws, area A = 20000, scale U(0.08, 1), log ratio U(log 3/4, log 4/3):
    #   1: s = 0.5849, r = e^0.1238 = 1.1318 -> w = round(sqrt(A s r)) = 115, h = 102 > 100: retry
    #   2: s = 0.6345, r = 1.0262 -> 114 x 111: retry
    #   3: s = 0.4698, r = 1.0876 -> 101 x 93: fits; y0 = randint(0, 8) = 4, x0 = randint(0, 100)
    #      = 87
    assert out['crop_box'] == (87, 4, 101, 93)
    expected = cv2.resize(img[4:97, 87:188], (32, 32), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out['img'], expected)
    assert out['img_shape'] == (32, 32)


def test_rrc_formula_with_patched_draws(monkeypatch):
    draws = iter([0.25, math.log(4 / 3)])  # area 1/4, ratio 4/3 (w / h)
    monkeypatch.setattr(np.random, 'uniform', lambda lo, hi: next(draws))
    offsets = iter([7, 30])  # y0, then x0
    monkeypatch.setattr(np.random, 'randint', lambda lo, hi: next(offsets))
    # A = 300 * 200 = 60000: w = round(sqrt(15000 * 4/3)) = round(141.42) = 141,
    # h = round(sqrt(15000 * 3/4)) = round(106.07) = 106
    t = RandomResizedCrop(size=(48, 24))
    assert t.draw_box(300, 200) == (30, 7, 141, 106)


def test_rrc_fallback_clamps_the_ratio_and_centres():
    # Area >= 90 % of a 1000 x 10 strip never fits with a ratio in [3/4, 4/3].
    t = RandomResizedCrop(size=16, scale=(0.9, 1.0))
    np.random.seed(1)
    out = t(dict(img=_img(1000, 10)))
    # too wide: h = 10, w = round(10 * 4/3) = 13, x0 = (1000 - 13) // 2 = 493
    assert out['crop_box'] == (493, 0, 13, 10)
    assert out['img'].shape == (16, 16, 3)
    assert fallback_crop_box(10, 1000, (3 / 4, 4 / 3)) == (0, 493, 10, 13)  # too tall
    assert fallback_crop_box(120, 100, (3 / 4, 4 / 3)) == (0, 0, 120, 100)  # ratio 1.2: whole
    no_draw = RandomResizedCrop(size=8, max_attempts=0)
    assert no_draw(dict(img=_img(120, 100)))['crop_box'] == (0, 0, 120, 100)


def test_rrc_boxes_stay_inside_and_respect_the_ranges():
    t = RandomResizedCrop(size=(40, 30))
    np.random.seed(3)
    for _ in range(200):
        x0, y0, w, h = t.draw_box(64, 48)
        assert 0 <= x0 and x0 + w <= 64 and 0 <= y0 and y0 + h <= 48
        assert 0.08 * 64 * 48 * 0.8 <= w * h  # rounding of w and h lowers the area a little
        assert 3 / 4 - 0.05 <= w / h <= 4 / 3 + 0.05
    out = t(dict(img=_img(64, 48)))
    assert out['img'].shape == (30, 40, 3) and out['img_shape'] == (30, 40)


def test_rrc_arguments():
    with pytest.raises(ValueError, match='size'):
        RandomResizedCrop(size=0)
    with pytest.raises(ValueError, match='scale'):
        RandomResizedCrop(scale=(1.0, 0.5))
    with pytest.raises(ValueError, match='ratio'):
        RandomResizedCrop(ratio=(0, 1))
    with pytest.raises(ValueError, match='interpolation'):
        RandomResizedCrop(interpolation='cubic')


# ---------------------------------------------------------------- ResizeEdge
@pytest.mark.parametrize('size, edge, expected', [
    ((500, 375), 'short', (341, 256)),  # 256 * 500 / 375 = 341.33, truncated
    ((375, 500), 'short', (256, 341)),
    ((500, 333), 'short', (384, 256)),  # 384.38
    ((500, 375), 'long', (256, 192)),
    ((375, 500), 'long', (192, 256)),
    ((500, 375), 'width', (256, 192)),
    ((500, 375), 'height', (341, 256)),
    ((300, 300), 'short', (256, 256)),
    ((100, 300), 'short', (256, 768)),  # upscaling too
])
def test_edge_resize_sizes(size, edge, expected):
    assert edge_resize_size(*size, 256, edge) == expected


def test_resize_edge_image_and_scale_factor():
    img = _img(500, 375)
    out = ResizeEdge(256)(dict(img=img, scale_factor=(2.0, 2.0)))
    assert out['img'].shape == (256, 341, 3) and out['img_shape'] == (256, 341)
    np.testing.assert_array_equal(
        out['img'], cv2.resize(img, (341, 256), interpolation=cv2.INTER_LINEAR))
    assert out['scale_factor'] == pytest.approx((2 * 341 / 500, 2 * 256 / 375))
    same = ResizeEdge(375)(dict(img=img))
    assert same['img'] is img and same['scale_factor'] == (1.0, 1.0)
    with pytest.raises(ValueError, match='edge'):
        ResizeEdge(256, edge='shortest')


# ---------------------------------------------------------------- CenterCrop
def test_center_crop_pixels_equal_the_slice():
    img = _img(341, 256)
    out = CenterCrop(224)(dict(img=img))
    # x0 = round(117 / 2) = round(58.5) = 58 (half to even, as mmcv and torchvision), y0 = 16
    assert out['crop_box'] == (58, 16, 224, 224)
    np.testing.assert_array_equal(out['img'], img[16:240, 58:282])
    assert out['img_shape'] == (224, 224) and out['img'].flags['C_CONTIGUOUS']
    assert center_crop_box(343, 257, (224, 224)) == (60, 16, 224, 224)  # 59.5 -> 60, 16.5 -> 16
    rect = CenterCrop((30, 10))(dict(img=_img(40, 20)))
    np.testing.assert_array_equal(rect['img'], _img(40, 20)[5:15, 5:35])


def test_center_crop_smaller_image_clips_or_pads():
    img = _img(100, 50)
    out = CenterCrop(64)(dict(img=img))  # mmcv default: no padding, the crop is clipped
    assert out['crop_box'] == (18, 0, 64, 50)
    np.testing.assert_array_equal(out['img'], img[:, 18:82])
    padded = CenterCrop(64, auto_pad=True)(dict(img=img))  # zeros at the bottom (mmcv Pad)
    assert padded['img'].shape == (64, 64, 3) and padded['img_shape'] == (64, 64)
    np.testing.assert_array_equal(padded['img'][:50], img[:, 18:82])
    assert not padded['img'][50:].any()


# ---------------------------------------------------------------- PackClsInputs
def test_pack_cls_inputs():
    img = _img(6, 4)
    results = dict(img=img, gt_label=np.int64(3), img_path='a.jpg', ori_shape=(40, 60),
                   img_shape=(99, 99), flip=True)
    out = PackClsInputs()(results)
    assert out['inputs'].dtype == torch.uint8 and tuple(out['inputs'].shape) == (3, 4, 6)
    np.testing.assert_array_equal(out['inputs'].numpy(), img.transpose(2, 0, 1))
    sample = out['data_samples']
    assert sample.gt_label.dtype == torch.int64 and sample.gt_label.tolist() == [3]
    assert sample.metainfo == dict(img_path='a.jpg', ori_shape=(40, 60), img_shape=(4, 6))
    unlabelled = PackClsInputs(meta_keys=('img_path', 'flip'))(dict(img=img, img_path='b.jpg'))
    assert 'gt_label' not in unlabelled['data_samples']
    assert unlabelled['data_samples'].metainfo == dict(img_path='b.jpg')
    for label in (torch.tensor([2]), 5, np.array([1])):
        assert PackClsInputs()(dict(img=img, gt_label=label))['data_samples'].gt_label.numel() \
            == 1
    for bad in (1.5, True, [1, 2]):
        with pytest.raises(ValueError, match='gt_label of x.jpg must be one integer'):
            PackClsInputs()(dict(img=img, gt_label=bad, img_path='x.jpg'))
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8'):
        PackClsInputs()(dict(img=img.astype(np.float32)))


# ---------------------------------------------------------------- pipelines
def test_imagenet_pipelines_on_a_real_image():
    """The configs' train and test pipelines, built from the registry."""
    train = [TRANSFORMS.build(c) for c in (
        dict(type='LoadImage'), dict(type='RandomResizedCrop', size=224),
        dict(type='RandomFlip', prob=0.5), dict(type='PackClsInputs'))]
    test = [TRANSFORMS.build(c) for c in (
        dict(type='LoadImage'), dict(type='ResizeEdge', scale=256, edge='short'),
        dict(type='CenterCrop', crop_size=224), dict(type='PackClsInputs'))]
    img = read_image(str(COCO_IMG))  # (333, 500, 3) RGB
    results = dict(img_path=str(COCO_IMG), gt_label=7)
    for t in test:
        results = t(results)
    # 500 x 333 -> 384 x 256, centre 224: x0 = 80, y0 = 16
    expected = cv2.resize(img, (384, 256), interpolation=cv2.INTER_LINEAR)[16:240, 80:304]
    np.testing.assert_array_equal(results['inputs'].numpy(), expected.transpose(2, 0, 1))
    assert results['data_samples'].metainfo == dict(
        img_path=str(COCO_IMG), ori_shape=(333, 500), img_shape=(224, 224))
    np.random.seed(0)
    results = dict(img_path=str(COCO_IMG), gt_label=7)
    for t in train:
        results = t(results)
    assert tuple(results['inputs'].shape) == (3, 224, 224)
    assert results['data_samples'].gt_label.tolist() == [7]
    for t in train + test:
        assert type(t).__name__ in repr(t)
