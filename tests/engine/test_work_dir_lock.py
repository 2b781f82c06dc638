"""One training per work dir: live, stale and foreign locks; earlier checkpoints; release."""
import json
import os
import socket
import subprocess
import sys
import time

import _toy
import pytest

from hrnet_train.engine import WorkDirInUseError, WorkDirLock
from hrnet_train.engine import work_dir_lock as lock_mod
from hrnet_train.utils.errors import ConfigError

SHORT = {'train_cfg.max_iters': 4, 'train_cfg.val_begin': 1000}
HOST = socket.gethostname()


def _train(work_dir, **options):
    runner = _toy.build_runner(_toy.toy_config(work_dir, **{**SHORT, **options}))
    runner.train()
    return runner


def _write_lock(work_dir, *, pid, host=HOST, start='2026-01-02 03:04:05 +0000', age_s=0.0):
    os.makedirs(work_dir, exist_ok=True)
    path = work_dir / 'train.lock'
    path.write_text(json.dumps(dict(pid=pid, host=host, start=start, token='theirs')))
    now = time.time()
    os.utime(path, (now - age_s, now - age_s))
    return path


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


@pytest.fixture
def warnings_logged(monkeypatch):
    messages = []
    monkeypatch.setattr(lock_mod, 'print_log', lambda msg, **kwargs: messages.append(msg))
    return messages


@pytest.mark.parametrize('resume', [False, True])
def test_live_lock_refuses_even_a_resume(tmp_path, live_pid, resume):
    lock = _write_lock(tmp_path, pid=live_pid)
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **SHORT, resume=resume))
    with pytest.raises(WorkDirInUseError) as exc:
        runner.train()
    message = str(exc.value)
    assert '\n' not in message and isinstance(exc.value, ConfigError)
    assert message.startswith(f'work_dir {tmp_path} is in use by a running training (PID '
                              f'{live_pid} on host {HOST}, started 2026-01-02 03:04:05 +0000; ')
    assert 'use another --work-dir' in message
    assert runner.model.train_forwards == 0 and not list(tmp_path.glob('*.pth'))
    assert json.loads(lock.read_text())['token'] == 'theirs'  # untouched


def test_fresh_run_refused_over_earlier_checkpoints(tmp_path):
    _train(tmp_path)
    assert not (tmp_path / 'train.lock').exists()  # released at the end
    before = (tmp_path / 'iter_4.pth').read_bytes()
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **SHORT))
    with pytest.raises(WorkDirInUseError) as exc:
        runner.train()
    assert str(exc.value) == (
        f'work_dir {tmp_path} holds checkpoints of an earlier training (iter_4.pth, '
        'last_checkpoint) and this run would overwrite them: continue that run with --resume, '
        'or use another --work-dir')
    assert runner.model.train_forwards == 0
    assert (tmp_path / 'iter_4.pth').read_bytes() == before
    assert not (tmp_path / 'train.lock').exists()
    resumed = _train(tmp_path, resume=True, **{'train_cfg.max_iters': 6})
    assert resumed.model.train_forwards == 2


def test_crashed_run_same_host(tmp_path, dead_pid, warnings_logged):
    _train(tmp_path)
    _write_lock(tmp_path, pid=dead_pid)  # the run was killed without cleaning up
    with pytest.raises(WorkDirInUseError) as exc:
        _train(tmp_path)
    assert str(exc.value) == (
        f'work_dir {tmp_path} belongs to an earlier training that did not finish (PID '
        f'{dead_pid} on host {HOST}, started 2026-01-02 03:04:05 +0000; it crashed or was killed, '
        f'stale lock file {tmp_path / "train.lock"}): continue it with --resume, or use another '
        '--work-dir')
    resumed = _train(tmp_path, resume=True, **{'train_cfg.max_iters': 6})
    assert resumed.model.train_forwards == 2
    assert warnings_logged == [
        f'work_dir {tmp_path}: taking over the stale lock of the earlier training (PID '
        f'{dead_pid} on host {HOST}, started 2026-01-02 03:04:05 +0000), which did not finish']
    assert not (tmp_path / 'train.lock').exists()
    assert not [name for name in os.listdir(tmp_path) if '.stale-' in name]


def test_own_pid_in_the_lock_is_a_reused_pid(tmp_path, warnings_logged):
    """E.g. a restarted container: the crashed run had this process's PID."""
    _write_lock(tmp_path, pid=os.getpid())
    _train(tmp_path, resume=True)
    assert len(warnings_logged) == 1 and 'taking over the stale lock' in warnings_logged[0]


def test_other_host_is_judged_by_its_heartbeat(tmp_path, warnings_logged):
    lock = _write_lock(tmp_path, pid=1, host='node-17', age_s=60)  # beat a minute ago: alive
    with pytest.raises(WorkDirInUseError, match=r'in use by a running training \(PID 1 on host '
                                                r'node-17, '):
        _train(tmp_path, resume=True)
    now = time.time()
    os.utime(lock, (now - 3600, now - 3600))  # silent for an hour: that run is gone
    with pytest.raises(WorkDirInUseError, match='did not finish'):
        _train(tmp_path)
    _train(tmp_path, resume=True)
    assert 'PID 1 on host node-17' in warnings_logged[0]


def test_heartbeat_refreshes_and_release_removes(tmp_path):
    lock = WorkDirLock(str(tmp_path), heartbeat_s=0.05)
    lock.acquire(resuming=False)
    info = json.loads((tmp_path / 'train.lock').read_text())
    assert info['pid'] == os.getpid() and info['host'] == HOST and info['start']
    os.utime(lock.path, (0, 0))
    deadline = time.time() + 10
    while os.stat(lock.path).st_mtime < 1 and time.time() < deadline:
        time.sleep(0.05)
    assert time.time() - os.stat(lock.path).st_mtime < 10
    with pytest.raises(WorkDirInUseError, match='already being trained by this process'):
        WorkDirLock(str(tmp_path)).acquire(resuming=True)
    lock.release()
    assert not (tmp_path / 'train.lock').exists()
    lock.release()  # idempotent


def test_release_leaves_a_lock_that_is_not_ours(tmp_path):
    lock = WorkDirLock(str(tmp_path))
    lock.acquire(resuming=False)
    _write_lock(tmp_path, pid=1, host='node-17')  # e.g. replaced by hand meanwhile
    lock.release()
    assert json.loads((tmp_path / 'train.lock').read_text())['host'] == 'node-17'


def test_take_over_race_keeps_the_winners_lock(tmp_path, dead_pid):
    """Two resuming runs saw the same stale lock; the first replaced it with its own."""
    _write_lock(tmp_path, pid=dead_pid)
    seen = (tmp_path / 'train.lock').read_bytes()
    winner = _write_lock(tmp_path, pid=os.getppid())  # the winner's fresh lock
    fresh = winner.read_bytes()
    assert not WorkDirLock(str(tmp_path))._set_aside(seen)
    assert winner.read_bytes() == fresh
    assert os.listdir(tmp_path) == ['train.lock']


def test_lock_released_when_training_fails(tmp_path):
    runner = _toy.build_runner(_toy.toy_config(tmp_path, **SHORT, **{'model.nan_at_iter': 2}))
    with pytest.raises(FloatingPointError):
        runner.train()
    assert not (tmp_path / 'train.lock').exists()


def test_evaluation_takes_no_lock(tmp_path, live_pid):
    _train(tmp_path / 'train')
    lock = _write_lock(tmp_path / 'train', pid=live_pid)
    runner = _toy.build_runner(_toy.toy_config(
        tmp_path / 'train', load_from=str(tmp_path / 'train' / 'iter_4.pth')))
    metrics = runner.test()
    assert metrics['toy/num_samples'] == 10
    assert json.loads(lock.read_text())['token'] == 'theirs'
