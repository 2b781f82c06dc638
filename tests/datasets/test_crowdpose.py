"""CrowdPoseDataset on the bundled CrowdPose test images (data/crowdpose_tiny)."""
import json
from pathlib import Path

import numpy as np

from hrnet_train.datasets import CrowdPoseDataset

ROOT = Path(__file__).resolve().parents[2] / 'data' / 'crowdpose_tiny'


def _dataset(**kwargs):
    return CrowdPoseDataset(data_root=str(ROOT), ann_file='json/test_crowdpose.json',
                            data_prefix=dict(img='images/'), **kwargs)


def test_metainfo_matches_the_file_and_crowdposetools():
    ds = _dataset()
    meta = ds.metainfo
    cat = json.loads((ROOT / 'json' / 'test_crowdpose.json').read_text())['categories'][0]
    assert meta['keypoint_names'] == cat['keypoints'] and meta['num_keypoints'] == 14
    flip = meta['flip_indices']
    assert [meta['keypoint_names'][flip[i]] for i in (0, 11, 12, 13)] == [
        'right_shoulder', 'left_ankle', 'head', 'neck']
    np.testing.assert_allclose(meta['sigmas'][[0, 6, 12]], [0.079, 0.107, 0.079])
    assert sorted(meta['upper_body_ids'] + meta['lower_body_ids']) == list(range(14))


def test_gt_instances_carry_crowd_index():
    ds = _dataset()
    # 5 annotations, one without labelled keypoints
    assert len(ds) == 4
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [(d['img_id'], d['crowd_index']) for d in infos] == [
        (106848, 0.33), (106848, 0.33), (103319, 0.39), (103319, 0.39)]
    first = infos[0]
    assert first['keypoints'].shape == (14, 2) and first['keypoints_visible'].sum() == 7
    np.testing.assert_allclose(first['keypoints'][13], [220., 89.])  # neck
    assert first['flip_indices'] == [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13]
    assert first['img_path'].endswith('images/106848.jpg')


def test_detector_boxes():
    ds = _dataset(bbox_file='json/test_crowdpose_det_AP_40.json', test_mode=True)
    assert len(ds) == 6
    info = ds.get_data_info(0)
    assert info['img_id'] == 106848 and info['crowd_index'] == 0.33
    assert info['keypoints_visible'].sum() == 0
