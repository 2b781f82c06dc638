"""CrowdPose AP (crowdposetools rules) on hand-built cases and faster_coco_eval's example."""
from pathlib import Path

import numpy as np
import pytest

from hrnet_train.evaluation.functional import CROWDPOSE_STAT_NAMES, evaluate_crowdpose_results
from hrnet_train.evaluation.functional.crowdpose import CROWDPOSE_SIGMAS, split_by_crowd_index

FCE = Path(__file__).resolve().parents[2] / 'data' / 'cocoeval' / 'faster_coco_eval'
K = 14


def _person(x0, y0, w=100., h=100.):
    """(K, 2) keypoints spread over the box [x0, x0 + w] x [y0, y0 + h]."""
    t = np.linspace(0.1, 0.9, K)
    return np.stack([x0 + t * w, y0 + t[::-1] * h], axis=1)


def _gt(images):
    """images: [(image id, crowdIndex, [(ann id, x0, y0, num_keypoints, area?), ...])]."""
    anns = []
    for img_id, _, people in images:
        for ann_id, x0, y0, nk, *area in people:
            kpts = np.concatenate([_person(x0, y0), np.full((K, 1), 2. if nk else 0.)], 1)
            ann = dict(id=ann_id, image_id=img_id, category_id=1, iscrowd=0,
                       bbox=[x0, y0, 100., 100.], num_keypoints=nk,
                       keypoints=kpts.reshape(-1).tolist())
            if area:
                ann['area'] = area[0]
            anns.append(ann)
    return dict(images=[dict(id=i, file_name=f'{i}.jpg', width=640, height=480, crowdIndex=c)
                        for i, c, _ in images],
                annotations=anns, categories=[dict(id=1, name='person')])


def _pred(img_id, x0, y0, score=1.0, offset=0.):
    kpts = np.concatenate([_person(x0, y0) + offset, np.ones((K, 1))], 1)
    return dict(image_id=img_id, category_id=1, keypoints=kpts.reshape(-1).tolist(), score=score)


# easy (0.1): one person and one without labelled keypoints (ignored); medium (0.5): one person;
# hard (0.9): two people, only one predicted.
THREE_BUCKETS = _gt([(1, 0.1, [(11, 10., 10., K), (12, 300., 10., 0)]),
                     (2, 0.5, [(21, 10., 10., K)]),
                     (3, 0.9, [(31, 10., 10., K), (32, 300., 200., K)])])


def test_perfect_predictions_score_one_in_every_bucket():
    preds = [_pred(1, 10., 10.), _pred(2, 10., 10.), _pred(3, 10., 10.), _pred(3, 300., 200.)]
    stats = evaluate_crowdpose_results(THREE_BUCKETS, preds)
    assert list(stats) == list(CROWDPOSE_STAT_NAMES)
    assert stats == pytest.approx({name: 1.0 for name in CROWDPOSE_STAT_NAMES})


def test_missing_prediction_lowers_hard_and_overall_ap_by_the_recall_cut():
    preds = [_pred(1, 10., 10., 0.9), _pred(2, 10., 10., 0.8), _pred(3, 10., 10., 0.7)]
    stats = evaluate_crowdpose_results(THREE_BUCKETS, preds)
    # all 4 people: 3 true positives, no false positive -> precision 1 up to recall 0.75, i.e.
    # on 76 of the 101 recall thresholds (0, 0.01, ..., 0.75)
    assert stats['AP'] == pytest.approx(76 / 101)
    assert stats['AP .5'] == pytest.approx(76 / 101)
    assert stats['AR'] == pytest.approx(0.75)
    assert stats['AR .75'] == pytest.approx(0.75)
    assert stats['AP(E)'] == 1.0 and stats['AP(M)'] == 1.0
    # hard alone: recall 0.5 -> 51 / 101 = 0.50495..., rounded to 4 decimals like crowdposetools
    assert stats['AP(H)'] == 0.505


def test_oks_uses_053_box_area_not_the_area_field():
    # A GT 'area' 100x too large would make every OKS ~1; crowdposetools ignores the field.
    gt = _gt([(1, 0.1, [(11, 10., 10., K, 530000.)])])
    offset = 5.75
    area = 0.53 * 100 * 100
    d2 = 2 * offset ** 2
    oks = np.mean(np.exp(-d2 / (2 * area * (2 * CROWDPOSE_SIGMAS) ** 2)))
    assert 0.75 < oks < 0.8  # matched at IoU thresholds .5 ... .75, missed at .8 ... .95
    stats = evaluate_crowdpose_results(gt, [_pred(1, 10., 10., offset=offset)])
    assert stats['AP'] == pytest.approx(0.6)
    assert stats['AP .75'] == pytest.approx(1.0)  # pycocotools: tp / (tp + fp + eps)
    assert stats['AR'] == pytest.approx(0.6)
    assert stats['AP(E)'] == pytest.approx(0.6)


def test_empty_bucket_scores_minus_one():
    gt = _gt([(1, 0.1, [(11, 10., 10., K)])])
    stats = evaluate_crowdpose_results(gt, [_pred(1, 10., 10.)])
    assert (stats['AP(E)'], stats['AP(M)'], stats['AP(H)']) == (1.0, -1.0, -1.0)


def test_buckets_split_at_02_and_08():
    images = [dict(id=i, crowdIndex=c) for i, c in enumerate([0.19, 0.2, 0.79, 0.8, 1.0])]
    assert split_by_crowd_index(images) == ([0], [1, 2], [3, 4])
    with pytest.raises(ValueError, match='image id 7 has no "crowdIndex"'):
        split_by_crowd_index([dict(id=7)])


def test_faster_coco_eval_crowdpose_example():
    # MiXaiLL76/faster_coco_eval tests/test_crowdpose.py, iouType='keypoints_crowd',
    # use_area=False, CrowdPose sigmas: its regression pin (places=10).
    expected = dict(zip(CROWDPOSE_STAT_NAMES, [
        0.7877215935879303, 0.9881188118811886, 0.7314356435643564, 0.8222222222222223, 1.0,
        0.7777777777777778, 1.0, 0.9802, 0.4116]))
    stats = evaluate_crowdpose_results(FCE / 'example_crowdpose_val.json',
                                       FCE / 'example_crowdpose_preds.json')
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, abs=1e-10), name
