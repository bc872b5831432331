"""One training run per train directory: an exclusive lock on `DIR/.slimir-train.lock`.

    with hold_train_dir(logdir):
        ...   # restore, train, save

The lock is a POSIX record lock (fcntl.lockf) on that file, which holds the holder's pid, host and start
time. The kernel drops the lock when its process ends, however it ends: a run killed with SIGKILL leaves
the file with its pid but no lock, and the next run takes it over (with a warning naming that pid).
Record locks are not inherited by forked children, so a left-over worker process never keeps a killed
run's directory locked. A second run, in another process or in this one, gets a FailedPreconditionError
naming the directory and the holder.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator

from slimir.errors import FailedPreconditionError

log = logging.getLogger("slimir")

LOCK_NAME = ".slimir-train.lock"

_held: dict = {}  # realpath of a directory -> holder description, for the runs of this process
_held_guard = threading.Lock()


def _describe_holder(text: str) -> str:
    """'pid N on host H since T' from the lock file's `pid host start-time` line."""
    parts = text.split()
    if not parts or not parts[0].isdigit():
        return "an unknown process"
    out = f"pid {parts[0]}"
    if len(parts) > 1:
        out += f" on host {parts[1]}"
    if len(parts) > 2:
        try:
            out += " since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(parts[2])))
        except (ValueError, OverflowError, OSError):
            pass
    return out


def _refuse(directory: str, holder: str) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"{directory} is in use by another training run ({holder}): two runs in one directory overwrite each "
        "other's checkpoints; wait for it to end, stop it, or train in another directory")


class TrainDirLock:
    """The exclusive lock of one train directory (see the module docstring); acquire() then release()."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_NAME)
        self._fd: int | None = None
        self._key = os.path.realpath(directory)

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # no POSIX record locks on this platform
            log.warning("%s: this platform has no fcntl locks; nothing stops a second run in this directory",
                        self.directory)
            return
        os.makedirs(self.directory, exist_ok=True)
        with _held_guard:
            if self._key in _held:
                raise _refuse(self.directory, _held[self._key] + ", this process")
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                text = _read_all(fd)
                os.close(fd)
                if e.errno in (errno.EACCES, errno.EAGAIN):
                    raise _refuse(self.directory, _describe_holder(text)) from None
                log.warning("%s: cannot lock %s (%s); nothing stops a second run in this directory",
                            self.directory, self.path, e.strerror or e)
                return
            previous = _read_all(fd)
            if previous.strip():  # written by a holder that never released: killed
                log.warning("%s: taking over the lock of a run that is no longer running (%s was killed or "
                            "crashed)", self.directory, _describe_holder(previous))
            mine = f"{os.getpid()} {socket.gethostname() or '-'} {time.time():.0f}\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, mine.encode(), 0)
            self._fd = fd
            _held[self._key] = _describe_holder(mine)

    def release(self) -> None:
        if self._fd is None:
            return
        with _held_guard:
            try:
                os.ftruncate(self._fd, 0)  # empty: released on purpose (the file stays: see hold_train_dir)
            except OSError:
                pass
            os.close(self._fd)  # drops the lock
            self._fd = None
            _held.pop(self._key, None)


def _read_all(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return ""


@contextlib.contextmanager
def hold_train_dir(directory: str | None) -> Iterator[TrainDirLock | None]:
    """Hold the lock of `directory` for the body of the with-statement (nothing when it is None).

    The lock file is left in place when released (emptied): removing it would let a run that opened it
    just before hold a lock on a deleted file while a third run locks a new one.
    """
    if not directory:
        yield None
        return
    lock = TrainDirLock(directory)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
