"""HRNet backbone: shapes/strides for every preset, official key layout, parameter counts,
fusion modes, freezing."""
import pytest
import torch
import torch.nn as nn

from hrnet_train.models.backbones.hrnet import ARCH_SETTINGS, HRNet

BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def official_w_keys(c: int, *, pose: bool) -> set:
    """The official HRNet-Wc key list, written from the rules of the official code
    (REFERENCE §1.1/§2.1), independent of hrnet.py."""
    keys = {'conv1.weight', 'conv2.weight'} | {f'bn{i}.{b}' for i in (1, 2) for b in BN}

    def bn(prefix):
        return {f'{prefix}.{b}' for b in BN}

    for n in range(4):
        for i in (1, 2, 3):
            keys.add(f'layer1.{n}.conv{i}.weight')
            keys |= bn(f'layer1.{n}.bn{i}')
    keys.add('layer1.0.downsample.0.weight')
    keys |= bn('layer1.0.downsample.1')
    keys.add('transition1.0.0.weight')
    keys |= bn('transition1.0.1')
    for t, b in ((1, 1), (2, 2), (3, 3)):
        keys.add(f'transition{t}.{b}.0.0.weight')
        keys |= bn(f'transition{t}.{b}.0.1')
    for s, (nmod, nbr) in {2: (1, 2), 3: (4, 3), 4: (3, 4)}.items():
        for m in range(nmod):
            p = f'stage{s}.{m}'
            for b in range(nbr):
                for n in range(4):
                    for i in (1, 2):
                        keys.add(f'{p}.branches.{b}.{n}.conv{i}.weight')
                        keys |= bn(f'{p}.branches.{b}.{n}.bn{i}')
            rows = 1 if (pose and s == 4 and m == nmod - 1) else nbr
            for i in range(rows):
                for j in range(nbr):
                    if j > i:
                        keys.add(f'{p}.fuse_layers.{i}.{j}.0.weight')
                        keys |= bn(f'{p}.fuse_layers.{i}.{j}.1')
                    elif j < i:
                        for k in range(i - j):
                            keys.add(f'{p}.fuse_layers.{i}.{j}.{k}.0.weight')
                            keys |= bn(f'{p}.fuse_layers.{i}.{j}.{k}.1')
    return keys


@pytest.mark.parametrize('pose', [False, True])
def test_w32_keys_are_exactly_official(pose):
    sd = HRNet('w32', multi_scale_output=not pose).state_dict()
    expected = official_w_keys(32, pose=pose)
    assert set(sd) == expected
    assert len(sd) == (1752 if pose else 1830)  # REFERENCE §2.1 entry counts
    assert tuple(sd['stage2.0.fuse_layers.0.1.0.weight'].shape) == (32, 64, 1, 1)
    assert tuple(sd['stage2.0.fuse_layers.1.0.0.0.weight'].shape) == (64, 32, 3, 3)
    assert tuple(sd['transition1.0.0.weight'].shape) == (32, 256, 3, 3)
    assert tuple(sd['transition3.3.0.0.weight'].shape) == (256, 128, 3, 3)


def test_w32_parameter_counts():
    """Published counts: 29,305,536 with four outputs, 28,535,552 for the pose model."""
    n4 = sum(p.numel() for p in HRNet('w32').parameters())
    n1 = sum(p.numel() for p in HRNet('w32', multi_scale_output=False).parameters())
    assert n4 == 29_305_536
    assert n1 == 28_535_552


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_every_preset_shapes_and_strides(arch):
    torch.manual_seed(0)
    model = HRNet(arch).eval()
    widths = ARCH_SETTINGS[arch]['stage4']['num_channels']
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert len(outs) == 4
    for b, out in enumerate(outs):
        stride = 4 * 2 ** b
        assert tuple(out.shape) == (1, widths[b], 64 // stride, 96 // stride)
        assert torch.isfinite(out).all()
    assert model.out_channels == tuple(widths)
    assert model.out_strides == (4, 8, 16, 32)


def test_single_output_returns_stride4_only():
    model = HRNet('w18-small-v1', multi_scale_output=False).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 48))
    assert len(outs) == 1 and tuple(outs[0].shape) == (2, 16, 16, 12)
    assert model.out_channels == (16,)


def test_odd_input_sizes_with_bilinear_and_nearest_fusion():
    x = torch.randn(1, 3, 97, 131)
    for mode in ('bilinear', 'nearest'):
        model = HRNet('w18-small-v1', upsample_mode=mode).eval()
        with torch.no_grad():
            outs = model(x)
        # stride-2 convs round up: 97 -> 49 -> 25 -> 13 -> 7 -> 4
        assert [tuple(o.shape[-2:]) for o in outs] == [(25, 33), (13, 17), (7, 9), (4, 5)]


def test_bilinear_and_nearest_fusion_differ_with_same_weights():
    torch.manual_seed(0)
    a = HRNet('w18-small-v1', upsample_mode='nearest').eval()  # torch default init: O(1) outputs
    b = HRNet('w18-small-v1', upsample_mode='bilinear').eval()
    b.load_state_dict(a.state_dict(), strict=True)  # one weight format for both
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        oa, ob = a(x), b(x)
    rel = ((oa[0] - ob[0]).norm() / oa[0].norm()).item()
    assert rel > 1e-3


def test_nearest_fusion_equals_scale_factor_upsampling():
    """Resizing to the exact size equals the official nn.Upsample(scale_factor=2**k) output."""
    x = torch.randn(1, 4, 5, 7)
    ref = nn.Upsample(scale_factor=4, mode='nearest')(x)
    from hrnet_train.models.backbones.hrnet import HighResolutionModule
    mod = HighResolutionModule(2, 'BASIC', (1, 1), (4, 8), (4, 8))
    assert torch.equal(mod._resize(x, (20, 28)), ref)


def test_explicit_extra_config_and_errors():
    extra = dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,),
                    num_channels=(8,)),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1),
                    num_channels=(4, 8)),
        stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                    num_channels=(4, 8, 16)),
        stage4=dict(num_modules=2, num_branches=4, block='BOTTLENECK', num_blocks=(1, 1, 1, 1),
                    num_channels=(4, 8, 16, 32)))
    model = HRNet(None, extra=extra).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [16, 32, 64, 128]  # Bottleneck expansion 4
    with pytest.raises(ValueError, match='arch must be one of'):
        HRNet('w33')
    bad = dict(extra, stage3=dict(extra['stage3'], num_channels=(4, 8)))
    with pytest.raises(ValueError, match='extra.stage3'):
        HRNet(None, extra=bad)
    with pytest.raises(KeyError, match="missing 'stage4'"):
        HRNet(None, extra={k: v for k, v in extra.items() if k != 'stage4'})


def test_frozen_stages_and_norm_eval():
    model = HRNet('w18-small-v1', frozen_stages=2, norm_eval=True)
    model.train()
    frozen = ['conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1', 'stage2']
    for name, p in model.named_parameters():
        root = name.split('.')[0]
        assert p.requires_grad == (root not in frozen), name
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert not m.training
    # frozen BN statistics stay put during a training forward
    before = model.bn1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(before, model.bn1.running_mean)
    # without norm_eval, BN outside the frozen stages trains
    model2 = HRNet('w18-small-v1', frozen_stages=0).train()
    assert not model2.bn1.training and model2.stage4[0].branches[0][0].bn1.training


@pytest.mark.parametrize('switches', [
    dict(), dict(with_cp=True, recompute_bn_relu=False),
    dict(with_cp='stage1', recompute_bn_relu=False), dict(recompute_bn_relu=True),
    dict(with_cp='stage1', recompute_bn_relu=True), dict(with_cp=True, recompute_bn_relu=True)])
@pytest.mark.parametrize('momentum', [0.1, None])
def test_memory_switches_give_the_plain_outputs_gradients_and_bn_statistics(switches, momentum):
    """with_cp and recompute_bn_relu (the default, 'cpu', included) against neither, two
    training steps: the same outputs, every buffer (running statistics updated once per step,
    num_batches_tracked 2) and the same gradients, bit for bit."""
    torch.manual_seed(0)
    norm_cfg = dict(type='BN', momentum=momentum)
    a = HRNet('w18-small-v1', norm_cfg=norm_cfg, recompute_bn_relu=False).train()
    b = HRNet('w18-small-v1', norm_cfg=norm_cfg, **switches).train()
    b.load_state_dict(a.state_dict())
    for step in range(2):
        x = torch.randn(2, 3, 32, 32)
        outs = []
        for m in (a, b):
            m.zero_grad()
            out = m(x)
            sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in out).backward()
            outs.append(out)
        for oa, ob in zip(*outs):
            assert torch.equal(oa, ob)
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa.grad, pb.grad), n
    sb = b.state_dict()
    for k, v in a.state_dict().items():
        assert torch.equal(v, sb[k]), k
    assert int(b.layer1[0].bn1.num_batches_tracked) == 2
    assert b.layer1[0].bn1.momentum == momentum  # restored after each recomputation


def test_with_cp_stage1_is_skipped_without_gradients_and_checked():
    frozen = HRNet('w18-small-v1', with_cp='stage1', frozen_stages=1).train()
    x = torch.randn(2, 3, 64, 64)
    sum(o.sum() for o in frozen(x)).backward()  # stem + stage 1 frozen: nothing to recompute
    assert frozen.layer1[0].conv1.weight.grad is None
    assert frozen.stage2[0].branches[0][0].conv1.weight.grad is not None
    with torch.no_grad():
        HRNet('w18-small-v1', with_cp='stage1').train()(x)
    with pytest.raises(ValueError, match="with_cp must be True, False or 'stage1', got 'all'"):
        HRNet('w18-small-v1', with_cp='all')


def test_syncbn_norm_cfg_and_momentum():
    model = HRNet('w18-small-v1', norm_cfg=dict(type='SyncBN', momentum=0.01))
    assert isinstance(model.bn1, nn.SyncBatchNorm) and model.bn1.momentum == 0.01


def test_default_init_is_official_normal_001():
    torch.manual_seed(0)
    model = HRNet('w18')
    model.init_weights()
    std = model.stage4[0].branches[3][0].conv1.weight.std().item()
    assert 0.0009 < std < 0.0011
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)


@pytest.mark.parametrize('mode,hw,channels_last,with_cp', [
    ('nearest', (64, 48), False, False), ('nearest', (64, 48), True, True),
    ('nearest', (49, 67), False, False), ('bilinear', (64, 46), True, False)])
def test_fast_fusion_equals_the_plain_path(mode, hw, channels_last, with_cp):
    """fast_fusion (in-place residual and fusion sums; in inference nearest upsampling as a
    broadcast add) gives bit-identical outputs, running statistics and gradients in train mode,
    and bit-identical outputs in eval mode, both memory formats; odd sizes take the resize
    fallback."""
    torch.manual_seed(0)
    fast = HRNet('w18-small-v2', upsample_mode=mode, with_cp=with_cp, fast_fusion=True)
    plain = HRNet('w18-small-v2', upsample_mode=mode, with_cp=with_cp, fast_fusion=False)
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(2, 3, *hw)
    if channels_last:
        fast, plain = (m.to(memory_format=torch.channels_last) for m in (fast, plain))
        x = x.contiguous(memory_format=torch.channels_last)
    of, op = fast(x), plain(x)
    assert len(of) == 4
    for a, b in zip(of, op):
        assert torch.equal(a, b)
    for (n, a), b in zip(fast.named_buffers(), plain.buffers()):
        assert torch.equal(a, b), n
    gs = [torch.randn_like(o) for o in op]
    sum((o * g).sum() for o, g in zip(of, gs)).backward()
    sum((o * g).sum() for o, g in zip(op, gs)).backward()
    for (n, a), b in zip(fast.named_parameters(), plain.parameters()):
        assert torch.equal(a.grad, b.grad), n
    with torch.no_grad():  # eval mode too (running statistics)
        fast.eval(), plain.eval()
        for a, b in zip(fast(x), plain(x)):
            assert torch.equal(a, b)


def test_fast_fusion_never_writes_into_a_branch_output():
    """Every fusion row reads x[i] of the other rows: the fast path must leave them intact."""
    from hrnet_train.models.backbones.hrnet import HighResolutionModule
    torch.manual_seed(0)
    mod = HighResolutionModule(3, 'BASIC', (1, 1, 1), (4, 8, 16), (4, 8, 16)).eval()
    mod.branches = nn.ModuleList(nn.Identity() for _ in range(3))  # x[b] reach the fusion as is
    x = [torch.randn(1, 4 * 2 ** b, 16 // 2 ** b, 12 // 2 ** b) for b in range(3)]
    saved = [t.clone() for t in x]
    with torch.no_grad():
        mod(x)
    for a, b in zip(x, saved):
        assert torch.equal(a, b)
