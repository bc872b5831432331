"""Where a training run in `logdir` resumes from, without trusting the `checkpoint` state file blindly.

    point = restore_for_resume(logdir, lambda prefix: saver.restore(sess, prefix))
    saver.set_last_checkpoints(point.keep)    # what max_to_keep may rotate away later
    saver.protect(point.protect)              # damaged checkpoints a later save must not overwrite

The candidates are the newest checkpoint the state file names, then the others it lists, newest first
(or, when the state file is unreadable or absent, the `model.ckpt-<step>` files in logdir). A candidate
that is missing or damaged is a warning and the next one is tried; a listed path outside logdir written
as a relative path (`../other_run/model.ckpt-3`) is ignored with a warning; an absolute path outside
logdir (a user's deliberate choice, as TF allows) may be restored from but is never adopted for deletion.
When candidates exist on disk but none can be restored, the run stops with a CheckpointError instead of
starting over at step 0 beside them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from slimir.errors import CheckpointError

from .ownership import SUFFIX, is_inside, is_own_checkpoint, own_checkpoints_in
from .saver import CheckpointReader, _state_path, checkpoint_exists, get_checkpoint_state

log = logging.getLogger("slimir")

BASENAME = "model.ckpt"  # learning.train saves logdir/model.ckpt-<step>


@dataclass
class ResumePoint:
    """The outcome of restore_for_resume."""

    checkpoint: str | None = None  # the prefix restored from (None: nothing, a fresh start)
    keep: list = field(default_factory=list)  # the Saver's max_to_keep list: only its own files in logdir
    protect: list = field(default_factory=list)  # damaged own checkpoints skipped: never overwritten
    fell_back: bool = False  # the newest checkpoint named could not be restored


def verify_checkpoint(prefix: str) -> str | None:
    """Why the checkpoint `prefix` cannot be read in full (missing, torn, a failed CRC), or None."""
    try:
        reader = CheckpointReader(prefix)
        for name, _ in reader.list_variables():
            reader.get_tensor(name)
    except CheckpointError as e:
        return str(e)
    except OSError as e:
        return f"{prefix}: {e.strerror or e}"
    return None


def _on_disk(prefix: str) -> bool:
    return any(os.path.lexists(prefix + s) for s in ("", SUFFIX, ".index"))


def _absent(prefix: str) -> str:
    if _on_disk(prefix):
        return "not a checkpoint (neither a slimir .safetensors file nor a TF checkpoint's .index)"
    return "missing (no such file)"


def _candidates(logdir: str) -> tuple:
    """([candidate prefixes, newest first], [own prefixes the state lists], the state file's problem)."""
    try:
        st = get_checkpoint_state(logdir)
    except CheckpointError as e:
        found = own_checkpoints_in(logdir, BASENAME)
        log.warning("%s; looking for %s-<step> checkpoints in %s instead (found %d)", e, BASENAME, logdir,
                    len(found))
        return found, [], str(e)
    if st is None:
        found = own_checkpoints_in(logdir, BASENAME)
        if found:
            log.warning("%s has checkpoints but no %s state file: resuming from the newest complete one",
                        logdir, os.path.basename(_state_path(logdir, None)))
        return found, [], None
    ordered = [st.model_checkpoint_path] + [p for p in reversed(st.all_model_checkpoint_paths)
                                            if p != st.model_checkpoint_path]
    out, seen = [], set()
    for p in ordered:
        if p in seen:
            continue
        seen.add(p)
        written = st.as_written.get(p, p)
        if not is_inside(p, logdir) and not os.path.isabs(written):
            log.warning("%s lists %s, outside %s: ignored (a run only resumes from, and only ever deletes, "
                        "checkpoints in its own directory)", _state_path(logdir, None), written, logdir)
            continue
        out.append(p)
    listed_own = [p for p in st.all_model_checkpoint_paths if is_own_checkpoint(p, logdir, BASENAME)]
    for p in st.all_model_checkpoint_paths:
        if not is_inside(p, logdir) and os.path.isabs(st.as_written.get(p, p)):
            log.warning("%s lists %s, outside %s: it may be restored from but is never deleted",
                        _state_path(logdir, None), p, logdir)
    return out, listed_own, None


def restore_for_resume(logdir: str, restore: Callable[[str], None]) -> ResumePoint:
    """Restore (with `restore(prefix)`) the newest complete checkpoint of logdir's candidates.

    A candidate's CheckpointError is a fallback only when the checkpoint itself is missing or damaged
    (verify_checkpoint); a checkpoint that reads fine but does not fit the model raises at once.
    """
    candidates, listed_own, state_problem = _candidates(logdir)
    problems = []  # (prefix, why)
    for i, prefix in enumerate(candidates):
        why = None if checkpoint_exists(prefix) else _absent(prefix)
        if why is None:
            try:
                restore(prefix)
            except CheckpointError:
                why = verify_checkpoint(prefix)
                if why is None:  # readable: the model does not fit it, no older checkpoint would help
                    raise
        if why is not None:
            problems.append((prefix, why))
            log.warning("cannot resume from %s: %s", prefix, why)
            continue
        fell_back = bool(problems) or state_problem is not None
        if fell_back:
            skipped = f" ({len(problems)} newer one(s) skipped)" if problems else ""
            log.warning("resuming from %s, the newest complete checkpoint%s", prefix, skipped)
        own = is_own_checkpoint(prefix, logdir, BASENAME)
        if not fell_back:  # the run the state file describes: its own list rotates on, as TF
            keep = list(listed_own) + ([prefix] if own and prefix not in listed_own else [])
        else:  # a fallback adopts nothing for deletion but what it restored from
            keep = [prefix] if own else []
        protect = [p for p, _ in problems if is_own_checkpoint(p, logdir, BASENAME) and
                   os.path.lexists(p + SUFFIX)]
        return ResumePoint(prefix, keep, protect, fell_back)
    on_disk = [(p, why) for p, why in problems if _on_disk(p)]
    if on_disk:
        listing = "; ".join(f"{p}: {why}" for p, why in on_disk)
        raise CheckpointError(f"{logdir}: no complete checkpoint to resume from ({listing}): not starting over at "
                              "step 0 beside them; move them (or the directory) away to start from scratch")
    if problems or state_problem:
        log.warning("%s: none of the checkpoints named exists (%s): starting from scratch", logdir,
                    ", ".join(p for p, _ in problems) or state_problem)
    return ResumePoint()
