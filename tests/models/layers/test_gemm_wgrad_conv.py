"""GemmWgradConv2d / use_gemm_weight_grad: the weight gradient as shifted GEMMs in channels_last
CPU training; outputs and input gradients as the plain Conv2d's, weight gradients within float
rounding, the plain path wherever it does not apply."""
import copy

import pytest
import torch
import torch.nn as nn

from hrnet_train.models.backbones import HRNet
from hrnet_train.models.layers.bn_relu_conv import bn_relu_conv
from hrnet_train.models.layers.gemm_wgrad_conv import (
    GemmWgradConv2d,
    gemm_wgrad_applies,
    use_gemm_weight_grad,
)
from hrnet_train.models.utils import fuse_onednn
from hrnet_train.models.utils.onednn_fuse import onednn_summary

CL = torch.channels_last


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def _pair(**kw):
    torch.manual_seed(0)
    plain = nn.Conv2d(6, 10, **{'kernel_size': 3, 'padding': 1, 'bias': True, **kw})
    gemm = copy.deepcopy(plain)
    assert use_gemm_weight_grad(gemm) == 1
    return plain, gemm


def _step(conv, x):
    x = x.detach().clone().requires_grad_(True)
    conv.zero_grad(set_to_none=True)
    y = conv(x)
    (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
    return y.detach(), x.grad, conv.weight.grad, conv.bias.grad


@pytest.mark.parametrize('kw', [dict(), dict(kernel_size=1, padding=0), dict(padding=0),
                                dict(kernel_size=(1, 3), padding=(0, 1))])
def test_channels_last_training_uses_the_gemms(kw):
    plain, gemm = _pair(**kw)
    plain.to(memory_format=CL), gemm.to(memory_format=CL)
    x = torch.randn(3, 6, 9, 7).contiguous(memory_format=CL)
    assert gemm_wgrad_applies(gemm, x) and not gemm_wgrad_applies(plain, x)
    y0, gx0, gw0, gb0 = _step(plain, x)
    y1, gx1, gw1, gb1 = _step(gemm, x)
    assert gemm.weight.grad.is_contiguous(memory_format=CL)  # the parameter's layout
    torch.testing.assert_close(y1, y0, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gx1, gx0, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gb1, gb0, rtol=1e-6, atol=1e-6)
    assert _rel(gw1, gw0) < 1e-5
    assert y1.grad_fn is None  # detached copies; the graph node is ours:
    assert type(gemm(x.requires_grad_()).grad_fn).__name__ == '_GemmWgradConvBackward'


def test_float64_weight_gradient_exact():
    plain, gemm = _pair()
    plain.double().to(memory_format=CL), gemm.double().to(memory_format=CL)
    x = torch.randn(2, 6, 5, 8, dtype=torch.float64).contiguous(memory_format=CL)
    assert not gemm_wgrad_applies(gemm, x)  # float64: the plain path, bit for bit
    for a, b in zip(_step(plain, x), _step(gemm, x)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('case', ['nchw', 'no_grad', 'frozen_weight', 'autocast', 'tracing'])
def test_plain_path_where_it_does_not_apply(case):
    plain, gemm = _pair()
    x = torch.randn(2, 6, 8, 8)
    if case != 'nchw':
        plain.to(memory_format=CL), gemm.to(memory_format=CL)
        x = x.contiguous(memory_format=CL)
    if case == 'frozen_weight':
        gemm.weight.requires_grad_(False)
        assert not gemm_wgrad_applies(gemm, x)
        return
    if case == 'no_grad':
        with torch.no_grad():
            assert not gemm_wgrad_applies(gemm, x)
            assert torch.equal(gemm(x), plain(x))
        return
    if case == 'autocast':
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert not gemm_wgrad_applies(gemm, x)
        return
    if case == 'tracing':
        traced = torch.jit.trace(gemm, x)
        assert 'aten::_convolution' in str(traced.graph)  # the plain op, exportable
        return
    assert not gemm_wgrad_applies(gemm, x)
    for a, b in zip(_step(plain, x), _step(gemm, x)):
        assert torch.equal(a, b)


def test_only_eligible_convolutions_change():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                          nn.Conv2d(4, 4, 3, padding=2, dilation=2),
                          nn.Conv2d(4, 4, 3, padding=1, groups=2),
                          nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect'),
                          nn.Conv2d(4, 4, 3, padding='same'), nn.Conv2d(4, 8, 1))
    keys = list(model.state_dict())
    params = [id(p) for p in model.parameters()]
    assert use_gemm_weight_grad(model) == 2
    assert [type(m).__name__ for m in model] == ['GemmWgradConv2d', 'Conv2d', 'Conv2d', 'Conv2d',
                                                 'Conv2d', 'Conv2d', 'GemmWgradConv2d']
    assert list(model.state_dict()) == keys and [id(p) for p in model.parameters()] == params
    assert use_gemm_weight_grad(model) == 0  # idempotent
    assert type(copy.deepcopy(model)[0]) is GemmWgradConv2d


def test_bn_relu_conv_takes_the_gemms_too():
    torch.manual_seed(0)
    bn, conv = nn.BatchNorm2d(6).train(), nn.Conv2d(6, 10, 3, padding=1, bias=False)
    bn2, conv2 = copy.deepcopy(bn), copy.deepcopy(conv)
    use_gemm_weight_grad(conv2)
    for m in (bn, conv, bn2, conv2):
        m.to(memory_format=CL)
    x = torch.randn(4, 6, 7, 9).contiguous(memory_format=CL)
    outs = []
    for b, c in ((bn, conv), (bn2, conv2)):
        xi = x.clone().requires_grad_(True)
        y = bn_relu_conv(b, nn.ReLU(inplace=True), c, xi)
        y.pow(2).sum().backward()
        outs.append((y.detach(), xi.grad, c.weight.grad, b.weight.grad, b.running_mean))
    (y0, gx0, gw0, gbn0, rm0), (y1, gx1, gw1, gbn1, rm1) = outs
    assert torch.equal(y1, y0) and torch.equal(rm1, rm0)
    torch.testing.assert_close(gx1, gx0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gbn1, gbn0, rtol=1e-5, atol=1e-6)
    assert _rel(gw1, gw0) < 1e-5


def test_hrnet_gradients_and_onednn_after_it():
    """A whole HRNet in channels_last: outputs equal, every parameter's gradient within 1e-4 of
    the plain model's (float rounding through ~100 layers); afterwards fuse_onednn still packs
    every convolution, as for the plain model."""
    torch.manual_seed(0)
    plain = HRNet('w18-small-v1').train().to(memory_format=CL)
    gemm = copy.deepcopy(plain)
    n = use_gemm_weight_grad(gemm)
    assert n == sum(1 for m in gemm.modules() if type(m) is GemmWgradConv2d) > 20
    x = torch.randn(2, 3, 64, 48).contiguous(memory_format=CL)
    for model in (plain, gemm):
        model.zero_grad()
        sum(o.float().pow(2).mean() for o in model(x)).backward()
    for (name, a), b in zip(plain.named_parameters(), gemm.parameters()):
        assert a.grad is not None and b.grad is not None, name
        assert _rel(b.grad, a.grad) < 1e-4, name
    plain.eval(), gemm.eval()
    assert onednn_summary(fuse_onednn(gemm)) == onednn_summary(fuse_onednn(plain))
