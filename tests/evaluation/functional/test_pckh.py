"""The MPII PCKh maths against hand-computed values and a restatement of the official evaluate()
(leoxiaobin/deep-high-resolution-net.pytorch:lib/dataset/mpii.py)."""
import json
import sys

import numpy as np
import pytest

from hrnet_train.evaluation.functional.pckh import (
    MPII_JOINT_SHORT_NAMES,
    MPII_PCKH_TABLE_NAMES,
    compute_head_sizes,
    evaluate_mpii_pckh,
    format_mpii_pckh_table,
    load_mpii_gt_json,
    load_mpii_gt_mat,
    load_mpii_headboxes_json,
    pckh_thresholds,
)
from hrnet_train.utils.errors import DataError


def _hand_case():
    """Two persons with head sizes 30 and 6 (0.6 x diagonals 50 and 10), GT at the origin.

    Person 0: head_top (9) off by 15 px = 0.5 head sizes (a hit: <=), l_shoulder (13) by 16 px
    (miss), pelvis (6) by 100 px (miss, but the Mean leaves pelvis out), r_wrist (10) by 3.15 px
    = 0.105 head sizes (a hit at 0.5 and 0.11, a miss at 0.10).
    Person 1: head_top by 3 px = 0.5 (hit), r_shoulder (12) by 4 px (miss), both ankles (0, 5)
    unlabelled with a huge error (not counted).
    """
    gt = np.zeros((2, 16, 2))
    pred = gt.copy()
    pred[0, 9] = [9, 12]      # 15 px
    pred[0, 13] = [16, 0]
    pred[0, 6] = [100, 0]
    pred[0, 10] = [3.15, 0]
    pred[1, 9] = [0, 3]
    pred[1, 12] = [4, 0]
    pred[1, [0, 5]] = 1e4
    visible = np.ones((2, 16))
    visible[1, [0, 5]] = 0
    headboxes = np.array([[[0, 0], [30, 40]], [[10, 10], [16, 18]]], dtype=np.float64)
    return pred, gt, visible, headboxes


def test_head_sizes():
    _, _, _, boxes = _hand_case()
    np.testing.assert_allclose(compute_head_sizes(boxes), [30., 6.])
    np.testing.assert_allclose(compute_head_sizes(boxes, sc_bias=1.0), [50., 10.])


def test_hand_computed_table():
    out = evaluate_mpii_pckh(*_hand_case())
    per_joint, count = out['per_joint'], out['count']
    np.testing.assert_array_equal(count, [1, 2, 2, 2, 2, 1] + [2] * 10)
    assert per_joint[9] == 100. and per_joint[13] == 50. and per_joint[12] == 50.
    assert per_joint[6] == 50. and per_joint[0] == 100. and per_joint[5] == 100.
    table = out['table']
    assert list(table) == list(MPII_PCKH_TABLE_NAMES)
    assert table['Head'] == 100. and table['Shoulder'] == 50.
    for name in ('Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle'):
        assert table[name] == 100.
    # 14 joints without pelvis and thorax: 26 labelled, 24 correct (the pelvis miss is masked;
    # counting pelvis and thorax would give 27 / 30 = 90)
    assert table['Mean'] == pytest.approx(100 * 24 / 26)
    # official row 11 = threshold 0.11: the two 0.5 head hits drop out, the 0.105 wrist stays
    assert pckh_thresholds()[11] == pytest.approx(0.11)
    assert table['Mean@0.1'] == pytest.approx(100 * 22 / 26)
    # mmpose row 10 = threshold 0.10: the wrist drops out too
    mm = evaluate_mpii_pckh(*_hand_case(), low_thr_index=10)['table']
    assert mm['Mean@0.1'] == pytest.approx(100 * 21 / 26)
    assert mm['Mean'] == table['Mean']


def _official_table(pred, gt, visible, headboxes, low_index=11):
    """The official evaluate() steps on the .mat layout, restated with masked arrays."""
    pos_pred_src = np.transpose(pred, [1, 2, 0])
    pos_gt_src = np.transpose(gt, [1, 2, 0])
    jnt_visible = np.transpose(visible, [1, 0])
    headboxes_src = np.transpose(headboxes, [1, 2, 0])
    uv_err = np.linalg.norm(pos_pred_src - pos_gt_src, axis=1)
    headsizes = np.linalg.norm(headboxes_src[1] - headboxes_src[0], axis=0) * 0.6
    scaled = uv_err / (headsizes * np.ones((len(uv_err), 1))) * jnt_visible
    jnt_count = np.sum(jnt_visible, axis=1)
    pckh = 100. * np.sum((scaled <= 0.5) * jnt_visible, axis=1) / jnt_count
    rng = np.arange(0, 0.5 + 0.01, 0.01)
    pck_all = np.stack([100. * np.sum((scaled <= t) * jnt_visible, axis=1) / jnt_count
                        for t in rng])
    pckh = np.ma.array(pckh, mask=False)
    pckh.mask[6:8] = True
    jnt_count = np.ma.array(jnt_count, mask=False)
    jnt_count.mask[6:8] = True
    ratio = jnt_count / np.sum(jnt_count).astype(np.float64)
    return dict(Head=pckh[9], Shoulder=.5 * (pckh[13] + pckh[12]), Elbow=.5 * (pckh[14] + pckh[11]),
                Wrist=.5 * (pckh[15] + pckh[10]), Hip=.5 * (pckh[3] + pckh[2]),
                Knee=.5 * (pckh[4] + pckh[1]), Ankle=.5 * (pckh[5] + pckh[0]),
                Mean=np.sum(pckh * ratio), **{'Mean@0.1': np.sum(pck_all[low_index] * ratio)})


def test_matches_the_official_steps_on_random_data():
    rng = np.random.default_rng(0)
    num = 200
    gt = rng.uniform(0, 500, (num, 16, 2))
    centre = rng.uniform(100, 400, (num, 1, 2))
    size = rng.uniform(20, 60, (num, 1, 1))
    headboxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    pred = gt + rng.normal(0, 12, gt.shape)
    visible = (rng.random((num, 16)) > 0.1).astype(np.float64)
    ours = evaluate_mpii_pckh(pred, gt, visible, headboxes)['table']
    official = _official_table(pred, gt, visible, headboxes)
    for name in MPII_PCKH_TABLE_NAMES:
        assert ours[name] == pytest.approx(float(official[name]), abs=1e-9), name
    assert 20 < ours['Mean'] < 95  # a non-trivial case


def test_nan_prediction_is_a_miss_and_bad_shapes_raise():
    pred, gt, visible, boxes = _hand_case()
    pred[0, 1] = np.nan
    out = evaluate_mpii_pckh(pred, gt, visible, boxes)
    assert out['per_joint'][1] == 50.
    with pytest.raises(ValueError, match=r'pred: expected shape \(N, 16, 2\)'):
        evaluate_mpii_pckh(pred[:, :15], gt[:, :15], visible[:, :15], boxes)
    with pytest.raises(ValueError, match='headboxes'):
        evaluate_mpii_pckh(pred, gt, visible, boxes[:, :1])


def test_table_format():
    text = format_mpii_pckh_table(evaluate_mpii_pckh(*_hand_case())['table'])
    lines = text.splitlines()
    assert lines[0] == ('| Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | '
                        'Mean@0.1 |')
    assert lines[2].startswith('| hrnet | 100.000 | 50.000 | 100.000 |')


def _savemat_real_layout(path, gt, visible, headboxes, names=MPII_JOINT_SHORT_NAMES):
    from scipy.io import savemat
    cells = np.empty((1, 16), dtype=object)
    cells[0, :] = list(names)
    savemat(path, dict(dataset_joints=cells, jnt_missing=(1 - visible).T,
                       pos_gt_src=np.transpose(gt, [1, 2, 0]),
                       headboxes_src=np.transpose(headboxes, [1, 2, 0])))


def test_gt_mat_round_trip(tmp_path):
    pytest.importorskip('scipy')
    _, gt, visible, boxes = _hand_case()
    gt = gt + np.arange(32).reshape(16, 2)  # distinct joints to catch a transposition
    path = tmp_path / 'gt_valid.mat'
    _savemat_real_layout(str(path), gt, visible, boxes)
    loaded = load_mpii_gt_mat(str(path))
    np.testing.assert_array_equal(loaded['gt'], gt)
    np.testing.assert_array_equal(loaded['visible'], visible > 0)
    np.testing.assert_array_equal(loaded['headboxes'], boxes)


def test_gt_mat_errors(tmp_path, monkeypatch):
    pytest.importorskip('scipy')
    _, gt, visible, boxes = _hand_case()
    bad = tmp_path / 'bad_order.mat'
    _savemat_real_layout(str(bad), gt, visible, boxes, names=MPII_JOINT_SHORT_NAMES[::-1])
    with pytest.raises(DataError, match='dataset_joints is .* expected the MPII order'):
        load_mpii_gt_mat(str(bad))
    with pytest.raises(DataError, match='does not exist'):
        load_mpii_gt_mat(str(tmp_path / 'none.mat'))
    junk = tmp_path / 'junk.mat'
    junk.write_text('not a mat file')
    with pytest.raises(DataError, match='not a readable .mat file'):
        load_mpii_gt_mat(str(junk))
    monkeypatch.setitem(sys.modules, 'scipy.io', None)  # as if scipy were not installed
    with pytest.raises(ImportError, match='pip install scipy'):
        load_mpii_gt_mat(str(bad))


def test_json_gt(tmp_path):
    ann = [dict(image='a.jpg', center=[0, 0], scale=1, joints=[[i, 2 * i] for i in range(16)],
                joints_vis=[1] * 15 + [0]), dict(image='b.jpg', center=[0, 0], scale=1)]
    (tmp_path / 'valid.json').write_text(json.dumps(ann))
    (tmp_path / 'hb.json').write_text(json.dumps([[[0, 0], [3, 4]], [[1, 1], [2, 2]]]))
    gt = load_mpii_gt_json(str(tmp_path / 'valid.json'), str(tmp_path / 'hb.json'))
    assert gt['gt'][0, 15].tolist() == [15, 30] and gt['visible'][0].sum() == 15
    assert not gt['visible'][1].any()  # no joints: nothing labelled
    np.testing.assert_array_equal(compute_head_sizes(gt['headboxes']), [3., 0.6 * 2 ** .5])
    (tmp_path / 'one.json').write_text(json.dumps([[[0, 0], [3, 4]]]))
    with pytest.raises(DataError, match='has 1 boxes but .* has 2 persons'):
        load_mpii_gt_json(str(tmp_path / 'valid.json'), str(tmp_path / 'one.json'))


@pytest.mark.parametrize('content,match', [
    ('nope', 'is not JSON'), ('[]', 'non-empty list'),
    ('[[[0, 0], [1, 1]], [0, 1, 2]]', r'entry 1 is \[0, 1, 2\]'),
])
def test_headbox_json_errors(tmp_path, content, match):
    path = tmp_path / 'hb.json'
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        load_mpii_headboxes_json(str(path))
