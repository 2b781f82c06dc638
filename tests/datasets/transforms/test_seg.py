"""Segmentation transforms: label loading and checks, resize, crop, colour jitter, packing."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from hrnet_train.datasets.seg_labels import CITYSCAPES_LABEL_TABLE
from hrnet_train.datasets.transforms import (
    LoadImage,
    LoadSegAnnotation,
    PackSegInputs,
    PhotoMetricDistortion,
    RandomCrop,
    RandomFlip,
    RandomResize,
    Resize,
)
from hrnet_train.datasets.transforms.seg import rescale_size


def _write_sample(tmp_path, label: np.ndarray, *, img_size=None, name='x'):
    h, w = label.shape if img_size is None else img_size[::-1]
    img_path = tmp_path / f'{name}.png'
    seg_path = tmp_path / f'{name}_label.png'
    cv2.imwrite(str(img_path), np.full((h, w, 3), 128, np.uint8))
    cv2.imwrite(str(seg_path), label)
    return dict(img_path=str(img_path), seg_map_path=str(seg_path))


def _sample(w: int, h: int, label: np.ndarray = None) -> dict:
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    if label is None:
        label = np.zeros((h, w), np.uint8)
    return dict(img=img, gt_seg_map=label, img_shape=(h, w), ori_shape=(h, w))


# ---------------------------------------------------------------- LoadSegAnnotation

def test_load_applies_label_map_and_checks_values(tmp_path):
    raw = np.array([[7, 26, 0], [33, 23, 1]], np.uint8)
    info = _write_sample(tmp_path, raw)
    out = LoadSegAnnotation()(LoadImage()(dict(info, label_map=CITYSCAPES_LABEL_TABLE,
                                                   num_classes=19)))
    np.testing.assert_array_equal(out['gt_seg_map'], [[0, 13, 255], [18, 10, 255]])
    assert out['gt_seg_map'].dtype == np.uint8

    # reduce_zero_label: 0 -> 255, k -> k - 1 (argument overrides the dataset's flag)
    info = _write_sample(tmp_path, np.array([[0, 1, 4, 255]], np.uint8), name='r')
    out = LoadSegAnnotation(reduce_zero_label=True)(LoadImage()(dict(info, num_classes=4)))
    np.testing.assert_array_equal(out['gt_seg_map'], [[255, 0, 3, 255]])
    with pytest.raises(ValueError, match=r'r_label\.png holds values \[3\].*reduce_zero_label'):
        LoadSegAnnotation(reduce_zero_label=True)(LoadImage()(dict(info, num_classes=3)))


def test_load_error_out_of_range_value_not_255(tmp_path):
    info = _write_sample(tmp_path, np.array([[0, 1], [19, 255]], np.uint8), name='bad_values')
    with pytest.raises(ValueError, match=r'bad_values_label\.png.*\[19\]'):
        LoadSegAnnotation(num_classes=19)(LoadImage()(dict(info)))
    # num_classes from the dataset's data info works the same
    with pytest.raises(ValueError, match='bad_values_label.png'):
        LoadSegAnnotation()(LoadImage()(dict(info, num_classes=19)))
    # 255 alone is fine
    ok = _write_sample(tmp_path, np.array([[0, 18], [255, 255]], np.uint8), name='ok')
    LoadSegAnnotation(num_classes=19)(LoadImage()(dict(ok)))


def test_load_error_label_size_differs_from_image(tmp_path):
    info = _write_sample(tmp_path, np.zeros((4, 6), np.uint8), img_size=(6, 5), name='mismatch')
    with pytest.raises(ValueError, match=r'mismatch_label\.png is 6x4.*6x5'):
        LoadSegAnnotation()(LoadImage()(dict(info)))
    with pytest.raises(KeyError, match='LoadImage'):
        LoadSegAnnotation()(dict(info))


def test_load_error_missing_label_file(tmp_path):
    info = _write_sample(tmp_path, np.zeros((2, 2), np.uint8))
    info['seg_map_path'] = str(tmp_path / 'gone_gtFine_labelIds.png')
    with pytest.raises(FileNotFoundError, match='gone_gtFine_labelIds.png'):
        LoadSegAnnotation()(LoadImage()(dict(info)))


# ---------------------------------------------------------------- resizing

def test_rescale_size_keeps_ratio_within_scale():
    assert rescale_size((2048, 1024), (2048, 1024)) == (2048, 1024)
    assert rescale_size((100, 100), (2048, 1024)) == (1024, 1024)  # short side bound
    assert rescale_size((300, 100), (2048, 1024)) == (2048, 683)  # long side bound, 682.67
    assert rescale_size((100, 300), (1024, 2048)) == (683, 2048)


def test_random_resize_ratio_and_nearest_labels():
    rng = np.random.default_rng(1)
    label = rng.choice(np.array([0, 3, 7, 255], np.uint8), size=(32, 64))
    t = RandomResize(scale=(128, 64), ratio_range=(0.5, 2.0))
    np.random.seed(3)
    assert np.random.uniform(0.5, 2.0) == pytest.approx(1.32620, abs=1e-5)  # the single draw
    np.random.seed(3)
    out = t(_sample(64, 32, label.copy()))
    # target int(128 r) x int(64 r) = 169 x 84; the 2:1 image fits it at min(169/64, 84/32) = 2.625
    assert out['scale'] == (169, 84)
    assert out['img'].shape == (84, 168, 3) and out['img_shape'] == (84, 168)
    assert out['gt_seg_map'].shape == (84, 168)
    assert out['scale_factor'] == (2.625, 2.625)
    # nearest keeps the label's value set
    assert set(np.unique(out['gt_seg_map'])) == {0, 3, 7, 255}
    small = RandomResize(scale=(40, 20), ratio_range=(1.0, 1.0))(_sample(64, 32, label.copy()))
    assert set(np.unique(small['gt_seg_map'])) <= {0, 3, 7, 255}
    assert small['img'].shape == (20, 40, 3)


def test_random_resize_official_ratio_steps():
    t = RandomResize(scale=(20, 10), ratio_range=(0.5, 2.1), ratio_step=0.1)
    np.random.seed(0)
    widths = {t(_sample(20, 10))['img'].shape[1] for _ in range(400)}
    # 0.5, 0.6, ..., 2.1 -> widths 10, 12, ..., 42: all 17 steps, nothing between
    assert widths == {int(20 * (0.5 + 0.1 * k)) for k in range(17)}
    assert len(widths) == 17


def test_resize_test_time_keeps_ratio_and_composes_scale_factor():
    out = Resize((2048, 1024))(_sample(256, 128))
    assert out['img_shape'] == (1024, 2048) and out['scale_factor'] == (8.0, 8.0)
    out = Resize((100, 50), keep_ratio=False)(out)
    assert out['img'].shape == (50, 100, 3)
    assert out['scale_factor'] == pytest.approx((100 / 256, 50 / 128))


# ---------------------------------------------------------------- cropping

def test_random_crop_pads_image_0_and_label_255():
    label = np.arange(600, dtype=np.int64).reshape(20, 30).astype(np.uint8) % 19
    sample = _sample(30, 20, label.copy())
    img_in = sample['img'].copy()
    out = RandomCrop(crop_size=(40, 25))(sample)  # (w, h)
    assert out['img'].shape == (25, 40, 3) and out['img_shape'] == (25, 40)
    np.testing.assert_array_equal(out['img'][:20, :30], img_in)
    np.testing.assert_array_equal(out['gt_seg_map'][:20, :30], label)
    assert (out['img'][20:] == 0).all() and (out['img'][:, 30:] == 0).all()
    assert (out['gt_seg_map'][20:] == 255).all() and (out['gt_seg_map'][:, 30:] == 255).all()


def test_random_crop_takes_an_aligned_window():
    h, w = 40, 60
    code = (np.arange(h)[:, None] * 256 + np.arange(w)[None]).astype(np.int64)
    label = (code % 251).astype(np.uint8)
    sample = _sample(w, h, label)
    img_in = sample['img'].copy()
    np.random.seed(0)
    out = RandomCrop(crop_size=(16, 8))(sample)
    assert out['img'].shape == (8, 16, 3)
    # find the window from the top-left pixel of the image crop and check both agree
    y0, x0 = [(y, x) for y in range(h - 7) for x in range(w - 15)
              if np.array_equal(img_in[y:y + 8, x:x + 16], out['img'])][0]
    np.testing.assert_array_equal(out['gt_seg_map'], label[y0:y0 + 8, x0:x0 + 16])


def test_random_crop_cat_max_ratio_prefers_mixed_crops():
    label = np.zeros((10, 100), np.uint8)
    label[:, 90:] = 1
    # a 20-wide crop is mixed enough (< 75 % one class) only for x0 in 76..80 (5 of 81 offsets)

    def mixed_fraction(cat_max_ratio):
        np.random.seed(0)
        n = 0
        for _ in range(300):
            crop = RandomCrop((20, 10), cat_max_ratio=cat_max_ratio)
            seg = crop(_sample(100, 10, label))['gt_seg_map']
            n += (seg == 1).sum() / seg.size >= 0.3
        return n / 300

    plain, constrained = mixed_fraction(1.0), mixed_fraction(0.75)
    assert plain < 0.12  # 5 / 81 = 0.06
    assert constrained > 0.35  # 1 - (76 / 81) ** 10 = 0.47


# ---------------------------------------------------------------- colour, flip, packing

def test_photometric_distortion_is_seeded_and_keeps_grey_grey():
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    t = PhotoMetricDistortion()
    np.random.seed(5)
    a = t(dict(img=img.copy()))['img']
    np.random.seed(5)
    b = t(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape == img.shape
    changed = 0
    grey = np.repeat(np.arange(0, 256, 16, dtype=np.uint8)[:, None, None], 3, axis=2)
    for seed in range(20):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        changed += int(not np.array_equal(out, img))
        np.random.seed(seed)
        g = t(dict(img=grey.copy()))['img']
        assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    assert changed >= 15  # each of the 4 steps fires with p 0.5


def test_flip_then_pack(tmp_path):
    label = np.array([[0, 1, 2], [3, 255, 5]], np.uint8)
    sample = _sample(3, 2, label)
    sample.update(img_path='a.png', seg_map_path='a_label.png')
    flipped = RandomFlip(prob=1.0)(sample)
    packed = PackSegInputs()(flipped)
    assert packed['inputs'].dtype == torch.uint8 and packed['inputs'].shape == (3, 2, 3)
    ds = packed['data_samples']
    assert isinstance(ds, BaseDataElement)
    assert ds.gt_seg_map.dtype == torch.int64
    assert ds.gt_seg_map.tolist() == [[[2, 1, 0], [5, 255, 3]]]
    assert ds.flip is True and ds.scale_factor == (1.0, 1.0)
    assert ds.img_path == 'a.png' and ds.seg_map_path == 'a_label.png'
    assert ds.ori_shape == (2, 3) and ds.img_shape == (2, 3)
    # the evaluator's flat dict has both metainfo and the label
    flat = ds.to_dict()
    assert {'gt_seg_map', 'img_path', 'ori_shape', 'flip'} <= set(flat)


def test_pack_without_label_sets_defaults():
    sample = _sample(4, 2)
    del sample['gt_seg_map']
    ds = PackSegInputs()(sample)['data_samples']
    assert 'gt_seg_map' not in ds and ds.flip is False and ds.scale_factor == (1.0, 1.0)


def test_argument_errors():
    with pytest.raises(ValueError, match='crop_size'):
        RandomCrop((0, 5))
    with pytest.raises(ValueError, match='ratio_range'):
        RandomResize((20, 10), (2.0, 1.0))
    with pytest.raises(ValueError, match='scale'):
        Resize((10,))


def test_resize_moves_boxes_and_keypoints():
    """Boxes scale as continuous coordinates (x * s); keypoints as pixel centres
    ((x + 0.5) * s - 0.5, cv2's half-pixel grid)."""
    results = dict(img=np.zeros((40, 100, 3), np.uint8),
                   gt_bboxes=np.array([[10., 4., 50., 40.]], np.float32),
                   keypoints=np.array([[[0., 0.], [99., 39.]]], np.float32))
    out = Resize(scale=(50, 20), keep_ratio=False)(results)
    np.testing.assert_allclose(out['gt_bboxes'], [[5., 2., 25., 20.]])
    np.testing.assert_allclose(out['keypoints'], [[[-0.25, -0.25], [49.25, 19.25]]])
    assert out['scale_factor'] == (0.5, 0.5)


def test_random_crop_moves_and_filters_boxes_and_keypoints():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    boxes = np.array([[0., 0., 10., 10.], [30., 20., 70., 50.], [75., 55., 80., 60.]], np.float32)
    results = dict(img=img.copy(), gt_bboxes=boxes, gt_bboxes_labels=np.array([1, 2, 3]),
                   gt_ignore_flags=np.array([False, True, False]),
                   keypoints=np.array([[35., 25.], [5., 5.]], np.float32),
                   keypoints_visible=np.array([1., 1.], np.float32))
    np.random.seed(3)
    out = RandomCrop(crop_size=(40, 30))(results)
    x0, y0 = out['crop_offset']
    np.testing.assert_array_equal(out['img'], img[y0:y0 + 30, x0:x0 + 40])
    expected = np.clip(boxes - [x0, y0, x0, y0], 0, [40, 30, 40, 30])
    keep = (expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])
    np.testing.assert_allclose(out['gt_bboxes'], expected[keep])
    np.testing.assert_array_equal(out['gt_bboxes_labels'], np.array([1, 2, 3])[keep])
    np.testing.assert_array_equal(out['gt_ignore_flags'], np.array([False, True, False])[keep])
    kp = np.array([[35., 25.], [5., 5.]]) - [x0, y0]
    np.testing.assert_allclose(out['keypoints'], kp)
    inside = (kp >= 0).all(1) & (kp[:, 0] <= 39) & (kp[:, 1] <= 29)
    np.testing.assert_array_equal(out['keypoints_visible'], inside.astype(np.float32))
    assert not keep.all() or not inside.all()  # the seed crops something away
