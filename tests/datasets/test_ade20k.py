"""ADE20KDataset on generated files in the ADEChallengeData2016 layout: 0 -> 255, k -> k - 1."""
import cv2
import numpy as np
import pytest

from hrnet_train.datasets import ADE20KDataset
from hrnet_train.datasets.transforms import LoadImage, LoadSegAnnotation
from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import DataError

PREFIX = dict(img_path='images/validation', seg_map_path='annotations/validation')


@pytest.fixture
def ade(tmp_path):
    root = tmp_path / 'ADEChallengeData2016'
    labels = {
        'training/ADE_train_00000001': np.array([[1, 2], [3, 4]], np.uint8),
        'validation/ADE_val_00000001': np.array([[0, 1], [150, 255]], np.uint8),
        'validation/ADE_val_00000002': np.array([[13, 13], [0, 0]], np.uint8),
    }
    for stem, lab in labels.items():
        for sub, ext, data in (('images', 'jpg', np.zeros((2, 2, 3), np.uint8)),
                               ('annotations', 'png', lab)):
            path = root / sub / f'{stem}.{ext}'
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), data)
    return root


def _label(ds, idx):
    return LoadSegAnnotation()(LoadImage()(ds.get_data_info(idx)))['gt_seg_map']


def test_reduce_zero_label_and_metainfo(ade):
    ds = DATASETS.build(dict(type='ADE20KDataset', data_root=str(ade), data_prefix=PREFIX))
    assert isinstance(ds, ADE20KDataset) and ds.num_classes == 150 and len(ds) == 2
    classes, palette = ds.metainfo['classes'], ds.metainfo['palette']
    assert (classes[0], classes[12], classes[149]) == ('wall', 'person', 'flag')
    assert (palette[0], palette[149]) == ((120, 120, 120), (92, 0, 255))
    assert len(set(classes)) == 150
    np.testing.assert_array_equal(_label(ds, 0), [[255, 0], [149, 255]])
    np.testing.assert_array_equal(_label(ds, 1), [[12, 12], [255, 255]])  # 13 person -> 12


def test_one_line_errors(ade):
    cv2.imwrite(str(ade / 'annotations/validation/ADE_val_00000002.png'),
                np.array([[151, 0], [0, 0]], np.uint8))
    ds = ADE20KDataset(data_root=str(ade), data_prefix=PREFIX)
    with pytest.raises(DataError, match=r'ADE_val_00000002.png holds values \[150\] .*after '
                                        r'reduce_zero_label'):
        _label(ds, 1)
    with pytest.raises(DataError, match='image folder .*images/testing .*does not exist'):
        ADE20KDataset(data_root=str(ade), data_prefix=dict(img_path='images/testing'))
    (ade / 'annotations/validation/ADE_val_00000001.png').unlink()
    with pytest.raises(DataError, match='label file not found: .*ADE_val_00000001.png'):
        ADE20KDataset(data_root=str(ade), data_prefix=PREFIX)
    with pytest.raises(ValueError, match='sets reduce_zero_label itself'):
        ADE20KDataset(data_root=str(ade), data_prefix=PREFIX, reduce_zero_label=False)
