"""CrossEntropyLoss with float (N, C) class-probability targets (Mixup / CutMix)."""
import math

import pytest
import torch
import torch.nn.functional as F

from hrnet_train.models.losses.cross_entropy import CrossEntropyLoss


def _logits(n=4, c=5, seed=0):
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed), requires_grad=True)


def test_by_hand():
    """-sum_c t_c log softmax(z)_c, averaged over samples."""
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # softmax (1/2, 1/2), (3/4, 1/4)
    targets = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    expected = (math.log(2) + 0.5 * (-math.log(0.75) - math.log(0.25))) / 2
    assert abs(float(CrossEntropyLoss()(logits, targets)) - expected) < 1e-6
    # label smoothing 0.2 on C = 2: t -> 0.8 t + 0.1
    smoothed = torch.tensor([[0.9, 0.1], [0.5, 0.5]])
    expected = (-(0.9 * math.log(0.5) + 0.1 * math.log(0.5))
                - 0.5 * (math.log(0.75) + math.log(0.25))) / 2
    assert abs(float(CrossEntropyLoss(label_smoothing=0.2)(logits, targets)) - expected) < 1e-6
    assert abs(float(CrossEntropyLoss()(logits, smoothed))
               - float(CrossEntropyLoss(label_smoothing=0.2)(logits, targets))) < 1e-6


@pytest.mark.parametrize('smoothing', [0.0, 0.1])
def test_one_hot_equals_integer_labels(smoothing):
    logits, labels = _logits(), torch.tensor([0, 3, 4, 1])
    loss = CrossEntropyLoss(label_smoothing=smoothing)
    torch.testing.assert_close(loss(logits, F.one_hot(labels, 5).float()), loss(logits, labels))


def test_ignore_index_does_not_apply():
    """Class 255 of 300 is a class: the integer path would drop it (ignore_index=255)."""
    logits, labels = _logits(2, 300), torch.tensor([255, 7])
    soft = CrossEntropyLoss()(logits, F.one_hot(labels, 300).float())
    torch.testing.assert_close(soft, F.cross_entropy(logits, labels))
    torch.testing.assert_close(CrossEntropyLoss()(logits, labels),
                               F.cross_entropy(logits[1:], labels[1:]))  # unchanged behaviour


def test_class_weight_weight_avg_factor_and_loss_weight():
    logits = _logits()
    targets = torch.softmax(torch.randn(4, 5, generator=torch.Generator().manual_seed(1)), 1)
    w = [1.0, 2.0, 0.5, 1.0, 3.0]
    per_sample = -(torch.tensor(w) * targets * logits.log_softmax(1)).sum(1)  # (N,)
    # PyTorch's rule for probability targets: mean over samples, not over the class weights
    torch.testing.assert_close(CrossEntropyLoss(class_weight=w)(logits, targets),
                               per_sample.mean())
    sample_weight = torch.tensor([1.0, 0.0, 2.0, 1.0])
    torch.testing.assert_close(
        CrossEntropyLoss(class_weight=w, loss_weight=0.5)(logits, targets, sample_weight,
                                                          avg_factor=8.0),
        (per_sample * sample_weight).sum() / 8.0 * 0.5)
    torch.testing.assert_close(CrossEntropyLoss(class_weight=w)(logits, targets, sample_weight),
                               (per_sample * sample_weight).sum() / 4)


def test_backward_and_empty_batch():
    logits = _logits()
    targets = torch.full((4, 5), 0.2)
    loss = CrossEntropyLoss()(logits, targets)
    loss.backward()
    # d/dz of -sum t log softmax(z) = softmax(z) - t, averaged over N
    torch.testing.assert_close(logits.grad, (logits.softmax(1) - targets).detach() / 4)
    empty = _logits(0, 5)
    out = CrossEntropyLoss()(empty, torch.zeros(0, 5))
    assert float(out.detach()) == 0.0 and out.requires_grad


def test_bad_soft_targets():
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"soft targets and must be \(N, C\) = the logits' shape "
                                         r'\(4, 5\), got \(4, 4\)'):
        loss(_logits(), torch.rand(4, 4))
    with pytest.raises(ValueError, match='soft targets'):
        loss(torch.randn(2, 5, 3, 3), torch.rand(2, 5, 3, 3))  # pixel soft targets: not supported
    with pytest.raises(ValueError, match=r'weight must be \(4,\) for soft targets'):
        loss(_logits(), torch.full((4, 5), 0.2), torch.ones(4, 5))
    with pytest.raises(ValueError, match='class_weight has 3 entries but the logits have 5'):
        CrossEntropyLoss(class_weight=[1.0, 1.0, 1.0])(_logits(), torch.full((4, 5), 0.2))
