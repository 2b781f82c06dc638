import pytest
import torch

from hrnet_train.models.losses.box_losses import L1Loss, SmoothL1Loss, l1_loss, smooth_l1_loss
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError

PRED = torch.tensor([[0.0, 1.0, -2.0, 0.5], [0.3, 0.0, 0.0, 0.0]])
TARGET = torch.tensor([[0.5, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.1]])
# |d| = [[0.5, 0, 3, 0.5], [0.3, 0, 0, 0.1]]


def test_l1_by_hand():
    assert l1_loss(PRED, TARGET).item() == pytest.approx(4.4 / 8)  # mean over 8 elements
    w = torch.tensor([[1., 1., 0., 1.], [2., 0., 0., 2.]])
    # weighted sum 0.5 + 0.5 + 0.6 + 0.2 = 1.8
    assert l1_loss(PRED, TARGET, w, avg_factor=3).item() == pytest.approx(1.8 / 3, rel=1e-6)
    per_row = l1_loss(PRED, TARGET, torch.tensor([0., 1.]), avg_factor=2)
    assert per_row.item() == pytest.approx(0.4 / 2, rel=1e-6)
    m = MODELS.build(dict(type='L1Loss', loss_weight=2.0))
    assert m(PRED, TARGET, w, avg_factor=3).item() == pytest.approx(2 * 1.8 / 3, rel=1e-6)


def test_smooth_l1_by_hand():
    beta = 1.0
    # 0.5 < 1: 0.125; 3 >= 1: 2.5; 0.5: 0.125; 0.3: 0.045; 0.1: 0.005
    total = 0.125 + 2.5 + 0.125 + 0.045 + 0.005
    assert smooth_l1_loss(PRED, TARGET, beta=beta).item() == pytest.approx(total / 8, rel=1e-6)
    # beta 1/9: every |d| >= 1/9 except 0.1: 0.5 d^2 / beta = 0.045
    b = 1 / 9
    small = (0.5 - b / 2) * 2 + (3 - b / 2) + (0.3 - b / 2) + 0.5 * 0.01 / b
    m = SmoothL1Loss(beta=b, loss_weight=0.5)
    assert m(PRED, TARGET, avg_factor=4).item() == pytest.approx(0.5 * small / 4, rel=1e-5)


def test_empty_and_grad():
    pred = torch.zeros(0, 4, requires_grad=True)
    for fn in (L1Loss(), SmoothL1Loss()):
        loss = fn(pred, torch.zeros(0, 4), torch.zeros(0, 4), avg_factor=5)
        assert loss.item() == 0.0
        loss.backward()
    p = PRED.clone().requires_grad_()
    l1_loss(p, TARGET, avg_factor=1).backward()
    torch.testing.assert_close(p.grad, torch.sign(PRED - TARGET))


def test_errors():
    with pytest.raises(ValueError, match='same shape'):
        l1_loss(PRED, TARGET[:1])
    with pytest.raises(ValueError, match='weight'):
        l1_loss(PRED, TARGET, torch.ones(3))
    with pytest.raises(ConfigError, match='beta'):
        SmoothL1Loss(beta=0)
