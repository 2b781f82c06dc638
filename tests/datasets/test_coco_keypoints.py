import json
import os.path as osp

import cv2
import numpy as np
import pytest

from hrnet_train.codecs import MSRAHeatmap
from hrnet_train.datasets import CocoKeypointDataset
from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import DataError

DATA_ROOT = osp.join(osp.dirname(__file__), '..', '..', 'data', 'coco_tiny')
ANN = 'annotations/test_coco.json'
DET = 'person_detection_results/test_coco_det_AP_H_56.json'  # relative to DATA_ROOT
INPUT_SIZE, HEATMAP_SIZE = (192, 256), (48, 64)


def _coco(**kwargs):
    return CocoKeypointDataset(ANN, data_root=DATA_ROOT, data_prefix=dict(img='val2017'), **kwargs)


def _load(name):
    with open(osp.join(DATA_ROOT, name)) as f:
        return json.load(f)


def _pipeline(*, train):
    aug = [dict(type='RandomFlip'), dict(type='RandomHalfBody'),
           dict(type='RandomBBoxTransform')] if train else []
    return [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'), *aug,
            dict(type='TopdownAffine', input_size=INPUT_SIZE),
            dict(type='GenerateTarget', encoder=dict(
                type='MSRAHeatmap', input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE, sigma=2.)),
            dict(type='PackPoseInputs')]


def test_gt_instances_counted_from_json():
    coco = _load(ANN)
    expected = [a for a in coco['annotations']
                if not a['iscrowd'] and max(a['keypoints'][2::3]) > 0]
    assert len(expected) == 12
    ds = DATASETS.build(dict(type='CocoKeypointDataset', ann_file=ANN, data_root=DATA_ROOT,
                             data_prefix=dict(img='val2017')))
    assert len(ds) == 12
    assert sorted(ds.get_data_info(i)['id'] for i in range(12)) == sorted(a['id'] for a in expected)

    info = next(ds.get_data_info(i) for i in range(12) if ds.get_data_info(i)['id'] == 442619)
    ann = next(a for a in expected if a['id'] == 442619)
    img = next(i for i in coco['images'] if i['id'] == ann['image_id'])
    assert info['img_path'] == osp.join(DATA_ROOT, 'val2017', img['file_name'])
    assert osp.isfile(info['img_path'])
    assert info['img_id'] == 785 and info['category_id'] == 1 and info['bbox_score'] == 1.0
    x, y, w, h = ann['bbox']  # [280.79, 44.73, 218.7, 346.68]: official clip x2 = x + w - 1
    np.testing.assert_allclose(info['bbox'], [x, y, x + w - 1, y + h - 1], rtol=1e-6)
    assert info['bbox'].dtype == np.float32 and info['bbox'].shape == (4,)
    kpts = np.array(ann['keypoints'], dtype=np.float32).reshape(17, 3)
    np.testing.assert_array_equal(info['keypoints'], kpts[:, :2])
    np.testing.assert_array_equal(info['keypoints_visible'], (kpts[:, 2] > 0).astype(np.float32))
    assert info['keypoints'].shape == (17, 2) and info['keypoints_visible'].dtype == np.float32
    assert info['num_keypoints'] == 17 and info['iscrowd'] == 0
    assert info['area'] == pytest.approx(ann['area'])
    assert info['flip_indices'] == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert info['upper_body_ids'] == list(range(11))
    assert info['lower_body_ids'] == list(range(11, 17))
    np.testing.assert_array_equal(info['joint_weights'], np.ones(17))


def test_coco_metainfo():
    meta = _coco().metainfo
    assert meta['dataset_name'] == 'coco' and meta['num_keypoints'] == 17
    assert meta['keypoint_names'][0] == 'nose' and meta['keypoint_names'][16] == 'right_ankle'
    np.testing.assert_allclose(meta['sigmas'][[0, 5, 11, 16]], [.026, .079, .107, .089])
    # skeleton = COCO categories' 1-based pairs minus one
    cat = _load(ANN)['categories'][0]
    assert meta['skeleton'] == [[a - 1, b - 1] for a, b in cat['skeleton']]
    assert meta['keypoint_names'] == cat['keypoints']


@pytest.mark.parametrize('thr', [0.0, 0.3, 0.9])
def test_detector_boxes_counted_from_json(thr):
    dets = _load(DET)
    img_ids = {i['id'] for i in _load(ANN)['images']}
    expected = [d for d in dets
                if d['score'] >= thr and d['category_id'] == 1 and d['image_id'] in img_ids]
    ds = _coco(bbox_file=osp.join(DATA_ROOT, DET), det_score_thr=thr, test_mode=True)
    assert len(ds) == len(expected)
    if thr == 0.0:
        assert len(ds) == 118
    info = ds.get_data_info(0)
    x, y, w, h = expected[0]['bbox']
    np.testing.assert_allclose(info['bbox'], [x, y, x + w, y + h], rtol=1e-6)
    assert info['bbox_score'] == pytest.approx(expected[0]['score'])
    assert [ds.get_data_info(i)['id'] for i in range(len(ds))] == list(range(len(ds)))
    np.testing.assert_array_equal(info['keypoints'], np.zeros((17, 2)))


def test_use_gt_bbox_overrides_bbox_file():
    assert len(_coco(bbox_file=osp.join(DATA_ROOT, DET), use_gt_bbox=True)) == 12


def test_full_pipeline_on_real_images():
    ds = _coco(pipeline=_pipeline(train=False), test_mode=True)
    for i in range(len(ds)):
        out = ds[i]
        inputs, sample = out['inputs'], out['data_samples']
        assert inputs.shape == (3, 256, 192) and str(inputs.dtype) == 'torch.uint8'
        assert tuple(sample.gt_heatmaps.shape) == (17, 64, 48)
        # decoding the target gives back the input-space keypoints (MSRA rounding: <= 2 px)
        weights = sample.keypoint_weights.numpy()
        visible = sample.gt_keypoints_visible > 0
        assert (weights[~visible] == 0).all()
        decoded, _ = MSRAHeatmap(INPUT_SIZE, HEATMAP_SIZE, 2.).decode(sample.gt_heatmaps.numpy())
        on = weights > 0
        inside = on & (sample.gt_keypoints >= 0).all(1) & \
            (sample.gt_keypoints <= np.array(INPUT_SIZE) - 1).all(1)
        assert np.abs(decoded[inside] - sample.gt_keypoints[inside]).max() <= 2.0 + 1e-4
    ds = _coco(pipeline=_pipeline(train=True))
    np.random.seed(0)
    for i in range(len(ds)):
        assert tuple(ds[i]['data_samples'].gt_heatmaps.shape) == (17, 64, 48)


def _write_custom(tmp_path, num_kpts, *, anns=None, cat_names=('a', 'l1', 'r1', 'l2', 'r2')):
    img_dir = tmp_path / 'imgs'
    img_dir.mkdir(exist_ok=True)
    cv2.imwrite(str(img_dir / 'a.png'), np.full((120, 100, 3), 128, np.uint8))
    kpts = []
    for k in range(num_kpts):
        kpts += [20. + 10 * k, 30. + 5 * k, 2]
    if anns is None:
        anns = [dict(id=7, image_id=1, category_id=1, bbox=[10, 20, 60, 70], area=4200.,
                     iscrowd=0, num_keypoints=num_kpts, keypoints=kpts),
                dict(id=8, image_id=1, category_id=1, bbox=[0, 0, 5, 5], area=25., iscrowd=0,
                     num_keypoints=0, keypoints=[0] * (3 * num_kpts)),
                dict(id=9, image_id=1, category_id=1, bbox=[0, 0, 5, 5], area=25., iscrowd=0)]
    coco = dict(images=[dict(id=1, file_name='a.png', width=100, height=120)],
                annotations=anns,
                categories=[dict(id=1, name='thing')])
    if cat_names is not None:
        coco['categories'][0]['keypoints'] = list(cat_names)
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(coco))
    return path


CUSTOM_META = dict(dataset_name='five', keypoint_names=['a', 'l1', 'r1', 'l2', 'r2'],
                   flip_indices=[0, 2, 1, 4, 3], sigmas=[0.05] * 5, upper_body_ids=[0, 1, 2],
                   lower_body_ids=[3, 4])


def test_custom_keypoint_set(tmp_path):
    ann = _write_custom(tmp_path, 5)
    ds = CocoKeypointDataset(str(ann), data_prefix=dict(img=str(tmp_path / 'imgs')),
                             metainfo=CUSTOM_META, pipeline=_pipeline(train=False))
    meta = ds.metainfo
    assert meta['num_keypoints'] == 5 and meta['dataset_name'] == 'five'
    np.testing.assert_array_equal(meta['joint_weights'], np.ones(5))
    assert meta['skeleton'] == []  # nothing inherited from COCO
    assert len(ds) == 1  # id 8 has no labelled keypoint, id 9 no keypoints at all
    info = ds.get_data_info(0)
    assert info['keypoints'].shape == (5, 2) and info['flip_indices'] == [0, 2, 1, 4, 3]
    # clipped like the official code: x2 = min(W - 1, x1 + w - 1)
    np.testing.assert_allclose(info['bbox'], [10, 20, 69, 89])
    out = ds[0]
    assert tuple(out['data_samples'].gt_heatmaps.shape) == (5, 64, 48)
    assert out['data_samples'].keypoint_weights.tolist() == [1.] * 5


def test_box_clipped_to_image_and_empty_box_skipped(tmp_path):
    kp = [50, 50, 2, 60, 60, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    anns = [dict(id=1, image_id=1, bbox=[-10, 100, 200, 50], area=10., iscrowd=0, keypoints=kp),
            dict(id=2, image_id=1, bbox=[10, 10, 20, 20], area=0., iscrowd=0, keypoints=kp),
            dict(id=3, image_id=1, bbox=[10, 10, 20, 20], area=5., iscrowd=1, keypoints=kp)]
    ann = _write_custom(tmp_path, 5, anns=anns)
    ds = CocoKeypointDataset(str(ann), data_prefix=dict(img=''), metainfo=CUSTOM_META)
    assert len(ds) == 1
    np.testing.assert_allclose(ds.get_data_info(0)['bbox'], [0, 100, 99, 119])


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match='annotation file not found: .*missing.json'):
        CocoKeypointDataset(str(tmp_path / 'missing.json'))
    ann = _write_custom(tmp_path, 5, cat_names=None)  # no names: only the count can tell
    with pytest.raises(DataError,
                       match=r'annotation id 7 in .*ann.json has 15 keypoint values, expected 51'):
        CocoKeypointDataset(str(ann))  # COCO meta: 17 keypoints
    ann = _write_custom(tmp_path, 5)
    with pytest.raises(ValueError, match='metainfo needs key "sigmas"'):
        CocoKeypointDataset(str(ann), metainfo=dict(keypoint_names=list('abcde'),
                                                    flip_indices=[0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match='"flip_indices" must swap pairs'):
        CocoKeypointDataset(str(ann), metainfo=dict(CUSTOM_META, flip_indices=[1, 2, 0, 3, 4]))
    with pytest.raises(ValueError, match='"sigmas" has 4 values, expected 5'):
        CocoKeypointDataset(str(ann), metainfo=dict(CUSTOM_META, sigmas=[.1] * 4))
    empty = tmp_path / 'empty_det.json'
    empty.write_text('[]')
    with pytest.raises(ValueError, match='detection file .*empty_det.json holds no boxes'):
        CocoKeypointDataset(str(ann), metainfo=CUSTOM_META, bbox_file=str(empty))
    broken = tmp_path / 'broken_det.json'
    broken.write_text('')
    with pytest.raises(ValueError, match='detection file .*broken_det.json is not valid JSON'):
        CocoKeypointDataset(str(ann), metainfo=CUSTOM_META, bbox_file=str(broken))


def test_detector_boxes_on_unknown_images_are_skipped(tmp_path):
    ann = _write_custom(tmp_path, 5)
    det = tmp_path / 'det.json'
    det.write_text(json.dumps([
        dict(image_id=1, category_id=1, bbox=[1, 2, 30, 40], score=0.8),
        dict(image_id=999, category_id=1, bbox=[1, 2, 30, 40], score=0.9),
        dict(image_id=1, category_id=3, bbox=[1, 2, 30, 40], score=0.9)]))
    ds = CocoKeypointDataset(str(ann), metainfo=CUSTOM_META, bbox_file=str(det))
    assert len(ds) == 1
    info = ds.get_data_info(0)
    np.testing.assert_allclose(info['bbox'], [1, 2, 31, 42])
    assert info['keypoints'].shape == (5, 2) and info['bbox_score'] == pytest.approx(0.8)


# ------------------------------------------------ checks on bad data (DataError, one line each)

class _Log:
    """Records the lines a module passes to mmengine's print_log."""

    def __init__(self, monkeypatch, module):
        import hrnet_train.datasets.coco_utils as coco_utils
        self.lines = []
        for mod in (module, coco_utils):  # the skip_invalid line comes from coco_utils
            monkeypatch.setattr(mod, 'print_log', lambda msg, **kw: self.lines.append(msg))

    def matching(self, text):
        return [line for line in self.lines if text in line]


def _person(ann_id, **overrides):
    kp = [30., 40., 2, 50., 60., 1, 0., 0., 0, 0., 0., 0, 0., 0., 0]
    ann = dict(id=ann_id, image_id=1, category_id=1, bbox=[10, 20, 60, 70], area=4200.,
               iscrowd=0, num_keypoints=2, keypoints=kp)
    ann.update(overrides)
    return ann


def test_detector_boxes_with_no_size_or_non_finite_values_are_dropped(tmp_path, monkeypatch):
    import hrnet_train.datasets.coco_keypoints as module
    log = _Log(monkeypatch, module)
    ann = _write_custom(tmp_path, 5)
    det = tmp_path / 'det.json'
    nan, inf = float('nan'), float('inf')
    det.write_text(json.dumps([  # json writes NaN / Infinity, which json.load reads back
        dict(image_id=1, category_id=1, bbox=[1, 2, 30, 40], score=0.8),
        dict(image_id=1, category_id=1, bbox=[5, 5, 0, 40], score=0.9),
        dict(image_id=1, category_id=1, bbox=[5, 5, 30, -3], score=0.9),
        dict(image_id=1, category_id=1, bbox=[nan, 5, 30, 40], score=0.9),
        dict(image_id=1, category_id=1, bbox=[5, 5, inf, 40], score=0.9),
        dict(image_id=1, category_id=1, bbox=[5, 5, 30, 40], score=nan),
        dict(image_id=1, category_id=1, bbox=[3, 4, 20, 10], score=0.5)]))
    ds = CocoKeypointDataset(str(ann), data_prefix=dict(img=str(tmp_path / 'imgs')),
                             metainfo=CUSTOM_META, bbox_file=str(det),
                             pipeline=_pipeline(train=False), test_mode=True)
    assert len(ds) == 2
    np.testing.assert_allclose(ds.get_data_info(1)['bbox'], [3, 4, 23, 14])
    dropped = log.matching('dropped')
    assert len(dropped) == 1 and str(det) in dropped[0] and 'dropped 5 of 7 boxes' in dropped[0]
    for i in range(len(ds)):  # the kept boxes go through TopdownAffine
        assert tuple(ds[i]['data_samples'].gt_heatmaps.shape) == (5, 64, 48)


@pytest.mark.parametrize('field,value,expected', [
    ('keypoints', [30., float('nan'), 2] + [0.] * 12,
     r'has non-finite keypoints \(NaN or Inf\) at keypoint index \[0\]'),
    ('keypoints', [0.] * 9 + [1., float('inf'), 2] + [0.] * 3,
     r'has non-finite keypoints \(NaN or Inf\) at keypoint index \[3\]'),
    ('keypoints', [0.] * 12 + [None, 3., 2],  # JSON null
     r'has non-finite keypoints \(NaN or Inf\) at keypoint index \[4\]'),
    ('bbox', [10, float('nan'), 60, 70], r'has non-finite bbox \[10, nan, 60, 70\]'),
    ('bbox', [10, 20, float('-inf'), 70], r'has non-finite bbox \[10, 20, -inf, 70\]'),
    ('bbox', [10, 20, 60], r'has bbox \[10, 20, 60\], expected \[x, y, w, h\]'),
])
def test_gt_annotation_with_non_finite_values_names_it(tmp_path, field, value, expected):
    ann = _write_custom(tmp_path, 5, anns=[_person(7), _person(42, **{field: value})])
    with pytest.raises(DataError, match=r'^annotation id 42 in .*ann\.json ' + expected) as e:
        CocoKeypointDataset(str(ann), metainfo=CUSTOM_META)
    assert '\n' not in str(e.value)


def test_gt_box_clipped_to_a_point_is_skipped(tmp_path):
    """A 1x1 box clips to x2 == x1, y2 == y1: nothing for TopdownAffine to warp."""
    ann = _write_custom(tmp_path, 5, anns=[_person(7), _person(8, bbox=[30, 40, 1, 1], area=1.)])
    ds = CocoKeypointDataset(str(ann), metainfo=CUSTOM_META)
    assert [ds.get_data_info(i)['id'] for i in range(len(ds))] == [7]


def _coco_names_file(tmp_path, names):
    kp = [50., 50., 2] + [0., 0., 0] * 16
    coco = dict(images=[dict(id=1, file_name='a.png', width=100, height=120)],
                annotations=[dict(id=3, image_id=1, category_id=1, bbox=[10, 20, 60, 70],
                                  area=4200., iscrowd=0, keypoints=kp)],
                categories=[dict(id=1, name='person', keypoints=list(names))])
    path = tmp_path / 'names.json'
    path.write_text(json.dumps(coco))
    return path


def test_category_keypoint_names_must_equal_metainfo(tmp_path):
    coco_names = list(CocoKeypointDataset.METAINFO['keypoint_names'])
    swapped = coco_names.copy()
    swapped[1], swapped[2] = swapped[2], swapped[1]
    with pytest.raises(DataError, match=(
            r"^annotation file .*names\.json: category id 1 lists 17 keypoint names, metainfo "
            r"keypoint_names 17; first difference at position 1: 'right_eye' in the file, "
            r"'left_eye' in metainfo")):
        CocoKeypointDataset(str(_coco_names_file(tmp_path, swapped)))
    # a custom 5-keypoint file read with the COCO metainfo
    with pytest.raises(DataError, match=r"category id 1 lists 5 keypoint names, metainfo "
                                        r"keypoint_names 17; first difference at position 0: "
                                        r"'a' in the file, 'nose' in metainfo"):
        CocoKeypointDataset(str(_write_custom(tmp_path, 5)))
    # a prefix of the COCO names: the first difference is where the file's list ends
    with pytest.raises(DataError, match="position 5: nothing in the file, 'left_shoulder'"):
        CocoKeypointDataset(str(_coco_names_file(tmp_path, coco_names[:5])))
    # the same names load; categories without names are not checked (test_custom_keypoint_set)
    assert len(CocoKeypointDataset(str(_coco_names_file(tmp_path, coco_names)))) == 1
    assert len(CocoKeypointDataset(str(_write_custom(tmp_path, 5, cat_names=None)),
                                   metainfo=CUSTOM_META)) == 1


def test_missing_folders_and_broken_json_name_the_path(tmp_path):
    ann = _write_custom(tmp_path, 5)
    with pytest.raises(DataError, match=r'^data_root .*nowhere does not exist'):
        CocoKeypointDataset(str(ann), data_root=str(tmp_path / 'nowhere'), metainfo=CUSTOM_META)
    with pytest.raises(DataError, match=r'^image folder .*no_imgs \(data_prefix img\) does not'):
        CocoKeypointDataset(str(ann), data_prefix=dict(img=str(tmp_path / 'no_imgs')),
                            metainfo=CUSTOM_META)
    broken = tmp_path / 'broken.json'
    broken.write_text('{"images": [\n{"id": 1,\n')
    with pytest.raises(DataError, match=r'^annotation file .*broken\.json is not valid JSON') as e:
        CocoKeypointDataset(str(broken))
    assert '\n' not in str(e.value)
    not_coco = tmp_path / 'list.json'
    not_coco.write_text('[1, 2]')
    with pytest.raises(DataError, match=r'list\.json is not COCO format'):
        CocoKeypointDataset(str(not_coco))


def test_empty_dataset_is_an_error(tmp_path):
    ann = _write_custom(tmp_path, 5, anns=[_person(7, keypoints=[0.] * 15)])
    with pytest.raises(DataError, match=r'ann\.json has no usable person instance'):
        CocoKeypointDataset(str(ann), metainfo=CUSTOM_META)
    det = tmp_path / 'det.json'
    det.write_text(json.dumps([dict(image_id=1, category_id=1, bbox=[1, 2, 30, 40], score=0.2)]))
    with pytest.raises(DataError, match=r'det\.json: no box left with score >= 0\.5'):
        CocoKeypointDataset(str(ann), metainfo=CUSTOM_META, bbox_file=str(det), det_score_thr=.5)


def _invalid_mix(tmp_path):
    anns = [_person(7), _person(10, keypoints=[float('nan')] * 15), _person(11, keypoints=[1] * 6),
            _person(12, image_id=99), _person(13, bbox=[1, 2, float('inf'), 4]), _person(14),
            _person(15, bbox=None), _person(16, keypoints=[1.] * 3)]
    return _write_custom(tmp_path, 5, anns=anns)


def test_skip_invalid_drops_bad_annotations_with_one_line(tmp_path, monkeypatch):
    import hrnet_train.datasets.coco_keypoints as module
    ann = _invalid_mix(tmp_path)
    # default: the first invalid annotation raises
    with pytest.raises(DataError, match=r'^annotation id 10 in .*ann\.json has non-finite'):
        CocoKeypointDataset(str(ann), metainfo=CUSTOM_META)
    log = _Log(monkeypatch, module)
    ds = DATASETS.build(dict(type='CocoKeypointDataset', ann_file=str(ann), metainfo=CUSTOM_META,
                             skip_invalid=True))
    assert [ds.get_data_info(i)['id'] for i in range(len(ds))] == [7, 14]
    lines = log.matching('skip_invalid')
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith(f'{ann}: skip_invalid dropped 6 invalid annotations: id 10 has ')
    # the first five offenders are named, in file order, then '...'
    assert [int(p.split()[1]) for p in line.split(': ', 2)[2].split('; ')] == [10, 11, 12, 13, 15]
    assert 'id 11 has 6 keypoint values, expected 15' in line
    assert 'id 12 refers to image_id 99, which is not in "images"' in line
    assert line.endswith(' ...') and '\n' not in line


def test_bbox_file_and_ann_file_follow_data_root():
    """data_root is the one place to edit: a relative bbox_file is joined with it like
    ann_file, and the resolved ann_file is in the metainfo for the metric."""
    ds = _coco(bbox_file=DET, test_mode=True)
    assert ds.bbox_file == osp.join(DATA_ROOT, DET)
    assert len(ds) == 118
    assert ds.metainfo['ann_file'] == osp.join(DATA_ROOT, ANN)
    # detector instances carry no ground truth: every keypoint unlabelled
    assert ds.get_data_info(0)['keypoints_visible'].sum() == 0


def _snapshot(info: dict) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else list(v) if isinstance(v, list) else v)
            for k, v in info.items()}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
            assert a[k].dtype == b[k].dtype, k
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize('reduced', [False, True])
@pytest.mark.parametrize('serialize', [True, False])
def test_samples_are_private_copies_and_repeat_exactly(serialize, reduced):
    """Running the train pipeline twice on one index (same seed) gives the same sample, and
    leaves the stored record and the dataset meta unchanged, whether the record is unpickled
    (serialize_data) or copied (arrays copied, immutable values shared)."""
    pipeline = _pipeline(train=True)
    pipeline[0] = dict(type='LoadImage', reduced_decode=reduced)
    ds = _coco(pipeline=pipeline, serialize_data=serialize)
    idx = 0  # the largest person: some box scale draws allow a 1/2 decode
    stored = _snapshot(ds.get_data_info(idx))
    meta = dict(flip_indices=list(ds.metainfo['flip_indices']),
                joint_weights=ds.metainfo['joint_weights'].copy(),
                sigmas=ds.metainfo['sigmas'].copy(),
                upper_body_ids=list(ds.metainfo['upper_body_ids']))
    def sample():  # ds[idx], noting the flip and the decode reduction on the way
        d = ds.get_data_info(idx)
        for t in ds.pipeline.transforms:
            seen.update({k: d[k] for k in ('flip', 'decode_reduction') if k in d})
            d = t(d)
        draws.append((seen['flip'], seen['decode_reduction']))
        return d

    runs, draws, seen = [], [], {}
    for _ in range(2):
        np.random.seed(3)
        runs.append([sample() for _ in range(8)])
    for a, b in zip(*runs):
        assert (a['inputs'] == b['inputs']).all()
        assert (a['data_samples'].gt_heatmaps == b['data_samples'].gt_heatmaps).all()
        np.testing.assert_array_equal(a['data_samples'].gt_keypoints,
                                      b['data_samples'].gt_keypoints)
        assert a['data_samples'].metainfo.keys() == b['data_samples'].metainfo.keys()
    assert draws[:8] == draws[8:]
    assert {f for f, _ in draws} == {True, False}  # both branches ran (seed 3)
    assert {r for _, r in draws} == ({1, 2} if reduced else {1})
    # a transform changing the sample in place does not reach the dataset
    info = ds.get_data_info(idx)
    info['keypoints'] += 100
    info['bbox'][:] = 0
    info['flip_indices'].reverse()
    info['joint_weights'] *= 0
    info['upper_body_ids'].append(99)
    _assert_same(_snapshot(ds.get_data_info(idx)), stored)
    _assert_same(dict(flip_indices=list(ds.metainfo['flip_indices']),
                      joint_weights=ds.metainfo['joint_weights'],
                      sigmas=ds.metainfo['sigmas'],
                      upper_body_ids=list(ds.metainfo['upper_body_ids'])), meta)
    assert ds.get_data_info(-1)['sample_idx'] == len(ds) - 1


def test_record_copy_shares_only_immutable_values():
    from hrnet_train.datasets.coco_keypoints import _private_copy
    arr, nested = np.arange(3.), [np.zeros(2)]
    assert _private_copy(arr) is not arr and (_private_copy(arr) == arr).all()
    assert _private_copy('a.jpg') == 'a.jpg' and _private_copy(3) == 3
    copied = _private_copy(nested)
    copied[0][0] = 1
    assert nested[0][0] == 0
