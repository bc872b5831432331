"""Elementwise math, matmul, reductions, argmax, add_n, clip and where (TF's math_ops), as tables."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from ..shape import Shape, broadcast, fmt
from .lowering_utils import reduce as _reduce
from .lowering_utils import sum_reduce
from .registry import OpDef, numel1, Spec, apply_op, convert_to_tensor, normalize_axis, register, same_dtype

# ------------------------------------------------------------------------------------------
# Unary elementwise: name -> (TF default node name, ONNX lowering, numpy reference)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(0, x)


_UNARY = {
    "neg": ("Neg", lambda b, x: b.op("Neg", [x]), np.negative),
    "abs": ("Abs", lambda b, x: b.op("Abs", [x]), np.abs),
    "square": ("Square", lambda b, x: b.op("Mul", [x, x]), np.square),
    "sqrt": ("Sqrt", lambda b, x: b.op("Sqrt", [x]), np.sqrt),
    "rsqrt": ("Rsqrt", lambda b, x: b.op("Reciprocal", [b.op("Sqrt", [x])]), lambda x: 1 / np.sqrt(x)),
    "exp": ("Exp", lambda b, x: b.op("Exp", [x]), np.exp),
    "log": ("Log", lambda b, x: b.op("Log", [x]), np.log),
    "reciprocal": ("Reciprocal", lambda b, x: b.op("Reciprocal", [x]), np.reciprocal),
    "floor": ("Floor", lambda b, x: b.op("Floor", [x]), np.floor),
    "ceil": ("Ceil", lambda b, x: b.op("Ceil", [x]), np.ceil),
    "sign": ("Sign", lambda b, x: b.op("Sign", [x]), np.sign),
    "relu": ("Relu", lambda b, x: b.op("Relu", [x]), lambda x: np.maximum(x, 0)),
    "relu6": ("Relu6", None, lambda x: np.clip(x, 0, 6)),
    "elu": ("Elu", lambda b, x: b.op("Elu", [x], alpha=1.0), lambda x: np.where(x > 0, x, np.expm1(x))),
    "sigmoid": ("Sigmoid", lambda b, x: b.op("Sigmoid", [x]), _sigmoid),
    "tanh": ("Tanh", lambda b, x: b.op("Tanh", [x]), np.tanh),
    "softplus": ("Softplus", lambda b, x: b.op("Softplus", [x]), _softplus),
    "softsign": ("Softsign", lambda b, x: b.op("Softsign", [x]), lambda x: x / (1 + np.abs(x))),
    "logical_not": ("LogicalNot", lambda b, x: b.op("Not", [x]), np.logical_not),
}


def _relu6_lower(b, node, x):
    dt = node.inputs[0].dtype.np
    return b.op("Clip", [x, b.const(np.array(0, dt)), b.const(np.array(6, dt))])


def _unary_shape(specs, **_):
    return [specs[0]]


def _make_unary(name, default, lower, ref):
    low = _relu6_lower if lower is None else (lambda b, node, x, _l=lower: _l(b, x))

    def reference(x, _r=ref):
        return np.asarray(_r(x)).astype(x.dtype)

    register(OpDef(name, _unary_shape, low, reference, default_name=default,
                   differentiable=name not in ("floor", "ceil", "sign", "logical_not"),
                   flops=lambda node: numel1(node.outputs[0].shape)))


for _n, (_d, _l, _r) in _UNARY.items():
    _make_unary(_n, _d, _l, _r)


#: activations TF's tf.nn names `features` (tf.nn.relu(features=...)); slimir's `x` works as well
_FEATURES = frozenset({"relu", "relu6", "elu", "softplus", "softsign"})


def _unary(op_name):
    if op_name in _FEATURES:
        def f(x=None, name=None, *, features=None):
            if (x is None) == (features is None):
                raise TypeError(f"{op_name}() takes the tensor once, as x or as features")
            return apply_op(op_name, [x if features is None else features], name=name)
    else:
        def f(x, name=None):
            return apply_op(op_name, [x], name=name)

    f.__name__ = op_name
    f.__doc__ = f"Elementwise {op_name} (TF's tf.{op_name})."
    return f


neg = negative = _unary("neg")
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
sigmoid = _unary("sigmoid")
tanh = _unary("tanh")
softplus = _unary("softplus")
softsign = _unary("softsign")
logical_not = _unary("logical_not")


def _leaky_lower(b, node, x):
    return b.op("LeakyRelu", [x], alpha=float(node.attrs["alpha"]))


register(OpDef("leaky_relu", _unary_shape, _leaky_lower,
               lambda x, alpha: np.where(x > 0, x, x * alpha).astype(x.dtype), default_name="LeakyRelu",
               flops=lambda node: numel1(node.outputs[0].shape)))


def leaky_relu(features, alpha: float = 0.2, name: Optional[str] = None) -> Tensor:
    return apply_op("leaky_relu", [features], name=name, alpha=float(alpha))


# ------------------------------------------------------------------------------------------
# Binary elementwise with numpy broadcasting


_BINARY = {
    "add": ("add", "Add", np.add, False),
    "sub": ("sub", "Sub", np.subtract, False),
    "mul": ("mul", "Mul", np.multiply, False),
    "div": ("truediv", "Div", None, False),
    "maximum": ("Maximum", "Max", np.maximum, False),
    "minimum": ("Minimum", "Min", np.minimum, False),
    "pow": ("pow", "Pow", np.power, False),
    "squared_difference": ("SquaredDifference", None, lambda a, b: np.square(a - b), False),
    "equal": ("Equal", "Equal", np.equal, True),
    "not_equal": ("NotEqual", None, np.not_equal, True),
    "less": ("Less", "Less", np.less, True),
    "less_equal": ("LessEqual", "LessOrEqual", np.less_equal, True),
    "greater": ("Greater", "Greater", np.greater, True),
    "greater_equal": ("GreaterEqual", "GreaterOrEqual", np.greater_equal, True),
    "logical_and": ("LogicalAnd", "And", np.logical_and, True),
    "logical_or": ("LogicalOr", "Or", np.logical_or, True),
}


def _div_ref(a, b):
    if a.dtype.kind in "iu":
        return np.floor_divide(a, b)
    return np.true_divide(a, b)


def _binary_shape(specs, *, to_bool=False):
    a, b = specs
    dt = same_dtype(specs)
    out = broadcast(a.shape, b.shape)
    if out is None:
        raise ShapeError(f"cannot broadcast shapes {fmt(a.shape)} and {fmt(b.shape)}")
    return [Spec(out, _dt.bool_ if to_bool else dt)]


def _make_binary(name, default, onnx_op, ref, to_bool):
    if name == "div":
        def low(b, node, x, y):
            if node.inputs[0].dtype.is_integer:  # floor division as the reference (ONNX Div truncates)
                x = b.op("Sub", [x, b.op("Mod", [x, y])])
            return b.op("Div", [x, y])
    elif onnx_op is not None:
        def low(b, node, x, y, _o=onnx_op):
            return b.op(_o, [x, y])
    elif name == "squared_difference":
        def low(b, node, x, y):
            d = b.op("Sub", [x, y])
            return b.op("Mul", [d, d])
    else:  # not_equal
        def low(b, node, x, y):
            return b.op("Not", [b.op("Equal", [x, y])])
    ref = _div_ref if ref is None else ref

    def reference(x, y, _r=ref, _tb=to_bool):
        out = np.asarray(_r(x, y))
        return out if _tb else out.astype(np.result_type(x.dtype, y.dtype))

    register(OpDef(name, lambda specs, _tb=to_bool: _binary_shape(specs, to_bool=_tb), low, reference,
                   default_name=default, differentiable=not to_bool,
                   flops=lambda node: numel1(node.outputs[0].shape)))


for _n, (_d, _o, _r, _tb) in _BINARY.items():
    _make_binary(_n, _d, _o, _r, _tb)


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


def _binary(op_name):
    def f(x, y, name=None):
        if getattr(x, "_slimir_host_tensor", False) or getattr(y, "_slimir_host_tensor", False):
            return apply_op(op_name, [x, y], name=name)  # slim.data host tensors (the registry maps them)
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
# add_n


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
               lambda *xs: np.sum(np.stack(xs), axis=0).astype(xs[0].dtype), default_name="AddN"))


def add_n(inputs, name: Optional[str] = None) -> Tensor:
    inputs = list(inputs)
    if len(inputs) == 1:
        from .array_ops import identity

        return identity(inputs[0], name=name or "AddN")
    return apply_op("add_n", inputs, name=name)


# ------------------------------------------------------------------------------------------
# matmul


def _matmul_shape(specs, transpose_a, transpose_b):
    a, b = specs
    dt = same_dtype(specs)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ShapeError(f"matmul expects inputs of rank >= 2, got {fmt(a.shape)} and {fmt(b.shape)}")
    m, ka = (a.shape[-1], a.shape[-2]) if transpose_a else (a.shape[-2], a.shape[-1])
    kb, n = (b.shape[-1], b.shape[-2]) if transpose_b else (b.shape[-2], b.shape[-1])
    if ka is not None and kb is not None and ka != kb:
        raise ShapeError(f"matmul: inner dimensions differ, {fmt(a.shape)} x {fmt(b.shape)}"
                         f"{' (transpose_a)' if transpose_a else ''}{' (transpose_b)' if transpose_b else ''}")
    batch = broadcast(a.shape[:-2], b.shape[:-2])
    if batch is None:
        raise ShapeError(f"matmul: batch dimensions do not broadcast, {fmt(a.shape)} x {fmt(b.shape)}")
    return [Spec(tuple(batch) + (m, n), dt)]


def _swap_last(b, x, rank):
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return b.op("Transpose", [x], perm=perm)


def _matmul_lower(b, node, x, y):
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    ra, rb = len(node.inputs[0].shape), len(node.inputs[1].shape)
    if ra == 2 and rb == 2 and (ta or tb):
        return b.op("Gemm", [x, y], transA=int(ta), transB=int(tb))
    if ta:
        x = _swap_last(b, x, ra)
    if tb:
        y = _swap_last(b, y, rb)
    return b.op("MatMul", [x, y])


def _matmul_ref(x, y, transpose_a, transpose_b):
    if transpose_a:
        x = np.swapaxes(x, -1, -2)
    if transpose_b:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x.astype(np.float64), y.astype(np.float64)).astype(x.dtype)


def _matmul_flops(node):
    a = node.inputs[0].shape
    k = a[-2] if node.attrs["transpose_a"] else a[-1]
    return 2 * numel1(node.outputs[0].shape) * (k or 1)


register(OpDef("matmul", _matmul_shape, _matmul_lower, _matmul_ref, default_name="MatMul",
               flops=_matmul_flops))


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False, name: Optional[str] = None) -> Tensor:
    a, b = _coerce_pair(a, b)
    return apply_op("matmul", [a, b], name=name, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))


# ------------------------------------------------------------------------------------------
# Reductions


def _axes(rank, axis):
    if axis is None:
        return None
    return tuple(sorted({normalize_axis(a, rank) for a in axis}))


def _reduce_shape(specs, axis, keepdims):
    s = specs[0].shape
    axes = _axes(len(s), axis)
    if axes is None:
        axes = tuple(range(len(s)))
    out = tuple((1 if keepdims else None) if i in axes else d for i, d in enumerate(s))
    if not keepdims:
        out = tuple(d for i, d in enumerate(s) if i not in axes)
    return [Spec(out, specs[0].dtype)]


_REDUCE = {
    "reduce_sum": ("Sum", "ReduceSum", np.sum),
    "reduce_mean": ("Mean", "ReduceMean", np.mean),
    "reduce_max": ("Max", "ReduceMax", np.max),
    "reduce_min": ("Min", "ReduceMin", np.min),
    "reduce_prod": ("Prod", "ReduceProd", np.prod),
}


def _make_reduce(name, default, onnx_op, ref):
    def low(b, node, x, _o=onnx_op):
        axes = _axes(len(node.inputs[0].shape), node.attrs["axis"])
        if axes == ():
            return b.op("Identity", [x])
        if _o in ("ReduceSum", "ReduceMean"):
            t = node.inputs[0]
            return sum_reduce(b, x, t.shape, t.dtype, axes, node.attrs["keepdims"], mean=_o == "ReduceMean")
        return _reduce(b, _o, x, axes, node.attrs["keepdims"])

    def reference(x, axis, keepdims, _r=ref):
        ax = None if axis is None else tuple(axis)
        acc = x.astype(np.float64) if x.dtype.kind == "f" else x
        return np.asarray(_r(acc, axis=ax, keepdims=keepdims)).astype(x.dtype)

    register(OpDef(name, _reduce_shape, low, reference, default_name=default,
                   flops=lambda node: numel1(node.inputs[0].shape)))


for _n, (_d, _o, _r) in _REDUCE.items():
    _make_reduce(_n, _d, _o, _r)


def _reducer(op_name):
    def f(input_tensor, axis=None, keepdims: bool = False, name: Optional[str] = None,
          reduction_indices=None, keep_dims=None):
        if reduction_indices is not None:
            axis = reduction_indices
        if keep_dims is not None:
            keepdims = keep_dims
        if isinstance(axis, int):
            axis = (axis,)
        x = convert_to_tensor(input_tensor)
        return apply_op(op_name, [x], name=name, axis=None if axis is None else tuple(int(a) for a in axis),
                        keepdims=bool(keepdims))

    f.__name__ = op_name
    f.__doc__ = f"TF's tf.{op_name}(input_tensor, axis=None, keepdims=False)."
    return f


reduce_sum = _reducer("reduce_sum")
reduce_mean = _reducer("reduce_mean")
reduce_max = _reducer("reduce_max")
reduce_min = _reducer("reduce_min")
reduce_prod = _reducer("reduce_prod")


# ------------------------------------------------------------------------------------------
# argmax / argmin


def _arg_shape(specs, axis, output_type):
    s = specs[0].shape
    ax = normalize_axis(axis, len(s))
    return [Spec(tuple(d for i, d in enumerate(s) if i != ax), output_type)]


def _make_arg(name, onnx_op, ref):
    def low(b, node, x, _o=onnx_op):
        ax = normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))
        y = b.op(_o, [x], axis=ax, keepdims=0)
        if node.attrs["output_type"] is not _dt.int64:
            y = b.op("Cast", [y], to=node.attrs["output_type"].onnx)
        return y

    register(OpDef(name, _arg_shape, low,
                   lambda x, axis, output_type, _r=ref: _r(x, axis=axis).astype(output_type.np),
                   default_name=name.capitalize().replace("max", "Max").replace("min", "Min"),
                   differentiable=False))


_make_arg("argmax", "ArgMax", np.argmax)
_make_arg("argmin", "ArgMin", np.argmin)


def argmax(input, axis: Optional[int] = None, name: Optional[str] = None, dimension=None,
           output_type=_dt.int64) -> Tensor:
    axis = 0 if axis is None and dimension is None else (axis if axis is not None else dimension)
    return apply_op("argmax", [input], name=name, axis=int(axis), output_type=_dt.as_dtype(output_type))


def argmin(input, axis: Optional[int] = None, name: Optional[str] = None, dimension=None,
           output_type=_dt.int64) -> Tensor:
    axis = 0 if axis is None and dimension is None else (axis if axis is not None else dimension)
    return apply_op("argmin", [input], name=name, axis=int(axis), output_type=_dt.as_dtype(output_type))


# ------------------------------------------------------------------------------------------
# clip_by_value / where


def _clip_lower(b, node, x):
    dt = node.inputs[0].dtype.np
    return b.op("Clip", [x, b.const(np.array(node.attrs["lo"], dt)), b.const(np.array(node.attrs["hi"], dt))])


register(OpDef("clip", _unary_shape, _clip_lower,
               lambda x, lo, hi: np.clip(x, lo, hi).astype(x.dtype), default_name="clip_by_value"))


def clip_by_value(t, clip_value_min, clip_value_max, name: Optional[str] = None) -> Tensor:
    if float(clip_value_min) > float(clip_value_max):
        raise ShapeError(f"clip_by_value: min {clip_value_min} > max {clip_value_max}")
    return apply_op("clip", [t], name=name, lo=float(clip_value_min), hi=float(clip_value_max))


def _where_shape(specs):
    c, x, y = specs
    if not c.dtype.is_bool:
        raise DTypeError(f"where expects a bool condition, got {c.dtype.name}")
    dt = same_dtype([x, y])
    out = broadcast(c.shape, broadcast(x.shape, y.shape) or ())
    if out is None or broadcast(x.shape, y.shape) is None:
        raise ShapeError(f"where: shapes {fmt(c.shape)}, {fmt(x.shape)}, {fmt(y.shape)} do not broadcast")
    return [Spec(out, dt)]


register(OpDef("where", _where_shape, lambda b, node, c, x, y: b.op("Where", [c, x, y]),
               lambda c, x, y: np.where(c, x, y), default_name="Select"))


def where(condition, x, y, name: Optional[str] = None) -> Tensor:
    x, y = _coerce_pair(x, y)
    return apply_op("where", [condition, x, y], name=name)


# ------------------------------------------------------------------------------------------
# Tensor operators (TF1 semantics: == stays identity)


def _install_operators():
    from .array_ops import strided_slice_getitem

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
    T.__matmul__ = lambda s, o: matmul(s, o)
    T.__rmatmul__ = rev(matmul)
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


# ------------------------------------------------------------------------------------------
# VJPs: d(inputs) from d(outputs), in IR ops (x = input, y = output, g = output gradient)


def _c(v, like):
    from .array_ops import constant

    return constant(v, dtype=like.dtype)


def _mask(cond, like):
    from .array_ops import cast

    return cast(cond, like.dtype)


def unbroadcast(g, like):
    """Sum `g` down to the shape of `like` (the inverse of numpy broadcasting)."""
    gs, ls = tuple(g.shape), tuple(like.shape)
    if len(gs) == len(ls) and all(a == b or (a is None and b is None) or (b is not None and b != 1)
                                  for a, b in zip(gs, ls)):
        return g
    return apply_op("sum_to", [g], shape=ls)


_UNARY_VJP = {
    "neg": lambda x, y, g, a: neg(g),
    "abs": lambda x, y, g, a: mul(g, sign(x)),
    "square": lambda x, y, g, a: mul(g, mul(x, _c(2.0, x))),
    "sqrt": lambda x, y, g, a: div(mul(g, _c(0.5, x)), y),
    "rsqrt": lambda x, y, g, a: mul(g, mul(_c(-0.5, x), mul(y, mul(y, y)))),
    "exp": lambda x, y, g, a: mul(g, y),
    "log": lambda x, y, g, a: div(g, x),
    "reciprocal": lambda x, y, g, a: neg(mul(g, mul(y, y))),
    "relu": lambda x, y, g, a: mul(g, _mask(greater(y, _c(0.0, y)), g)),
    "relu6": lambda x, y, g, a: mul(g, _mask(logical_and(greater(x, _c(0.0, x)), less(x, _c(6.0, x))), g)),
    "elu": lambda x, y, g, a: where(greater(x, _c(0.0, x)), g, mul(g, add(y, _c(1.0, y)))),
    "sigmoid": lambda x, y, g, a: mul(g, mul(y, sub(_c(1.0, y), y))),
    "tanh": lambda x, y, g, a: mul(g, sub(_c(1.0, y), mul(y, y))),
    "softplus": lambda x, y, g, a: mul(g, sigmoid(x)),
    "softsign": lambda x, y, g, a: div(g, square(add(_c(1.0, x), abs(x)))),
    "leaky_relu": lambda x, y, g, a: where(greater(x, _c(0.0, x)), g, mul(g, _c(a["alpha"], g))),
    "clip": lambda x, y, g, a: mul(g, _mask(logical_and(greater_equal(x, _c(a["lo"], x)),
                                                          less_equal(x, _c(a["hi"], x))), g)),
}


def _unary_vjp(node, grads):
    return [_UNARY_VJP[node.type](node.inputs[0], node.outputs[0], grads[0], node.attrs)]


def _binary_grads(node, g):
    x, y = node.inputs
    z = node.outputs[0]
    t = node.type
    if t == "add":
        return g, g
    if t == "sub":
        return g, neg(g)
    if t == "mul":
        return mul(g, y), mul(g, x)
    if t == "div":
        return div(g, y), neg(mul(g, div(z, y)))
    if t in ("maximum", "minimum"):
        m = _mask(greater_equal(x, y) if t == "maximum" else less_equal(x, y), g)
        return mul(g, m), mul(g, sub(_c(1.0, m), m))
    if t == "pow":
        from .array_ops import zeros_like

        pos = greater(x, _c(0.0, x))
        safe_log = where(pos, log(where(pos, x, add(zeros_like(x), _c(1.0, x)))), zeros_like(x))
        return mul(g, mul(y, pow(x, sub(y, _c(1.0, y))))), mul(g, mul(z, safe_log))
    if t == "squared_difference":
        d = mul(g, mul(_c(2.0, x), sub(x, y)))
        return d, neg(d)
    raise KeyError(t)


def _binary_vjp(node, grads):
    gx, gy = _binary_grads(node, grads[0])
    return [unbroadcast(gx, node.inputs[0]), unbroadcast(gy, node.inputs[1])]


def _matmul_vjp(node, grads):
    a, b = node.inputs
    g = grads[0]
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    if len(b.shape) == 2 and len(a.shape) > 2 and not ta:
        from .array_ops import reshape

        k = a.shape[-1]
        n = g.shape[-1]
        a2, g2 = reshape(a, [-1, k]), reshape(g, [-1, n])
        da = matmul(g, b, transpose_b=not tb)
        db = matmul(g2, a2, transpose_a=True) if tb else matmul(a2, g2, transpose_a=True)
        return [da, db]
    if not ta and not tb:
        da, db = matmul(g, b, transpose_b=True), matmul(a, g, transpose_a=True)
    elif ta and not tb:
        da, db = matmul(b, g, transpose_b=True), matmul(a, g)
    elif not ta and tb:
        da, db = matmul(g, b), matmul(g, a, transpose_a=True)
    else:
        da, db = matmul(b, g, transpose_a=True, transpose_b=True), matmul(g, a, transpose_a=True, transpose_b=True)
    return [unbroadcast(da, a), unbroadcast(db, b)]


def _expand_reduced(g, x, axes, keepdims):
    from .array_ops import expand_dims

    r = len(x.shape)
    axes = tuple(range(r)) if axes is None else tuple(sorted(normalize_axis(a, r) for a in axes))
    if not keepdims:
        for a in axes:
            g = expand_dims(g, a)
    return apply_op("broadcast_like", [g, x]), axes


def _reduce_vjp(node, grads):
    x, y = node.inputs[0], node.outputs[0]
    g = grads[0]
    gb, axes = _expand_reduced(g, x, node.attrs["axis"], node.attrs["keepdims"])
    t = node.type
    if t == "reduce_sum":
        return [gb]
    if t == "reduce_mean":
        n = Shape([x.shape[a] for a in axes]).num_elements()
        count = _c(float(n), x) if n is not None else apply_op("num_elements", [x], axes=axes, dtype=x.dtype)
        return [div(gb, count)]
    if t in ("reduce_max", "reduce_min"):
        yb, _ = _expand_reduced(y, x, node.attrs["axis"], node.attrs["keepdims"])
        m = _mask(equal(x, yb), x)
        cnt, _ = _expand_reduced(reduce_sum(m, list(axes), keepdims=True), x, list(axes), True)
        return [div(mul(gb, m), cnt)]
    if t == "reduce_prod":  # product of the other elements, exact when some are zero (as TF)
        zero = _c(0.0, x)
        is0 = equal(x, zero)
        nz = where(is0, add(mul(x, zero), _c(1.0, x)), x)
        pnz, _ = _expand_reduced(reduce_prod(nz, list(axes), keepdims=True), x, list(axes), True)
        zc, _ = _expand_reduced(reduce_sum(_mask(is0, x), list(axes), keepdims=True), x, list(axes), True)
        others = where(is0, where(equal(zc, _c(1.0, x)), pnz, mul(pnz, zero)),
                       where(equal(zc, zero), div(pnz, nz), mul(pnz, zero)))
        return [mul(gb, others)]
    raise KeyError(t)


def _where_vjp(node, grads):
    from .array_ops import zeros_like

    c, x, y = node.inputs
    g = grads[0]
    z = zeros_like(g)
    return [None, unbroadcast(where(c, g, z), x), unbroadcast(where(c, z, g), y)]


def _attach_vjps():
    from .registry import get_op

    for n in _UNARY_VJP:
        get_op(n).vjp = _unary_vjp
    for n in ("add", "sub", "mul", "div", "maximum", "minimum", "pow", "squared_difference"):
        get_op(n).vjp = _binary_vjp
    get_op("add_n").vjp = lambda node, grads: [grads[0]] * len(node.inputs)
    get_op("matmul").vjp = _matmul_vjp
    for n in _REDUCE:
        get_op(n).vjp = _reduce_vjp
    get_op("where").vjp = _where_vjp


_attach_vjps()
