"""Resume without replaying the dataloader: identical weights and batches, no skipped loads."""
import copy
import os
import signal

import _toy
import pytest
import torch
from mmengine.hooks import Hook

from hrnet_train.engine import (
    FastResumeEpochBasedTrainLoop,
    FastResumeIterBasedTrainLoop,
    ResumableDefaultSampler,
    ResumableInfiniteSampler,
)
from hrnet_train.utils import safe_torch_load

NO_VAL = {'train_cfg.val_begin': 1000}
EPOCH_CFG = {
    'train_cfg': dict(_delete_=True, by_epoch=True, max_epochs=3, val_begin=1000),
    'train_dataloader.sampler': dict(type='DefaultSampler', shuffle=True),
    # explicit `end`: otherwise mmengine sets it to max_epochs, and the 2-epoch run below would
    # schedule differently from the first 2 epochs of the 3-epoch run
    'param_scheduler': [dict(type='MultiStepLR', by_epoch=True, milestones=[2], gamma=0.1, end=3)],
    'default_hooks.checkpoint': dict(by_epoch=True, interval=1, save_best=None, rule=None),
    'log_processor.by_epoch': True,
}


class _SignalAt(Hook):
    """Send SIGTERM to this process during iteration ``at`` (1-based), like a scheduler would."""

    priority = 'NORMAL'

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


def _run(tmp_path, options, *, kill_at=None, resume=False):
    """Train the toy; returns (final weights, batches seen, dataset loads, runner)."""
    cfg = _toy.toy_config(tmp_path, **copy.deepcopy(options), resume=resume)
    runner = _toy.build_runner(cfg)
    if kill_at is not None:
        runner.register_hook(_SignalAt(kill_at))
    _toy.ToyDataset.getitem_calls = 0
    if kill_at is not None:
        with pytest.raises(SystemExit) as exc:
            runner.train()
        assert exc.value.code == 0
    else:
        runner.train()
    model = runner.model
    return _toy.model_state(runner), model.seen_indices, _toy.ToyDataset.getitem_calls, runner


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_iter_based_resume_matches_uninterrupted(tmp_path):
    options = {'train_cfg.max_iters': 12, **NO_VAL}
    full_w, full_seen, full_loads, runner = _run(tmp_path / 'full', options)
    assert isinstance(runner.train_loop, FastResumeIterBasedTrainLoop)
    assert isinstance(runner.train_loop.dataloader.sampler, ResumableInfiniteSampler)
    assert len(full_seen) == 12 and full_loads == 24

    # preempted after iteration 5 (checkpoint iter_5.pth), then resumed to 12
    _, first_seen, _, _ = _run(tmp_path / 'cut', options, kill_at=5)
    assert first_seen == full_seen[:5]
    assert os.path.isfile(tmp_path / 'cut' / 'iter_5.pth')
    w, seen, loads, runner = _run(tmp_path / 'cut', options, resume=True)
    assert runner.iter == 12
    assert seen == full_seen[5:]  # the batches after resume are those of the uninterrupted run
    assert loads == 7 * 2  # no replay: only the 7 remaining batches of 2 were loaded
    _assert_same_weights(w, full_w)


def test_epoch_based_mid_epoch_resume_matches_uninterrupted(tmp_path):
    full_w, full_seen, full_loads, runner = _run(tmp_path / 'full', EPOCH_CFG)
    assert isinstance(runner.train_loop, FastResumeEpochBasedTrainLoop)
    assert isinstance(runner.train_loop.dataloader.sampler, ResumableDefaultSampler)
    assert len(full_seen) == 15 and full_loads == 30  # 3 epochs x 5 batches of 2

    _run(tmp_path / 'cut', EPOCH_CFG, kill_at=7)  # iteration 2 of epoch 2
    w, seen, loads, runner = _run(tmp_path / 'cut', EPOCH_CFG, resume=True)
    assert runner.epoch == 3 and runner.iter == 15
    assert seen == full_seen[7:]
    assert loads == 8 * 2
    _assert_same_weights(w, full_w)


def test_epoch_boundary_resume_matches_uninterrupted(tmp_path):
    full_w, full_seen, _, _ = _run(tmp_path / 'full', EPOCH_CFG)
    two = {**EPOCH_CFG,
           'train_cfg': dict(_delete_=True, by_epoch=True, max_epochs=2, val_begin=1000)}
    _run(tmp_path / 'cut', two)
    w, seen, loads, _ = _run(tmp_path / 'cut', EPOCH_CFG, resume=True)
    assert seen == full_seen[10:] and loads == 10
    _assert_same_weights(w, full_w)


@pytest.mark.parametrize('world_size', [1, 2, 3])
@pytest.mark.parametrize('shuffle', [True, False])
def test_infinite_sampler_position_equals_iteration(world_size, shuffle):
    dataset = list(range(7))
    samplers = []
    for rank in range(world_size):
        s = ResumableInfiniteSampler(dataset, shuffle=shuffle, seed=3)
        s.rank, s.world_size = rank, world_size
        samplers.append(s)
    streams = []
    for s in samplers:
        it = iter(s)
        streams.append([next(it) for _ in range(30)])
    # all ranks together cover each cycle of 7 exactly once
    merged = [streams[r][i] for i in range(30) for r in range(world_size)]
    for c in range(len(merged) // 7):
        assert sorted(merged[7 * c:7 * c + 7]) == list(range(7))
    for rank, s in enumerate(samplers):
        for position in (0, 1, 6, 7, 8, 13, 22):
            s.set_position(position)
            it = iter(s)
            assert [next(it) for _ in range(5)] == streams[rank][position:position + 5]
            assert s.index_at(position) == streams[rank][position]


def test_default_sampler_set_position_applies_once():
    s = ResumableDefaultSampler(list(range(10)), shuffle=True, seed=1)
    s.set_epoch(2)
    full = list(s)
    s.set_position(4)
    assert list(s) == full[4:]
    assert list(s) == full


def test_preempted_at_epoch_end_resumes_with_epoch_hooks(tmp_path):
    """Stopped after the last batch of epoch 2: the resumed run runs no batch of epoch 2 but
    its end-of-epoch hooks (scheduler step, epoch checkpoint), then epoch 3."""
    full_w, full_seen, _, _ = _run(tmp_path / 'full', EPOCH_CFG)
    _run(tmp_path / 'cut', EPOCH_CFG, kill_at=10)
    w, seen, loads, _ = _run(tmp_path / 'cut', EPOCH_CFG, resume=True)
    assert seen == full_seen[10:] and loads == 10
    assert os.path.isfile(tmp_path / 'cut' / 'epoch_2.pth')
    _assert_same_weights(w, full_w)


@pytest.mark.parametrize('loop_type, fast', [('IterBasedTrainLoop', True),
                                             ('mmengine.IterBasedTrainLoop', False)])
def test_runner_upgrades_mmengine_loops(tmp_path, loop_type, fast):
    cfg = _toy.toy_config(tmp_path, train_cfg=dict(_delete_=True, type=loop_type, max_iters=2))
    runner = _toy.build_runner(cfg)
    assert isinstance(runner.train_loop, FastResumeIterBasedTrainLoop) == fast
    assert isinstance(runner.train_loop.dataloader.sampler, ResumableInfiniteSampler) == fast


def test_resume_restores_sampler_seed_when_unseeded(tmp_path):
    """randomness.seed=None draws a new seed per run; the resumed sampler must use the old one."""
    options = {'train_cfg.max_iters': 6, **NO_VAL, 'randomness.seed': None}
    _run(tmp_path, {**options, 'train_cfg.max_iters': 3})
    saved = safe_torch_load(tmp_path / 'iter_3.pth')['meta']['sampler_seed']
    _, _, _, runner = _run(tmp_path, options, resume=True)
    # the sampler was built (with a freshly drawn seed) before the checkpoint was read
    assert runner.train_loop.dataloader.sampler.seed == saved


def test_image_grouped_sampler_resumes_mid_epoch(tmp_path):
    """ImageGroupedSampler has set_position: the epoch loop resumes it without loading the
    skipped batches, and the batches after resume are those of the uninterrupted run."""
    grouped = {**EPOCH_CFG,
               'train_dataloader.sampler': dict(type='ImageGroupedSampler', shuffle=True)}
    full_w, full_seen, full_loads, runner = _run(tmp_path / 'full', grouped)
    assert type(runner.train_loop.dataloader.sampler).__name__ == 'ImageGroupedSampler'
    assert full_loads == 30
    epoch = [i for batch in full_seen[:5] for i in batch]
    assert sorted(epoch) == list(range(10))
    runs = [epoch[0] // 3] + [b // 3 for a, b in zip(epoch, epoch[1:]) if a // 3 != b // 3]
    assert len(runs) == 4  # the toy's 4 "images" (3, 3, 3, 1 samples) each come whole

    _run(tmp_path / 'cut', grouped, kill_at=7)
    w, seen, loads, runner = _run(tmp_path / 'cut', grouped, resume=True)
    assert seen == full_seen[7:] and loads == 8 * 2
    _assert_same_weights(w, full_w)
