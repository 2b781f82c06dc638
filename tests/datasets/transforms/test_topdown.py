import numpy as np
import pytest

from hrnet_train.codecs import MSRAHeatmap
from hrnet_train.datasets.transforms import (
    GenerateTarget,
    RandomBBoxTransform,
    RandomHalfBody,
    TopdownAffine,
)
from hrnet_train.structures import apply_affine


def _apply(mat, pts):
    return apply_affine(pts, mat)


COCO_UPPER, COCO_LOWER = list(range(11)), list(range(11, 17))


@pytest.mark.parametrize('use_udp,expected_center', [(False, (96., 128.)), (True, (95.5, 127.5))])
@pytest.mark.parametrize('rot', [0., 40.])
def test_topdown_affine_maps_bbox_center_to_input_center(use_udp, expected_center, rot):
    img = np.zeros((300, 400, 3), np.uint8)
    img[150, 220] = 255  # one bright pixel = one keypoint
    results = dict(img=img, bbox_center=np.array([220., 150.], np.float32),
                   bbox_scale=np.array([100., 100.], np.float32), bbox_rotation=rot,
                   keypoints=np.array([[220., 150.], [250., 160.]], np.float32),
                   keypoints_visible=np.ones(2, np.float32))
    out = TopdownAffine((192, 256), use_udp=use_udp)(results)
    assert out['img'].shape == (256, 192, 3) and out['img'].dtype == np.uint8
    np.testing.assert_allclose(out['keypoints'][0], expected_center, atol=1e-3)
    np.testing.assert_allclose(out['keypoints'], _apply(out['warp_matrix'], [[220., 150.],
                                                                           [250., 160.]]))
    # aspect ratio fixed to 192/256: (100, 100) -> (100, 133.3); the input spans that box
    np.testing.assert_allclose(out['bbox_scale'], [100., 400 / 3], rtol=1e-6)
    np.testing.assert_allclose(out['input_scale'], out['bbox_scale'])
    np.testing.assert_allclose(out['input_center'], [220., 150.])
    assert out['input_size'] == (192, 256) and out['warp_matrix'].shape == (2, 3)
    # the bright pixel lands where its keypoint does (1.92 px per image px: a blob around it)
    y, x = np.unravel_index(out['img'][..., 0].argmax(), (256, 192))
    assert abs(x - out['keypoints'][0, 0]) <= 1 and abs(y - out['keypoints'][0, 1]) <= 1
    if not use_udp and rot == 0:
        # scale: 192 input px for 100 image px; 30 px right of the centre -> 57.6 px
        np.testing.assert_allclose(out['keypoints'][1], [96 + 57.6, 128 + 19.2], atol=1e-3)


def _half_body_sample():
    kpts = np.zeros((17, 2), np.float32)
    kpts[:11] = np.stack([np.linspace(40, 60, 11), np.linspace(10, 50, 11)], 1)
    kpts[11:] = np.stack([np.linspace(45, 55, 6), np.linspace(70, 130, 6)], 1)
    return dict(keypoints=kpts, keypoints_visible=np.ones(17, np.float32),
                upper_body_ids=COCO_UPPER, lower_body_ids=COCO_LOWER,
                bbox_center=np.array([50., 65.], np.float32),
                bbox_scale=np.array([40., 140.], np.float32))


@pytest.mark.parametrize('prefer_upper', [True, False])
def test_half_body_box_covers_only_chosen_joints(prefer_upper):
    t = RandomHalfBody(prob=1., upper_prioritized_prob=1. if prefer_upper else 0.)
    out = t(_half_body_sample())
    assert out['half_body'] is True
    chosen, other = (COCO_UPPER, COCO_LOWER) if prefer_upper else (COCO_LOWER, COCO_UPPER)
    kpts = out['keypoints']
    np.testing.assert_allclose(out['bbox_center'], kpts[chosen].mean(0), rtol=1e-6)
    extent = kpts[chosen].max(0) - kpts[chosen].min(0)
    np.testing.assert_allclose(out['bbox_scale'], extent * 1.5, rtol=1e-6)
    lo = out['bbox_center'] - out['bbox_scale'] / 2
    hi = out['bbox_center'] + out['bbox_scale'] / 2
    assert ((kpts[chosen] >= lo) & (kpts[chosen] <= hi)).all()
    assert not ((kpts[other] >= lo) & (kpts[other] <= hi)).all(1).any()


def test_half_body_conditions():
    sample = _half_body_sample()
    sample['keypoints_visible'][9:] = 0  # 9 visible: upper 9, lower 0
    out = RandomHalfBody(prob=1., upper_prioritized_prob=0.)(dict(sample))
    # lower half has < 3 visible: official falls back to the upper half
    assert out['half_body'] and out['bbox_center'][1] == pytest.approx(
        sample['keypoints'][:9, 1].mean())
    sample['keypoints_visible'][8] = 0  # only 8 visible: official needs more than 8
    out = RandomHalfBody(prob=1.)(dict(sample, bbox_center=np.array([50., 65.], np.float32)))
    assert out['half_body'] is False and out['bbox_center'].tolist() == [50., 65.]
    out = RandomHalfBody(prob=0.)(_half_body_sample())
    assert out['half_body'] is False


def test_half_body_probabilities():
    np.random.seed(0)
    t = RandomHalfBody()
    outs = [t(_half_body_sample()) for _ in range(4000)]
    applied = [o for o in outs if o['half_body']]
    assert 0.27 < len(applied) / 4000 < 0.33
    upper = np.mean([o['bbox_center'][1] < 60 for o in applied])
    assert 0.64 < upper < 0.74  # official normal draw < 0.5: 69.1 %


def test_random_bbox_transform_ranges():
    np.random.seed(0)
    t = RandomBBoxTransform()
    scales, rots = [], []
    for _ in range(3000):
        out = t(dict(bbox_center=np.array([10., 20.], np.float32),
                     bbox_scale=np.array([100., 200.], np.float32)))
        np.testing.assert_array_equal(out['bbox_center'], [10., 20.])  # shift off by default
        assert out['bbox_scale'][1] == pytest.approx(2 * out['bbox_scale'][0])
        scales.append(out['bbox_scale'][0] / 100.)
        rots.append(out['bbox_rotation'])
    scales, rots = np.array(scales), np.array(rots)
    assert scales.min() >= 0.65 - 1e-6 and scales.max() <= 1.35 + 1e-6
    assert np.isclose(scales, 0.65).any() and np.isclose(scales, 1.35).any()  # clipped tails
    assert np.abs(rots).max() <= 90. and (np.abs(rots) == 90.).any()
    assert 0.57 < np.mean(rots != 0) < 0.63
    assert abs(np.std(rots[rots != 0]) - 45) < 5  # clip at 2 sigma barely changes the std


def test_random_bbox_transform_shift():
    np.random.seed(1)
    t = RandomBBoxTransform(shift_factor=0.16, shift_prob=1., scale_factor=0., rotate_prob=0.)
    for _ in range(200):
        out = t(dict(bbox_center=np.array([0., 0.], np.float32),
                     bbox_scale=np.array([100., 50.], np.float32)))
        assert (np.abs(out['bbox_center']) <= np.array([16., 8.]) + 1e-4).all()
        assert out['bbox_rotation'] == 0.


def test_generate_target():
    kpts = np.array([[96., 128.], [8., 8.], [300., 10.]], np.float32)
    results = dict(keypoints=kpts, keypoints_visible=np.array([1., 1., 1.], np.float32),
                   joint_weights=np.array([1., 1.5, 2.], np.float32))
    cfg = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    out = GenerateTarget(encoder=cfg)(dict(results))
    assert out['heatmaps'].shape == (3, 64, 48) and out['heatmaps'].dtype == np.float32
    assert out['heatmaps'][0, 32, 24] == 1. and out['heatmaps'][1, 2, 2] == 1.
    assert out['keypoint_weights'].tolist() == [1., 1., 0.]  # third is off the map
    out = GenerateTarget(encoder=cfg, use_dataset_keypoint_weights=True)(dict(results))
    assert out['keypoint_weights'].tolist() == [1., 1.5, 0.]
    assert isinstance(GenerateTarget(encoder=cfg).encoder, MSRAHeatmap)
