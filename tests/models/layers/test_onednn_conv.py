import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hrnet_train.models.layers import onednn_conv
from hrnet_train.models.layers.onednn_conv import OneDNNConv2d, onednn_available

AVAILABLE, WHY = onednn_available()
needs_onednn = pytest.mark.skipif(not AVAILABLE, reason=f'no fused oneDNN kernel: {WHY}')


def _conv(c_in, c_out, k, stride=1, groups=1, bias=True, seed=0):
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=bias)
    with torch.no_grad():
        conv.weight.mul_(3.0)  # outputs of both signs and O(1): the ReLU and the add matter
        if bias:
            conv.bias.uniform_(-0.5, 0.5)
    return conv


def _reference(conv, x, post, other):
    out = F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation,
                   conv.groups)
    if other is not None:
        out = out + other
    return out.clamp_min(0) if post == 'relu' else out


@needs_onednn
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('post,residual', [('none', False), ('relu', False), ('none', True),
                                           ('relu', True)])
@pytest.mark.parametrize('shape', [
    # (N, C_in, C_out, H, W, kernel, stride, groups, bias)
    (2, 16, 16, 13, 9, 3, 1, 1, False),
    (1, 32, 64, 8, 6, 3, 2, 1, True),
    (3, 24, 48, 5, 7, 1, 1, 1, True),
    (2, 16, 32, 9, 9, 3, 1, 4, False),
])
def test_fused_kernel_equals_the_plain_ops(shape, post, residual, channels_last):
    n, c_in, c_out, h, w, k, stride, groups, bias = shape
    conv = _conv(c_in, c_out, k, stride, groups, bias)
    fast = OneDNNConv2d.from_conv(conv, post)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, c_in, h, w, generator=g)
    ho, wo = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
    other = torch.randn(n, c_out, ho, wo, generator=g) if residual else None
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        fast = fast.to(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = _reference(conv, x, post, other)
        out = fast(x, other=other)
    assert out.shape == ref.shape == (n, c_out, ho, wo)
    if post == 'relu':
        assert out.min() == 0 and (ref > 0).any()
    if not channels_last:  # NCHW: the plain ops, which keep the memory format
        assert torch.equal(out, ref) and out.is_contiguous() and not fast._packed
        return
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5), (out - ref).abs().max()
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert len(fast._packed) == 1  # packed once for this input shape


def test_from_conv_shares_the_parameters_and_the_state_dict():
    conv = _conv(8, 4, 3)
    fast = OneDNNConv2d.from_conv(conv, 'relu')
    assert fast.weight is conv.weight and fast.bias is conv.bias
    assert list(fast.state_dict()) == list(conv.state_dict()) == ['weight', 'bias']
    assert (fast.stride, fast.padding, fast.groups, fast.post) == ((1, 1), (1, 1), 1, 'relu')
    assert 'post=relu' in repr(fast)
    with pytest.raises(ValueError, match="post must be one of \\('none', 'relu'\\), got 'gelu'"):
        OneDNNConv2d.from_conv(conv, 'gelu')
    with pytest.raises(ValueError, match='numeric zero padding'):
        OneDNNConv2d.from_conv(nn.Conv2d(4, 4, 3, padding='same'))
    with pytest.raises(ValueError, match='numeric zero padding'):
        OneDNNConv2d.from_conv(nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect'))


@pytest.mark.parametrize('post', ['none', 'relu'])
def test_outside_fp32_inference_the_plain_ops_run_exactly(post):
    """With autograd recording, or in float64, the forward is conv, + other, ReLU: equal bit
    for bit to the unfused modules, gradients included."""
    conv = _conv(8, 8, 3)
    fast = OneDNNConv2d.from_conv(copy.deepcopy(conv), post)
    x = torch.randn(2, 8, 6, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    other = torch.randn(2, 8, 6, 5)
    out = fast(x, other=other)
    ref = _reference(conv, x, post, other)
    assert torch.equal(out, ref)
    out.square().sum().backward()
    x_grad = x.grad.clone()
    x.grad = None
    ref.square().sum().backward()
    assert torch.equal(x.grad, x_grad) and torch.equal(fast.weight.grad, conv.weight.grad)
    assert not fast._packed  # nothing packed for the autograd path
    fast64, conv64 = fast.double(), conv.double()
    with torch.no_grad():
        x64 = torch.randn(1, 8, 5, 5, dtype=torch.float64).contiguous(
            memory_format=torch.channels_last)
        assert torch.equal(fast64(x64), _reference(conv64, x64, post, None))


def test_under_tracing_or_compiling_the_plain_ops_run(monkeypatch):
    conv = _conv(4, 4, 3)
    fast = OneDNNConv2d.from_conv(conv, 'relu')
    x = torch.randn(1, 4, 5, 5).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        traced = torch.jit.trace(fast, x, check_trace=False)
        assert not fast._packed and 'aten::_convolution' in str(traced.graph)  # the plain ops
        assert torch.equal(traced(x), _reference(conv, x, 'relu', None))
        monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
        assert torch.equal(fast(x), _reference(conv, x, 'relu', None))
    assert not fast._packed


def test_without_the_kernel_the_plain_ops_run(monkeypatch):
    monkeypatch.setattr(onednn_conv, '_AVAILABLE', {})
    monkeypatch.setattr(torch.backends.mkldnn, 'is_available', lambda: False)
    ok, why = onednn_available()
    assert not ok and why == 'this torch build has no oneDNN (torch.backends.mkldnn)'
    conv = _conv(4, 4, 3)
    fast = OneDNNConv2d.from_conv(conv, 'relu')
    x = torch.randn(1, 4, 5, 5).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.equal(fast(x), _reference(conv, x, 'relu', None))
    assert not fast._packed
    monkeypatch.setattr(onednn_conv, '_AVAILABLE', {})  # the real probe for later tests


@needs_onednn
def test_packed_weights_follow_shape_and_weight_changes():
    conv = _conv(8, 8, 3)
    fast = OneDNNConv2d.from_conv(copy.deepcopy(conv))
    with torch.no_grad():
        for h in range(3, 3 + onednn_conv._MAX_SHAPES + 2):  # more shapes than the cache holds
            x = torch.randn(1, 8, h, 4).contiguous(memory_format=torch.channels_last)
            assert torch.allclose(fast(x), _reference(conv, x, 'none', None), atol=1e-5)
        assert len(fast._packed) == onednn_conv._MAX_SHAPES
        fast.weight.mul_(-2.0)  # an in-place edit: the same shape is packed again
        assert torch.allclose(fast(x), -2.0 * _reference(conv, x, 'none', None)
                              + 3.0 * conv.bias.view(1, -1, 1, 1), atol=1e-4)
        fast.load_state_dict(conv.state_dict())
        assert torch.allclose(fast(x), _reference(conv, x, 'none', None), atol=1e-5)


@needs_onednn
def test_copies_and_pickles_drop_the_packed_weights():
    conv = _conv(8, 8, 3)
    fast = OneDNNConv2d.from_conv(conv, 'relu')
    x = torch.randn(2, 8, 5, 5).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        y = fast(x)
        assert len(fast._packed) == 1
        for clone in (copy.deepcopy(fast), pickle.loads(pickle.dumps(fast))):
            assert not clone._packed and clone._last is None and clone.post == 'relu'
            assert torch.equal(clone(x), y) and len(clone._packed) == 1
            assert clone._last[1] is next(iter(clone._packed.values()))  # the fast path's
            assert torch.equal(clone(x), y) and len(clone._packed) == 1


def test_other_must_be_a_tensor():
    fast = OneDNNConv2d.from_conv(_conv(4, 4, 1))
    with pytest.raises(TypeError, match='other must be a tensor or None'):
        fast(torch.randn(1, 4, 2, 2), other=1.0)
