"""LoadDetAnnotations and PackDetInputs, alone and with the geometric transforms."""
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement, InstanceData

from hrnet_train.datasets.transforms.det import LoadDetAnnotations, PackDetInputs
from hrnet_train.registry import TRANSFORMS
from hrnet_train.utils.errors import DataError

INSTANCES = [dict(bbox=[1., 2., 11., 22.], bbox_label=3, ignore_flag=0),
             dict(bbox=[5., 5., 9.5, 8.], bbox_label=0, ignore_flag=1),
             dict(bbox=[0., 0., 40., 30.], bbox_label=1)]  # ignore_flag defaults to 0


def _sample(instances=INSTANCES):
    img = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    return dict(img=img, img_shape=(30, 40), ori_shape=(30, 40), img_id=7, img_path='a.jpg',
                instances=[dict(i) for i in instances])


def test_load_det_annotations():
    out = TRANSFORMS.build(dict(type='LoadDetAnnotations'))(_sample())
    np.testing.assert_array_equal(out['gt_bboxes'], [[1, 2, 11, 22], [5, 5, 9.5, 8],
                                                     [0, 0, 40, 30]])
    assert out['gt_bboxes'].dtype == np.float32 and out['gt_bboxes'].shape == (3, 4)
    assert out['gt_bboxes_labels'].tolist() == [3, 0, 1]
    assert out['gt_bboxes_labels'].dtype == np.int64
    assert out['gt_ignore_flags'].tolist() == [False, True, False]
    assert out['gt_ignore_flags'].dtype == bool
    empty = LoadDetAnnotations()(_sample([]))
    assert empty['gt_bboxes'].shape == (0, 4) and empty['gt_bboxes_labels'].shape == (0,)
    assert empty['gt_ignore_flags'].shape == (0,)


def test_load_det_annotations_errors():
    with pytest.raises(KeyError, match='needs "instances"'):
        LoadDetAnnotations()(dict(img_path='a.jpg'))
    with pytest.raises(DataError, match=r'^a\.jpg: instance 0 needs bbox'):
        LoadDetAnnotations()(_sample([dict(bbox=[1, 2, 3], bbox_label=0)]))
    with pytest.raises(DataError, match='instance 0 needs bbox'):
        LoadDetAnnotations()(_sample([dict(bbox=[1, 2, 3, 4])]))


def test_pack_det_inputs_splits_ignored_boxes():
    results = LoadDetAnnotations()(_sample())
    results.update(scale_factor=(2.0, 2.0), flip=True, flip_direction='horizontal', extra=1)
    out = TRANSFORMS.build(dict(type='PackDetInputs'))(results)
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs.dtype == torch.uint8 and tuple(inputs.shape) == (3, 30, 40)
    assert torch.equal(inputs[:, 4, 7], torch.from_numpy(results['img'][4, 7]))
    assert isinstance(sample, BaseDataElement)
    assert sample.metainfo == dict(img_id=7, img_path='a.jpg', ori_shape=(30, 40),
                                   img_shape=(30, 40), scale_factor=(2.0, 2.0), flip=True,
                                   flip_direction='horizontal')
    gt, ign = sample.gt_instances, sample.ignored_instances
    assert isinstance(gt, InstanceData) and isinstance(ign, InstanceData)
    assert gt.bboxes.dtype == torch.float32 and gt.labels.dtype == torch.int64
    assert gt.bboxes.tolist() == [[1, 2, 11, 22], [0, 0, 40, 30]]
    assert gt.labels.tolist() == [3, 1]
    assert ign.bboxes.tolist() == [[5, 5, 9.5, 8]] and ign.labels.tolist() == [0]


def test_pack_det_inputs_defaults_and_no_annotations():
    """Inference: no LoadDetAnnotations, no flip, no resize; every field is still there."""
    img = np.zeros((12, 20, 3), np.uint8)
    sample = PackDetInputs()(dict(img=img, img_shape=(12, 20), ori_shape=(24, 40), img_id=1,
                                  img_path='b.png'))['data_samples']
    assert sample.flip is False and sample.flip_direction is None
    assert sample.scale_factor == (0.5, 0.5)  # img_shape / ori_shape as (w, h)
    for inst in (sample.gt_instances, sample.ignored_instances):
        assert tuple(inst.bboxes.shape) == (0, 4) and inst.bboxes.dtype == torch.float32
        assert tuple(inst.labels.shape) == (0,) and inst.labels.dtype == torch.int64
    only_id = PackDetInputs(meta_keys=('img_id',))(dict(img=img, img_id=3))['data_samples']
    assert only_id.metainfo == dict(img_id=3)
    with pytest.raises(ValueError, match='one per box'):
        PackDetInputs()(dict(img=img, gt_bboxes=np.zeros((2, 4)), gt_bboxes_labels=[0]))
    with pytest.raises(KeyError, match='gt_bboxes without gt_bboxes_labels'):
        PackDetInputs()(dict(img=img, gt_bboxes=np.zeros((2, 4))))
    no_flags = PackDetInputs()(dict(img=img, gt_bboxes=np.ones((2, 4)), gt_bboxes_labels=[4, 5]))
    assert no_flags['data_samples'].gt_instances.labels.tolist() == [4, 5]
    with pytest.raises(KeyError, match='needs "img"'):
        PackDetInputs()(dict(img_id=1))
    assert 'PackDetInputs' in repr(PackDetInputs()) and 'LoadDetAnnotations' in repr(
        LoadDetAnnotations())


def test_boxes_follow_resize_flip_and_crop_with_their_labels():
    """The per-box keys move with gt_bboxes through the existing geometric transforms."""
    np.random.seed(0)
    results = LoadDetAnnotations()(_sample())
    results = TRANSFORMS.build(dict(type='Resize', scale=(80, 60), keep_ratio=True))(results)
    # 40 x 30 -> 80 x 60: every coordinate doubles
    np.testing.assert_allclose(results['gt_bboxes'], [[2, 4, 22, 44], [10, 10, 19, 16],
                                                      [0, 0, 80, 60]])
    results = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0))(results)
    np.testing.assert_allclose(results['gt_bboxes'], [[58, 4, 78, 44], [61, 10, 70, 16],
                                                      [0, 0, 80, 60]])  # x -> 80 - x
    crop = TRANSFORMS.build(dict(type='RandomCrop', crop_size=(20, 20)))
    crop._draw_offset = lambda h, w: (0, 0)  # crop [0, 20) x [0, 20): only box 2 survives
    results = crop(results)
    np.testing.assert_allclose(results['gt_bboxes'], [[0, 0, 20, 20]])
    assert results['gt_bboxes_labels'].tolist() == [1]
    assert results['gt_ignore_flags'].tolist() == [False]
    sample = PackDetInputs()(results)['data_samples']
    assert sample.gt_instances.labels.tolist() == [1]
    assert sample.scale_factor == (2.0, 2.0) and sample.flip is True
