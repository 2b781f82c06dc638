"""compute_oks against hand-worked values and pycocotools' computeOks."""
import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrnet_train.evaluation.functional import COCO_KEYPOINT_SIGMAS, compute_oks


def _pose(seed=0, k=17):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 100, size=(k, 2))


def test_identical_poses_give_one():
    g = _pose()
    assert compute_oks(g, g, 10000.0) == 1.0
    oks = compute_oks(g, np.stack([g, g]), 10000.0, np.array([5000.0, 20000.0]))
    np.testing.assert_array_equal(oks, [1.0, 1.0])


def test_one_shifted_keypoint_hand_value():
    g = _pose()
    d = g.copy()
    d[0, 0] += 3.0  # nose (sigma 0.026) moved 3 px
    # e = 3^2 / (2 * 0.026)^2 / 10000 / 2 = 0.166420118; oks = (16 + exp(-e)) / 17
    assert compute_oks(g, d, 10000.0) == pytest.approx(0.9909817911335294, abs=1e-12)
    # the scale is the mean of both areas: (10000 + 30000) / 2 halves e
    assert compute_oks(g, d, 10000.0, 30000.0) == pytest.approx(0.9953034023131951, abs=1e-12)


def test_custom_sigmas_five_keypoints():
    g = _pose(k=5)
    d = g.copy()
    d[2, 1] -= 2.0
    # e = 2^2 / (2 * 0.3)^2 / 400 / 2 = 0.0138889; oks = (4 + exp(-e)) / 5
    oks = compute_oks(g, d, 400.0, sigmas=[.1, .2, .3, .4, .5])
    assert oks == pytest.approx(0.9972414233487832, abs=1e-12)
    with pytest.raises(ValueError, match='sigmas'):
        compute_oks(g, d, 400.0)  # 5 keypoints need explicit sigmas
    with pytest.raises(ValueError, match='sigmas'):
        compute_oks(g, d, 400.0, sigmas=[.1, .2])


def test_vis_thr_uses_keypoints_confident_in_both():
    g = np.concatenate([_pose(), np.ones((17, 1))], axis=1)
    d = g.copy()
    d[0, :2] += 50.0  # far off, but its score is low -> excluded
    d[0, 2] = 0.1
    assert compute_oks(g, d, 10000.0, vis_thr=0.2) == pytest.approx(1.0)
    assert compute_oks(g, d, 10000.0) < 0.95  # without the threshold it counts
    g2 = g.copy()
    g2[:, 2] = 0.0  # nothing confident in the reference -> OKS 0
    assert compute_oks(g2, d, 10000.0, vis_thr=0.2) == 0.0
    with pytest.raises(ValueError, match='vis_thr'):
        compute_oks(g[:, :2], d, 10000.0, vis_thr=0.2)


def test_matches_pycocotools_compute_oks():
    """With the GT area for both poses, compute_oks is COCOeval.computeOks (all GT visible)."""
    rng = np.random.default_rng(0)
    g = rng.uniform(20, 200, size=(17, 2))
    dets = g[None] + rng.normal(0, 4, size=(3, 17, 2))
    area = 5000.0
    gt = dict(images=[dict(id=1, width=300, height=300)],
              categories=[dict(id=1, name='person')],
              annotations=[dict(id=1, image_id=1, category_id=1, iscrowd=0, area=area,
                                bbox=[10, 10, 200, 200], num_keypoints=17,
                                keypoints=np.concatenate([g, np.full((17, 1), 2)], 1)
                                .reshape(-1).tolist())])
    res = [dict(image_id=1, category_id=1, score=1.0 - 0.1 * i,
                keypoints=np.concatenate([d, np.ones((17, 1))], 1).reshape(-1).tolist())
           for i, d in enumerate(dets)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(res), 'keypoints')
        ev.params.kpt_oks_sigmas = COCO_KEYPOINT_SIGMAS
        ev.evaluate()
    ref = ev.ious[(1, 1)][:, 0]  # (D,) sorted by score, which is the input order here
    np.testing.assert_allclose(compute_oks(g, dets, area), ref, rtol=0, atol=1e-12)
