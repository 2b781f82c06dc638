import math

import pytest
import torch
import torch.nn.functional as F

from hrnet_train.models.losses.cross_entropy import CrossEntropyLoss, sigmoid_cross_entropy
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError


def _bce(x, t):
    """-[t log s(x) + (1 - t) log(1 - s(x))] by hand."""
    s = 1 / (1 + math.exp(-x))
    return -(t * math.log(s) + (1 - t) * math.log(1 - s))


def test_use_sigmoid_by_hand():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3], [-1.0, 1.0], [0.2, 0.4]], requires_grad=True)
    labels = torch.tensor([0, 2, 1, 255])  # class 0, background (C = 2), class 1, ignored
    weight = torch.tensor([1.0, 0.5, 2.0, 3.0])
    rows = [(_bce(2.0, 1) + _bce(-1.0, 0)) * 1.0,
            (_bce(0.5, 0) + _bce(0.3, 0)) * 0.5,
            (_bce(-1.0, 0) + _bce(1.0, 1)) * 2.0]
    loss_fn = MODELS.build(dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.0))
    loss = loss_fn(logits, labels, weight, avg_factor=4)
    assert loss.item() == pytest.approx(2.0 * sum(rows) / 4, rel=1e-6)
    # no avg_factor: the mean over all N * C = 8 elements (ignored ones count as 0)
    plain = CrossEntropyLoss(use_sigmoid=True)(logits, labels)
    unweighted = (_bce(2.0, 1) + _bce(-1.0, 0) + _bce(0.5, 0) + _bce(0.3, 0) + _bce(-1.0, 0)
                  + _bce(1.0, 1))
    assert plain.item() == pytest.approx(unweighted / 8, rel=1e-6)
    loss.backward()
    assert torch.equal(logits.grad[3], torch.zeros(2))  # the ignored row gets no gradient


def test_rpn_case_one_class():
    torch.manual_seed(0)
    logits = torch.randn(6, 1)
    labels = torch.tensor([0, 1, 1, 0, 1, 1])  # 0 object, 1 background
    ref = F.binary_cross_entropy_with_logits(logits[:, 0], (labels == 0).float(), reduction='sum')
    out = sigmoid_cross_entropy(logits, labels, torch.ones(6), avg_factor=7)
    assert out.item() == pytest.approx(ref.item() / 7, rel=1e-6)


def test_empty_and_errors():
    logits = torch.zeros(0, 1, requires_grad=True)
    loss = CrossEntropyLoss(use_sigmoid=True)(logits, torch.zeros(0, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    with pytest.raises(ValueError, match=r'in \[0, 1\]'):
        sigmoid_cross_entropy(torch.zeros(2, 1), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r'\(N, C\)'):
        CrossEntropyLoss(use_sigmoid=True)(torch.zeros(2, 1, 3), torch.zeros(2, 3).long())
    with pytest.raises(ConfigError, match='class_weight'):
        CrossEntropyLoss(use_sigmoid=True, class_weight=(1.0, 2.0))
    # the softmax path is unchanged
    assert CrossEntropyLoss()(torch.zeros(2, 3), torch.tensor([0, 1])).item() == pytest.approx(
        math.log(3))
