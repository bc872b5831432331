"""TF's math_ops names (tf.add, tf.reduce_sum, tf.matmul, ...) over the op families that define them, for model
code written against TF's module layout (slimir.nets, ported TF-Slim code). No op is defined here."""

from .array import cast, to_float  # noqa: F401
from .elementwise import (abs, add, add_n, ceil, clip_by_value, div, divide, elu, equal, exp, floor,  # noqa: F401,A004
                          greater, greater_equal, leaky_relu, less, less_equal, log, logical_and, logical_not,
                          logical_or, maximum, minimum, mul, multiply, neg, negative, not_equal, pow, reciprocal,
                          relu, relu6, rsqrt, sigmoid, sign, softplus, softsign, sqrt, square, squared_difference,
                          sub, subtract, tanh, truediv, unbroadcast, where)
from .matmul import matmul  # noqa: F401
from .reduce import argmax, argmin, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum  # noqa: F401
