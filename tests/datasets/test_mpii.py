"""MPIIDataset on the bundled data/mpii_tiny: official conventions (lib/dataset/mpii.py _get_db),
meta information, the centre/scale round trip through the pipeline and one-line errors."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from hrnet_train.datasets import MPIIDataset
from hrnet_train.datasets.transforms.bbox import GetBBoxCenterScale
from hrnet_train.datasets.transforms.topdown import TopdownAffine
from hrnet_train.registry import DATASETS
from hrnet_train.utils.errors import DataError

DATA_ROOT = osp.join(osp.dirname(__file__), '..', '..', 'data', 'mpii_tiny')


def _anns():
    with open(osp.join(DATA_ROOT, 'annot', 'valid.json')) as f:
        return json.load(f)


def _official_affine(center, scale_200, output_size):
    """Official lib/utils/transforms.py get_affine_transform, rotation 0 (restated for the test)."""
    src_w = scale_200 * 200.
    dst_w, dst_h = output_size
    src = np.float32([center, center + [0, -0.5 * src_w], center + [0.5 * src_w, -0.5 * src_w]])
    dst = np.float32([[dst_w * .5, dst_h * .5], [dst_w * .5, dst_h * .5 - dst_w * .5],
                      [dst_w * .5 + dst_w * .5, dst_h * .5 - dst_w * .5]])
    return cv2.getAffineTransform(src, dst)


def _write(tmp_path, anns, *, images=True):
    (tmp_path / 'annot').mkdir(exist_ok=True)
    if images:
        (tmp_path / 'images').mkdir(exist_ok=True)
    path = tmp_path / 'annot' / 'x.json'
    path.write_text(anns if isinstance(anns, str) else json.dumps(anns))
    return MPIIDataset(ann_file='annot/x.json', data_root=str(tmp_path))


def test_metainfo_is_the_official_mpii_meta():
    ds = MPIIDataset(ann_file='annot/valid.json', data_root=DATA_ROOT, lazy_init=True)
    meta = ds.metainfo
    assert meta['num_keypoints'] == 16
    assert meta['keypoint_names'][0] == 'right_ankle' and meta['keypoint_names'][9] == 'head_top'
    assert meta['keypoint_names'][10] == 'right_wrist'
    pairs = {(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)}
    flip = meta['flip_indices']
    assert {(i, flip[i]) for i in range(16) if i < flip[i]} == pairs
    assert [i for i in range(16) if flip[i] == i] == [6, 7, 8, 9]
    assert meta['upper_body_ids'] == [7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert meta['lower_body_ids'] == [0, 1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(meta['joint_weights'][[0, 1, 2, 10, 11, 12]],
                               [1.5, 1.2, 1., 1.5, 1.2, 1.], rtol=1e-6)
    assert DATASETS.get('MPIIDataset') is MPIIDataset


def test_samples_follow_the_official_conventions():
    anns = _anns()
    ds = MPIIDataset(ann_file='annot/valid.json', data_root=DATA_ROOT,
                     gt_file='annot/headboxes_valid.json')
    assert len(ds) == len(anns) == 5
    assert ds.metainfo['gt_file'] == osp.join(DATA_ROOT, 'annot/headboxes_valid.json')
    for i, ann in enumerate(anns):
        info = ds.get_data_info(i)
        assert info['id'] == i
        assert info['img_id'] == int(ann['image'][:-4])
        assert osp.isfile(info['img_path'])
        # MATLAB 1-based -> 0-based
        np.testing.assert_allclose(info['keypoints'], np.array(ann['joints']) - 1, atol=1e-4)
        np.testing.assert_array_equal(info['keypoints_visible'], ann['joints_vis'])
        assert info['flip_indices'][0] == 5 and info['joint_weights'].shape == (16,)
    # entry 2 (051423444.jpg) has both ankles unlabelled
    np.testing.assert_array_equal(np.flatnonzero(ds.get_data_info(2)['keypoints_visible'] == 0),
                                  [0, 5])


def test_box_round_trip_gives_the_official_centre_scale_and_warp():
    ds = MPIIDataset(ann_file='annot/valid.json', data_root=DATA_ROOT)
    for i, ann in enumerate(_anns()):
        c, s = np.array(ann['center'], dtype=np.float64), ann['scale']
        # official _get_db: c[1] += 15 * s; s *= 1.25; c -= 1
        official_c = np.array([c[0] - 1, c[1] + 15 * s - 1])
        official_s = s * 1.25
        res = GetBBoxCenterScale(padding=1.25).transform(dict(bbox=ds.get_data_info(i)['bbox']))
        np.testing.assert_allclose(res['bbox_center'], official_c, atol=2e-4)
        np.testing.assert_allclose(res['bbox_scale'], [official_s * 200] * 2, rtol=1e-6)
        res['img'] = np.zeros((8, 8, 3), np.uint8)
        warp = TopdownAffine((256, 256)).transform(res)['warp_matrix']
        np.testing.assert_allclose(warp, _official_affine(official_c, official_s, (256, 256)),
                                   rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize('padding', [1.25, 1.0])
def test_person_without_centre_is_not_shifted_or_enlarged(tmp_path, padding):
    """Official: ``if c[0] != -1`` guards both the shift and the 1.25; ``c - 1`` always runs."""
    ann = dict(image='a.jpg', center=[-1, 300], scale=2.0, joints=[[5, 6]] * 16,
               joints_vis=[1] * 16)
    (tmp_path / 'annot').mkdir()
    (tmp_path / 'images').mkdir()
    (tmp_path / 'annot' / 'x.json').write_text(json.dumps([ann]))
    ds = MPIIDataset(ann_file='annot/x.json', data_root=str(tmp_path), bbox_padding=padding)
    res = GetBBoxCenterScale(padding=padding).transform(dict(bbox=ds.get_data_info(0)['bbox']))
    np.testing.assert_allclose(res['bbox_center'], [-2, 299])
    np.testing.assert_allclose(res['bbox_scale'], [400, 400])  # 2 * 200, no 1.25


def test_entries_without_joints_have_no_labelled_keypoint(tmp_path):
    ds = _write(tmp_path, [dict(image='000000001.jpg', center=[100, 100], scale=1.0)])
    info = ds.get_data_info(0)
    assert info['keypoints'].shape == (16, 2) and info['keypoints_visible'].sum() == 0


def test_train_pipeline_builds_targets():
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_',
                                   'datasets', 'mpii_256x256.py'))
    np.random.seed(0)
    ds = MPIIDataset(ann_file='annot/train.json', data_root=DATA_ROOT,
                     pipeline=cfg.train_pipeline)
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 256, 256)
    assert tuple(sample['data_samples'].gt_heatmaps.shape) == (16, 64, 64)
    assert float(sample['data_samples'].gt_heatmaps.max()) == pytest.approx(1.0)


@pytest.mark.parametrize('content,match', [
    ('{not json', 'is not JSON'),
    ('[]', 'non-empty list'),
    ([dict(center=[1, 2], scale=1.0)], r"entry 0 lacks \['image'\]"),
    ([dict(image='a.jpg', center=[1, 2], scale=1.0, joints=[[1, 2]] * 15, joints_vis=[1] * 15)],
     r'entry 0 has joints of shape \(15, 2\), expected \(16, 2\)'),
    ([dict(image='a.jpg', center=[1, 2], scale=1.0, joints=[[1, 2]] * 16, joints_vis=[1] * 3)],
     r'joints_vis of shape \(3,\)'),
    ([dict(image='a.jpg', center=[1, 2], scale=0.0)], 'scale is 0.0, expected a number > 0'),
    ([dict(image='a.jpg', center=[1], scale=1.0)], 'expected 2 finite numbers'),
])
def test_bad_annotation_files_raise_one_line_errors(tmp_path, content, match):
    with pytest.raises(DataError, match=match) as err:
        _write(tmp_path, content)
    assert '\n' not in str(err.value) and 'x.json' in str(err.value)


def test_missing_folders_and_files(tmp_path):
    with pytest.raises(DataError, match=r'image folder .*images/ \(data_prefix img\) does not'):
        _write(tmp_path, [dict(image='a.jpg', center=[1, 2], scale=1.0)], images=False)
    with pytest.raises(DataError, match='data_root .*nowhere does not exist'):
        MPIIDataset(ann_file='annot/valid.json', data_root=str(tmp_path / 'nowhere'))
    os.makedirs(tmp_path / 'r' / 'images')
    with pytest.raises(DataError, match='annotation file .*valid.json does not exist'):
        MPIIDataset(ann_file='annot/valid.json', data_root=str(tmp_path / 'r'))
