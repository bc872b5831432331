"""Array ops: constants, placeholders, variables, reshape/transpose/concat/split/slice/pad/tile, casts."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, FeedError, InvalidArgumentError, ShapeError
from ..graph import Tensor, Variable, get_default_graph
from ..shape import Shape, fmt
from .lowering_utils import i64
from .registry import OpDef, Spec, apply_op, normalize_axis, register

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
    if dtype is not None:
        dtype = _dt.as_dtype(dtype)
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and dtype.is_integer:
            raise DTypeError(f"constant: cannot convert float value {value!r} to {dtype.name}")
        arr = arr.astype(dtype.np)
    else:
        arr = np.asarray(value)
        if arr.dtype == np.float64 and not isinstance(value, (np.ndarray, np.generic)):
            arr = arr.astype(np.float32)
        elif arr.dtype == np.int64 and not isinstance(value, (np.ndarray, np.generic)):
            arr = arr.astype(np.int32)
        elif arr.dtype.kind == "O" or arr.dtype.kind == "U":
            raise DTypeError(f"constant: cannot make a tensor from {value!r}")
        _dt.as_dtype(arr.dtype)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=arr.dtype)
        elif arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise ShapeError(f"constant: {arr.size} values cannot fill shape {fmt(shape)}")
    arr = np.array(arr, order="C")  # (np.ascontiguousarray would turn a scalar into shape [1])
    arr.setflags(write=False)
    g = graph or get_default_graph()
    with g.as_default() if graph is not None else _null():
        return apply_op("const", [], name=name, value=arr)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


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
               default_name="Identity", vjp=lambda node, g: [g[0]]))
register(OpDef("stop_gradient", _same, lambda b, node, x: b.op("Identity", [x]), lambda x: x,
               default_name="StopGradient", differentiable=False))


def identity(x, name: Optional[str] = None) -> Tensor:
    return apply_op("identity", [x], name=name)


def stop_gradient(x, name: Optional[str] = None) -> Tensor:
    return apply_op("stop_gradient", [x], name=name)


def _cast_shape(specs, dtype):
    return [Spec(specs[0].shape, dtype)]


register(OpDef("cast", _cast_shape, lambda b, node, x: b.op("Cast", [x], to=node.attrs["dtype"].onnx),
               lambda x, dtype: x.astype(dtype.np), default_name="Cast"))


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


register(OpDef("reshape", _reshape_shape, _reshape_lower, _reshape_ref, default_name="Reshape"))


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
               lambda x: x.reshape(x.shape[0], -1), default_name="Flatten"))


# ------------------------------------------------------------------------------------------
# transpose


def _transpose_shape(specs, perm):
    s = specs[0].shape
    if sorted(perm) != list(range(len(s))):
        raise ShapeError(f"transpose: perm {list(perm)} does not fit an input of shape {fmt(s)}")
    return [Spec(tuple(s[p] for p in perm), specs[0].dtype)]


register(OpDef("transpose", _transpose_shape,
               lambda b, node, x: b.op("Transpose", [x], perm=list(node.attrs["perm"])) if node.attrs["perm"]
               else b.op("Identity", [x]),
               lambda x, perm: np.transpose(x, perm), default_name="transpose"))


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


register(OpDef("concat", _concat_shape,
               lambda b, node, *xs: b.op("Concat", list(xs),
                                         axis=normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))),
               lambda *xs, axis: np.concatenate(xs, axis=axis), default_name="concat"))


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


register(OpDef("split", _split_shape, _split_lower, _split_ref, default_name="split"))


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
               default_name="Squeeze"))


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
               default_name="ExpandDims"))


def expand_dims(x, axis: int, name: Optional[str] = None) -> Tensor:
    return apply_op("expand_dims", [x], name=name, axis=int(axis))


# ------------------------------------------------------------------------------------------
# strided slice (numpy-style indexing with int / slice / newaxis / ellipsis)


def _norm_index(shape, key):
    """Resolve an indexing key into (begin, end, step) per axis, axes to squeeze, axes to insert."""
    if not isinstance(key, tuple):
        key = (key,)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > len(shape):
        raise ShapeError(f"too many indices ({n_real}) for a tensor of shape {fmt(shape)}")
    out_key = []
    for k in key:
        if k is Ellipsis:
            out_key.extend([slice(None)] * (len(shape) - n_real))
        else:
            out_key.append(k)
    if Ellipsis not in key:
        out_key.extend([slice(None)] * (len(shape) - n_real))
    specs, axis, out_shape = [], 0, []
    for k in out_key:
        if k is None:
            out_shape.append(1)
            specs.append(("new",))
            continue
        dim = shape[axis]
        if isinstance(k, (int, np.integer)):
            k = int(k)
            if dim is not None and not -dim <= k < dim:
                raise ShapeError(f"index {k} is out of bounds for dimension {axis} of size {dim}")
            if dim is None and k < 0:
                raise ShapeError(f"negative index {k} on dimension {axis} of unknown size")
            specs.append(("index", axis, k))
        elif isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            if step == 0:
                raise ShapeError("slice step cannot be zero")
            if dim is not None:
                start, stop, step = k.indices(dim)
                n = len(range(start, stop, step))
                if n == 0:  # ONNX Slice would read -1 as "the last element"
                    start, stop, step = 0, 0, 1
                elif stop < 0:  # a negative step running past index 0
                    stop = None
            else:
                start, stop = k.start, k.stop
                n = None
                if step > 0 and (start is None or start >= 0) and stop is not None and stop >= 0:
                    n = max(0, (stop - (start or 0) + step - 1) // step)
            specs.append(("slice", axis, start, stop, step))
            out_shape.append(n)
        else:
            raise InvalidArgumentError(f"unsupported index {k!r}: use ints, slices, None or ...")
        axis += 1
    return specs, tuple(out_shape)


def _ss_shape(specs, key):
    return [Spec(_norm_index(specs[0].shape, key)[1], specs[0].dtype)]


_BIG = 2**62


def _ss_lower(b, node, x):
    specs, _ = _norm_index(node.inputs[0].shape, node.attrs["key"])
    starts, ends, axes, steps, squeeze, new = [], [], [], [], [], []
    out_axis = 0
    for s in specs:
        if s[0] == "new":
            new.append(out_axis)
            out_axis += 1
        elif s[0] == "index":
            _, ax, k = s
            starts.append(k)
            ends.append(k + 1 if k != -1 else _BIG)
            axes.append(ax)
            steps.append(1)
            squeeze.append(ax)
        else:
            _, ax, start, stop, step = s
            if start is None:
                start = 0 if step > 0 else -1
            if stop is None:
                stop = _BIG if step > 0 else -_BIG
            starts.append(start)
            ends.append(stop)
            axes.append(ax)
            steps.append(step)
            out_axis += 1
    y = x
    if axes:
        y = b.op("Slice", [y, b.const(np.array(starts, np.int64)), b.const(np.array(ends, np.int64)),
                           b.const(np.array(axes, np.int64)), b.const(np.array(steps, np.int64))])
    if squeeze:
        y = b.op("Squeeze", [y, b.const(np.array(squeeze, np.int64))])
    if new:
        y = b.op("Unsqueeze", [y, b.const(np.array(new, np.int64))])
    if y is x:
        y = b.op("Identity", [x])
    return y


def _freeze_key(key):
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, slice):
            out.append(slice(k.start, k.stop, k.step))
        else:
            out.append(k)
    return tuple(out)


register(OpDef("strided_slice", _ss_shape, _ss_lower, lambda x, key: np.asarray(x[key]),
               default_name="strided_slice"))


def strided_slice_getitem(x: Tensor, key) -> Tensor:
    key = _freeze_key(key)
    for k in key:
        if isinstance(k, Tensor) or (isinstance(k, slice) and any(isinstance(v, Tensor) for v in (k.start, k.stop, k.step))):
            raise InvalidArgumentError("indexing with tensors is not supported; use static Python ints")
    return apply_op("strided_slice", [x], key=key)


def slice_(x, begin, size, name: Optional[str] = None) -> Tensor:
    """TF's tf.slice(input, begin, size); size -1 means 'to the end'."""
    key = tuple(slice(int(b0), None if int(s) == -1 else int(b0) + int(s)) for b0, s in zip(begin, size))
    return apply_op("strided_slice", [x], name=name or "Slice", key=key)


# ------------------------------------------------------------------------------------------
# pad / tile


def _pad_shape(specs, paddings, mode, constant_values):
    s = specs[0].shape
    if len(paddings) != len(s):
        raise ShapeError(f"pad: {len(paddings)} padding pairs for an input of rank {len(s)}")
    if mode not in ("CONSTANT", "REFLECT", "SYMMETRIC"):
        raise InvalidArgumentError(f"pad: unknown mode {mode!r}")
    limit = {"CONSTANT": None, "REFLECT": 1, "SYMMETRIC": 0}[mode]
    for d, (a, c) in zip(s, paddings):
        if min(a, c) < 0 or (limit is not None and d is not None and max(a, c) > d - limit):
            raise InvalidArgumentError(f"pad: paddings {[list(q) for q in paddings]} do not fit {mode} padding of "
                                       f"an input of shape {fmt(s)}")
    out = tuple(None if d is None else d + a + c for d, (a, c) in zip(s, paddings))
    return [Spec(out, specs[0].dtype)]


def _pad_lower(b, node, x):
    p = node.attrs["paddings"]
    if node.attrs["mode"] == "SYMMETRIC":
        return _symmetric_pad(b, x, p)
    pads = [a for a, _ in p] + [c for _, c in p]
    mode = {"CONSTANT": "constant", "REFLECT": "reflect"}[node.attrs["mode"]]
    ins = [x, b.const(np.array(pads, np.int64))]
    if mode == "constant":
        ins.append(b.const(np.array(node.attrs["constant_values"], node.inputs[0].dtype.np)))
    return b.op("Pad", ins, mode=mode)


def _symmetric_pad(b, x, paddings):
    """SYMMETRIC (edge-inclusive mirror) padding, which ONNX Pad lacks: reversed slices concatenated per axis."""
    y = x
    for ax, (lo, hi) in enumerate(paddings):
        parts = [y]
        if lo:  # x[lo-1::-1]
            parts.insert(0, b.op("Slice", [y, b.const(i64([lo - 1])), b.const(i64([-_BIG])), b.const(i64([ax])),
                                           b.const(i64([-1]))]))
        if hi:  # x[:-hi-1:-1]
            parts.append(b.op("Slice", [y, b.const(i64([-1])), b.const(i64([-hi - 1])), b.const(i64([ax])),
                                        b.const(i64([-1]))]))
        if len(parts) > 1:
            y = b.op("Concat", parts, axis=ax)
    return y if y is not x else b.op("Identity", [x])


def _pad_ref(x, paddings, mode, constant_values):
    m = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}[mode]
    if m == "constant":
        return np.pad(x, paddings, mode=m, constant_values=constant_values)
    return np.pad(x, paddings, mode=m)


register(OpDef("pad", _pad_shape, _pad_lower, _pad_ref, default_name="Pad"))


def pad(x, paddings, mode: str = "CONSTANT", name: Optional[str] = None, constant_values=0) -> Tensor:
    """TF's tf.pad: `paddings` [[before, after], ...] as ints, an array, or a tensor known while building."""
    from ..tensor_util import static_ints

    flat = np.asarray(static_ints(paddings, "pad: paddings"), dtype=object).reshape(-1)
    if flat.size % 2 or any(v is None for v in flat):
        raise ShapeError(f"pad: paddings must be [[before, after], ...] pairs of ints, got {paddings!r}")
    paddings = tuple((int(a), int(c)) for a, c in flat.reshape(-1, 2))
    if isinstance(constant_values, Tensor):
        from ..tensor_util import constant_value

        v = constant_value(constant_values)
        if v is None:
            raise InvalidArgumentError(f"pad: constant_values {constant_values.name} must be known while building")
        constant_values = v.reshape(())
    return apply_op("pad", [x], name=name, paddings=paddings, mode=mode.upper(),
                    constant_values=float(constant_values))


def _tile_shape(specs, multiples):
    s = specs[0].shape
    if len(multiples) != len(s):
        raise ShapeError(f"tile: {len(multiples)} multiples for an input of rank {len(s)}")
    return [Spec(tuple(None if d is None else d * m for d, m in zip(s, multiples)), specs[0].dtype)]


register(OpDef("tile", _tile_shape,
               lambda b, node, x: b.op("Tile", [x, b.const(np.array(node.attrs["multiples"], np.int64))]),
               lambda x, multiples: np.tile(x, multiples), default_name="Tile"))


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
    from .registry import convert_to_tensor

    return convert_to_tensor(x)


def check_feed(t: Tensor, value: np.ndarray) -> np.ndarray:
    """Validate and convert a fed value against a tensor's static shape and dtype."""
    arr = np.asarray(value)
    want = t.dtype
    if arr.dtype != want.np:
        ok = (want.is_floating and arr.dtype.kind in "fiub") or (want.is_integer and arr.dtype.kind in "iub") \
            or (want.is_bool and arr.dtype.kind == "b")
        if not ok or (want.is_integer and arr.dtype.kind == "f"):
            raise FeedError(f"cannot feed a value of dtype {arr.dtype} to {t.name} of dtype {want.name}")
        arr = arr.astype(want.np)
    s = t.shape
    if len(s) != arr.ndim or any(d is not None and d != a for d, a in zip(s, arr.shape)):
        raise FeedError(f"cannot feed a value of shape {fmt(arr.shape)} to {t.name}, which has shape {fmt(s)}")
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")



# ------------------------------------------------------------------------------------------
# VJPs


def _reshape_like(g, like):
    return apply_op("reshape_like", [g, like])


def _slice_vjp(node, grads):
    """Step-1 slices: the output gradient, with index axes restored and new axes dropped, padded back."""
    x, g = node.inputs[0], grads[0]
    specs, _ = _norm_index(x.shape, node.attrs["key"])
    paddings = [(0, 0)] * len(x.shape)
    new_axes, index_axes, out_axis = [], [], 0
    for s in specs:
        if s[0] == "new":
            new_axes.append(out_axis)
            out_axis += 1
            continue
        ax = s[1]
        dim = x.shape[ax]
        if s[0] == "index":
            k = s[2]
            if dim is None:
                raise ShapeError(f"{node.name}: the gradient of indexing needs a known dimension {ax}")
            start = k if k >= 0 else dim + k
            paddings[ax] = (start, dim - start - 1)
            index_axes.append(ax)
            continue
        _, _, start, stop, step = s
        out_axis += 1
        if step != 1:
            raise InvalidArgumentError(f"{node.name}: the gradient of a slice with step {step} is not supported")
        if dim is None:
            if start not in (None, 0) or stop is not None:
                raise ShapeError(f"{node.name}: the gradient of a partial slice needs a known dimension {ax}")
            continue
        start, stop, _ = slice(start, stop, step).indices(dim)
        paddings[ax] = (start, dim - max(stop, start))
    if new_axes:
        g = squeeze(g, new_axes)
    for ax in sorted(index_axes):
        g = expand_dims(g, ax)
    return [pad(g, paddings)]


def _concat_vjp(node, grads):
    ax = normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))
    sizes = [t.shape[ax] for t in node.inputs]
    if None in sizes:
        raise ShapeError(f"{node.name}: the gradient of concat needs known sizes along axis {ax}, got {sizes}")
    return list(split(grads[0], sizes, axis=ax))


def _split_vjp(node, grads):
    parts = [g if g is not None else zeros_like(t) for g, t in zip(grads, node.outputs)]
    return [concat(parts, axis=node.attrs["axis"])]


def _transpose_vjp(node, grads):
    perm = node.attrs["perm"]
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return [transpose(grads[0], inv)]


def _pad_vjp(node, grads):
    if node.attrs["mode"] != "CONSTANT":  # the mirrored borders folded back (grad_ops.mirror_pad_grad)
        return [apply_op("mirror_pad_grad", [grads[0], node.inputs[0]], paddings=node.attrs["paddings"],
                         mode=node.attrs["mode"])]
    x = node.inputs[0]
    key = tuple(slice(a, (a + d) if d is not None else (-c if c else None))
                for (a, c), d in zip(node.attrs["paddings"], x.shape))
    return [apply_op("strided_slice", [grads[0]], key=key)]


def _tile_vjp(node, grads):
    return [apply_op("tile_grad", [grads[0], node.inputs[0]], multiples=node.attrs["multiples"])]


def _cast_vjp(node, grads):
    x = node.inputs[0]
    return [cast(grads[0], x.dtype) if x.dtype.is_floating else None]


def _attach_vjps():
    from .registry import get_op

    for n in ("reshape", "flatten", "squeeze", "expand_dims"):
        get_op(n).vjp = lambda node, grads: [_reshape_like(grads[0], node.inputs[0])]
    get_op("strided_slice").vjp = _slice_vjp
    get_op("concat").vjp = _concat_vjp
    get_op("split").vjp = _split_vjp
    get_op("transpose").vjp = _transpose_vjp
    get_op("pad").vjp = _pad_vjp
    get_op("tile").vjp = _tile_vjp
    get_op("cast").vjp = _cast_vjp


_attach_vjps()
