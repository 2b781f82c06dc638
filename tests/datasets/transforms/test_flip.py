import numpy as np
import pytest

from hrnet_train.datasets.transforms import GetBBoxCenterScale, RandomFlip
from hrnet_train.datasets.transforms.flip import swap_label_pairs

FLIP = [0, 2, 1, 4, 3]


def _sample():
    rng = np.random.default_rng(0)
    return dict(
        img=rng.integers(0, 255, size=(40, 30, 3), dtype=np.uint8),
        keypoints=np.array([[15., 5.], [10., 6.], [20., 6.], [3., 30.], [25., 31.]],
                           dtype=np.float32),
        keypoints_visible=np.array([1., 1., 0., 1., 1.], dtype=np.float32),
        flip_indices=FLIP, bbox=np.array([2., 4., 12., 24.], dtype=np.float32),
        bbox_center=np.array([7., 14.], dtype=np.float32),
        gt_bboxes=np.array([[0., 1., 10., 20.], [25.5, 2., 30., 4.]], dtype=np.float32),
        gt_seg_map=rng.integers(0, 19, size=(40, 30), dtype=np.uint8))


def test_flip_twice_is_identity():
    ref = _sample()
    once = RandomFlip(prob=1.)(_sample())
    assert once['flip'] is True and once['flip_direction'] == 'horizontal'
    assert not np.array_equal(once['img'], ref['img'])
    twice = RandomFlip(prob=1.)(once)
    for key in ('img', 'keypoints', 'keypoints_visible', 'bbox', 'bbox_center', 'gt_bboxes',
                'gt_seg_map'):
        np.testing.assert_array_equal(twice[key], ref[key], err_msg=key)
    assert twice['img'].flags['C_CONTIGUOUS'] and twice['gt_seg_map'].flags['C_CONTIGUOUS']


def test_flip_values_and_pair_swap():
    s = RandomFlip(prob=1.)(_sample())
    # x -> w - 1 - x with w = 30; channel 1 (left) now holds the old channel 2 (right)
    np.testing.assert_array_equal(s['keypoints'], [[14., 5.], [9., 6.], [19., 6.], [4., 31.],
                                                   [26., 30.]])
    np.testing.assert_array_equal(s['keypoints_visible'], [1., 0., 1., 1., 1.])
    np.testing.assert_array_equal(s['bbox'], [17., 4., 27., 24.])
    np.testing.assert_array_equal(s['bbox_center'], [22., 14.])
    # continuous detection boxes: x -> w - x, edges swapped
    np.testing.assert_array_equal(s['gt_bboxes'], [[20., 1., 30., 20.], [0., 2., 4.5, 4.]])
    # the mirrored centre is the centre of the mirrored box
    np.testing.assert_array_equal(GetBBoxCenterScale()(dict(bbox=s['bbox']))['bbox_center'],
                                  s['bbox_center'])
    ref = _sample()
    np.testing.assert_array_equal(s['img'][:, 0], ref['img'][:, 29])
    np.testing.assert_array_equal(s['gt_seg_map'][:, 3], ref['gt_seg_map'][:, 26])


def test_probability_and_no_flip():
    s = RandomFlip(prob=0.)(_sample())
    assert s['flip'] is False and s['flip_direction'] is None
    np.testing.assert_array_equal(s['keypoints'], _sample()['keypoints'])
    np.random.seed(0)
    flips = [RandomFlip(prob=0.5)(dict(img=np.zeros((2, 2, 3), np.uint8)))['flip']
             for _ in range(2000)]
    assert 0.46 < np.mean(flips) < 0.54


def test_errors():
    with pytest.raises(ValueError, match="direction must be 'horizontal'"):
        RandomFlip(direction='vertical')
    s = _sample()
    del s['flip_indices']
    with pytest.raises(KeyError, match='flip_indices'):
        RandomFlip(prob=1.)(s)


def _lip_seg_sample():
    # one row, ids 13..19 and 255: 14/15 arms, 16/17 legs, 18/19 shoes; 13 (face), 255 stay
    seg = np.array([[13, 14, 15, 16, 17, 18, 19, 255]], dtype=np.uint8)
    return dict(img=np.zeros((1, 8, 3), np.uint8), gt_seg_map=seg,
                flip_label_pairs=[[14, 15], [16, 17], [18, 19]])


def test_flip_swaps_left_right_label_pairs():
    s = RandomFlip(prob=1.)(_lip_seg_sample())
    # mirrored: [255, 19, 18, 17, 16, 15, 14, 13], then 14<->15, 16<->17, 18<->19
    np.testing.assert_array_equal(s['gt_seg_map'], [[255, 18, 19, 16, 17, 14, 15, 13]])
    assert s['gt_seg_map'].dtype == np.uint8
    # twice: back to the original ids at the original positions
    twice = RandomFlip(prob=1.)(s)
    np.testing.assert_array_equal(twice['gt_seg_map'], _lip_seg_sample()['gt_seg_map'])
    # without pairs the ids are only mirrored (Cityscapes, ADE20K, ...)
    plain = _lip_seg_sample()
    del plain['flip_label_pairs']
    np.testing.assert_array_equal(RandomFlip(prob=1.)(plain)['gt_seg_map'],
                                  [[255, 19, 18, 17, 16, 15, 14, 13]])
    # not flipped: untouched
    kept = RandomFlip(prob=0.)(_lip_seg_sample())
    np.testing.assert_array_equal(kept['gt_seg_map'], _lip_seg_sample()['gt_seg_map'])


def test_swap_label_pairs_values_and_errors():
    seg = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = swap_label_pairs(seg, [(0, 3), (7, 5)])
    expected = seg.copy()
    expected[seg == 0], expected[seg == 3] = 3, 0
    expected[seg == 7], expected[seg == 5] = 5, 7
    np.testing.assert_array_equal(out, expected)
    assert out is not seg and seg[0, 0] == 0  # the input is not modified
    for bad in ([(1, 2), (2, 3)], [(4, 4)], [(1, 255)], [(1, 2, 3)]):
        with pytest.raises(ValueError, match='flip_label_pairs'):
            swap_label_pairs(seg, bad)


def test_flip_of_a_deferred_image_marks_it_and_flips_the_annotations(monkeypatch):
    """No pixels: the image is only marked mirrored (TopdownAffine folds the mirror into its
    warp); keypoints and boxes flip with the full image's width, as on the decoded image."""
    from pathlib import Path

    import hrnet_train.datasets.transforms.loading as loading
    from hrnet_train.datasets.transforms import LoadImage
    from hrnet_train.datasets.transforms.loading import DeferredImage
    path = str(Path(__file__).resolve().parents[3] / 'data/coco_tiny/val2017/000000000785.jpg')
    s = _sample()
    del s['img'], s['gt_seg_map']
    eager = RandomFlip(prob=1.)(dict(LoadImage()(dict(img_path=path)), **_sample_keys(s)))
    decodes = []
    real = loading.cv2.imdecode
    monkeypatch.setattr(loading.cv2, 'imdecode', lambda *a: decodes.append(1) or real(*a))
    loaded = LoadImage(reduced_decode=True)(dict(img_path=path))
    once = RandomFlip(prob=1.)(dict(loaded, **_sample_keys(s)))
    assert decodes == []
    assert isinstance(once['img'], DeferredImage) and once['img'].flipped
    assert once['flip'] is True and once['img_shape'] == (425, 640)
    for key in ('keypoints', 'keypoints_visible', 'bbox', 'bbox_center', 'gt_bboxes'):
        np.testing.assert_array_equal(once[key], eager[key], err_msg=key)
    np.testing.assert_array_equal(once['keypoints'][0], [639 - 15., 5.])  # x -> W - 1 - x
    twice = RandomFlip(prob=1.)(once)
    assert not twice['img'].flipped and loaded['img'].flipped is False
    kept = RandomFlip(prob=0.)(dict(loaded, **_sample_keys(s)))
    assert kept['img'] is loaded['img']


def _sample_keys(s: dict) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
