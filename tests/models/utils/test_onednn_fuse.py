import pytest
import torch
from torch import nn

from hrnet_train.models.backbones.hrnet import HRNet
from hrnet_train.models.heads.fcn_head import SegHead
from hrnet_train.models.layers import BasicBlock, Bottleneck
from hrnet_train.models.layers.onednn_conv import OneDNNConv2d, onednn_available
from hrnet_train.models.utils import onednn_fuse
from hrnet_train.models.utils.fuse_bn import count_batchnorms, fuse_batchnorm
from hrnet_train.models.utils.onednn_fuse import fuse_onednn, onednn_summary

AVAILABLE, WHY = onednn_available()
needs_onednn = pytest.mark.skipif(not AVAILABLE, reason=f'no fused oneDNN kernel: {WHY}')


@pytest.fixture
def hrnet(randomise_bn):
    def build(multi_scale_output=True):
        torch.manual_seed(0)
        return randomise_bn(HRNet(arch='w18-small-v1', multi_scale_output=multi_scale_output))
    return build


def _relu_modules_after_convs(model):
    """ReLU modules a Sequential applies right after a convolution (and folded norms)."""
    found = 0
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            mods = [m for m in seq if not isinstance(m, nn.Identity)]
            found += sum(isinstance(a, nn.Conv2d) and type(b) is nn.ReLU
                         for a, b in zip(mods, mods[1:]))
    return found


@needs_onednn
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('multi_scale_output', [True, False])
def test_fused_hrnet_matches_the_folded_one(hrnet, multi_scale_output, channels_last):
    model = hrnet(multi_scale_output)
    folded = fuse_batchnorm(model)
    fast = fuse_onednn(model)
    convs = sum(type(m) is nn.Conv2d for m in model.modules())
    blocks = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    inner = sum(2 if isinstance(b, Bottleneck) else 1 for b in blocks)
    seq_relus = _relu_modules_after_convs(folded)
    assert sum(isinstance(m, OneDNNConv2d) for m in fast.modules()) == convs
    assert sum(getattr(m, 'post', None) == 'relu' for m in fast.modules()) == (
        2 + inner + len(blocks) + seq_relus)  # stem, inner ReLUs, residual ends, Sequentials
    assert all(m.fused_residual for m in fast.modules() if isinstance(m, (BasicBlock,
                                                                           Bottleneck)))
    assert _relu_modules_after_convs(fast) == 0 and isinstance(fast.relu, nn.Identity)
    assert onednn_summary(fast) == (
        f'onednn: {convs} convolutions prepacked ({2 + inner + len(blocks) + seq_relus} with '
        f'their ReLU, {len(blocks)} with the residual add), 0 left plain, 0 BatchNorms unfolded')
    assert list(fast.state_dict()) == list(folded.state_dict())
    assert count_batchnorms(model) > 0 and model.conv1.__class__ is nn.Conv2d  # not modified
    x = torch.randn(2, 3, 64, 48)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        fast = fast.to(memory_format=torch.channels_last)
    with torch.no_grad():
        ref, out = model(x), fast(x)
        folded_out = folded(x)
    assert len(ref) == len(out) == (4 if multi_scale_output else 1)
    for r, o, f in zip(ref, out, folded_out):
        assert o.shape == r.shape
        assert torch.allclose(o, r, rtol=0, atol=1e-5 * r.abs().max()), (r - o).abs().max()
        assert o.is_contiguous(memory_format=torch.channels_last) == channels_last
        if not channels_last:  # NCHW runs the plain ops: the folded model's numbers exactly
            assert torch.equal(o, f)


@needs_onednn
def test_with_autograd_the_fused_model_is_the_folded_one_bit_for_bit(hrnet):
    model = hrnet()
    folded, fast = fuse_batchnorm(model), fuse_onednn(model)
    fast, folded = (m.to(memory_format=torch.channels_last) for m in (fast, folded))
    x = torch.randn(1, 3, 64, 48).contiguous(memory_format=torch.channels_last).requires_grad_()
    for r, o in zip(folded(x), fast(x)):
        assert torch.equal(r, o)


@needs_onednn
def test_fused_seg_head_and_inplace(randomise_bn):
    torch.manual_seed(0)
    head = randomise_bn(SegHead(24, 5, channels=16)).to(memory_format=torch.channels_last)
    x = torch.randn(2, 24, 9, 7).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = head(x)
        fast = fuse_onednn(head, inplace=True)
        assert fast is head
        out = fast(x)
    conv, norm, relu, cls = head.last_layer
    assert conv.post == 'relu' and cls.post == 'none'
    assert isinstance(norm, nn.Identity) and isinstance(relu, nn.Identity)
    assert torch.allclose(out, ref, rtol=0, atol=1e-5 * ref.abs().max())


def test_unavailable_kernel_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(onednn_fuse, 'onednn_available', lambda: (False, 'no kernel here'))
    with pytest.raises(RuntimeError, match='^onednn fusion unavailable: no kernel here$'):
        fuse_onednn(nn.Conv2d(1, 1, 1))


@needs_onednn
def test_fused_ocr_head_with_nested_relus(randomise_bn):
    from hrnet_train.models.heads.ocr_head import OCRHead
    torch.manual_seed(0)
    head = randomise_bn(OCRHead(in_channels=12, num_classes=3, channels=8, key_channels=4))
    fast = fuse_onednn(head).to(memory_format=torch.channels_last)
    nested = fast.ocr_distri_head.conv_bn_dropout
    assert nested[0].post == 'relu' and isinstance(nested[1][1], nn.Identity)
    assert count_batchnorms(fast) == 0
    assert not any(type(m) is nn.ReLU for m in fast.modules())  # each one in its conv
    x = torch.randn(2, 12, 6, 5).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for r, o in zip(head(x), fast(x)):
            assert torch.allclose(o, r, rtol=0, atol=1e-5 * r.abs().max()), (r - o).abs().max()
