"""OCRHead: official names, bias flags, shapes, and the OCR maths against an einsum re-derivation.

Source of every fact checked here: HRNet/HRNet-Semantic-Segmentation (branch HRNet-OCR, @7b0a416)
lib/models/seg_hrnet_ocr.py.
"""
import pytest
import torch
import torch.nn.functional as F

from hrnet_train.models.heads.ocr_head import OCRHead, gather_object_regions

# The official state_dict keys of the head (seg_hrnet_ocr.py; BNReLU nests BN at `.1.0` / `.3.0`).
_BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
_OCR = 'ocr_distri_head.object_context_block.'
OFFICIAL_HEAD_KEYS = (
    ['aux_head.0.weight', 'aux_head.0.bias'] + [f'aux_head.1.{b}' for b in _BN]
    + ['aux_head.3.weight', 'aux_head.3.bias', 'conv3x3_ocr.0.weight', 'conv3x3_ocr.0.bias']
    + [f'conv3x3_ocr.1.{b}' for b in _BN]
    + [k for f in ('f_pixel', 'f_object') for k in
       [f'{_OCR}{f}.0.weight'] + [f'{_OCR}{f}.1.0.{b}' for b in _BN]
       + [f'{_OCR}{f}.2.weight'] + [f'{_OCR}{f}.3.0.{b}' for b in _BN]]
    + [k for f in ('f_down', 'f_up') for k in
       [f'{_OCR}{f}.0.weight'] + [f'{_OCR}{f}.1.0.{b}' for b in _BN]]
    + ['ocr_distri_head.conv_bn_dropout.0.weight']
    + [f'ocr_distri_head.conv_bn_dropout.1.0.{b}' for b in _BN]
    + ['cls_head.weight', 'cls_head.bias'])


def test_state_dict_keys_are_the_official_ones():
    head = OCRHead(in_channels=12, num_classes=3, channels=8, key_channels=4)
    assert list(head.state_dict()) == OFFICIAL_HEAD_KEYS


def test_shapes_and_bias_flags_of_the_w48_head():
    head = OCRHead(in_channels=720, num_classes=19)
    sd = head.state_dict()
    assert sd['aux_head.0.weight'].shape == (720, 720, 1, 1)
    assert sd['aux_head.3.weight'].shape == (19, 720, 1, 1)
    assert sd['conv3x3_ocr.0.weight'].shape == (512, 720, 3, 3)
    assert sd['conv3x3_ocr.0.bias'].shape == (512,)
    assert sd[_OCR + 'f_pixel.0.weight'].shape == (256, 512, 1, 1)
    assert sd[_OCR + 'f_up.0.weight'].shape == (512, 256, 1, 1)
    assert sd['ocr_distri_head.conv_bn_dropout.0.weight'].shape == (512, 1024, 1, 1)
    assert sd['cls_head.weight'].shape == (19, 512, 1, 1)
    # Bias only on aux_head.{0,3}, conv3x3_ocr.0 and cls_head; the attention convs and the
    # fusion conv are bias-free.
    biased = sorted(k[:-len('.bias')] for k in sd if k.endswith('.bias')
                    and sd[k[:-len('.bias')] + '.weight'].dim() == 4)
    assert biased == ['aux_head.0', 'aux_head.3', 'cls_head', 'conv3x3_ocr.0']
    dropout = head.ocr_distri_head.conv_bn_dropout[2]
    assert isinstance(dropout, torch.nn.Dropout2d) and dropout.p == 0.05
    # Parameter count by hand: aux 720*720+720 + 2*720 + 720*19+19; conv3x3 720*512*9+512 +
    # 2*512; f_pixel, f_object 2 x (512*256 + 256*256 + 4*256); f_down 512*256 + 2*256; f_up
    # 256*512 + 2*512; fusion 1024*512 + 2*512; cls 512*19 + 19.
    expected = (720 * 720 + 720 + 2 * 720 + 720 * 19 + 19 + 720 * 512 * 9 + 512 + 2 * 512
                + 2 * (512 * 256 + 256 * 256 + 4 * 256) + 512 * 256 + 2 * 256
                + 256 * 512 + 2 * 512 + 1024 * 512 + 2 * 512 + 512 * 19 + 19)
    assert sum(p.numel() for p in head.parameters()) == expected == 5_047_558


def test_forward_returns_aux_then_main_at_the_input_size():
    torch.manual_seed(0)
    head = OCRHead(in_channels=12, num_classes=3, channels=8, key_channels=4)
    out = head(torch.randn(2, 12, 6, 5))
    assert isinstance(out, list) and [tuple(o.shape) for o in out] == [(2, 3, 6, 5)] * 2
    assert head.num_outputs == 2
    with pytest.raises(ValueError, match=r'expected input \(N, 12, H, W\)'):
        head(torch.randn(2, 11, 6, 5))


def test_gather_is_a_softmax_over_pixels_hand_computed():
    # One image, 2 channels, 1x2 pixels, 2 classes. Class 0 logits (0, log 3) -> weights
    # (1/4, 3/4); class 1 logits equal -> (1/2, 1/2).
    feats = torch.tensor([[[[1., 5.]], [[2., -2.]]]])  # (1, 2, 1, 2)
    logits = torch.tensor([[[[0., float(torch.log(torch.tensor(3.)))]], [[7., 7.]]]])
    centres = gather_object_regions(feats, logits)
    assert centres.shape == (1, 2, 2, 1)
    expected = torch.tensor([[1 / 4 + 15 / 4, 3.], [2 / 4 - 6 / 4, 0.]])  # (C, K)
    torch.testing.assert_close(centres[0, :, :, 0], expected)


def _reference_context(ocb, f, centres, *, scaled=True):
    """Official _ObjectAttentionBlock.forward (scale 1) re-derived with einsum."""
    n, _, h, w = f.shape
    q = ocb.f_pixel(f).flatten(2)  # (N, D, HW)
    k = ocb.f_object(centres).flatten(2)  # (N, D, K)
    v = ocb.f_down(centres).flatten(2)  # (N, D, K)
    d = q.shape[1]
    sim = torch.einsum('ndp,ndk->npk', q, k)
    att = F.softmax(sim / d ** 0.5 if scaled else sim, dim=2)  # over the K regions
    return ocb.f_up(torch.einsum('npk,ndk->ndp', att, v).reshape(n, d, h, w))


def _reference_head(head, x):
    """The official HighResolutionNet.forward after the concatenation (eval mode)."""
    aux = head.aux_head(x)
    f = head.conv3x3_ocr(x)
    p = F.softmax(aux.flatten(2), dim=2)  # (N, K, HW)
    centres = torch.einsum('nkp,ncp->nck', p, f.flatten(2))[..., None]  # (N, C, K, 1)
    ctx = _reference_context(head.ocr_distri_head.object_context_block, f, centres)
    fused = head.ocr_distri_head.conv_bn_dropout(torch.cat([ctx, f], 1))  # context first
    return aux, head.cls_head(fused)


def _randomise_bn(module):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(0.2, 0.8)  # keeps most ReLUs open


def test_forward_matches_an_independent_derivation():
    torch.manual_seed(0)
    head = OCRHead(in_channels=12, num_classes=3, channels=8, key_channels=4)
    _randomise_bn(head)
    head.eval()
    x = torch.randn(2, 12, 6, 5)
    with torch.no_grad():
        aux, main = head(x)
        ref_aux, ref_main = _reference_head(head, x)
    torch.testing.assert_close(aux, ref_aux)
    torch.testing.assert_close(main, ref_main)


def test_attention_is_scaled_by_one_over_sqrt_key_channels():
    torch.manual_seed(0)
    head = OCRHead(in_channels=12, num_classes=3, channels=8, key_channels=4)
    _randomise_bn(head)
    ocb = head.ocr_distri_head.object_context_block.eval()
    f, centres = 3 * torch.randn(2, 8, 6, 5), 3 * torch.randn(2, 8, 3, 1)
    with torch.no_grad():
        out = ocb(f, centres)
        torch.testing.assert_close(out, _reference_context(ocb, f, centres))
        unscaled = _reference_context(ocb, f, centres, scaled=False)
    assert out.shape == (2, 8, 6, 5)
    assert (unscaled - out).abs().max() > 1e-2  # the scale is really applied


def test_default_init_is_pytorch_default_not_normal_0001():
    torch.manual_seed(0)
    head = OCRHead(in_channels=720, num_classes=19)
    # kaiming_uniform(a=sqrt(5)) bound = 1/sqrt(fan_in): the official head keeps it.
    bound = 1 / 720 ** 0.5
    w = head.aux_head[0].weight.detach()
    assert float(w.abs().max()) <= bound and float(w.std()) > 0.5 * bound / 3 ** 0.5
