"""The model onnxruntime-training starts from: the forward pass and loss of a slimir graph, exported for ORT 1.19.2
(opset <= 21, ONNX IR <= 10, variables as initializers named by their scope names, batch-norm moving statistics
as extra outputs), and the slimir <-> ORT parameter-name mapping. slimir.runtime.ort_training trains it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from slimir.errors import InvalidArgumentError
from slimir.ir.analysis import needed_nodes, no_gc
from slimir.ir.graph import GraphKeys, Tensor, Variable

from .lowering import DEFAULT_OPSET, lower, min_ir_version

log = logging.getLogger("slimir")

MAX_IR_VERSION = 10  # onnxruntime-training 1.19.2 reads ONNX IR <= 10
MAX_OPSET = 21  # ... and ai.onnx opsets <= 21
LOSS_OUTPUT = "loss"
OUTPUT = "output"  # the model's output when ORT's built-in loss is put on it
STAT_SUFFIX = ":new_value"  # extra output carrying a moving statistic's updated value

# ------------------------------------------------------------------------------------------
# Names: slimir variable scope names <-> ORT parameter names


def ort_name(var_name: str) -> str:
    """ORT parameter name of the slimir variable `var_name` (`LeNet/conv1/weights`): the same string.

    ORT stores parameter names as plain strings and builds `<name>_grad` from them; '/' and '.' are
    accepted, so no sanitising is needed. The ':0' tensor suffix is dropped (names are op names).
    """
    return var_name.removesuffix(":0")


def slimir_name(param_name: str) -> str:
    """The slimir variable (op) name of the ORT parameter `param_name` (inverse of ort_name)."""
    return param_name


# ------------------------------------------------------------------------------------------
# Export of forward + loss


@dataclass
class ForwardModel:
    """The forward + loss model handed to generate_artifacts, and how it maps back to the slimir graph."""

    model: onnx.ModelProto
    feeds: list  # slimir tensors that are the model's user inputs, in input order
    input_names: list  # ONNX names of those inputs
    variables: dict  # ORT parameter name -> slimir Variable
    requires_grad: list  # ORT parameter names trained
    frozen_params: list  # ORT parameter names kept fixed by the optimizer (moving statistics included)
    loss_name: str  # the loss output (or the output ORT's built-in loss is put on)
    stat_outputs: dict = field(default_factory=dict)  # output name -> ORT parameter it updates
    extra_outputs: list = field(default_factory=list)  # further named outputs (e.g. logits for export)
    builtin_loss: str | None = None  # ORT LossType name when the loss is ORT's


def _unwrap_train_op(t: Tensor) -> Tensor:
    """The loss of a create_train_op train op (identity <- check_numerics <- loss); other tensors unchanged."""
    g = t.graph
    if t not in g.get_collection("train_op"):
        return t
    while t.op.type in ("identity", "check_numerics") and t.op.inputs:
        t = t.op.inputs[0]
    return t


def _stat_updates(graph) -> list:
    """[(Variable, new-value tensor)] of the graph's UPDATE_OPS assigns (batch-norm moving averages)."""
    out = []
    for u in graph.get_collection(GraphKeys.UPDATE_OPS):
        node = getattr(u, "op", u)
        if node.type == "assign":
            out.append((node.attrs["var"], node.inputs[0]))
    return out


def export_forward(loss: Tensor, session=None, inputs: list | None = None, variables_to_train=None,
                   extra_outputs: dict | None = None, builtin_loss: str | None = None,
                   opset: int = DEFAULT_OPSET) -> ForwardModel:
    """The forward + loss model of `loss` for generate_artifacts, with the variables' values as initializers.

    loss: the scalar loss (e.g. slim.losses.get_total_loss()) or a create_train_op train op (its loss is
        used; its backward and update are not: ORT builds its own). With `builtin_loss` ('CrossEntropyLoss',
        'MSELoss', 'BCEWithLogitsLoss', 'L1Loss'), `loss` is the tensor ORT's loss is put on (the logits).
    session: take the variables' current values from it; otherwise their initial values.
    inputs: the tensors fed each step (default: the placeholders the loss needs).
    variables_to_train: default the trainable variables the loss needs; every other variable it reads is
        frozen (moving statistics, non-trainable variables).
    extra_outputs: {name: tensor} also computed (e.g. {'logits': logits} for export_model_for_inferencing).
    """
    if not isinstance(loss, Tensor):
        raise InvalidArgumentError(f"ort_training.export_forward: loss must be a tensor, got {loss!r}")
    if opset > MAX_OPSET:
        raise InvalidArgumentError(f"ort_training: onnxruntime-training 1.19.2 reads opsets <= {MAX_OPSET}, "
                                   f"got opset={opset}")
    loss = _unwrap_train_op(loss)
    if builtin_loss is None:
        if loss.shape.num_elements() != 1 or not loss.dtype.is_floating:
            raise InvalidArgumentError(f"ort_training: the loss {loss.name} must be a floating-point scalar, got "
                                       f"{loss.dtype.name} {list(loss.shape)} (or pass builtin_loss=)")
    elif builtin_loss not in ("CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss", "L1Loss"):
        raise InvalidArgumentError(f"ort_training: unknown builtin_loss {builtin_loss!r}: use CrossEntropyLoss, "
                                   "MSELoss, BCEWithLogitsLoss or L1Loss")
    g = loss.graph
    extra = dict(extra_outputs or {})
    for k, t in extra.items():
        if not isinstance(t, Tensor) or t.graph is not g:
            raise InvalidArgumentError(f"ort_training: extra output {k!r} must be a tensor of the loss's graph")
    with no_gc():
        roots = [loss] + list(extra.values())
        if inputs is None:
            feeds = [n.outputs[0] for n in needed_nodes(roots, set()) if n.type == "placeholder"]
        else:
            feeds = list(inputs)
        nodes = needed_nodes(roots, {id(t) for t in feeds})
        read = {id(n.outputs[0]) for n in nodes if n.type == "variable"}
        stats = [(v, t) for v, t in _stat_updates(g) if id(v) in read]
        outs = roots + [t for _, t in stats]
        first = OUTPUT if builtin_loss else LOSS_OUTPUT
        names = [first] + list(extra) + [ort_name(v.op.name) + STAT_SUFFIX for v, _ in stats]
        low = lower(g, outs, feeds, opset=opset, output_names=names, side_effects=False, name="slimir_forward")
    variables = {ort_name(v.op.name): v for v in low.variables}
    if variables_to_train is None:
        train_set = set(g.get_collection(GraphKeys.TRAINABLE_VARIABLES))
    else:
        train_set = set(variables_to_train)
        for v in train_set:
            if not isinstance(v, Variable):
                raise InvalidArgumentError(f"ort_training: variables_to_train holds {v!r}, not a variable")
    requires_grad = [n for n, v in variables.items() if v in train_set and v.dtype.is_floating]
    frozen = [n for n in variables if n not in requires_grad]
    if not requires_grad:
        raise InvalidArgumentError(f"ort_training: the loss {loss.name} reads no variable to train")
    from .export import variable_values

    values = variable_values(list(variables.values()), session)
    model = low.model
    keep_inputs = [i for i in model.graph.input if i.name not in variables]
    del model.graph.input[:]
    model.graph.input.extend(keep_inputs)
    for n, v in variables.items():
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(values[v], dtype=v.dtype.np), n))
    _sum_as_adds(model)
    _rank1_scalar_where(model)
    stamp_ir_version(model)
    fwd = ForwardModel(model=model, feeds=feeds, input_names=[i.name for i in keep_inputs], variables=variables,
                       requires_grad=requires_grad, frozen_params=frozen, loss_name=first,
                       stat_outputs={ort_name(v.op.name) + STAT_SUFFIX: ort_name(v.op.name) for v, _ in stats},
                       extra_outputs=list(extra), builtin_loss=builtin_loss)
    return fwd


def _sum_as_adds(model: onnx.ModelProto) -> int:
    """Rewrite n-ary Sum (slim.add_n, get_total_loss) as a chain of Adds: ORT 1.19.2 has no gradient for Sum."""
    new_nodes, n = [], 0
    for node in model.graph.node:
        if node.op_type != "Sum" or node.domain not in ("", "ai.onnx"):
            new_nodes.append(node)
            continue
        n += 1
        ins = list(node.input)
        if len(ins) == 1:
            new_nodes.append(onnx.helper.make_node("Identity", ins, list(node.output), name=node.name))
            continue
        acc = ins[0]
        for k, x in enumerate(ins[1:], 1):
            out = node.output[0] if k == len(ins) - 1 else f"{node.name}/add_{k}"
            new_nodes.append(onnx.helper.make_node("Add", [acc, x], [out], name=f"{node.name}/add_{k}"))
            acc = out
    if n:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return n


def _rank1_scalar_where(model: onnx.ModelProto) -> int:
    """Run every rank-0 Where on rank-1 values ([1]), reshaped back to a scalar; returns how many.

    ORT 1.19.2's gradient builder differentiates Where with a zero constant of shape [1], so the gradient
    of a scalar Where comes out as [1] and every later broadcast goes wrong ("invalid expand shape" in
    ReduceSum's gradient). TF-Slim's losses divide safely with such Wheres (num_present == 0). The
    rewrite computes the same values.
    """
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        if vi.type.tensor_type.HasField("shape"):
            ranks[vi.name] = len(vi.type.tensor_type.shape.dim)
    for init in model.graph.initializer:
        ranks[init.name] = len(init.dims)
    one = "slimir_ort/shape_1"
    empty = "slimir_ort/shape_scalar"
    new_nodes, n = [], 0
    for node in model.graph.node:
        if node.op_type == "Where" and ranks.get(node.output[0]) == 0 and all(ranks.get(i) == 0 for i in node.input):
            n += 1
            ins = []
            for k, x in enumerate(node.input):
                r = f"{node.name}/as_rank1_{k}"
                new_nodes.append(onnx.helper.make_node("Reshape", [x, one], [r], name=r))
                ins.append(r)
            out = node.output[0]
            mid = f"{node.name}/rank1"
            new_nodes.append(onnx.helper.make_node("Where", ins, [mid], name=node.name))
            new_nodes.append(onnx.helper.make_node("Reshape", [mid, empty], [out], name=f"{node.name}/as_scalar"))
        else:
            new_nodes.append(node)
    if n:
        model.graph.initializer.extend([numpy_helper.from_array(np.array([1], np.int64), one),
                                        numpy_helper.from_array(np.zeros([0], np.int64), empty)])
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return n


def stamp_ir_version(model: onnx.ModelProto) -> onnx.ModelProto:
    """Set the model's IR version to the smallest its opsets allow (<= 10, what ORT 1.19.2 reads)."""
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=DEFAULT_OPSET)
    if opset > MAX_OPSET:
        raise InvalidArgumentError(f"ort_training: the model uses opset {opset}; onnxruntime-training 1.19.2 reads "
                                   f"opsets <= {MAX_OPSET}")
    want = min_ir_version(opset)
    if want > MAX_IR_VERSION:  # pragma: no cover - opsets <= 21 need IR <= 10
        raise InvalidArgumentError(f"ort_training: opset {opset} needs IR version {want} > {MAX_IR_VERSION}")
    if model.ir_version == 0 or model.ir_version > MAX_IR_VERSION or model.ir_version < want:
        model.ir_version = want
    return model
