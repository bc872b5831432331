"""Host tensors: per-example values computed in Python on the host, before they become a batch.

A data provider's items (`image, label = provider.get(['image', 'label'])`) are `HostTensor`s, not
IR tensors: each stands for "this value, for whichever example the pipeline is reading". They are
lazy; `slim.train.batch` runs them example after example in background threads and feeds the
batches into graph placeholders.

    image = slim.to_float(image) / 255.            # operators and most slim ops map elementwise
    image = image.map(my_crop, shape=[24, 24, 3])  # any numpy function of one example
    image = image.map(lambda v, rng: v + rng.normal(size=v.shape), random=True)

`map(fn, random=True)` calls `fn(value, rng)` with a `np.random.Generator` derived from the
pipeline's seed, the epoch and the example's index (and the map's position in the program), so the
results do not depend on the number of threads.
"""

from __future__ import annotations

import abc
import itertools
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, GraphError, InputPipelineError, InvalidArgumentError, ShapeError
from ..ir.registry import Spec, get_op, register_dispatch


class HostDType:
    """A host-only element type (byte strings such as serialized records); never a graph dtype."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    is_floating = is_integer = is_bool = False

    def __repr__(self) -> str:
        return f"slim.data.{self.name}"


string = HostDType("string")

_PY_OBJECT = HostDType("object")  # a decoder's tuple of items, internal


def as_host_dtype(value) -> Any:
    """A slimir DType (or `string`) for `value`; None stays None (unknown)."""
    if value is None or isinstance(value, HostDType):
        return value
    if value in (str, bytes) or (isinstance(value, np.dtype) and value.kind in "SUO"):
        return string
    return _dt.as_dtype(value)


def dtype_of(value) -> Any:
    """The dtype a computed per-example value has."""
    if isinstance(value, (bytes, str)):
        return string
    arr = np.asarray(value)
    if arr.dtype.kind in "SUO":
        return string
    return _dt.as_dtype(arr.dtype)


def _norm_shape(shape) -> Optional[list]:
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        shape = [shape]
    try:
        return [None if d is None or int(d) < 0 else int(d) for d in shape]
    except (TypeError, ValueError):
        raise ShapeError(f"a host tensor's shape must be a list of ints or None, got {shape!r}") from None


class HostSource(abc.ABC):
    """The root of a family of host tensors: what produces one example from (epoch, index).

    Subclasses implement `tasks(seed, stop)` (yield `(epoch, index, root value or MISSING)` in
    reading order until the input ends or `stop` is set), `first_task()` (one such triple, to learn
    shapes and dtypes), `produce(epoch, index) -> value` (the root value of a MISSING task) and
    `describe(index) -> str` (where the example comes from, for error messages).
    `parallel_reader.RecordSource` is the one slim.data uses.
    """

    name = "host"

    def __init__(self):
        self._serials = itertools.count()

    def next_serial(self) -> int:
        return next(self._serials)

    @abc.abstractmethod
    def tasks(self, seed: int, stop):
        """Yield `(epoch, index, root value or MISSING)` in reading order until the input ends or `stop` is set."""

    @abc.abstractmethod
    def first_task(self) -> tuple:
        """One `(epoch, index, value)` triple, to learn shapes and dtypes."""

    @abc.abstractmethod
    def produce(self, epoch: int, index: int):
        """The root value of a MISSING task."""

    def describe(self, index: int) -> str:
        return f"example {index}"


class HostTensor:
    """A per-example value of one `HostSource` (see the module docstring).

    Attributes: `shape` (list with None for unknown dims, or None for an unknown rank), `dtype`
    (a slimir dtype, `slim.data.string`, or None while unknown) and `name`.
    """

    _slimir_host_tensor = True  # lets graph ops recognise a host tensor without importing this module
    __array_priority__ = 1000  # numpy scalars on the left defer to our reflected operators

    def __init__(self, source: HostSource, parents: Sequence["HostTensor"], fn: Optional[Callable], *,
                 shape=None, dtype=None, name: str = "host", random: bool = False):
        self.source = source
        self.parents = tuple(parents)
        self.fn = fn
        self.random = bool(random)
        self.serial = source.next_serial()
        self.shape = _norm_shape(shape)
        self.dtype = as_host_dtype(dtype)
        self.name = name

    # -- building
    def map(self, fn: Callable, *, shape=None, dtype=None, random: bool = False) -> "HostTensor":
        """A new host tensor `fn(value)` (or `fn(value, rng)` with `random=True`), computed lazily.

        `shape`/`dtype` declare the result's static shape and dtype; left None they are unknown
        until `slim.train.batch` looks at the first example.
        """
        if not callable(fn):
            raise InvalidArgumentError(f"{self.name}: map needs a callable, got {fn!r}")
        return HostTensor(self.source, [self], fn, shape=shape, dtype=dtype, random=random,
                          name=f"{self.name}/{getattr(fn, '__name__', 'map')}".replace("<lambda>", "map"))

    def astype(self, dtype) -> "HostTensor":
        """This value cast to `dtype` (numpy's astype; TF's tf.cast)."""
        dt = _dt.as_dtype(dtype)
        return HostTensor(self.source, [self], lambda v, _t=dt.np: np.asarray(v).astype(_t), shape=self.shape,
                          dtype=dt, name=f"{self.name}/Cast")

    cast = astype

    def get_shape(self):
        from ..shape import Shape

        if self.shape is None:
            raise ShapeError(f"{self.name}: the rank of this host tensor is unknown")
        return Shape(self.shape)

    @property
    def ndim(self) -> Optional[int]:
        return None if self.shape is None else len(self.shape)

    def __repr__(self) -> str:
        shape = "unknown" if self.shape is None else "[" + ", ".join("None" if d is None else str(d)
                                                                      for d in self.shape) + "]"
        dt = self.dtype.name if self.dtype is not None else "unknown"
        return f"<slim.data.HostTensor '{self.name}' shape={shape} dtype={dt}>"

    def __bool__(self):
        raise TypeError(f"{self.name}: a host tensor has no truth value (it stands for every example)")

    def __iter__(self):
        raise TypeError(f"{self.name}: a host tensor is not iterable")

    # -- numpy-style operators (TF's operator semantics: a Python number takes the tensor's dtype)
    def _binary(self, other, op: str, ufunc, reverse: bool = False) -> "HostTensor":
        return apply_binary(op, ufunc, other, self) if reverse else apply_binary(op, ufunc, self, other)

    def __add__(self, o):
        return self._binary(o, "add", np.add)

    def __radd__(self, o):
        return self._binary(o, "add", np.add, True)

    def __sub__(self, o):
        return self._binary(o, "sub", np.subtract)

    def __rsub__(self, o):
        return self._binary(o, "sub", np.subtract, True)

    def __mul__(self, o):
        return self._binary(o, "mul", np.multiply)

    def __rmul__(self, o):
        return self._binary(o, "mul", np.multiply, True)

    def __truediv__(self, o):
        return self._binary(o, "div", _div)

    def __rtruediv__(self, o):
        return self._binary(o, "div", _div, True)

    def __floordiv__(self, o):
        return self._binary(o, "floordiv", np.floor_divide)

    def __rfloordiv__(self, o):
        return self._binary(o, "floordiv", np.floor_divide, True)

    def __mod__(self, o):
        return self._binary(o, "mod", np.mod)

    def __rmod__(self, o):
        return self._binary(o, "mod", np.mod, True)

    def __pow__(self, o):
        return self._binary(o, "pow", np.power)

    def __neg__(self):
        return HostTensor(self.source, [self], np.negative, shape=self.shape, dtype=self.dtype,
                          name=f"{self.name}/Neg")

    def __abs__(self):
        return HostTensor(self.source, [self], np.abs, shape=self.shape, dtype=self.dtype, name=f"{self.name}/Abs")

    def __getitem__(self, key) -> "HostTensor":
        return HostTensor(self.source, [self], lambda v, _k=key: np.asarray(v)[_k], shape=None, dtype=self.dtype,
                          name=f"{self.name}/getitem")


def _div(a, b):
    """TF's `/`: floor division for integers (as slimir's graph `div`), true division for floats."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return np.floor_divide(a, b)
    return np.true_divide(a, b)


def _scalar_like(value, dtype, what: str) -> np.ndarray:
    """A Python/numpy value as an array of the host tensor's dtype (TF: the tensor's dtype wins)."""
    arr = np.asarray(value)
    if dtype is None or isinstance(dtype, HostDType):
        return arr
    if arr.dtype.kind == "f" and dtype.is_integer and not np.all(np.floor(arr) == arr):
        raise DTypeError(f"{what}: cannot use the value {value!r} with a host tensor of dtype {dtype.name} "
                         f"(cast it first, e.g. slim.to_float(x))")
    return arr.astype(dtype.np)


def _broadcast(a, b):
    if a is None or b is None:
        return None
    from ..shape import broadcast

    out = broadcast(tuple(a), tuple(b))
    return None if out is None else list(out)


def _check_same_source(tensors, what: str) -> HostSource:
    sources = {id(t.source): t.source for t in tensors}
    if len(sources) > 1:
        raise GraphError(f"{what}: host tensors {[t.name for t in tensors]} come from different data providers; "
                         "combine values of one provider only")
    return next(iter(sources.values()))


def apply_binary(op: str, ufunc: Callable, x, y) -> HostTensor:
    """`ufunc(x, y)` where at least one of x, y is a HostTensor and the other a number or array."""
    hx, hy = isinstance(x, HostTensor), isinstance(y, HostTensor)
    for v in (x, y):
        if getattr(v, "graph", None) is not None and not isinstance(v, HostTensor):
            raise GraphError(f"{op}: cannot combine a host tensor with the graph tensor {getattr(v, 'name', v)}; "
                             "batch the host tensor first (slim.train.batch)")
    if hx and hy:
        src = _check_same_source([x, y], op)
        if x.dtype is not None and y.dtype is not None and x.dtype is not y.dtype:
            raise DTypeError(f"{op}: host tensors {x.name} ({x.dtype.name}) and {y.name} ({y.dtype.name}) have "
                             "different dtypes; cast one first")
        dt = x.dtype if x.dtype is not None else y.dtype
        shape = _broadcast(x.shape, y.shape)
        return HostTensor(src, [x, y], lambda a, b: _keep(ufunc(a, b), dt), shape=shape, dtype=dt,
                          name=f"{x.name}/{op}")
    h, other = (x, y) if hx else (y, x)
    const = _scalar_like(other, h.dtype, f"{h.name}/{op}")
    shape = _broadcast(h.shape, list(const.shape))
    dt = h.dtype
    if hx:
        def fn(a, _c=const):
            return _keep(ufunc(a, _c), dt)
    else:
        def fn(a, _c=const):
            return _keep(ufunc(_c, a), dt)
    return HostTensor(h.source, [h], fn, shape=shape, dtype=dt, name=f"{h.name}/{op}")


def _keep(value, dtype):
    """Keep the declared dtype (numpy may widen, e.g. uint8 * 2 -> int64 on old numpy)."""
    if dtype is None or isinstance(dtype, HostDType):
        return value
    arr = np.asarray(value)
    return arr if arr.dtype == dtype.np else arr.astype(dtype.np)


def apply_host_op(op_type: str, inputs: Sequence, attrs: dict) -> HostTensor:
    """A graph op applied to host tensors: its numpy reference mapped over the examples.

    The op registry's dispatch hook for host tensors: `apply_op` calls it when an input is a
    HostTensor, so `slim.to_float(image)`, `slim.expand_dims(label, 0)`, `slim.subtract(image, 128.)`
    and similar calls work on a data provider's items as in TF-Slim code.
    """
    op = get_op(op_type)
    hosts = [x for x in inputs if isinstance(x, HostTensor)]
    src = _check_same_source(hosts, op_type)
    if op.reference is None or op.stateful:
        raise InvalidArgumentError(f"{op_type} cannot run on host tensors ({hosts[0].name}); batch them first")
    dt0 = next((h.dtype for h in hosts if h.dtype is not None), None)
    slots = []  # per input: ('h', index into hosts) or ('c', constant array)
    for x in inputs:
        if isinstance(x, HostTensor):
            slots.append(("h", hosts.index(x)))
        elif getattr(x, "graph", None) is not None:
            raise GraphError(f"{op_type}: cannot combine host tensor {hosts[0].name} with the graph tensor "
                             f"{getattr(x, 'name', x)}; batch the host tensor first (slim.train.batch)")
        else:
            slots.append(("c", _scalar_like(x, dt0, f"{hosts[0].name}/{op_type}")))
    # static shape and dtype from the op's own rule, where the inputs' are known
    shape, dtype = None, None
    known = all(h.shape is not None and isinstance(h.dtype, _dt.DType) for h in hosts)
    if known:
        specs = []
        for k, v in slots:
            if k == "h":
                specs.append(Spec(tuple(hosts[v].shape), hosts[v].dtype))
            else:
                specs.append(Spec(tuple(v.shape), _dt.as_dtype(v.dtype)))
        try:
            outs = op.shape(specs, **attrs)
        except (ShapeError, InvalidArgumentError, DTypeError) as e:
            raise type(e)(f"{hosts[0].name}/{op_type}: {e}") from None
        if len(outs) != 1:
            raise InvalidArgumentError(f"{op_type} has {len(outs)} outputs; only single-output ops run on host "
                                       "tensors")
        shape, dtype = list(outs[0].shape), outs[0].dtype
    ref = op.reference

    def fn(*values):
        args = [np.asarray(values[v]) if k == "h" else v for k, v in slots]
        return ref(*args, **attrs)

    return HostTensor(src, hosts, fn, shape=shape, dtype=dtype, name=f"{hosts[0].name}/{op.default_name}")


# ------------------------------------------------------------------------------------------
# Evaluation of one example


class _NodeFailure(Exception):
    """A map/decoder failed: which host tensor, and the original exception (as __cause__)."""

    def __init__(self, tensor: HostTensor, exc: BaseException):
        super().__init__(tensor.name)
        self.tensor = tensor
        self.exc = exc


def example_rng(seed: int, epoch: int, index: int, serial: int) -> np.random.Generator:
    """The generator a random map gets for one example: a pure function of its arguments."""
    return np.random.default_rng([seed & 0xFFFFFFFF, epoch & 0xFFFFFFFF, index & 0xFFFFFFFFFFFF, serial])


MISSING = object()  # "the root value is not given: let the source produce it"


def evaluate(tensors: Sequence[HostTensor], epoch: int, index: int, seed: int, root=MISSING) -> list:
    """The values of `tensors` for example `index` of `epoch` (each node computed once).

    `root`: the source's value for this example when it was read already (iterated readers).
    """
    memo: dict = {}
    source = tensors[0].source

    def ev(t: HostTensor):
        key = id(t)
        if key in memo:
            return memo[key]
        try:
            if t.fn is None:
                value = source.produce(epoch, index) if root is MISSING else root
            else:
                args = [ev(p) for p in t.parents]
                if t.random:
                    args.append(example_rng(seed, epoch, index, t.serial))
                value = t.fn(*args)
        except _NodeFailure:
            raise
        except Exception as e:  # a user's map, a reader or a decoder failed
            raise _NodeFailure(t, e) from e
        memo[key] = value
        return value

    return [ev(t) for t in tensors]


def pipeline_error(name: str, what: str, exc: BaseException) -> InputPipelineError:
    """The error `sess.run` raises for an exception inside the pipeline (chained to the original).

    `what`: what failed, e.g. "DatasetDataProvider/image/crop on record 5 of 'train.tfrecord'".
    """
    err = InputPipelineError(f"input pipeline {name}: {what} failed: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


register_dispatch(lambda value: isinstance(value, HostTensor), apply_host_op)
