import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from hrnet_train.models.layers.resize_concat import resize_concat
from hrnet_train.models.necks import HRFPN, HRNetV2Concat

_BILINEAR_BACKWARD = torch.ops.aten.upsample_bilinear2d_backward.default


def _feats(channels_last, n=2, channels=(4, 8, 16, 32), h=25, w=38):
    gen = torch.Generator().manual_seed(0)
    sizes = [(h, w)]
    for _ in channels[1:]:  # stride-2 3x3 convs with padding 1: ceil(x / 2)
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [torch.randn(n, c, *s, generator=gen).contiguous(memory_format=fmt).requires_grad_()
            for c, s in zip(channels, sizes)]


def _plain(feats, align_corners):
    size = feats[0].shape[-2:]
    return torch.cat([feats[0]] + [F.interpolate(f, size=size, mode='bilinear',
                                                 align_corners=align_corners)
                                   for f in feats[1:]], dim=1)


class _GradLayouts(TorchDispatchMode):
    """Records, per bilinear backward call, whether its incoming gradient was dense in
    channels_last."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is _BILINEAR_BACKWARD:
            g = args[0]
            self.seen.append(g.is_contiguous(memory_format=torch.channels_last))
        return func(*args, **(kwargs or {}))


def _backward(fn, feats, grad):
    for f in feats:
        f.grad = None
    out = fn(feats)
    with _GradLayouts() as mode:
        out.backward(grad)
    return out, [f.grad.clone() for f in feats], mode.seen


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('align_corners', [False, True])
def test_values_and_gradients_bit_identical_to_the_plain_ops(channels_last, align_corners):
    feats = _feats(channels_last)
    gen = torch.Generator().manual_seed(1)
    grad = torch.randn(2, 60, 25, 38, generator=gen)
    if channels_last:
        grad = grad.contiguous(memory_format=torch.channels_last)
    ref, ref_grads, ref_seen = _backward(lambda fs: _plain(fs, align_corners), feats, grad)
    out, grads, seen = _backward(lambda fs: resize_concat(fs, align_corners=align_corners),
                                 feats, grad)
    assert out.shape == (2, 60, 25, 38)
    assert torch.equal(out, ref)
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads))
    assert grads[1].abs().sum() > 0
    # the reason for the hooks: the plain cat hands the bilinear backward strided slices
    # (batch 2); in channels_last resize_concat hands it dense ones, in NCHW it leaves them
    assert seen == [channels_last] * 3
    assert ref_seen == [False] * 3


def test_no_hooks_without_autograd():
    feats = [f.detach() for f in _feats(True)]
    with torch.no_grad():
        out = resize_concat(feats)
    assert torch.equal(out, _plain(feats, False))
    assert not out.requires_grad


@pytest.mark.parametrize('channels_last', [False, True])
def test_necks_use_it(channels_last):
    feats = _feats(channels_last)
    neck = HRNetV2Concat((4, 8, 16, 32))
    out, _, seen = _backward(neck, feats, torch.ones(2, 60, 25, 38))
    assert torch.equal(out, _plain(feats, False)) and seen == [channels_last] * 3

    fpn = HRFPN((4, 8, 16, 32), out_channels=8, num_outs=2)
    if channels_last:
        fpn = fpn.to(memory_format=torch.channels_last)
    for f in feats:
        f.grad = None
    with _GradLayouts() as mode:
        sum(level.sum() for level in fpn(feats)).backward()
    assert mode.seen == [channels_last] * 3
    x = fpn.reduction_conv(_plain([f.detach() for f in feats], False))
    torch.testing.assert_close(fpn(feats)[0], fpn.fpn_convs[0](x), rtol=0, atol=0)
