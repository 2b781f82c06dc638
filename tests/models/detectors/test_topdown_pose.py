"""TopdownPoseEstimator: flip test, mapping back to the image, loss and predict."""
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from hrnet_train.models.detectors.topdown_pose import TopdownPoseEstimator, flip_heatmaps
from hrnet_train.structures import build_warp_matrix
from hrnet_train.utils.errors import ConfigError

FLIP = [0, 2, 1, 4, 3]


def _model(**test_cfg):
    torch.manual_seed(0)
    return TopdownPoseEstimator(
        backbone=dict(type='HRNet', arch='w18-small-v1', multi_scale_output=False),
        head=dict(type='HeatmapHead', num_keypoints=5),
        codec=dict(type='MSRAHeatmap', input_size=(32, 64), heatmap_size=(8, 16), sigma=1),
        data_preprocessor=dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375]),
        test_cfg=test_cfg or None).eval()


def test_flip_heatmaps_matches_official_code():
    """Official lib/core/function.py: flip_back (flip width, swap pairs) then
    output_flipped[:, :, :, 1:] = output_flipped.clone()[:, :, :, 0:-1]."""
    torch.manual_seed(0)
    hm = torch.rand(2, 5, 6, 7)
    ref = hm.numpy()[:, :, :, ::-1].copy()
    ref = ref[:, FLIP]
    ref[:, :, :, 1:] = ref.copy()[:, :, :, 0:-1]
    assert np.array_equal(flip_heatmaps(hm, FLIP, shift=True).numpy(), ref)
    noshift = flip_heatmaps(hm, FLIP, shift=False)
    assert torch.equal(noshift[:, 1], hm.flip(-1)[:, 2])
    with pytest.raises(ValueError, match='flip_indices has 3 entries for 5 keypoints'):
        flip_heatmaps(hm, [0, 1, 2])


def test_fractional_flip_shift_interpolates():
    hm = torch.arange(6.).reshape(1, 1, 1, 6)
    mirrored = hm.flip(-1)  # 5 4 3 2 1 0
    np.testing.assert_allclose(flip_heatmaps(hm, [0], shift=0.75).numpy()[0, 0, 0],
                               0.25 * mirrored[0, 0, 0].numpy()
                               + 0.75 * np.array([5., 5., 4., 3., 2., 1.]))
    with pytest.raises(ValueError, match='shift must be in'):
        flip_heatmaps(hm, [0], shift=6)


def test_head_channels_follow_the_backbone():
    model = _model()
    assert model.head.in_channels == 16  # w18-small-v1 stride-4 width
    with pytest.raises(ConfigError, match=r'model.head.in_channels=32 but the HRNet '
                                          r'\(w18-small-v1\) at stride 4 gives 16'):
        TopdownPoseEstimator(
            backbone=dict(type='HRNet', arch='w18-small-v1', multi_scale_output=False),
            head=dict(type='HeatmapHead', in_channels=32, num_keypoints=5),
            codec=dict(type='MSRAHeatmap', input_size=(32, 64), heatmap_size=(8, 16)))
    with pytest.raises(ConfigError, match=r"unknown keys \['flip'\]"):
        _model(flip=True)


def test_tensor_and_loss_modes():
    model = _model().train()
    inputs = torch.randn(2, 3, 64, 32)
    assert tuple(model(inputs, mode='tensor').shape) == (2, 5, 16, 8)
    samples = []
    for _ in range(2):
        ds = BaseDataElement()
        ds.set_field(torch.rand(5, 16, 8), 'gt_heatmaps')
        ds.set_field(torch.tensor([1., 1., 0., 1., 1.]), 'keypoint_weights')
        samples.append(ds)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_kpt', 'acc_pose'}
    pred = model(inputs, mode='tensor')
    target = torch.stack([s.gt_heatmaps for s in samples])
    w = torch.stack([s.keypoint_weights for s in samples])[..., None, None]
    expected = (0.5 * ((pred * w - target * w) ** 2).mean(dim=(2, 3))).mean()
    assert torch.allclose(losses['loss_kpt'], expected, rtol=1e-5)
    losses['loss_kpt'].backward()
    with pytest.raises(ValueError, match="mode must be"):
        model(inputs, mode='nope')


def test_predict_uses_flip_test_and_maps_to_image():
    model = _model()
    inputs = torch.randn(1, 3, 64, 32)
    warp = build_warp_matrix(np.array([50., 60.]), np.array([16., 32.]), 0., (32, 64))
    ds = BaseDataElement(metainfo=dict(flip_indices=FLIP, input_size=(32, 64), warp_matrix=warp,
                                       bbox_center=np.array([50., 60.], np.float32),
                                       bbox_scale=np.array([16., 32.], np.float32)))
    out = model.predict(inputs, [ds])[0]
    hm = 0.5 * (model(inputs) + flip_heatmaps(model(inputs.flip(-1)), FLIP))
    kp_in, scores = model.codec.decode_batch(hm.detach().numpy())
    expected = kp_in[0] / np.array([32., 64.]) * np.array([16., 32.]) + np.array([42., 44.])
    np.testing.assert_allclose(out.pred_keypoints, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out.pred_keypoint_scores, scores[0], rtol=1e-6)
    assert out.pred_keypoints.shape == (5, 2)
    # without flip test the plain heatmaps are decoded
    model2 = _model(flip_test=False)
    out2 = model2.predict(inputs, [BaseDataElement(metainfo=dict(input_size=(32, 64)))])[0]
    kp2, _ = model2.codec.decode_batch(model2(inputs).detach().numpy())
    np.testing.assert_allclose(out2.pred_keypoints, kp2[0], rtol=1e-6)


def test_predict_without_flip_indices_is_a_clear_error():
    with pytest.raises(ValueError, match='flip_indices'):
        _model().predict(torch.randn(1, 3, 64, 32), [BaseDataElement()])


def test_predict_without_warp_matrix_is_a_clear_error():
    ds = BaseDataElement(metainfo=dict(bbox_center=np.array([50., 60.])))
    with pytest.raises(KeyError, match='warp_matrix'):
        _model(flip_test=False).predict(torch.randn(1, 3, 64, 32), [ds])
