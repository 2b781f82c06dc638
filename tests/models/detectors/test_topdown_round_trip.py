"""Coordinates round-trip exactly through the top-down pipeline, for every codec.

image keypoints -> (RandomFlip) -> TopdownAffine -> codec.encode -> heatmaps -> the model's
predict (flip test optional) -> image keypoints must return the input within 0.05 px. The
network is replaced by an ideal one that outputs the encoded target of whatever it is shown
(the target of the flipped crop for the flipped input), so only the geometry is tested: the
warp, its inverse, the codec's scaling and refinement and the flip-test shift.

MSRA renders the Gaussian on the nearest heatmap pixel, so its round trip is exact only for
keypoints on the heatmap grid; those are used for it. DARK and UDP render sub-pixel peaks and
are tested on arbitrary positions.
"""
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from hrnet_train.datasets.transforms import (
    GenerateTarget,
    GetBBoxCenterScale,
    PackPoseInputs,
    RandomFlip,
    TopdownAffine,
)
from hrnet_train.models.detectors.topdown_pose import TopdownPoseEstimator
from hrnet_train.structures import apply_affine, flip_keypoints, invert_affine

FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
INPUT, HEATMAP = (192, 256), (48, 64)
CODECS = {
    'msra': dict(type='MSRAHeatmap', input_size=INPUT, heatmap_size=HEATMAP, sigma=2),
    'dark': dict(type='MSRAHeatmap', input_size=INPUT, heatmap_size=HEATMAP, sigma=2,
                 unbiased=True),
    'udp': dict(type='UDPHeatmap', input_size=INPUT, heatmap_size=HEATMAP, sigma=2),
}


def _model(codec: dict, flip_test: bool) -> TopdownPoseEstimator:
    return TopdownPoseEstimator(
        backbone=dict(type='HRNet', arch='w18-small-v1', multi_scale_output=False),
        head=dict(type='HeatmapHead', num_keypoints=17), codec=codec,
        test_cfg=dict(flip_test=flip_test)).eval()


def _image_keypoints(name: str, center, scale, use_udp: bool, seed: int) -> np.ndarray:
    """17 keypoints inside the crop, away from its border, in image pixels."""
    rng = np.random.default_rng(seed)
    affine = TopdownAffine(INPUT, use_udp=use_udp)
    crop = affine(dict(img=np.zeros((480, 640, 3), np.uint8), bbox_center=center,
                       bbox_scale=scale))
    inp = rng.uniform([24, 24], [INPUT[0] - 24, INPUT[1] - 24], size=(17, 2))
    if name == 'msra':  # heatmap-grid positions (stride 4): the rounded rendering is exact there
        inp = np.round(inp / 4) * 4
    return apply_affine(inp, invert_affine(crop['warp_matrix']))


@pytest.mark.parametrize('train_flip', [False, True])
@pytest.mark.parametrize('flip_test', [False, True])
@pytest.mark.parametrize('name', sorted(CODECS))
def test_round_trip_within_0_05_px(name, flip_test, train_flip):
    codec_cfg = CODECS[name]
    use_udp = codec_cfg['type'] == 'UDPHeatmap'
    model = _model(codec_cfg, flip_test)
    img = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    bbox = np.array([250., 120., 390., 330.], np.float32)  # x1 y1 x2 y2
    box = GetBBoxCenterScale(1.25)(dict(bbox=bbox))
    # keypoints chosen so that, after the optional flip, they sit where the codec is exact
    flip_center = box['bbox_center'].copy()
    flip_center[0] = 640 - 1 - flip_center[0]
    kpts = _image_keypoints(name, flip_center if train_flip else box['bbox_center'],
                            box['bbox_scale'], use_udp, seed=7)
    if train_flip:  # the grid was chosen in the flipped frame: go back to the original one
        kpts, _ = flip_keypoints(kpts, 640, flip_indices=FLIP)

    results = dict(img=img.copy(), bbox=bbox, keypoints=kpts.copy(),
                   keypoints_visible=np.ones(17, np.float32), flip_indices=FLIP)
    results = GetBBoxCenterScale(1.25)(results)
    if train_flip:
        results = RandomFlip(prob=1.0)(results)
    results = TopdownAffine(INPUT, use_udp=use_udp)(results)
    results = GenerateTarget(encoder=codec_cfg)(results)
    packed = PackPoseInputs()(results)
    target = packed['data_samples'].gt_heatmaps[None]  # (1, K, h, w)

    # the target of the mirrored crop, which an ideal network outputs for the flipped input
    mirrored, visible = flip_keypoints(results['keypoints'], INPUT[0], flip_indices=FLIP,
                                       visible=np.ones(17))
    target_flipped = torch.from_numpy(model.codec.encode(mirrored, visible)['heatmaps'])[None]
    inputs = packed['inputs'][None].float()

    def ideal(x):
        return target if torch.equal(x, inputs) else target_flipped

    model._forward = ideal
    sample = BaseDataElement(metainfo=packed['data_samples'].metainfo)
    pred = model.predict(inputs, [sample])[0].pred_keypoints
    if train_flip:  # predictions are in the flipped image: mirror back to compare
        pred, _ = flip_keypoints(pred, 640, flip_indices=FLIP)
    err = np.abs(pred - kpts).max()
    assert err < 0.05, f'{name}: max error {err:.4f} px'


def test_wrong_inverse_would_be_caught():
    """The test above can fail: mapping UDP predictions with the non-UDP inverse is off by
    more than 0.5 px (the bug this file guards against)."""
    from hrnet_train.structures import build_warp_matrix
    center, scale = np.array([320., 225.]), np.array([175., 233.33])
    udp = TopdownAffine(INPUT, use_udp=True)(dict(img=np.zeros((480, 640, 3), np.uint8),
                                                  bbox_center=center, bbox_scale=scale))
    pts = np.array([[20., 30.], [170., 230.]])
    exact = apply_affine(pts, invert_affine(udp['warp_matrix']))
    legacy = apply_affine(pts, build_warp_matrix(center, udp['bbox_scale'], 0., INPUT, inv=True))
    assert np.abs(exact - legacy).max() > 0.5
