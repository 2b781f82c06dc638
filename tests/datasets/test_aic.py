"""AicDataset on the bundled AI Challenger images (data/aic_tiny, mmpose's COCO-format json)."""
import json
from pathlib import Path

import numpy as np

from hrnet_train.datasets import AicDataset

ROOT = Path(__file__).resolve().parents[2] / 'data' / 'aic_tiny'
IMG = 'ai_challenger_keypoint_validation_20170911/keypoint_validation_images_20170911/'


def test_loads_all_people_with_aic_metainfo():
    ds = AicDataset(data_root=str(ROOT), ann_file='annotations/test_aic.json',
                    data_prefix=dict(img=IMG))
    meta = ds.metainfo
    cat = json.loads((ROOT / 'annotations' / 'test_aic.json').read_text())['categories'][0]
    assert meta['keypoint_names'] == cat['keypoints'] and meta['num_keypoints'] == 14
    names = meta['keypoint_names']
    assert [names[meta['flip_indices'][i]] for i in (0, 8, 12)] == [
        'Left Shoulder', 'Left Ankle', 'Head top']
    np.testing.assert_allclose(meta['sigmas'][[0, 6, 13]], [0.01388152, 0.03909642, 0.01236173])
    assert len(ds) == 9
    info = ds.get_data_info(0)
    assert info['id'] == 4 and info['keypoints_visible'].sum() == 10
    np.testing.assert_allclose(info['keypoints'][12], [395., 74.])  # head top
    assert Path(info['img_path']).is_file()
