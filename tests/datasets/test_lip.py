"""LIPDataset on generated files in the LIP download layout: folder walk, id lists, the official
HRNet list files, and the left/right label swap of a flipped sample."""
import cv2
import numpy as np
import pytest
from mmengine.dataset import Compose

from hrnet_train.datasets import LIPDataset
from hrnet_train.registry import DATASETS
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import DataError

LABELS = {  # LIP ids: 0 background, 13 face, 14/15 left/right arm, 19 right shoe
    ('train', '77_471474'): np.array([[0, 14, 15, 13], [19, 0, 2, 2]], np.uint8),
    ('train', '100_1234'): np.array([[5, 5, 5, 5], [0, 0, 0, 0]], np.uint8),
    ('val', '100034_483681'): np.array([[16, 17, 0, 0], [18, 19, 0, 0]], np.uint8),
}
TRAIN = dict(img_path='TrainVal_images/train_images',
             seg_map_path='TrainVal_parsing_annotations/train_segmentations')


@pytest.fixture
def lip(tmp_path):
    root = tmp_path / 'LIP'
    for (split, stem), lab in LABELS.items():
        img = root / 'TrainVal_images' / f'{split}_images' / f'{stem}.jpg'
        seg = root / 'TrainVal_parsing_annotations' / f'{split}_segmentations' / f'{stem}.png'
        img.parent.mkdir(parents=True, exist_ok=True)
        seg.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(img), np.full((2, 4, 3), 128, np.uint8))
        cv2.imwrite(str(seg), lab)
    (root / 'TrainVal_images' / 'train_id.txt').write_text('77_471474\n100_1234\n')
    (root / 'list').mkdir()
    (root / 'list' / 'valList.txt').write_text(
        'val_images/100034_483681.jpg val_segmentations/100034_483681.png\n')
    return root


def _load(ds, idx, *transforms):
    register_all_modules()
    pipeline = Compose([dict(type='LoadImage'), dict(type='LoadSegAnnotation'), *transforms])
    return pipeline(ds.get_data_info(idx))


def test_folder_walk_and_id_list_keep_the_label_ids(lip):
    walked = LIPDataset(data_root=str(lip), data_prefix=TRAIN)
    listed = DATASETS.build(dict(type='LIPDataset', data_root=str(lip), data_prefix=TRAIN,
                                 ann_file='TrainVal_images/train_id.txt'))
    assert walked.num_classes == listed.num_classes == 20
    assert walked.metainfo['classes'][14:16] == ('Left-arm', 'Right-arm')
    assert walked.metainfo['palette'][15] == (0, 255, 255)
    assert len(walked) == len(listed) == 2
    # the walk is sorted ('100_1234' < '77_471474'), the id list keeps its order
    np.testing.assert_array_equal(_load(walked, 1)['gt_seg_map'],
                                  LABELS[('train', '77_471474')])
    np.testing.assert_array_equal(_load(listed, 0)['gt_seg_map'],
                                  LABELS[('train', '77_471474')])
    assert listed.get_data_info(0)['flip_label_pairs'] == [[14, 15], [16, 17], [18, 19]]


def test_official_list_file(lip):
    ds = LIPDataset(data_root=str(lip), ann_file='list/valList.txt',
                    data_prefix=dict(img_path='TrainVal_images',
                                     seg_map_path='TrainVal_parsing_annotations'))
    info = ds.get_data_info(0)
    assert info['img_path'].endswith('TrainVal_images/val_images/100034_483681.jpg')
    assert info['seg_map_path'].endswith(
        'TrainVal_parsing_annotations/val_segmentations/100034_483681.png')
    np.testing.assert_array_equal(_load(ds, 0)['gt_seg_map'], LABELS[('val', '100034_483681')])


def test_flipped_sample_swaps_left_and_right(lip):
    ds = LIPDataset(data_root=str(lip), data_prefix=TRAIN, ann_file='TrainVal_images/train_id.txt')
    out = _load(ds, 0, dict(type='RandomFlip', prob=1.0))
    # [[0, 14, 15, 13], [19, 0, 2, 2]] mirrored -> [[13, 15, 14, 0], [2, 2, 0, 19]],
    # then 14 <-> 15 and 19 -> 18
    np.testing.assert_array_equal(out['gt_seg_map'], [[13, 14, 15, 0], [2, 2, 0, 18]])


def test_one_line_errors(lip):
    bad = np.array([[20, 0, 0, 0], [0, 0, 0, 0]], np.uint8)
    cv2.imwrite(str(lip / 'TrainVal_parsing_annotations/train_segmentations/100_1234.png'), bad)
    ds = LIPDataset(data_root=str(lip), data_prefix=TRAIN)
    with pytest.raises(DataError, match=r'100_1234.png holds values \[20\] .*outside \[0, 20\)'):
        _load(ds, 0)
    with pytest.raises(DataError, match='image folder .*test_images .*does not exist'):
        LIPDataset(data_root=str(lip), data_prefix=dict(img_path='TrainVal_images/test_images'))
    with pytest.raises(DataError, match='list file .*trainList.txt does not exist'):
        LIPDataset(data_root=str(lip), data_prefix=TRAIN, ann_file='list/trainList.txt')
    (lip / 'list' / 'valList.txt').write_text(
        'val_images/100034_483681.jpg val_segmentations/100034_483681.png\n'
        'val_images/nope.jpg val_segmentations/nope.png\n'
        'val_images/a.jpg\n')
    prefix = dict(img_path='TrainVal_images', seg_map_path='TrainVal_parsing_annotations')
    with pytest.raises(DataError, match=r'file not found: .*nope.jpg \(listed in .*valList.txt:2'):
        LIPDataset(data_root=str(lip), ann_file='list/valList.txt', data_prefix=prefix)
    with pytest.raises(DataError, match=r'valList.txt:3: expected "<image> <label>"'):
        LIPDataset(data_root=str(lip), ann_file='list/valList.txt', data_prefix=prefix,
                   skip_invalid=True)
    with pytest.raises(ValueError, match='remove reduce_zero_label'):
        LIPDataset(data_root=str(lip), data_prefix=TRAIN, reduce_zero_label=True)
