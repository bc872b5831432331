"""TF's tensor_util module (constant_value, make_ndarray) and static_ints: values known while the graph is built,
evaluated with the ops' numpy references. They are defined in slimir/ops/static.py, where the ops that take such
values (pad, range, resize, ...) can use them."""

from .ops.static import MAX_VALUES, constant_value, make_ndarray, static_ints  # noqa: F401

__all__ = ["constant_value", "make_ndarray", "static_ints"]
