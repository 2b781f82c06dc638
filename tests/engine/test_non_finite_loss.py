"""A NaN loss stops training with a message naming the iteration and the loss term."""
import _toy
import pytest
import torch

from hrnet_train.engine import NonFiniteLossError
from hrnet_train.engine.hooks.non_finite_loss_hook import find_non_finite


def test_nan_loss_stops_with_iteration_and_key(tmp_path):
    cfg = _toy.toy_config(tmp_path, **{'train_cfg.max_iters': 12, 'train_cfg.val_begin': 1000,
                                       'model.nan_at_iter': 3})
    runner = _toy.build_runner(cfg)
    with pytest.raises(NonFiniteLossError, match=r'iteration 3 .*loss_mse=nan') as exc:
        runner.train()
    assert 'acc_dummy' not in str(exc.value)  # NaN accuracies are not losses
    assert runner.model.train_forwards == 3  # stopped right there
    # the NaN step was never checkpointed (checkpoint interval 4)
    assert not (tmp_path / 'iter_4.pth').exists()


def test_find_non_finite_orders_terms_before_total():
    log_vars = dict(loss=torch.tensor(float('inf')), loss_a=torch.tensor(1.0),
                    loss_b=torch.tensor(float('inf')), acc_x=torch.tensor(float('nan')))
    assert find_non_finite(log_vars) == [('loss_b', float('inf')), ('loss', float('inf'))]
    assert find_non_finite(dict(loss=torch.tensor(2.0))) == []


def test_default_hooks_can_be_removed(tmp_path):
    cfg = _toy.toy_config(tmp_path, **{'default_hooks.non_finite_loss': None,
                                       'default_hooks.loss_spike': None,
                                       'default_hooks.preemption': None,
                                       'default_hooks.logger': None})
    names = [type(h).__name__ for h in _toy.build_runner(cfg).hooks]
    assert 'NonFiniteLossHook' not in names and 'PreemptionCheckpointHook' not in names
    assert 'LossSpikeHook' not in names and 'LoggerHook' not in names
    assert 'AtomicCheckpointHook' in names and 'ResumeStateHook' in names
