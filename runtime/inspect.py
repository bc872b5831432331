"""What a model holds: layers, output shapes, parameter counts and FLOPs, for an IR graph
(`describe_graph`) or an exported ONNX file (`describe_onnx`), as data plus a text formatter.

FLOPs count a multiply-add as 2. Unknown dimensions (a dynamic batch) count as 1, so the figures are
per example when the batch is left open.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace

import onnx

from slimir.errors import SlimirError
from slimir.ir.analysis import needed_nodes
from slimir.ir.graph import Node, Tensor
from slimir.ir.registry import get_op
from slimir.shape import Shape

from .export import PARAMS_KEY

__all__ = [
    "GraphReport",
    "LayerInfo",
    "NodeInfo",
    "OnnxNodeFlops",
    "OnnxReport",
    "ValueInfo",
    "count_parameters",
    "describe_graph",
    "describe_onnx",
    "format_graph",
    "format_onnx",
    "human",
]


# ------------------------------------------------------------------------------------------
# Data


@dataclass
class ValueInfo:
    """A model input or output: name, shape (None or a dim name for unknown dims) and dtype."""

    name: str
    shape: list
    dtype: str


@dataclass
class NodeInfo:
    """One IR node: its first output's shape, the parameters it holds (variables) and its FLOPs."""

    name: str
    op: str
    shape: list | None
    dtype: str
    params: int = 0
    flops: int = 0


@dataclass
class LayerInfo:
    """The nodes of one scope (`vgg_16/conv1/conv1_1`): its ops, output shape, parameters and FLOPs."""

    name: str
    ops: list
    shape: list | None
    params: int = 0
    flops: int = 0
    nodes: list = field(default_factory=list)


@dataclass
class GraphReport:
    """describe_graph's result."""

    inputs: list
    outputs: list
    nodes: list
    layers: list
    total_params: int
    trainable_params: int
    total_flops: int
    variables: list = field(default_factory=list)  # (name, shape, trainable)

    def __str__(self) -> str:
        return format_graph(self)


@dataclass
class OnnxNodeFlops:
    name: str
    op_type: str
    flops: int


@dataclass
class OnnxReport:
    """describe_onnx's result."""

    path: str | None
    file_size: int | None
    ir_version: int
    opsets: dict
    producer: str
    graph_name: str
    inputs: list
    outputs: list
    node_count: int
    op_counts: dict
    initializer_count: int
    params: int
    params_source: str  # "metadata" (the exporter's variable list) or "initializers"
    param_names: list
    flops: list
    total_flops: int
    param_inputs: int = 0  # parameters that are graph inputs (a model exported with weights=False)

    def __str__(self) -> str:
        return format_onnx(self)


# ------------------------------------------------------------------------------------------
# IR graphs


def _as_list(outputs) -> list:
    if isinstance(outputs, (Tensor, Node)):
        return [outputs]
    if isinstance(outputs, dict):
        return list(outputs.values())
    return list(outputs)


def _dims(shape) -> list | None:
    return None if shape is None else list(shape)


def _ones_for_unknown(t: Tensor):
    return SimpleNamespace(shape=Shape([1 if d is None else d for d in t.shape]), dtype=t.dtype, name=t.name)


def node_flops(node: Node) -> int:
    """The op's FLOP rule on `node`, with unknown dimensions counted as 1 (0 when the op has no rule)."""
    try:
        rule = get_op(node.type).flops
    except SlimirError:
        return 0
    if rule is None:
        return 0
    proxy = SimpleNamespace(
        name=node.name,
        type=node.type,
        attrs=node.attrs,
        graph=node.graph,
        inputs=[_ones_for_unknown(t) for t in node.inputs],
        outputs=[_ones_for_unknown(t) for t in node.outputs],
    )
    try:
        return int(rule(proxy) or 0)
    except Exception:  # noqa: BLE001  (a rule that cannot handle these shapes: count nothing, do not fail)
        return 0


def _num(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d) if d is not None else 1
    return n


def _container_scopes(nodes) -> set:
    """Scopes that hold other scopes (`vgg_16`, `CifarNet`), as opposed to a layer's own scope."""
    out = set()
    for n in nodes:
        parts = n.name.split("/")
        for i in range(1, len(parts) - 1):
            out.add("/".join(parts[:i]))
    return out


def _auto_named(node: Node) -> bool:
    """True when the node kept its op's default name (`Conv2D`, `Relu_1`) rather than one given by the user."""
    try:
        default = get_op(node.type).default_name
    except SlimirError:
        return False
    last = node.name.rsplit("/", 1)[-1]
    return re.sub(r"_\d+$", "", last) == default


def _layer_key(node: Node, containers: set) -> str:
    """The layer a node belongs to: its scope (`vgg_16/conv1/conv1_1`), except for an op named by the user
    directly in a network's scope (`CifarNet/norm1`), which is a layer of its own."""
    scope = node.scope
    if not scope:
        return node.name
    if scope in containers and node.type != "variable" and not _auto_named(node):
        return node.name
    return scope


def describe_graph(outputs, inputs=None) -> GraphReport:
    """Per node and per layer (scope): op, output shape, parameters and FLOPs of what `outputs` need.

    outputs: a tensor, a list of tensors or a dict {name: tensor}; inputs: tensors to treat as fed
    (default: the placeholders the outputs need).
    """
    outs = _as_list(outputs)
    if not outs:
        raise SlimirError("describe_graph: no outputs given")
    fed = {id(t) for t in (inputs or [])}
    nodes = needed_nodes(outs, fed)
    infos: list = []
    layers: dict = {}
    variables = []
    total_params = trainable = total_flops = 0
    feeds = [t for t in (inputs or [])]
    containers = _container_scopes(nodes)
    for node in nodes:
        if node.type == "placeholder" and not inputs:
            feeds.append(node.outputs[0])
        out0 = node.outputs[0] if node.outputs else None
        params = 0
        if node.type == "variable":
            params = _num(out0.shape)
            total_params += params
            if getattr(out0, "trainable", True):
                trainable += params
            variables.append((node.name, list(out0.shape), bool(getattr(out0, "trainable", True))))
        flops = 0 if node.type == "variable" else node_flops(node)
        total_flops += flops
        info = NodeInfo(
            node.name,
            node.type,
            _dims(out0.shape) if out0 is not None else None,
            out0.dtype.name if out0 is not None else "",
            params,
            flops,
        )
        infos.append(info)
        key = _layer_key(node, containers)
        layer = layers.get(key)
        if layer is None:
            layer = layers[key] = LayerInfo(key, [], None)
        layer.nodes.append(info)
        layer.params += params
        layer.flops += flops
        if node.type not in ("variable", "const"):
            if node.type not in layer.ops:
                layer.ops.append(node.type)
            if out0 is not None:
                layer.shape = info.shape
    for layer in layers.values():
        if not layer.ops:  # a scope holding only variables or constants (shared weights read elsewhere)
            layer.ops = sorted({n.op for n in layer.nodes})
            layer.shape = layer.nodes[-1].shape
    return GraphReport(
        inputs=[ValueInfo(t.op.name, _dims(t.shape), t.dtype.name) for t in feeds],
        outputs=[ValueInfo(t.name, _dims(t.shape), t.dtype.name) for t in outs if isinstance(t, Tensor)],
        nodes=infos,
        layers=list(layers.values()),
        total_params=total_params,
        trainable_params=trainable,
        total_flops=total_flops,
        variables=variables,
    )


# ------------------------------------------------------------------------------------------
# ONNX files


def _value_shape(vi) -> list | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    out = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _dtype_name(elem_type: int) -> str:
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except Exception:  # noqa: BLE001
        return onnx.TensorProto.DataType.Name(elem_type).lower()


_SMALL_INITIALIZER = 4096  # elements; larger initializers are shown to shape inference as typed inputs only


def _shapes_after_inference(model: onnx.ModelProto) -> dict:
    """{value name: dims (ints, or None for unknown)} after ONNX shape inference.

    Large initializers are replaced by typed graph inputs first, so no weight data is copied; small ones
    (shapes for Reshape and the like) stay, as inference needs their values.
    """
    g = model.graph
    light = onnx.GraphProto()
    light.name = g.name
    light.node.extend(g.node)
    light.input.extend(g.input)
    light.output.extend(g.output)
    input_names = {i.name for i in g.input}
    for init in g.initializer:
        if _num(init.dims) <= _SMALL_INITIALIZER and init.data_location != onnx.TensorProto.EXTERNAL:
            light.initializer.append(init)
        elif init.name not in input_names:
            light.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    m = onnx.ModelProto()
    m.ir_version = model.ir_version
    m.opset_import.extend(model.opset_import)
    m.functions.extend(model.functions)
    m.graph.CopyFrom(light)
    try:
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001
        inferred = m
    shapes = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = _value_shape(vi)
        if dims is not None:
            shapes[vi.name] = [d if isinstance(d, int) else None for d in dims]
    for init in inferred.graph.initializer:
        shapes[init.name] = [int(d) for d in init.dims]
    return shapes


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def onnx_node_flops(node, shapes: dict) -> int | None:
    """2 x multiply-adds of a Conv, ConvTranspose, Gemm or MatMul node (None: another op or unknown shapes)."""

    def shp(i):
        return shapes.get(node.input[i]) if i < len(node.input) and node.input[i] else None

    op = node.op_type
    if op == "Conv":
        w, y = shp(1), shapes.get(node.output[0])
        if w is None or y is None:
            return None
        return 2 * _num(y) * _num(w[1:])  # each output element: Cin/group x kernel MACs
    if op == "ConvTranspose":
        x, w = shp(0), shp(1)
        if x is None or w is None:
            return None
        return 2 * _num(x) * _num(w[1:])  # each input element: Cout/group x kernel MACs
    if op == "Gemm":
        a, b = shp(0), shp(1)
        if a is None or b is None or len(a) != 2 or len(b) != 2:
            return None
        m, k = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])
        n = b[0] if _attr(node, "transB", 0) else b[1]
        return 2 * _num([m, k, n])
    if op == "MatMul":
        a, y = shp(0), shapes.get(node.output[0])
        if a is None or y is None or not a:
            return None
        return 2 * _num(y) * (a[-1] if a[-1] is not None else 1)
    return None


def _param_names(model: onnx.ModelProto) -> list | None:
    for p in model.metadata_props:
        if p.key == PARAMS_KEY:
            try:
                names = json.loads(p.value)
            except ValueError:
                return None
            return [str(n) for n in names] if isinstance(names, list) else None
    return None


def count_parameters(model: onnx.ModelProto) -> tuple:
    """(parameter count, parameter names, source): the variables listed under PARAMS_KEY when the
    exporter wrote it (source "metadata"), else every floating-point initializer ("initializers")."""
    g = model.graph
    init_shapes = {i.name: [int(d) for d in i.dims] for i in g.initializer}
    names = _param_names(model)
    if names is not None:
        input_shapes = {i.name: _value_shape(i) for i in g.input}
        params = 0
        for n in names:
            dims = init_shapes.get(n) or input_shapes.get(n) or []
            params += _num([d if isinstance(d, int) else 1 for d in dims])
        return params, names, "metadata"
    float_types = {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.BFLOAT16,
    }
    names = [i.name for i in g.initializer if i.data_type in float_types]
    return sum(_num(init_shapes[n]) for n in names), names, "initializers"


def _require_model(model: onnx.ModelProto, path: str) -> None:
    """A protobuf that parsed as a ModelProto but is no model (any short byte string can): a SlimirError."""
    missing = [what for what, ok in (("an IR version", model.ir_version > 0), ("a graph", model.HasField("graph")),
                                     ("an opset import", len(model.opset_import) > 0)) if not ok]
    if missing:
        raise SlimirError(f"{path} is not an ONNX model: it has no {', no '.join(missing)}")


def describe_onnx(path_or_model: str | os.PathLike | onnx.ModelProto) -> OnnxReport:
    """Inputs/outputs, node count by op type, parameter count and FLOPs of an ONNX model (file or proto).

    Parameters are the variables the exporter listed under the metadata key PARAMS_KEY (initializers, or
    graph inputs for a model exported with weights=False); without that key, every float initializer
    counts. FLOPs cover Conv, ConvTranspose, Gemm and MatMul, from the shapes ONNX shape inference gives.
    """
    if isinstance(path_or_model, onnx.ModelProto):
        model, path, size = path_or_model, None, None
    else:
        path = os.fspath(path_or_model)
        if not os.path.isfile(path):
            raise SlimirError(f"no such ONNX file: {path}")
        size = os.path.getsize(path)
        if size == 0:
            raise SlimirError(f"{path} is empty (0 bytes): not an ONNX model")
        try:
            model = onnx.load(path)
        except Exception as e:  # noqa: BLE001
            raise SlimirError(
                f"{path} is not a readable ONNX model: {str(e).splitlines()[0] if str(e) else e}"
            ) from None
        _require_model(model, path)
    g = model.graph
    init_shapes = {i.name: [int(d) for d in i.dims] for i in g.initializer}
    params, names, source = count_parameters(model)
    counts = Counter(n.op_type for n in g.node)
    shapes = _shapes_after_inference(model)
    flops = []
    for n in g.node:
        f = onnx_node_flops(n, shapes)
        if f is not None:
            flops.append(OnnxNodeFlops(n.name, n.op_type, f))
    param_set = set(names)
    real_inputs = [i for i in g.input if i.name not in init_shapes and i.name not in param_set]
    param_inputs = sum(1 for i in g.input if i.name in param_set and i.name not in init_shapes)
    return OnnxReport(
        path=path,
        file_size=size,
        ir_version=int(model.ir_version),
        opsets={o.domain or "ai.onnx": int(o.version) for o in model.opset_import},
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        graph_name=g.name,
        inputs=[
            ValueInfo(i.name, _value_shape(i), _dtype_name(i.type.tensor_type.elem_type)) for i in real_inputs
        ],
        outputs=[
            ValueInfo(o.name, _value_shape(o), _dtype_name(o.type.tensor_type.elem_type)) for o in g.output
        ],
        node_count=len(g.node),
        op_counts=dict(counts.most_common()),
        initializer_count=len(g.initializer),
        params=params,
        params_source=source,
        param_names=list(names),
        flops=flops,
        total_flops=sum(f.flops for f in flops),
        param_inputs=param_inputs,
    )


# ------------------------------------------------------------------------------------------
# Text


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M'."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{int(n)} {unit}".rstrip()


def _shape_str(shape) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _table(headers: list, rows: list, right: set) -> list:
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
        for i, h in enumerate(headers)
    ]

    def line(cells):
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def format_graph(report: GraphReport, by: str = "layer") -> str:
    """A text table of `report` per layer (by='layer') or per node (by='node'), with totals."""
    lines = []
    for v in report.inputs:
        lines.append(f"input   {v.name}  {_shape_str(v.shape)}  {v.dtype}")
    for v in report.outputs:
        lines.append(f"output  {v.name}  {_shape_str(v.shape)}  {v.dtype}")
    if lines:
        lines.append("")
    if by == "node":
        rows = [
            [
                n.name,
                n.op,
                _shape_str(n.shape),
                f"{n.params:,}" if n.params else "",
                f"{n.flops:,}" if n.flops else "",
            ]
            for n in report.nodes
        ]
        lines += _table(["node", "op", "output shape", "params", "FLOPs"], rows, {3, 4})
    elif by == "layer":
        rows = [
            [
                la.name,
                "+".join(la.ops),
                _shape_str(la.shape),
                f"{la.params:,}" if la.params else "",
                f"{la.flops:,}" if la.flops else "",
            ]
            for la in report.layers
        ]
        lines += _table(["layer", "ops", "output shape", "params", "FLOPs"], rows, {3, 4})
    else:
        raise SlimirError(f"format_graph: by must be 'layer' or 'node', got {by!r}")
    lines.append("")
    lines.append(
        f"Total parameters: {report.total_params:,} (trainable {report.trainable_params:,}) "
        f"in {len(report.variables)} variables"
    )
    lines.append(
        f"Total FLOPs: {report.total_flops:,} ({human(report.total_flops, 'FLOPs')}; "
        "multiply-add = 2, unknown dims counted as 1)"
    )
    return "\n".join(lines)


def format_onnx(report: OnnxReport, flops_per_node: bool = True) -> str:
    """A text summary of `report`: header, inputs/outputs, ops by count, FLOPs per node, totals."""
    lines = []
    if report.path:
        lines.append(f"file      {report.path} ({report.file_size:,} bytes)")
    ops = ", ".join(f"{k} {v}" for k, v in sorted(report.opsets.items()))
    lines.append(
        f"model     {report.graph_name}  (IR version {report.ir_version}, opset {ops}, "
        f"producer {report.producer or '?'})"
    )
    for v in report.inputs:
        lines.append(f"input     {v.name}  {_shape_str(v.shape)}  {v.dtype}")
    for v in report.outputs:
        lines.append(f"output    {v.name}  {_shape_str(v.shape)}  {v.dtype}")
    if report.param_inputs:
        lines.append(
            f"input     ... and {report.param_inputs} parameters as graph inputs (exported without weights)"
        )
    lines.append("")
    lines.append(f"{report.node_count} nodes, {report.initializer_count} initializers")
    lines += _table(["op type", "count"], [[k, v] for k, v in report.op_counts.items()], {1})
    if flops_per_node and report.flops:
        lines.append("")
        lines += _table(
            ["node", "op type", "FLOPs"], [[f.name, f.op_type, f"{f.flops:,}"] for f in report.flops], {2}
        )
    lines.append("")
    src = "variables listed by the exporter" if report.params_source == "metadata" else "float initializers"
    lines.append(f"Total parameters: {report.params:,} ({len(report.param_names)} {src})")
    lines.append(
        f"Total FLOPs (Conv/ConvTranspose/Gemm/MatMul): {report.total_flops:,} "
        f"({human(report.total_flops, 'FLOPs')}; multiply-add = 2, unknown dims counted as 1)"
    )
    return "\n".join(lines)
