"""hrnet_train.ops.conv2d_weight_grad against aten's convolution backward."""
import pytest
import torch

from hrnet_train.ops.conv_weight_grad import conv2d_weight_grad

_BACKWARD = torch.ops.aten.convolution_backward.default


def _reference(x, grad_out, weight_shape, padding):
    weight = torch.zeros(weight_shape, dtype=x.dtype)
    return _BACKWARD(grad_out, x, weight, None, [1, 1], list(padding), [1, 1], False, [0, 0], 1,
                     [False, True, False])[1]


def _case(n, c, o, h, w, k, p, dtype, fmt, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g, dtype=dtype).contiguous(memory_format=fmt)
    h_out, w_out = h + 2 * p[0] - k[0] + 1, w + 2 * p[1] - k[1] + 1
    grad_out = torch.randn(n, o, h_out, w_out, generator=g, dtype=dtype)
    return x, grad_out.contiguous(memory_format=fmt)


SHAPES = [  # n, c, o, h, w, kernel, padding
    (2, 5, 7, 9, 6, (3, 3), (1, 1)),   # odd sizes, the common 3x3
    (1, 3, 4, 8, 8, (1, 1), (0, 0)),   # 1x1: one GEMM, no border
    (3, 4, 6, 7, 5, (3, 3), (0, 0)),   # no padding: a smaller output
    (2, 3, 2, 11, 9, (5, 5), (2, 2)),
    (2, 4, 3, 6, 10, (1, 3), (0, 1)),  # rectangular kernel
    (2, 6, 5, 1, 1, (3, 3), (1, 1)),   # 1x1 image: only the centre tap sees data
]


@pytest.mark.parametrize('fmt', [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('n,c,o,h,w,k,p', SHAPES)
def test_equals_aten_in_float64(n, c, o, h, w, k, p, fmt):
    x, grad_out = _case(n, c, o, h, w, k, p, torch.float64, fmt)
    ref = _reference(x, grad_out, (o, c, *k), p)
    out = conv2d_weight_grad(x, grad_out, k, p)
    assert out.shape == (o, c, *k) and out.dtype == torch.float64
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_float32_rounding_and_layout():
    """float32 sums in another order: within 1e-5 of the float64 gradient; channels_last in,
    channels_last out (the parameters' layout under channels_last training)."""
    x, grad_out = _case(2, 16, 24, 20, 14, (3, 3), (1, 1), torch.float32, torch.channels_last)
    out = conv2d_weight_grad(x, grad_out, (3, 3), (1, 1))
    ref = _reference(x.double(), grad_out.double(), (24, 16, 3, 3), (1, 1))
    assert ((out.double() - ref).abs().max() / ref.abs().max()).item() < 1e-5
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    plain = conv2d_weight_grad(x.contiguous(), grad_out.contiguous(), (3, 3), (1, 1))
    assert plain.is_contiguous()
    torch.testing.assert_close(plain, out, rtol=0, atol=0)  # the same GEMMs either way


def test_inputs_unchanged():
    x, grad_out = _case(2, 3, 4, 6, 5, (3, 3), (1, 1), torch.float32, torch.channels_last)
    x0, g0 = x.clone(), grad_out.clone()
    conv2d_weight_grad(x, grad_out, (3, 3), (1, 1))
    assert torch.equal(x, x0) and torch.equal(grad_out, g0)


@pytest.mark.parametrize('x_shape,g_shape,k,p,match', [
    ((2, 3, 8, 8), (2, 4, 8, 8), (3, 3), (0, 0), 'is not the output of a stride-1 3x3'),
    ((2, 3, 8, 8), (1, 4, 8, 8), (3, 3), (1, 1), r'x \(N, C, H, W\) and grad_out'),
    ((3, 8, 8), (3, 4, 8, 8), (3, 3), (1, 1), r'x \(N, C, H, W\) and grad_out'),
    ((2, 3, 8, 8), (2, 4, 4, 4), (3, 3), (1, 1), 'stride-1'),  # a stride-2 output
])
def test_shape_errors(x_shape, g_shape, k, p, match):
    with pytest.raises(ValueError, match=match):
        conv2d_weight_grad(torch.zeros(x_shape), torch.zeros(g_shape), k, p)
