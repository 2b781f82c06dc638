"""LoadImage: RGB order, shapes, and one-line errors naming the file."""
import cv2
import numpy as np
import pytest

from hrnet_train.datasets.transforms.loading import LoadImage

IMG = 'data/coco_tiny/val2017/000000000785.jpg'


def test_reads_rgb(monkeypatch):
    from pathlib import Path
    monkeypatch.chdir(Path(__file__).resolve().parents[3])
    out = LoadImage()(dict(img_path=IMG))
    assert out['img'].shape == (425, 640, 3) and out['img'].dtype == np.uint8
    assert out['img_shape'] == out['ori_shape'] == (425, 640)
    bgr = cv2.imread(IMG)
    assert np.array_equal(out['img'], bgr[..., ::-1])
    assert np.array_equal(LoadImage(to_rgb=False)(dict(img_path=IMG))['img'], bgr)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'image file not found: .*nope\.jpg'):
        LoadImage()(dict(img_path=str(tmp_path / 'nope.jpg')))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not a jpeg')
    with pytest.raises(ValueError, match=r'could not decode image file .*bad\.jpg'):
        LoadImage()(dict(img_path=str(bad)))


def test_missing_image_in_a_coco_dataset_names_the_file(tmp_path):
    """A dataset whose annotation points at a missing image fails at load with the path."""
    import json
    from hrnet_train.datasets.coco_keypoints import CocoKeypointDataset
    ann = dict(images=[dict(id=1, file_name='gone.jpg', width=100, height=80)],
               annotations=[dict(id=7, image_id=1, category_id=1, iscrowd=0, area=400.,
                                 bbox=[10, 10, 20, 20], num_keypoints=1,
                                 keypoints=[15, 15, 2] + [0, 0, 0] * 16)],
               categories=[dict(id=1, name='person')])
    (tmp_path / 'ann.json').write_text(json.dumps(ann))
    ds = CocoKeypointDataset(ann_file=str(tmp_path / 'ann.json'),
                             data_prefix=dict(img=str(tmp_path) + '/'),
                             pipeline=[dict(type='LoadImage')], test_mode=True)
    with pytest.raises(FileNotFoundError, match=r'image file not found: .*gone\.jpg'):
        ds[0]
