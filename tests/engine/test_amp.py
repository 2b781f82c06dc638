"""AMP through torch.amp: bfloat16 on CPU; float16 with dynamic loss scaling on CUDA."""
import _toy
import pytest
import torch
import torch.nn as nn

from hrnet_train.engine import AmpOptimWrapper


def test_amp_bf16_cpu_trains(tmp_path):
    cfg = _toy.toy_config(tmp_path, **{
        'train_cfg.max_iters': 4, 'train_cfg.val_begin': 1000,
        'optim_wrapper': dict(type='AmpOptimWrapper', dtype='bfloat16')})
    runner = _toy.build_runner(cfg)
    runner.train()
    assert isinstance(runner.optim_wrapper, AmpOptimWrapper)
    assert runner.optim_wrapper.cast_dtype == torch.bfloat16
    assert not runner.optim_wrapper.loss_scaler.is_enabled()  # bf16 needs no loss scaling
    assert runner.iter == 4
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_amp_autocast_dtype_on_cpu():
    model = nn.Linear(4, 2)
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                              dtype='bfloat16')
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    state = wrapper.state_dict()
    assert state['loss_scaler'] == {}
    wrapper.load_state_dict(state)


@pytest.mark.parametrize('native, warned', [(False, True), (True, False), (None, False)])
def test_amp_bf16_on_cpu_says_when_it_is_emulated(monkeypatch, native, warned):
    import hrnet_train.engine.amp_optim_wrapper as amp
    logged = []
    monkeypatch.setattr(amp, 'has_native_bf16', lambda: native)
    monkeypatch.setattr(amp, 'print_log', lambda msg, **kw: logged.append(msg))
    model = nn.Linear(2, 2)
    AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), dtype='bfloat16')
    assert bool(logged) == warned
    if warned:
        assert 'without AVX512-BF16 or AMX' in logged[0] and 'slower than float32' in logged[0]


def test_amp_rejects_bad_dtype():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match='optim_wrapper.dtype'):
        AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), dtype='int8')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='float16 AMP with loss scaling: CUDA')
def test_amp_fp16_cuda_dynamic_scale():
    model = nn.Linear(4, 2).cuda()
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert wrapper.cast_dtype == torch.float16 and wrapper.loss_scaler.is_enabled()
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4, device='cuda'))
    assert out.dtype == torch.float16
    wrapper.update_params(out.float().pow(2).mean())
    scale = wrapper.loss_scaler.get_scale()
    assert scale == 2.0 ** 16
    # an overflowing step is skipped and halves the scale
    before = [p.detach().clone() for p in model.parameters()]
    with wrapper.optim_context(model):
        out = model(torch.full((3, 4), 6e4, device='cuda'))
    wrapper.update_params(out.float().sum() * 1e30)
    assert wrapper.loss_scaler.get_scale() == scale / 2
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    restored = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    restored.load_state_dict(wrapper.state_dict())
    assert restored.loss_scaler.get_scale() == scale / 2


def test_channels_last_option(tmp_path):
    from mmengine.model import BaseDataPreprocessor

    from hrnet_train.engine import enable_channels_last

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.data_preprocessor = BaseDataPreprocessor()
            self.conv = nn.Conv2d(3, 4, 3)

    model = enable_channels_last(Conv())
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    out = model.data_preprocessor(dict(inputs=torch.randn(2, 3, 8, 8)), False)
    assert out['inputs'].is_contiguous(memory_format=torch.channels_last)
    assert out['inputs'].shape == (2, 3, 8, 8)
    # and through the config key, on the toy (no 4-D weights; must not break)
    cfg = _toy.toy_config(tmp_path, **{'train_cfg.max_iters': 2, 'train_cfg.val_begin': 1000},
                          channels_last=True)
    _toy.build_runner(cfg).train()


def test_compile_option_trains_and_matches_eager(tmp_path):
    """`compile=dict(backend='eager')` goes through torch.compile (dynamo tracing without code
    generation, so it is fast on CPU) and gives the same weights as no compile. The runner
    compiles the network in place (compile_network), not mmengine's train_step."""
    base = {'train_cfg.max_iters': 3, 'train_cfg.val_begin': 1000}
    plain = _toy.build_runner(_toy.toy_config(tmp_path / 'plain', **base))
    plain.train()
    compiled = _toy.build_runner(_toy.toy_config(tmp_path / 'compiled', **base,
                                                 compile=dict(backend='eager')))
    compiled.train()
    # the toy model has no backbone/head: its own forward is compiled in place
    assert compiled.model._compiled_call_impl is not None  # really compiled
    assert plain.model._compiled_call_impl is None
    for a, b in zip(plain.model.parameters(), compiled.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
