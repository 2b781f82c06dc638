"""PascalContextDataset (59 classes) and PascalContextDataset60 on generated files in mmseg's
converted VOCdevkit/VOC2010 layout."""
import cv2
import numpy as np
import pytest

from hrnet_train.datasets import PascalContextDataset, PascalContextDataset60
from hrnet_train.datasets.pascal_context import PASCAL_CONTEXT_59_CLASSES
from hrnet_train.datasets.transforms import LoadImage, LoadSegAnnotation
from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import DataError

# label PNG values: 0 background, 1 aeroplane, 59 wood, 255 (never written by the converter)
LABELS = {
    '2008_000002': np.array([[0, 1, 2], [59, 255, 0]], np.uint8),
    '2008_000007': np.array([[15, 15, 0], [0, 0, 58]], np.uint8),
    '2008_000009': np.array([[3, 3, 3], [3, 3, 3]], np.uint8),  # val
}
PREFIX = dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext')
TRAIN = 'ImageSets/SegmentationContext/train.txt'


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / 'VOCdevkit' / 'VOC2010'
    for sub in ('JPEGImages', 'SegmentationClassContext', 'ImageSets/SegmentationContext'):
        (root / sub).mkdir(parents=True)
    for stem, lab in LABELS.items():
        cv2.imwrite(str(root / 'JPEGImages' / f'{stem}.jpg'), np.full((2, 3, 3), 90, np.uint8))
        cv2.imwrite(str(root / 'SegmentationClassContext' / f'{stem}.png'), lab)
    # a VOC image without a Context label: only the split file keeps it out
    cv2.imwrite(str(root / 'JPEGImages' / '2007_000027.jpg'), np.zeros((2, 3, 3), np.uint8))
    (root / TRAIN).write_text('2008_000007\n2008_000002\n')
    (root / 'ImageSets/SegmentationContext/val.txt').write_text('2008_000009\n')
    return root


def _labels(ds):
    return [LoadSegAnnotation()(LoadImage()(ds.get_data_info(i)))['gt_seg_map']
            for i in range(len(ds))]


def test_59_classes_ignore_background_and_shift_by_one(voc):
    ds = DATASETS.build(dict(type='PascalContextDataset', data_root=str(voc), data_prefix=PREFIX,
                             ann_file=TRAIN))
    assert isinstance(ds, PascalContextDataset) and ds.num_classes == 59
    assert ds.metainfo['classes'][0] == 'aeroplane' and ds.metainfo['classes'][-1] == 'wood'
    assert len(ds.metainfo['palette']) == 59 and ds.metainfo['palette'][0] == (180, 120, 120)
    # split-file order, the unlabelled VOC image is not a sample
    assert [ds.get_data_info(i)['img_path'].split('/')[-1] for i in range(len(ds))] == [
        '2008_000007.jpg', '2008_000002.jpg']
    first, second = _labels(ds)
    np.testing.assert_array_equal(first, [[14, 14, 255], [255, 255, 57]])
    np.testing.assert_array_equal(second, [[255, 0, 1], [58, 255, 255]])  # 59 wood -> 58


def test_60_classes_keep_background_as_class_0(voc):
    ds = PascalContextDataset60(data_root=str(voc), data_prefix=PREFIX, ann_file=TRAIN)
    assert ds.num_classes == 60 and ds.metainfo['classes'][:2] == ('background', 'aeroplane')
    assert ds.metainfo['palette'][0] == (120, 120, 120)
    assert ds.metainfo['classes'][1:] == PASCAL_CONTEXT_59_CLASSES
    first, second = _labels(ds)
    np.testing.assert_array_equal(first, LABELS['2008_000007'])
    np.testing.assert_array_equal(second, LABELS['2008_000002'])  # 255 stays ignore


def test_label_ids_out_of_range_name_the_file(voc):
    bad = np.array([[60, 0, 0], [0, 0, 0]], np.uint8)
    cv2.imwrite(str(voc / 'SegmentationClassContext' / '2008_000002.png'), bad)
    for cls, value in ((PascalContextDataset, 59), (PascalContextDataset60, 60)):
        ds = cls(data_root=str(voc), data_prefix=PREFIX, ann_file=TRAIN)
        with pytest.raises(DataError, match=rf'2008_000002.png holds values \[{value}\]'):
            _labels(ds)


def test_one_line_errors(voc, tmp_path):
    with pytest.raises(DataError, match='split file .*missing.txt does not exist'):
        PascalContextDataset(data_root=str(voc), data_prefix=PREFIX, ann_file='missing.txt')
    with pytest.raises(ValueError, match='needs ann_file'):
        PascalContextDataset(data_root=str(voc), data_prefix=PREFIX)
    with pytest.raises(DataError, match='label folder .*Nope .*does not exist'):
        PascalContextDataset(data_root=str(voc), ann_file=TRAIN,
                             data_prefix=dict(img_path='JPEGImages', seg_map_path='Nope'))
    with pytest.raises(DataError, match='data_root .*absent does not exist'):
        PascalContextDataset(data_root=str(tmp_path / 'absent'), data_prefix=PREFIX,
                             ann_file=str(voc / TRAIN))
    (voc / 'SegmentationClassContext' / '2008_000007.png').unlink()
    with pytest.raises(DataError, match='label file not found: .*2008_000007.png'):
        PascalContextDataset(data_root=str(voc), data_prefix=PREFIX, ann_file=TRAIN)
    with pytest.raises(ValueError, match='sets reduce_zero_label itself'):
        PascalContextDataset60(data_root=str(voc), data_prefix=PREFIX, ann_file=TRAIN,
                               reduce_zero_label=True)
    with pytest.raises(ValueError, match='fixed classes'):
        PascalContextDataset(data_root=str(voc), data_prefix=PREFIX, ann_file=TRAIN,
                             metainfo=dict(classes=('a', 'b')))
