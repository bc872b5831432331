"""ONNX-level rewrites for models that will run on ONNX Runtime.

target='onnxruntime': Conv followed by its activation becomes `com.microsoft.FusedConv` (onnxscript
rewriter rules), a contrib op every ORT build ships. ORT makes the same fusion itself at
ORT_ENABLE_EXTENDED and above; emitting it lets sessions at ORT_ENABLE_BASIC run the fused kernel too.

target='onnxruntime-native': ONNX Runtime's own optimiser at ORT_ENABLE_ALL runs at export time and
its result is the exported model: blocked-layout (NCHWc) convolutions with fused activations, tuned to
this machine's CPU. Such a model runs only on CPUs of the same kind (ORT says so when it writes it);
it runs at full speed even in sessions created at ORT_ENABLE_BASIC.

Portable exports (`target='onnx'`, the default) keep plain ONNX Conv + activation.
"""

from __future__ import annotations

import onnx
from onnxscript import rewriter
from onnxscript.rewriter import pattern

_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


def _conv_attrs(conv_value) -> dict:
    node = conv_value.producer()
    return {k: a.value for k, a in node.attributes.items() if k in _CONV_ATTRS}


def _rule(act: str):
    def target(op, x, w, b):
        y = op.Conv(x, w, b, _allow_other_attributes=True, _outputs=["conv"])
        return getattr(op, act)(y)

    def replacement(op, x, w, b, conv, **_):
        return op.FusedConv(x, w, b, activation=act, _domain="com.microsoft", **_conv_attrs(conv))

    def only_reader(context, conv, **_) -> bool:
        return len(conv.uses()) == 1

    return pattern.RewriteRule(target, replacement, only_reader)


RULES = [_rule(a) for a in ("Relu", "Sigmoid", "Tanh")]


def fuse_for_onnxruntime(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with Conv + Relu/Sigmoid/Tanh replaced by com.microsoft.FusedConv."""
    return rewriter.rewrite(model, pattern_rewrite_rules=RULES)


def optimize_natively(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` as ONNX Runtime's ORT_ENABLE_ALL optimiser leaves it on this machine (CPU provider)."""
    import os
    import tempfile

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as d:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.optimized_model_filepath = os.path.join(d, "model.onnx")
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name", "weights.bin")
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        out = onnx.load(os.path.join(d, "model.onnx"), load_external_data=True)
    del out.metadata_props[:]
    out.metadata_props.extend(model.metadata_props)
    meta = out.metadata_props.add()
    meta.key, meta.value = "slimir:target", "onnxruntime-native (ORT_ENABLE_ALL on the exporting CPU)"
    return out
