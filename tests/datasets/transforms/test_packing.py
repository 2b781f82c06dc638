import numpy as np
import torch
from mmengine.structures import BaseDataElement

from hrnet_train.datasets.transforms import PackPoseInputs


def test_pack_pose_inputs():
    img = np.random.default_rng(0).integers(0, 255, size=(256, 192, 3), dtype=np.uint8)
    results = dict(
        img=img, img_id=785, img_path='x.jpg', id=3, category_id=1,
        bbox=np.array([1., 2., 3., 4.], np.float32), bbox_center=np.array([2., 3.], np.float32),
        bbox_scale=np.array([4., 5.], np.float32), bbox_score=0.9, input_size=(192, 256),
        flip_indices=[0, 2, 1], ori_shape=(400, 300), img_shape=(400, 300), not_meta=1,
        heatmaps=np.ones((3, 64, 48), np.float32), keypoint_weights=np.array([1., 0., 1.]),
        keypoints=np.zeros((3, 2), np.float32), keypoints_visible=np.ones(3))
    out = PackPoseInputs()(results)
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 256, 192)
    assert inputs.is_contiguous()
    assert torch.equal(inputs[:, 10, 20], torch.from_numpy(img[10, 20]))
    assert isinstance(sample, BaseDataElement)
    assert set(sample.metainfo) == {'img_id', 'img_path', 'id', 'category_id', 'bbox',
                                    'bbox_center', 'bbox_scale', 'bbox_score', 'input_size',
                                    'flip_indices', 'ori_shape', 'img_shape'}
    assert isinstance(sample.gt_heatmaps, torch.Tensor) and sample.gt_heatmaps.shape == (3, 64, 48)
    assert sample.keypoint_weights.dtype == torch.float32
    assert sample.keypoint_weights.tolist() == [1., 0., 1.]
    assert isinstance(sample.gt_keypoints, np.ndarray) and sample.gt_keypoints.shape == (3, 2)
    assert sample.gt_keypoints_visible.dtype == np.float32
    flat = sample.to_dict()  # what mmengine's evaluator hands to metrics
    assert flat['img_id'] == 785 and 'gt_heatmaps' in flat


def test_pack_without_targets():
    out = PackPoseInputs(meta_keys=('img_id',))(dict(img=np.zeros((8, 6, 3), np.uint8), img_id=1))
    assert out['inputs'].shape == (3, 8, 6)
    assert out['data_samples'].metainfo == {'img_id': 1}
    assert 'gt_heatmaps' not in out['data_samples']
