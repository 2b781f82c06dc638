"""ImageFolderDataset: folder and list layouts, and the checks on bad input."""
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

import hrnet_train.datasets.image_folder as module
import hrnet_train.datasets.transforms.cls  # noqa: F401  (registers the cls transforms)
from hrnet_train.datasets.image_folder import ImageFolderDataset
from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = [dict(type='LoadImage'), dict(type='CenterCrop', crop_size=4),
            dict(type='PackClsInputs')]


class _Log:
    """Records the (level, line) pairs the module passes to mmengine's print_log."""

    def __init__(self, monkeypatch):
        self.lines = []
        monkeypatch.setattr(module, 'print_log',
                            lambda msg, **kw: self.lines.append((kw.get('level'), msg)))

    def at(self, level):
        return [line for lv, line in self.lines if lv == level]


def _image(path: Path, value: int = 0, size=(6, 5)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))


@pytest.fixture
def folder(tmp_path):
    """train/{cat,dog,emu}/..., nested and mixed-case files, a hidden folder, a stray file."""
    _image(tmp_path / 'train/dog/b.png', 20)
    _image(tmp_path / 'train/dog/a.JPEG', 10)
    _image(tmp_path / 'train/dog/sub/c.jpg', 30)
    _image(tmp_path / 'train/cat/x.jpeg', 40)
    _image(tmp_path / 'train/emu/e.bmp', 50)
    (tmp_path / 'train/emu/notes.txt').write_text('not an image')
    _image(tmp_path / 'train/.ipynb_checkpoints/y.png')  # not a class
    _image(tmp_path / 'train/stray.png')  # not in a class folder: not a sample
    return tmp_path


def _rel(ds, root: Path) -> list[tuple[str, int]]:
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    return [(Path(i['img_path']).relative_to(root).as_posix(), i['gt_label']) for i in infos]


def test_folder_layout_sorted_classes_recursive_case_insensitive(folder):
    ds = DATASETS.build(dict(type='ImageFolderDataset', data_root=str(folder),
                             data_prefix=dict(img='train')))
    assert isinstance(ds, ImageFolderDataset)
    assert ds.metainfo['classes'] == ('cat', 'dog', 'emu')
    assert ds.num_classes == 3
    assert _rel(ds, folder / 'train') == [
        ('cat/x.jpeg', 0), ('dog/a.JPEG', 1), ('dog/b.png', 1), ('dog/sub/c.jpg', 1),
        ('emu/e.bmp', 2)]
    assert ds.get_cat_ids(4) == [2]


def test_metainfo_classes_set_order_and_subset(folder, monkeypatch):
    log = _Log(monkeypatch)
    ds = ImageFolderDataset(str(folder), dict(img='train'),
                            metainfo=dict(classes=('emu', 'cat')))
    assert log.at(logging.INFO) == [
        f"{folder / 'train'}: 1 sub-folders are not in metainfo classes and are left out: "
        "['dog']"]
    assert ds.metainfo['classes'] == ('emu', 'cat')
    assert _rel(ds, folder / 'train') == [('emu/e.bmp', 0), ('cat/x.jpeg', 1)]
    with pytest.raises(DataError, match=r"has no folder for the metainfo classes \['yak'\]"):
        ImageFolderDataset(str(folder), dict(img='train'),
                           metainfo=dict(classes=('cat', 'yak')))
    with pytest.raises(ConfigError, match='distinct'):
        ImageFolderDataset(str(folder), dict(img='train'), metainfo=dict(classes=('cat', 'cat')))


def test_classes_from_a_file_relative_to_data_root(folder):
    (folder / 'classes.txt').write_text('dog\n\ncat\n')
    ds = ImageFolderDataset(str(folder), dict(img='train'),
                            metainfo=dict(classes='classes.txt'))
    assert ds.metainfo['classes'] == ('dog', 'cat')
    assert [lab for _, lab in _rel(ds, folder / 'train')] == [0, 0, 0, 1]


def test_pipeline_packs_label_and_meta(folder):
    ds = ImageFolderDataset(str(folder), dict(img='train'), pipeline=PIPELINE)
    out = ds[3]  # dog/sub/c.jpg, 6 x 5 -> centre 4 x 4
    assert tuple(out['inputs'].shape) == (3, 4, 4)
    sample = out['data_samples']
    assert sample.gt_label.tolist() == [1]
    assert sample.img_path.endswith('c.jpg')
    assert sample.ori_shape == (5, 6) and sample.img_shape == (4, 4)


def test_missing_root_and_folders(tmp_path, folder):
    with pytest.raises(DataError, match=f'data_root {tmp_path / "nope"} does not exist'):
        ImageFolderDataset(str(tmp_path / 'nope'), dict(img='train'))
    with pytest.raises(DataError, match=r'image folder .*val \(data_prefix img\) does not exist'):
        ImageFolderDataset(str(folder), dict(img='val'))
    (folder / 'flat').mkdir()
    _image(folder / 'flat/a.png')
    with pytest.raises(DataError, match='has no class sub-folders'):
        ImageFolderDataset(str(folder), dict(img='flat'))
    with pytest.raises(ConfigError, match='data_prefix'):
        ImageFolderDataset(str(folder), dict(img_path='train'))


def test_empty_class_folder_names_it_and_skip_invalid_keeps_its_index(folder, monkeypatch):
    (folder / 'train/dog').rename(folder / 'dogs_tmp')
    (folder / 'train/dog').mkdir()
    (folder / 'train/dog/readme.gif').write_text('x')
    msg = (r'class folder .*train/dog holds no image ending in .jpg, .jpeg, .png, .bmp; its 1 '
           r'other files mostly end in "\.gif": check extensions')
    with pytest.raises(DataError, match=msg):
        ImageFolderDataset(str(folder), dict(img='train'))
    log = _Log(monkeypatch)
    ds = ImageFolderDataset(str(folder), dict(img='train'), skip_invalid=True)
    (line,) = log.at(logging.WARNING)
    assert line.startswith(f'{folder / "train"}: skip_invalid dropped 1 class folders: class '
                           f'folder {folder / "train/dog"} holds no image')
    assert ds.metainfo['classes'] == ('cat', 'dog', 'emu')  # labels stay stable
    assert [lab for _, lab in _rel(ds, folder / 'train')] == [0, 2]
    # only .gif accepted: every folder empty -> the dataset is empty
    with pytest.raises(DataError, match=r'no sample \(all dropped by skip_invalid\)'):
        ImageFolderDataset(str(folder), dict(img='train'), extensions=('.gif2',),
                           skip_invalid=True)


def _list(folder: Path, text: str) -> str:
    (folder / 'val.txt').write_text(text)
    return 'val.txt'


def test_list_layout(folder):
    (folder / 'val').mkdir()
    _image(folder / 'val/v 1.JPEG', 60)  # a space in the name: the label is the last field
    _image(folder / 'val/v2.png', 70)
    ann = _list(folder, 'v 1.JPEG 2\n\nv2.png 0\n')
    ds = ImageFolderDataset(str(folder), dict(img='val'), ann,
                            metainfo=dict(classes=('cat', 'dog', 'emu')), pipeline=PIPELINE)
    assert _rel(ds, folder / 'val') == [('v 1.JPEG', 2), ('v2.png', 0)]
    assert ds[0]['data_samples'].gt_label.tolist() == [2]
    with pytest.raises(ConfigError, match='needs metainfo=dict'):
        ImageFolderDataset(str(folder), dict(img='val'), ann)
    with pytest.raises(FileNotFoundError, match='list file'):
        ImageFolderDataset(str(folder), dict(img='val'), 'missing.txt',
                           metainfo=dict(classes=('a',)))


@pytest.mark.parametrize('line, problem', [
    ('v2.png', r'expected "<relative/path> <label>"'),
    ('v2.png two', r"label 'two' is not an integer"),
    ('v2.png 3', r'label 3 is outside \[0, 3\) \(3 classes\)'),
    ('v2.png -1', r'label -1 is outside'),
    ('gone.png 1', r'image file not found: .*val/gone.png'),
])
def test_bad_list_line_names_file_and_line(folder, line, problem, monkeypatch):
    (folder / 'val').mkdir()
    _image(folder / 'val/v2.png')
    ann = _list(folder, f'v2.png 0\n{line}\nv2.png 1\n')
    meta = dict(classes=('cat', 'dog', 'emu'))
    with pytest.raises(DataError, match=r'val.txt:2: ' + problem):
        ImageFolderDataset(str(folder), dict(img='val'), ann, metainfo=meta)
    log = _Log(monkeypatch)
    ds = ImageFolderDataset(str(folder), dict(img='val'), ann, metainfo=meta, skip_invalid=True)
    assert [lab for _, lab in _rel(ds, folder / 'val')] == [0, 1]
    (warning,) = log.at(logging.WARNING)
    assert warning.startswith(f'{folder / "val.txt"}: skip_invalid dropped 1 lines: '
                              f'{folder / "val.txt"}:2: ')


def test_empty_list_file(folder):
    (folder / 'val').mkdir()
    ann = _list(folder, '\n\n')
    with pytest.raises(DataError, match=r'val.txt: no sample$'):
        ImageFolderDataset(str(folder), dict(img='val'), ann, metainfo=dict(classes=('a',)))


@pytest.mark.parametrize('test_mode', [False, True])
def test_undecodable_image_fails_at_load_naming_the_file(folder, test_mode):
    bad = folder / 'train/cat/broken.png'
    bad.write_bytes(b'\x89PNG\r\n\x1a\n' + b'\x00' * 40)  # signature, no IEND
    ds = ImageFolderDataset(str(folder), dict(img='train'), pipeline=PIPELINE,
                            test_mode=test_mode)
    assert Path(ds.get_data_info(0)['img_path']).name == 'broken.png'
    with pytest.raises(DataError, match=f'image file {bad} is truncated or corrupt') as info:
        ds[0]
    assert '\n' not in str(info.value)
    (folder / 'train/cat/junk.jpg').write_bytes(b'not an image at all')
    ds = ImageFolderDataset(str(folder), dict(img='train'), pipeline=PIPELINE,
                            test_mode=test_mode)
    with pytest.raises(DataError, match='could not decode image file .*junk.jpg'):
        ds[1]


def test_bundled_cls_tiny():
    root = ROOT / 'data/cls_tiny'
    train = ImageFolderDataset(str(root), dict(img='train'), pipeline=[
        dict(type='LoadImage'), dict(type='RandomResizedCrop', size=32),
        dict(type='RandomFlip', prob=0.5), dict(type='PackClsInputs')])
    val = ImageFolderDataset(str(root), dict(img='val'), test_mode=True)
    assert train.metainfo['classes'] == val.metainfo['classes'] == ('building', 'person', 'road')
    assert np.bincount([train.get_cat_ids(i)[0] for i in range(len(train))]).tolist() == \
        [24, 27, 20]
    assert np.bincount([val.get_cat_ids(i)[0] for i in range(len(val))]).tolist() == [7, 9, 6]
    np.random.seed(0)
    out = train[30]
    assert tuple(out['inputs'].shape) == (3, 32, 32)
    assert out['data_samples'].gt_label.tolist() == [1]
