"""CrowdPoseMetric on the bundled CrowdPose images: GT predictions, a missing person, config."""
import json
from pathlib import Path

import numpy as np
import pytest

from hrnet_train.datasets import CrowdPoseDataset
from hrnet_train.evaluation.functional import CROWDPOSE_STAT_NAMES, evaluate_crowdpose_results
from hrnet_train.evaluation.metrics import CrowdPoseMetric
from hrnet_train.registry import METRICS
from hrnet_train.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3] / 'data' / 'crowdpose_tiny'
GT = ROOT / 'json' / 'test_crowdpose.json'


@pytest.fixture(scope='module')
def dataset():
    return CrowdPoseDataset(data_root=str(ROOT), ann_file='json/test_crowdpose.json',
                            data_prefix=dict(img='images/'), test_mode=True)


def _samples(dataset, skip=()):
    out = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if info['id'] in skip:
            continue
        x1, y1, x2, y2 = info['bbox']
        out.append(dict(img_id=info['img_id'], id=info['id'], pred_keypoints=info['keypoints'],
                        pred_keypoint_scores=np.ones(14, np.float32), bbox_score=1.0,
                        bbox_scale=np.array([(x2 - x1) * 1.25, (y2 - y1) * 1.25])))
    return out


def _evaluate(dataset, samples, **kwargs):
    metric = METRICS.build(dict(type='CrowdPoseMetric', **kwargs))
    metric.dataset_meta = dataset.metainfo  # ann_file from the dataset, CrowdPose sigmas
    metric.process(None, samples)
    return metric.evaluate(size=len(samples))


def test_gt_as_predictions(dataset):
    stats = _evaluate(dataset, _samples(dataset))
    assert list(stats) == [f'crowdpose/{n}' for n in CROWDPOSE_STAT_NAMES]
    # both images have crowdIndex 0.33 / 0.39: medium; easy and hard are empty (-1)
    expected = dict(zip(CROWDPOSE_STAT_NAMES, [1.] * 6 + [-1., 1., -1.]))
    assert stats == pytest.approx({f'crowdpose/{k}': v for k, v in expected.items()})


def test_missing_person_equals_the_functional_value(dataset):
    stats = _evaluate(dataset, _samples(dataset, skip={147481}), nms_mode='none',
                      score_mode='bbox')
    # 3 of the 4 people with labelled keypoints found, no false positive: AP = 76 / 101
    assert stats['crowdpose/AP'] == pytest.approx(76 / 101)
    assert stats['crowdpose/AR'] == pytest.approx(0.75)
    assert stats['crowdpose/AP(M)'] == 0.7525  # np.round(76 / 101, 4)
    preds = [dict(image_id=s['img_id'], category_id=1, score=1.0,
                  keypoints=np.concatenate([s['pred_keypoints'], np.ones((14, 1))], 1)
                  .reshape(-1).tolist()) for s in _samples(dataset, skip={147481})]
    direct = evaluate_crowdpose_results(json.loads(GT.read_text()), preds)
    assert stats == pytest.approx({f'crowdpose/{k}': v for k, v in direct.items()})


def test_config_errors():
    with pytest.raises(ConfigError, match='use_area is not an option'):
        CrowdPoseMetric(use_area=True)
    with pytest.raises(ConfigError, match='first <= second'):
        CrowdPoseMetric(crowd_index_thresholds=(0.8, 0.2))
    assert CrowdPoseMetric().prefix == 'crowdpose'
