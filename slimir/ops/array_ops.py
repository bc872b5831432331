"""TF's array_ops names (tf.constant, tf.reshape, tf.concat, tf.pad, ...) over the op families that define them,
for model code written against TF's module layout. No op is defined here."""

from .array import (  # noqa: F401
                    cast,
                    concat,
                    constant,
                    expand_dims,
                    fill,
                    identity,
                    one_hot,
                    ones,
                    ones_like,
                    placeholder,
                    placeholder_with_default,
                    reshape,
                    shape,
                    split,
                    squeeze,
                    stop_gradient,
                    tile,
                    to_float,
                    transpose,
                    zeros,
                    zeros_like,
)
from .slicing import pad, slice_, strided_slice_getitem  # noqa: F401
