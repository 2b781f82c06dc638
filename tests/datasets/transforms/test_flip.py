import numpy as np
import pytest

from hrnet_train.datasets.transforms import GetBBoxCenterScale, RandomFlip

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
