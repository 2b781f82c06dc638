import pytest
import torch
from torch import nn

from hrnet_train.models.backbones.hrnet import HRNet
from hrnet_train.models.utils.fuse_bn import count_batchnorms, fuse_batchnorm, fuse_conv_bn


def test_fuse_conv_bn_by_hand():
    # 1x1 conv, weight 2, bias 1; BN mean 3, var 4 - eps, gamma 5, beta 6:
    # y = 5 * (2x + 1 - 3) / 2 + 6 = 5x + 1
    conv = nn.Conv2d(1, 1, 1)
    bn = nn.BatchNorm2d(1).eval()
    with torch.no_grad():
        conv.weight.fill_(2.)
        conv.bias.fill_(1.)
        bn.running_mean.fill_(3.)
        bn.running_var.fill_(4. - bn.eps)
        bn.weight.fill_(5.)
        bn.bias.fill_(6.)
    fused = fuse_conv_bn(conv, bn)
    assert fused.weight.item() == pytest.approx(5.)
    assert fused.bias.item() == pytest.approx(1.)
    assert conv.weight.item() == 2.  # inputs untouched
    with pytest.raises(ValueError, match='3-feature BatchNorm'):
        fuse_conv_bn(conv, nn.BatchNorm2d(3))


@pytest.mark.parametrize('multi_scale_output', [True, False])
def test_fused_hrnet_matches_and_has_fewer_parameters(multi_scale_output, randomise_bn):
    torch.manual_seed(0)
    model = randomise_bn(HRNet(arch='w18-small-v1', multi_scale_output=multi_scale_output))
    fused = fuse_batchnorm(model)
    assert count_batchnorms(model) > 0 and count_batchnorms(fused) == 0
    n_before = sum(p.numel() for p in model.parameters())
    n_after = sum(p.numel() for p in fused.parameters())
    bn_params = sum(m.weight.numel() + m.bias.numel() for m in model.modules()
                    if isinstance(m, nn.BatchNorm2d))
    # each BN loses gamma and beta; a bias-free conv gains a bias of the same size (C) -> the
    # drop is at least the BNs of the convs that already had a bias, at most all gamma+beta
    assert 0 < n_before - n_after <= bn_params
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        ref = model(x)
        out = fused(x)
    assert len(ref) == len(out)
    for r, o in zip(ref, out):
        assert torch.allclose(r, o, atol=1e-5, rtol=0), (r - o).abs().max()
    assert model.training is False and count_batchnorms(model) > 0  # original unchanged


def test_ocr_head_nested_bn_relu_is_folded(randomise_bn):
    """The OCR head nests its norms as conv, Sequential(BN, ReLU) (official ModuleHelper):
    all nine fold, and the outputs stay."""
    from hrnet_train.models.heads.ocr_head import OCRHead
    torch.manual_seed(0)
    head = randomise_bn(OCRHead(in_channels=12, num_classes=3, channels=8, key_channels=4))
    fused = fuse_batchnorm(head)
    assert count_batchnorms(head) == 9 and count_batchnorms(fused) == 0
    assert isinstance(fused.ocr_distri_head.conv_bn_dropout[1][0], nn.Identity)
    assert isinstance(fused.ocr_distri_head.conv_bn_dropout[1][1], nn.ReLU)
    x = torch.randn(2, 12, 6, 5)
    with torch.no_grad():
        for r, o in zip(head(x), fused(x)):
            assert torch.allclose(o, r, rtol=0, atol=1e-5 * r.abs().max()), (r - o).abs().max()
