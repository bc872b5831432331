"""Rewrite rules in the style of the onnxscript rewriter: a *pattern* (the chain of ops a rule matches, written as
the subgraph reads), a *condition* and a *replacement*. `apply_rule` finds every match in a graph and rewrites it.

A pattern here is a chain: an anchor op, then links, each consuming the previous value. A link may be optional
(skipped when the next node does not match) and matches only when the previous value has exactly one reader and
is not a graph output, so a rewrite never hides a value someone else reads. Each step binds its node (and what
its matcher extracts) under a name; condition and replacement see those bindings.

    FUSE = Rule("fuse_conv_bias_act",
                pattern=[anchor("conv", types=CONV_TYPES), link("bias", per_channel_bias, optional=True),
                         link("act", activation, optional=True)],
                condition=lambda g, m: m.bias or m.act,
                replacement=build_fused_conv)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .rewrite import live_nodes, only_consumer


class Match(dict):
    """The bindings of one match: step name -> what its matcher returned (None for a skipped optional link);
    `match.last` is the value the whole matched chain produces."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Step:
    """One step of a chain pattern. `match(graph, node, prev_value, match) -> binding or None` says whether
    `node` (reading `prev_value`) fits; the binding is stored under `name`. The anchor has no previous value."""

    name: str
    match: Callable
    optional: bool = False
    output: Callable = field(default=lambda node, binding: node.outputs[0])  # the value the next link reads


def anchor(name: str, types) -> Step:
    """The first node of a chain: any node whose type is in `types`."""
    types = frozenset(types)
    return Step(name, lambda g, node, prev, m: node if node.type in types else None)


def link(name: str, match: Callable, optional: bool = False, output: Optional[Callable] = None) -> Step:
    """A node that reads the previous step's value; `match(graph, node, prev_value, match)` as in Step."""
    return Step(name, match, optional, output or (lambda node, binding: node.outputs[0]))


@dataclass(frozen=True)
class Rule:
    """pattern: the chain (anchor first); condition(graph, match) -> bool; replacement(graph, match) -> the value
    that replaces `match.last`; describe(match) -> the report line of a rewrite."""

    name: str
    pattern: tuple
    condition: Callable
    replacement: Callable
    describe: Callable


def match_chain(graph, node, pattern, outputs) -> Optional[Match]:
    """The bindings of `pattern` anchored at `node`, or None."""
    first = pattern[0]
    bound = first.match(graph, node, None, Match())
    if bound is None:
        return None
    m = Match({first.name: bound})
    m["anchor"] = node
    value = first.output(node, bound)
    for step in pattern[1:]:
        nxt = only_consumer(graph, value, outputs)
        bound = step.match(graph, nxt, value, m) if nxt is not None else None
        if bound is None:
            if not step.optional:
                return None
            m[step.name] = None
            continue
        m[step.name] = bound
        value = step.output(nxt, bound)
    m["last"] = value
    return m


def apply_rule(graph, outputs, rule: Rule) -> tuple:
    """Rewrite every match of `rule` (anchors visited inputs first); (changes, matches left alone)."""
    changes, declined = [], []
    for node in live_nodes(graph, outputs):
        m = match_chain(graph, node, rule.pattern, outputs)
        if m is None:
            continue
        if not rule.condition(graph, m):
            declined.append(m)
            continue
        line = rule.describe(m)
        new = rule.replacement(graph, m)
        graph.replace_uses(m.last, new, outputs)
        changes.append(line)
    return changes, declined
