"""KeypointConverter: AIC -> COCO as mmpose's coco-aic merge config, flips, mapping checks."""
from pathlib import Path

import numpy as np
import pytest

from hrnet_train.datasets import AicDataset, CocoKeypointDataset
from hrnet_train.datasets.transforms import KeypointConverter, RandomFlip
from hrnet_train.structures import flip_keypoints
from hrnet_train.utils.errors import ConfigError

AIC = Path(__file__).resolve().parents[3] / 'data' / 'aic_tiny'
# mmpose configs/body_2d_keypoint/topdown_heatmap/coco/
# td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-merge.py
AIC_TO_COCO = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16),
               (9, 11), (10, 13), (11, 15)]


@pytest.fixture(scope='module')
def aic_sample():
    ds = AicDataset(data_root=str(AIC), ann_file='annotations/test_aic.json',
                    data_prefix=dict(img='ai_challenger_keypoint_validation_20170911/'
                                     'keypoint_validation_images_20170911/'))
    return ds.get_data_info(4)  # id 8: all 14 joints labelled


def test_mapping_joins_joints_of_the_same_name():
    aic = AicDataset.METAINFO['keypoint_names']
    coco = CocoKeypointDataset.METAINFO['keypoint_names']
    assert all(aic[s].lower().replace(' ', '_') == coco[t] for s, t in AIC_TO_COCO)


def test_aic_to_coco_and_back_round_trips(aic_sample):
    assert aic_sample['keypoints_visible'].sum() == 14
    out = KeypointConverter(17, AIC_TO_COCO)(dict(aic_sample))
    assert out['keypoints'].shape == (17, 2) and out['keypoints'].dtype == np.float32
    np.testing.assert_array_equal(out['keypoints'][6], aic_sample['keypoints'][0])  # r shoulder
    # COCO face joints have no AIC source: zero and invisible
    assert out['keypoints_visible'].tolist() == [0.] * 5 + [1.] * 12
    assert (out['keypoints'][:5] == 0).all()
    assert out['flip_indices'] == [0, 1, 2, 3, 4] + CocoKeypointDataset.METAINFO[
        'flip_indices'][5:]
    assert out['upper_body_ids'] == [6, 8, 10, 5, 7, 9]
    assert out['lower_body_ids'] == [12, 14, 16, 11, 13, 15]
    np.testing.assert_allclose(out['joint_weights'][[6, 8, 10, 0]], [1., 1.2, 1.5, 1.])

    back = KeypointConverter(14, [(t, s) for s, t in AIC_TO_COCO])(dict(out))
    np.testing.assert_array_equal(back['keypoints'][:12], aic_sample['keypoints'][:12])
    assert back['keypoints_visible'].tolist() == [1.] * 12 + [0., 0.]  # head top, neck lost
    assert back['flip_indices'] == AicDataset.METAINFO['flip_indices']


@pytest.mark.parametrize('target_flip', ['derived', 'coco'])
def test_flip_after_conversion_equals_conversion_after_flip(aic_sample, target_flip):
    width = 900
    convert = KeypointConverter(17, AIC_TO_COCO)
    converted = convert(dict(aic_sample))
    flip = (converted['flip_indices'] if target_flip == 'derived'
            else CocoKeypointDataset.METAINFO['flip_indices'])
    a, a_vis = flip_keypoints(converted['keypoints'], width, flip_indices=flip,
                              visible=converted['keypoints_visible'])
    src, src_vis = flip_keypoints(aic_sample['keypoints'], width,
                                  flip_indices=aic_sample['flip_indices'],
                                  visible=aic_sample['keypoints_visible'])
    b = convert(dict(aic_sample, keypoints=src, keypoints_visible=src_vis))
    np.testing.assert_array_equal(a_vis, b['keypoints_visible'])
    vis = a_vis > 0
    np.testing.assert_allclose(a[vis], b['keypoints'][vis])
    # left shoulder after the flip is the mirrored AIC right shoulder
    np.testing.assert_allclose(a[5], [width - 1 - aic_sample['keypoints'][0][0],
                                      aic_sample['keypoints'][0][1]])


def test_random_flip_reads_the_converted_keys(aic_sample):
    img = np.zeros((641, 950, 3), np.uint8)
    out = KeypointConverter(17, AIC_TO_COCO)(dict(aic_sample, img=img))
    flipped = RandomFlip.flip(dict(out))
    np.testing.assert_allclose(flipped['keypoints'][6], [949 - out['keypoints'][5][0],
                                                         out['keypoints'][5][1]])


def test_instance_batched_keypoints():
    kpts = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    out = KeypointConverter(2, [(2, 0)])(dict(keypoints=kpts))
    np.testing.assert_array_equal(out['keypoints'][:, 0], kpts[:, 2])
    assert out['keypoints_visible'].tolist() == [[1., 0.], [1., 0.]]


@pytest.mark.parametrize('num, mapping, match', [
    (17, [(0, 17)], r'target indices \[17\] are outside \[0, num_keypoints=17\)'),
    (17, [(0, 5), (1, 5)], r'repeats target indices \[5\]'),
    (17, [(0, 5), (0, 6)], r'repeats source indices \[0\]'),
    (17, [(-1, 5)], 'source indices must be >= 0'),
    (17, [], 'mapping is empty'),
    (0, [(0, 0)], 'num_keypoints must be a positive int'),
    (17, [(0, 1, 2)], r'int pairs, got \(0, 1, 2\)'),
])
def test_bad_mappings_are_one_line_config_errors(num, mapping, match):
    with pytest.raises(ConfigError, match=match) as info:
        KeypointConverter(num, mapping)
    assert '\n' not in str(info.value)


def test_mapping_checked_against_the_sample(aic_sample):
    with pytest.raises(ConfigError, match="source index 14 is outside the sample's 14"):
        KeypointConverter(17, [(14, 0)])(dict(aic_sample))
    with pytest.raises(ConfigError, match='maps source joint 0 but not its flip partner 3'):
        KeypointConverter(17, [(0, 6)])(dict(aic_sample))
