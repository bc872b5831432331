"""Hints for include/exclude scope patterns that match no variable (a classic TF-Slim pitfall).

TF-Slim matches the scopes of `get_variables_to_restore(include=..., exclude=...)` at the *start* of the
full variable name, so `exclude=['fc8']` excludes nothing when the variables are `vgg_16/fc8/...`: the
fine-tuned model then silently tries to restore the old logits. slimir keeps the matching rule and logs
a warning naming the pattern and the scopes it was probably meant to be:

    exclude pattern 'fc8' matches no variable; did you mean 'vgg_16/fc8'?

    warn_unmatched_patterns(include=None, exclude=['fc8'])        # -> ['fc8'] (and one warning)
    suggest_scopes('fc8', ['vgg_16/fc8/weights', ...])            # -> ['vgg_16/fc8']

This module is core-side (no runtime imports): `slimir.variables.get_variables_to_restore` calls it.
"""

from __future__ import annotations

import difflib
import logging
import re
from typing import Iterable, Optional

log = logging.getLogger("slimir")

MAX_SUGGESTIONS = 3


def _op_name(v) -> str:
    """A variable's op name ('scope/w'), or the string itself, without a ':0' output suffix."""
    if isinstance(v, str):
        name = v
    else:
        op = getattr(v, "op", None)
        name = getattr(op, "name", None) or getattr(v, "name", "")
    return re.sub(r":\d+$", "", name)


def _scopes(names: Iterable[str]) -> list:
    """Every '/'-prefix of the names ('a/b/c' gives 'a', 'a/b', 'a/b/c'), in first-seen order."""
    out = {}
    for n in names:
        parts = n.split("/")
        for i in range(1, len(parts) + 1):
            out.setdefault("/".join(parts[:i]), None)
    return list(out)


def _tensor_name(v) -> str:
    """The name get_collection matches scopes against ('scope/w:0')."""
    name = v if isinstance(v, str) else getattr(v, "name", None) or _op_name(v)
    return name if re.search(r":\d+$", name) else name + ":0"


def _matches(pattern: str, tensor_names: list) -> bool:
    """Whether `pattern` selects a variable the way get_variables(scope=pattern) does (re.match)."""
    try:
        rx = re.compile(pattern)
    except re.error:
        return True  # not our business: get_variables reports the bad regex itself
    return any(rx.match(n) for n in tensor_names)


def _inner_matches(pattern: str, names: list, flags: int = 0) -> list:
    """Scopes where `pattern` matches starting at a later '/' boundary: 'fc6' in 'vgg_16/fc6/w' -> 'vgg_16/fc6'."""
    try:
        rx = re.compile(pattern, flags)
    except re.error:
        return []
    found: dict = {}
    for n in names:
        starts = [0] + [i + 1 for i, c in enumerate(n) if c == "/"]
        for s in starts:
            if s == 0 and not flags:
                continue  # an anchored match would not be unmatched
            m = rx.match(n, s)
            if m is None or m.end() == s:
                continue
            # case-sensitive: the pattern under the scope it sits in ('vgg_16/' + 'fc6', or 'vgg_16/' + 'fc[67]');
            # ignoring case: the name as it is spelt ('lenet/fc4' -> 'LeNet/fc4')
            scope = n[:s] + (pattern if not flags else m.group(0))
            found[scope] = found.get(scope, 0) + 1
    # the scope shared by most variables first, then the shorter one
    return sorted(found, key=lambda s: (-found[s], len(s)))


def suggest_scopes(pattern: str, variables, limit: int = MAX_SUGGESTIONS) -> list:
    """The scopes `pattern` was probably meant to name, best first (empty when nothing is close)."""
    names = [_op_name(v) for v in variables]
    if not names:
        return []
    for flags in (0, re.IGNORECASE):
        found = _inner_matches(pattern, names, flags)
        if found:
            return found[:limit]
    scopes = _scopes(names)
    close = difflib.get_close_matches(pattern, scopes, n=limit, cutoff=0.6)
    if close:
        return close
    lowered = {s.lower(): s for s in scopes}
    close = difflib.get_close_matches(pattern.lower(), list(lowered), n=limit, cutoff=0.6)
    if close:
        return [lowered[c] for c in close]
    # the pattern names the last part of a scope: compare with the components after the first one
    tails = {}
    for s in scopes:
        tail = s.split("/", 1)[1] if "/" in s else None
        if tail:
            tails.setdefault(tail, s)
    close = difflib.get_close_matches(pattern, list(tails), n=limit, cutoff=0.6)
    return [tails[c] for c in close]


def unmatched_message(kind: str, pattern: str, variables) -> str:
    names = [_op_name(v) for v in variables]
    if not names:
        return f"{kind} pattern {pattern!r} matches no variable (the graph has no global variables yet)"
    sugg = suggest_scopes(pattern, names)
    msg = f"{kind} pattern {pattern!r} matches no variable"
    if sugg:
        msg += "; did you mean " + " or ".join(repr(s) for s in sugg) + "?"
    else:
        tops = list(dict.fromkeys(n.split("/")[0] for n in names))
        shown = ", ".join(repr(t) for t in tops[:6]) + (", ..." if len(tops) > 6 else "")
        msg += f" (the variables' top-level scopes are {shown})"
    return msg + " (scopes match at the start of the full variable name, as in TF-Slim)"


def unmatched_patterns(include=None, exclude=None, variables=None) -> list:
    """[(kind, pattern, message)] for each include/exclude pattern that selects no variable."""
    if variables is None:
        from .ir.graph import GraphKeys, get_default_graph

        variables = get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES)
    variables = list(variables)
    names = [_op_name(v) for v in variables]
    tensor_names = [_tensor_name(v) for v in variables]
    out = []
    for kind, patterns in (("include", include), ("exclude", exclude)):
        if not isinstance(patterns, (list, tuple)):
            continue
        for p in patterns:
            if isinstance(p, str) and not _matches(p, tensor_names):
                out.append((kind, p, unmatched_message(kind, p, names)))
    return out


def warn_unmatched_patterns(include=None, exclude=None, variables=None,
                            logger: Optional[logging.Logger] = None) -> list:
    """Log a warning for each include/exclude scope pattern that matches no variable (default: the global
    variables of the default graph); returns those patterns. Never raises and never changes the selection."""
    try:
        found = unmatched_patterns(include, exclude, variables)
    except Exception:  # a hint must never break the caller
        return []
    for _, _, msg in found:
        (logger or log).warning("get_variables_to_restore: %s", msg)
    return [p for _, p, _ in found]
