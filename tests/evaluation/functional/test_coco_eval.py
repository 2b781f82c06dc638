"""evaluate_coco_results against published pycocotools outputs on bundled data."""
import contextlib
import copy
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrnet_train.evaluation.functional import (
    BOX_STAT_NAMES,
    KEYPOINT_STAT_NAMES,
    evaluate_coco_results,
    load_coco_gt,
)

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / 'tests' / 'data' / 'cocoeval'
COCO_TINY = ROOT / 'data' / 'coco_tiny' / 'annotations' / 'test_coco.json'


def _printed_stats(iou_type):
    """The 3-decimal stats of one section of cocoapi's val2014_fake_eval_res.txt."""
    text = (DATA / 'cocoapi' / 'val2014_fake_eval_res.txt').read_text()
    section = text.split(f'type={iou_type}')[1].split('-----')[0]
    return [float(v) for v in re.findall(r'\] = (-?[0-9.]+)', section)]


@pytest.mark.parametrize('iou_type,res_file', [
    ('bbox', 'instances_val2014_fakebbox100_results.json'),
    ('segm', 'instances_val2014_fakesegm100_results.json'),
])
def test_reproduces_cocoapi_printed_evaluation(iou_type, res_file):
    """fce's val2014 GT of the 100 demo images reproduces cocoapi's printed bbox/segm numbers.

    (The keypoint section needs the val2014 person-keypoints GT, which is not bundled.)
    """
    stats = evaluate_coco_results(DATA / 'faster_coco_eval' / 'instances_val2014_100.json',
                                  DATA / 'cocoapi' / res_file, iou_type)
    assert list(stats) == list(BOX_STAT_NAMES)
    printed = _printed_stats(iou_type)
    assert len(printed) == 12
    assert [round(v, 3) for v in stats.values()] == printed
    if iou_type == 'bbox':
        assert stats['AP'] == pytest.approx(0.505, abs=5e-4)


def test_keypoints_match_faster_coco_eval_published_stats():
    # fce tests/test_keypoints.py asserts these pycocotools stats on the same files
    expected = [0.5048844884488449, 0.7227722772277227, 0.6336633663366337, 0.46633663366336636,
                0.7504950495049505, 0.5181818181818182, 0.7272727272727273, 0.6363636363636364,
                0.4666666666666666, 0.75]
    kp = DATA / 'faster_coco_eval' / 'keypoints_dataset'
    stats = evaluate_coco_results(kp / 'gt_dataset.json', kp / 'dt_dataset.json', 'keypoints')
    assert list(stats) == list(KEYPOINT_STAT_NAMES)
    np.testing.assert_allclose(list(stats.values()), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('case,expected_ap,expected_ap_l', [
    ('case1_bbox_keypoint_oks_nms', 0.5287458745874587, 0.6219554455445544),
    ('case2_bbox_rle_oks_nms', 0.5004950495049505, 0.5814108910891089),
    ('case3_bbox_keypoint_soft_oks_nms_thr0.9', 0.17073707370737073, 0.29315181518151806),
])
def test_mmpose_alignment_results(case, expected_ap, expected_ap_l):
    """The derived results files give mmpose's test_topdown_alignment targets."""
    stats = evaluate_coco_results(
        COCO_TINY, DATA / 'derived' / 'mmpose_topdown_alignment' / f'{case}.keypoints.json',
        'keypoints')
    assert stats['AP'] == pytest.approx(expected_ap, abs=1e-12)
    assert stats['AP (L)'] == pytest.approx(expected_ap_l, abs=1e-12)


def _five_keypoint_gt():
    gt = json.loads(COCO_TINY.read_text())
    for ann in gt['annotations']:
        ann['keypoints'] = ann['keypoints'][:15]
        ann['num_keypoints'] = int(sum(v > 0 for v in ann['keypoints'][2::3]))
    for cat in gt['categories']:
        cat['keypoints'] = cat['keypoints'][:5]
        cat['skeleton'] = []
    return gt


def test_custom_sigmas_five_keypoints():
    gt = _five_keypoint_gt()
    sigmas = [0.05, 0.05, 0.05, 0.08, 0.08]
    rng = np.random.default_rng(0)
    results = []
    for ann in gt['annotations']:
        if ann['num_keypoints'] == 0:
            continue
        k = np.array(ann['keypoints'], dtype=np.float64).reshape(5, 3)
        k[:, :2] += rng.normal(0, 3, size=(5, 2))
        k[:, 2] = 1.0
        results.append(dict(image_id=ann['image_id'], category_id=1, score=0.9,
                            keypoints=k.reshape(-1).tolist()))
    stats = evaluate_coco_results(gt, results, 'keypoints', sigmas)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), 'keypoints')
        ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    np.testing.assert_array_equal(list(stats.values()), ev.stats)
    assert 0.0 < stats['AP'] < 1.0
    with pytest.raises(ValueError, match='sigmas'):
        evaluate_coco_results(gt, results, 'keypoints')  # COCO's 17 do not fit 5 keypoints
    with pytest.raises(ValueError, match='keypoint values'):
        evaluate_coco_results(COCO_TINY, results, 'keypoints')


def test_use_area_false_scales_by_box():
    gt = json.loads(COCO_TINY.read_text())
    results = []
    for ann in gt['annotations']:
        k = np.array(ann['keypoints'], dtype=np.float64).reshape(17, 3)
        k[:, :2] += 2.0
        results.append(dict(image_id=ann['image_id'], category_id=1, score=1.0,
                            keypoints=k.reshape(-1).tolist()))
    with_area = evaluate_coco_results(gt, results, 'keypoints')
    without = evaluate_coco_results(gt, results, 'keypoints', use_area=False)
    assert with_area != without
    # with every GT area equal to 0.53 * box area, the two modes agree
    for ann in gt['annotations']:
        ann['area'] = ann['bbox'][2] * ann['bbox'][3] * 0.53
    assert (evaluate_coco_results(gt, results, 'keypoints')
            == evaluate_coco_results(gt, results, 'keypoints', use_area=False))


def test_bad_input_errors(tmp_path):
    res = DATA / 'cocoapi' / 'instances_val2014_fakebbox100_results.json'
    with pytest.raises(FileNotFoundError, match='gt: no such file'):
        evaluate_coco_results(tmp_path / 'missing.json', res, 'bbox')
    with pytest.raises(FileNotFoundError, match='results: no such file'):
        evaluate_coco_results(COCO_TINY, tmp_path / 'missing.json', 'bbox')
    with pytest.raises(ValueError, match='empty'):
        evaluate_coco_results(COCO_TINY, [], 'keypoints')
    with pytest.raises(ValueError, match='not in the GT'):
        evaluate_coco_results(COCO_TINY, res, 'bbox')  # val2014 ids vs the coco_tiny GT
    with pytest.raises(ValueError, match='iou_type'):
        evaluate_coco_results(COCO_TINY, res, 'boxes')
    with pytest.raises(ValueError, match="'keypoints'"):
        evaluate_coco_results(COCO_TINY, [dict(image_id=785, category_id=1, score=1.0,
                                               bbox=[0, 0, 1, 1])], 'keypoints')
    bad = tmp_path / 'bad.json'
    bad.write_text('{not json')
    with pytest.raises(ValueError, match='not valid JSON'):
        evaluate_coco_results(COCO_TINY, bad, 'bbox')


def test_does_not_modify_inputs():
    gt = load_coco_gt(COCO_TINY)
    ann = gt.dataset['annotations'][0]
    results = [dict(image_id=ann['image_id'], category_id=1, score=1.0,
                    keypoints=list(ann['keypoints']))]
    before = copy.deepcopy(results)
    stats = evaluate_coco_results(gt, results, 'keypoints')
    assert results == before
    assert stats['AR'] == pytest.approx(1 / 12)  # one of the 12 persons with keypoints found
