"""HRNetClsHead: the official HRNet-C head's modules, key names, shapes, init and pooling
(HRNet/HRNet-Image-Classification:lib/models/cls_hrnet.py; REFERENCE §1.4, §2.2)."""
import math

import pytest
import torch

from hrnet_train.models.heads import cls_head
from hrnet_train.models.heads.cls_head import HRNetClsHead
from hrnet_train.models.layers.blocks import Bottleneck

W18 = (18, 36, 72, 144)


def _feats(channels=W18, size=(14, 10), n=2, seed=0):
    """Branch outputs of a stride-4 map of ``size`` (H, W): sizes ceil(H / 2**i), as HRNet."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    return [torch.randn(n, c, math.ceil(h / 2 ** i), math.ceil(w / 2 ** i), generator=g)
            for i, c in enumerate(channels)]


def _randomise_bn(head):
    """Non-trivial BN statistics so that eval-mode outputs exercise every layer."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in head.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return head.eval()


def test_official_key_names_and_shapes():
    head = HRNetClsHead(W18, num_classes=1000)
    sd = head.state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    # incre_modules.{i}.0: one Bottleneck C_i -> 4 * [32, 64, 128, 256], 1x1 + BN downsample
    for i, (c, planes) in enumerate(zip(W18, (32, 64, 128, 256))):
        assert shapes[f'incre_modules.{i}.0.conv1.weight'] == (planes, c, 1, 1)
        assert shapes[f'incre_modules.{i}.0.conv2.weight'] == (planes, planes, 3, 3)
        assert shapes[f'incre_modules.{i}.0.conv3.weight'] == (4 * planes, planes, 1, 1)
        assert shapes[f'incre_modules.{i}.0.downsample.0.weight'] == (4 * planes, c, 1, 1)
        assert f'incre_modules.{i}.0.downsample.1.running_var' in sd
        assert f'incre_modules.{i}.1.conv1.weight' not in sd  # one block per branch
        assert type(head.incre_modules[i][0]) is Bottleneck  # the one shared block
    # downsamp_modules.{i}: conv3x3 stride 2 WITH bias + BN (+ ReLU, no keys)
    for i, (c_in, c_out) in enumerate(((128, 256), (256, 512), (512, 1024))):
        assert shapes[f'downsamp_modules.{i}.0.weight'] == (c_out, c_in, 3, 3)
        assert shapes[f'downsamp_modules.{i}.0.bias'] == (c_out,)
        assert head.downsamp_modules[i][0].stride == (2, 2)
        assert head.downsamp_modules[i][0].padding == (1, 1)
        assert shapes[f'downsamp_modules.{i}.1.weight'] == (c_out,)
    assert 'downsamp_modules.3.0.weight' not in sd
    assert shapes['final_layer.0.weight'] == (2048, 1024, 1, 1)
    assert shapes['final_layer.0.bias'] == (2048,)
    assert shapes['final_layer.1.running_mean'] == (2048,)
    assert shapes['classifier.weight'] == (1000, 2048)
    assert shapes['classifier.bias'] == (1000,)
    # 4 x (3 convs + 3 BN x 5 + downsample conv + BN x 5) + 3 x (conv w, b + BN x 5) + 7 + 2
    assert len(sd) == 4 * 24 + 3 * 7 + 7 + 2 == 126
    roots = {k.split('.', 1)[0] for k in sd}
    assert roots == {'incre_modules', 'downsamp_modules', 'final_layer', 'classifier'}


def test_parameter_count_by_hand():
    head = HRNetClsHead(W18, num_classes=1000)
    # downsamp_modules.0: 128 -> 256 conv3x3 with bias, BN affine
    assert sum(p.numel() for p in head.downsamp_modules[0].parameters()) == (
        256 * 128 * 9 + 256 + 2 * 256)
    assert sum(p.numel() for p in head.final_layer.parameters()) == 2048 * 1024 + 2048 + 2 * 2048
    assert sum(p.numel() for p in head.classifier.parameters()) == 2048 * 1000 + 1000


def test_forward_shape_for_sizes_not_divisible_by_32():
    head = HRNetClsHead(W18, num_classes=7)
    for size in ((56, 56), (13, 9), (1, 1)):  # 224x224, 50x36 and 4x4 inputs
        assert tuple(head(_feats(size=size)).shape) == (2, 7)
    assert tuple(head.pre_logits(_feats()).shape) == (2, 2048)


def test_official_init():
    torch.manual_seed(0)
    head = HRNetClsHead(W18, num_classes=1000)
    # kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / (C_out * k * k))
    w = head.final_layer[0].weight
    assert abs(w.std().item() / math.sqrt(2 / 2048) - 1) < 0.02
    w = head.downsamp_modules[2][0].weight
    assert abs(w.std().item() / math.sqrt(2 / (1024 * 9)) - 1) < 0.02
    bn = head.final_layer[1]
    assert torch.equal(bn.weight, torch.ones(2048)) and torch.equal(bn.bias, torch.zeros(2048))
    assert bn.momentum == 0.1
    # the classifier keeps nn.Linear's default init: U(-1/sqrt(2048), 1/sqrt(2048))
    assert head.classifier.weight.abs().max() <= 1 / math.sqrt(2048)
    assert head.classifier.weight.std() > 0.5 / math.sqrt(3 * 2048)


def test_running_sum_from_high_to_low_resolution():
    """y = incre[i + 1](x[i + 1]) + downsamp[i](y), then final_layer, GAP and classifier."""
    head = _randomise_bn(HRNetClsHead(W18, num_classes=5))
    feats = _feats()
    with torch.no_grad():
        y = head.incre_modules[0](feats[0])
        for i in range(3):
            y = head.incre_modules[i + 1](feats[i + 1]) + head.downsamp_modules[i](y)
        y = head.final_layer(y)
        expected = head.classifier(y.mean(dim=(2, 3)))
        torch.testing.assert_close(head(feats), expected, rtol=0, atol=1e-5)


def test_traced_pooling_equals_eager_at_every_size():
    """Tracing takes flatten + mean: ONNX's AveragePool would need the kernel (the final map's
    size) as a constant, ReduceMean fits every input size."""
    head = _randomise_bn(HRNetClsHead(W18, num_classes=5))
    with torch.no_grad():
        traced = torch.jit.trace(head, (_feats(size=(14, 10)),))
        graph = str(traced.inlined_graph)
        assert 'aten::mean' in graph and 'avg_pool2d' not in graph
        for size in ((14, 10), (7, 7), (13, 9)):
            feats = _feats(size=size, seed=2)
            # avg_pool2d and mean round differently in the last bit
            torch.testing.assert_close(traced(feats), head(feats), rtol=0, atol=1e-5)


def test_export_path_equals_avg_pool(monkeypatch):
    head = _randomise_bn(HRNetClsHead(W18, num_classes=5))
    feats = _feats()
    with torch.no_grad():
        eager = head(feats)
        monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
        exported = head(feats)
    torch.testing.assert_close(exported, eager, rtol=0, atol=1e-5)
    x = torch.randn(2, 8, 3, 5)
    torch.testing.assert_close(cls_head._global_average_pool(x), x.mean(dim=(2, 3)))


def test_backward_reaches_every_parameter():
    head = HRNetClsHead(W18, num_classes=3)
    head(_feats()).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters())


def test_bad_inputs():
    with pytest.raises(ValueError, match='one width per branch'):
        HRNetClsHead((18, 36), num_classes=10)
    with pytest.raises(ValueError, match='num_classes must be >= 1'):
        HRNetClsHead(W18, num_classes=0)
    head = HRNetClsHead(W18, num_classes=10)
    with pytest.raises(ValueError, match='expects 4 branches'):
        head(_feats()[:1])
    with pytest.raises(ValueError, match=r'branch channels \(18, 36, 72, 144\), got \(32'):
        head(_feats(channels=(32, 64, 128, 256)))
