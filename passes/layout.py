"""layout_nchw: run 4-D NHWC layers in ONNX's NCHW layout with as few transposes as possible.

1. Every layout-sensitive NHWC node (convolutions, pooling, bias_add, batch norm, LRN) becomes its
   NCHW form between two transposes.
2. Transposes are pushed down through layout-agnostic ops (elementwise, squeeze, reductions),
   merged when they meet, and dropped when they cancel. A transpose reaching `flatten` followed by
   fully-connected matmuls is folded into those weights (rows permuted), which keeps TF-Slim's NHWC
   flatten order without moving any data at run time.

What is left: at most one transpose after each NHWC input and one before each NHWC output.
"""

from __future__ import annotations

import collections

from slimir.ir.registry import get_op, ops_where

from .pipeline import PassReport, register_pass
from .rewrite import build, build_replacing, inverse_perm, live_nodes, remove_dead

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)

# The op sets come from the registry: an op's OpDef says whether it is unary/binary elementwise or a reduction
# (kind) and whether it has an NCHW form (layout), so a new op is handled here without touching this pass.
def _kind(kind: str) -> frozenset:
    return ops_where(lambda op: op.kind == kind)


def _to_nchw_node(graph, node, outputs, changes) -> bool:
    """Rewrite one NHWC node as transposes -> NCHW node -> transposes (on its 4-D activations only)."""
    layout = get_op(node.type).layout
    if layout is None:
        return False
    attrs = layout.to_nchw(node)
    if attrs is None:
        return False
    act_in, act_out = layout.inputs, layout.outputs
    sc, name = node.scope, node.name
    ins = [build(graph, sc, "transpose", [t], perm=TO_NCHW) if i in act_in else t for i, t in enumerate(node.inputs)]
    new = build_replacing(graph, node, node.type, ins, **attrs)
    new = new if isinstance(new, tuple) else (new,)
    for i, (old, nt) in enumerate(zip(node.outputs, new)):
        if i in act_out:
            nt = build(graph, sc, "transpose", [nt], perm=TO_NHWC)
        graph.replace_uses(old, nt, outputs)
    changes.append(f"{name}: {node.type} NHWC -> NCHW")
    return True


def _compose(p_inner, p_outer) -> tuple:
    """transpose(transpose(x, p_inner), p_outer) == transpose(x, result)."""
    return tuple(p_inner[i] for i in p_outer)


def _is_identity(p) -> bool:
    return tuple(p) == tuple(range(len(p)))


def _kept_perm(p, dropped) -> tuple:
    """The permutation left on the remaining axes after removing output axes `dropped`."""
    kept_src = [p[i] for i in range(len(p)) if i not in dropped]
    order = sorted(kept_src)
    return tuple(order.index(s) for s in kept_src)


def _sink(graph, t_node, outputs, work, changes, skipped, pinned) -> None:
    """Push transpose `t_node` below its readers where the reader allows it.

    `pinned` holds the transposes made on a binary op's side operand (a constant or a vector): they
    stay put, so sinking never moves a transpose back and forth through the same op.
    """
    p = tuple(t_node.attrs["perm"])
    x = t_node.inputs[0]
    y = t_node.outputs[0]
    if x.op.type == "transpose":  # merge with the transpose above
        q = _compose(tuple(x.op.attrs["perm"]), p)
        src = x.op.inputs[0]
        repl = src if _is_identity(q) else build(graph, t_node.scope, "transpose", [src], perm=q)
        graph.replace_uses(y, repl, outputs)
        changes.append(f"{t_node.name}: merged transposes" + (" (cancelled)" if _is_identity(q) else ""))
        if repl.op.type == "transpose":
            work.append(repl.op)
        return
    unary, binary, reductions = _kind("unary"), _kind("binary"), _kind("reduce")
    for c in list(graph.consumers_of(y)):
        name = c.name
        if c.type in unary and len(c.inputs) == 1:
            z = build_replacing(graph, c, c.type, [x], **c.attrs)
        elif c.type in binary:
            other_i = 1 if c.inputs[0] is y else 0
            other = c.inputs[other_i]
            if other is y:
                o2 = x
            elif other.op.type == "transpose" and tuple(other.op.attrs["perm"]) == p:
                o2 = other.op.inputs[0]
            elif other.shape.is_fully_defined() and (other.op.type == "const" or len(other.shape) <= 1):
                r = len(p) - len(other.shape)
                o4 = other if r == 0 else build(graph, c.scope, "reshape", [other], shape=(1,) * r + tuple(other.shape))
                o2 = build(graph, c.scope, "transpose", [o4], perm=inverse_perm(p))
                pinned.add(id(o2.op))
            else:
                skipped.add(f"transpose before {c.type} {name}: its other operand is in another layout")
                continue
            ins = [x, o2] if other_i == 1 else [o2, x]
            z = build_replacing(graph, c, c.type, ins, **c.attrs)
        elif c.type == "concat" and all(t.op.type == "transpose" and tuple(t.op.attrs["perm"]) == p for t in c.inputs):
            ax = c.attrs["axis"] % len(p)
            z = build_replacing(graph, c, "concat", [t.op.inputs[0] for t in c.inputs], axis=p[ax])
        elif c.type == "squeeze" or (c.type in reductions and c.attrs["axis"] is not None):
            axes = c.attrs["axis"]
            if axes is None:  # squeeze of all size-1 dims
                axes = tuple(i for i, d in enumerate(y.shape) if d == 1)
            axes = tuple(a % len(p) for a in axes)
            new_axes = tuple(sorted(p[a] for a in axes))
            attrs = dict(c.attrs, axis=new_axes)
            z = build_replacing(graph, c, c.type, [x], **attrs)
            keep = c.type in reductions and c.attrs["keepdims"]
            rest = p if keep else _kept_perm(p, set(axes))
            out = z if _is_identity(rest) else build(graph, c.scope, "transpose", [z], perm=rest)
            graph.replace_uses(c.outputs[0], out, outputs)
            changes.append(f"{name}: {c.type} moved above a transpose")
            if out.op.type == "transpose":
                work.append(out.op)
            continue
        elif c.type == "flatten" and p == TO_NHWC and _fold_into_matmuls(graph, c, x, outputs, changes):
            continue
        else:
            if c.type not in ("transpose", "concat"):
                skipped.add(f"transpose before {c.type} {name}: not layout-agnostic")
            continue
        t2 = build(graph, c.scope, "transpose", [z], perm=p)
        graph.replace_uses(c.outputs[0], t2, outputs)
        work.append(t2.op)
        changes.append(f"{name}: {c.type} moved above a transpose")


def _fold_into_matmuls(graph, flat, x, outputs, changes) -> bool:
    """flatten(NCHW->NHWC transpose of x) @ W  ==  flatten(x) @ W' with W's rows permuted (H,W,C)->(C,H,W)."""
    out = flat.outputs[0]
    readers = graph.consumers_of(out)
    if not readers or any(o is out for o in outputs):
        return False
    n, c, h, w = x.shape
    if None in (c, h, w):
        return False
    for r in readers:
        if r.type != "matmul" or r.inputs[0] is not out or r.attrs["transpose_a"] or r.attrs["transpose_b"] \
                or len(r.inputs[1].shape) != 2:
            return False
    f = build(graph, flat.scope, "flatten", [x], name="Flatten")
    for r in list(readers):
        rname = r.name
        wt = r.inputs[1]
        o = wt.shape[1]
        sc = r.scope
        w4 = build(graph, sc, "reshape", [wt], shape=(h, w, c, o))
        wp = build(graph, sc, "transpose", [w4], perm=(2, 0, 1, 3))
        w2 = build(graph, sc, "reshape", [wp], shape=(c * h * w, o), name="weights_nchw")
        mm = build_replacing(graph, r, "matmul", [f, w2], **r.attrs)
        graph.replace_uses(r.outputs[0], mm, outputs)
        changes.append(f"{rname}: NHWC flatten order folded into the weights")
    return True


@register_pass("layout_nchw")
def layout_nchw(graph, outputs) -> PassReport:
    """NHWC layers -> NCHW with transposes only at the graph's NHWC inputs and outputs."""
    before = len(graph.nodes)
    changes: list = []
    skipped: set = set()
    pinned: set = set()
    for node in live_nodes(graph, outputs):
        _to_nchw_node(graph, node, outputs, changes)
    remove_dead(graph, outputs)
    for _ in range(8):
        n0 = len(changes)
        work = collections.deque(n for n in live_nodes(graph, outputs) if n.type == "transpose")
        while work:
            t = work.popleft()
            if t.graph is not graph or not t.outputs or not graph.consumers_of(t.outputs[0]):
                continue
            if id(t) in pinned or graph._by_name.get(t.name) is not t:
                continue
            _sink(graph, t, outputs, work, changes, skipped, pinned)
        remove_dead(graph, outputs)
        if len(changes) == n0:
            break
    return PassReport("layout_nchw", before, len(graph.nodes), changes, sorted(skipped))
