"""`slim.export_onnx`: a deployable ONNX model of some outputs, with the variables' values embedded."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Optional

import onnx

from slimir.errors import GraphError, SlimirError
from slimir.ir.analysis import needed_nodes, no_gc
from slimir.ir.graph import Tensor

from .lowering import DEFAULT_OPSET, lower

PARAMS_KEY = "slimir:parameters"


def _outputs_and_names(outputs) -> tuple:
    if isinstance(outputs, Tensor):
        return [outputs], None
    if isinstance(outputs, dict):
        return list(outputs.values()), list(outputs.keys())
    outs = list(outputs)
    if not outs or not all(isinstance(t, Tensor) for t in outs):
        raise SlimirError("export_onnx: outputs must be a tensor, a list of tensors or a dict {name: tensor}")
    return outs, None


def _placeholders(outputs) -> list:
    return [n.outputs[0] for n in needed_nodes(outputs, set()) if n.type == "placeholder"]


def variable_values(variables, session=None) -> dict:
    """Values to embed: the session's current ones, else the variables' initial values."""
    if session is not None:
        return {v: session.variable_value(v) for v in variables}
    if not variables:
        return {}
    from .session import Session

    tmp = Session(graph=variables[0].graph)
    tmp.initialize(variables)
    return {v: tmp.variable_value(v) for v in variables}


def build_model(outputs, inputs=None, session=None, opset: int = DEFAULT_OPSET, optimize: bool = True,
                weights: bool = True, input_format: str = "NHWC", reports: Optional[list] = None,
                target: str = "onnx") -> onnx.ModelProto:
    """The ONNX model for `outputs` (see export_onnx)."""
    if target not in ("onnx", "onnxruntime", "onnxruntime-native"):
        raise SlimirError(f"export_onnx: target must be 'onnx', 'onnxruntime' or 'onnxruntime-native', got {target!r}")
    with no_gc():
        model = _build_model(outputs, inputs, session, opset, optimize, weights, input_format, reports)
    if target == "onnxruntime" and optimize:
        from .ort_fusions import fuse_for_onnxruntime

        model = fuse_for_onnxruntime(model)
    elif target == "onnxruntime-native" and optimize:
        from .ort_fusions import optimize_natively

        model = optimize_natively(model)
    return model


def _build_model(outputs, inputs, session, opset, optimize, weights, input_format, reports) -> onnx.ModelProto:
    """The ONNX model for `outputs` (see export_onnx).

    weights=False leaves the variables as graph inputs (no values computed or serialised);
    input_format='NCHW' makes 4-D inputs NCHW (the layout pass then removes the input transpose);
    `reports` (a list) receives the passes' reports.
    """
    from slimir.passes import clone, optimize_for_inference

    outs, names = _outputs_and_names(outputs)
    g = outs[0].graph
    for t in outs:
        if t.graph is not g:
            raise GraphError(f"export_onnx: {t.name} belongs to another graph than {outs[0].name}")
    if session is not None and session.graph is not g:
        raise GraphError("export_onnx: the session runs another graph than the outputs belong to")
    if input_format not in ("NHWC", "NCHW"):
        raise SlimirError(f"export_onnx: input_format must be 'NHWC' or 'NCHW', got {input_format!r}")
    feeds = list(inputs) if inputs is not None else _placeholders(outs)
    variables = [n.outputs[0] for n in needed_nodes(outs, {id(t) for t in feeds}) if n.type == "variable"]
    values = variable_values(variables, session) if weights else None
    cl = clone(g, outs, feeds, variables="freeze" if weights else "inputs", var_values=values)
    if input_format == "NCHW":
        _nchw_inputs(cl)
    if optimize:
        done = optimize_for_inference(cl.graph, cl.outputs)
        if reports is not None:
            reports.extend(done)
    live = needed_nodes(cl.outputs, {id(t) for t in cl.feeds})
    var_inputs = [n.outputs[0] for n in live if n.type == "placeholder" and "variable" in n.meta]
    low = lower(cl.graph, cl.outputs, cl.feeds + var_inputs, opset=opset, output_names=names, side_effects=False,
                name=_model_name(outs))
    params = [n.name for n in live if n.type in ("const", "placeholder") and
              ("variable" in n.meta or n.meta.get("from_variable"))]
    meta = low.model.metadata_props.add()
    meta.key = PARAMS_KEY
    meta.value = json.dumps(params)
    return low.model


def _nchw_inputs(cl) -> None:
    """Replace each 4-D NHWC input by an NCHW one of the same name, transposed back inside the graph."""
    from slimir.passes.layout import TO_NHWC
    from slimir.passes.rewrite import build
    from slimir.shape import Shape

    g = cl.graph
    for i, f in enumerate(cl.feeds):
        if len(f.shape) != 4:
            continue
        name = f.op.name
        g._by_name.pop(name, None)
        n_, h, w, c = f.shape
        shp = Shape((n_, c, h, w))
        node = g.add_node("placeholder", [], {"shape": shp, "dtype": f.dtype}, [(shp, f.dtype)], name, exact_name=True)
        t = build(g, "", "transpose", [node.outputs[0]], name=name + "_nhwc", perm=TO_NHWC)
        g.replace_uses(f, t, cl.outputs)
        cl.feeds[i] = node.outputs[0]


def _model_name(outs) -> str:
    top = outs[0].op.name.split("/")[0]
    return top or "slimir"


def export_onnx(outputs, path: str, inputs=None, session=None, opset: int = DEFAULT_OPSET, optimize: bool = True,
                weights: bool = True, input_format: str = "NHWC", target: str = "onnx",
                check: bool = True) -> onnx.ModelProto:
    """Write an ONNX model computing `outputs` from `inputs` (default: the placeholders they need).

    session: embed that session's current variable values; otherwise the initializers' values.
    optimize: run the inference pass pipeline (slimir.passes.INFERENCE_PIPELINE); False exports as built.
    input_format: 'NCHW' exports 4-D inputs in ONNX's layout instead of TF-Slim's NHWC.
    target: 'onnxruntime' also fuses Conv + activation into ORT's com.microsoft.FusedConv; 'onnxruntime-native'
        applies ORT's full optimiser for this CPU (fastest, not portable across CPU kinds; see ort_fusions).
    The file is written atomically (temporary file, then rename).
    """
    model = build_model(outputs, inputs, session, opset, optimize, weights, input_format, target=target)
    if check:
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as e:  # a lowering bug, never the user's
            raise SlimirError(f"export_onnx produced an invalid model (please report): {e}") from None
    save_atomic(model, path)
    return model


def save_atomic(model: onnx.ModelProto, path: str) -> None:
    """Serialize `model` to `path` through a temporary file in the same folder, fsync'ed, then renamed."""
    d = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=d)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; an export is meant to be shared
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


