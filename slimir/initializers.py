"""Initializers: callables `(shape, dtype, partition_info=None, rng=None) -> numpy array` with TF's rules.

Initial values are computed in numpy when the variables are initialised; a graph-level seed
(`slim.set_random_seed`) or an initializer `seed` makes them reproducible.
"""

from __future__ import annotations

import abc
import math
from typing import Optional

import numpy as np

from . import dtypes as _dt
from .errors import DTypeError, InvalidArgumentError
from .ops.random import truncated_normal_np


class Initializer(abc.ABC):
    """Base class: subclasses implement `sample(shape, dtype, rng)`."""

    floating_only = True
    seed: Optional[int] = None

    def __init__(self, dtype=_dt.float32):
        self.dtype = _dt.as_dtype(dtype)

    def check_dtype(self, dtype: _dt.DType) -> None:
        if self.floating_only and not dtype.is_floating:
            raise DTypeError(f"{type(self).__name__} needs a floating-point dtype, got {dtype.name}")

    def __call__(self, shape, dtype=None, partition_info=None, rng: Optional[np.random.Generator] = None):
        dtype = _dt.as_dtype(dtype) if dtype is not None else self.dtype
        self.check_dtype(dtype)
        shape = tuple(int(d) for d in shape)
        if rng is None:
            rng = np.random.default_rng(self.seed)
        return np.asarray(self.sample(shape, dtype, rng)).astype(dtype.np, copy=False)

    @abc.abstractmethod
    def sample(self, shape, dtype, rng):
        """Draw the values (numpy) for `shape`."""

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "dtype"}


class Zeros(Initializer):
    floating_only = False

    def sample(self, shape, dtype, rng):
        return np.zeros(shape, dtype.np)


class Ones(Initializer):
    floating_only = False

    def sample(self, shape, dtype, rng):
        return np.ones(shape, dtype.np)


class Constant(Initializer):
    floating_only = False

    def __init__(self, value=0, dtype=_dt.float32, verify_shape: bool = False):
        super().__init__(dtype)
        self.value = value
        self.verify_shape = verify_shape

    def sample(self, shape, dtype, rng):
        v = np.asarray(self.value)
        if v.dtype.kind == "f" and dtype.is_integer:
            raise DTypeError(f"constant_initializer: float value for an integer ({dtype.name}) variable")
        if v.size == 1:
            return np.full(shape, v.reshape(()), dtype.np)
        if self.verify_shape and v.shape != shape:
            raise InvalidArgumentError(f"constant_initializer: value shape {v.shape} != variable shape {shape}")
        if v.size != int(np.prod(shape)):
            raise InvalidArgumentError(
                f"constant_initializer: {v.size} values cannot fill a variable of shape {list(shape)}")
        return v.reshape(shape)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=_dt.float32):
        super().__init__(dtype)
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, shape)


class TruncatedNormal(RandomNormal):
    def sample(self, shape, dtype, rng):
        return truncated_normal_np(rng, shape, self.mean, self.stddev, dtype.np)


class RandomUniform(Initializer):
    def __init__(self, minval=0.0, maxval=None, seed=None, dtype=_dt.float32):
        super().__init__(dtype)
        self.minval, self.maxval, self.seed = minval, (1.0 if maxval is None else maxval), seed

    def sample(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, shape)


def _fans(shape):
    """TF's fan computation: conv kernels multiply the receptive field into both fans."""
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    rf = 1.0
    for d in shape[:-2]:
        rf *= d
    return shape[-2] * rf, shape[-1] * rf


class VarianceScaling(Initializer):
    """TF-Slim's variance_scaling_initializer(factor, mode, uniform)."""

    def __init__(self, factor=2.0, mode="FAN_IN", uniform=False, seed=None, dtype=_dt.float32):
        super().__init__(dtype)
        if mode not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
            raise DTypeError(f"Unknown mode {mode!r}: must be one of FAN_IN, FAN_OUT, FAN_AVG")
        self.factor, self.mode, self.uniform, self.seed = float(factor), mode, bool(uniform), seed

    def sample(self, shape, dtype, rng):
        fan_in, fan_out = _fans(shape)
        n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2.0}[self.mode]
        if self.uniform:
            limit = math.sqrt(3.0 * self.factor / n)
            return rng.uniform(-limit, limit, shape)
        trunc_stddev = math.sqrt(1.3 * self.factor / n)
        return truncated_normal_np(rng, shape, 0.0, trunc_stddev, dtype.np)


class GlorotUniform(Initializer):
    """Keras/TF glorot_uniform, the default of tf.get_variable for float variables."""

    def __init__(self, seed=None, dtype=_dt.float32):
        super().__init__(dtype)
        self.seed = seed

    def sample(self, shape, dtype, rng):
        fan_in, fan_out = _fans(shape)
        limit = math.sqrt(6.0 / max(1.0, fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)


def zeros_initializer(dtype=_dt.float32) -> Initializer:
    return Zeros(dtype)


def ones_initializer(dtype=_dt.float32) -> Initializer:
    return Ones(dtype)


def constant_initializer(value=0, dtype=_dt.float32, verify_shape: bool = False) -> Initializer:
    return Constant(value, dtype, verify_shape)


def random_normal_initializer(mean=0.0, stddev=1.0, seed=None, dtype=_dt.float32) -> Initializer:
    return RandomNormal(mean, stddev, seed, dtype)


def truncated_normal_initializer(mean=0.0, stddev=1.0, seed=None, dtype=_dt.float32) -> Initializer:
    return TruncatedNormal(mean, stddev, seed, dtype)


def random_uniform_initializer(minval=0.0, maxval=None, seed=None, dtype=_dt.float32) -> Initializer:
    return RandomUniform(minval, maxval, seed, dtype)


def variance_scaling_initializer(factor=2.0, mode="FAN_IN", uniform=False, seed=None,
                                 dtype=_dt.float32) -> Initializer:
    """He-style initializer (TF-Slim defaults: factor 2.0, FAN_IN, truncated normal)."""
    d = _dt.as_dtype(dtype)
    if not d.is_floating:
        raise DTypeError("Cannot create initializer for non-floating point type.")
    return VarianceScaling(factor, mode, uniform, seed, d)


def xavier_initializer(uniform: bool = True, seed=None, dtype=_dt.float32) -> Initializer:
    """Glorot/Xavier: variance_scaling(factor=1, FAN_AVG)."""
    return variance_scaling_initializer(1.0, "FAN_AVG", uniform, seed, dtype)


xavier_initializer_conv2d = xavier_initializer
glorot_uniform_initializer = GlorotUniform


def glorot_normal_initializer(seed=None, dtype=_dt.float32) -> Initializer:
    return VarianceScaling(1.0, "FAN_AVG", False, seed, dtype)
