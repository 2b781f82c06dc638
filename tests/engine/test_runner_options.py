"""Config switches the Runner interprets itself."""
import pytest

from hrnet_train.engine.runner import normalize_sync_bn


def test_sync_bn_values():
    assert normalize_sync_bn(True) == 'torch'
    assert normalize_sync_bn('torch') == 'torch'
    assert normalize_sync_bn(False) is None and normalize_sync_bn(None) is None
    with pytest.raises(ValueError, match="mmcv-lite"):
        normalize_sync_bn('mmcv')


def test_eval_progress_bar_counts_batches():
    import io

    from hrnet_train.engine.hooks import EvalProgressBarHook

    class _Runner:
        val_dataloader = [0, 1, 2]

    out = io.StringIO()
    hook = EvalProgressBarHook(only_tty=False, file=out)
    hook.before_val_epoch(_Runner())
    for i in range(3):
        hook.after_val_iter(_Runner(), i)
    hook.after_val_epoch(_Runner())
    assert '3/3' in out.getvalue()
    quiet = io.StringIO()  # not a terminal: nothing drawn by default
    hook2 = EvalProgressBarHook(file=quiet)
    hook2.before_val_epoch(_Runner())
    hook2.after_val_iter(_Runner(), 0)
    hook2.after_val_epoch(_Runner())
    assert quiet.getvalue() == ''


@pytest.mark.parametrize('runner_type', ['Runner', 'hrnet_train.Runner'])
def test_runner_type_builds_hrnet_train_runner(tmp_path, runner_type):
    """`runner_type` in a config builds hrnet-train's Runner through RUNNERS, also from
    mmengine's root registry under the config's default scope (what tools/train.py does)."""
    import _toy
    from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
    from mmengine.registry import DefaultScope

    from hrnet_train.engine import Runner
    from hrnet_train.registry import RUNNERS
    from hrnet_train.utils import register_all_modules

    register_all_modules()
    assert RUNNERS.get('Runner') is Runner
    assert RUNNERS.get('normalize_sync_bn') is None  # a function is not a runner
    cfg = _toy.toy_config(tmp_path / 'a', runner_type=runner_type)
    assert type(RUNNERS.build(cfg)) is Runner
    cfg = _toy.toy_config(tmp_path / 'b', runner_type=runner_type)
    with DefaultScope.overwrite_default_scope('hrnet_train'):
        assert type(MMENGINE_RUNNERS.build(cfg)) is Runner


@pytest.mark.parametrize('value', [True, False])
def test_keep_freed_memory_is_applied_on_cpu_runs_only_when_asked(tmp_path, monkeypatch, value):
    """The runner calls hrnet_train.utils.malloc.keep_freed_memory at set-up (CPU, key on);
    the effect itself is tested in tests/utils/test_malloc.py (in a child process)."""
    import _toy
    import torch

    from hrnet_train.engine import runner as runner_mod
    calls = []
    monkeypatch.setattr(runner_mod, 'keep_freed_memory', lambda: calls.append(1) or True)
    _toy.build_runner(_toy.toy_config(tmp_path, keep_freed_memory=value))
    assert len(calls) == (1 if value and not torch.cuda.is_available() else 0)


@pytest.mark.parametrize('options,message', [
    (dict(fuse_bn='onednn', compile=True), "fuse_bn='onednn' and compile are two ways"),
    (dict(fuse_bn='yes'), "fuse_bn must be True, False or 'onednn', got 'yes'"),
])
def test_fuse_bn_option_errors_are_config_errors(tmp_path, options, message):
    import _toy

    from hrnet_train.utils.errors import ConfigError
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **options))
    with pytest.raises(ConfigError, match=message):
        runner._speed_up_inference()


def test_onednn_speed_switch_in_the_tools_arguments():
    import argparse

    from mmengine.config import Config

    from hrnet_train.engine.launch import add_speed_arguments, apply_speed_arguments
    parser = argparse.ArgumentParser()
    add_speed_arguments(parser, test=True)
    assert parser.parse_args([]).fuse_bn is False
    assert parser.parse_args(['--fuse-bn']).fuse_bn is True
    args = parser.parse_args(['--onednn', '--channels-last'])
    assert args.fuse_bn == 'onednn'
    cfg = Config(dict(fuse_bn=True))
    apply_speed_arguments(cfg, args)
    assert (cfg.fuse_bn, cfg.channels_last) == ('onednn', True)
    cfg = Config(dict(fuse_bn='onednn'))
    apply_speed_arguments(cfg, parser.parse_args(['--fuse-bn']))
    assert cfg.fuse_bn == 'onednn'  # a switch never turns off what the config enables
    with pytest.raises(SystemExit):
        parser.parse_args(['--fuse-bn', '--onednn'])


@pytest.mark.parametrize('value', [True, False])
def test_gemm_weight_grad_converts_the_model_when_asked(tmp_path, monkeypatch, value):
    """``gemm_weight_grad = True`` hands the model to use_gemm_weight_grad once, before any
    wrapper (the conversion itself: tests/models/layers/test_gemm_wgrad_conv.py)."""
    import _toy

    from hrnet_train.engine import runner as runner_mod
    calls = []
    monkeypatch.setattr(runner_mod, 'use_gemm_weight_grad',
                        lambda model: calls.append(type(model).__name__) or 0)
    _toy.build_runner(_toy.toy_config(tmp_path, gemm_weight_grad=value))
    assert calls == (['ToyModel'] if value else [])


def test_gemm_weight_grad_switch_is_for_training_only():
    import argparse

    from mmengine.config import Config

    from hrnet_train.engine.launch import add_speed_arguments, apply_speed_arguments
    train, test = argparse.ArgumentParser(), argparse.ArgumentParser()
    add_speed_arguments(train, test=False)
    add_speed_arguments(test, test=True)
    cfg = Config(dict())
    apply_speed_arguments(cfg, train.parse_args(['--gemm-weight-grad', '--channels-last']))
    assert (cfg.gemm_weight_grad, cfg.channels_last) == (True, True)
    assert train.parse_args([]).gemm_weight_grad is False
    with pytest.raises(SystemExit):
        test.parse_args(['--gemm-weight-grad'])


@pytest.mark.parametrize('avx512,gemm,warned', [
    (False, False, True), (True, False, False), (False, True, False), (None, False, False)])
def test_channels_last_cpu_training_warns_without_avx512(tmp_path, monkeypatch, avx512, gemm,
                                                         warned):
    """channels_last CPU training warns where the CPU lacks AVX-512 (oneDNN's slow NHWC
    weight-gradient kernel), unless gemm_weight_grad is on or the CPU is unknown."""
    import logging

    import _toy
    import torch

    from hrnet_train.engine import channels_last
    from hrnet_train.engine.channels_last import cpu_training_warning
    if torch.cuda.is_available():
        pytest.skip('the warning is for CPU training')
    monkeypatch.setattr(channels_last, 'has_avx512', lambda: avx512)
    assert (cpu_training_warning(gemm) is not None) is warned
    if warned:
        assert 'AVX-512' in cpu_training_warning(gemm) and '--gemm-weight-grad' in \
            cpu_training_warning(gemm)
    runner = _toy.build_runner(_toy.toy_config(
        tmp_path, **{'train_cfg.max_iters': 1, 'train_cfg.val_begin': 1000},
        channels_last=True, gemm_weight_grad=gemm))
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    runner.logger.addHandler(handler)
    try:
        runner.train()
    finally:
        runner.logger.removeHandler(handler)
    hits = [r for r in records if 'channels_last training on a CPU without AVX-512' in
            r.getMessage()]
    assert len(hits) == (1 if warned else 0)
    assert all(r.levelno == logging.WARNING for r in hits)
