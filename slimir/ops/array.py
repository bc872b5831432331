"""Array ops: constants, placeholders, variables, reshape/transpose/concat/split/tile, casts, fills, range, size/rank,
stack/unstack, and the shape helpers VJPs emit (broadcast_like, reshape_like, tile_grad). Each op's VJP sits with
it. (Slicing and padding are in slicing.py.)"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..ir.graph import Tensor, Variable, name_scope
from ..ir.registry import OpDef, Spec, apply_op, constant_array, convert_to_tensor, normalize_axis, register
from ..shape import Shape, broadcast, fmt
from .lowering_utils import i64, sum_reduce
from .static import constant_value

# ------------------------------------------------------------------------------------------
# Sources: const, placeholder, variable


def _const_shape(specs, value):
    return [Spec(value.shape, _dt.as_dtype(value.dtype))]


def _const_lower(b, node):
    return b.const(node.attrs["value"], name=node.name)


register(OpDef("const", _const_shape, _const_lower, lambda value: value, default_name="Const",
               differentiable=False))


def constant(value, dtype=None, shape=None, name: str = "Const", graph=None) -> Tensor:
    """A constant tensor (TF's tf.constant); Python floats become float32, ints int32."""
    arr = constant_array(value, dtype, shape)
    if graph is None:
        return apply_op("const", [], name=name, value=arr)
    with graph.as_default():
        return apply_op("const", [], name=name, value=arr)


def _placeholder_shape(specs, shape, dtype):
    return [Spec(shape, dtype)]


def _source_lower(b, node):
    raise InvalidArgumentError(f"{node.name}: a {node.type} is a graph input and has no lowering")


register(OpDef("placeholder", _placeholder_shape, _source_lower, None, default_name="Placeholder",
               differentiable=False))


def placeholder(dtype, shape=None, name: Optional[str] = None) -> Tensor:
    """A graph input fed through feed_dict (TF's tf.placeholder); `None` dims are dynamic."""
    dtype = _dt.as_dtype(dtype)
    if shape is None:
        raise InvalidArgumentError(
            f"placeholder {name or ''}: slimir needs the rank of every placeholder; give a shape "
            "such as [None, 224, 224, 3] (None marks dimensions known only at run time)")
    if shape is not None:
        for d in shape:
            if d is not None and (not isinstance(d, (int, np.integer)) or d < 0):
                raise InvalidArgumentError(f"placeholder {name or ''}: invalid dimension {d!r} in {shape!r}")
    shp = Shape(shape)
    return apply_op("placeholder", [], name=name or "Placeholder", shape=shp, dtype=dtype)


def placeholder_with_default(input, shape, name: Optional[str] = None) -> Tensor:
    """Like identity(input), but may be fed (TF's tf.placeholder_with_default)."""
    return identity(input, name=name or "PlaceholderWithDefault")


def _var_shape(specs, shape, dtype, **_):
    return [Spec(shape, dtype)]


register(OpDef("variable", _var_shape, _source_lower, None, default_name="Variable", stateful=True,
               differentiable=False))


def make_variable_node(name: str, shape, dtype: _dt.DType, exact_name: bool) -> Variable:
    """Create the IR node of a variable; callers (slimir.variables) attach initial values."""
    return apply_op("variable", [], name=name, exact_name=exact_name, tensor_cls=Variable,
                    shape=Shape(shape), dtype=dtype)


# ------------------------------------------------------------------------------------------
# identity / stop_gradient / cast


def _same(specs, **_):
    return [specs[0]]


register(OpDef("identity", _same, lambda b, node, x: b.op("Identity", [x]), lambda x: x,
               default_name="Identity", vjp=lambda node, g: [g[0]], kind="unary"))
register(OpDef("stop_gradient", _same, lambda b, node, x: b.op("Identity", [x]), lambda x: x,
               default_name="StopGradient", differentiable=False, kind="unary"))


def identity(x, name: Optional[str] = None) -> Tensor:
    return apply_op("identity", [x], name=name)


def stop_gradient(x, name: Optional[str] = None) -> Tensor:
    return apply_op("stop_gradient", [x], name=name)


def _cast_shape(specs, dtype):
    return [Spec(specs[0].shape, dtype)]


def _cast_vjp(node, grads):
    x = node.inputs[0]
    return [cast(grads[0], x.dtype) if x.dtype.is_floating else None]


register(OpDef("cast", _cast_shape, lambda b, node, x: b.op("Cast", [x], to=node.attrs["dtype"].onnx),
               lambda x, dtype: x.astype(dtype.np), default_name="Cast", vjp=_cast_vjp, kind="unary"))


def cast(x, dtype, name: Optional[str] = None) -> Tensor:
    return apply_op("cast", [x], name=name, dtype=_dt.as_dtype(dtype))


def to_float(x, name: Optional[str] = None) -> Tensor:
    return cast(x, _dt.float32, name=name or "ToFloat")


# ------------------------------------------------------------------------------------------
# reshape / flatten


def _resolve_reshape(in_shape, shape):
    shape = list(shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: at most one -1 in the target shape, got {shape}")
    for d in shape:
        if d < -1:
            raise ShapeError(f"reshape: invalid dimension {d} in {shape}")
    n_in = Shape(in_shape).num_elements()
    if -1 in shape:
        known = 1
        for d in shape:
            if d != -1:
                known *= d
        i = shape.index(-1)
        if n_in is not None:
            if known == 0 or n_in % known:
                raise ShapeError(f"cannot reshape {fmt(in_shape)} ({n_in} values) into {shape}")
            shape[i] = n_in // known
        else:
            shape[i] = None
    elif n_in is not None and int(np.prod(shape)) != n_in:
        raise ShapeError(f"cannot reshape {fmt(in_shape)} ({n_in} values) into {shape}")
    return tuple(shape)


def _reshape_shape(specs, shape):
    return [Spec(_resolve_reshape(specs[0].shape, shape), specs[0].dtype)]


def _reshape_lower(b, node, x):
    out = node.outputs[0].shape
    tgt = [d if d is not None else -1 for d in out]
    if tgt.count(-1) > 1:
        tgt = list(node.attrs["shape"])
    zero = {"allowzero": 1} if 0 in tgt and -1 not in tgt and b.opset >= 14 else {}  # else 0 copies a dim
    return b.op("Reshape", [x, b.const(np.array(tgt, np.int64))], **zero)


def _reshape_ref(x, shape):
    return x.reshape(shape)


def _reshape_vjp(node, grads):
    """Reshape-like ops (reshape, flatten, squeeze, expand_dims): the gradient takes the input's shape back."""
    return [apply_op("reshape_like", [grads[0], node.inputs[0]])]


register(OpDef("reshape", _reshape_shape, _reshape_lower, _reshape_ref, default_name="Reshape", vjp=_reshape_vjp))


def reshape(x, shape, name: Optional[str] = None) -> Tensor:
    """Reshape to `shape` (a list of ints, one of them may be -1)."""
    if isinstance(shape, Tensor):
        raise InvalidArgumentError("reshape: slimir needs a static target shape (a list of ints)")
    return apply_op("reshape", [x], name=name, shape=tuple(int(d) for d in shape))


def _flatten_shape(specs):
    s = specs[0].shape
    if len(s) < 1:
        raise ShapeError(f"flatten expects an input of rank >= 2, got {fmt(s)}")
    if len(s) < 2:
        raise ShapeError(f"flatten expects an input of rank >= 2, got {fmt(s)}")
    inner = Shape(s[1:]).num_elements()
    return [Spec((s[0], inner), specs[0].dtype)]


register(OpDef("flatten", _flatten_shape, lambda b, node, x: b.op("Flatten", [x], axis=1),
               lambda x: x.reshape(x.shape[0], -1), default_name="Flatten", vjp=_reshape_vjp))


# ------------------------------------------------------------------------------------------
# transpose


def _transpose_shape(specs, perm):
    s = specs[0].shape
    if sorted(perm) != list(range(len(s))):
        raise ShapeError(f"transpose: perm {list(perm)} does not fit an input of shape {fmt(s)}")
    return [Spec(tuple(s[p] for p in perm), specs[0].dtype)]


def _transpose_vjp(node, grads):
    perm = node.attrs["perm"]
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return [transpose(grads[0], inv)]


register(OpDef("transpose", _transpose_shape,
               lambda b, node, x: b.op("Transpose", [x], perm=list(node.attrs["perm"])) if node.attrs["perm"]
               else b.op("Identity", [x]),
               lambda x, perm: np.transpose(x, perm), default_name="transpose", vjp=_transpose_vjp))


def transpose(x, perm=None, name: Optional[str] = None) -> Tensor:
    x = _as_tensor(x)
    if perm is None:
        perm = tuple(reversed(range(len(x.shape))))
    return apply_op("transpose", [x], name=name, perm=tuple(int(p) for p in perm))


# ------------------------------------------------------------------------------------------
# concat / split


def _concat_shape(specs, axis):
    if not specs:
        raise ShapeError("concat needs at least one input")
    r = len(specs[0].shape)
    ax = normalize_axis(axis, r)
    dt = specs[0].dtype
    out = list(specs[0].shape)
    for s in specs[1:]:
        if len(s.shape) != r:
            raise ShapeError(f"concat: inputs of different ranks {fmt(specs[0].shape)} and {fmt(s.shape)}")
        if s.dtype is not dt:
            raise DTypeError(f"concat: inputs of different dtypes {dt.name} and {s.dtype.name}")
        for i in range(r):
            if i == ax:
                out[i] = None if (out[i] is None or s.shape[i] is None) else out[i] + s.shape[i]
            elif out[i] is None:
                out[i] = s.shape[i]
            elif s.shape[i] is not None and s.shape[i] != out[i]:
                raise ShapeError(
                    f"concat along axis {axis}: dimension {i} differs, {fmt(specs[0].shape)} vs {fmt(s.shape)}")
    return [Spec(tuple(out), dt)]


def _concat_vjp(node, grads):
    ax = normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))
    sizes = [t.shape[ax] for t in node.inputs]
    if None in sizes:
        raise ShapeError(f"{node.name}: the gradient of concat needs known sizes along axis {ax}, got {sizes}")
    return list(split(grads[0], sizes, axis=ax))


register(OpDef("concat", _concat_shape,
               lambda b, node, *xs: b.op("Concat", list(xs),
                                         axis=normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))),
               lambda *xs, axis: np.concatenate(xs, axis=axis), default_name="concat", vjp=_concat_vjp))


def concat(values, axis: int, name: Optional[str] = None) -> Tensor:
    """Concatenate tensors along `axis` (TF's tf.concat(values, axis))."""
    values = list(values)
    if len(values) == 1:
        return identity(values[0], name=name or "concat")
    return apply_op("concat", values, name=name, axis=int(axis))


def _split_shape(specs, axis, sizes):
    s = specs[0].shape
    ax = normalize_axis(axis, len(s))
    if s[ax] is not None and sum(sizes) != s[ax]:
        raise ShapeError(f"split: sizes {list(sizes)} do not add up to dimension {ax} of {fmt(s)}")
    outs = []
    for n in sizes:
        o = list(s)
        o[ax] = n
        outs.append(Spec(tuple(o), specs[0].dtype))
    return outs


def _split_lower(b, node, x):
    ax = normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))
    sizes = b.const(np.array(node.attrs["sizes"], np.int64))
    return b.op("Split", [x, sizes], outputs=len(node.attrs["sizes"]), axis=ax)


def _split_ref(x, axis, sizes):
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _split_vjp(node, grads):
    parts = [g if g is not None else zeros_like(t) for g, t in zip(grads, node.outputs)]
    return [concat(parts, axis=node.attrs["axis"])]


register(OpDef("split", _split_shape, _split_lower, _split_ref, default_name="split", vjp=_split_vjp))


def split(value, num_or_size_splits, axis: int = 0, name: Optional[str] = None):
    """Split along `axis` into equal parts or the given sizes (TF's tf.split)."""
    value = _as_tensor(value)
    ax = normalize_axis(axis, len(value.shape))
    dim = value.shape[ax]
    if isinstance(num_or_size_splits, int):
        if dim is None:
            raise ShapeError(f"split: dimension {ax} of {value.name} is unknown; give explicit sizes")
        if num_or_size_splits <= 0 or dim % num_or_size_splits:
            raise ShapeError(f"split: dimension {ax} ({dim}) of {value.name} is not divisible by {num_or_size_splits}")
        sizes = [dim // num_or_size_splits] * num_or_size_splits
    else:
        sizes = [int(s) for s in num_or_size_splits]
        if -1 in sizes:
            if dim is None:
                raise ShapeError("split: -1 size needs a known dimension")
            i = sizes.index(-1)
            sizes[i] = dim - (sum(sizes) + 1)
    out = apply_op("split", [value], name=name, axis=int(axis), sizes=tuple(sizes))
    return list(out) if isinstance(out, tuple) else [out]


# ------------------------------------------------------------------------------------------
# squeeze / expand_dims


def _squeeze_axes(shape, axis):
    if axis is None:
        return tuple(i for i, d in enumerate(shape) if d == 1)
    axes = tuple(normalize_axis(a, len(shape)) for a in axis)
    for a in axes:
        if shape[a] is not None and shape[a] != 1:
            raise ShapeError(f"squeeze: dimension {a} of {fmt(shape)} is not 1")
    return axes


def _squeeze_shape(specs, axis):
    s = specs[0].shape
    axes = _squeeze_axes(s, axis)
    return [Spec(tuple(d for i, d in enumerate(s) if i not in axes), specs[0].dtype)]


def _squeeze_lower(b, node, x):
    axes = _squeeze_axes(node.inputs[0].shape, node.attrs["axis"])
    if not axes:
        return b.op("Identity", [x])
    return b.op("Squeeze", [x, b.const(np.array(axes, np.int64))])


register(OpDef("squeeze", _squeeze_shape, _squeeze_lower,
               lambda x, axis: np.squeeze(x, axis=axis) if axis is not None else np.squeeze(x),
               default_name="Squeeze", vjp=_reshape_vjp))


def squeeze(x, axis=None, name: Optional[str] = None, squeeze_dims=None) -> Tensor:
    if squeeze_dims is not None:
        axis = squeeze_dims
    if isinstance(axis, int):
        axis = [axis]
    return apply_op("squeeze", [x], name=name, axis=None if axis is None else tuple(int(a) for a in axis))


def _expand_shape(specs, axis):
    s = list(specs[0].shape)
    a = axis if axis >= 0 else len(s) + 1 + axis
    if not 0 <= a <= len(s):
        raise ShapeError(f"expand_dims: axis {axis} out of range for {fmt(s)}")
    s.insert(a, 1)
    return [Spec(tuple(s), specs[0].dtype)]


def _expand_lower(b, node, x):
    ax = node.attrs["axis"]
    ax = ax if ax >= 0 else len(node.inputs[0].shape) + 1 + ax
    return b.op("Unsqueeze", [x, b.const(np.array([ax], np.int64))])


register(OpDef("expand_dims", _expand_shape, _expand_lower, lambda x, axis: np.expand_dims(x, axis),
               default_name="ExpandDims", vjp=_reshape_vjp))


def expand_dims(x, axis: int, name: Optional[str] = None) -> Tensor:
    return apply_op("expand_dims", [x], name=name, axis=int(axis))


# ------------------------------------------------------------------------------------------
# tile


def _tile_shape(specs, multiples):
    s = specs[0].shape
    if len(multiples) != len(s):
        raise ShapeError(f"tile: {len(multiples)} multiples for an input of rank {len(s)}")
    return [Spec(tuple(None if d is None else d * m for d, m in zip(s, multiples)), specs[0].dtype)]


register(OpDef("tile", _tile_shape,
               lambda b, node, x: b.op("Tile", [x, b.const(np.array(node.attrs["multiples"], np.int64))]),
               lambda x, multiples: np.tile(x, multiples), default_name="Tile",
               vjp=lambda node, grads: [apply_op("tile_grad", [grads[0], node.inputs[0]],
                                                 multiples=node.attrs["multiples"])]))


def _tile_grad_shape(specs, multiples):
    return [Spec(tuple(specs[1].shape), specs[0].dtype)]


def _tile_grad_lower(b, node, g, x):
    """Reshape g to [m0, d0, m1, d1, ...] (d from x's run-time shape) and sum the m axes."""
    xs = b.op("Shape", [x])
    parts = []
    for i, m in enumerate(node.attrs["multiples"]):
        parts.append(b.const(i64([m])))
        parts.append(b.op("Slice", [xs, b.const(i64([i])), b.const(i64([i + 1]))]))
    g2 = b.op("Reshape", [g, b.op("Concat", parts, axis=0)])
    g2_shape = []
    for m, d in zip(node.attrs["multiples"], node.inputs[1].shape):
        g2_shape += [m, d]
    return sum_reduce(b, g2, g2_shape, node.inputs[0].dtype, list(range(0, 2 * len(node.attrs["multiples"]), 2)),
                      False)


def _tile_grad_ref(g, x, multiples):
    shp = []
    for m, d in zip(multiples, x.shape):
        shp += [m, d]
    return g.reshape(shp).sum(axis=tuple(range(0, 2 * len(multiples), 2))).astype(g.dtype)


register(OpDef("tile_grad", _tile_grad_shape, _tile_grad_lower, _tile_grad_ref, default_name="TileGrad",
               differentiable=False))


def tile(x, multiples, name: Optional[str] = None) -> Tensor:
    return apply_op("tile", [x], name=name, multiples=tuple(int(m) for m in multiples))


# ------------------------------------------------------------------------------------------
# one_hot


def _one_hot_shape(specs, depth, on_value, off_value, axis, dtype):
    if not specs[0].dtype.is_integer:
        raise DTypeError(f"one_hot expects integer indices, got {specs[0].dtype.name}")
    if depth <= 0:
        raise InvalidArgumentError(f"one_hot: depth must be positive, got {depth}")
    s = list(specs[0].shape)
    a = axis if axis >= 0 else len(s) + 1 + axis
    s.insert(a, depth)
    return [Spec(tuple(s), dtype)]


def _one_hot_lower(b, node, x):
    """Equal(indices, arange(depth)) then Where(on, off): any index/output dtype (ORT's OneHot kernels
    cover few), and negative indices give all-off rows as in TF (ONNX OneHot counts them from the end)."""
    a = node.attrs
    r = len(node.inputs[0].shape)
    ax = a["axis"] if a["axis"] >= 0 else r + 1 + a["axis"]
    eye = b.const(np.arange(a["depth"], dtype=np.int64).reshape((-1,) + (1,) * (r - ax)))
    idx = b.op("Unsqueeze", [b.op("Cast", [x], to=_dt.int64.onnx), b.const(i64([ax]))])
    on, off = (b.const(np.array(a[k], a["dtype"].np)) for k in ("on_value", "off_value"))
    return b.op("Where", [b.op("Equal", [idx, eye]), on, off])


def _one_hot_ref(x, depth, on_value, off_value, axis, dtype):
    eye = np.arange(depth)
    oh = (np.expand_dims(x, -1) == eye)
    if axis != -1:
        oh = np.moveaxis(oh, -1, axis)
    return np.where(oh, on_value, off_value).astype(dtype.np)


register(OpDef("one_hot", _one_hot_shape, _one_hot_lower, _one_hot_ref, default_name="one_hot",
               differentiable=False))


def one_hot(indices, depth: int, on_value=1.0, off_value=0.0, axis: int = -1, dtype=None,
            name: Optional[str] = None) -> Tensor:
    return apply_op("one_hot", [indices], name=name, depth=int(depth), on_value=float(on_value),
                    off_value=float(off_value), axis=int(axis), dtype=_dt.as_dtype(dtype or _dt.float32))


# ------------------------------------------------------------------------------------------
# fills


def zeros(shape, dtype=_dt.float32, name: str = "zeros") -> Tensor:
    return constant(np.zeros([int(d) for d in shape], _dt.as_dtype(dtype).np), name=name)


def ones(shape, dtype=_dt.float32, name: str = "ones") -> Tensor:
    return constant(np.ones([int(d) for d in shape], _dt.as_dtype(dtype).np), name=name)


def fill(dims, value, name: str = "Fill") -> Tensor:
    return constant(np.full([int(d) for d in dims], value), name=name)


def _like_shape(specs, value, dtype):
    return [Spec(specs[0].shape, dtype or specs[0].dtype)]


def _like_lower(b, node, x):
    dt = node.outputs[0].dtype
    shp = b.op("Shape", [x])
    return b.op("ConstantOfShape", [shp], value=_onnx_scalar(np.array([node.attrs["value"]], dt.np)))


def _onnx_scalar(arr):
    from onnx import numpy_helper

    return numpy_helper.from_array(arr)


register(OpDef("fill_like", _like_shape, _like_lower,
               lambda x, value, dtype: np.full(x.shape, value, (dtype.np if dtype else x.dtype)),
               default_name="fill_like", differentiable=False))


def zeros_like(x, dtype=None, name: Optional[str] = None) -> Tensor:
    return apply_op("fill_like", [x], name=name or "zeros_like", value=0.0,
                    dtype=_dt.as_dtype(dtype) if dtype else None)


def ones_like(x, dtype=None, name: Optional[str] = None) -> Tensor:
    return apply_op("fill_like", [x], name=name or "ones_like", value=1.0,
                    dtype=_dt.as_dtype(dtype) if dtype else None)


# ------------------------------------------------------------------------------------------
# shape (dynamic)


def _shape_shape(specs, out_type):
    return [Spec((len(specs[0].shape),), out_type)]


def _shape_lower(b, node, x):
    s = b.op("Shape", [x])
    if node.attrs["out_type"] is not _dt.int64:
        s = b.op("Cast", [s], to=node.attrs["out_type"].onnx)
    return s


register(OpDef("shape", _shape_shape, _shape_lower,
               lambda x, out_type: np.array(x.shape, out_type.np), default_name="Shape",
               differentiable=False))


def shape(x, out_type=_dt.int32, name: Optional[str] = None) -> Tensor:
    return apply_op("shape", [x], name=name, out_type=_dt.as_dtype(out_type))


def _as_tensor(x) -> Tensor:
    return convert_to_tensor(x)


# ------------------------------------------------------------------------------------------
# Shape helpers that VJPs emit: broadcast_like (inverse of sum_to) and reshape_like


def _bcast_like_shape(specs):
    g, like = specs
    out = broadcast(g.shape, like.shape)
    if out is None or len(out) != len(like.shape):
        raise ShapeError(f"broadcast_like: {fmt(g.shape)} does not broadcast to {fmt(like.shape)}")
    return [Spec(tuple(like.shape), g.dtype)]


register(OpDef("broadcast_like", _bcast_like_shape, lambda b, node, g, like: b.op("Expand", [g, b.op("Shape", [like])]),
               lambda g, like: np.broadcast_to(g, like.shape).copy(), default_name="BroadcastTo",
               vjp=lambda node, grads: [apply_op("sum_to", [grads[0]], shape=tuple(node.inputs[0].shape)), None]))


def _reshape_like_shape(specs):
    g, like = specs
    n1, n2 = Shape(g.shape).num_elements(), Shape(like.shape).num_elements()
    if n1 is not None and n2 is not None and n1 != n2:
        raise ShapeError(f"reshape_like: {fmt(g.shape)} has {n1} values, {fmt(like.shape)} needs {n2}")
    return [Spec(tuple(like.shape), g.dtype)]


register(OpDef("reshape_like", _reshape_like_shape,
               lambda b, node, g, like: b.op("Reshape", [g, b.op("Shape", [like])]),
               lambda g, like: g.reshape(like.shape), default_name="Reshape",
               vjp=lambda node, grads: [apply_op("reshape_like", [grads[0], node.inputs[0]]), None]))


# ------------------------------------------------------------------------------------------
# range (TF's tf.range)


_RANGE_TYPES = (_dt.int32, _dt.int64, _dt.float32, _dt.float64)


def range_length(start, limit, delta, dtype: _dt.DType) -> int:
    """TF's Range size: ceil(|limit - start| / |delta|), after TF's argument checks."""
    if delta == 0:
        raise InvalidArgumentError(f"Requires delta != 0: {delta}")
    if delta > 0 and start > limit:
        raise InvalidArgumentError(f"Requires start <= limit when delta > 0: {start}/{limit}")
    if delta < 0 and start < limit:
        raise InvalidArgumentError(f"Requires start >= limit when delta < 0: {start}/{limit}")
    if dtype.is_integer:
        return int((abs(int(limit) - int(start)) + abs(int(delta)) - 1) // abs(int(delta)))
    t = dtype.np.type
    return int(np.ceil(np.abs((t(limit) - t(start)) / t(delta))))


def _range_shape(specs, length):
    for s in specs:
        if len(s.shape) != 0:
            raise ShapeError(f"start, limit and delta must be scalars, got {fmt(s.shape)}")
    dt = specs[0].dtype
    if any(s.dtype is not dt for s in specs) or dt not in _RANGE_TYPES:
        raise DTypeError(f"start, limit and delta must share one of int32/int64/float32/float64, got "
                         f"{[s.dtype.name for s in specs]}")
    return [Spec((length,), dt)]


def _range_ref(start, limit, delta, length):
    dt = start.dtype
    n = range_length(start.item(), limit.item(), delta.item(), _dt.as_dtype(dt))
    return (start + np.arange(n).astype(dt) * delta).astype(dt)


register(OpDef("range", _range_shape, lambda b, node, s, lim, d: b.op("Range", [s, lim, d]), _range_ref,
               default_name="range", differentiable=False))


def _scalar_dtype(v) -> _dt.DType:
    if isinstance(v, Tensor):
        return v.dtype
    if isinstance(v, (bool, np.bool_)):
        raise DTypeError(f"range: a bool is not a number: {v!r}")
    if isinstance(v, np.generic):
        return _dt.as_dtype(v.dtype)
    if isinstance(v, int):
        return _dt.int32
    return _dt.float32


def range_(start, limit=None, delta=1, dtype=None, name: str = "range") -> Tensor:
    """TF's tf.range(start, limit, delta, dtype): [start, limit) by delta; range(n) counts from 0. The dtype
    is the widest of the arguments' (Python ints are int32, floats float32) unless given."""
    if limit is None:
        start, limit = 0, start
    args = [start, limit, delta]
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
        if dt not in _RANGE_TYPES:
            raise DTypeError(f"range: dtype must be int32, int64, float32 or float64, got {dt.name}")
    else:
        dt = max((_scalar_dtype(a) for a in args), key=_RANGE_TYPES.index)
    with name_scope(name, "Range") as scope:
        ts = []
        for a, nm in zip(args, ("start", "limit", "delta")):
            if isinstance(a, Tensor):
                ts.append(a if a.dtype is dt else cast(a, dt))
            else:
                if dt.is_integer and float(a) != int(a):
                    raise DTypeError(f"range: {nm}={a!r} is not an integer but the dtype is {dt.name}")
                ts.append(constant(np.array(a).astype(dt.np), name=nm))
        vals = [constant_value(t) for t in ts]
        length = None if any(v is None for v in vals) else range_length(*(v.item() for v in vals), dt)
        return apply_op("range", ts, name=scope or "range/", length=length)


# ------------------------------------------------------------------------------------------
# size / rank


def size(input, name: Optional[str] = None, out_type=_dt.int32) -> Tensor:
    """TF's tf.size: the number of elements, as an `out_type` scalar (the num_elements op of reduce.py)."""
    return apply_op("num_elements", [convert_to_tensor(input)], name=name or "Size", axes=None,
                    dtype=_dt.as_dtype(out_type))


def rank(input, name: Optional[str] = None) -> Tensor:
    """TF's tf.rank: slimir tensors always have a static rank, so this is an int32 constant."""
    return constant(np.int32(len(convert_to_tensor(input).shape)), name=name or "Rank")


# ------------------------------------------------------------------------------------------
# stack / unstack (TF's tf.stack, not slim.stack the layer repeater)


def stack(values, axis: int = 0, name: str = "stack") -> Tensor:
    """TF's tf.stack: pack tensors of one shape along a new `axis`."""
    if not len(values):
        raise InvalidArgumentError("stack needs at least one value")
    vals = [_packed(v) for v in values]
    r = len(vals[0].shape)
    ax = axis if axis >= 0 else axis + r + 1
    if not 0 <= ax <= r:
        raise ShapeError(f"stack: axis {axis} out of range for values of rank {r}")
    with name_scope(name, "stack") as scope:
        parts = [expand_dims(v, ax) for v in vals]
        return concat(parts, axis=ax, name=scope or "stack/")


def _packed(v) -> Tensor:
    """A value as a tensor; nested lists holding tensors are stacked (TF's auto-packing of [[0, t], ...])."""
    if isinstance(v, (list, tuple)) and any(isinstance(e, Tensor) or isinstance(e, (list, tuple)) for e in v):
        if any(isinstance(e, Tensor) for e in _flat(v)):
            return stack(list(v), axis=0, name="packed")
    return convert_to_tensor(v)


def _flat(v):
    for e in v:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e


def unstack(value, num: Optional[int] = None, axis: int = 0, name: str = "unstack") -> list:
    """TF's tf.unstack: the slices of `value` along `axis`, that axis removed."""
    value = convert_to_tensor(value)
    ax = normalize_axis(axis, len(value.shape))
    n = value.shape[ax] if num is None else int(num)
    if n is None:
        raise ShapeError(f"Cannot infer num from shape {fmt(value.shape)}")
    with name_scope(name, "unstack"):
        parts = split(value, n, axis=ax) if n > 1 else [value]
        return [squeeze(p, [ax]) for p in parts]
