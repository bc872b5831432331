"""Lowering: the part of an IR graph that some outputs need, as an ONNX ModelProto.

Each IR node is lowered by its op's `lower` rule through a `Builder`; ONNX value names are the IR
tensor names (`vgg_16/conv1/conv1_1/Relu:0`) and node names keep the scope names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from slimir.errors import FeedError, GraphError, InvalidArgumentError, SlimirError
from slimir.ir.analysis import needed_nodes
from slimir.ir.graph import Graph, Node, Tensor
from slimir.ir.registry import get_op
from slimir.shape import fmt

DEFAULT_OPSET = 18


class Builder:
    """Collects ONNX nodes and initializers; `op` and `const` are what op lowerings call. `device` ('cpu' or
    'cuda') is the ONNX Runtime provider the model is for: a lowering may pick the kernels that provider has."""

    def __init__(self, opset: int = DEFAULT_OPSET, device: str = "cpu"):
        self.opset = opset
        self.device = device
        self.nodes: list = []
        self.initializers: list = []
        self._n = 0
        self._used: set = set()
        self.current: Optional[Node] = None
        self.domains: set = set()
        self._node_names: dict = {}
        self._const_values: dict = {}
        self._derived: dict = {}
        self._small_consts: dict = {}

    def fresh(self, hint: str) -> str:
        self._n += 1
        name = f"{hint}__{self._n}"
        self._used.add(name)
        return name

    def op(self, op_type: str, inputs: list, outputs: int = 1, domain: str = "", **attrs):
        """Emit one ONNX node; returns its output name (or list of names when outputs > 1)."""
        base = self.current.name if self.current is not None else op_type
        outs = [self.fresh(f"{base}/{op_type}") for _ in range(outputs)]
        node = helper.make_node(op_type, list(inputs), outs, name=self.node_name(f"{base}/{op_type}"),
                                domain=domain or None, **attrs)
        if domain:
            self.domains.add(domain)
        self.nodes.append(node)
        return outs[0] if outputs == 1 else outs

    def node_name(self, want: str) -> str:
        """A node name not used yet (ONNX Runtime rejects duplicates)."""
        n = self._node_names.get(want, 0)
        self._node_names[want] = n + 1
        return want if n == 0 else f"{want}_{n}"

    def const(self, value, name: Optional[str] = None, share: bool = False) -> str:
        """A constant tensor, stored as an initializer. Small constants that are unnamed (or `share`: IR
        constants that are not weights) share one initializer per value, so that nodes reading equal
        axes/shapes/scalars are seen as equal by `_onnx_cse`."""
        arr = np.asarray(value)
        key = None
        if (name is None or share) and arr.size <= 64:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            shared = self._small_consts.get(key)
            if shared is not None:
                return shared
        nm = self.fresh(name or "const") if name is None or name in self._used else name
        if key is not None:
            self._small_consts[key] = nm
        self._used.add(nm)
        self.initializers.append(numpy_helper.from_array(arr, nm))
        self._const_values[nm] = arr
        return nm

    def derived_const(self, source: str, value) -> str:
        """A constant computed from the constant `source` (e.g. weights in ONNX layout); it takes over
        the source's name when the source ends up unused."""
        nm = self.const(value, name=f"{source}__{len(self._derived)}")
        self._derived[nm] = source
        return nm

    def finish_initializers(self, keep: set) -> list:
        """Initializers still read by a node (or in `keep`); a derived constant whose source went
        unused is renamed to the source's name (so `conv1/weights` survives in ONNX layout)."""
        used = {i for n in self.nodes for i in n.input} | keep
        by_source: dict = {}
        for d, src in self._derived.items():
            if d in used:
                by_source.setdefault(src, []).append(d)
        rename = {ds[0]: src for src, ds in by_source.items() if len(ds) == 1 and src not in used}
        out = []
        for init in self.initializers:
            if init.name in rename:
                init.name = rename[init.name]
                out.append(init)
            elif init.name in used:
                out.append(init)
        if rename:
            for n in self.nodes:
                for i, x in enumerate(n.input):
                    if x in rename:
                        n.input[i] = rename[x]
        return out

    def constant_value(self, name: str):
        """The value of `name` when it is a constant of this model, else None."""
        return self._const_values.get(name)


@dataclass
class Lowered:
    """A lowered subgraph and how its inputs/outputs map back to the IR."""

    model: onnx.ModelProto
    feeds: list  # IR tensors fed, in graph-input order
    variables: list  # Variables read as graph inputs, in order (after feeds)
    outputs: list  # IR tensors produced as graph outputs, in order
    assigns: list = field(default_factory=list)  # (Variable, output index) written back after a run
    prints: list = field(default_factory=list)  # (print Node, [output indices]) printed after a run
    python_nodes: list = field(default_factory=list)  # init / no_op nodes the Session runs itself
    checks: list = field(default_factory=list)  # (check Node, output index) verified before writing


def value_info(name: str, t: Tensor, dim_names: Optional[dict] = None):
    dims = []
    for i, d in enumerate(t.shape):
        if d is not None:
            dims.append(d)
        else:
            dims.append((dim_names or {}).get(i))
    return helper.make_tensor_value_info(name, t.dtype.onnx, dims)


def input_dims(t: Tensor) -> dict:
    """dim_param names for the unknown dims of a graph input: 'batch' first, then 'name_dK'."""
    base = t.op.name.replace("/", "_")
    return {i: ("batch" if i == 0 else f"{base}_d{i}") for i, d in enumerate(t.shape) if d is None}


def lower(graph: Graph, outputs: list, feeds: list = (), *, opset: int = DEFAULT_OPSET,
          output_names: Optional[list] = None, name: str = "slimir", side_effects: bool = True,
          doc: str = "", device: str = "cpu") -> Lowered:
    """Lower what `outputs` need to an ONNX model.

    feeds: tensors that become graph inputs (placeholders, or any tensor to override).
    Variables become graph inputs that the Session binds (exports freeze them into constants first).
    side_effects: include assign/print/check nodes reached through control dependencies as extra outputs.
    device: 'cpu' (any provider) or 'cuda' (the model runs on ONNX Runtime's CUDA provider).
    """
    if device not in ("cpu", "cuda"):
        raise InvalidArgumentError(f"lower: device must be 'cpu' or 'cuda', got {device!r}")
    for t in list(outputs) + list(feeds):
        if t.graph is not graph:
            raise GraphError(f"{t.name} belongs to another graph than the one being lowered")
    fed = {id(t): t for t in feeds}
    nodes = needed_nodes(outputs, fed)
    b = Builder(opset, device)
    names: dict = {}  # id(Tensor) -> onnx value name
    graph_inputs, var_inputs = [], []
    for t in feeds:
        nm = t.op.name if t.index == 0 else t.name
        names[id(t)] = nm
        b._used.add(nm)
        graph_inputs.append(value_info(nm, t, input_dims(t)))
    python_nodes, assign_nodes, print_nodes, check_nodes = [], [], [], []
    for node in nodes:
        if get_op(node.type).python_side:  # init / no_op: the Session runs them in Python
            python_nodes.append(node)
            continue
        if node.type == "placeholder":
            t = node.outputs[0]
            if id(t) not in names:
                raise FeedError(
                    f"You must feed a value for placeholder tensor '{node.name}' with dtype {t.dtype.name} and "
                    f"shape {fmt(t.shape)}")
            continue
        if node.type == "variable":
            v = node.outputs[0]
            if id(v) in names:
                continue
            names[id(v)] = node.name
            b._used.add(node.name)
            var_inputs.append(v)
            graph_inputs.append(value_info(node.name, v))
            continue
        if node.type == "const":  # an initializer named like the node (conv1/weights), no Identity
            weights = "variable" in node.meta or "from_variable" in node.meta
            names[id(node.outputs[0])] = b.const(node.attrs["value"], name=node.name, share=not weights)
            continue
        if node.type == "assign":  # the new value itself becomes a graph output: no Identity copy per step
            assign_nodes.append(node)
            names[id(node.outputs[0])] = names[id(node.inputs[0])]
            continue
        if node.type == "print":
            print_nodes.append(node)
        op = get_op(node.type)
        if "check" in op.extra:  # check_numerics, check_labels: the Session verifies the value after the run
            check_nodes.append(node)
        if op.lower is None:
            raise InvalidArgumentError(f"{node.name}: op {node.type} cannot be lowered to ONNX")
        start = len(b.nodes)
        b.current = node
        try:
            ins = [names[id(t)] for t in node.inputs]
        except KeyError:
            missing = next(t for t in node.inputs if id(t) not in names)
            raise GraphError(f"{node.name}: input {missing.name} was not lowered") from None
        out = op.lower(b, node, *ins)
        b.current = None
        outs = [out] if isinstance(out, str) else list(out)
        if len(outs) != len(node.outputs):
            raise SlimirError(f"{node.name}: lowering of {node.type} gave {len(outs)} outputs, "
                              f"expected {len(node.outputs)}")
        emitted = b.nodes[start:]
        if len(emitted) == 1:
            emitted[0].name = b.node_name(node.name)
        renamed: dict = {}
        for t, v in zip(node.outputs, outs):
            want = t.name
            if v in renamed:
                names[id(t)] = renamed[v]
                continue
            if want in b._used:
                names[id(t)] = v
                continue
            if any(v in n.output for n in emitted):
                for n in emitted:
                    for i, x in enumerate(n.output):
                        if x == v:
                            n.output[i] = want
                    for i, x in enumerate(n.input):
                        if x == v:
                            n.input[i] = want
            else:
                b.nodes.append(helper.make_node("Identity", [v], [want], name=b.node_name(f"{node.name}/Identity")))
            b._used.add(want)
            renamed[v] = want
            names[id(t)] = want
    # graph outputs
    out_tensors = [o for o in outputs if isinstance(o, Tensor)]
    assigns, prints, checks = [], [], []
    if side_effects:
        for node in check_nodes:  # a check op's rule gets all its outputs' values
            checks.append((node, len(out_tensors)))
            out_tensors.extend(node.outputs)
        for node in assign_nodes:
            assigns.append((node.attrs["var"], len(out_tensors)))
            out_tensors.append(node.outputs[0])
        for node in print_nodes:
            idx = []
            for t in node.inputs[1:]:
                idx.append(len(out_tensors))
                out_tensors.append(t)
            prints.append((node, idx))
    graph_outputs, used_out = [], set()
    onames = list(output_names or [])
    not_node_made = {x.name for x in graph_inputs} |         {x.name for x in b.initializers}
    for i, t in enumerate(out_tensors):
        src = names.get(id(t))
        if src is None:
            raise GraphError(f"{t.name} could not be lowered")
        want = onames[i] if i < len(onames) else src
        if want in used_out or (want != src and want in b._used) or want in not_node_made:
            want = b.fresh(f"{t.op.name}/output")
        if want != src:
            b.nodes.append(helper.make_node("Identity", [src], [want], name=b.node_name(f"{t.op.name}/output")))
            b._used.add(want)
        used_out.add(want)
        graph_outputs.append(value_info(want, t))
    wanted = {o.name for o in graph_outputs}
    b.nodes = _live_onnx_nodes(_onnx_cse(b.nodes, wanted), wanted)
    inits = b.finish_initializers({o.name for o in graph_outputs})
    g = helper.make_graph(b.nodes, name, graph_inputs, graph_outputs, initializer=inits,
                          doc_string=doc or None)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in sorted(b.domains)]
    model = helper.make_model(g, opset_imports=opsets, producer_name="slimir", producer_version=_version())
    model.ir_version = min_ir_version(opset)
    return Lowered(model, list(feeds), var_inputs, out_tensors, assigns, prints, python_nodes, checks)


_NOT_MERGED = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
               "Bernoulli", "Dropout"}


def _onnx_cse(nodes: list, graph_outputs: set) -> list:
    """Merge ONNX nodes that compute the same thing (same domain, op type, inputs and attributes), in
    emission (topological) order. Different IR ops can lower to identical ONNX nodes (the training-mode
    batch-norm moments of the forward pass and of its VJP, say), which the IR-level `cse` pass cannot see;
    merging them here saves their work in every run and ONNX Runtime's own CSE time at load. Random ops
    and nodes producing a graph output are kept."""
    seen: dict = {}
    rename: dict = {}
    out = []
    for n in nodes:
        for i, x in enumerate(n.input):
            if x in rename:
                n.input[i] = rename[x]
        if n.op_type in _NOT_MERGED or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                                           for a in n.attribute):
            out.append(n)
            continue
        key = (n.domain, n.op_type, tuple(n.input),
               tuple(a.SerializeToString() for a in sorted(n.attribute, key=lambda a: a.name)))
        prev = seen.get(key)
        if prev is not None and not any(o in graph_outputs for o in n.output):
            # the same computation; one that asks for more optional outputs (MaxPool's Indices) widens the
            # earlier node, which precedes every reader of the new outputs
            for i, o in enumerate(n.output):
                if not o:
                    continue
                if i >= len(prev.output):
                    prev.output.extend([""] * (i + 1 - len(prev.output)))
                if prev.output[i]:
                    rename[o] = prev.output[i]
                else:
                    prev.output[i] = o
            continue
        if prev is None:
            seen[key] = n
        out.append(n)
    return out


def _live_onnx_nodes(nodes: list, wanted: set) -> list:
    """Drop ONNX nodes none of whose outputs is read (e.g. an op's unused extra outputs)."""
    need = set(wanted)
    keep = []
    for n in reversed(nodes):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(n.input)
    keep.reverse()
    return keep


def min_ir_version(opset: int) -> int:
    """The smallest ONNX IR version that supports `opset`, so older ONNX Runtime builds load the model."""
    try:
        return helper.find_min_ir_version_for([helper.make_opsetid("", opset)], ignore_unknown=True)
    except Exception:  # pragma: no cover - very old onnx
        return 8


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("slimir")
    except Exception:  # pragma: no cover - not installed
        return "0"

