"""tools/dataset_converters/pascal_context.py: trainval_merged.json (PASCAL in Detail format) ->
SegmentationClassContext PNGs + split files, read back by PascalContextDataset{,60}."""
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from hrnet_train.datasets import PascalContextDataset, PascalContextDataset60
from hrnet_train.datasets.transforms import LoadImage, LoadSegAnnotation
from hrnet_train.engine.launch import run_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def tool():
    name = '_tool_pascal_context'
    spec = importlib.util.spec_from_file_location(
        name, ROOT / 'tools' / 'dataset_converters' / 'pascal_context.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=rle['size'], counts=rle['counts'].decode('ascii'))  # as stored in the json


def _detail_json(path, anns_by_image):
    """A trainval_merged.json with the keys the Detail API reads (most lists empty)."""
    images, anns = [], []
    for (file_name, image_id, phase, h, w), masks in anns_by_image.items():
        images.append(dict(file_name=file_name, image_id=image_id, phase=phase, height=h,
                           width=w, date_captured='31-May-2015 17:44:04'))
        for cat, m in masks:
            anns.append(dict(id=len(anns) + 1, image_id=image_id, category_id=cat,
                             segmentation=_rle(m), area=int(m.sum()), iscrowd=0, parts=[],
                             bbox=[0, 0, w, h]))
    data = dict(info={}, images=images, annos_segmentation=anns, annos_occlusion=[],
                annos_boundary=[], annos_joints=[], parts=[],
                categories=[dict(category_id=c, name=str(c), supercategory='object',
                                 onlysemantic=0, parts=[]) for c in (2, 284, 458)])
    path.write_text(json.dumps(data))
    return path


def test_json_to_label_maps_and_splits(tool, tmp_path):
    h, w = 3, 4
    left = np.zeros((h, w), bool)
    left[:, :2] = True
    top = np.zeros((h, w), bool)
    top[0] = True
    full = np.ones((h, w), bool)
    js = _detail_json(tmp_path / 'trainval_merged.json', {
        # raw 2 aeroplane -> 1, 284 person -> 37, 458 wood -> 59; the later annotation wins
        ('2008_000002.jpg', 2008000002, 'train', h, w): [(2, left), (284, top)],
        ('2008_000001.jpg', 2008000001, 'train', h, w): [(458, full)],
        ('2008_000009.jpg', 2008000009, 'val', h, w): [],
    })
    devkit = tmp_path / 'VOCdevkit'
    (devkit / 'VOC2010' / 'JPEGImages').mkdir(parents=True)
    for stem in ('2008_000001', '2008_000002', '2008_000009'):
        cv2.imwrite(str(devkit / 'VOC2010' / 'JPEGImages' / f'{stem}.jpg'),
                    np.zeros((h, w, 3), np.uint8))
    assert run_tool(tool.main, [str(devkit), str(js)]) == 0
    voc = devkit / 'VOC2010'
    splits = voc / 'ImageSets' / 'SegmentationContext'
    assert (splits / 'train.txt').read_text() == '2008_000001\n2008_000002\n'
    assert (splits / 'val.txt').read_text() == '2008_000009\n'
    written = cv2.imread(str(voc / 'SegmentationClassContext' / '2008_000002.png'),
                         cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(written, [[37, 37, 37, 37], [1, 1, 0, 0], [1, 1, 0, 0]])
    assert not cv2.imread(str(voc / 'SegmentationClassContext' / '2008_000009.png'),
                          cv2.IMREAD_UNCHANGED).any()

    prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext')
    ann = 'ImageSets/SegmentationContext/train.txt'
    ds59 = PascalContextDataset(data_root=str(voc), data_prefix=prefix, ann_file=ann)
    ds60 = PascalContextDataset60(data_root=str(voc), data_prefix=prefix, ann_file=ann)
    load = [LoadImage(), LoadSegAnnotation()]

    def label(ds, i):
        r = ds.get_data_info(i)
        for t in load:
            r = t(r)
        return r['gt_seg_map']

    np.testing.assert_array_equal(label(ds59, 0), np.full((h, w), 58))  # wood
    np.testing.assert_array_equal(label(ds59, 1), [[36] * 4, [0, 0, 255, 255], [0, 0, 255, 255]])
    assert ds59.metainfo['classes'][36] == 'person' and ds59.metainfo['classes'][0] == 'aeroplane'
    np.testing.assert_array_equal(label(ds60, 1), written)
    assert ds60.metainfo['classes'][37] == 'person'


def test_decode_forms_and_errors(tool, tmp_path, capsys):
    m = np.zeros((4, 5), bool)
    m[1:3, 1:4] = True
    rle = _rle(m)
    np.testing.assert_array_equal(tool.decode_segmentation(rle, 4, 5), m)
    uncompressed = dict(size=[4, 5], counts=[5, 2, 2, 2, 2, 2, 5])  # column-major runs
    np.testing.assert_array_equal(tool.decode_segmentation(uncompressed, 4, 5), m)
    img = dict(file_name='x.jpg', height=4, width=5)
    with pytest.raises(tool.DataError, match=r'x.jpg: category ids \[3\] are not among the 59'):
        tool.render_label(img, [dict(id=1, category_id=3, segmentation=rle)])
    (tmp_path / 'bad.json').write_text('{"images": []}')
    assert run_tool(tool.main, [str(tmp_path), str(tmp_path / 'bad.json')]) == 2
    assert 'has no "annos_segmentation" list' in capsys.readouterr().err
