"""MpiiPCKhMetric end to end: the official gt_valid.mat layout written by scipy.io.savemat,
predictions in any order across 'ranks', the +1 to MATLAB pixels, the JSON head-box route on the
bundled data/mpii_tiny and loud failures on missing predictions."""
import json
import os.path as osp

import numpy as np
import pytest

from hrnet_train.datasets import MPIIDataset
from hrnet_train.evaluation.functional.pckh import MPII_JOINT_SHORT_NAMES
from hrnet_train.evaluation.metrics import MpiiPCKhMetric
from hrnet_train.registry import METRICS
from hrnet_train.utils.errors import ConfigError, DataError

DATA_ROOT = osp.join(osp.dirname(__file__), '..', '..', '..', 'data', 'mpii_tiny')


def _gt(num=3):
    """MATLAB 1-based GT: person n's joint k at (100 + 10 k, 50 + n); head boxes of diagonal 10
    (head size 6 px); person 2's l_ankle (5) unlabelled."""
    gt = np.zeros((num, 16, 2))
    gt[..., 0] = 100 + 10 * np.arange(16)
    gt[..., 1] = 50 + np.arange(num)[:, None]
    visible = np.ones((num, 16))
    visible[2, 5] = 0
    headboxes = np.tile(np.array([[[0., 0.], [6., 8.]]]), (num, 1, 1))
    return gt, visible, headboxes


def _write_mat(path, gt, visible, headboxes):
    from scipy.io import savemat
    names = np.empty((1, 16), dtype=object)
    names[0, :] = list(MPII_JOINT_SHORT_NAMES)
    savemat(path, dict(dataset_joints=names, jnt_missing=(1 - visible).T,   # (16, N)
                       pos_gt_src=np.transpose(gt, [1, 2, 0]),              # (16, 2, N)
                       headboxes_src=np.transpose(headboxes, [1, 2, 0])))  # (2, 2, N)
    from scipy.io import loadmat
    mat = loadmat(path)
    assert mat['pos_gt_src'].shape == (16, 2, len(gt)) and mat['jnt_missing'].shape == (16, 3)
    assert mat['headboxes_src'].shape == (2, 2, len(gt))


def _samples(preds, ids):
    return [dict(id=i, pred_keypoints=p.astype(np.float32)) for i, p in zip(ids, preds)]


def test_official_mat_end_to_end_in_any_order(tmp_path):
    pytest.importorskip('scipy')
    gt, visible, headboxes = _gt()
    path = str(tmp_path / 'gt_valid.mat')
    _write_mat(path, gt, visible, headboxes)
    pred = gt - 1.0  # the model's 0-based pixels of the exact GT
    pred[0, 9] += [3, 0]    # head of person 0: 3 px = 0.5 head sizes, a hit
    pred[1, 9] += [3.1, 0]  # person 1: a miss
    pred[2, 12] += [0, 4]   # r_shoulder of person 2: a miss
    pred[2, 5] += 50        # unlabelled: not counted
    metric = METRICS.build(dict(type='MpiiPCKhMetric', gt_file=path))
    metric.dataset_meta = dict()
    # two "ranks", shuffled, the last sample repeated by the sampler's padding
    metric.process(None, _samples(pred[[2, 0]], [2, 0]))
    metric.process(None, _samples(pred[[1, 2]], [1, 2]))
    res = metric.evaluate(4)
    assert list(res) == ['mpii/Head', 'mpii/Shoulder', 'mpii/Elbow', 'mpii/Wrist', 'mpii/Hip',
                         'mpii/Knee', 'mpii/Ankle', 'mpii/Mean', 'mpii/Mean@0.1']
    assert res['mpii/Head'] == pytest.approx(200 / 3)
    assert res['mpii/Shoulder'] == pytest.approx(0.5 * (100 + 200 / 3))
    assert res['mpii/Ankle'] == 100. and res['mpii/Elbow'] == 100.
    # 14 joints x 3 persons - 1 unlabelled = 41 counted; 2 misses
    assert res['mpii/Mean'] == pytest.approx(100 * 39 / 41)
    assert res['mpii/Mean@0.1'] == pytest.approx(100 * 38 / 41)  # the 0.5 head hit drops out


def test_predictions_are_shifted_to_matlab_pixels(tmp_path):
    """Predictions equal to the 1-based GT values are 1 px off in x and y after the +1:
    sqrt(2) px = 0.236 head sizes, a hit at 0.5 and a miss at 0.11."""
    pytest.importorskip('scipy')
    gt, visible, headboxes = _gt()
    path = str(tmp_path / 'gt_valid.mat')
    _write_mat(path, gt, visible, headboxes)
    metric = MpiiPCKhMetric(gt_file=path)
    metric.process(None, _samples(gt, range(3)))
    res = metric.compute_metrics(metric.results)
    assert res['Mean'] == pytest.approx(100.) and res['Mean@0.1'] == 0.
    metric = MpiiPCKhMetric(gt_file=path)
    metric.process(None, _samples(gt - 1, range(3)))
    assert metric.compute_metrics(metric.results)['Mean@0.1'] == pytest.approx(100.)


def test_prediction_count_must_equal_gt_count(tmp_path):
    pytest.importorskip('scipy')
    gt, visible, headboxes = _gt()
    path = str(tmp_path / 'gt_valid.mat')
    _write_mat(path, gt, visible, headboxes)
    metric = MpiiPCKhMetric(gt_file=path)
    metric.process(None, _samples(gt[:2], [0, 2]))
    with pytest.raises(DataError, match=r'2 predicted persons for 3 GT persons.*missing \[1\]'):
        metric.compute_metrics(metric.results)
    metric = MpiiPCKhMetric(gt_file=path)
    metric.process(None, _samples(np.concatenate([gt, gt[:1]]), [0, 1, 2, 7]))
    with pytest.raises(DataError, match=r'out of range \[7\]'):
        metric.compute_metrics(metric.results)


def test_json_headboxes_with_the_bundled_dataset():
    """No scipy needed: GT joints from the dataset's valid.json, head boxes from the JSON file;
    predicting the dataset's own 0-based keypoints is perfect at every threshold."""
    ds = MPIIDataset(ann_file='annot/valid.json', data_root=DATA_ROOT,
                     gt_file='annot/headboxes_valid.json')
    metric = MpiiPCKhMetric()
    metric.dataset_meta = ds.metainfo
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    metric.process(None, [dict(id=info['id'], pred_keypoints=info['keypoints'])
                          for info in reversed(infos)])
    res = metric.compute_metrics(metric.results)
    assert all(v == pytest.approx(100.) for v in res.values()), res
    # head sizes: 0.6 x the neck-to-head-top distance of each person
    with open(osp.join(DATA_ROOT, 'annot', 'valid.json')) as f:
        joints = np.array([a['joints'] for a in json.load(f)])
    sizes = 0.6 * np.linalg.norm(joints[:, 9] - joints[:, 8], axis=1)
    # moving every wrist by 0.4 head sizes keeps it; by 0.6 loses it
    for factor, wrist in ((0.4, 100.), (0.6, 0.)):
        metric = MpiiPCKhMetric()
        metric.dataset_meta = ds.metainfo
        samples = []
        for info, size in zip(infos, sizes):
            pred = info['keypoints'].astype(np.float64).copy()
            pred[[10, 15], 0] += factor * size
            samples.append(dict(id=info['id'], pred_keypoints=pred))
        metric.process(None, samples)
        assert metric.compute_metrics(metric.results)['Wrist'] == pytest.approx(wrist)


def test_config_errors():
    metric = MpiiPCKhMetric()
    metric.dataset_meta = dict()
    metric.process(None, [dict(id=0, pred_keypoints=np.zeros((16, 2)))])
    with pytest.raises(ConfigError, match='no gt_file given'):
        metric.compute_metrics(metric.results)
    with pytest.raises(ConfigError, match='must be a .mat'):
        MpiiPCKhMetric(gt_file='gt.txt').compute_metrics([])
    with pytest.raises(ValueError, match='expected \\(16, 2\\)'):
        MpiiPCKhMetric().process(None, [dict(id=0, pred_keypoints=np.zeros((17, 2)))])
    with pytest.raises(ValueError, match='low_thr_index'):
        MpiiPCKhMetric(low_thr_index=51)
