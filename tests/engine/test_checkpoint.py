"""Checkpoints: weights_only round trip, atomic writes, latest-valid discovery."""
import errno
import os
import os.path as osp
import random

import _toy
import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from hrnet_train.engine import AtomicCheckpointHook, AtomicLocalBackend
from hrnet_train.engine import checkpoint as ckpt_mod
from hrnet_train.engine.checkpoint import (
    find_latest_checkpoint,
    is_valid_checkpoint,
    list_checkpoints,
    save_checkpoint_atomic,
    write_text_atomic,
)
from hrnet_train.utils import safe_torch_load
from hrnet_train.utils.errors import CheckpointError

NO_VAL = {'train_cfg.val_begin': 1000}


def _train(tmp_path, max_iters, **options):
    cfg = _toy.toy_config(tmp_path, **{'train_cfg.max_iters': max_iters, **NO_VAL, **options})
    runner = _toy.build_runner(cfg)
    runner.train()
    return runner


def test_checkpoint_round_trip_weights_only(tmp_path):
    runner = _train(tmp_path, 4)
    path = tmp_path / 'iter_4.pth'
    # Plain torch.load(weights_only=True) rejects mmengine checkpoints (REFERENCE §5.2) ...
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    # ... the allow-listed loader accepts them, without any global weights_only=False.
    ckpt = safe_torch_load(path)
    assert set(ckpt) >= {'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers',
                         'rng_states'}
    assert ckpt['meta']['iter'] == 4 and ckpt['meta']['epoch'] == 0
    meta = ckpt['meta']['dataset_meta']
    np.testing.assert_array_equal(meta['sigmas'], np.array([0.026, 0.025], dtype=np.float32))
    assert meta['sigmas'].dtype == np.float32 and meta['num_keypoints'] == np.int64(2)
    log_scalars = ckpt['message_hub']['log_scalars']
    assert isinstance(log_scalars['train/loss_mse'], HistoryBuffer)
    assert len(log_scalars['train/loss_mse']._log_history) == 4
    for key, value in _toy.model_state(runner).items():
        assert torch.equal(ckpt['state_dict'][key], value), key
    assert ckpt['optimizer']['state'][0]['momentum_buffer'].shape == (1, 4)
    assert ckpt['param_schedulers'][0] == runner.param_schedulers[0].state_dict()
    assert len(ckpt['rng_states']['numpy']['key']) == 624
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ


def test_resume_restores_optimizer_scheduler_and_hub(tmp_path):
    _train(tmp_path, 4)
    ckpt = safe_torch_load(tmp_path / 'iter_4.pth')
    cfg = _toy.toy_config(tmp_path, **{'train_cfg.max_iters': 4, **NO_VAL})
    runner = _toy.build_runner(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
    runner.resume(str(tmp_path / 'iter_4.pth'))
    assert runner.iter == 4
    state = runner.optim_wrapper.state_dict()
    assert torch.equal(state['state'][0]['momentum_buffer'],
                       ckpt['optimizer']['state'][0]['momentum_buffer'])
    assert runner.param_schedulers[0].state_dict() == ckpt['param_schedulers'][0]
    hub = runner.message_hub.log_scalars['train/loss_mse']
    assert hub._log_history.tolist() == ckpt['message_hub']['log_scalars'][
        'train/loss_mse']._log_history.tolist()


@pytest.mark.parametrize('resumed_seed', [7, None])
def test_resume_continues_rng_streams(tmp_path, resumed_seed):
    """Python/numpy/torch draws after resuming are those of the uninterrupted run: also when a
    validation ran right after the checkpoint (it re-saves iter_4.pth in after_val_epoch), and
    when the resumed config's seed differs (mmengine's resume then re-seeds every generator)."""
    options = {'train_cfg.val_begin': 1, 'train_cfg.val_interval': 4, 'model.draw_random': True,
               'randomness.seed': 7}
    full = _train(tmp_path / 'full', 8, **options)
    first = _train(tmp_path / 'cut', 4, **options)
    assert first.model.random_draws == full.model.random_draws[:4]
    assert (tmp_path / 'cut' / 'best_toy_mae_iter_4.pth').is_file()  # validation ran at 4
    resumed = _train(tmp_path / 'cut', 8, **{**options, 'randomness.seed': resumed_seed},
                     resume=True)
    assert resumed.model.train_forwards == 4
    assert resumed.model.random_draws == full.model.random_draws[4:]
    assert resumed.model.seen_indices == full.model.seen_indices[4:]
    assert 'rng_states' in safe_torch_load(tmp_path / 'cut' / 'iter_8.pth')


def test_load_from_does_not_restore_rng(tmp_path):
    """Weights from another run (load_from) are a fresh start: its RNG states stay unused."""
    options = {'model.draw_random': True}
    _train(tmp_path / 'a', 4, **options)
    fresh = _train(tmp_path / 'fresh', 4, **options)
    loaded = _train(tmp_path / 'b', 4, **options, load_from=str(tmp_path / 'a' / 'iter_4.pth'))
    assert loaded.model.random_draws == fresh.model.random_draws


def test_rng_states_round_trip():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    states = ckpt_mod.get_rng_states()
    a = (random.random(), np.random.rand(), np.random.randn(), torch.rand(2).tolist())
    ckpt_mod.set_rng_states(states)
    assert (random.random(), np.random.rand(), np.random.randn(), torch.rand(2).tolist()) == a


def test_atomic_save_failure_leaves_previous_file_and_no_partial(tmp_path, monkeypatch):
    path = tmp_path / 'iter_4.pth'
    save_checkpoint_atomic({'w': torch.ones(3)}, path)
    real_fsync = os.fsync

    def failing_fsync(fd):  # the bytes are in the .tmp file, then the "disk" fails
        raise OSError('simulated I/O error during checkpoint write')

    monkeypatch.setattr(ckpt_mod.os, 'fsync', failing_fsync)
    with pytest.raises(OSError, match='simulated'):
        save_checkpoint_atomic({'w': torch.zeros(1000)}, path)
    monkeypatch.setattr(ckpt_mod.os, 'fsync', real_fsync)
    assert sorted(os.listdir(tmp_path)) == ['iter_4.pth']  # no .tmp, no partial file
    assert torch.equal(safe_torch_load(path)['w'], torch.ones(3))


def test_atomic_save_interrupted_write(tmp_path, monkeypatch):
    """A crash (KeyboardInterrupt) in the middle of writing the bytes."""
    path = tmp_path / 'iter_8.pth'

    class Interrupted(BaseException):
        pass

    def interrupt():
        raise Interrupted

    _toy.fail_file_write(monkeypatch, '.tmp', interrupt)
    with pytest.raises(Interrupted):
        save_checkpoint_atomic({'w': torch.ones(100)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_last_checkpoint_pointer(tmp_path, monkeypatch):
    _train(tmp_path, 4)
    pointer = tmp_path / 'last_checkpoint'
    assert pointer.read_text() == str(tmp_path / 'iter_4.pth')
    # what PreemptionCheckpointHook writes it with
    calls = []
    real = ckpt_mod.write_bytes_atomic
    monkeypatch.setattr(ckpt_mod, 'write_bytes_atomic',
                        lambda p, d: (calls.append(osp.basename(p)), real(p, d)))
    write_text_atomic(pointer, 'x')
    assert calls == ['last_checkpoint'] and pointer.read_text() == 'x'


def test_checkpoint_hook_writes_every_file_atomically(tmp_path, monkeypatch):
    """mmengine's own CheckpointHook code (periodic, best, re-saved last checkpoints) writes
    through the 'atomic_local' backend, and max_keep_ckpts still removes the old files."""
    written = []
    real = ckpt_mod.write_bytes_atomic
    monkeypatch.setattr(ckpt_mod, 'write_bytes_atomic',
                        lambda p, d: (written.append(osp.basename(p)), real(p, d)))
    runner = _train(tmp_path, 12, **{'train_cfg.val_begin': 1,
                                     'default_hooks.checkpoint.max_keep_ckpts': 2})
    hook = next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))
    assert isinstance(hook.file_backend, AtomicLocalBackend)
    assert hook.backend_args == dict(backend='atomic_local')
    # iter_4, iter_8, iter_12; validation at 6 and 12: best files plus re-saves of the last one
    assert {'iter_4.pth', 'iter_8.pth', 'iter_12.pth', 'best_toy_mae_iter_6.pth'} <= set(written)
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith('iter_')) == [
        'iter_12.pth', 'iter_8.pth']


def test_explicit_backend_args_are_kept():
    hook = AtomicCheckpointHook(interval=1, backend_args=dict(backend='local'))
    assert hook.backend_args == dict(backend='local')
    assert AtomicCheckpointHook(interval=1, out_dir='s3://bucket/ckpts').backend_args is None


def test_disk_full_during_checkpoint_write(tmp_path, monkeypatch):
    def disk_full():
        raise OSError(errno.ENOSPC, 'No space left on device')

    _toy.fail_file_write(monkeypatch, 'iter_8.pth.tmp', disk_full)
    cfg = _toy.toy_config(tmp_path, **{'train_cfg.max_iters': 12, **NO_VAL})
    runner = _toy.build_runner(cfg)
    with pytest.raises(CheckpointError) as exc:
        runner.train()
    message = str(exc.value)
    assert '\n' not in message
    assert str(tmp_path / 'iter_8.pth') in message and 'ENOSPC' in message
    assert 'previous checkpoint is intact' in message
    assert isinstance(exc.value.__cause__, OSError)
    monkeypatch.undo()
    assert runner.model.train_forwards == 8
    # no partial file, no .tmp, no lock; the previous checkpoint loads and --resume finds it
    files = {name for name in os.listdir(tmp_path) if not (tmp_path / name).is_dir()}
    assert files == {'_toy_config.py', 'iter_4.pth', 'last_checkpoint'}
    assert safe_torch_load(tmp_path / 'iter_4.pth')['meta']['iter'] == 4
    assert find_latest_checkpoint(tmp_path) == str(tmp_path / 'iter_4.pth')


def test_find_latest_checkpoint_skips_truncated(tmp_path):
    _train(tmp_path, 8)  # iter_4.pth, iter_8.pth
    assert list_checkpoints(tmp_path) == [str(tmp_path / 'iter_8.pth'),
                                          str(tmp_path / 'iter_4.pth')]
    assert find_latest_checkpoint(tmp_path) == str(tmp_path / 'iter_8.pth')
    newest = tmp_path / 'iter_8.pth'
    data = newest.read_bytes()
    newest.write_bytes(data[:len(data) // 2])  # truncated, e.g. by a full disk
    assert not is_valid_checkpoint(newest)
    with pytest.warns(UserWarning, match='iter_8.pth is truncated or corrupt'):
        assert find_latest_checkpoint(tmp_path) == str(tmp_path / 'iter_4.pth')


def test_corrupt_byte_is_detected(tmp_path):
    path = tmp_path / 'iter_1.pth'
    save_checkpoint_atomic({'w': torch.arange(1000.)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip bits inside the tensor data
    path.write_bytes(bytes(data))
    assert not is_valid_checkpoint(path)


def test_list_checkpoints_orders_epoch_and_iter_files(tmp_path):
    for name in ('epoch_1.pth', 'epoch_2.pth', 'iter_13.pth', 'iter_7.pth', 'best_x_epoch_2.pth'):
        save_checkpoint_atomic({}, tmp_path / name)
    names = [osp.basename(p) for p in list_checkpoints(tmp_path, iters_per_epoch=5)]
    # epoch_2 = iteration 10 < iter_13; epoch_1 = iteration 5 < iter_7
    assert names == ['iter_13.pth', 'epoch_2.pth', 'iter_7.pth', 'epoch_1.pth']


def test_resume_auto_falls_back_to_previous(tmp_path):
    _train(tmp_path, 8)
    newest = tmp_path / 'iter_8.pth'
    newest.write_bytes(newest.read_bytes()[:100])
    cfg = _toy.toy_config(tmp_path, **{'train_cfg.max_iters': 10, **NO_VAL}, resume=True)
    runner = _toy.build_runner(cfg)
    with pytest.warns(UserWarning, match='truncated or corrupt'):
        runner.train()
    model = runner.model
    assert model.train_forwards == 6  # resumed at iteration 4, trained 5..10
    assert runner.iter == 10
