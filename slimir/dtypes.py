"""Data types: TF's names (`slim.float32`, ...) mapped to numpy and ONNX element types."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from .errors import DTypeError


class DType:
    """A tensor element type with its numpy and ONNX equivalents."""

    __slots__ = ("name", "np", "onnx")

    def __init__(self, name: str, np_dtype, onnx_type: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.onnx = onnx_type

    @property
    def is_floating(self) -> bool:
        return self.np.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self.np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.np.kind == "b"

    @property
    def as_numpy_dtype(self):
        return self.np.type

    @property
    def base_dtype(self) -> "DType":
        return self

    def __repr__(self) -> str:
        return f"slim.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float16 = DType("float16", np.float16, TensorProto.FLOAT16)
float32 = DType("float32", np.float32, TensorProto.FLOAT)
float64 = DType("float64", np.float64, TensorProto.DOUBLE)
int8 = DType("int8", np.int8, TensorProto.INT8)
uint8 = DType("uint8", np.uint8, TensorProto.UINT8)
int16 = DType("int16", np.int16, TensorProto.INT16)
int32 = DType("int32", np.int32, TensorProto.INT32)
int64 = DType("int64", np.int64, TensorProto.INT64)
bool_ = DType("bool", np.bool_, TensorProto.BOOL)

ALL = [float16, float32, float64, int8, uint8, int16, int32, int64, bool_]
_BY_NAME = {d.name: d for d in ALL}
_BY_NP = {d.np: d for d in ALL}
_BY_ONNX = {d.onnx: d for d in ALL}


def as_dtype(value) -> DType:
    """Turn a DType, its name, a numpy dtype or an ONNX element type into a DType."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    if isinstance(value, int) and not isinstance(value, bool) and value in _BY_ONNX:
        return _BY_ONNX[value]
    try:
        npd = np.dtype(value)
    except TypeError:
        npd = None
    if npd is not None and npd in _BY_NP:
        return _BY_NP[npd]
    raise DTypeError(f"slimir does not support the dtype {value!r}; use one of {sorted(_BY_NAME)}")
