"""Elementwise ops (TF's math_ops and the tf.nn activations), as tables: one row per op holds its TF node
name, ONNX lowering, numpy reference and VJP; activations also say how their gradient follows from their
output, which lets the fusion passes absorb them into the layer before (`OpDef.activation`).

Adding a unary op is one row in `_UNARY` (and one row in the tests' tables).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, ShapeError
from ..ir.graph import Tensor
from ..ir.registry import (
    OpDef,
    Spec,
    apply_op,
    convert_to_tensor,
    data_format_layout,
    dispatched,
    expect_rank,
    numel1,
    register,
    same_dtype,
)
from ..shape import broadcast, fmt
from .array import cast, constant, zeros_like
from .geometry import check_data_format


def _c(v, like):
    """A scalar constant of `like`'s dtype."""
    return constant(v, dtype=like.dtype)


def _mask(cond, like):
    """A 0/1 tensor of `like`'s dtype from a bool tensor."""
    return cast(cond, like.dtype)


def _onnx(op_type: str, **attrs) -> Callable:
    """The lowering of a unary op that is one ONNX node."""
    return lambda b, node, x: b.op(op_type, [x], **attrs)


def _clip_between(b, node, x, lo, hi):
    dt = node.inputs[0].dtype.np
    return b.op("Clip", [x, b.const(np.array(lo, dt)), b.const(np.array(hi, dt))])


# ------------------------------------------------------------------------------------------
# Unary elementwise ops


class Unary(NamedTuple):
    """One unary op: TF node name, lowering(b, node, x), numpy reference(x, **attrs), VJP(x, y, g, attrs)
    (None: not differentiable), for activations d/dx from the output: act_grad(y, g, attrs), and whether TF
    has it in tf.nn (then it is in `slim.nn`, see `nn_functions`)."""

    default_name: str
    lower: Callable
    reference: Callable
    vjp: Optional[Callable]
    act_grad: Optional[Callable] = None
    nn: bool = False


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _relu6_mask(v, g, lo=0.0, hi=6.0):
    return mul(g, _mask(logical_and(greater(v, _c(lo, v)), less(v, _c(hi, v))), g))


#: TF's tf.nn.selu constants (Klambauer et al., "Self-Normalizing Neural Networks")
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _selu_grad(y, g):
    """d selu / dx from the output: scale where y > 0, else y + scale * alpha (TF's SeluGrad)."""
    return where(greater(y, _c(0.0, y)), mul(g, _c(SELU_SCALE, y)), mul(g, add(y, _c(SELU_SCALE * SELU_ALPHA, y))))


_UNARY = {
    "neg": Unary("Neg", _onnx("Neg"), np.negative, lambda x, y, g, a: neg(g)),
    "abs": Unary("Abs", _onnx("Abs"), np.abs, lambda x, y, g, a: mul(g, sign(x))),
    "square": Unary("Square", lambda b, node, x: b.op("Mul", [x, x]), np.square,
                    lambda x, y, g, a: mul(g, mul(x, _c(2.0, x)))),
    "sqrt": Unary("Sqrt", _onnx("Sqrt"), np.sqrt, lambda x, y, g, a: div(mul(g, _c(0.5, x)), y)),
    "rsqrt": Unary("Rsqrt", lambda b, node, x: b.op("Reciprocal", [b.op("Sqrt", [x])]), lambda x: 1 / np.sqrt(x),
                   lambda x, y, g, a: mul(g, mul(_c(-0.5, x), mul(y, mul(y, y))))),
    "exp": Unary("Exp", _onnx("Exp"), np.exp, lambda x, y, g, a: mul(g, y)),
    "log": Unary("Log", _onnx("Log"), np.log, lambda x, y, g, a: div(g, x)),
    "reciprocal": Unary("Reciprocal", _onnx("Reciprocal"), np.reciprocal, lambda x, y, g, a: neg(mul(g, mul(y, y)))),
    "floor": Unary("Floor", _onnx("Floor"), np.floor, None),
    "ceil": Unary("Ceil", _onnx("Ceil"), np.ceil, None),
    "sign": Unary("Sign", _onnx("Sign"), np.sign, None),
    "logical_not": Unary("LogicalNot", _onnx("Not"), np.logical_not, None),
    "softplus": Unary("Softplus", _onnx("Softplus"), lambda x: np.logaddexp(0, x),
                      lambda x, y, g, a: mul(g, sigmoid(x)), nn=True),
    "softsign": Unary("Softsign", _onnx("Softsign"), lambda x: x / (1 + np.abs(x)),
                      lambda x, y, g, a: div(g, square(add(_c(1.0, x), abs(x)))), nn=True),
    # activations: their gradient follows from the output y, so a fused layer need not keep its input
    "relu": Unary("Relu", _onnx("Relu"), lambda x: np.maximum(x, 0),
                  lambda x, y, g, a: mul(g, _mask(greater(y, _c(0.0, y)), g)),
                  lambda y, g, a: mul(g, _mask(greater(y, _c(0.0, y)), g)), nn=True),
    "relu6": Unary("Relu6", lambda b, node, x: _clip_between(b, node, x, 0, 6), lambda x: np.clip(x, 0, 6),
                   lambda x, y, g, a: _relu6_mask(x, g), lambda y, g, a: _relu6_mask(y, g), nn=True),
    "elu": Unary("Elu", _onnx("Elu", alpha=1.0), lambda x: np.where(x > 0, x, np.expm1(x)),
                 lambda x, y, g, a: where(greater(x, _c(0.0, x)), g, mul(g, add(y, _c(1.0, y)))),
                 lambda y, g, a: where(greater(y, _c(0.0, y)), g, mul(g, add(y, _c(1.0, y)))), nn=True),
    "sigmoid": Unary("Sigmoid", _onnx("Sigmoid"), _sigmoid,
                     lambda x, y, g, a: mul(g, mul(y, sub(_c(1.0, y), y))),
                     lambda y, g, a: mul(g, mul(y, sub(_c(1.0, y), y))), nn=True),
    "tanh": Unary("Tanh", _onnx("Tanh"), np.tanh,
                  lambda x, y, g, a: mul(g, sub(_c(1.0, y), mul(y, y))),
                  lambda y, g, a: mul(g, sub(_c(1.0, y), mul(y, y))), nn=True),
    "selu": Unary("Selu", _onnx("Selu", alpha=SELU_ALPHA, gamma=SELU_SCALE),
                  lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
                  lambda x, y, g, a: _selu_grad(y, g), lambda y, g, a: _selu_grad(y, g), nn=True),
    # with attributes
    "leaky_relu": Unary("LeakyRelu", lambda b, node, x: b.op("LeakyRelu", [x], alpha=float(node.attrs["alpha"])),
                        lambda x, alpha: np.where(x > 0, x, x * alpha),
                        lambda x, y, g, a: where(greater(x, _c(0.0, x)), g, mul(g, _c(a["alpha"], g))),
                        lambda y, g, a: where(greater(y, _c(0.0, y)), g, mul(g, _c(a["alpha"], g))), nn=True),
    "clip": Unary("clip_by_value", lambda b, node, x: _clip_between(b, node, x, node.attrs["lo"], node.attrs["hi"]),
                  lambda x, lo, hi: np.clip(x, lo, hi),
                  lambda x, y, g, a: mul(g, _mask(logical_and(greater_equal(x, _c(a["lo"], x)),
                                                              less_equal(x, _c(a["hi"], x))), g)),
                  lambda y, g, a: _relu6_mask(y, g, a["lo"], a["hi"])),
}


def _register_unary(name: str, u: Unary) -> None:
    def reference(x, _r=u.reference, **attrs):
        return np.asarray(_r(x, **attrs)).astype(x.dtype)

    def vjp(node, grads, _v=u.vjp):
        return [_v(node.inputs[0], node.outputs[0], grads[0], node.attrs)]

    register(OpDef(name, lambda specs, **_: [specs[0]], u.lower, reference, default_name=u.default_name,
                   vjp=vjp if u.vjp else None, differentiable=u.vjp is not None, kind="unary",
                   activation=u.act_grad, flops=lambda node: numel1(node.outputs[0].shape)))


for _n, _u in _UNARY.items():
    _register_unary(_n, _u)


#: activations TF's tf.nn names `features` (tf.nn.relu(features=...)); slimir's `x` works as well
_FEATURES = frozenset({"relu", "relu6", "elu", "selu", "softplus", "softsign"})


def _unary(op_name: str, tf_name: Optional[str] = None):
    if op_name in _FEATURES:
        def f(x=None, name=None, *, features=None):
            if (x is None) == (features is None):
                raise TypeError(f"{op_name}() takes the tensor once, as x or as features")
            return apply_op(op_name, [x if features is None else features], name=name)
    else:
        def f(x, name=None):
            return apply_op(op_name, [x], name=name)

    f.__name__ = tf_name or op_name
    f.__doc__ = f"Elementwise {op_name} (TF's tf.{tf_name or op_name})."
    return f


neg = negative = _unary("neg", "negative")
abs = _unary("abs")  # noqa: A001
square = _unary("square")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
exp = _unary("exp")
log = _unary("log")
reciprocal = _unary("reciprocal")
floor = _unary("floor")
ceil = _unary("ceil")
sign = _unary("sign")
relu = _unary("relu")
relu6 = _unary("relu6")
elu = _unary("elu")
selu = _unary("selu")
sigmoid = _unary("sigmoid")
tanh = _unary("tanh")
softplus = _unary("softplus")
softsign = _unary("softsign")
logical_not = _unary("logical_not")


def leaky_relu(features, alpha: float = 0.2, name: Optional[str] = None) -> Tensor:
    """max(x, alpha * x) (TF's tf.nn.leaky_relu)."""
    return apply_op("leaky_relu", [features], name=name, alpha=float(alpha))


def nn_functions() -> dict:
    """{name: function} of the unary ops TF has in tf.nn (their rows say nn=True): `slim.nn` exports them."""
    return {n: globals()[n] for n, u in _UNARY.items() if u.nn}


def clip_by_value(t, clip_value_min, clip_value_max, name: Optional[str] = None) -> Tensor:
    """min(max(t, lo), hi) (TF's tf.clip_by_value)."""
    if float(clip_value_min) > float(clip_value_max):
        raise ShapeError(f"clip_by_value: min {clip_value_min} > max {clip_value_max}")
    return apply_op("clip", [t], name=name, lo=float(clip_value_min), hi=float(clip_value_max))


# ------------------------------------------------------------------------------------------
# Binary elementwise ops with numpy broadcasting


def unbroadcast(g, like):
    """Sum `g` down to the shape of `like` (the inverse of numpy broadcasting)."""
    gs, ls = tuple(g.shape), tuple(like.shape)
    if len(gs) == len(ls) and all(a == b or (a is None and b is None) or (b is not None and b != 1)
                                  for a, b in zip(gs, ls)):
        return g
    return apply_op("sum_to", [g], shape=ls)


def _div_lower(b, node, x, y):
    if node.inputs[0].dtype.is_integer:  # floor division as the reference (ONNX Div truncates)
        x = b.op("Sub", [x, b.op("Mod", [x, y])])
    return b.op("Div", [x, y])


def _div_ref(a, b):
    return np.floor_divide(a, b) if a.dtype.kind in "iu" else np.true_divide(a, b)


def _minmax_grads(x, y, g, z, m):
    return mul(g, m), mul(g, sub(_c(1.0, m), m))


def _pow_grads(x, y, g, z):
    pos = greater(x, _c(0.0, x))
    safe_log = where(pos, log(where(pos, x, add(zeros_like(x), _c(1.0, x)))), zeros_like(x))
    return mul(g, mul(y, pow(x, sub(y, _c(1.0, y))))), mul(g, mul(z, safe_log))


def _sqdiff_grads(x, y, g, z):
    d = mul(g, mul(_c(2.0, x), sub(x, y)))
    return d, neg(d)


def _binop(op_type: str):
    return lambda b, node, x, y: b.op(op_type, [x, y])


class Binary(NamedTuple):
    """One binary op: TF node name, lowering(b, node, x, y), numpy reference, whether it returns bool, and the
    gradients (x, y, g, z) -> (gx, gy) before un-broadcasting (None: not differentiable)."""

    default_name: str
    lower: Callable
    reference: Callable
    to_bool: bool
    grads: Optional[Callable]


_BINARY = {
    "add": Binary("add", _binop("Add"), np.add, False, lambda x, y, g, z: (g, g)),
    "sub": Binary("sub", _binop("Sub"), np.subtract, False, lambda x, y, g, z: (g, neg(g))),
    "mul": Binary("mul", _binop("Mul"), np.multiply, False, lambda x, y, g, z: (mul(g, y), mul(g, x))),
    "div": Binary("truediv", _div_lower, _div_ref, False,
                  lambda x, y, g, z: (div(g, y), neg(mul(g, div(z, y))))),
    "maximum": Binary("Maximum", _binop("Max"), np.maximum, False,
                      lambda x, y, g, z: _minmax_grads(x, y, g, z, _mask(greater_equal(x, y), g))),
    "minimum": Binary("Minimum", _binop("Min"), np.minimum, False,
                      lambda x, y, g, z: _minmax_grads(x, y, g, z, _mask(less_equal(x, y), g))),
    "pow": Binary("pow", _binop("Pow"), np.power, False, _pow_grads),
    "squared_difference": Binary("SquaredDifference", lambda b, node, x, y: b.op("Mul", [b.op("Sub", [x, y])] * 2),
                                 lambda a, b: np.square(a - b), False, _sqdiff_grads),
    "equal": Binary("Equal", _binop("Equal"), np.equal, True, None),
    "not_equal": Binary("NotEqual", lambda b, node, x, y: b.op("Not", [b.op("Equal", [x, y])]), np.not_equal,
                        True, None),
    "less": Binary("Less", _binop("Less"), np.less, True, None),
    "less_equal": Binary("LessEqual", _binop("LessOrEqual"), np.less_equal, True, None),
    "greater": Binary("Greater", _binop("Greater"), np.greater, True, None),
    "greater_equal": Binary("GreaterEqual", _binop("GreaterOrEqual"), np.greater_equal, True, None),
    "logical_and": Binary("LogicalAnd", _binop("And"), np.logical_and, True, None),
    "logical_or": Binary("LogicalOr", _binop("Or"), np.logical_or, True, None),
}


def _binary_shape(specs, *, to_bool=False):
    a, b = specs
    dt = same_dtype(specs)
    out = broadcast(a.shape, b.shape)
    if out is None:
        raise ShapeError(f"cannot broadcast shapes {fmt(a.shape)} and {fmt(b.shape)}")
    return [Spec(out, _dt.bool_ if to_bool else dt)]


def _register_binary(name: str, op: Binary) -> None:
    def reference(x, y, _r=op.reference, _tb=op.to_bool):
        out = np.asarray(_r(x, y))
        return out if _tb else out.astype(np.result_type(x.dtype, y.dtype))

    def vjp(node, grads, _g=op.grads):
        x, y = node.inputs
        gx, gy = _g(x, y, grads[0], node.outputs[0])
        return [unbroadcast(gx, x), unbroadcast(gy, y)]

    register(OpDef(name, lambda specs, _tb=op.to_bool: _binary_shape(specs, to_bool=_tb), op.lower, reference,
                   default_name=op.default_name, differentiable=op.grads is not None,
                   vjp=vjp if op.grads else None, kind="binary",
                   flops=lambda node: numel1(node.outputs[0].shape)))


for _n, _b in _BINARY.items():
    _register_binary(_n, _b)


def _coerce_pair(x, y):
    """Convert Python values to tensors of the other operand's dtype (TF's operator semantics)."""
    xt = isinstance(x, Tensor)
    yt = isinstance(y, Tensor)
    if xt and not yt:
        y = convert_to_tensor(_cast_value(y, x.dtype), graph=x.graph)
    elif yt and not xt:
        x = convert_to_tensor(_cast_value(x, y.dtype), graph=y.graph)
    elif not xt and not yt:
        x = convert_to_tensor(x)
        y = convert_to_tensor(y, graph=x.graph)
    return x, y


def _cast_value(v, dtype: _dt.DType):
    arr = np.asarray(v)
    if arr.dtype.kind == "f" and dtype.is_integer:
        if not np.all(np.floor(arr) == arr):
            raise DTypeError(f"cannot use the value {v!r} with a tensor of dtype {dtype.name}")
    return arr.astype(dtype.np)


def _binary(op_name: str):
    def f(x, y, name=None):
        if not (dispatched(x) or dispatched(y)):  # (host tensors of slim.data take the op as they are)
            x, y = _coerce_pair(x, y)
        return apply_op(op_name, [x, y], name=name)

    f.__name__ = op_name
    f.__doc__ = f"Elementwise {op_name} with broadcasting (TF's tf.{op_name})."
    return f


add = _binary("add")
subtract = sub = _binary("sub")
multiply = mul = _binary("mul")
divide = truediv = div = _binary("div")
maximum = _binary("maximum")
minimum = _binary("minimum")
pow = _binary("pow")  # noqa: A001
squared_difference = _binary("squared_difference")
equal = _binary("equal")
not_equal = _binary("not_equal")
less = _binary("less")
less_equal = _binary("less_equal")
greater = _binary("greater")
greater_equal = _binary("greater_equal")
logical_and = _binary("logical_and")
logical_or = _binary("logical_or")


# ------------------------------------------------------------------------------------------
# add_n / where / bias_add


def _add_n_shape(specs):
    if not specs:
        raise ShapeError("add_n needs at least one input")
    dt = same_dtype(specs)
    out = specs[0].shape
    for s in specs[1:]:
        if len(s.shape) != len(out) or any(a is not None and b is not None and a != b
                                            for a, b in zip(out, s.shape)):
            raise ShapeError(f"add_n: inputs of different shapes {fmt(out)} and {fmt(s.shape)}")
        out = tuple(a if a is not None else b for a, b in zip(out, s.shape))
    return [Spec(out, dt)]


register(OpDef("add_n", _add_n_shape, lambda b, node, *xs: b.op("Sum", list(xs)),
               lambda *xs: np.sum(np.stack(xs), axis=0).astype(xs[0].dtype), default_name="AddN",
               vjp=lambda node, grads: [grads[0]] * len(node.inputs)))


def add_n(inputs, name: Optional[str] = None) -> Tensor:
    """The sum of a list of tensors of one shape (TF's tf.add_n)."""
    inputs = list(inputs)
    if len(inputs) == 1:
        return apply_op("identity", [inputs[0]], name=name or "AddN")
    return apply_op("add_n", inputs, name=name)


def _where_shape(specs):
    c, x, y = specs
    if not c.dtype.is_bool:
        raise DTypeError(f"where expects a bool condition, got {c.dtype.name}")
    dt = same_dtype([x, y])
    out = broadcast(c.shape, broadcast(x.shape, y.shape) or ())
    if out is None or broadcast(x.shape, y.shape) is None:
        raise ShapeError(f"where: shapes {fmt(c.shape)}, {fmt(x.shape)}, {fmt(y.shape)} do not broadcast")
    return [Spec(out, dt)]


def _where_vjp(node, grads):
    c, x, y = node.inputs
    g = grads[0]
    z = zeros_like(g)
    return [None, unbroadcast(where(c, g, z), x), unbroadcast(where(c, z, g), y)]


register(OpDef("where", _where_shape, lambda b, node, c, x, y: b.op("Where", [c, x, y]),
               lambda c, x, y: np.where(c, x, y), default_name="Select", vjp=_where_vjp))


def where(condition, x, y, name: Optional[str] = None) -> Tensor:
    """x where `condition` holds, else y, with broadcasting (TF's tf.where with x and y)."""
    x, y = _coerce_pair(x, y)
    return apply_op("where", [condition, x, y], name=name)


def _bias_add_shape(specs, data_format):
    x, bias = specs
    same_dtype(specs)
    expect_rank(bias, 1, "bias")
    if len(x.shape) < 2:
        raise ShapeError(f"bias_add expects an input of rank >= 2, got {fmt(x.shape)}")
    c = x.shape[1] if data_format == "NCHW" else x.shape[-1]
    if c is not None and bias.shape[0] is not None and c != bias.shape[0]:
        raise ShapeError(f"bias of shape {fmt(bias.shape)} does not match the {c} channels of {fmt(x.shape)}")
    return [specs[0]]


def _bias_add_lower(b, node, x, bias):
    r = len(node.inputs[0].shape)
    if node.attrs["data_format"] == "NCHW" and r > 2:
        bias = b.op("Reshape", [bias, b.const(np.array([-1] + [1] * (r - 2), np.int64))])
    return b.op("Add", [x, bias])


def _bias_add_ref(x, bias, data_format):
    if data_format == "NCHW" and x.ndim > 2:
        bias = bias.reshape((-1,) + (1,) * (x.ndim - 2))
    return (x + bias).astype(x.dtype)


def _bias_add_vjp(node, grads):
    x, g = node.inputs[0], grads[0]
    r = len(x.shape)
    cax = 1 if node.attrs["data_format"] == "NCHW" and r > 2 else r - 1
    return [g, apply_op("reduce_sum", [g], axis=tuple(i for i in range(r) if i != cax), keepdims=False)]


register(OpDef("bias_add", _bias_add_shape, _bias_add_lower, _bias_add_ref, default_name="BiasAdd",
               vjp=_bias_add_vjp, layout=data_format_layout(), flops=lambda node: numel1(node.outputs[0].shape)))


def bias_add(value, bias, data_format: Optional[str] = None, name: Optional[str] = None) -> Tensor:
    """Add a per-channel bias (TF's tf.nn.bias_add)."""
    df = check_data_format(data_format or "NHWC")
    return apply_op("bias_add", [value, bias], name=name, data_format=df)


# ------------------------------------------------------------------------------------------
# Tensor operators (TF1 semantics: == stays identity; @ is installed by ops/matmul.py)


def _install_operators() -> None:
    from .slicing import strided_slice_getitem

    def rev(f):
        return lambda self, other: f(other, self)

    T = Tensor
    T.__add__ = lambda s, o: add(s, o)
    T.__radd__ = rev(add)
    T.__sub__ = lambda s, o: sub(s, o)
    T.__rsub__ = rev(sub)
    T.__mul__ = lambda s, o: mul(s, o)
    T.__rmul__ = rev(mul)
    T.__truediv__ = lambda s, o: div(s, o)
    T.__rtruediv__ = rev(div)
    T.__pow__ = lambda s, o: pow(s, o)
    T.__rpow__ = rev(pow)
    T.__neg__ = lambda s: neg(s)
    T.__abs__ = lambda s: abs(s)
    T.__lt__ = lambda s, o: less(s, o)
    T.__le__ = lambda s, o: less_equal(s, o)
    T.__gt__ = lambda s, o: greater(s, o)
    T.__ge__ = lambda s, o: greater_equal(s, o)
    T.__and__ = lambda s, o: logical_and(s, o)
    T.__or__ = lambda s, o: logical_or(s, o)
    T.__invert__ = lambda s: logical_not(s)
    T.__getitem__ = strided_slice_getitem


_install_operators()
