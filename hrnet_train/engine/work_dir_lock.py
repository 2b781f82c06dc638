"""One training per work dir: a lock file holding the PID, host and start time of the run.

Two trainings writing into one work dir overwrite each other's ``iter_*.pth`` / ``epoch_*.pth``
and ``last_checkpoint``. :meth:`hrnet_train.engine.Runner.train` therefore takes
``<work_dir>/train.lock`` (created with ``O_EXCL``, so exactly one process gets it) on rank 0 and
releases it when training ends, also on an exception or the ``sys.exit`` of a preemption.
Evaluation takes no lock.

A lock whose holder is gone is *stale*:

- same host: the PID no longer runs (or is a zombie, or is this very process);
- another host (shared file system): the heartbeat, i.e. the file's mtime that the holder
  refreshes every :data:`HEARTBEAT_S` seconds from a daemon thread, is older than
  :data:`STALE_AFTER_S` seconds.

A live lock refuses every other training, resuming or not. A stale lock (the earlier run crashed
or was killed) is taken over by a resuming run, with a warning, and refuses a fresh one.
"""
from __future__ import annotations

import json
import logging
import os
import os.path as osp
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from mmengine.logging import print_log

from hrnet_train.utils.errors import ConfigError

LOCK_FILE = 'train.lock'
HEARTBEAT_S = 30.0
# 10 missed heartbeats; generous for clock skew between the hosts of a shared file system.
STALE_AFTER_S = 300.0
_EARLIER_RUN = re.compile(r'^((epoch|iter)_\d+\.pth|last_checkpoint)$')
_HELD: set[str] = set()  # lock files this process holds


class WorkDirInUseError(ConfigError):
    """The work dir belongs to another training (running, crashed, or finished)."""


@dataclass(frozen=True)
class LockHolder:
    """What a lock file says about the run that holds it (None where unreadable)."""

    pid: Optional[int]
    host: Optional[str]
    start: Optional[str]
    token: Optional[str]

    def describe(self) -> str:
        return (f'PID {self.pid if self.pid is not None else "?"} on host {self.host or "?"}, '
                f'started {self.start or "at an unknown time"}')


def read_lock(path: str) -> tuple[Optional[LockHolder], bytes, float]:
    """(holder or None when the file is gone, raw content, mtime) of the lock file ``path``."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None, b'', 0.0
    try:
        info = json.loads(raw.decode('utf-8'))
        pid = int(info['pid']) if info.get('pid') is not None else None
        holder = LockHolder(pid=pid, host=info.get('host'), start=info.get('start'),
                            token=info.get('token'))
    except (ValueError, TypeError, AttributeError, KeyError):  # empty or garbled
        holder = LockHolder(pid=None, host=None, start=None, token=None)
    return holder, raw, mtime


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is running (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        with open(f'/proc/{pid}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):  # no procfs (macOS) or gone meanwhile
        return True
    return state != 'Z'


class WorkDirLock:
    """The lock file ``<work_dir>/train.lock`` (see the module docstring).

    Args:
        work_dir: the training's work dir.
        heartbeat_s: seconds between two refreshes of the file's mtime.
        stale_after_s: a lock of another host whose mtime is older than this is stale.
    """

    def __init__(self, work_dir: str, *, heartbeat_s: float = HEARTBEAT_S,
                 stale_after_s: float = STALE_AFTER_S) -> None:
        self.work_dir = osp.abspath(work_dir)
        self.path = osp.join(self.work_dir, LOCK_FILE)
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.host = socket.gethostname()
        self._token: Optional[str] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def held(self) -> bool:
        return self._token is not None

    # acquiring -----------------------------------------------------------------------------
    def acquire(self, *, resuming: bool) -> None:
        """Take the lock, or raise :class:`WorkDirInUseError` saying who has the work dir.

        Args:
            resuming: this run continues the work dir's checkpoints (``--resume``); it may take
                over a stale lock and train into a work dir that holds checkpoints.
        """
        if self.path in _HELD:
            raise WorkDirInUseError(f'work_dir {self.work_dir} is already being trained by this '
                                    'process; use another --work-dir')
        os.makedirs(self.work_dir, exist_ok=True)
        for _ in range(5):  # the lock may change hands between our attempts
            if self._create():
                break
            holder, raw, mtime = read_lock(self.path)
            if holder is None:
                continue  # released meanwhile
            if not self._is_stale(holder, mtime):
                raise WorkDirInUseError(
                    f'work_dir {self.work_dir} is in use by a running training ('
                    f'{holder.describe()}; lock file {self.path}): use another --work-dir, or '
                    'wait for that run to end (delete the lock file only if no such run exists)')
            if not resuming:
                raise WorkDirInUseError(
                    f'work_dir {self.work_dir} belongs to an earlier training that did not '
                    f'finish ({holder.describe()}; it crashed or was killed, stale lock file '
                    f'{self.path}): continue it with --resume, or use another --work-dir')
            if self._set_aside(raw):
                print_log(f'work_dir {self.work_dir}: taking over the stale lock of the earlier '
                          f'training ({holder.describe()}), which did not finish',
                          logger='current', level=logging.WARNING)
        else:
            raise WorkDirInUseError(f'work_dir {self.work_dir}: could not take the lock file '
                                    f'{self.path}, other runs keep taking it; use another '
                                    '--work-dir')
        if not resuming:
            earlier = sorted(name for name in os.listdir(self.work_dir)
                             if _EARLIER_RUN.match(name))
            if earlier:
                self.release()
                shown = ', '.join(earlier[:3]) + (', ...' if len(earlier) > 3 else '')
                raise WorkDirInUseError(
                    f'work_dir {self.work_dir} holds checkpoints of an earlier training ({shown}) '
                    'and this run would overwrite them: continue that run with --resume, or use '
                    'another --work-dir')
        self._start_heartbeat()

    def _create(self) -> bool:
        """Create the lock file with ``O_EXCL``; False when it exists."""
        token = uuid.uuid4().hex
        info = dict(pid=os.getpid(), host=self.host,
                    start=time.strftime('%Y-%m-%d %H:%M:%S %z'), token=token,
                    command=' '.join(sys.argv))
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise ConfigError(f'work_dir {self.work_dir}: cannot create the lock file '
                              f'{self.path} ({exc.strerror}); check that the directory is '
                              'writable, or use another --work-dir') from exc
        try:
            os.write(fd, (json.dumps(info) + '\n').encode('utf-8'))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._token = token
        _HELD.add(self.path)
        return True

    def _is_stale(self, holder: LockHolder, mtime: float) -> bool:
        if holder.host == self.host and holder.pid is not None:
            # this process holds no lock here (checked above), so its own PID in the file is
            # a reused PID, e.g. a restarted container
            return holder.pid == os.getpid() or not _pid_alive(holder.pid)
        return time.time() - mtime > self.stale_after_s

    def _set_aside(self, seen: bytes) -> bool:
        """Remove the stale lock whose content is ``seen``; False if it changed hands meanwhile
        (another resuming run took it over first)."""
        aside = f'{self.path}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}'
        try:
            os.rename(self.path, aside)  # atomic: of two runs, one moves the file
        except FileNotFoundError:
            return True
        with open(aside, 'rb') as f:
            moved = f.read()
        if moved != seen:  # we moved a fresh lock of the winner: put it back
            try:
                os.link(aside, self.path)
            except OSError:
                pass
            os.remove(aside)
            return False
        os.remove(aside)
        return True

    # heartbeat and release -----------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name='hrnet-train-lock-heartbeat',
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except OSError:
                print_log(f'lock file {self.path} disappeared; the work dir is no longer '
                          'protected against a second training', logger='current',
                          level=logging.WARNING)
                return

    def release(self) -> None:
        """Stop the heartbeat and delete the lock file if it is still this run's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._token is None:
            return
        token, self._token = self._token, None
        _HELD.discard(self.path)
        holder, _, _ = read_lock(self.path)
        if holder is not None and holder.token == token:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
