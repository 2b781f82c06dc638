import math

import pytest
import torch

from hrnet_train.models.losses import OhemCrossEntropyLoss, select_ohem_pixels
from hrnet_train.registry import MODELS


def test_select_hand_cases():
    p = torch.tensor([0.1, 0.5, 0.95, 0.99, 0.3])
    # sorted: 0.1 0.3 0.5 0.95 0.99. min_kept=1 -> sorted[1] = 0.3 < 0.7 -> threshold 0.7.
    assert select_ohem_pixels(p, thresh=0.7, min_kept=1).tolist() == [True, True, False, False,
                                                                         True]
    # min_kept=4 -> sorted[4] = 0.99 > 0.7 -> every pixel below 0.99.
    assert select_ohem_pixels(p, thresh=0.7, min_kept=4).tolist() == [True, True, True, False,
                                                                         True]
    # min_kept beyond the pixel count is clamped to the last one (official min(k, n - 1)).
    assert select_ohem_pixels(p, thresh=0.7, min_kept=100).tolist() == [True, True, True,
                                                                           False, True]
    # threshold 0.05 below every probability and min_kept 0 -> 1: keep below sorted[1] = 0.3.
    assert select_ohem_pixels(p, thresh=0.05, min_kept=0).tolist() == [True, False, False,
                                                                          False, False]
    assert select_ohem_pixels(torch.zeros(0), thresh=0.7, min_kept=3).numel() == 0


def _reference(logits, labels, thresh, min_kept, weight, ignore=255):
    """Independent per-pixel evaluation of the official OhemCrossEntropy."""
    n, c, h, w = logits.shape
    items = []  # (gt prob, weighted nll)
    for b in range(n):
        for y in range(h):
            for x in range(w):
                t = int(labels[b, y, x])
                if t == ignore:
                    continue
                v = [float(logits[b, k, y, x]) for k in range(c)]
                lse = math.log(sum(math.exp(a) for a in v))
                prob = math.exp(v[t] - lse)
                nll = lse - v[t]
                items.append((prob, (weight[t] if weight else 1.0) * nll))
    probs = sorted(p for p, _ in items)
    threshold = max(probs[min(min_kept, len(probs) - 1)], thresh)
    chosen = [loss for p, loss in items if p < threshold]
    return sum(chosen) / len(chosen), len(chosen)


@pytest.mark.parametrize('thresh,min_kept', [(0.7, 5), (0.9, 20), (0.2, 3)])
def test_matches_official_definition(thresh, min_kept):
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5) * 2
    labels = torch.randint(0, 3, (2, 4, 5))
    labels[0, 0, :3] = 255
    weight = (0.8, 1.0, 1.3)
    loss = MODELS.build(dict(type='OhemCrossEntropyLoss', thresh=thresh, min_kept=min_kept,
                             class_weight=weight))(logits, labels)
    expected, _ = _reference(logits, labels, thresh, min_kept, weight)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_upsampling_ignore_and_grad():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 3, 4, requires_grad=True)
    labels = torch.randint(0, 4, (1, 6, 8))
    labels[0, :2] = 255
    loss = OhemCrossEntropyLoss(thresh=0.9, min_kept=10)(logits, labels)
    up = torch.nn.functional.interpolate(logits.detach(), size=(6, 8), mode='bilinear',
                                         align_corners=False)
    expected, kept = _reference(up, labels, 0.9, 10, None)
    assert kept >= 10
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_all_ignored_is_zero():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = OhemCrossEntropyLoss()(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0
    loss.backward()


def test_bad_thresh():
    with pytest.raises(ValueError, match='thresh'):
        OhemCrossEntropyLoss(thresh=1.5)
