"""SIGTERM to a real training process: it checkpoints the current iteration and exits 0; resuming
reproduces the uninterrupted run exactly. A second Ctrl-C during that write aborts cleanly."""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import _toy
import pytest
import torch
from mmengine.hooks import Hook

from hrnet_train.engine import WorkDirInUseError, is_valid_checkpoint
from hrnet_train.utils import safe_torch_load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAX_ITERS = 12


def test_sigterm_checkpoints_and_resume_matches(tmp_path):
    work_dir = tmp_path / 'cut'
    progress = tmp_path / 'progress'
    env = dict(os.environ, PYTHONPATH=osp.dirname(osp.abspath(__file__)))
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), _toy.CONFIG,
           '--work-dir', str(work_dir), '--cfg-options', f'train_cfg.max_iters={MAX_ITERS}',
           'train_cfg.val_begin=1000', 'model.sleep=0.3', f'model.progress_file={progress}']
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if progress.exists() and int(progress.read_text() or 0) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        # a second training into the same work dir is refused while this one runs
        second = _toy.build_runner(_toy.toy_config(work_dir, resume=True))
        with pytest.raises(WorkDirInUseError, match=f'in use by a running training \\(PID '
                                                    f'{proc.pid} on host {socket.gethostname()}, '):
            second.train()
        assert second.model.train_forwards == 0
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    stopped_at = int(progress.read_text())  # the iteration that was running got finished
    assert 2 <= stopped_at < MAX_ITERS, out[-3000:]
    assert 'Stop signal received' in out
    ckpt_path = work_dir / f'iter_{stopped_at}.pth'
    ckpt = safe_torch_load(ckpt_path)
    assert ckpt['meta']['iter'] == stopped_at
    assert (work_dir / 'last_checkpoint').read_text() == str(ckpt_path)
    assert not (work_dir / 'train.lock').exists()  # released by the SIGTERM exit

    # resume (auto) to the end, in this process
    cfg = _toy.toy_config(work_dir, resume=True, **{'train_cfg.max_iters': MAX_ITERS,
                                                    'train_cfg.val_begin': 1000})
    resumed = _toy.build_runner(cfg)
    resumed.train()
    assert resumed.model.train_forwards == MAX_ITERS - stopped_at  # zero lost, zero repeated

    cfg = _toy.toy_config(tmp_path / 'full', **{'train_cfg.max_iters': MAX_ITERS,
                                                'train_cfg.val_begin': 1000})
    full = _toy.build_runner(cfg)
    full.train()
    assert resumed.model.seen_indices == full.model.seen_indices[stopped_at:]
    for key, value in _toy.model_state(full).items():
        assert torch.equal(_toy.model_state(resumed)[key], value), key


class _SigintAt(Hook):
    """Press Ctrl-C (SIGINT to this process) during iteration ``at`` (1-based)."""

    priority = 'NORMAL'

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_second_ctrl_c_during_checkpoint_write(tmp_path, monkeypatch):
    """The first Ctrl-C asks for iter_6.pth; the second lands in the middle of writing it:
    KeyboardInterrupt, no .tmp and no partial iter_6.pth, iter_4.pth intact, lock released."""
    interrupted = []

    def second_sigint():
        interrupted.append(True)
        os.kill(os.getpid(), signal.SIGINT)  # its handler raises KeyboardInterrupt here
        raise AssertionError('the second SIGINT did not interrupt the write')

    runner = _toy.build_runner(_toy.toy_config(tmp_path, **{'train_cfg.max_iters': MAX_ITERS,
                                                            'train_cfg.val_begin': 1000}))
    runner.register_hook(_SigintAt(6))
    _toy.fail_file_write(monkeypatch, 'iter_6.pth.tmp', second_sigint)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    monkeypatch.undo()
    assert interrupted and runner.model.train_forwards == 6
    assert sorted(n for n in os.listdir(tmp_path) if not (tmp_path / n).is_dir()) == [
        '_toy_config.py', 'iter_4.pth', 'last_checkpoint']
    assert is_valid_checkpoint(tmp_path / 'iter_4.pth')
    assert safe_torch_load(tmp_path / 'iter_4.pth')['meta']['iter'] == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_failed_training_restores_signal_handlers(tmp_path):
    """A NaN stop (no after_train) must not leave the hook's handlers installed: Ctrl-C would
    then only set a flag on a finished run."""
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **{'model.nan_at_iter': 2}))
    with pytest.raises(FloatingPointError):
        runner.train()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
