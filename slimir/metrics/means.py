"""Streaming means: mean, mean_tensor, accuracy, errors (absolute, squared, relative, cosine), percentage_less."""

from __future__ import annotations

from ..errors import ShapeError
from ..ir.graph import (
    Tensor,
    variable_scope,
)
from ..ops import array_ops, math_ops
from ..ops import state as state_ops
from ..shape import fmt
from ._common import (
    _F32,
    _F64,
    _add_to_collections,
    _broadcast_weights,
    _cast,
    _check_compatible,
    _metric_variable,
    _numel,
    _remove_squeezable_dimensions,
    _safe_div,
    _sum64,
    _t,
)

# ------------------------------------------------------------------------------------------
# Means


def streaming_mean(values, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The (weighted) mean of `values`: accumulators `total` and `count`, value `total / count`.

    `update` adds `reduce_sum(values * weights)` to `total` and `reduce_sum(weights)` (the number of
    values when `weights` is None) to `count`. `weights` is a scalar or has the rank of `values`
    and broadcasts to it; weights of 0 mask values. The mean of nothing is 0. The accumulators are float64
    (TF's are float32, which stop counting exactly past 2**24 values); the value and update are float32.
    """
    with variable_scope(name, "mean", (values, weights)):
        values = _cast(values, _F32)
        total = _metric_variable([], _F64, "total")
        count_ = _metric_variable([], _F64, "count")
        if weights is None:
            num_values = _cast(_numel(values), _F64)
        else:
            values, _, weights = _remove_squeezable_dimensions(values, None, weights)
            weights = _broadcast_weights(_cast(weights, _F32), values)
            values = values * weights
            num_values = _sum64(weights)
        new_total = state_ops.assign(total, total + _sum64(values), name="AssignAdd")
        new_count = state_ops.assign(count_, count_ + num_values, name="AssignAdd_1")
        mean_t = array_ops.cast(_safe_div(total, count_), _F32, name="value")
        update_op = array_ops.cast(_safe_div(new_total, new_count), _F32, name="update_op")
    _add_to_collections(metrics_collections, mean_t)
    _add_to_collections(updates_collections, update_op)
    return mean_t, update_op


def streaming_mean_tensor(values, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The element-wise (weighted) mean of `values` over batches: accumulators `total_tensor` and
    `count_tensor` (float64) of the values' (static) shape."""
    with variable_scope(name, "mean", (values, weights)):
        values = _cast(values, _F32)
        if not values.shape.is_fully_defined():
            raise ShapeError(f"streaming_mean_tensor: values of shape {fmt(values.shape)}: the accumulators need "
                             "a static shape")
        total = _metric_variable(values.shape, _F64, "total_tensor")
        count_ = _metric_variable(values.shape, _F64, "count_tensor")
        num_values = array_ops.ones_like(values)
        if weights is not None:
            values, _, weights = _remove_squeezable_dimensions(values, None, weights)
            weights = _broadcast_weights(_cast(weights, _F32), values)
            values = values * weights
            num_values = num_values * weights
        new_total = state_ops.assign(total, total + _cast(values, _F64), name="AssignAdd")
        new_count = state_ops.assign(count_, count_ + _cast(num_values, _F64), name="AssignAdd_1")
        mean_t = array_ops.cast(_safe_div(total, count_), _F32, name="value")
        update_op = array_ops.cast(_safe_div(new_total, new_count), _F32, name="update_op")
    _add_to_collections(metrics_collections, mean_t)
    _add_to_collections(updates_collections, update_op)
    return mean_t, update_op


def count(values, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The number of values seen (or the sum of their weights); accumulator `count/count` (float64), value
    and update float32."""
    with variable_scope(name, "count", (values, weights)):
        count_ = _metric_variable([], _F64, "count")
        values = _cast(values, _F32)
        if weights is None:
            num_values = _cast(_numel(values), _F64)
        else:
            values, _, weights = _remove_squeezable_dimensions(values, None, weights)
            num_values = _sum64(_broadcast_weights(_cast(weights, _F32), values))
        update_op = array_ops.cast(state_ops.assign(count_, count_ + num_values, name="AssignAdd"), _F32,
                                   name="update_op")
        value = array_ops.cast(count_, _F32, name="value")
    _add_to_collections(metrics_collections, value)
    _add_to_collections(updates_collections, update_op)
    return value, update_op


def streaming_accuracy(predictions, labels, weights=None, metrics_collections=None, updates_collections=None,
                       name=None):
    """How often `predictions` equals `labels` (weighted): a `streaming_mean` of `equal` named
    `accuracy` (accumulators `accuracy/total`, `accuracy/count`)."""
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    if labels.dtype is not predictions.dtype:
        predictions = array_ops.cast(predictions, labels.dtype)
    is_correct = array_ops.cast(math_ops.equal(predictions, labels), _F32)
    return streaming_mean(is_correct, weights, metrics_collections, updates_collections, name or "accuracy")


def streaming_mean_absolute_error(predictions, labels, weights=None, metrics_collections=None,
                                  updates_collections=None, name=None):
    """The (weighted) mean of |predictions - labels|."""
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    predictions, labels = _same_float(predictions, labels)
    errors = math_ops.abs(predictions - labels)
    return streaming_mean(errors, weights, metrics_collections, updates_collections, name or "mean_absolute_error")


def streaming_mean_relative_error(predictions, labels, normalizer, weights=None, metrics_collections=None,
                                  updates_collections=None, name=None):
    """The (weighted) mean of |labels - predictions| / normalizer (0 where the normalizer is 0)."""
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    predictions, normalizer, _ = _remove_squeezable_dimensions(predictions, normalizer, None)
    _check_compatible(predictions, normalizer, "predictions and normalizer")
    predictions, labels = _same_float(predictions, labels)
    normalizer = _cast(normalizer, predictions.dtype)
    zero = math_ops.equal(normalizer, 0)
    relative = math_ops.where(zero, array_ops.zeros_like(labels),
                              math_ops.abs(labels - predictions) / math_ops.where(zero, 1, normalizer))
    return streaming_mean(relative, weights, metrics_collections, updates_collections, name or "mean_relative_error")


def streaming_mean_squared_error(predictions, labels, weights=None, metrics_collections=None,
                                 updates_collections=None, name=None):
    """The (weighted) mean of (predictions - labels)^2."""
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    predictions, labels = _same_float(predictions, labels)
    squared = math_ops.squared_difference(labels, predictions)
    return streaming_mean(squared, weights, metrics_collections, updates_collections, name or "mean_squared_error")


def streaming_root_mean_squared_error(predictions, labels, weights=None, metrics_collections=None,
                                      updates_collections=None, name=None):
    """The square root of the streaming (weighted) mean squared error."""
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    mse, update_mse = streaming_mean_squared_error(predictions, labels, weights, None, None,
                                                   name or "root_mean_squared_error")
    rmse = math_ops.sqrt(mse)
    update_op = math_ops.sqrt(update_mse)
    _add_to_collections(metrics_collections, rmse)
    _add_to_collections(updates_collections, update_op)
    return rmse, update_op


def streaming_mean_cosine_distance(predictions, labels, dim, weights=None, metrics_collections=None,
                                   updates_collections=None, name=None):
    """1 - the (weighted) mean of reduce_sum(predictions * labels, dim) (unit-normalised inputs)."""
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    predictions, labels = _same_float(predictions, labels)
    radial = math_ops.reduce_sum(predictions * labels, axis=[dim], keepdims=True)
    mean_distance, update_op = streaming_mean(radial, weights, None, None, name or "mean_cosine_distance")
    mean_distance = 1.0 - mean_distance
    update_op = 1.0 - update_op
    _add_to_collections(metrics_collections, mean_distance)
    _add_to_collections(updates_collections, update_op)
    return mean_distance, update_op


def streaming_percentage_less(values, threshold, weights=None, metrics_collections=None, updates_collections=None,
                              name=None):
    """The (weighted) fraction of `values` below `threshold`."""
    values = _t(values)
    if not values.dtype.is_floating and isinstance(threshold, float) and not float(threshold).is_integer():
        values = array_ops.cast(values, _F32)
    below = array_ops.cast(math_ops.less(values, threshold), _F32)
    return streaming_mean(below, weights, metrics_collections, updates_collections,
                          name or "percentage_below_threshold")


def _same_float(a: Tensor, b: Tensor):
    """Both as one floating dtype (float32 unless both already share a floating dtype)."""
    if a.dtype is b.dtype and a.dtype.is_floating:
        return a, b
    return _cast(a, _F32), _cast(b, _F32)


