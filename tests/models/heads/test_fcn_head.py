import pytest
import torch
from torch import nn

from hrnet_train.models.heads import SegHead
from hrnet_train.registry import MODELS

OFFICIAL_KEYS = [
    'last_layer.0.weight', 'last_layer.0.bias',
    'last_layer.1.weight', 'last_layer.1.bias', 'last_layer.1.running_mean',
    'last_layer.1.running_var', 'last_layer.1.num_batches_tracked',
    'last_layer.3.weight', 'last_layer.3.bias',
]


def test_state_dict_keys_match_official():
    head = MODELS.build(dict(type='SegHead', in_channels=720, num_classes=19))
    sd = head.state_dict()
    assert list(sd) == OFFICIAL_KEYS
    assert sd['last_layer.0.weight'].shape == (720, 720, 1, 1)
    assert sd['last_layer.0.bias'].shape == (720,)
    assert sd['last_layer.3.weight'].shape == (19, 720, 1, 1)
    assert sd['last_layer.3.bias'].shape == (19,)
    # An official checkpoint's head (keys after stripping `model.`) loads strictly.
    official = {k: torch.zeros_like(v) for k, v in sd.items()}
    head.load_state_dict(official, strict=True)


def test_structure_and_forward():
    head = SegHead(60, 5, norm_cfg=dict(type='BN', momentum=0.01))
    assert isinstance(head.last_layer[1], nn.BatchNorm2d)
    assert head.last_layer[1].momentum == 0.01
    assert isinstance(head.last_layer[2], nn.ReLU)
    assert not any(isinstance(m, nn.Dropout2d) or isinstance(m, nn.Dropout) for m in head.modules())
    out = head(torch.randn(2, 60, 13, 19))
    assert out.shape == (2, 5, 13, 19)


def test_hidden_channels_and_init():
    head = SegHead(60, 5, channels=32)
    assert head.last_layer[0].weight.shape == (32, 60, 1, 1)
    assert head.last_layer[3].weight.shape == (5, 32, 1, 1)
    # Official init: conv weights normal(std=0.001).
    assert head.last_layer[0].weight.abs().max() < 0.01


def test_bad_input_raises():
    with pytest.raises(ValueError, match='num_classes'):
        SegHead(60, 0)
    with pytest.raises(ValueError, match=r'\(N, 60, H, W\)'):
        SegHead(60, 5)(torch.randn(1, 59, 4, 4))


def test_recompute_bn_relu_equals_the_sequential(saved_bytes):
    """The head with recompute_bn_relu (default 'cpu'): its forward equals ``last_layer`` run
    as a Sequential (bit for bit, BN statistics and gradients too), and the hidden ReLU map is
    not kept for backward (one (N, channels, H, W) float32 map fewer)."""
    torch.manual_seed(0)
    plain, ours = SegHead(12, 5, recompute_bn_relu=False), SegHead(12, 5)  # default 'cpu'
    for m in (plain, ours):  # non-trivial weights (the official init is near zero)
        for p in m.parameters():
            torch.nn.init.uniform_(p, -0.5, 0.5)
    ours.load_state_dict(plain.state_dict())
    x = torch.randn(2, 12, 9, 11)
    saved = []
    for m in (plain, ours):
        xi = x.clone().requires_grad_()
        out, n = saved_bytes(lambda: m(xi) if m is ours else m.last_layer(xi))
        out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
        saved.append(n)
        m.out, m.x_grad = out, xi.grad
    assert torch.equal(plain.out, ours.out)
    assert torch.equal(plain.last_layer[1].running_var, ours.last_layer[1].running_var)
    assert torch.equal(ours.x_grad, plain.x_grad)
    for p, q in zip(plain.parameters(), ours.parameters()):
        assert torch.equal(q.grad, p.grad)
    assert saved[0] - saved[1] >= 4 * 2 * 12 * 9 * 11
