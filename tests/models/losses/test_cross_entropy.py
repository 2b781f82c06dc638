import math

import pytest
import torch
import torch.nn.functional as F

from hrnet_train.models.losses import CrossEntropyLoss
from hrnet_train.registry import MODELS


def _nll(logits_px, label):
    """-log softmax(logits_px)[label] for one pixel, by hand."""
    return -(logits_px[label] - math.log(sum(math.exp(v) for v in logits_px)))


def test_hand_value_with_class_weights_and_ignore():
    # 1 x 2 classes x 1 x 3 pixels; the third pixel is ignored.
    px = [(2.0, 0.0), (0.5, 1.5), (3.0, -1.0)]
    labels = [0, 1, 255]
    logits = torch.tensor([[[[p[0] for p in px]], [[p[1] for p in px]]]])  # (1, 2, 1, 3)
    target = torch.tensor([[labels]])  # (1, 1, 3)
    w = (0.8, 1.2)
    loss = MODELS.build(dict(type='CrossEntropyLoss', class_weight=w))(logits, target)
    num = w[0] * _nll(px[0], 0) + w[1] * _nll(px[1], 1)
    expected = num / (w[0] + w[1])  # PyTorch weighted mean, as the official criterion
    assert loss.item() == pytest.approx(expected, rel=1e-6)

    plain = CrossEntropyLoss(loss_weight=2.0)(logits, target)
    assert plain.item() == pytest.approx((_nll(px[0], 0) + _nll(px[1], 1)), rel=1e-6)


def test_logits_are_upsampled_to_labels():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 7, requires_grad=True)
    labels = torch.randint(0, 4, (2, 17, 26))
    labels[0, :3] = 255
    loss = CrossEntropyLoss()(logits, labels)
    up = F.interpolate(logits, size=(17, 26), mode='bilinear', align_corners=False)
    ref = F.cross_entropy(up, labels, ignore_index=255)
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    ac = CrossEntropyLoss(align_corners=True)(logits, labels)
    assert not torch.allclose(ac, loss)


def test_all_ignored_gives_zero_with_grad():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = CrossEntropyLoss()(logits, torch.full((1, 4, 4), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_class_weight_length_checked():
    with pytest.raises(ValueError, match='class_weight has 2 entries'):
        CrossEntropyLoss(class_weight=(1.0, 1.0))(torch.randn(1, 3, 2, 2),
                                                   torch.zeros(1, 2, 2, dtype=torch.long))


def test_weight_buffer_not_in_state_dict():
    assert 'class_weight' not in CrossEntropyLoss(class_weight=(1.0, 2.0)).state_dict()


def test_classification_and_roi_logits():
    """(N, C) logits with (N,) labels: classification and RoI heads."""
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.1, 0.2, 0.3], [1.0, 1.0, 1.0]])
    labels = torch.tensor([0, 2, 255])
    loss = CrossEntropyLoss()(logits, labels)
    expected = (_nll(logits[0].tolist(), 0) + _nll(logits[1].tolist(), 2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # per-sample weights and an explicit average factor (mmdet RoI-head reduction)
    weighted = CrossEntropyLoss()(logits, labels, weight=torch.tensor([2.0, 0.5, 1.0]),
                                  avg_factor=4.0)
    assert weighted.item() == pytest.approx(
        (2.0 * _nll(logits[0].tolist(), 0) + 0.5 * _nll(logits[1].tolist(), 2)) / 4, rel=1e-6)
    smooth = CrossEntropyLoss(label_smoothing=0.1)(logits[:2], labels[:2])
    torch.testing.assert_close(smooth, F.cross_entropy(logits[:2], labels[:2],
                                                       label_smoothing=0.1))


def test_nd_logits_and_shape_errors():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3, 5, 6)  # (N, C, D, H, W)
    labels = torch.randint(0, 4, (2, 3, 5, 6))
    torch.testing.assert_close(CrossEntropyLoss()(logits, labels),
                               F.cross_entropy(logits, labels))
    with pytest.raises(ValueError, match='only 2-D maps'):
        CrossEntropyLoss()(logits, torch.zeros(2, 3, 10, 12, dtype=torch.long))
    with pytest.raises(ValueError, match='labels must be'):
        CrossEntropyLoss()(torch.randn(4, 3), torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match='label_smoothing'):
        CrossEntropyLoss(label_smoothing=1.0)
