"""torch's fused optimizer kernels by default (hrnet_train.engine.fused_optimizer)."""
import pytest
import torch
import torch.nn as nn

from hrnet_train.engine.fused_optimizer import fused_kernel_available, with_fused_optimizer

needs_cpu_fused = pytest.mark.skipif(not fused_kernel_available('Adam', 'cpu'),
                                     reason='this torch has no fused CPU optimizer kernels')


def _params():
    return list(nn.Conv2d(3, 4, 3).parameters())


@needs_cpu_fused
@pytest.mark.parametrize('kind', ['Adam', 'AdamW', 'SGD', 'torch.optim.Adam', torch.optim.SGD])
def test_fused_set_for_the_fused_optimizers(kind):
    cfg = dict(type='OptimWrapper', optimizer=dict(type=kind, lr=0.1), clip_grad=None)
    out, message = with_fused_optimizer(cfg, _params())
    assert out['optimizer'] == dict(type=kind, lr=0.1, fused=True)
    assert out['clip_grad'] is None and "fused kernel (cpu" in message
    assert 'fused' not in cfg['optimizer']  # a copy: the runner's config is not changed


@pytest.mark.parametrize('opt,why', [
    (dict(type='Adam', lr=0.1, fused=False), 'set in the config'),
    (dict(type='Adam', lr=0.1, foreach=True), 'set in the config'),
    (dict(type='SGD', lr=0.1, differentiable=True), 'set in the config'),
    (dict(type='RMSprop', lr=0.1), ''),  # torch has no fused RMSprop
])
def test_explicit_settings_and_other_optimizers_are_kept(opt, why):
    cfg = dict(optimizer=opt)
    out, message = with_fused_optimizer(cfg, _params())
    assert out is cfg and out['optimizer'] == opt and why in message


def test_non_config_and_non_float_parameters_are_kept():
    built = torch.optim.SGD(_params(), lr=0.1)
    assert with_fused_optimizer(built, _params()) == (built, '')
    multi = dict(backbone=dict(optimizer=dict(type='SGD', lr=0.1)))
    assert with_fused_optimizer(multi, _params())[0] is multi
    cfg = dict(optimizer=dict(type='SGD', lr=0.1))
    frozen_int = nn.Parameter(torch.zeros(2, dtype=torch.int64), requires_grad=False)
    out, message = with_fused_optimizer(cfg, [nn.Parameter(torch.zeros(2)), frozen_int])
    assert out['optimizer'].get('fused') is (True if fused_kernel_available('SGD', 'cpu')
                                             else None)  # parameters without grad do not count
    out, message = with_fused_optimizer(cfg, [])
    assert out is cfg and 'not fused' in message


def _train(opt_cls, scaler: bool, steps: int = 6, **kwargs):
    """``steps`` steps of a small conv net on fixed data; returns the final parameters."""
    torch.manual_seed(0)
    # no bias before the BatchNorm: its gradient is rounding noise, which Adam scales to lr-sized
    # steps of either sign
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 2, 1))
    opt = opt_cls(net.parameters(), **kwargs)
    gs = torch.amp.GradScaler('cpu', init_scale=2.0 ** 10) if scaler else None
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 2, 8, 8, generator=g)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        if gs is None:
            loss.backward()
            opt.step()
        else:
            gs.scale(loss).backward()
            gs.step(opt)
            gs.update()
    return [p.detach().clone() for p in net.parameters()], opt


@needs_cpu_fused
@pytest.mark.parametrize('opt_cls,kwargs', [
    (torch.optim.Adam, dict(lr=1e-2, weight_decay=1e-4)),
    (torch.optim.AdamW, dict(lr=1e-2, weight_decay=1e-2)),
    (torch.optim.SGD, dict(lr=5e-2, momentum=0.9, weight_decay=5e-4, nesterov=True)),
])
@pytest.mark.parametrize('scaler', [False, True])
def test_fused_kernel_updates_as_the_default_one(opt_cls, kwargs, scaler):
    """Same parameters within float rounding after several steps, also under a GradScaler
    (which unscales through the fused kernel's grad_scale argument)."""
    ref, ref_opt = _train(opt_cls, scaler, **kwargs)
    got, opt = _train(opt_cls, scaler, fused=True, **kwargs)
    assert opt.defaults['fused'] is True and not ref_opt.defaults.get('fused')
    moved = max((r - p0).abs().max().item() for r, p0 in zip(ref, _train(opt_cls, scaler, 0,
                                                                          **kwargs)[0]))
    assert moved > 1e-3  # the steps changed the weights
    for r, p in zip(ref, got):
        torch.testing.assert_close(p, r, rtol=1e-5, atol=1e-6)


@needs_cpu_fused
@pytest.mark.parametrize('value', [None, False])
def test_runner_builds_the_fused_optimizer_unless_turned_off(tmp_path, value):
    import _toy
    options = {} if value is None else dict(fused_optimizer=value)
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **options))
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    fused = runner.optim_wrapper.optimizer.defaults['fused']
    assert fused is (True if value is None else None)
    assert runner.cfg.optim_wrapper.optimizer.get('fused') is None  # the config is unchanged
