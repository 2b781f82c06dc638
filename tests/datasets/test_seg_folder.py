"""SegFolderDataset on generated custom data."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from hrnet_train.datasets import SegFolderDataset
from hrnet_train.datasets.transforms import LoadImage, LoadSegAnnotation
from hrnet_train.utils.errors import DataError

CLASSES = ('background', 'crack', 'rust')


@pytest.fixture
def folder(tmp_path):
    """img_dir/{train,val} + ann_dir/{train,val}, one nested sub-folder, a split file."""
    labels = {
        'train/a': np.array([[0, 1], [2, 255]], np.uint8),
        'train/b': np.array([[1, 1], [1, 1]], np.uint8),
        'train/sub/c': np.array([[2, 0], [0, 0]], np.uint8),
        'val/d': np.array([[0, 2], [1, 0]], np.uint8),
    }
    for stem, lab in labels.items():
        img = tmp_path / 'img_dir' / f'{stem}.jpg'
        ann = tmp_path / 'ann_dir' / f'{stem}.png'
        img.parent.mkdir(parents=True, exist_ok=True)
        ann.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(img), np.zeros((2, 2, 3), np.uint8))
        cv2.imwrite(str(ann), lab)
    (tmp_path / 'splits').mkdir()
    (tmp_path / 'splits' / 'train.txt').write_text('sub/c\na\n')
    return tmp_path


def _train(folder: Path, metainfo: dict = None, **kwargs) -> SegFolderDataset:
    return SegFolderDataset(
        data_root=str(folder),
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        metainfo=metainfo or dict(classes=CLASSES), **kwargs)


def _load(info: dict) -> np.ndarray:
    return LoadSegAnnotation()(LoadImage()(dict(info)))['gt_seg_map']


def test_walks_the_image_folder_recursively_and_sorted(folder):
    ds = _train(folder)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    rel = [Path(i['img_path']).relative_to(folder / 'img_dir/train').as_posix() for i in infos]
    assert rel == ['a.jpg', 'b.jpg', 'sub/c.jpg']
    assert infos[2]['seg_map_path'] == str(folder / 'ann_dir/train/sub/c.png')
    assert all(i['label_map'] is None and i['reduce_zero_label'] is False for i in infos)
    assert all(i['num_classes'] == 3 for i in infos)
    np.testing.assert_array_equal(_load(infos[0]), [[0, 1], [2, 255]])
    # palette generated, one RGB triplet per class, the same every time
    assert len(ds.metainfo['palette']) == 3
    assert ds.metainfo['palette'] == _train(folder).metainfo['palette']


def test_split_file_keeps_its_order(folder):
    ds = _train(folder, ann_file='splits/train.txt')
    names = [Path(ds.get_data_info(i)['img_path']).name for i in range(len(ds))]
    assert names == ['c.jpg', 'a.jpg']


def test_reduce_zero_label_and_label_map(folder):
    info = _train(folder, reduce_zero_label=True).get_data_info(0)
    # 0 -> 255, k -> k - 1, 255 stays
    np.testing.assert_array_equal(_load(info), [[255, 0], [1, 255]])

    # label_map on raw ids: 2 -> 1, 1 -> 0, everything unlisted (0) -> 255
    info = _train(folder, label_map={1: 0, 2: 1}).get_data_info(0)
    assert info['label_map'].shape == (256,)
    np.testing.assert_array_equal(_load(info), [[255, 0], [1, 255]])


def test_palette_label_png_keeps_indices(tmp_path):
    (tmp_path / 'img').mkdir()
    (tmp_path / 'ann').mkdir()
    cv2.imwrite(str(tmp_path / 'img' / 'x.png'), np.zeros((2, 3, 3), np.uint8))
    lab = Image.fromarray(np.array([[0, 1, 2], [2, 1, 0]], np.uint8), mode='P')
    lab.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    lab.save(tmp_path / 'ann' / 'x.png')
    ds = SegFolderDataset(
        data_root=str(tmp_path), data_prefix=dict(img_path='img', seg_map_path='ann'),
        img_suffix='.png', metainfo=dict(classes=CLASSES, palette=[[0, 0, 0]] * 3))
    np.testing.assert_array_equal(_load(ds.get_data_info(0)), [[0, 1, 2], [2, 1, 0]])


def test_unlabelled_when_no_seg_map_prefix(folder):
    ds = SegFolderDataset(data_root=str(folder), data_prefix=dict(img_path='img_dir/val'),
                          metainfo=dict(classes=CLASSES))
    assert len(ds) == 1 and 'seg_map_path' not in ds.get_data_info(0)


def test_errors(folder):
    with pytest.raises(ValueError, match='classes'):
        SegFolderDataset(data_root=str(folder), data_prefix=dict(img_path='img_dir/train'))
    with pytest.raises(ValueError, match='palette'):
        _train(folder, metainfo=dict(classes=CLASSES, palette=[[0, 0, 0]]))
    (folder / 'ann_dir/train/b.png').unlink()
    with pytest.raises(DataError, match=r'^label file not found: .*ann_dir/train/b\.png \(for '
                                        r'image .*img_dir/train/b\.jpg\)$'):
        _train(folder)
    (folder / 'splits' / 'bad.txt').write_text('a\nmissing\n')
    with pytest.raises(DataError, match=r'^image file not found: .*missing\.jpg \(listed in '
                                        r'.*bad\.txt\)$'):
        _train(folder, ann_file='splits/bad.txt')


class _Log:
    """Records the lines a module passes to mmengine's print_log."""

    def __init__(self, monkeypatch, module):
        self.lines = []
        monkeypatch.setattr(module, 'print_log', lambda msg, **kw: self.lines.append(msg))


def test_missing_folders_and_an_empty_walk_name_folder_and_suffix(folder):
    with pytest.raises(DataError, match=r'^data_root .*nowhere does not exist'):
        _train(folder / 'nowhere')
    with pytest.raises(DataError, match=r'^image folder .*img_dir/test \(data_prefix img_path\) '
                                        r'does not exist$'):
        SegFolderDataset(data_root=str(folder), data_prefix=dict(img_path='img_dir/test'),
                         metainfo=dict(classes=CLASSES))
    with pytest.raises(DataError, match=r'^label folder .*ann_dir/test \(data_prefix '
                                        r'seg_map_path\) does not exist$'):
        SegFolderDataset(data_root=str(folder),
                         data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/test'),
                         metainfo=dict(classes=CLASSES))
    # the images are .jpg: a walk for .png finds none and says what it found instead
    with pytest.raises(DataError, match=r'^no image ending in "\.png" below .*img_dir/train; its '
                                        r'3 other files mostly end in "\.jpg": check img_suffix$'):
        _train(folder, img_suffix='.png')
    (folder / 'empty').mkdir()
    with pytest.raises(DataError, match=r'^no image ending in "\.jpg" below .*empty; it is empty'):
        SegFolderDataset(data_root=str(folder), data_prefix=dict(img_path='empty'),
                         metainfo=dict(classes=CLASSES))
    (folder / 'splits' / 'none.txt').write_text('\n')
    with pytest.raises(DataError, match=r'none\.txt: no sample listed'):
        _train(folder, ann_file='splits/none.txt')


def test_skip_invalid_drops_samples_without_a_label_file(folder, monkeypatch):
    import hrnet_train.datasets.seg_folder as module
    (folder / 'ann_dir/train/b.png').unlink()
    (folder / 'ann_dir/train/sub/c.png').unlink()
    with pytest.raises(DataError, match=r'label file not found: .*train/b\.png'):
        _train(folder)  # skip_invalid=False: the first one raises
    log = _Log(monkeypatch, module)
    ds = _train(folder, skip_invalid=True)
    assert [Path(ds.get_data_info(i)['img_path']).name for i in range(len(ds))] == ['a.jpg']
    assert len(log.lines) == 1
    line = log.lines[0]
    assert line.startswith(f'{folder / "img_dir/train"}: skip_invalid dropped 2 of 3 samples: '
                           'label file not found: ')
    assert 'ann_dir/train/b.png' in line and 'ann_dir/train/sub/c.png' in line
    # a split file listing a missing image: dropped the same way
    (folder / 'splits' / 'bad.txt').write_text('a\nmissing\n')
    log.lines.clear()
    ds = _train(folder, ann_file='splits/bad.txt', skip_invalid=True)
    assert len(ds) == 1 and 'dropped 1 of 2 samples: image file not found' in log.lines[0]
    # dropping every sample leaves nothing to train on
    (folder / 'ann_dir/train/a.png').unlink()
    with pytest.raises(DataError, match=r'no sample left \(all 3 dropped by skip_invalid\)'):
        _train(folder, skip_invalid=True)
