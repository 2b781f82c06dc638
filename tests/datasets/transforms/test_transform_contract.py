"""Every registered transform and codec builds from a small default config and runs.

One entry per name in ``TRANSFORMS`` (and ``KEYPOINT_CODECS``): the config it builds from, a
sample holding the keys it reads (its docstring's "Reads:") and the keys it must add or change.
A transform registered without an entry here fails the coverage test.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from hrnet_train.registry import KEYPOINT_CODECS, TRANSFORMS
from hrnet_train.utils import register_all_modules

register_all_modules()

CODEC = dict(type='MSRAHeatmap', input_size=(32, 48), heatmap_size=(8, 12), sigma=1)


def _pose_sample(tmp_path=None) -> dict:
    rng = np.random.default_rng(0)
    kpts = np.array([[20., 20.], [25., 22.], [15., 22.]], np.float32)
    return dict(img=rng.integers(0, 255, (60, 50, 3), dtype=np.uint8), img_shape=(60, 50),
                ori_shape=(60, 50), bbox=np.array([5., 5., 40., 55.], np.float32),
                bbox_center=np.array([22.5, 30.], np.float32),
                bbox_scale=np.array([35., 50.], np.float32), keypoints=kpts,
                keypoints_visible=np.ones(3, np.float32), flip_indices=[0, 2, 1],
                upper_body_ids=[0, 1, 2], lower_body_ids=[], joint_weights=np.ones(3, np.float32))


def _seg_sample() -> dict:
    rng = np.random.default_rng(0)
    return dict(img=rng.integers(0, 255, (40, 60, 3), dtype=np.uint8), img_shape=(40, 60),
                ori_shape=(40, 60), gt_seg_map=rng.integers(0, 4, (40, 60), dtype=np.uint8))


def _files(tmp_path) -> dict:
    img, seg = tmp_path / 'a.png', tmp_path / 'a_label.png'
    cv2.imwrite(str(img), np.full((20, 30, 3), 100, np.uint8))
    cv2.imwrite(str(seg), np.full((20, 30), 2, np.uint8))
    return dict(img_path=str(img), seg_map_path=str(seg), img_shape=(20, 30), ori_shape=(20, 30),
                num_classes=4)


def _det_sample(tmp_path=None) -> dict:
    rng = np.random.default_rng(0)
    return dict(img=rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), img_shape=(30, 40),
                ori_shape=(30, 40), img_id=1, img_path='a.jpg',
                instances=[dict(bbox=[1., 2., 11., 22.], bbox_label=1, ignore_flag=0),
                           dict(bbox=[5., 5., 9., 8.], bbox_label=0, ignore_flag=1)])


def _affined(sample: dict) -> dict:
    return TRANSFORMS.build(dict(type='TopdownAffine', input_size=(32, 48)))(sample)


# name -> (config, sample factory(tmp_path), check(results))
CONTRACTS = {
    'LoadImage': (dict(), _files, lambda r: r['img'].shape == (20, 30, 3)),
    'LoadSegAnnotation': (dict(), _files, lambda r: (r['gt_seg_map'] == 2).all()),
    'GetBBoxCenterScale': (dict(), lambda t: _pose_sample(),
                           lambda r: np.allclose(r['bbox_center'], [22.5, 30.])
                           and np.allclose(r['bbox_scale'], [43.75, 62.5])),
    'RandomFlip': (dict(prob=1.0), lambda t: _pose_sample(),
                   lambda r: r['flip'] and np.allclose(r['keypoints'][0], [29., 20.])),
    'KeypointConverter': (dict(num_keypoints=4, mapping=[(0, 3), (1, 1), (2, 2)]),
                          lambda t: _pose_sample(),
                          lambda r: r['keypoints'][3].tolist() == [20., 20.]
                          and r['keypoints_visible'].tolist() == [0., 1., 1., 1.]
                          and r['flip_indices'] == [0, 2, 1, 3]),
    'RandomHalfBody': (dict(prob=1.0, min_total_keypoints=3, min_upper_keypoints=3),
                       lambda t: _pose_sample(), lambda r: r['half_body']),
    'RandomBBoxTransform': (dict(), lambda t: _pose_sample(),
                            lambda r: 'bbox_rotation' in r and (r['bbox_scale'] > 0).all()),
    'TopdownAffine': (dict(input_size=(32, 48)), lambda t: _pose_sample(),
                      lambda r: r['img'].shape == (48, 32, 3) and r['warp_matrix'].shape == (2, 3)),
    'GenerateTarget': (dict(encoder=CODEC), lambda t: _affined(_pose_sample()),
                       lambda r: r['heatmaps'].shape == (3, 12, 8)
                       and r['keypoint_weights'].sum() == 3),
    'PackPoseInputs': (dict(), lambda t: _affined(_pose_sample()),
                       lambda r: tuple(r['inputs'].shape) == (3, 48, 32)
                       and 'warp_matrix' in r['data_samples'].metainfo),
    'PackSegInputs': (dict(), lambda t: _seg_sample(),
                      lambda r: tuple(r['data_samples'].gt_seg_map.shape) == (1, 40, 60)),
    'PhotoMetricDistortion': (dict(), lambda t: _seg_sample(),
                              lambda r: r['img'].shape == (40, 60, 3)
                              and r['img'].dtype == np.uint8),
    'RandomCrop': (dict(crop_size=(32, 24)), lambda t: _seg_sample(),
                   lambda r: r['img'].shape == (24, 32, 3) and r['gt_seg_map'].shape == (24, 32)),
    'RandomResize': (dict(scale=(60, 40), ratio_range=(0.5, 0.5)), lambda t: _seg_sample(),
                     lambda r: r['img'].shape == (20, 30, 3) and r['gt_seg_map'].shape == (20, 30)),
    'LoadDetAnnotations': (dict(), lambda t: _det_sample(),
                           lambda r: r['gt_bboxes'].shape == (2, 4)
                           and r['gt_ignore_flags'].tolist() == [False, True]),
    'PackDetInputs': (dict(), lambda t: TRANSFORMS.build(dict(type='LoadDetAnnotations'))(
                          _det_sample()),
                      lambda r: r['data_samples'].gt_instances.labels.tolist() == [1]
                      and tuple(r['data_samples'].ignored_instances.bboxes.shape) == (1, 4)),
    'RandomResizedCrop': (dict(size=(24, 16)), lambda t: _seg_sample(),
                          lambda r: r['img'].shape == (16, 24, 3) and r['img_shape'] == (16, 24)),
    'ResizeEdge': (dict(scale=20), lambda t: _seg_sample(),
                   lambda r: r['img'].shape == (20, 30, 3) and r['scale_factor'] == (0.5, 0.5)),
    'CenterCrop': (dict(crop_size=(30, 20)), lambda t: _seg_sample(),
                   lambda r: r['img'].shape == (20, 30, 3) and r['crop_box'] == (15, 10, 30, 20)),
    'PackClsInputs': (dict(), lambda t: dict(_seg_sample(), gt_label=2, img_path='a.jpg'),
                      lambda r: r['data_samples'].gt_label.tolist() == [2]
                      and tuple(r['inputs'].shape) == (3, 40, 60)),
    'Resize': (dict(scale=(120, 80)), lambda t: _seg_sample(),
               lambda r: r['img'].shape == (80, 120, 3) and r['scale_factor'] == (2.0, 2.0)),
}


def test_every_registered_transform_has_a_contract():
    assert sorted(TRANSFORMS.module_dict) == sorted(CONTRACTS)


@pytest.mark.parametrize('name', sorted(CONTRACTS))
def test_transform_builds_and_runs(name, tmp_path):
    np.random.seed(0)
    cfg, sample, check = CONTRACTS[name]
    transform = TRANSFORMS.build(dict(cfg, type=name))
    results = transform(sample(tmp_path))
    assert results is not None and check(results), name
    assert name in repr(transform)


@pytest.mark.parametrize('name', sorted(KEYPOINT_CODECS.module_dict))
def test_codec_builds_and_round_trips_on_the_grid(name):
    codec = KEYPOINT_CODECS.build(dict(CODEC, type=name))
    kpts = np.array([[8., 12.], [20., 28.]], np.float32)  # away from the border
    encoded = codec.encode(kpts, np.ones(2, np.float32))
    decoded, scores = codec.decode(encoded['heatmaps'])
    assert encoded['heatmaps'].shape == (2, 12, 8)
    np.testing.assert_allclose(decoded, kpts, atol=0.3)
    assert (scores > 0.5).all()  # peak of a sigma-1 Gaussian sampled near its centre
