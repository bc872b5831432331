"""Which files in a checkpoint directory belong to the Saver: the only files it may ever delete.

A Saver saving `DIR/BASE-STEP` owns `DIR/BASE-<digits>.safetensors` (and `DIR/BASE.safetensors`) and its
own temporary files `DIR/.tmp-<pid>-<8 random characters>`. Anything else, in particular whatever a
hand-edited, copied or hostile `checkpoint` state file lists outside DIR, is never deleted.
"""

from __future__ import annotations

import logging
import os
import re
import time

log = logging.getLogger("slimir")

SUFFIX = ".safetensors"
TMP_PREFIX = ".tmp-"
_TMP_NAME = re.compile(r"\.tmp-(\d+)-[a-z0-9_]{8}\Z")  # tempfile.mkstemp(prefix=f".tmp-{pid}-")
_OLD_TMP_NAME = re.compile(r"\.tmp-[a-z0-9_]{8}\Z")  # the naming before the pid was part of it
OLD_TMP_MAX_AGE_S = 3600.0  # a temp file of the old naming untouched this long has no live writer
_STARTED = time.time()  # before any temp file this process writes (they are made after this import)


def same_directory(a: str, b: str) -> bool:
    """Whether directories `a` and `b` are the same one (symbolic links and `..` resolved)."""
    return os.path.realpath(a) == os.path.realpath(b)


def is_inside(path: str, directory: str) -> bool:
    """Whether the file `path` lies directly in `directory`."""
    return same_directory(os.path.dirname(os.path.abspath(path)) or ".", directory)


def is_own_checkpoint(prefix: str, directory: str, basename: str) -> bool:
    """Whether the checkpoint `prefix` is one a Saver saving `directory/basename[-step]` wrote: in that
    directory and named `basename` or `basename-<step>`."""
    name = os.path.basename(prefix)
    return is_inside(prefix, directory) and re.fullmatch(re.escape(basename) + r"(-\d+)?", name) is not None


def own_checkpoints_in(directory: str, basename: str = "model.ckpt") -> list:
    """The prefixes of `directory/basename-<step>.safetensors` files there, newest step first."""
    found = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        m = re.fullmatch(re.escape(basename) + r"-(\d+)" + re.escape(SUFFIX), name)
        if m and os.path.isfile(os.path.join(directory, name)):
            found.append((int(m.group(1)), os.path.join(directory, name[:-len(SUFFIX)])))
    return [p for _, p in sorted(found, reverse=True)]


def temp_file_prefix() -> str:
    """The name prefix of this process's temporary files (tempfile.mkstemp adds 8 random characters)."""
    return f"{TMP_PREFIX}{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        return True
    except OSError:
        return True
    return True


def is_stale_temp_file(path: str, now: float | None = None) -> bool:
    """Whether `path` is a temporary file of the Saver's naming whose writer is gone: its pid is not
    running, or is this process's but the file is older than this process (a pid reused after a restart),
    or (the naming without a pid) it has not been written to for OLD_TMP_MAX_AGE_S."""
    name = os.path.basename(path)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return False
    m = _TMP_NAME.fullmatch(name)
    if m:
        pid = int(m.group(1))
        if pid == os.getpid():
            return mtime < _STARTED - 2.0  # (2 s: file systems with coarse timestamps)
        return not _pid_alive(pid)
    if _OLD_TMP_NAME.fullmatch(name):
        return (now or time.time()) - mtime > OLD_TMP_MAX_AGE_S
    return False


def remove_stale_temp_files(directory: str) -> list:
    """Delete the stale temporary files of the Saver's naming in `directory` (left by a writer killed
    mid-write); returns their paths."""
    removed = []
    try:
        names = [n for n in os.listdir(directory) if n.startswith(TMP_PREFIX)]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not os.path.islink(path) and is_stale_temp_file(path, now):
            try:
                size = os.path.getsize(path)
                os.unlink(path)
            except OSError:
                continue
            removed.append(path)
            log.info("removed %s (%d bytes), a temporary file of an interrupted checkpoint write", path, size)
    return removed
