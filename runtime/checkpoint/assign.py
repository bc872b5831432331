"""Warm-starting variables from a checkpoint or from values (TF-Slim's `assign_from_*` helpers).

    variables_to_restore = slim.get_variables_to_restore(exclude=['LeNet/fc4'])
    init_fn = slim.assign_from_checkpoint_fn(model_path, variables_to_restore)   # a callable(sess)
    slim.learning.train(train_op, logdir, init_fn=init_fn)   # runs init_fn only when logdir has no checkpoint

    assign_op, feed_dict = slim.assign_from_checkpoint(model_path, variables_to_restore)
    sess.run(assign_op, feed_dict)                            # the TF-Slim (op, feed_dict) form

`assign_from_checkpoint` returns what TF-Slim returns: a grouped op of `assign`s from placeholders named
`placeholder/<variable>` and the feed_dict holding the checkpoint's values (read when it is called), so
`sess.run(assign_op, feed_dict)` assigns them, in any session on that graph, as often as wanted.
`assign_from_checkpoint_fn` reads the checkpoint when its `init_fn(sess)` runs, checks every value
(names, dtypes, shapes, TF CRCs) and only then writes them into the session: a damaged checkpoint leaves
the variables as they were.

`model_path` is a slimir checkpoint prefix (`.../model.ckpt-100`, or its `.safetensors` file), a TF V2
checkpoint prefix (or its `.index`), or a directory, meaning the latest checkpoint it holds when
`assign_from_checkpoint(_fn)` is called (an error if it holds none).
`var_list` is a list of variables (looked up in the checkpoint by their names), a dict
`{name_in_checkpoint: variable or [variables]}`, or a callable `name -> name_in_checkpoint` (None to
leave a variable out) applied to the names of `slim.get_variables_to_restore()`.

A checkpoint variable that is absent is an error naming every absent one, unless `ignore_missing_vars`
(then a warning lists them and they keep their values). Optimizer slots (`.../Momentum`, `.../Adam`,
`.../Adam_1`, `.../RMSProp*`, `.../Adagrad`, Adam's `beta1_power`/`beta2_power`) and the global step are
never required: absent ones are skipped with a log line, so a training graph warm-starts from an
inference checkpoint. A shape mismatch names both shapes; a checkpoint with one more class (the
1001-class ImageNet models) says so and points to `labels_offset=1` or excluding the logits.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from typing import Callable, Optional

import numpy as np

from slimir.errors import CheckpointError, InvalidArgumentError
from slimir.ir.graph import GraphKeys, Variable, get_default_graph
from slimir.scope_hints import warn_unmatched_patterns  # noqa: F401  (re-exported)

from .saver import SUFFIX, CheckpointReader, assign_from_reader, latest_checkpoint

log = logging.getLogger("slimir")

__all__ = ["assign_from_checkpoint", "assign_from_checkpoint_fn", "assign_from_values", "assign_from_values_fn",
           "is_optional_variable", "open_reader", "resolve_model_path", "restore_all_or_nothing",
           "warn_unmatched_patterns"]

# Variables a checkpoint need not hold: optimizer slots (TF's slot names, uniquified with _N), Adam's
# beta powers, the global step.
_SLOT_SUFFIX = re.compile(r"/(Momentum|Adam|Adam_1|AdamW|AdamW_1|RMSProp|RMSProp_1|RMSProp_2|Adagrad|"
                          r"Ftrl|Ftrl_1|Adadelta|Adadelta_1|ProximalAdagrad)(_\d+)?$")
_NON_SLOT = re.compile(r"(^|/)(beta1_power|beta2_power)(_\d+)?$")
_GLOBAL_STEP = re.compile(r"(^|/)global_step$")


def is_optional_variable(name: str, var: Optional[Variable] = None) -> bool:
    """Whether a checkpoint may lack `name`: an optimizer slot or non-slot variable, or the global step."""
    name = re.sub(r":\d+$", "", name)
    if _GLOBAL_STEP.search(name):
        return True
    if var is not None and var.trainable:
        return False  # slots are never trainable
    return bool(_SLOT_SUFFIX.search(name) or _NON_SLOT.search(name))


# ------------------------------------------------------------------------------------------ paths


def resolve_model_path(model_path) -> str:
    """The checkpoint prefix `model_path` names: a prefix, a checkpoint file, or a directory (its latest)."""
    if model_path is None:
        raise CheckpointError("model_path is None (no checkpoint found? slim.train.latest_checkpoint returns None "
                              "when the directory has none)")
    path = os.fspath(model_path)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"{path}: a directory with no complete checkpoint (no 'checkpoint' state file "
                                  "naming an existing checkpoint)")
        return latest
    if path.endswith(".index") and os.path.isfile(path):
        return path[: -len(".index")]
    m = re.search(r"\.data-\d{5}-of-\d{5}$", path)
    if m and os.path.isfile(path):
        return path[: m.start()]
    return path


def open_reader(path: str) -> CheckpointReader:
    """A CheckpointReader, with a clearer error than 'no checkpoint' for a damaged TF index."""
    from .sstable import has_table_magic

    if not (os.path.isfile(path + SUFFIX) or (path.endswith(SUFFIX) and os.path.isfile(path))):
        index = path + ".index"
        if os.path.isfile(index) and not has_table_magic(index):
            raise CheckpointError(f"{index}: not a TF checkpoint index (truncated or corrupt: no table footer)")
    return CheckpointReader(path)


# ------------------------------------------------------------------------------------------ var_list


def _group_var_list(var_list, what: str) -> dict:
    """{name_in_checkpoint: [variables]} from a list, a dict or a callable name mapping."""
    if var_list is None:
        raise InvalidArgumentError(f"{what}: var_list cannot be empty")
    if callable(var_list) and not isinstance(var_list, (list, tuple, dict, Variable)):
        fn = var_list
        out: dict = {}
        for v in _variables_to_restore():
            ckpt = fn(v.op.name)
            if ckpt is None:
                continue
            if not isinstance(ckpt, str):
                raise InvalidArgumentError(f"{what}: the name mapping returned {ckpt!r} for {v.op.name} "
                                           "(a checkpoint name or None)")
            out.setdefault(ckpt, []).append(v)
        if not out:
            raise InvalidArgumentError(f"{what}: the name mapping left no variable to restore")
        return out
    if isinstance(var_list, Variable):
        var_list = [var_list]
    if isinstance(var_list, dict):
        out = {}
        for k, v in var_list.items():
            vs = list(v) if isinstance(v, (list, tuple)) else [v]
            for x in vs:
                _check_var(x, f"{what}: the value for {k!r}")
            out[str(k)] = vs
    elif isinstance(var_list, (list, tuple, set, frozenset)) or hasattr(var_list, "__iter__"):
        out = {}
        for v in var_list:
            _check_var(v, what)
            out.setdefault(v.op.name, [])
            if v not in out[v.op.name]:
                out[v.op.name].append(v)
    else:
        raise InvalidArgumentError(f"{what}: var_list must be a list of variables, a dict "
                                   f"{{name_in_checkpoint: variable}} or a callable, got {type(var_list).__name__}")
    if not out:
        raise InvalidArgumentError(f"{what}: var_list cannot be empty")
    return out


def _check_var(v, what: str) -> None:
    if not isinstance(v, Variable):
        raise InvalidArgumentError(f"{what}: {getattr(v, 'name', v)!r} is not a variable")


def _variables_to_restore() -> list:
    g = get_default_graph()
    return g.get_collection(GraphKeys.GLOBAL_VARIABLES)


# ------------------------------------------------------------------------------------------ planning


def _split_missing(reader: CheckpointReader, grouped: dict, ignore_missing_vars: bool, where: str) -> dict:
    """The entries of `grouped` the checkpoint holds; raises for absent required ones (unless ignored)."""
    available = dict(reader.list_variables())
    present, required, optional = {}, [], []
    for name, vs in grouped.items():
        if name in available:
            present[name] = vs
        elif all(is_optional_variable(name, v) or is_optional_variable(v.op.name, v) for v in vs):
            optional.append(name)
        else:
            required.append(name)
    if optional:
        log.info("%s: not in the checkpoint, keeping their initial values (optimizer slots / global step): %s",
                 where, ", ".join(optional))
    if required:
        hint = _missing_hint(required, list(available))
        if not ignore_missing_vars:
            raise CheckpointError(f"{where}: the checkpoint is missing {len(required)} variable"
                                  f"{'s' if len(required) > 1 else ''}: {_names(required)}{hint}")
        log.warning("%s: the checkpoint is missing %d variable%s, left as initialised (ignore_missing_vars=True): %s",
                    where, len(required), "s" if len(required) > 1 else "", _names(required))
    return present


def _names(names: list, limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _missing_hint(missing: list, available: list) -> str:
    notes = []
    if not available:
        return " (the checkpoint holds no variables)"
    # the same variables under another top-level scope: a name mapping is needed
    tails = {}
    for a in available:
        if "/" in a:
            tails.setdefault(a.split("/", 1)[1], a)
    moved = [(m, tails[m.split("/", 1)[1]]) for m in missing if "/" in m and m.split("/", 1)[1] in tails]
    if moved:
        m, a = moved[0]
        notes.append(f"the checkpoint names {m!r} {a!r}: map the names with a dict {{name_in_checkpoint: variable}} "
                     "or a callable")
    else:
        close = difflib.get_close_matches(missing[0], available, n=3, cutoff=0.6)
        if close:
            notes.append(f"closest names in the checkpoint for {missing[0]!r}: {', '.join(repr(c) for c in close)}")
    if any(re.search(r"(^|/)(logits|fc8|Logits|AuxLogits|fc4)(/|$)", m) for m in missing):
        notes.append("to fine-tune on other classes, leave the logits out of the restored variables "
                     "(slim.get_variables_to_restore(exclude=[...]))")
    notes.append("or pass ignore_missing_vars=True to skip them")
    return " (" + "; ".join(notes) + ")"


class _Collect:
    """A stand-in session for assign_from_reader that keeps the values instead of setting them."""

    def __init__(self):
        self.values: dict = {}

    def set_variable_value(self, var, value) -> None:
        self.values[var] = np.array(value, dtype=var.dtype.np, order="C")


def _assign_rounds(target, reader, present: dict, reshape: bool, where: str) -> None:
    """assign_from_reader over {name: [vars]}: one round per position (a name may feed several variables)."""
    depth = max((len(vs) for vs in present.values()), default=0)
    for k in range(depth):
        round_k = {name: vs[k] for name, vs in present.items() if k < len(vs)}
        assign_from_reader(target, reader, round_k, reshape=reshape, where=where)


def restore_all_or_nothing(session, reader, present: dict, reshape: bool, where: str) -> None:
    """Read and check every value first, then set them all: a damaged entry (CRC, size, shape) leaves the
    session's variables as they were."""
    collect = _Collect()
    _assign_rounds(collect, reader, present, reshape=reshape, where=where)
    for var, value in collect.values.items():
        session.set_variable_value(var, value)


# ------------------------------------------------------------------------------------------ public API


def assign_from_checkpoint(model_path, var_list, ignore_missing_vars: bool = False):
    """(assign_op, feed_dict) that set `var_list` from the checkpoint at `model_path` when run:
    `sess.run(assign_op, feed_dict)`. The values are read now; a var_list that ends up empty (all
    missing and ignored) gives a no-op and an empty feed_dict."""
    from slimir.ops.array_ops import placeholder
    from slimir.ops.state import assign, group, no_op

    grouped = _group_var_list(var_list, "assign_from_checkpoint")
    path = resolve_model_path(model_path)
    reader = open_reader(path)
    present = _split_missing(reader, grouped, ignore_missing_vars, path)
    collect = _Collect()
    _assign_rounds(collect, reader, present, reshape=False, where=path)
    graph = next(iter(collect.values)).graph if collect.values else get_default_graph()
    feed_dict, assigns = {}, []
    with graph.as_default():
        for var, value in collect.values.items():
            ph = placeholder(var.dtype, list(var.shape), name="placeholder/" + var.op.name)
            assigns.append(assign(var, ph))
            feed_dict[ph] = value
        op = group(*assigns) if assigns else no_op()
    return op, feed_dict


def assign_from_checkpoint_fn(model_path, var_list, ignore_missing_vars: bool = False,
                              reshape_variables: bool = False) -> Optional[Callable]:
    """A function `init_fn(sess)` that sets `var_list` from the checkpoint at `model_path` (read when it
    runs). With `ignore_missing_vars`, the checkpoint is listed now and absent variables are dropped with a
    warning; when none is left, returns None (as TF-Slim). `reshape_variables` lets a value of the same
    size but another shape in (TF-Slim's [[10, 11]] into a [2, 1] variable)."""
    if var_list is None or (isinstance(var_list, (list, tuple, dict)) and len(var_list) == 0):
        raise InvalidArgumentError("assign_from_checkpoint_fn: var_list cannot be empty")
    grouped = _group_var_list(var_list, "assign_from_checkpoint_fn")
    path = resolve_model_path(model_path)
    if ignore_missing_vars:
        present = _split_missing(open_reader(path), grouped, True, path)
        if not present:
            log.warning("assign_from_checkpoint_fn: no variables to restore from %s", path)
            return None
        grouped = present

    def init_fn(session) -> None:
        reader = open_reader(path)
        found = _split_missing(reader, grouped, False, path)
        restore_all_or_nothing(session, reader, found, reshape=reshape_variables, where=path)
        n = sum(len(v) for v in found.values())
        log.info("restored %d variable%s from %s", n, "s" if n != 1 else "", path)

    init_fn.model_path = path
    init_fn.var_names = list(grouped)
    return init_fn


def _find_global_variable(name: str) -> Variable:
    g = get_default_graph()
    variables = g.get_collection(GraphKeys.GLOBAL_VARIABLES)
    for v in variables:
        if v.op.name == name:
            return v
    close = difflib.get_close_matches(name, [v.op.name for v in variables], n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise InvalidArgumentError(f"Variable {name} wasn't found among the global variables{hint}")


def assign_from_values(var_names_to_values: dict):
    """(assign_op, feed_dict) that set each named global variable to its value (reshaped to the variable's
    shape) when run: `sess.run(assign_op, feed_dict)`."""
    feed_dict, assigns = {}, []
    from slimir.ops.array_ops import placeholder
    from slimir.ops.state import assign, group, no_op

    for name, value in var_names_to_values.items():
        var = _find_global_variable(re.sub(r":\d+$", "", name))
        arr = np.asarray(value)
        if arr.size != int(np.prod(var.shape, dtype=np.int64)):
            raise InvalidArgumentError(f"assign_from_values: {name} has shape {list(var.shape)}, the value has "
                                       f"shape {list(arr.shape)} ({arr.size} elements)")
        with var.graph.as_default():
            ph = placeholder(var.dtype, list(var.shape), name="placeholder/" + var.op.name)
            assigns.append(assign(var, ph))
        feed_dict[ph] = np.asarray(arr, dtype=var.dtype.np).reshape(tuple(var.shape))
    if not assigns:
        return no_op(), {}
    with assigns[0].graph.as_default():
        return group(*assigns), feed_dict


def assign_from_values_fn(var_names_to_values: dict) -> Callable:
    """A function `init_fn(sess)` that sets each named global variable to its value."""
    assign_op, feed_dict = assign_from_values(var_names_to_values)

    def init_fn(session):
        return session.run(assign_op, feed_dict)

    return init_fn
