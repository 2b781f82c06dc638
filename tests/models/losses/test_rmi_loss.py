"""RMILoss against a hand-computed case and an independent numpy re-computation (loops, slogdet)
of openseg-group/openseg.pytorch:lib/loss/rmi_loss.py ``forward_sigmoid``."""
import math

import numpy as np
import pytest
import torch

from hrnet_train.models.losses import RMILoss, rmi_lower_bound
from hrnet_train.models.losses.rmi_loss import region_vectors


def test_lower_bound_by_hand_radius_one():
    """One class, pixels y = (1, 0), p = (0.75, 0.25), no pooling, R = 1 (D = 1, M = 2).

    Centred: y = (0.5, -0.5), p = (0.25, -0.25): S_Y = 0.5, S_P = 0.125, S_YP = 0.25;
    cond = 0.5 - 0.25^2 / (0.125 + 1e-3) = 0.5 - 0.0625 / 0.126; bound = 0.5 log(cond + 1e-3).
    """
    labels = torch.tensor([[[[1., 0.]]]])
    probs = torch.tensor([[[[0.75, 0.25]]]])
    cond = 0.5 - 0.0625 / 0.126
    expected = 0.5 * math.log(cond + 1e-3)
    got = rmi_lower_bound(labels, probs, radius=1, pool_size=1)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # a sharper correct prediction gives a lower (better) loss
    better = rmi_lower_bound(labels, torch.tensor([[[[0.95, 0.05]]]]), radius=1, pool_size=1)
    assert better.item() < got.item()


def test_region_vectors_layout():
    maps = torch.arange(16.).reshape(1, 1, 4, 4)
    v = region_vectors(maps, 3)  # (1, 1, 9, 4)
    assert v.shape == (1, 1, 9, 4)
    assert v[0, 0, :, 0].tolist() == [0., 1., 2., 4., 5., 6., 8., 9., 10.]  # top-left 3x3
    assert v[0, 0, 4].tolist() == [5., 6., 9., 10.]  # the centre of each region


def _maxpool_np(x, k):
    """Max pool, kernel = stride = k, padding k // 2 with -inf (torch's max_pool2d)."""
    n, c, h, w = x.shape
    pad = k // 2
    xp = np.full((n, c, h + 2 * pad, w + 2 * pad), -np.inf)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    oh, ow = (h + 2 * pad - k) // k + 1, (w + 2 * pad - k) // k + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = xp[:, :, i * k:i * k + k, j * k:j * k + k].max(axis=(2, 3))
    return out


def _rmi_loss_np(logits, labels, *, radius=3, pool=3, lam=0.5, ignore=255):
    n, c, h, w = logits.shape
    valid = (labels != ignore) & (labels < c)
    onehot = np.zeros((n, c, h, w))
    for b in range(n):
        for i in range(h):
            for j in range(w):
                if valid[b, i, j]:
                    onehot[b, labels[b, i, j], i, j] = 1.0
    mask = valid[:, None].astype(np.float64)
    # BCE with logits: max(x, 0) - x t + log(1 + exp(-|x|)), over valid pixels / (valid + 1)
    bce = np.maximum(logits, 0) - logits * onehot + np.log1p(np.exp(-np.abs(logits)))
    bce = (bce * mask).sum() / (valid.sum() + 1.0)
    probs = 1 / (1 + np.exp(-logits)) * mask + 1e-6
    ys, ps = (_maxpool_np(onehot, pool), _maxpool_np(probs, pool)) if pool > 1 else (onehot, probs)
    d = radius * radius
    bound = np.zeros((n, c))
    for b in range(n):
        for k in range(c):
            hh, ww = ys.shape[2] - radius + 1, ys.shape[3] - radius + 1
            yv = np.array([[ys[b, k, i + dy, j + dx] for i in range(hh) for j in range(ww)]
                           for dy in range(radius) for dx in range(radius)])
            pv = np.array([[ps[b, k, i + dy, j + dx] for i in range(hh) for j in range(ww)]
                           for dy in range(radius) for dx in range(radius)])
            yv = yv - yv.mean(1, keepdims=True)
            pv = pv - pv.mean(1, keepdims=True)
            syp = yv @ pv.T
            cond = yv @ yv.T - syp @ np.linalg.inv(pv @ pv.T + 1e-3 * np.eye(d)) @ syp.T
            sign, logdet = np.linalg.slogdet(cond + 1e-3 * np.eye(d))
            assert sign > 0
            bound[b, k] = 0.5 * logdet
    rmi = (bound.mean(0) / d).sum()
    return lam * bce + (1 - lam) * rmi


@pytest.mark.parametrize('pool_size', [3, 1])
def test_matches_an_independent_numpy_computation(pool_size):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 18, 21, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, 3, (2, 18, 21), generator=g)
    labels[0, :4] = 255
    labels[1, 5:9, 2:6] = 255
    loss = RMILoss(pool_size=pool_size)(logits, labels)
    expected = _rmi_loss_np(logits.numpy(), labels.numpy(), pool=pool_size)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_gradients_finite_and_logits_upsampled():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 8, 8, generator=g, requires_grad=True)
    labels = torch.randint(0, 4, (2, 32, 32), generator=g)
    loss = RMILoss(loss_weight=2.0)(logits, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert float(logits.grad.abs().sum()) > 0
    half = RMILoss(loss_weight=1.0)(logits.detach(), labels)
    assert loss.item() == pytest.approx(2 * half.item(), rel=1e-6)
    with pytest.raises(ValueError, match='pool must be one of'):
        RMILoss(pool='min')
