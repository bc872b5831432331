"""ONNX-level rewrites for models that will run on ONNX Runtime (onnxscript rewriter rules).

Conv followed by its activation becomes `com.microsoft.FusedConv`, a contrib op every ORT build ships.
ORT makes the same fusion itself at ORT_ENABLE_EXTENDED and above; emitting it lets sessions at
ORT_ENABLE_BASIC (and ORT builds with fusions turned off) run the fused kernel too. Portable exports
(`target='onnx'`, the default) keep plain Conv + activation.
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
