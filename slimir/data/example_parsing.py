"""Stage 1 of tfexample_decoder: feature specs (FixedLenFeature, VarLenFeature, FixedLenSequenceFeature) and the
parsing of a tf.train.Example / SequenceExample record into numpy values (TF's parse_single_example)."""

from __future__ import annotations

from typing import Mapping, NamedTuple, Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DataLossError, DTypeError, InvalidArgumentError, ShapeError, SlimirError
from .example import Example, SequenceExample, feature_to_value, parse_example_proto

string = "string"  # the dtype of bytes features (TF's tf.string); `slim.data.string` is accepted too


def _kind(dtype) -> str:
    """'int64', 'float32' or 'string': the three element types an Example can hold."""
    if isinstance(dtype, str) and dtype in ("string", "bytes", "str"):
        return "string"
    if dtype in (str, bytes, np.bytes_, np.str_, object) or getattr(dtype, "name", None) == "string":
        return "string"
    try:
        d = _dt.as_dtype(dtype)
    except DTypeError:
        d = None
    if d is _dt.int64:
        return "int64"
    if d is _dt.float32:
        return "float32"
    raise DTypeError(f"an Example feature's dtype must be int64, float32 or string, got {dtype!r}")


_NP = {"int64": np.int64, "float32": np.float32, "string": object}
_PROTO_KIND = {"int64_list": "int64", "float_list": "float32", "bytes_list": "string"}


class FixedLenFeature(
    NamedTuple("FixedLenFeature", [("shape", tuple), ("dtype", object), ("default_value", object)])
):
    """A feature with a fixed number of values, parsed to an array of `shape` (TF's `tf.io.FixedLenFeature`).

    A record without the feature gets `default_value` (broadcast to `shape`); with no default it is an error.
    """

    def __new__(cls, shape, dtype, default_value=None):
        if shape is None:
            raise ShapeError("FixedLenFeature needs a shape ([] or () for a scalar)")
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ShapeError(f"FixedLenFeature shape must be fully defined, got {list(shape)}")
        kind = _kind(dtype)
        spec = super().__new__(cls, shape, dtype, default_value)
        if default_value is not None:
            try:
                _default(spec, kind, "default_value")
            except (TypeError, ValueError) as e:
                if isinstance(e, SlimirError):
                    raise
                raise DTypeError(
                    f"FixedLenFeature default_value {default_value!r:.60} is not a Python/numpy {kind} value "
                    f"({e})"
                ) from None
        return spec


class VarLenFeature(NamedTuple("VarLenFeature", [("dtype", object)])):
    """A feature with any number of values, parsed into a `SparseValue` (TF's `tf.io.VarLenFeature`)."""

    def __new__(cls, dtype):
        _kind(dtype)
        return super().__new__(cls, dtype)


class FixedLenSequenceFeature(
    NamedTuple(
        "FixedLenSequenceFeature",
        [("shape", tuple), ("dtype", object), ("allow_missing", bool), ("default_value", object)],
    )
):
    """Per-step values of a SequenceExample feature list, each of `shape`: parsed to a [steps, *shape] array
    (TF's `tf.io.FixedLenSequenceFeature`). `allow_missing=True` gives [0, *shape] for an absent list."""

    def __new__(cls, shape, dtype, allow_missing: bool = False, default_value=None):
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ShapeError(f"FixedLenSequenceFeature shape must be fully defined, got {list(shape)}")
        _kind(dtype)
        return super().__new__(cls, shape, dtype, bool(allow_missing), default_value)


class SparseValue(NamedTuple):
    """A parsed `VarLenFeature` (a SparseTensor value): `indices` [n, 1], `values` [n], `dense_shape` [1]."""

    indices: np.ndarray
    values: np.ndarray
    dense_shape: np.ndarray

    def to_dense(self, default_value=0) -> np.ndarray:
        """The dense array (1-D: the values; `default_value` fills unset positions of other shapes)."""
        shape = tuple(int(s) for s in self.dense_shape)
        out = np.full(shape, default_value, dtype=self.values.dtype)
        if self.values.size:
            idx = np.asarray(self.indices, dtype=np.int64).reshape(len(self.values), len(shape))
            if (idx < 0).any() or (idx >= np.asarray(shape, dtype=np.int64)).any():
                raise ShapeError(f"sparse indices outside the dense shape {list(shape)}")
            out[tuple(idx.T)] = self.values
        return out


# ------------------------------------------------------------------------------------------------ parsing


def _values_of(raw, kind: str, key: str, where: str) -> np.ndarray:
    """Flat numpy values of one raw feature (a proto Feature, or a dict value) checked against `kind`."""
    if hasattr(raw, "WhichOneof"):  # a tf.train.Feature message
        stored = raw.WhichOneof("kind")
        if stored is not None and _PROTO_KIND[stored] != kind:
            raise DTypeError(
                f"{where}: feature {key!r} holds {_PROTO_KIND[stored]} values, its spec wants {kind}"
            )
        raw = feature_to_value(raw)
    if kind == "string":
        if isinstance(raw, (bytes, bytearray, memoryview, str, np.bytes_)):
            raw = [raw]
        flat = np.asarray(raw, dtype=object).reshape(-1) if not isinstance(raw, list) else None
        vals = raw if flat is None else flat.tolist()
        out = np.empty(len(vals), dtype=object)
        for i, v in enumerate(vals):
            if isinstance(v, str):
                v = v.encode("utf-8")
            elif isinstance(v, (bytearray, memoryview, np.bytes_)):
                v = bytes(v)
            elif not isinstance(v, bytes):
                raise DTypeError(f"{where}: feature {key!r} should hold bytes, found {type(v).__name__}")
            out[i] = v
        return out
    arr = np.asarray(raw)
    if arr.size == 0:
        return np.empty(0, dtype=_NP[kind])
    if arr.dtype.kind not in "biuf" or (kind == "int64" and arr.dtype.kind == "f"):
        raise DTypeError(f"{where}: feature {key!r} holds {arr.dtype} values, its spec wants {kind}")
    return arr.reshape(-1).astype(_NP[kind], copy=False)


def _default(spec: FixedLenFeature, kind: str, key: str) -> np.ndarray:
    d = spec.default_value
    if kind == "string":
        d = np.asarray(
            _values_of(d if isinstance(d, (list, tuple, np.ndarray)) else [d], kind, key, "default")
        )
    else:
        d = np.asarray(d, dtype=_NP[kind])
    try:
        if d.size == int(np.prod(spec.shape, dtype=np.int64)):
            return d.reshape(spec.shape).copy()
        return np.array(np.broadcast_to(d, spec.shape))
    except ValueError:
        raise ShapeError(
            f"feature {key!r}: default_value of shape {list(d.shape)} does not fit the feature's "
            f"shape {list(spec.shape)}"
        ) from None


def _is_missing(raw) -> bool:
    return raw is None or (hasattr(raw, "WhichOneof") and raw.WhichOneof("kind") is None)


def parse_single_example(record, keys_to_features: Mapping[str, object], where: str = "record") -> dict:
    """Stage 1: `{key: parsed value}` for every spec in `keys_to_features` (TF's `parse_single_example`).

    `record`: serialized Example bytes, an `Example`, or a dict of raw feature values. `where` names
    the record in error messages (e.g. 'flowers_train_00000-of-00005.tfrecord:17').
    """
    if isinstance(record, (bytes, bytearray, memoryview)):
        feats = parse_example_proto(record, where).features.feature
    elif isinstance(record, Example):
        feats = record.features.feature
    elif isinstance(record, Mapping):
        feats = record
    else:
        raise InvalidArgumentError(
            f"{where}: cannot parse a {type(record).__name__} as an Example "
            "(expected bytes, an Example or a dict)"
        )
    out = {}
    for key, spec in keys_to_features.items():
        raw = feats[key] if key in feats else None
        if isinstance(spec, VarLenFeature):
            kind = _kind(spec.dtype)
            vals = np.empty(0, dtype=_NP[kind]) if _is_missing(raw) else _values_of(raw, kind, key, where)
            out[key] = SparseValue(
                np.arange(vals.size, dtype=np.int64).reshape(-1, 1),
                vals,
                np.array([vals.size], dtype=np.int64),
            )
        elif isinstance(spec, FixedLenFeature):
            kind = _kind(spec.dtype)
            if _is_missing(raw):
                if spec.default_value is None:
                    raise InvalidArgumentError(
                        f"{where}: feature {key!r} is required (a FixedLenFeature without "
                        "default_value) but the record does not have it"
                    )
                out[key] = _default(spec, kind, key)
                continue
            vals = _values_of(raw, kind, key, where)
            want = int(np.prod(spec.shape, dtype=np.int64))
            if vals.size != want:
                raise ShapeError(
                    f"{where}: feature {key!r} has {vals.size} values, its FixedLenFeature shape "
                    f"{list(spec.shape)} needs {want}"
                )
            out[key] = vals.reshape(spec.shape)
        else:
            raise InvalidArgumentError(
                f"keys_to_features[{key!r}] must be a FixedLenFeature or VarLenFeature, "
                f"got {type(spec).__name__}"
            )
    return out


def _sequence_example(record, where: str):
    if isinstance(record, SequenceExample):
        return record
    if not isinstance(record, (bytes, bytearray, memoryview)):
        raise InvalidArgumentError(
            f"{where}: cannot parse a {type(record).__name__} as a SequenceExample (expected bytes/message)"
        )
    msg = SequenceExample()
    try:
        msg.ParseFromString(bytes(record))
    except Exception as e:  # protobuf's DecodeError and friends
        raise DataLossError(
            f"{where}: not a valid tf.train.SequenceExample ({type(e).__name__}: {e})"
        ) from None
    return msg


def parse_single_sequence_example(
    record,
    context_features: Optional[Mapping[str, object]] = None,
    sequence_features: Optional[Mapping[str, object]] = None,
    where: str = "record",
) -> tuple:
    """`(context, sequences)` of a SequenceExample (TF's `parse_single_sequence_example`).

    Context specs are FixedLen/VarLen features. Sequence specs: `FixedLenSequenceFeature` -> [steps, *shape]
    array; `VarLenFeature` -> a `SparseValue` with indices [step, j] and dense_shape [steps, longest step].
    """
    msg = _sequence_example(record, where)
    context = parse_single_example(dict(msg.context.feature), context_features or {}, where)
    lists = msg.feature_lists.feature_list
    sequences = {}
    for key, spec in (sequence_features or {}).items():
        steps = list(lists[key].feature) if key in lists else None
        if isinstance(spec, FixedLenSequenceFeature):
            kind = _kind(spec.dtype)
            if steps is None:
                if not spec.allow_missing:
                    raise InvalidArgumentError(
                        f"{where}: feature list {key!r} is required (allow_missing=False); it is absent"
                    )
                steps = []
            want = int(np.prod(spec.shape, dtype=np.int64))
            rows = []
            for t, step in enumerate(steps):
                vals = _values_of(step, kind, key, where)
                if vals.size != want:
                    raise ShapeError(
                        f"{where}: feature list {key!r}, step {t}: {vals.size} values, its shape "
                        f"{list(spec.shape)} needs {want}"
                    )
                rows.append(vals.reshape(spec.shape))
            sequences[key] = np.stack(rows) if rows else np.zeros((0,) + spec.shape, dtype=_NP[kind])
        elif isinstance(spec, VarLenFeature):
            kind = _kind(spec.dtype)
            per_step = [_values_of(step, kind, key, where) for step in steps or []]
            indices = [(t, j) for t, v in enumerate(per_step) for j in range(v.size)]
            values = np.concatenate(per_step) if per_step else np.empty(0, dtype=_NP[kind])
            sequences[key] = SparseValue(
                np.array(indices, dtype=np.int64).reshape(-1, 2),
                values.astype(_NP[kind], copy=False),
                np.array([len(per_step), max((v.size for v in per_step), default=0)], dtype=np.int64),
            )
        else:
            raise InvalidArgumentError(
                f"keys_to_sequence_features[{key!r}] must be a FixedLenSequenceFeature or VarLenFeature, "
                f"got {type(spec).__name__}"
            )
    return context, sequences
