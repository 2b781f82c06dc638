"""LoadSegAnnotation / read_seg_map on bad label files: one-line DataErrors naming the file."""
import cv2
import numpy as np
import pytest

from hrnet_train.datasets.seg_labels import CITYSCAPES_LABEL_TABLE, build_label_table
from hrnet_train.datasets.transforms import LoadImage, LoadSegAnnotation, read_seg_map
from hrnet_train.utils.errors import DataError


def _write_sample(tmp_path, label: np.ndarray, *, name: str) -> dict:
    img_path = tmp_path / f'{name}.png'
    seg_path = tmp_path / f'{name}_gtFine_labelIds.png'
    cv2.imwrite(str(img_path), np.full(label.shape + (3,), 128, np.uint8))
    cv2.imwrite(str(seg_path), label)
    return dict(img_path=str(img_path), seg_map_path=str(seg_path))


def _load(info: dict, **kwargs) -> np.ndarray:
    return LoadSegAnnotation(**kwargs)(LoadImage()(dict(info)))['gt_seg_map']


def test_raw_ids_the_table_marks_invalid_are_named(tmp_path):
    raw = np.array([[7, 26, 0, 250], [33, 34, 34, 1]], np.uint8)
    info = _write_sample(tmp_path, raw, name='city')
    with pytest.raises(DataError, match=(
            r'^label file .*city_gtFine_labelIds\.png holds raw ids \[34, 250\] \(3 px\) that are '
            r'not valid for its label table \(valid raw ids: 0\.\.33\)$')):
        _load(dict(info, label_map=CITYSCAPES_LABEL_TABLE, num_classes=19))
    # a table with gaps in its valid ids describes them as runs
    table = build_label_table({1: 0, 2: 1}, valid_ids=[0, 1, 2, 7, 26, 33])
    with pytest.raises(DataError, match=r'holds raw ids \[34, 250\] .*valid raw ids: 0\.\.2, 7, '
                                        r'26, 33\)$'):
        _load(dict(info, label_map=table))


def test_invalid_raw_ids_are_checked_before_the_class_range(tmp_path):
    """Raw 200 with the Cityscapes table is a wrong file, not a class id >= num_classes."""
    info = _write_sample(tmp_path, np.array([[7, 200]], np.uint8), name='order')
    with pytest.raises(DataError, match=r'raw ids \[200\]'):
        _load(dict(info, label_map=CITYSCAPES_LABEL_TABLE), num_classes=19)
    # with a user table unlisted ids go to 255 (documented) and the class check still applies
    user = build_label_table({7: 0, 200: 25})
    np.testing.assert_array_equal(_load(dict(info, label_map=user), num_classes=26), [[0, 25]])
    with pytest.raises(DataError, match=(r'^label file .*order_gtFine_labelIds\.png holds values '
                                         r'\[25\] \(1 px\) outside \[0, 19\) and not 255 after '
                                         r'label_map$')):
        _load(dict(info, label_map=user), num_classes=19)


def test_existing_label_checks_raise_data_error(tmp_path):
    info = _write_sample(tmp_path, np.zeros((4, 6), np.uint8), name='size')
    cv2.imwrite(info['img_path'], np.zeros((5, 6, 3), np.uint8))
    with pytest.raises(DataError, match=r'^label file .*size_gtFine_labelIds\.png is 6x4 \(WxH\) '
                                        r'but its image .*size\.png is 6x5$'):
        _load(info)
    rgb = tmp_path / 'rgb_label.png'
    cv2.imwrite(str(rgb), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(DataError, match=r'rgb_label\.png must be single-channel'):
        read_seg_map(str(rgb))


def test_truncated_label_png_names_the_file(tmp_path):
    label = (np.arange(100 * 200) % 34).astype(np.uint8).reshape(100, 200)
    data = cv2.imencode('.png', label)[1].tobytes()
    path = tmp_path / 'cut_gtFine_labelIds.png'
    path.write_bytes(data[:len(data) * 6 // 10])
    with pytest.raises(DataError, match=r'^could not decode label file .*cut_gtFine_labelIds\.png: '
                                        r'image file is truncated') as e:
        read_seg_map(str(path))
    assert '\n' not in str(e.value)
