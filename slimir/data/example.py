"""`tf.train.Example` and its parts as protobuf messages, wire-compatible with TensorFlow's example.proto.

The message classes are built at import time from a descriptor written here (package `tensorflow`, the field
numbers of tensorflow/core/example/{feature,example}.proto) in a private descriptor pool, so they never clash
with TensorFlow's own classes if both are loaded. `example_from_dict` / `example_to_dict` convert between
Examples and plain dicts of Python / numpy values.
"""

from __future__ import annotations

from typing import Mapping, Union

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from ..errors import DataLossError, DTypeError, InvalidArgumentError

__all__ = [
    "BytesList",
    "FloatList",
    "Int64List",
    "Feature",
    "Features",
    "FeatureList",
    "FeatureLists",
    "Example",
    "SequenceExample",
    "example_from_dict",
    "example_to_dict",
    "parse_example_proto",
    "feature_from_value",
    "feature_to_value",
]

_F = descriptor_pb2.FieldDescriptorProto


def _field(
    msg,
    name: str,
    number: int,
    ftype: int,
    label: int = _F.LABEL_OPTIONAL,
    type_name: str = "",
    packed: bool = False,
    oneof_index=None,
):
    f = msg.field.add(name=name, number=number, type=ftype, label=label, json_name=_camel(name))
    if type_name:
        f.type_name = type_name
    if packed:
        f.options.packed = True
    if oneof_index is not None:
        f.oneof_index = oneof_index
    return f


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _map_entry(msg, entry_name: str, value_type: str):
    """A proto3 `map<string, value_type>`: a nested `<Name>Entry {key = 1; value = 2}`, map_entry set."""
    entry = msg.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, type_name=value_type)


def _build_pool() -> descriptor_pool.DescriptorPool:
    feature = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/example/feature.proto", package="tensorflow", syntax="proto3"
    )
    m = feature.message_type.add(name="BytesList")
    _field(m, "value", 1, _F.TYPE_BYTES, _F.LABEL_REPEATED)
    m = feature.message_type.add(name="FloatList")
    _field(m, "value", 1, _F.TYPE_FLOAT, _F.LABEL_REPEATED, packed=True)
    m = feature.message_type.add(name="Int64List")
    _field(m, "value", 1, _F.TYPE_INT64, _F.LABEL_REPEATED, packed=True)
    m = feature.message_type.add(name="Feature")
    m.oneof_decl.add(name="kind")
    _field(m, "bytes_list", 1, _F.TYPE_MESSAGE, type_name=".tensorflow.BytesList", oneof_index=0)
    _field(m, "float_list", 2, _F.TYPE_MESSAGE, type_name=".tensorflow.FloatList", oneof_index=0)
    _field(m, "int64_list", 3, _F.TYPE_MESSAGE, type_name=".tensorflow.Int64List", oneof_index=0)
    m = feature.message_type.add(name="Features")
    _map_entry(m, "FeatureEntry", ".tensorflow.Feature")
    _field(m, "feature", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, type_name=".tensorflow.Features.FeatureEntry")
    m = feature.message_type.add(name="FeatureList")
    _field(m, "feature", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, type_name=".tensorflow.Feature")
    m = feature.message_type.add(name="FeatureLists")
    _map_entry(m, "FeatureListEntry", ".tensorflow.FeatureList")
    _field(
        m,
        "feature_list",
        1,
        _F.TYPE_MESSAGE,
        _F.LABEL_REPEATED,
        type_name=".tensorflow.FeatureLists.FeatureListEntry",
    )

    example = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/example/example.proto",
        package="tensorflow",
        syntax="proto3",
        dependency=[feature.name],
    )
    m = example.message_type.add(name="Example")
    _field(m, "features", 1, _F.TYPE_MESSAGE, type_name=".tensorflow.Features")
    m = example.message_type.add(name="SequenceExample")
    _field(m, "context", 1, _F.TYPE_MESSAGE, type_name=".tensorflow.Features")
    _field(m, "feature_lists", 2, _F.TYPE_MESSAGE, type_name=".tensorflow.FeatureLists")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(feature)
    pool.Add(example)
    return pool


_POOL = _build_pool()


def _message(name: str):
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName("tensorflow." + name))


BytesList = _message("BytesList")
FloatList = _message("FloatList")
Int64List = _message("Int64List")
Feature = _message("Feature")
Features = _message("Features")
FeatureList = _message("FeatureList")
FeatureLists = _message("FeatureLists")
Example = _message("Example")
SequenceExample = _message("SequenceExample")


# ------------------------------------------------------------------------------------------- dict <-> Example


def _as_bytes(v) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview, np.bytes_)):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8")
    raise DTypeError(f"expected bytes or str, got {type(v).__name__}")


def feature_from_value(value, name: str = "?"):
    """A `Feature` for one value: bytes/str -> bytes_list, bool/int -> int64_list, float -> float_list.

    Lists, tuples and numpy arrays (flattened) give multi-valued features; their kind comes from the elements
    (numpy: the dtype). An existing `Feature` passes through.
    """
    if isinstance(value, Feature):
        return value
    if isinstance(value, np.ndarray):
        flat = value.reshape(-1)
        kind = flat.dtype.kind
        if kind in "biu":
            return Feature(int64_list=Int64List(value=flat.astype(np.int64).tolist()))
        if kind == "f":
            return Feature(float_list=FloatList(value=flat.astype(np.float32).tolist()))
        if kind in "SOU":
            return Feature(bytes_list=BytesList(value=[_as_bytes(v) for v in flat.tolist()]))
        raise DTypeError(f"feature {name!r}: cannot store a numpy array of dtype {value.dtype} in an Example")
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise InvalidArgumentError(
            f"feature {name!r}: an empty list has no kind; pass an empty numpy array of the "
            "intended dtype or a Feature"
        )
    try:
        if all(isinstance(v, (bytes, bytearray, memoryview, str, np.bytes_)) for v in values):
            return Feature(bytes_list=BytesList(value=[_as_bytes(v) for v in values]))
        if all(isinstance(v, (bool, int, np.integer, np.bool_)) for v in values):
            return Feature(int64_list=Int64List(value=[int(v) for v in values]))
        if all(isinstance(v, (bool, int, float, np.integer, np.floating, np.bool_)) for v in values):
            return Feature(float_list=FloatList(value=[float(v) for v in values]))
    except ValueError as e:  # e.g. an int outside int64
        raise InvalidArgumentError(f"feature {name!r}: {e}") from None
    kinds = sorted({type(v).__name__ for v in values})
    raise DTypeError(
        f"feature {name!r}: cannot store values of type {', '.join(kinds)} in an Example "
        "(use bytes/str, ints or floats, all of one kind)"
    )


def feature_to_value(feature) -> Union[list, np.ndarray]:
    """The values of a `Feature`: int64 or float32 numpy array, or a list of bytes (empty list if unset)."""
    kind = feature.WhichOneof("kind")
    if kind == "int64_list":
        return np.array(feature.int64_list.value, dtype=np.int64)
    if kind == "float_list":
        return np.array(feature.float_list.value, dtype=np.float32)
    if kind == "bytes_list":
        return list(feature.bytes_list.value)
    return []


def example_from_dict(values: Mapping[str, object]):
    """Build an `Example` from `{feature_name: value}` (see `feature_from_value` for the accepted values)."""
    ex = Example()
    for name, value in values.items():
        if not isinstance(name, str):
            raise InvalidArgumentError(f"Example feature names must be str, got {name!r}")
        ex.features.feature[name].CopyFrom(feature_from_value(value, name))
    return ex


def parse_example_proto(serialized, where: str = "record"):
    """Parse serialized bytes into an `Example`; damaged bytes raise `DataLossError` naming `where`."""
    ex = Example()
    try:
        ex.ParseFromString(bytes(serialized))
    except Exception as e:  # protobuf's DecodeError and friends
        raise DataLossError(f"{where}: not a valid tf.train.Example ({type(e).__name__}: {e})") from None
    return ex


def example_to_dict(example) -> dict:
    """`{feature_name: values}` of an `Example` (or its serialized bytes); see `feature_to_value`."""
    if not isinstance(example, Example):
        example = parse_example_proto(example)
    return {name: feature_to_value(f) for name, f in example.features.feature.items()}
