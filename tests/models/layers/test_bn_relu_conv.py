"""bn_relu_conv(): conv(relu(bn(x))) keeping only x for backward gives the plain modules'
outputs, statistics and gradients bit for bit (the recomputed ReLU output is the forward's),
saves one activation less, and falls back to the plain modules wherever it does not apply."""
import copy
from fractions import Fraction

import pytest
import torch
import torch.nn as nn

from hrnet_train.models.backbones import HRNet
from hrnet_train.models.layers import bn_relu_conv as brc
from hrnet_train.models.layers.bn_relu_conv import bn_relu_conv, fma_f32, recompute_applies


def _layers(c_in=6, c_out=10, momentum=0.1, **conv_kw):
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(c_in, momentum=momentum).train()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    conv = nn.Conv2d(c_in, c_out, **{'kernel_size': 3, 'padding': 1, 'bias': False, **conv_kw})
    return bn, nn.ReLU(inplace=True), conv


def _assert_equal(a, b):
    assert torch.equal(a, b), f'max difference {float((a - b).abs().max())}'


def _in_graph(t, name: str) -> bool:
    """Whether the autograd graph of ``t`` has a node called ``name``."""
    seen, todo = set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node.name() == name:
            return True
        todo += [f for f, _ in node.next_functions]
    return False


@pytest.fixture(params=['probed', 'fma', 'stats'])
def z_formula(request, monkeypatch):
    """Each way of recomputing z: the probe's choice for this build, the exact FMA emulation,
    and rerunning the norm kernel (what builds where no formula reproduces the kernel use)."""
    if request.param != 'probed':
        monkeypatch.setitem(brc._Z_FORMULA, ('cpu', torch.float32), request.param)
    return request.param


@pytest.mark.parametrize('conv_kw,momentum,channels_last', [
    (dict(), 0.1, False), (dict(stride=2), 0.1, True), (dict(stride=2), None, False),
    (dict(kernel_size=1, padding=0, bias=True), 0.1, True),
    (dict(dilation=2, padding=2, groups=2), 0.01, False)])
def test_equals_the_plain_modules_bit_for_bit(conv_kw, momentum, channels_last, z_formula):
    """Two steps: outputs, running statistics, num_batches_tracked, the input's and every
    parameter's gradient equal those of bn -> ReLU -> conv called as modules, bit for bit."""
    plain = _layers(momentum=momentum, **conv_kw)
    ours = copy.deepcopy(plain)
    if channels_last:
        for m in (*plain, *ours):
            m.to(memory_format=torch.channels_last)
    for step in range(2):
        x = torch.randn(3, 6, 13, 11)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        assert recompute_applies(ours[0], ours[2], xb)
        ya = plain[2](plain[1](plain[0](xa)))
        yb = bn_relu_conv(*ours, xb)
        assert torch.equal(ya, yb) and yb.grad_fn.name().endswith('_BNReLUConvBackward')
        g = torch.linspace(-1, 1, ya.numel()).view_as(ya)
        ya.backward(g)
        yb.backward(g)
        _assert_equal(xa.grad, xb.grad)
    for pa, pb in zip([*plain[0].parameters(), *plain[2].parameters()],
                      [*ours[0].parameters(), *ours[2].parameters()]):
        _assert_equal(pa.grad, pb.grad)
    for ba, bb in zip(plain[0].buffers(), ours[0].buffers()):
        assert torch.equal(ba, bb)
    assert int(ours[0].num_batches_tracked) == 2


def test_keeps_only_the_input_for_backward(saved_bytes):
    bn, relu, conv = _layers()
    x = torch.randn(2, 6, 16, 16, requires_grad=True)
    act = x.numel() * 4  # one activation-sized float32 tensor
    plain = saved_bytes(lambda: conv(relu(bn(x))))[1]
    ours = saved_bytes(lambda: bn_relu_conv(bn, relu, conv, x))[1]
    assert act <= plain - ours < act + 1000  # the ReLU output is no longer kept
    # x, the weights, and per channel (6) the batch mean, inverse std and the two factors
    assert ours == act + 4 * (conv.weight.numel() + 5 * 6)


def test_frozen_parameters_and_an_input_without_gradient():
    """Only what needs a gradient gets one: frozen norm parameters, an input that is data."""
    plain = _layers()
    ours = copy.deepcopy(plain)
    for layers in (plain, ours):
        layers[0].weight.requires_grad_(False)
        layers[0].bias.requires_grad_(False)
    x = torch.randn(2, 6, 9, 9)
    plain[2](plain[1](plain[0](x))).square().sum().backward()
    y = bn_relu_conv(*ours, x)
    assert y.grad_fn.name().endswith('_BNReLUConvBackward')
    y.square().sum().backward()
    _assert_equal(plain[2].weight.grad, ours[2].weight.grad)
    assert ours[0].weight.grad is None and ours[0].bias.grad is None


def test_plain_modules_wherever_it_does_not_apply():
    bn, relu, conv = _layers()
    x = torch.randn(2, 6, 8, 8, requires_grad=True)
    assert bn_relu_conv(bn, relu, conv, x, recompute=False).grad_fn.name() != \
        '_BNReLUConvBackward'
    # a device type: only for tensors on it
    assert bn_relu_conv(bn, relu, conv, x, recompute='cpu').grad_fn.name() == \
        '_BNReLUConvBackward'
    assert bn_relu_conv(bn, relu, conv, x, recompute='cuda').grad_fn.name() != \
        '_BNReLUConvBackward'
    with torch.no_grad():
        assert not recompute_applies(bn, conv, x)
        assert bn_relu_conv(bn, relu, conv, x).grad_fn is None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not recompute_applies(bn, conv, x)
        assert bn_relu_conv(bn, relu, conv, x).dtype == torch.bfloat16
    assert not recompute_applies(bn.eval(), conv, x)  # running statistics: the plain modules
    bn.train()
    assert not recompute_applies(nn.SyncBatchNorm(6), conv, x)
    assert not recompute_applies(nn.GroupNorm(2, 6), conv, x)
    assert not recompute_applies(bn, nn.Conv2d(6, 4, 3, padding=1, padding_mode='reflect'), x)
    assert not recompute_applies(bn, nn.Conv2d(6, 4, 3, padding='same'), x)
    assert recompute_applies(bn, conv, x)


def test_recompute_bn_relu_keeps_one_activation_less_per_inner_layer(saved_bytes):
    """In the HRNet stem and every residual block the inner ReLU outputs are no longer kept:
    the saving is their total size (give or take the per-channel statistics)."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    plain_model = HRNet('w18-small-v1', recompute_bn_relu=False).train()
    plain = saved_bytes(lambda: sum(o.sum() for o in plain_model(x)))[1]
    model = HRNet('w18-small-v1').train()  # the default: 'cpu'
    assert model.stage2[0].branches[0][0].recompute_bn_relu == 'cpu'
    ours = saved_bytes(lambda: sum(o.sum() for o in model(x)))[1]
    # w18-small-v1 at 64x64: the stem's first ReLU, 64 channels at 32x32; one bottleneck of
    # 32 planes at 16x16 (two inner ReLUs); BasicBlocks, 2 per branch (one inner ReLU each) in
    # stages 2-4, branch b with 16 * 2**b channels at (16 / 2**b)**2
    relu_elems = 64 * 32 * 32 + 2 * 32 * 16 * 16 + sum(
        2 * 16 * 2 ** b * (16 // 2 ** b) ** 2 for branches in (2, 3, 4) for b in range(branches))
    expected = 4 * 2 * relu_elems  # float32, batch 2
    assert expected <= plain - ours < 1.02 * expected  # (+ per-channel statistics)


def test_float64_training_equals_the_plain_path():
    """Twenty SGD steps of a small HRNet in float64 (the backward runs the norm kernel again:
    the 'stats' formula): the parameters equal the plain run's bit for bit."""
    torch.manual_seed(0)
    plain = HRNet('w18-small-v1', recompute_bn_relu=False).train().double()
    ours = HRNet('w18-small-v1', recompute_bn_relu=True).train().double()
    ours.load_state_dict(plain.state_dict())
    opts = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (plain, ours)]
    for _ in range(20):
        x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
        for model, opt in zip((plain, ours), opts):
            opt.zero_grad()
            sum((y ** 2).mean() for y in model(x)).backward()
            opt.step()
    assert _in_graph(sum(y.sum() for y in ours(x)), '_BNReLUConvBackward')
    assert brc._z_formula(x.device, torch.float64) == 'stats'
    for (n, p), q in zip(plain.named_parameters(), ours.parameters()):
        assert torch.equal(q, p), n


def _nearest_f32(exact: Fraction) -> float:
    """exact rounded to float32, ties to even, by comparing the float32 neighbours."""
    f = torch.tensor(float(exact), dtype=torch.float32)
    cands = [torch.nextafter(f, torch.tensor(v)) for v in (-float('inf'), float('inf'))] + [f]
    cands = [float(c) for c in cands]

    def key(c):
        odd = int(torch.tensor(c, dtype=torch.float32).view(torch.int32)) & 1
        return abs(Fraction(c) - exact), odd
    return min(cands, key=key)


def test_fma_f32_rounds_once():
    """a * b + c rounded once to float32, checked against exact rational arithmetic: random
    values and a case where rounding through float64 would round twice (1 + 2^-23 + 2^-24 -
    2^-70 lies just below a float32 tie; float64 rounds it onto the tie, then to even)."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2000, generator=gen), torch.randn(2000, generator=gen)
    c = torch.randn(2000, generator=gen) * torch.logspace(-8, 8, 2000)
    a = torch.cat([a, torch.tensor([2.0 ** -24 * (1 + 2.0 ** -23)])])
    b = torch.cat([b, torch.tensor([1 - 2.0 ** -23])])
    c = torch.cat([c, torch.tensor([1 + 2.0 ** -23])])
    got = fma_f32(a, b, c)
    assert got.dtype == torch.float32
    for ai, bi, ci, gi in zip(a.tolist(), b.tolist(), c.tolist(), got.tolist()):
        assert gi == _nearest_f32(Fraction(ai) * Fraction(bi) + Fraction(ci)), (ai, bi, ci)
    assert float(got[-1]) == 1 + 2.0 ** -23
    assert float((a[-1:].double() * b[-1:].double() + c[-1:].double()).float()) != float(got[-1])


def test_the_recomputed_relu_output_is_the_forwards_on_this_build():
    """The probe picks a rounding of the norm's constant term that reproduces the kernel's
    output for float32 here, and that choice gives the kernel's output on shapes the probe did
    not see; other dtypes rerun the kernel."""
    cpu = torch.device('cpu')
    formula = brc._z_formula(cpu, torch.float32)
    assert formula in brc._BETA_FORMULAS
    assert brc._z_formula(cpu, torch.float64) == brc._z_formula(cpu, torch.bfloat16) == 'stats'
    gen = torch.Generator().manual_seed(1)
    for shape, cl in (((32, 64, 64, 48), True), ((5, 18, 33, 17), False), ((2, 144, 2, 3), True)):
        x = torch.randn(shape, generator=gen) * 2 - 0.5
        x = x.contiguous(memory_format=torch.channels_last) if cl else x
        w, b = torch.rand(shape[1], generator=gen) + 0.5, torch.randn(shape[1], generator=gen)
        z, mean, invstd = torch.native_batch_norm(x, w, b, None, None, True, 0.0, 1e-5)
        alpha = invstd * w
        beta = brc._BETA_FORMULAS[formula](mean, alpha, b)
        assert torch.equal(torch.addcmul(beta.view(1, -1, 1, 1), x, alpha.view(1, -1, 1, 1)), z)


def test_the_probe_rejects_a_formula_that_does_not_reproduce_the_kernel(monkeypatch):
    """A constant term one ulp off is caught by the probe, which then falls back to rerunning
    the kernel ('stats'); the choice is cached per device type and dtype."""
    def off_by_one_ulp(mean, alpha, bias):
        beta = brc._beta_addcmul(mean, alpha, bias)
        return torch.nextafter(beta, torch.full_like(beta, float('inf')))
    monkeypatch.setattr(brc, '_BETA_FORMULAS', dict(off=off_by_one_ulp))
    monkeypatch.setattr(brc, '_Z_FORMULA', {})
    assert brc._z_formula(torch.device('cpu'), torch.float32) == 'stats'
    assert brc._Z_FORMULA == {('cpu', torch.float32): 'stats'}


@pytest.mark.parametrize('owner', ['HRNet', 'SegHead'])
def test_recompute_mode_is_checked(owner):
    from hrnet_train.models.heads import SegHead
    build = (lambda v: HRNet('w18-small-v1', recompute_bn_relu=v)) if owner == 'HRNet' else \
        (lambda v: SegHead(8, 3, recompute_bn_relu=v))
    for value in (True, False, 'cpu'):
        assert build(value).recompute_bn_relu == value
    with pytest.raises(ValueError, match=rf"^{owner} recompute_bn_relu must be True, False or "
                       r"'cpu', got 'cuda'$"):
        build('cuda')
