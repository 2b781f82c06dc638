"""OCHumanDataset on the bundled OCHuman images (data/ochuman_tiny)."""
from pathlib import Path

import numpy as np

from hrnet_train.datasets import CocoKeypointDataset, OCHumanDataset

ROOT = Path(__file__).resolve().parents[2] / 'data' / 'ochuman_tiny'


def test_loads_with_coco_metainfo():
    ds = OCHumanDataset(data_root=str(ROOT), ann_file='annotations/test_ochuman.json',
                        data_prefix=dict(img='images/'), test_mode=True)
    assert len(ds) == 5
    meta = ds.metainfo
    assert meta['dataset_name'] == 'ochuman'
    coco = CocoKeypointDataset.METAINFO
    assert meta['keypoint_names'] == coco['keypoint_names']
    assert meta['flip_indices'] == coco['flip_indices']
    np.testing.assert_allclose(meta['sigmas'], coco['sigmas'])
    info = ds.get_data_info(0)
    assert info['keypoints_visible'].sum() == 17
    np.testing.assert_allclose(info['keypoints'][5], [478., 258.])  # left shoulder
    assert Path(info['img_path']).is_file()
