"""CityscapesDataset on the bundled real frame and on a generated two-city tree."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope

from hrnet_train.datasets import CLASS_WEIGHTS, CityscapesDataset
from hrnet_train.datasets.seg_labels import (
    CITYSCAPES_ID_TO_TRAIN_ID,
    CITYSCAPES_LABEL_TABLE,
    build_label_table,
    convert_label_ids,
)
from hrnet_train.datasets.transforms import LoadImage, LoadSegAnnotation, read_seg_map
from hrnet_train.utils.errors import DataError

ROOT = Path(__file__).resolve().parents[2] / 'data' / 'cityscapes_tiny'
NAME = 'frankfurt_000000_000294'
GT = ROOT / 'gtFine' / 'val' / 'frankfurt'
PREFIX = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')
TRAIN_PREFIX = dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')


def _load(info: dict) -> dict:
    return LoadSegAnnotation()(LoadImage()(dict(info)))


def test_label_table_is_the_official_34_to_19_mapping():
    table = CITYSCAPES_LABEL_TABLE
    assert table.shape == (256,) and table.dtype == np.int16
    assert [int(table[i]) for i in (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                                    31, 32, 33)] == list(range(19))
    ignored = [0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30]
    assert [i for i in range(256) if table[i] == 255] == ignored
    # cityscapesScripts writes labelIds 0..33 only: 34..255 are not valid raw ids (-1)
    assert (table[34:] == -1).all() and (table[:34] >= 0).all()
    assert int(((table >= 0) & (table != 255)).sum()) == 19
    assert len(CITYSCAPES_ID_TO_TRAIN_ID) == 19
    with pytest.raises(ValueError, match='label_map'):
        convert_label_ids(np.zeros((2, 2), np.uint8), np.zeros(255, np.uint8))
    with pytest.raises(ValueError, match='300'):
        build_label_table({300: 1})


def test_label_ids_conversion_agrees_with_bundled_train_ids():
    label_ids = read_seg_map(str(GT / f'{NAME}_gtFine_labelIds.png'))
    train_ids = read_seg_map(str(GT / f'{NAME}_gtFine_labelTrainIds.png'))
    assert label_ids.shape == train_ids.shape == (128, 256)
    # data/README.md: 10 classes, 28899 valid and 3869 ignored pixels in labelTrainIds.
    assert int((train_ids != 255).sum()) == 28899 and int((train_ids == 255).sum()) == 3869
    assert len(np.unique(train_ids[train_ids != 255])) == 10

    converted = convert_label_ids(label_ids, CITYSCAPES_LABEL_TABLE)
    differ = converted != train_ids
    # The two files were downscaled separately upstream: 77 px differ (0.24 %) ...
    assert int(differ.sum()) == 77
    # ... and every one of them lies on a class boundary of the train-id map (3x3 window).
    kernel = np.ones((3, 3), np.uint8)
    boundary = cv2.dilate(train_ids, kernel) != cv2.erode(train_ids, kernel)
    assert not np.any(differ & ~boundary)
    assert set(np.unique(converted)) <= set(range(19)) | {255}


def test_class_weights_and_metainfo():
    assert len(CLASS_WEIGHTS) == 19
    assert CLASS_WEIGHTS[0] == 0.8373 and CLASS_WEIGHTS[17] == 1.1529
    meta = CityscapesDataset.METAINFO
    assert len(meta['classes']) == len(meta['palette']) == 19
    assert meta['classes'][0] == 'road' and meta['classes'][18] == 'bicycle'
    assert tuple(meta['palette'][13]) == (0, 0, 142)  # car


def test_discovers_the_bundled_frame_in_the_real_layout():
    ds = CityscapesDataset(data_root=str(ROOT), data_prefix=PREFIX)
    assert len(ds) == 1
    info = ds.get_data_info(0)
    assert info['img_path'].endswith(f'leftImg8bit/val/frankfurt/{NAME}_leftImg8bit.png')
    assert info['seg_map_path'].endswith(f'gtFine/val/frankfurt/{NAME}_gtFine_labelTrainIds.png')
    assert info['label_map'] is None and info['num_classes'] == 19
    assert ds.metainfo['classes'][10] == 'sky'
    out = _load(info)
    assert out['gt_seg_map'].shape == (128, 256) and out['img'].shape == (128, 256, 3)
    assert int((out['gt_seg_map'] != 255).sum()) == 28899


def test_list_file_format(tmp_path):
    list_file = tmp_path / 'val.lst'
    list_file.write_text(
        f'leftImg8bit/val/frankfurt/{NAME}_leftImg8bit.png\t'
        f'gtFine/val/frankfurt/{NAME}_gtFine_labelIds.png\n'
        f'leftImg8bit/val/frankfurt/{NAME}_leftImg8bit.png\t'
        f'gtFine/val/frankfurt/{NAME}_gtFine_labelTrainIds.png\n'
        f'leftImg8bit/val/frankfurt/{NAME}_leftImg8bit.png\n\n')
    ds = CityscapesDataset(data_root=str(ROOT), ann_file=str(list_file))
    assert len(ds) == 3
    from_ids, from_train_ids, image_only = (ds.get_data_info(i) for i in range(3))
    assert from_ids['label_map'].tolist() == CITYSCAPES_LABEL_TABLE.tolist()
    assert from_train_ids['label_map'] is None
    assert 'seg_map_path' not in image_only
    a = _load(from_ids)['gt_seg_map']
    b = _load(from_train_ids)['gt_seg_map']
    assert int((a != b).sum()) == 77

    bad = tmp_path / 'bad.lst'
    bad.write_text(f'leftImg8bit/val/frankfurt/{NAME}_leftImg8bit.png\tgtFine/val/nowhere.png\n')
    with pytest.raises(DataError, match=r'^label file not found: .*gtFine/val/nowhere\.png '
                                        r'\(listed in .*bad\.lst:1\)$'):
        CityscapesDataset(data_root=str(ROOT), ann_file=str(bad))


def _write_frame(root: Path, split: str, city: str, frame: str, label_ids: np.ndarray,
                 *, train_ids: bool) -> None:
    img_dir = root / 'leftImg8bit' / split / city
    gt_dir = root / 'gtFine' / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    h, w = label_ids.shape
    cv2.imwrite(str(img_dir / f'{city}_{frame}_leftImg8bit.png'), np.full((h, w, 3), 90, np.uint8))
    cv2.imwrite(str(gt_dir / f'{city}_{frame}_gtFine_labelIds.png'), label_ids)
    if train_ids:
        cv2.imwrite(str(gt_dir / f'{city}_{frame}_gtFine_labelTrainIds.png'),
                    convert_label_ids(label_ids, CITYSCAPES_LABEL_TABLE))


@pytest.fixture
def two_city_root(tmp_path):
    # road, sidewalk, car, (unlabelled) / bicycle, sky, (ground), person
    ids = np.array([[7, 8, 26, 0], [33, 23, 4, 24]], np.uint8)
    _write_frame(tmp_path, 'train', 'zurich', '000001_000019', ids, train_ids=True)
    _write_frame(tmp_path, 'train', 'aachen', '000000_000019', ids, train_ids=False)
    _write_frame(tmp_path, 'train', 'aachen', '000002_000019', ids[::-1].copy(), train_ids=True)
    return tmp_path


def test_generated_two_city_layout(two_city_root):
    ds = CityscapesDataset(data_root=str(two_city_root), data_prefix=TRAIN_PREFIX)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [Path(i['img_path']).name for i in infos] == [
        'aachen_000000_000019_leftImg8bit.png', 'aachen_000002_000019_leftImg8bit.png',
        'zurich_000001_000019_leftImg8bit.png']
    # the first aachen frame has no labelTrainIds file: labelIds + the 34 -> 19 table
    assert infos[0]['seg_map_path'].endswith('aachen_000000_000019_gtFine_labelIds.png')
    assert infos[0]['label_map'].tolist() == CITYSCAPES_LABEL_TABLE.tolist()
    assert infos[2]['seg_map_path'].endswith('_gtFine_labelTrainIds.png')
    assert infos[2]['label_map'] is None
    expected = np.array([[0, 1, 13, 255], [18, 10, 255, 11]], np.uint8)
    np.testing.assert_array_equal(_load(infos[0])['gt_seg_map'], expected)
    np.testing.assert_array_equal(_load(infos[1])['gt_seg_map'], expected[::-1])
    np.testing.assert_array_equal(_load(infos[2])['gt_seg_map'], expected)

    # the pipeline runs through the dataset too, built from config dicts as the runner does
    with DefaultScope.overwrite_default_scope('hrnet_train'):
        ds = CityscapesDataset(
            data_root=str(two_city_root), data_prefix=TRAIN_PREFIX,
            pipeline=[dict(type='LoadImage'), dict(type='LoadSegAnnotation'),
                      dict(type='PackSegInputs')])
    packed = ds[0]
    assert packed['inputs'].shape == (3, 2, 4)
    assert packed['data_samples'].gt_seg_map.tolist() == [expected.tolist()]


def test_missing_label_file_names_it(two_city_root):
    (two_city_root / 'gtFine/train/zurich/zurich_000001_000019_gtFine_labelIds.png').unlink()
    (two_city_root / 'gtFine/train/zurich/zurich_000001_000019_gtFine_labelTrainIds.png').unlink()
    with pytest.raises(DataError, match=(
            r'^label file not found for image .*zurich_000001_000019_leftImg8bit\.png: looked for '
            r'.*zurich_000001_000019_gtFine_labelTrainIds\.png and '
            r'.*zurich_000001_000019_gtFine_labelIds\.png$')):
        CityscapesDataset(data_root=str(two_city_root), data_prefix=TRAIN_PREFIX)


def test_rejects_other_classes_and_label_map():
    with pytest.raises(ValueError, match='SegFolderDataset'):
        CityscapesDataset(data_root=str(ROOT), data_prefix=PREFIX,
                          metainfo=dict(classes=('road', 'car')))
    with pytest.raises(ValueError, match='label_map'):
        CityscapesDataset(data_root=str(ROOT), data_prefix=PREFIX, label_map={7: 0})


def test_converter_tool_writes_train_ids(two_city_root):
    repo = Path(__file__).resolve().parents[2]
    src = two_city_root / 'gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png'
    dst = two_city_root / 'gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png'
    assert not dst.exists()
    out = subprocess.run(
        [sys.executable, 'tools/dataset_converters/cityscapes.py', str(two_city_root)],
        cwd=repo, capture_output=True, text=True, check=True)
    assert '1 labelTrainIds files written, 2 kept' in out.stdout
    np.testing.assert_array_equal(
        read_seg_map(str(dst)), convert_label_ids(read_seg_map(str(src)), CITYSCAPES_LABEL_TABLE))
    np.testing.assert_array_equal(read_seg_map(str(dst)), [[0, 1, 13, 255], [18, 10, 255, 11]])


def test_train_and_test_pipelines_on_the_real_frame():
    train_pipeline = [
        dict(type='LoadImage'),
        dict(type='LoadSegAnnotation'),
        dict(type='RandomResize', scale=(512, 256), ratio_range=(0.5, 2.0)),
        dict(type='RandomCrop', crop_size=(128, 64), cat_max_ratio=0.75),  # (w, h)
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ]
    test_pipeline = [
        dict(type='LoadImage'),
        dict(type='Resize', scale=(512, 256), keep_ratio=True),
        dict(type='LoadSegAnnotation'),  # after Resize: the label keeps the original size
        dict(type='PackSegInputs'),
    ]
    with DefaultScope.overwrite_default_scope('hrnet_train'):
        train = CityscapesDataset(data_root=str(ROOT), data_prefix=PREFIX, pipeline=train_pipeline)
        test = CityscapesDataset(data_root=str(ROOT), data_prefix=PREFIX, pipeline=test_pipeline,
                                 test_mode=True)
    valid = set(range(19)) | {255}
    np.random.seed(0)
    for _ in range(5):
        out = train[0]
        assert out['inputs'].shape == (3, 64, 128)
        gt = out['data_samples'].gt_seg_map
        assert gt.shape == (1, 64, 128) and set(gt.unique().tolist()) <= valid
        assert out['data_samples'].flip in (True, False)
    out = test[0]
    assert out['inputs'].shape == (3, 256, 512)
    assert out['data_samples'].gt_seg_map.shape == (1, 128, 256)
    assert out['data_samples'].ori_shape == (128, 256)
    assert out['data_samples'].scale_factor == (2.0, 2.0)


def test_label_ids_outside_0_to_33_are_an_error(two_city_root):
    """A labelIds file with ids 34..255 is not a Cityscapes file: today they silently become 255."""
    gt = two_city_root / 'gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png'
    cv2.imwrite(str(gt), np.array([[7, 8, 34, 0], [33, 200, 4, 34]], np.uint8))
    ds = CityscapesDataset(data_root=str(two_city_root), data_prefix=TRAIN_PREFIX)
    assert ds.get_data_info(0)['seg_map_path'] == str(gt)
    with pytest.raises(DataError, match=(
            r'^label file .*aachen_000000_000019_gtFine_labelIds\.png holds raw ids \[34, 200\] '
            r'\(3 px\) that are not valid for its label table \(valid raw ids: 0\.\.33\)$')):
        _load(ds.get_data_info(0))
    # every id 0..33 is accepted, and those outside the 19 classes become 255
    ids = np.arange(34, dtype=np.uint8).reshape(2, 17)
    cv2.imwrite(str(gt), ids)
    cv2.imwrite(ds.get_data_info(0)['img_path'], np.zeros((2, 17, 3), np.uint8))
    out = _load(ds.get_data_info(0))['gt_seg_map']
    expected = [CITYSCAPES_ID_TO_TRAIN_ID.get(i, 255) for i in range(34)]
    assert out.ravel().tolist() == expected
    # the table is the same concept for the converter: it refuses such a file too
    with pytest.raises(DataError, match=r'holds raw ids \[40\] \(1 px\)'):
        convert_label_ids(np.array([[7, 40]], np.uint8), CITYSCAPES_LABEL_TABLE)


def test_a_user_label_map_still_sends_unlisted_raw_ids_to_255():
    table = build_label_table({1: 0, 2: 1, 200: 2})
    assert table.dtype == np.int16 and (table >= 0).all()
    raw = np.array([[0, 1, 2], [200, 201, 255]], np.uint8)
    np.testing.assert_array_equal(convert_label_ids(raw, table), [[255, 0, 1], [2, 255, 255]])
    # valid_ids marks the rest invalid; a mapping onto an invalid id is a config mistake
    strict = build_label_table({1: 0}, valid_ids=range(3))
    assert strict[:4].tolist() == [255, 0, 255, -1]
    with pytest.raises(ValueError, match='raw id 5, which is not in valid_ids'):
        build_label_table({5: 0}, valid_ids=range(3))


def test_skip_invalid_drops_frames_without_labels(two_city_root, tmp_path, monkeypatch):
    import hrnet_train.datasets.seg_folder as module
    lines = []
    monkeypatch.setattr(module, 'print_log', lambda msg, **kw: lines.append(msg))
    for suffix in ('labelIds', 'labelTrainIds'):
        (two_city_root / f'gtFine/train/zurich/zurich_000001_000019_gtFine_{suffix}.png').unlink()
    ds = CityscapesDataset(data_root=str(two_city_root), data_prefix=TRAIN_PREFIX,
                           skip_invalid=True)
    assert [Path(ds.get_data_info(i)['img_path']).name[:20] for i in range(len(ds))] == [
        'aachen_000000_000019', 'aachen_000002_000019']
    assert len(lines) == 1 and 'skip_invalid dropped 1 of 3 samples: label file not found for ' \
        'image' in lines[0] and 'zurich_000001_000019_gtFine_labelIds.png' in lines[0]
    # list files: the same
    list_file = tmp_path / 'train.lst'
    list_file.write_text(
        'leftImg8bit/train/zurich/zurich_000001_000019_leftImg8bit.png\t'
        'gtFine/train/zurich/zurich_000001_000019_gtFine_labelIds.png\n'
        'leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png\t'
        'gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png\n')
    with pytest.raises(DataError, match=r'train\.lst:1\)$'):
        CityscapesDataset(data_root=str(two_city_root), ann_file=str(list_file))
    lines.clear()
    ds = CityscapesDataset(data_root=str(two_city_root), ann_file=str(list_file),
                           skip_invalid=True)
    assert len(ds) == 1 and ds.get_data_info(0)['seg_map_path'].endswith(
        'aachen_000000_000019_gtFine_labelIds.png')
    assert len(lines) == 1 and lines[0].startswith(f'{list_file}: skip_invalid dropped 1 of 2')


def test_missing_cityscapes_root_or_split_folder(two_city_root):
    with pytest.raises(DataError, match=r'^data_root .*no_such_root does not exist'):
        CityscapesDataset(data_root=str(two_city_root / 'no_such_root'), data_prefix=TRAIN_PREFIX)
    with pytest.raises(DataError, match=r'^image folder .*leftImg8bit/val \(data_prefix '
                                        r'img_path\) does not exist$'):
        CityscapesDataset(data_root=str(two_city_root), data_prefix=PREFIX)
    # images saved as .jpg: the walk for the official ending finds none
    with pytest.raises(DataError, match=r'^no image ending in "_leftImg8bit\.jpg" below '
                                        r'.*leftImg8bit/train; its 3 other files mostly end in '
                                        r'"\.png": check img_suffix$'):
        CityscapesDataset(data_root=str(two_city_root), data_prefix=TRAIN_PREFIX,
                          img_suffix='_leftImg8bit.jpg')
