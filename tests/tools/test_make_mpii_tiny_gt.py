"""tools/dataset_converters/make_mpii_tiny_gt.py reproduces the committed head-box file of
data/mpii_tiny, and its .mat output has the official gt_valid.mat layout."""
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / 'data' / 'mpii_tiny' / 'annot'


def _tool():
    name = '_tool_make_mpii_tiny_gt'
    spec = importlib.util.spec_from_file_location(
        name, ROOT / 'tools' / 'dataset_converters' / 'make_mpii_tiny_gt.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_rerun_matches_the_committed_headboxes(tmp_path):
    (tmp_path / 'annot').mkdir()
    shutil.copy(COMMITTED / 'valid.json', tmp_path / 'annot' / 'valid.json')
    _tool().main(['--root', str(tmp_path)])
    fresh = (tmp_path / 'annot' / 'headboxes_valid.json').read_text()
    assert fresh == (COMMITTED / 'headboxes_valid.json').read_text()
    boxes = np.array(json.loads(fresh))
    joints = np.array([a['joints'] for a in json.loads((COMMITTED / 'valid.json').read_text())])
    # the box spans upper_neck and head_top: its diagonal is their distance
    np.testing.assert_allclose(np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1),
                               np.linalg.norm(joints[:, 9] - joints[:, 8], axis=1), atol=1e-3)
    assert (boxes[:, 1] >= boxes[:, 0]).all()


def test_mat_output_has_the_official_layout(tmp_path):
    pytest.importorskip('scipy')
    from scipy.io import loadmat

    from hrnet_train.evaluation.functional.pckh import load_mpii_gt_json, load_mpii_gt_mat
    mat = tmp_path / 'gt_valid.mat'
    (tmp_path / 'annot').mkdir()
    shutil.copy(COMMITTED / 'valid.json', tmp_path / 'annot' / 'valid.json')
    _tool().main(['--root', str(tmp_path), '--mat', str(mat)])  # never writes into the repo
    raw = loadmat(str(mat))
    assert raw['pos_gt_src'].shape == (16, 2, 5) and raw['jnt_missing'].shape == (16, 5)
    assert raw['headboxes_src'].shape == (2, 2, 5)
    assert np.where(raw['dataset_joints'] == 'head')[1][0] == 9  # the official lookup
    from_mat = load_mpii_gt_mat(str(mat))
    from_json = load_mpii_gt_json(str(COMMITTED / 'valid.json'),
                                  str(COMMITTED / 'headboxes_valid.json'))
    np.testing.assert_array_equal(from_mat['visible'], from_json['visible'])
    np.testing.assert_allclose(from_mat['gt'], from_json['gt'])
    np.testing.assert_allclose(from_mat['headboxes'], from_json['headboxes'], atol=1e-4)
