"""Top-k Accuracy: hand values, ties, errors, and a run through mmengine's Evaluator."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

from hrnet_train.evaluation.metrics.accuracy import Accuracy, rank_of_label, topk_accuracy
from hrnet_train.registry import METRICS
from hrnet_train.utils.errors import ConfigError, DataError

# Five samples, three classes. Ranks of the ground truth (classes ranked before it):
SCORES = np.array([
    [0.1, 0.6, 0.3],  # gt 1: best -> rank 0
    [0.5, 0.2, 0.3],  # gt 2: second -> rank 1
    [0.2, 0.3, 0.5],  # gt 0: last -> rank 2
    [0.4, 0.4, 0.2],  # gt 1: tied with class 0, the lower index ranks first -> rank 1
    [0.4, 0.4, 0.2],  # gt 0: the same tie, now in its favour -> rank 0
], np.float32)
LABELS = np.array([1, 2, 0, 1, 0])


def _samples(scores=SCORES, labels=LABELS):
    return [BaseDataElement(gt_label=torch.tensor([int(y)]), pred_score=torch.from_numpy(s),
                            pred_label=torch.tensor([int(s.argmax())]),
                            metainfo=dict(img_path=f'{i}.jpg'))
            for i, (s, y) in enumerate(zip(scores, labels))]


def test_hand_values_and_ties():
    np.testing.assert_array_equal(rank_of_label(SCORES, LABELS), [0, 1, 2, 1, 0])
    # top-1: samples 0 and 4 = 40 %; top-2: all but sample 2 = 80 %; top-3: 100 %
    assert topk_accuracy(SCORES, LABELS, (1, 2, 3)) == pytest.approx([40.0, 80.0, 100.0])
    metric = METRICS.build(dict(type='Accuracy', topk=(1, 2, 3)))
    assert isinstance(metric, Accuracy)
    metric.process(None, [s.to_dict() for s in _samples()])
    assert metric.results == [0, 1, 2, 1, 0]  # only the ranks are kept (and collected)
    assert metric.evaluate(5) == {'accuracy/top1': pytest.approx(40.0),
                                  'accuracy/top2': pytest.approx(80.0),
                                  'accuracy/top3': pytest.approx(100.0)}


def test_through_mmengine_evaluator_across_batches():
    evaluator = Evaluator(metrics=Accuracy(topk=(1, 2)))
    samples = _samples()
    evaluator.process(samples[:2])  # the model's predict output, two batches
    evaluator.process(samples[2:])
    assert evaluator.evaluate(5) == {'accuracy/top1': pytest.approx(40.0),
                                     'accuracy/top2': pytest.approx(80.0)}


def test_agrees_with_torch_topk_without_ties():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(200, 10, generator=g).softmax(1)
    labels = torch.randint(0, 10, (200,), generator=g)
    top5 = scores.topk(5, dim=1).indices  # mmpretrain's calculation
    for k in (1, 5):
        expected = 100.0 * (top5[:, :k] == labels[:, None]).any(1).float().mean().item()
        assert topk_accuracy(scores.numpy(), labels.numpy(), (k,))[0] == pytest.approx(expected)
    metric = Accuracy()  # default topk=(1, 5)
    metric.process(None, [dict(gt_label=y[None], pred_score=s) for s, y in zip(scores, labels)])
    result = metric.evaluate(200)
    assert sorted(result) == ['accuracy/top1', 'accuracy/top5']
    assert result['accuracy/top5'] == pytest.approx(topk_accuracy(scores, labels, (5,))[0])


def test_topk_larger_than_the_number_of_classes():
    metric = Accuracy(topk=(1, 5))
    with pytest.raises(ConfigError, match=r'top-5 needs at least 5 classes but pred_score has '
                                          r'3; set the evaluator topk'):
        metric.process(None, [s.to_dict() for s in _samples()])
    with pytest.raises(ValueError, match='top-5 accuracy needs at least 5 classes'):
        topk_accuracy(SCORES, LABELS, (5,))


def test_topk_checked_against_the_dataset_classes():
    meta = dict(classes=('a', 'b', 'c'))
    Accuracy(topk=(1, 3)).check_dataset_meta(meta)  # fits
    Accuracy(topk=(1, 5)).check_dataset_meta({})  # no classes named: checked on the first batch
    with pytest.raises(ConfigError, match=r'^val_evaluator Accuracy topk=\(1, 2, 5\): top-5 '
                                          r'needs at least 5 classes but the val dataset has 3; '
                                          r'set val_evaluator.topk=\(1, 2\)$'):
        Accuracy(topk=(1, 2, 5)).check_dataset_meta(meta, split='val dataset',
                                                    key='val_evaluator')
    with pytest.raises(ConfigError, match=r'set evaluator.topk=1$'):
        Accuracy(topk=5).check_dataset_meta(meta)


def test_bad_arguments_and_samples():
    for bad in (0, (), (1, 1), (1, 2.5), True):
        with pytest.raises(ConfigError, match='topk'):
            Accuracy(topk=bad)
    assert Accuracy(topk=3).topk == (3,)
    metric = Accuracy(topk=1)
    with pytest.raises(DataError, match=r'7.jpg: gt_label 3 is outside \[0, 3\)'):
        metric.process(None, [dict(gt_label=torch.tensor([3]), pred_score=torch.ones(3),
                                   img_path='7.jpg')])
    with pytest.raises(KeyError, match='no gt_label'):
        metric.process(None, [dict(pred_score=torch.ones(3))])


def test_pred_label_only_gives_top1():
    metric = Accuracy(topk=1)
    metric.process(None, [dict(gt_label=torch.tensor([1]), pred_label=torch.tensor([1])),
                          dict(gt_label=torch.tensor([0]), pred_label=torch.tensor([2]))])
    assert metric.evaluate(2) == {'accuracy/top1': pytest.approx(50.0)}
    with pytest.raises(ConfigError, match='top-1 only'):
        Accuracy(topk=(1, 5)).process(None, [dict(gt_label=torch.tensor([1]),
                                                  pred_label=torch.tensor([1]))])


def test_nan_ground_truth_score_is_wrong_and_empty_is_zero():
    scores = np.array([[np.nan, 0.2, 0.1], [0.1, np.nan, 0.8]])
    # sample 0: gt score NaN -> wrong even at top-3; sample 1: NaN elsewhere never outranks
    np.testing.assert_array_equal(rank_of_label(scores, [0, 2]), [3, 0])
    assert topk_accuracy(scores, [0, 2], (1, 3)) == pytest.approx([50.0, 50.0])
    assert Accuracy().compute_metrics([]) == {'top1': 0.0, 'top5': 0.0}
