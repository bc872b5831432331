"""slimir checkpoints: safetensors files written atomically, plus TF's `checkpoint` state file.

    saver = slim.train.Saver(max_to_keep=5)
    path = saver.save(sess, 'logdir/model.ckpt', global_step=step)   # logdir/model.ckpt-100.safetensors
    saver.restore(sess, slim.train.latest_checkpoint('logdir'))       # also reads TF V2 checkpoints

A save writes a temporary file, flushes and fsyncs it, renames it into place, then rewrites the state
file the same way: a crash at any moment leaves the previous checkpoint readable. A save first removes
the temporary files earlier writers were killed in the middle of (ownership.py); max_to_keep deletes only
the Saver's own `<name>-<step>` files in the directory it saves to; a write that fails (disk full, file
size limit) raises one CheckpointWriteError naming the file, the step and the intact last checkpoint.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from slimir.errors import CheckpointError, CheckpointWriteError, ShapeError
from slimir.ir.graph import GraphKeys, Tensor, Variable, get_default_graph

from .ownership import SUFFIX, is_own_checkpoint, remove_stale_temp_files, temp_file_prefix

STATE = "checkpoint"
log = logging.getLogger("slimir")


def _atomic_write(path: str, data: bytes) -> None:
    d = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_file_prefix(), dir=d)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        try:
            dfd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------------------
# The state file (TF's text format, so TF tools and slimir read each other's)


@dataclass
class CheckpointState:
    model_checkpoint_path: str = ""
    all_model_checkpoint_paths: list = field(default_factory=list)
    as_written: dict = field(default_factory=dict)  # {path (absolute): the path as the state file wrote it}


def _state_path(checkpoint_dir: str, latest_filename: Optional[str]) -> str:
    return os.path.join(checkpoint_dir, latest_filename or STATE)


def get_checkpoint_state(checkpoint_dir: str, latest_filename: Optional[str] = None) -> Optional[CheckpointState]:
    """The `checkpoint` state file of `checkpoint_dir`, paths made absolute (None when absent)."""
    p = _state_path(checkpoint_dir, latest_filename)
    if not os.path.isfile(p):
        return None
    st = CheckpointState()
    for line in _read_state_text(p).splitlines():
        m = re.match(r'\s*(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*"(.*)"\s*$', line)
        if not m:
            continue
        path = written = m.group(2)
        if not os.path.isabs(path):
            path = os.path.join(checkpoint_dir, path)
        st.as_written[path] = written
        if m.group(1) == "model_checkpoint_path":
            st.model_checkpoint_path = path
        else:
            st.all_model_checkpoint_paths.append(path)
    if not st.model_checkpoint_path:
        raise CheckpointError(f"{p}: the checkpoint state file names no model_checkpoint_path")
    return st


def _read_state_text(p: str) -> str:
    """The text of the state file `p`; a CheckpointError naming it when it is not UTF-8 (damaged)."""
    with open(p, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{p}: the checkpoint state file is damaged: byte {data[e.start]:#04x} at offset "
                              f"{e.start} is not UTF-8 text") from None


def update_checkpoint_state(checkpoint_dir: str, model_checkpoint_path: str, all_paths: list,
                            latest_filename: Optional[str] = None) -> None:
    def rel(p):
        return os.path.relpath(p, checkpoint_dir) if os.path.dirname(os.path.abspath(p)) == \
            os.path.abspath(checkpoint_dir) else p

    lines = [f'model_checkpoint_path: "{rel(model_checkpoint_path)}"']
    lines += [f'all_model_checkpoint_paths: "{rel(p)}"' for p in all_paths]
    _atomic_write(_state_path(checkpoint_dir, latest_filename), ("\n".join(lines) + "\n").encode("utf-8"))


def checkpoint_exists(prefix: str) -> bool:
    from .tf_bundle import is_tf_checkpoint

    return os.path.isfile(prefix + SUFFIX) or os.path.isfile(prefix) and prefix.endswith(SUFFIX) or \
        is_tf_checkpoint(prefix)


def latest_checkpoint(checkpoint_dir: str, latest_filename: Optional[str] = None) -> Optional[str]:
    """The newest checkpoint prefix in `checkpoint_dir` (slimir or TF), or None."""
    st = get_checkpoint_state(checkpoint_dir, latest_filename)
    if st is None:
        return None
    if checkpoint_exists(st.model_checkpoint_path):
        return st.model_checkpoint_path
    log.warning("%s names %s as the newest checkpoint, but there is no checkpoint there (missing or not a "
                "checkpoint)", _state_path(checkpoint_dir, latest_filename), st.model_checkpoint_path)
    return None


# ------------------------------------------------------------------------------------------
# Reading any checkpoint (slimir safetensors or TF V2 bundle)


class CheckpointReader:
    """Names, shapes and values of a checkpoint given by prefix (or .safetensors file, or TF prefix)."""

    def __init__(self, path: str):
        from .tf_bundle import TFCheckpointReader, is_tf_checkpoint

        self.path = path
        self._tf = None
        self._st = None
        if path.endswith(SUFFIX) and os.path.isfile(path):
            self._file = path
        elif os.path.isfile(path + SUFFIX):
            self._file = path + SUFFIX
        elif is_tf_checkpoint(path):
            self._tf = TFCheckpointReader(path)
            return
        elif os.path.isfile(path + ".index") or (path.endswith(".index") and os.path.isfile(path)):
            index = path if path.endswith(".index") else path + ".index"
            raise CheckpointError(f"{index}: not a readable TF checkpoint index (truncated or corrupt)")
        else:
            raise CheckpointError(f"no checkpoint at {path} (looked for {path + SUFFIX} and a TF {path}.index)")
        from safetensors import safe_open

        try:
            self._st = safe_open(self._file, framework="numpy")
        except Exception as e:
            raise CheckpointError(f"{self._file} is not a readable safetensors checkpoint: {e}") from None
        try:
            self._crc = json.loads((self._st.metadata() or {}).get("crc32", "{}"))
        except ValueError:
            raise CheckpointError(f"{self._file}: unreadable crc32 metadata") from None

    def list_variables(self) -> list:
        if self._tf is not None:
            return self._tf.list_variables()
        return sorted((k, list(self._st.get_slice(k).get_shape())) for k in self._st.keys())

    def has_tensor(self, name: str) -> bool:
        if self._tf is not None:
            return self._tf.has_tensor(name)
        return name in set(self._st.keys())

    def get_tensor(self, name: str) -> np.ndarray:
        if self._tf is not None:
            return self._tf.get_tensor(name)
        if name not in set(self._st.keys()):
            raise CheckpointError(f"{self._file} has no tensor named {name}")
        value = self._st.get_tensor(name)
        want = self._crc.get(name)
        if want is not None and zlib.crc32(np.ascontiguousarray(value).tobytes()) != want:
            raise CheckpointError(f"{self._file}: tensor {name} fails its CRC check (the file is corrupt)")
        return value

    def metadata(self) -> dict:
        if self._tf is not None or self._st is None:
            return {}
        return dict(self._st.metadata() or {})


def list_variables(path: str) -> list:
    """[(name, shape)] of the checkpoint at `path` (a prefix, a file, or a directory with a state file)."""
    return CheckpointReader(_resolve(path)).list_variables()


def load_variable(path: str, name: str) -> np.ndarray:
    return CheckpointReader(_resolve(path)).get_tensor(name)


def _resolve(path: str) -> str:
    if os.path.isdir(path):
        p = latest_checkpoint(path)
        if p is None:
            raise CheckpointError(f"{path} holds no checkpoint (no readable 'checkpoint' state file)")
        return p
    return path


# ------------------------------------------------------------------------------------------
# Saver


def _var_dict(var_list) -> dict:
    if var_list is None:
        g = get_default_graph()
        var_list = g.get_collection(GraphKeys.GLOBAL_VARIABLES) + g.get_collection("saveable_objects")
    if isinstance(var_list, dict):
        out = dict(var_list)
    else:
        out = {}
        for v in var_list:
            if not isinstance(v, Variable):
                raise CheckpointError(f"Saver: {getattr(v, 'name', v)!r} is not a variable")
            if v.op.name in out and out[v.op.name] is not v:
                raise CheckpointError(f"Saver: two variables are named {v.op.name}")
            out[v.op.name] = v
    for k, v in out.items():
        if not isinstance(v, Variable):
            raise CheckpointError(f"Saver: the value for {k!r} is not a variable")
    return out


class Saver:
    """Save and restore variables (TF's tf.train.Saver, with safetensors files)."""

    def __init__(self, var_list=None, reshape: bool = False, sharded: bool = False, max_to_keep: int = 5,
                 keep_checkpoint_every_n_hours: float = 10000.0, name: Optional[str] = None,
                 restore_sequentially: bool = False, saver_def=None, builder=None, defer_build: bool = False,
                 allow_empty: bool = False, write_version: int = 2, pad_step_number: bool = False,
                 save_relative_paths: bool = True, filename: Optional[str] = None):
        self._vars = _var_dict(var_list)
        if not self._vars and not allow_empty:
            raise CheckpointError("Saver: there are no variables to save")
        self.max_to_keep = max_to_keep
        self.keep_every_s = keep_checkpoint_every_n_hours * 3600.0
        self._last: list = []  # [(prefix, time)]
        self._next_keep = time.time() + self.keep_every_s
        self.reshape = reshape
        self._protected: set = set()  # checkpoint files a save moves aside instead of overwriting
        self._written: set = set()  # the prefixes this Saver wrote (absolute)

    @property
    def variables(self) -> dict:
        """{name in checkpoint: variable} this saver writes and reads."""
        return dict(self._vars)

    @property
    def last_checkpoints(self) -> list:
        return [p for p, _ in self._last]

    def set_last_checkpoints(self, paths: list) -> None:
        self._last = [(p, time.time()) for p in paths]

    def recover_last_checkpoints(self, paths: list) -> None:
        self.set_last_checkpoints(paths)

    def protect(self, paths: list) -> None:
        """Never overwrite the checkpoints (prefixes) `paths`: a save to one of them first renames the file
        to `<file>.kept` (learning.train protects the damaged checkpoints it did not resume from)."""
        self._protected |= {os.path.abspath(p) + SUFFIX for p in paths}

    def save(self, sess, save_path: str, global_step=None, latest_filename: Optional[str] = None,
             meta_graph_suffix: str = "meta", write_meta_graph: bool = True, write_state: bool = True,
             strip_default_attrs: bool = False) -> str:
        """Write `<save_path>[-<step>].safetensors` atomically; returns the prefix."""
        from safetensors.numpy import save as st_save

        if global_step is not None:
            step = int(sess.run(global_step)) if isinstance(global_step, Tensor) else int(global_step)
            prefix = f"{save_path}-{step}"
        else:
            step, prefix = None, save_path
        tensors = {name: np.array(sess.variable_value(v), order="C") for name, v in self._vars.items()}
        meta = {"format": "slimir", "variables": json.dumps({k: [v.dtype.name, list(v.shape)]
                                                             for k, v in self._vars.items()}),
                "crc32": json.dumps({k: zlib.crc32(a.tobytes()) for k, a in tensors.items()})}
        if step is not None:
            meta["global_step"] = str(step)
        d = os.path.dirname(os.path.abspath(prefix))
        remove_stale_temp_files(d)  # of writers killed mid-write (before this write needs the space)
        data = st_save(tensors, metadata=meta)
        try:
            self._move_protected_aside(prefix + SUFFIX)
            _atomic_write(prefix + SUFFIX, data)
        except OSError as e:
            raise write_error(e, "checkpoint", prefix + SUFFIX, step, d, latest_filename) from None
        self._written.add(os.path.abspath(prefix))
        if write_state:
            before = (list(self._last), self._next_keep)
            dropped = self._remember(prefix)
            try:
                update_checkpoint_state(d, prefix, self.last_checkpoints, latest_filename)
            except OSError as e:
                self._last, self._next_keep = before
                raise write_error(e, "the checkpoint state file", _state_path(d, latest_filename), step, d,
                                  latest_filename, f"{prefix + SUFFIX} was written, but no state file names it"
                                  ) from None
            self._delete(dropped, d, os.path.basename(save_path))  # once the state file no longer names them
        return prefix

    def _delete(self, dropped: list, directory: str, basename: str) -> None:
        """Delete the checkpoints that fell out of max_to_keep: only files this Saver wrote, or its own
        `<basename>-<step>` files in the directory it saves to (ownership.py)."""
        for p in dropped:
            if os.path.abspath(p) not in self._written and not is_own_checkpoint(p, directory, basename):
                log.warning("not deleting %s: max_to_keep deletes only this Saver's own checkpoints %s-<step> in "
                            "%s", p + SUFFIX, basename, directory)
                continue
            try:
                if os.path.exists(p + SUFFIX):
                    os.unlink(p + SUFFIX)
            except OSError as e:
                log.warning("could not delete the old checkpoint %s: %s", p + SUFFIX, e.strerror or e)

    def _move_protected_aside(self, path: str) -> None:
        """Rename a protected file at `path` (see protect) to a free `<path>.kept[.N]` name."""
        path = os.path.abspath(path)
        if path not in self._protected or not os.path.lexists(path):
            return
        aside, n = path + ".kept", 1
        while os.path.lexists(aside):
            aside, n = f"{path}.kept.{n}", n + 1
        os.replace(path, aside)
        self._protected.discard(path)
        log.warning("%s was not written by this run and it did not resume from it: kept as %s instead of "
                    "saving over it", path, aside)

    def _remember(self, prefix: str) -> list:
        """Add `prefix` to the kept list; returns the prefixes that fell out of it (to delete)."""
        now = time.time()
        self._last = [(p, t) for p, t in self._last if p != prefix] + [(prefix, now)]
        dropped = []
        if not self.max_to_keep:
            return dropped
        while len(self._last) > self.max_to_keep:
            p, t = self._last.pop(0)
            if t >= self._next_keep:
                self._next_keep = t + self.keep_every_s
                continue
            dropped.append(p)
        return dropped

    def restore(self, sess, save_path: str) -> None:
        """Load every variable of this saver from `save_path` (slimir or TF checkpoint)."""
        if save_path is None:
            raise CheckpointError("Saver.restore: save_path is None (no checkpoint found?)")
        reader = CheckpointReader(save_path)
        assign_from_reader(sess, reader, self._vars, reshape=self.reshape, where=save_path)


def write_error(e: OSError, what: str, path: str, step: Optional[int], directory: str,
                latest_filename: Optional[str] = None, note: str = "") -> CheckpointWriteError:
    """One clear error for a failed checkpoint write: the file, the step, the reason, and the last good
    checkpoint the state file names (intact: every write goes to a temporary file first)."""
    try:
        last = latest_checkpoint(directory, latest_filename)
    except (CheckpointError, OSError):
        last = None
    at = f" at global step {step}" if step is not None else ""
    reason = e.strerror or str(e)
    intact = (f"the last good checkpoint {last} is intact" if last else
              f"{directory} holds no earlier checkpoint")
    hint = ""
    if e.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        hint = " (free some space or raise the file size limit" + (", then run again to resume from it)" if last
                                                                   else ")")
    note = f"; {note}" if note else ""
    return CheckpointWriteError(f"cannot write {what} {path}{at}: {reason}; {intact}{hint}{note}",
                                errno=e.errno, filename=path)


def assign_from_reader(sess, reader: CheckpointReader, name_to_var: dict, ignore_missing_vars: bool = False,
                       reshape: bool = False, where: str = "") -> list:
    """Set each variable from the checkpoint entry of its name; returns the names that were missing."""
    missing = []
    staged = []  # (var, value): everything is read and checked before any variable changes
    available = dict(reader.list_variables())
    for name, var in name_to_var.items():
        if name not in available:
            if ignore_missing_vars:
                missing.append(name)
                continue
            hint = ""
            if name.endswith(("logits/weights", "logits/biases")) or "/fc8/" in name:
                hint = " (to fine-tune on other classes, exclude the logits from the restored variables)"
            raise CheckpointError(f"{where}: the checkpoint has no variable {name} (for {var.op.name}){hint}")
        value = reader.get_tensor(name)
        if np.dtype(value.dtype) != var.dtype.np:
            raise CheckpointError(f"{where}: cannot restore {var.op.name}: the checkpoint holds {np.dtype(value.dtype).name}, "
                                  f"the variable is {var.dtype.name}")
        want = tuple(var.shape)
        if tuple(value.shape) != want:
            if reshape and value.size == int(np.prod(want)):
                value = value.reshape(want)
            else:
                note = ""
                if want and value.shape and want[-1] + 1 == value.shape[-1]:
                    note = (" — the checkpoint has one more class (a 1001-class model with a background class): "
                            "use labels_offset=1 or exclude the logits from the restored variables")
                raise ShapeError(f"{where}: cannot restore {var.op.name}: checkpoint shape {list(value.shape)} "
                                 f"!= variable shape {list(want)}{note}")
        staged.append((var, value))
    for var, value in staged:
        sess.set_variable_value(var, value)
    return missing
