import cv2
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


# ------------------------------------------------------------------------------------------------
# Deferred decoding (LoadImage(reduced_decode=True)): flip folded into the warp, 1/r decode
# ------------------------------------------------------------------------------------------------
def _coco_instance(index: int, *, reduced: bool, margin: float = 1.0, flip: bool = False,
                   rot: float = 0., scale: float = 1.) -> dict:
    """A bundled COCO person up to TopdownAffine, with fixed augmentation."""
    from pathlib import Path

    from hrnet_train.datasets import CocoKeypointDataset
    from hrnet_train.datasets.transforms import GetBBoxCenterScale, LoadImage, RandomFlip
    root = Path(__file__).resolve().parents[3] / 'data/coco_tiny'
    ds = CocoKeypointDataset(ann_file='annotations/test_coco.json', data_root=str(root),
                             data_prefix=dict(img='val2017/'), test_mode=True)
    load = LoadImage(reduced_decode=reduced, reduced_decode_margin=margin)
    d = GetBBoxCenterScale(padding=1.25)(load(ds.get_data_info(index)))
    if flip:
        d = RandomFlip(prob=1.)(d)
    d['bbox_scale'] = d['bbox_scale'] * np.float32(scale)
    d['bbox_rotation'] = rot
    return d


CODEC = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)


@pytest.mark.parametrize('use_udp', [False, True])
@pytest.mark.parametrize('rot', [0., 30.])
@pytest.mark.parametrize('flip', [False, True])
def test_deferred_full_decode_matches_eager(flip, rot, use_udp):
    """Forced r = 1 (a huge margin): unmirrored bit-identical; mirrored (the flip folded into
    the matrix instead of cv2.flip) within 1 grey level, from the warp's 1/32 px fixed-point
    source coordinates; keypoints, matrix and targets identical."""
    affine = TopdownAffine((192, 256), use_udp=use_udp)
    target = GenerateTarget(encoder=CODEC)
    eager = target(affine(_coco_instance(0, reduced=False, flip=flip, rot=rot)))
    deferred = target(affine(_coco_instance(0, reduced=True, margin=1e9, flip=flip, rot=rot)))
    assert deferred['decode_reduction'] == eager['decode_reduction'] == 1
    assert deferred['img'].shape == (256, 192, 3) and deferred['img'].dtype == np.uint8
    diff = np.abs(eager['img'].astype(int) - deferred['img'].astype(int))
    if flip:
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    else:
        assert diff.max() == 0
    for key in ('keypoints', 'keypoints_visible', 'warp_matrix', 'bbox_scale', 'bbox_center',
                'heatmaps', 'keypoint_weights'):
        np.testing.assert_array_equal(deferred[key], eager[key], err_msg=key)
    assert deferred['img_shape'] == eager['img_shape'] == (425, 640)


def test_each_deferred_image_is_decoded_once(monkeypatch):
    import hrnet_train.datasets.transforms.loading as loading
    calls = []
    real = loading.cv2.imdecode
    monkeypatch.setattr(loading.cv2, 'imdecode', lambda *a: calls.append(a[1]) or real(*a))
    d = _coco_instance(0, reduced=True, flip=True, scale=1.35)  # LoadImage, RandomFlip
    assert calls == []
    out = TopdownAffine((192, 256))(d)
    assert out['decode_reduction'] == 2 and len(calls) == 1


@pytest.mark.parametrize('scale_w,margin,expected', [
    (1.9, 1., 1), (2.05, 1., 2), (4.1, 1., 4), (7.9, 1., 4), (9., 1., 8), (40., 1., 8),
    (4.1, 2., 2), (1.6, 0.75, 2)])
@pytest.mark.parametrize('rot', [0., 45.])
def test_reduction_is_the_largest_that_still_downsamples(scale_w, margin, expected, rot):
    """r * margin <= image pixels per input pixel (box width / 192 after the aspect fix); a
    rotation does not change it."""
    d = _coco_instance(0, reduced=True, margin=margin, rot=rot)
    d['bbox_scale'] = np.array([192 * scale_w, 10.], np.float32)  # height grows to 256 / 192
    out = TopdownAffine((192, 256))(d)
    assert out['decode_reduction'] == expected
    np.testing.assert_allclose(out['bbox_scale'], [192 * scale_w, 256 * scale_w], rtol=1e-6)


@pytest.mark.parametrize('r', [2, 4])
@pytest.mark.parametrize('flip', [False, True])
def test_reduced_warp_equals_an_independent_resample(r, flip):
    """The one warp from the 1/r image equals sampling that image, bilinearly, at
    u = (x_file - (r - 1) / 2) / r where x_file is the inverse-warped input pixel, mirrored
    (x_file = W - 1 - x) when flipped: the matrix composition, checked with cv2.remap."""
    from hrnet_train.structures import invert_affine
    d = _coco_instance(10, reduced=True, margin=1.7 / (1.3 * r), flip=flip, rot=25.)  # 1.73 px/px
    img = d['img']
    out = TopdownAffine((192, 256))(d)
    assert out['decode_reduction'] == r
    inv = invert_affine(out['warp_matrix'])  # input px -> image px
    ys, xs = np.mgrid[0:256, 0:192].astype(np.float64)
    x = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    y = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    if flip:
        x = 640 - 1 - x
    u, v = (x - (r - 1) / 2) / r, (y - (r - 1) / 2) / r
    src = cv2.imdecode(img.data, {2: cv2.IMREAD_REDUCED_COLOR_2,
                                  4: cv2.IMREAD_REDUCED_COLOR_4}[r])[..., ::-1]
    ref = cv2.remap(np.ascontiguousarray(src), u.astype(np.float32), v.astype(np.float32),
                    cv2.INTER_LINEAR)
    diff = np.abs(ref.astype(int) - out['img'].astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01  # a wrong centre (u = x / r): mean > 2.8
    # keypoints never see the reduced image
    np.testing.assert_allclose(out['keypoints'],
                               _apply(out['warp_matrix'], _coco_instance(
                                   10, reduced=False, flip=flip)['keypoints']))


def test_reduced_crop_is_close_to_the_full_decode():
    """At 3 image px per input px (r = 2) the crops differ by the full decode's aliasing only:
    a few grey levels on average (docs/benchmark.md has the numbers on every bundled person)."""
    scale = 3 * 192 / 324.075  # person 0: aspect-fixed box width 324.075 px
    eager = TopdownAffine((192, 256))(_coco_instance(0, reduced=False, scale=scale))
    reduced = TopdownAffine((192, 256))(_coco_instance(0, reduced=True, scale=scale))
    assert reduced['decode_reduction'] == 2
    mad = np.abs(eager['img'].astype(float) - reduced['img'].astype(float)).mean()
    assert 0.5 < mad < 8
