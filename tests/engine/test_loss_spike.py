"""A finite but exploding loss stops training before anything is saved; normal runs go on."""
import os

import _toy
import pytest
import torch

from hrnet_train.engine import LossSpikeError, LossSpikeHook, NonFiniteLossError
from hrnet_train.engine.hooks.loss_spike_hook import total_loss
from hrnet_train.utils.errors import ConfigError, TrainingDivergedError

# lr 0.05 for 6 iterations (validation and a best checkpoint at 6), then lr 1e3: the loss goes
# 16.0 (iteration 6) -> 1.09 -> 5.5e8 (iteration 8) -> 3.9e15 -> ... -> 8.9e35, all finite.
EXPLODING = {
    'param_scheduler': [dict(type='MultiStepLR', by_epoch=False, milestones=[6], gamma=2e4)],
    'train_cfg.max_iters': 12,
}
GUARD = {'default_hooks.loss_spike.warmup': 4, 'default_hooks.loss_spike.window': 4}


def _files(work_dir):
    return sorted(name for name in os.listdir(work_dir) if name.endswith('.pth'))


def test_exploding_loss_stops_before_the_checkpoint(tmp_path):
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **EXPLODING, **GUARD))
    with pytest.raises(LossSpikeError) as exc:
        runner.train()
    message = str(exc.value)
    assert '\n' not in message
    assert message.startswith('Loss spike at iteration 8 (epoch 1): loss=5.535e+08 is ')
    # the reference: the loss of the untrained model at iteration 1
    assert 'is 8.26e+08 x the first loss 0.6703 of this run (spike_factor=1000)' in message
    assert 'Lower the learning rate' in message and '--resume' in message
    assert isinstance(exc.value, TrainingDivergedError)
    assert isinstance(exc.value, FloatingPointError)  # what callers caught before
    assert runner.model.train_forwards == 8
    # iter_4 and the best checkpoint of iteration 6 (with its re-saved iter_6) are from before
    # the spike; iteration 8's exploded weights were never saved
    assert _files(tmp_path) == ['best_toy_mae_iter_6.pth', 'iter_4.pth', 'iter_6.pth']
    assert not (tmp_path / 'train.lock').exists()


def test_without_the_guard_the_exploded_run_ends_normally(tmp_path):
    """What the guard prevents: exit 0 with the exploded weights saved as iter_8/iter_12."""
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **EXPLODING,
                                               **{'default_hooks.loss_spike': None}))
    runner.train()
    assert runner.iter == 12
    assert _files(tmp_path) == ['best_toy_mae_iter_6.pth', 'iter_12.pth', 'iter_4.pth',
                                'iter_6.pth', 'iter_8.pth']


def test_normal_runs_are_not_stopped(tmp_path):
    # the toy's normal loss swings 27x between iterations 1 and 2 (0.67 -> 18.3)
    runner = _toy.build_runner(_toy.toy_config(
        tmp_path / 'short', **{'default_hooks.loss_spike.warmup': 1,
                               'default_hooks.loss_spike.window': 1}))
    runner.train()
    assert runner.iter == 12
    # the default thresholds over a long run whose loss falls from 0.67 to ~1e-7
    runner = _toy.build_runner(_toy.toy_config(
        tmp_path / 'long', **{'train_cfg.max_iters': 300, 'train_cfg.val_begin': 1000,
                              'default_hooks.checkpoint.interval': 1000,
                              'default_hooks.logger.interval': 1000}))
    runner.train()
    assert runner.iter == 300
    hook = next(h for h in runner.hooks if isinstance(h, LossSpikeHook))
    assert (hook.spike_factor, hook.window, hook.warmup, hook.max_loss) == (1000.0, 50, 50, None)


def test_max_loss(tmp_path):
    runner = _toy.build_runner(_toy.toy_config(tmp_path,
                                               **{'default_hooks.loss_spike.max_loss': 5}))
    with pytest.raises(LossSpikeError, match=r'^Loss spike at iteration 2 \(epoch 1\): '
                                             r'loss=18.29 exceeds max_loss=5\. '):
        runner.train()
    assert _files(tmp_path) == []


def test_non_finite_loss_error_is_a_divergence():
    assert issubclass(NonFiniteLossError, TrainingDivergedError)
    assert issubclass(LossSpikeError, TrainingDivergedError)


def test_guard_arguments():
    with pytest.raises(ConfigError, match='window must be an integer >= 1, got 0'):
        LossSpikeHook(window=0)
    with pytest.raises(ConfigError, match='spike_factor must be > 1'):
        LossSpikeHook(spike_factor=0.5)
    with pytest.raises(ConfigError, match='default_hooks.loss_spike=None'):
        LossSpikeHook(spike_factor=None)


def test_median_reference_ignores_zero_and_non_finite_losses():
    hook = LossSpikeHook(warmup=0, window=3)
    hook._recent.extend([0.0, 0.0, 1.0])
    assert hook._spike(1e9) is None  # median 0: no ratio
    hook._recent.extend([1.0, 2.0, 3.0])
    assert 'x the median 2 of the last 3 iterations' in hook._spike(2001.0)
    assert hook._spike(1999.0) is None
    assert total_loss(dict(loss=torch.tensor(2.5), loss_a=torch.tensor(1.0))) == 2.5
    assert total_loss(dict(acc=1.0)) is None


def test_divergence_from_the_first_iterations_is_caught_with_the_defaults(tmp_path):
    """lr 1e3 from the start: the loss explodes before any running window could hold a healthy
    median (the pose quickstart at lr 1e3 logged 2e14 after 8 iterations and ended with exit 0
    and a best checkpoint); the first loss of the run is the reference that stops it."""
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **{
        'optim_wrapper.optimizer.lr': 1e3, 'train_cfg.max_iters': 12}))
    with pytest.raises(LossSpikeError, match=r'^Loss spike at iteration [23] \(epoch 1\): '
                                             r'loss=\S+ is \S+ x the first loss 0.6703'):
        runner.train()
    assert _files(tmp_path) == []


def test_median_reference_catches_a_late_spike():
    """Long after the loss fell 10^4-fold from its first value, a 2000x jump against the recent
    median trips the guard although it is still below 1000x the first loss."""
    hook = LossSpikeHook(window=5, warmup=4)
    hook._first = 10.0
    hook._recent.extend([0.001] * 5)
    hook._seen = 5
    assert hook._spike(0.5) is None  # 500x the median
    reason = hook._spike(2.0)
    assert reason == ('loss=2 is 2e+03 x the median 0.001 of the last 5 iterations '
                      '(spike_factor=1000)')
    assert hook._spike(1e5).startswith('loss=1e+05 is 1e+04 x the first loss 10 of this run')
