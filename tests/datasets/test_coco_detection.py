"""CocoDetection on the bundled COCO files and on generated instance fixtures."""
import json
import math
import os.path as osp

import cv2
import numpy as np
import pytest

import hrnet_train.datasets.coco_detection as module
import hrnet_train.datasets.transforms.det  # noqa: F401  (registers the detection transforms)
from hrnet_train.datasets.coco_detection import CocoDetection, make_palette
from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import ConfigError, DataError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA_ROOT = osp.join(ROOT, 'data', 'coco_tiny')
ANN = 'annotations/test_coco.json'
MMDET_ANN = osp.join(ROOT, 'tests', 'data', 'cocoeval', 'mmdetection',
                     'coco_dummy_instances_val2017.json')


class _Log:
    """Records the lines the module passes to mmengine's print_log."""

    def __init__(self, monkeypatch):
        import hrnet_train.datasets.coco_utils as coco_utils
        self.lines = []
        for mod in (module, coco_utils):  # the skip_invalid line comes from coco_utils
            monkeypatch.setattr(mod, 'print_log', lambda msg, **kw: self.lines.append(msg))

    def matching(self, text):
        return [line for line in self.lines if text in line]


def _load(path):
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------------------- coco_tiny (real)
def test_coco_tiny_person_boxes_from_the_keypoint_file():
    ds = DATASETS.build(dict(type='CocoDetection', ann_file=ANN, data_root=DATA_ROOT,
                             data_prefix=dict(img='val2017')))
    coco = _load(osp.join(DATA_ROOT, ANN))
    assert len(ds) == 4  # every image has a person box
    assert ds.metainfo['classes'] == ('person',) and ds.metainfo['cat_ids'] == [1]
    assert ds.metainfo['ann_file'] == osp.join(DATA_ROOT, ANN)
    assert ds.metainfo['palette'] == make_palette(1)
    assert [ds.get_data_info(i)['img_id'] for i in range(4)] == [i['id'] for i in coco['images']]
    assert sum(len(ds.get_data_info(i)['instances']) for i in range(4)) == 14
    info = ds.get_data_info(0)
    assert info['img_path'] == osp.join(DATA_ROOT, 'val2017', '000000000785.jpg')
    assert osp.isfile(info['img_path'])
    assert (info['height'], info['width']) == (425, 640)
    # annotation 442619: bbox [280.79, 44.73, 218.7, 346.68] -> x2 = x + w (continuous, no -1)
    (inst,) = info['instances']
    np.testing.assert_allclose(inst['bbox'], [280.79, 44.73, 499.49, 391.41], rtol=1e-6)
    assert inst['bbox_label'] == 0 and inst['ignore_flag'] == 0


def test_coco_tiny_through_the_detection_pipeline():
    """LoadImage -> LoadDetAnnotations -> Resize (1333, 800) -> flip -> PackDetInputs: the boxes
    arrive scaled by the resize factors and mirrored, in img_shape pixels."""
    pipeline = [dict(type='LoadImage'), dict(type='LoadDetAnnotations'),
                dict(type='Resize', scale=(1333, 800), keep_ratio=True),
                dict(type='RandomFlip', prob=1.0), dict(type='PackDetInputs')]
    ds = CocoDetection(ANN, data_root=DATA_ROOT, data_prefix=dict(img='val2017'),
                       pipeline=pipeline)
    idx = next(i for i in range(4) if ds.get_data_info(i)['img_id'] == 40083)  # 500 x 333
    out = ds[idx]
    sample = out['data_samples']
    # 500 x 333 into 1333 x 800: factor min(1333 / 500, 800 / 333) = 2.402... -> 1201 x 800
    assert tuple(out['inputs'].shape) == (3, 800, 1201)
    assert sample.img_shape == (800, 1201) and sample.ori_shape == (333, 500)
    assert sample.scale_factor == pytest.approx((1201 / 500, 800 / 333))
    assert sample.flip is True and sample.flip_direction == 'horizontal'
    assert sample.img_id == 40083
    anns = [a for a in _load(osp.join(DATA_ROOT, ANN))['annotations'] if a['image_id'] == 40083]
    sx, sy = 1201 / 500, 800 / 333
    expected = np.array([[1201 - (x + w) * sx, y * sy, 1201 - x * sx, (y + h) * sy]
                         for x, y, w, h in (a['bbox'] for a in anns)])
    np.testing.assert_allclose(sample.gt_instances.bboxes.numpy(), expected, atol=1e-3)
    assert sample.gt_instances.labels.tolist() == [0, 0, 0]
    assert tuple(sample.ignored_instances.bboxes.shape) == (0, 4)


def test_real_instances_file_with_80_categories():
    """mmdet's coco_dummy instances: non-contiguous COCO ids, one crowd box, no pixels."""
    coco = _load(MMDET_ANN)
    ds = CocoDetection(MMDET_ANN, test_mode=True)
    cats = sorted(coco['categories'], key=lambda c: c['id'])
    assert ds.metainfo['cat_ids'] == [c['id'] for c in cats]
    assert len(ds.metainfo['cat_ids']) == 80 and ds.metainfo['cat_ids'][-1] == 90
    assert ds.metainfo['classes'][0] == 'person' and ds.metainfo['classes'][79] == 'toothbrush'
    assert len(ds.metainfo['palette']) == 80
    by_id = {ds.get_data_info(i)['img_id']: ds.get_data_info(i) for i in range(len(ds))}
    assert sorted(by_id) == [139, 255917]
    assert len(by_id[139]['instances']) == 20 and len(by_id[255917]['instances']) == 17
    crowd = [inst for inst in by_id[255917]['instances'] if inst['ignore_flag']]
    assert crowd == [dict(bbox=[59., 253., 311., 337.], bbox_label=2, ignore_flag=1)]  # 3 car
    # category 86 (vase) is label 75: ids 12, 26, 29, 30, 45, 66, 68, 69, 71 are unused below it
    vase = [i for i in by_id[139]['instances'] if i['bbox_label'] == 75]
    assert len(vase) == 4 and ds.metainfo['classes'][75] == 'vase'


# ---------------------------------------------------------------------------- fixtures
CATEGORIES = [dict(id=7, name='dog'), dict(id=3, name='cat'), dict(id=12, name='bird')]


def _fixture(tmp_path, *, annotations=None, images=None, write_images=False):
    """Five images: 1 and 2 with good, crowd and degenerate boxes, 3 without annotations,
    4 with a bird only, 5 with a degenerate box only."""
    if images is None:
        images = [dict(id=1, file_name='a.png', width=60, height=40),
                  dict(id=2, file_name='b.png', width=50, height=30),
                  dict(id=3, file_name='c.png', width=20, height=25),
                  dict(id=4, file_name='d.png', width=64, height=48),
                  dict(id=5, file_name='e.png', width=40, height=40)]
    if annotations is None:
        annotations = [
            dict(id=10, image_id=1, category_id=3, bbox=[5, 6, 20, 10], area=200, iscrowd=0),
            dict(id=11, image_id=1, category_id=7, bbox=[30, 10, 25.5, 20], area=510, iscrowd=1),
            dict(id=12, image_id=1, category_id=7, bbox=[10, 10, 0.5, 8], area=4, iscrowd=0),
            dict(id=13, image_id=2, category_id=7, bbox=[60, 5, 10, 10], area=100, iscrowd=0),
            dict(id=14, image_id=2, category_id=7, bbox=[-5, -3, 15, 13], area=195, iscrowd=0),
            dict(id=15, image_id=2, category_id=3, bbox=[1, 1, 5, 5], area=0, iscrowd=0),
            dict(id=16, image_id=4, category_id=12, bbox=[2, 2, 30, 30], area=900, iscrowd=0),
            dict(id=17, image_id=5, category_id=3, bbox=[0, 0, 0.5, 0.5], area=.25, iscrowd=0),
        ]
    root = tmp_path / 'coco'
    (root / 'images').mkdir(parents=True, exist_ok=True)
    if write_images:
        for img in images:
            cv2.imwrite(str(root / 'images' / img['file_name']),
                        np.full((img['height'], img['width'], 3), 90, np.uint8))
    ann = root / 'instances.json'
    ann.write_text(json.dumps(dict(images=images, annotations=annotations,
                                   categories=CATEGORIES)))
    return root


def _build(root, **kwargs):
    return CocoDetection('instances.json', data_root=str(root), data_prefix=dict(img='images'),
                         **kwargs)


def _by_id(ds):
    return {ds.get_data_info(i)['img_id']: ds.get_data_info(i) for i in range(len(ds))}


def test_fixture_classes_labels_crowd_and_degenerate_boxes(tmp_path, monkeypatch):
    log = _Log(monkeypatch)
    ds = _build(_fixture(tmp_path), test_mode=True)
    # classes in category-id order, whatever the file order
    assert ds.metainfo['classes'] == ('cat', 'dog', 'bird')
    assert ds.metainfo['cat_ids'] == [3, 7, 12]
    infos = _by_id(ds)
    assert sorted(infos) == [1, 2, 3, 4, 5]  # test_mode keeps every image
    assert infos[1]['instances'] == [
        dict(bbox=[5., 6., 25., 16.], bbox_label=0, ignore_flag=0),
        dict(bbox=[30., 10., 55.5, 30.], bbox_label=1, ignore_flag=1)]  # crowd: ignore_flag 1
    # partly outside the image: kept and not clipped (mmdet)
    assert infos[2]['instances'] == [dict(bbox=[-5., -3., 10., 10.], bbox_label=1,
                                          ignore_flag=0)]
    assert infos[3]['instances'] == [] and infos[5]['instances'] == []
    assert infos[4]['instances'][0]['bbox_label'] == 2
    assert infos[1]['img_path'] == osp.join(str(tmp_path / 'coco'), 'images', 'a.png')
    assert (infos[2]['height'], infos[2]['width']) == (30, 50)
    # w < 1 (12), outside the image (13), area 0 (15), w and h < 1 (17): one line counts them
    assert log.matching('degenerate') == [
        f'{ds.ann_file}: dropped 4 annotations with a degenerate box (w or h < 1, area <= 0, or '
        'no overlap with the image)']
    assert log.matching('kept 1 of 5 images without annotations') != []


def test_filter_cfg_in_training(tmp_path, monkeypatch):
    root = _fixture(tmp_path)
    log = _Log(monkeypatch)
    # default filter_cfg: filter_empty_gt=True, min_size=0 -> image 3 (no annotation) goes;
    # image 5 stays: its only annotation is degenerate but counts (mmdet's cat_img_map)
    ds = _build(root)
    assert sorted(_by_id(ds)) == [1, 2, 4, 5]
    assert log.matching('filter_cfg dropped') == [
        f'{ds.ann_file}: filter_cfg dropped 1 of 5 images: 1 without annotations of the '
        'selected classes (filter_empty_gt), 0 with a side < 0 (min_size)']
    # mmdet's training config: min_size=32 also drops image 2 (50 x 30)
    ds = _build(root, filter_cfg=dict(filter_empty_gt=True, min_size=32))
    assert sorted(_by_id(ds)) == [1, 4, 5]
    assert '2 of 5 images: 1 without annotations' in log.matching('filter_cfg dropped')[-1]
    ds = _build(root, filter_cfg=dict(filter_empty_gt=False, min_size=0))
    assert sorted(_by_id(ds)) == [1, 2, 3, 4, 5]
    assert len(_build(root, filter_cfg=None)) == 5
    with pytest.raises(ConfigError, match=r"filter_cfg: unknown keys \['min_area'\]"):
        _build(root, filter_cfg=dict(min_area=4))
    with pytest.raises(DataError, match=r'no image left after filter_cfg'):
        _build(root, filter_cfg=dict(min_size=100))


def test_class_subset_selects_categories_in_id_order(tmp_path, monkeypatch):
    log = _Log(monkeypatch)
    root = _fixture(tmp_path)
    ds = _build(root, metainfo=dict(classes=('dog', 'cat'), palette=[(1, 2, 3), (4, 5, 6)]))
    assert ds.metainfo['classes'] == ('cat', 'dog') and ds.metainfo['cat_ids'] == [3, 7]
    assert ds.metainfo['palette'] == [(4, 5, 6), (1, 2, 3)]  # the colours follow their class
    assert len(log.matching('reordered to category-id order')) == 1
    infos = _by_id(ds)
    assert sorted(infos) == [1, 2, 5]  # image 4 holds a bird only: no selected annotation
    assert [i['bbox_label'] for i in infos[1]['instances']] == [0, 1]
    ds = _build(root, metainfo=dict(classes=('bird',)), test_mode=True)
    assert ds.metainfo['cat_ids'] == [12]
    assert [len(i['instances']) for i in _by_id(ds).values()] == [0, 0, 0, 1, 0]
    with pytest.raises(DataError, match=r"metainfo classes \['horse'\] are not categories of"):
        _build(root, metainfo=dict(classes=('cat', 'horse')))
    with pytest.raises(ConfigError, match='metainfo classes'):
        _build(root, metainfo=dict(classes='cat'))
    with pytest.raises(ConfigError, match='metainfo palette: expected 3 RGB triplets'):
        _build(root, metainfo=dict(palette=[(1, 2, 3)]))


def test_non_finite_boxes_raise_or_are_skipped(tmp_path, monkeypatch):
    anns = [dict(id=1, image_id=1, category_id=3, bbox=[1, 2, 10, 10], area=100, iscrowd=0),
            dict(id=2, image_id=1, category_id=3, bbox=[1, math.nan, 10, 10], area=100),
            dict(id=3, image_id=1, category_id=7, bbox=[1, 2, math.inf, 10], area=100),
            dict(id=4, image_id=1, category_id=5, bbox=[1, 2, 10, 10], area=100),
            dict(id=5, image_id=9, category_id=3, bbox=[1, 2, 10, 10], area=100),
            dict(id=6, image_id=1, category_id=7, bbox=[3, 4, 10, 10], area=100)]
    images = [dict(id=1, file_name='a.png', width=60, height=40)]
    root = _fixture(tmp_path, annotations=anns, images=images)
    ann_file = str(root / 'instances.json')
    with pytest.raises(DataError, match=rf'^annotation id 2 in {ann_file} has non-finite bbox'):
        _build(root)
    # an unknown category names the annotation and the file
    root2 = _fixture(tmp_path / 'b', annotations=[anns[0], anns[3]], images=images)
    with pytest.raises(DataError, match=r'^annotation id 4 in .*instances\.json has category_id '
                                        r'5, which is not in "categories"$'):
        _build(root2)
    log = _Log(monkeypatch)
    ds = _build(root, skip_invalid=True)
    (info,) = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['bbox'] for i in info['instances']] == [[1., 2., 11., 12.], [3., 4., 13., 14.]]
    (line,) = log.matching('skip_invalid')
    assert line.startswith(f'{ann_file}: skip_invalid dropped 4 invalid annotations: id 2 has '
                           'non-finite bbox')
    assert 'id 4 has category_id 5' in line and 'id 5 refers to image_id 9' in line


def test_bad_files_and_empty_dataset(tmp_path):
    root = _fixture(tmp_path, images=[])
    with pytest.raises(DataError, match=r'instances\.json lists no images'):
        _build(root)
    root = _fixture(tmp_path / 'w', images=[dict(id=1, file_name='a.png', height=10)],
                    annotations=[])
    with pytest.raises(DataError, match=r'image id 1 needs "width" and "height" > 0'):
        _build(root)
    ann = tmp_path / 'nocat.json'
    ann.write_text(json.dumps(dict(images=[dict(id=1, file_name='a', width=2, height=2)])))
    with pytest.raises(DataError, match='no "categories" list'):
        CocoDetection(str(ann))
    ann.write_text(json.dumps(dict(images=[], categories=[dict(id=1, name='a'),
                                                           dict(id=1, name='b')])))
    with pytest.raises(DataError, match='category id 1 appears twice'):
        CocoDetection(str(ann))
    with pytest.raises(DataError, match=r'data_root .*missing does not exist'):
        CocoDetection('x.json', data_root=str(tmp_path / 'missing'))
    root = _fixture(tmp_path / 'dup', annotations=[
        dict(id=1, image_id=1, category_id=3, bbox=[1, 2, 10, 10], area=100),
        dict(id=1, image_id=2, category_id=3, bbox=[1, 2, 10, 10], area=100)])
    with pytest.raises(DataError, match='annotation id 1 in .* appears twice'):
        _build(root)


def test_no_annotations_key_gives_image_only_samples(tmp_path):
    """test-dev style image info: images and categories, no annotations."""
    ann = tmp_path / 'image_info.json'
    ann.write_text(json.dumps(dict(images=[dict(id=5, file_name='x.jpg', width=8, height=6)],
                                   categories=CATEGORIES)))
    ds = CocoDetection(str(ann), test_mode=True)
    assert len(ds) == 1 and ds.get_data_info(0)['instances'] == []
    with pytest.raises(DataError, match='no image left after filter_cfg'):
        CocoDetection(str(ann))  # training filters images without annotations


def test_pipeline_on_fixture_images(tmp_path):
    root = _fixture(tmp_path, write_images=True)
    pipeline = [dict(type='LoadImage'), dict(type='LoadDetAnnotations'),
                dict(type='PackDetInputs')]
    ds = DATASETS.build(dict(type='CocoDetection', ann_file='instances.json', data_root=str(root),
                             data_prefix=dict(img='images'), pipeline=pipeline, test_mode=True))
    out = {s['data_samples'].img_id: s['data_samples'] for s in (ds[i] for i in range(len(ds)))}
    assert out[1].gt_instances.bboxes.tolist() == [[5., 6., 25., 16.]]
    assert out[1].ignored_instances.bboxes.tolist() == [[30., 10., 55.5, 30.]]
    assert out[1].ignored_instances.labels.tolist() == [1]
    assert tuple(out[3].gt_instances.bboxes.shape) == (0, 4)
    assert out[3].scale_factor == (1.0, 1.0) and out[3].flip is False
