"""`slim.metrics`: TF-Slim's streaming metrics, built in the graph.

Every metric returns `(value, update)`, as in TF-Slim:

    acc, acc_update = slim.metrics.streaming_accuracy(predictions, labels)
    sess.run(slim.local_variables_initializer())
    for _ in range(num_batches):
        sess.run(acc_update)          # accumulate one batch, returns the metric so far
    print(sess.run(acc))              # read the metric (idempotent)

The accumulators are local variables named under the metric's scope (`accuracy/total`,
`accuracy/count`, `auc/true_positives`, ...), in the LOCAL_VARIABLES and METRIC_VARIABLES
collections and not trainable, so `slim.local_variables_initializer()` resets every metric.
`value` is a tensor computed from the accumulators; `update` is a tensor that writes the
accumulators (through `assign`) and evaluates to the metric including the batch. Both are plain
graph tensors: they work with `slim.summary.scalar`, `slim.Print`, `slim.summary.merge` and as
`eval_op`s.

slimir's run semantics: every assign in one `sess.run` reads the variables as they were before that
run, so `update` is computed from the old accumulators plus the batch's contribution, and a `value`
fetched in the same run as its `update` gives the value from before the run.

Deviations from TF-Slim are noted in the docstrings; in short: labels are dense tensors (no
SparseTensor). Out-of-range class ids, labels and predictions outside [0, 1] where TF asserts are
reported at run time as TF does, with an `InvalidArgumentError` raised before any accumulator is written.

The ranking, curve and agreement metrics (streaming_dynamic_auc, auc_with_confidence_intervals,
precision_recall_at_equal_thresholds, recall_at_precision, precision_at_recall, cohen_kappa,
streaming_specificity_at_sensitivity, streaming_sensitivity_at_specificity, the sparse average
precisions) live in slimir/metrics_curves.py and are re-exported here.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import dtypes as _dt
from .errors import DTypeError, InvalidArgumentError, ShapeError
from .graph import (GraphKeys, Tensor, add_to_collections, control_dependencies, get_default_graph, name_scope,
                    variable_scope)
from .ops import array_ops, math_ops, state_ops
from .ops.registry import apply_op, convert_to_tensor
from .shape import Shape, compatible, fmt
from .variables import Variable_

__all__ = [
    "aggregate_metric_map", "aggregate_metrics", "count", "sparse_recall_at_top_k",
    "streaming_accuracy", "streaming_auc", "streaming_concat", "streaming_covariance",
    "streaming_curve_points", "streaming_false_negative_rate",
    "streaming_false_negative_rate_at_thresholds", "streaming_false_negatives",
    "streaming_false_negatives_at_thresholds", "streaming_false_positive_rate",
    "streaming_false_positive_rate_at_thresholds", "streaming_false_positives",
    "streaming_false_positives_at_thresholds", "streaming_mean", "streaming_mean_absolute_error",
    "streaming_mean_cosine_distance", "streaming_mean_iou", "streaming_mean_relative_error",
    "streaming_mean_squared_error", "streaming_mean_tensor", "streaming_pearson_correlation",
    "streaming_percentage_less", "streaming_precision", "streaming_precision_at_thresholds",
    "streaming_recall", "streaming_recall_at_k", "streaming_recall_at_thresholds",
    "streaming_root_mean_squared_error", "streaming_sparse_precision_at_k",
    "streaming_sparse_precision_at_top_k", "streaming_sparse_recall_at_k", "streaming_true_negatives",
    "streaming_true_negatives_at_thresholds", "streaming_true_positives",
    "streaming_true_positives_at_thresholds", "accuracy", "precision", "recall", "percentage_less",
]

_F32 = _dt.float32
_F64 = _dt.float64
_EPSILON = 1e-7  # TF-Slim's _EPSILON / TF's kepsilon


# ------------------------------------------------------------------------------------------
# Helpers


def _t(x, dtype=None) -> Tensor:
    """A tensor from a tensor, a Python value or a numpy array (Python floats become float32)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) and x.dtype == np.float64 and dtype is None:
        return array_ops.constant(x.astype(np.float32))
    return convert_to_tensor(x, dtype=dtype)


def _cast(x, dtype) -> Tensor:
    x = _t(x)
    dtype = _dt.as_dtype(dtype)
    return x if x.dtype is dtype else array_ops.cast(x, dtype)


def _to_float(x) -> Tensor:
    """`x` as float32 unless it is already floating."""
    x = _t(x)
    return x if x.dtype.is_floating else array_ops.cast(x, _F32)


def _metric_variable(shape, dtype, name: str):
    """A zero-initialised, non-trainable variable in LOCAL_VARIABLES and METRIC_VARIABLES."""
    dtype = _dt.as_dtype(dtype)
    shape = Shape(shape)
    if not shape.is_fully_defined():
        raise ShapeError(f"metric variable {name}: slimir needs a static shape, got {fmt(shape)}")
    return Variable_(np.zeros(tuple(shape), dtype.np), trainable=False, dtype=dtype, name=name,
                     collections=[GraphKeys.LOCAL_VARIABLES, GraphKeys.METRIC_VARIABLES])


def _add_to_collections(collections, value) -> None:
    if collections:
        if not isinstance(collections, (list, tuple, set, str)):
            raise InvalidArgumentError(f"collections must be a list or a tuple of names, got {collections!r}")
        add_to_collections(collections, value)


def _numel(x: Tensor) -> Tensor:
    """The number of elements of `x` as a float32 scalar (a constant when the shape is static)."""
    n = x.shape.num_elements()
    if n is not None:
        return array_ops.constant(np.float32(n))
    return apply_op("num_elements", [x], axes=None, dtype=_F32)


def _div_no_nan(x: Tensor, y: Tensor, name: Optional[str] = None) -> Tensor:
    """x / y, and 0 where y == 0 (TF's div_no_nan)."""
    nz = math_ops.not_equal(y, 0)
    return math_ops.where(nz, x / math_ops.where(nz, y, 1), 0, name=name)


def _safe_div(x: Tensor, y: Tensor, name: Optional[str] = None) -> Tensor:
    """x / y where y > 0, else 0 (TF's div_no_nan(x, maximum(y, 0)))."""
    pos = math_ops.greater(y, 0)
    return math_ops.where(pos, x / math_ops.where(pos, y, 1), 0, name=name)


def _any(b: Tensor, axis=None) -> Tensor:
    return math_ops.greater(math_ops.reduce_max(array_ops.cast(b, _F32), axis=axis), 0.0)


def _runtime_check(bad: Tensor, message: str):
    """A node that makes the Session raise InvalidArgumentError (before writing any variable) when the
    scalar `bad` is true (TF's assert ops)."""
    return state_ops.assert_all(math_ops.logical_not(bad), message)


def _check_compatible(a: Tensor, b: Tensor, what: str) -> None:
    if len(a.shape) != len(b.shape) or not compatible(a.shape, b.shape):
        raise ShapeError(f"{what}: shapes {fmt(a.shape)} and {fmt(b.shape)} are incompatible")


def _remove_squeezable_dimensions(predictions, labels, weights):
    """TF's rule: squeeze a trailing 1 from predictions or labels when their ranks differ by one, then
    squeeze or expand the last dimension of weights to match the predictions' rank (scalars stay)."""
    predictions = _t(predictions)
    if labels is not None:
        labels = _t(labels)
        rp, rl = len(predictions.shape), len(labels.shape)
        if rp - rl == 1 and predictions.shape[-1] == 1:
            predictions = array_ops.squeeze(predictions, [-1])
        elif rl - rp == 1 and labels.shape[-1] == 1:
            labels = array_ops.squeeze(labels, [-1])
        _check_compatible(predictions, labels, "predictions and labels")
    if weights is None:
        return predictions, labels, None
    weights = _t(weights)
    rw, rp = len(weights.shape), len(predictions.shape)
    if rw == 0:
        return predictions, labels, weights
    if rw - rp == 1:
        if weights.shape[-1] not in (1, None):
            raise ShapeError(f"weights of shape {fmt(weights.shape)} do not fit predictions of shape "
                             f"{fmt(predictions.shape)}")
        weights = array_ops.squeeze(weights, [-1])
    elif rp - rw == 1:
        weights = array_ops.expand_dims(weights, -1)
    return predictions, labels, weights


def _check_broadcastable(weights: Tensor, values: Tensor) -> None:
    ws, vs = weights.shape, values.shape
    if len(ws) == 0:
        return
    if len(ws) != len(vs):
        raise ShapeError(f"weights can not be broadcast to values: weights of rank {len(ws)} {fmt(ws)}, values "
                         f"of rank {len(vs)} {fmt(vs)} (weights must be a scalar or have the values' rank)")
    for w, v in zip(ws, vs):
        if w is not None and w != 1 and v is not None and w != v:
            raise ShapeError(f"weights can not be broadcast to values: weights {fmt(ws)}, values {fmt(vs)}")


def _broadcast_weights(weights: Tensor, values: Tensor) -> Tensor:
    """`weights` broadcast to the shape of `values` (TF's weights_broadcast_ops.broadcast_weights)."""
    _check_broadcastable(weights, values)
    if weights.shape == values.shape and weights.shape.is_fully_defined():
        return weights
    return apply_op("broadcast_like", [weights, values])


def _const(value, dtype) -> Tensor:
    return array_ops.constant(np.asarray(value, _dt.as_dtype(dtype).np))


# ------------------------------------------------------------------------------------------
# Means


def _sum64(x: Tensor, axis=None) -> Tensor:
    """reduce_sum of `x` in float64: a batch's sum joins float64 accumulators without a float32 rounding."""
    return math_ops.reduce_sum(_cast(x, _F64), axis=axis)


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


# ------------------------------------------------------------------------------------------
# Counts: true/false positives/negatives, precision, recall


def _count_condition(values: Tensor, weights, metrics_collections, updates_collections):
    """Sum of the weights where the bool `values` is true; accumulator `count`."""
    count_ = _metric_variable([], _F64, "count")
    values = array_ops.cast(values, _F32)
    if weights is not None:
        weights = _cast(weights, _F32)
        if len(weights.shape) not in (0, len(values.shape)):
            raise ShapeError(f"weights of rank {len(weights.shape)} {fmt(weights.shape)} do not fit values of rank "
                             f"{len(values.shape)} {fmt(values.shape)}")
        values = values * weights
    value = array_ops.cast(count_, _F32, name="value")
    update_op = array_ops.cast(state_ops.assign(count_, count_ + _sum64(values), name="AssignAdd"), _F32,
                               name="update_op")
    _add_to_collections(metrics_collections, value)
    _add_to_collections(updates_collections, update_op)
    return value, update_op


def _bool_inputs(predictions, labels, weights):
    return _remove_squeezable_dimensions(_cast(predictions, _dt.bool_), _cast(labels, _dt.bool_), weights)


def _condition_metric(kind, predictions, labels, weights, metrics_collections, updates_collections, name):
    with variable_scope(name, kind, (predictions, labels, weights)):
        predictions, labels, weights = _bool_inputs(predictions, labels, weights)
        if kind == "true_positives":
            cond = math_ops.logical_and(labels, predictions)
        elif kind == "false_positives":
            cond = math_ops.logical_and(math_ops.logical_not(labels), predictions)
        elif kind == "true_negatives":
            cond = math_ops.logical_and(math_ops.logical_not(labels), math_ops.logical_not(predictions))
        else:
            cond = math_ops.logical_and(labels, math_ops.logical_not(predictions))
        return _count_condition(cond, weights, metrics_collections, updates_collections)


def streaming_true_positives(predictions, labels, weights=None, metrics_collections=None, updates_collections=None,
                             name=None):
    """The (weighted) number of true positives; predictions and labels are cast to bool."""
    return _condition_metric("true_positives", predictions, labels, weights, metrics_collections,
                             updates_collections, name)


def streaming_false_positives(predictions, labels, weights=None, metrics_collections=None,
                              updates_collections=None, name=None):
    """The (weighted) number of false positives; predictions and labels are cast to bool."""
    return _condition_metric("false_positives", predictions, labels, weights, metrics_collections,
                             updates_collections, name)


def streaming_true_negatives(predictions, labels, weights=None, metrics_collections=None, updates_collections=None,
                             name=None):
    """The (weighted) number of true negatives; predictions and labels are cast to bool."""
    return _condition_metric("true_negatives", predictions, labels, weights, metrics_collections,
                             updates_collections, name)


def streaming_false_negatives(predictions, labels, weights=None, metrics_collections=None,
                              updates_collections=None, name=None):
    """The (weighted) number of false negatives; predictions and labels are cast to bool."""
    return _condition_metric("false_negatives", predictions, labels, weights, metrics_collections,
                             updates_collections, name)


def _ratio_metric(scope, first, second, predictions, labels, weights, metrics_collections, updates_collections,
                  name, numerator_is_first=True):
    """a / (a + b) (0 when a + b == 0) over two condition counts, e.g. tp / (tp + fp)."""
    fns = {"tp": streaming_true_positives, "fp": streaming_false_positives, "tn": streaming_true_negatives,
           "fn": streaming_false_negatives}
    with variable_scope(name, scope, (predictions, labels, weights)):
        predictions, labels, weights = _bool_inputs(predictions, labels, weights)
        a, a_up = fns[first](predictions, labels, weights)
        b, b_up = fns[second](predictions, labels, weights)

        def ratio(x, y, nm):
            s = x + y
            return math_ops.where(math_ops.greater(s, 0), x / math_ops.where(math_ops.greater(s, 0), s, 1), 0,
                                  name=nm)

        value = ratio(a, b, "value")
        update_op = ratio(a_up, b_up, "update_op")
    _add_to_collections(metrics_collections, value)
    _add_to_collections(updates_collections, update_op)
    return value, update_op


def streaming_precision(predictions, labels, weights=None, metrics_collections=None, updates_collections=None,
                        name=None):
    """tp / (tp + fp) over bool-cast predictions and labels (0 when nothing was predicted positive);
    accumulators `precision/true_positives/count` and `precision/false_positives/count`."""
    return _ratio_metric("precision", "tp", "fp", predictions, labels, weights, metrics_collections,
                         updates_collections, name)


def streaming_recall(predictions, labels, weights=None, metrics_collections=None, updates_collections=None,
                     name=None):
    """tp / (tp + fn) over bool-cast predictions and labels (0 when there was no positive label);
    accumulators `recall/true_positives/count` and `recall/false_negatives/count`."""
    return _ratio_metric("recall", "tp", "fn", predictions, labels, weights, metrics_collections,
                         updates_collections, name)


def streaming_false_positive_rate(predictions, labels, weights=None, metrics_collections=None,
                                  updates_collections=None, name=None):
    """fp / (fp + tn) (0 when there was no negative label)."""
    return _ratio_metric("false_positive_rate", "fp", "tn", predictions, labels, weights, metrics_collections,
                         updates_collections, name)


def streaming_false_negative_rate(predictions, labels, weights=None, metrics_collections=None,
                                  updates_collections=None, name=None):
    """fn / (fn + tp) (0 when there was no positive label)."""
    return _ratio_metric("false_negative_rate", "fn", "tp", predictions, labels, weights, metrics_collections,
                         updates_collections, name)


# ------------------------------------------------------------------------------------------
# Confusion counts at thresholds, AUC, precision/recall at thresholds


def _confusion_matrix_at_thresholds(predictions, labels, thresholds, weights=None, includes=None,
                                    check_range=True):
    """Per-threshold accumulators `true_positives`, `false_negatives`, `true_negatives`, `false_positives`
    (shape [len(thresholds)]): a prediction is positive at threshold t when it is > t.

    Returns (values, updates), dicts keyed by 'tp', 'fn', 'tn', 'fp'. With `check_range` (TF's
    metrics), predictions outside [0, 1] make the run fail before any accumulator is written.
    """
    all_includes = ("tp", "fn", "tn", "fp")
    includes = all_includes if includes is None else tuple(includes)
    for inc in includes:
        if inc not in all_includes:
            raise InvalidArgumentError(f"Invalid key: {inc}")
    thresholds = [float(t) for t in thresholds]
    predictions = _cast(predictions, _F32)
    labels = _cast(labels, _dt.bool_)
    predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
    deps = []
    if check_range:
        ok = math_ops.logical_and(math_ops.greater_equal(predictions, 0.0), math_ops.less_equal(predictions, 1.0))
        bad = math_ops.less(math_ops.reduce_min(array_ops.cast(ok, _F32)), 1.0)
        scope = get_default_graph().get_name_scope()
        deps.append(_runtime_check(bad, f"{scope}: predictions must be in [0, 1]"))
    n = len(thresholds)
    pred_row = array_ops.reshape(predictions, [1, -1])
    label_row = array_ops.reshape(labels, [1, -1])
    thresh = _const(np.array(thresholds, np.float32).reshape(n, 1), _F32)
    pred_is_pos = math_ops.greater(pred_row, thresh)  # [n, N]
    pred_is_neg = math_ops.logical_not(pred_is_pos)
    label_is_pos = label_row  # [1, N], broadcast against [n, N]
    label_is_neg = math_ops.logical_not(label_row)
    weights_row = None
    if weights is not None:
        w = _broadcast_weights(_cast(weights, _F32), predictions)
        weights_row = array_ops.reshape(w, [1, -1])
    conds = {
        "tp": (label_is_pos, pred_is_pos, "true_positives"),
        "fn": (label_is_pos, pred_is_neg, "false_negatives"),
        "tn": (label_is_neg, pred_is_neg, "true_negatives"),
        "fp": (label_is_neg, pred_is_pos, "false_positives"),
    }
    values, updates = {}, {}
    for key in all_includes:
        if key not in includes:
            continue
        lab, pred, vname = conds[key]
        var = _metric_variable([n], _F64, vname)
        hit = array_ops.cast(math_ops.logical_and(lab, pred), _F32)
        if weights_row is not None:
            hit = hit * weights_row
        with control_dependencies(deps):
            updates[key] = array_ops.cast(state_ops.assign(var, var + _sum64(hit, axis=1), name="AssignAdd"), _F32)
        values[key] = array_ops.cast(var, _F32)
    return values, updates


def _at_thresholds_count(key, predictions, labels, thresholds, weights):
    values, updates = _confusion_matrix_at_thresholds(predictions, labels, thresholds, weights=weights,
                                                      includes=(key,), check_range=False)
    return array_ops.identity(values[key], name="value"), updates[key]


def streaming_true_positives_at_thresholds(predictions, labels, thresholds, weights=None):
    """Per threshold t, the (weighted) number of positive labels whose prediction is > t."""
    return _at_thresholds_count("tp", predictions, labels, thresholds, weights)


def streaming_false_negatives_at_thresholds(predictions, labels, thresholds, weights=None):
    """Per threshold t, the (weighted) number of positive labels whose prediction is <= t."""
    return _at_thresholds_count("fn", predictions, labels, thresholds, weights)


def streaming_false_positives_at_thresholds(predictions, labels, thresholds, weights=None):
    """Per threshold t, the (weighted) number of negative labels whose prediction is > t."""
    return _at_thresholds_count("fp", predictions, labels, thresholds, weights)


def streaming_true_negatives_at_thresholds(predictions, labels, thresholds, weights=None):
    """Per threshold t, the (weighted) number of negative labels whose prediction is <= t."""
    return _at_thresholds_count("tn", predictions, labels, thresholds, weights)


def _auc_thresholds(num_thresholds: int, thresholds=None) -> list:
    if thresholds is not None:
        inner = sorted(float(t) for t in thresholds)
    else:
        if int(num_thresholds) < 2:
            raise InvalidArgumentError(f"num_thresholds must be >= 2, got {num_thresholds}")
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - _EPSILON] + inner + [1.0 + _EPSILON]


def streaming_auc(predictions, labels, weights=None, num_thresholds=200, metrics_collections=None,
                  updates_collections=None, curve="ROC", name=None, summation_method="trapezoidal",
                  thresholds=None):
    """The area under the ROC or PR curve, approximated over `num_thresholds` linearly spaced thresholds.

    Accumulators `auc/true_positives`, `auc/false_negatives`, `auc/true_negatives`,
    `auc/false_positives` (one entry per threshold). `summation_method` (TF's tf.metrics.auc
    option, 'trapezoidal' by default as in TF-Slim): 'trapezoidal', 'careful_interpolation',
    'minoring' or 'majoring'; `thresholds` replaces the linear thresholds. Predictions must lie in
    [0, 1]; a batch outside makes the run fail (InvalidArgumentError) before the accumulators change.
    """
    if curve not in ("ROC", "PR"):
        raise InvalidArgumentError(f"Curve must be either ROC or PR. Curve {curve} is unknown.")
    if summation_method not in ("trapezoidal", "careful_interpolation", "minoring", "majoring"):
        raise InvalidArgumentError(
            f"Invalid summation_method: {summation_method} summation_method should be 'trapezoidal', "
            "'careful_interpolation', 'minoring', or 'majoring'.")
    with variable_scope(name, "auc", (predictions, labels, weights)):
        ths = _auc_thresholds(num_thresholds, thresholds)
        n = len(ths)
        values, updates = _confusion_matrix_at_thresholds(predictions, labels, ths, weights)
        epsilon = 1.0e-6

        def interpolate_pr_auc(tp, fp, fn):
            dtp = tp[:n - 1] - tp[1:]
            p = tp + fp
            slope = _div_no_nan(dtp, math_ops.maximum(p[:n - 1] - p[1:], 0.0))
            intercept = tp[1:] - slope * p[1:]
            both = math_ops.logical_and(math_ops.greater(p[:n - 1], 0.0), math_ops.greater(p[1:], 0.0))
            ratio = math_ops.where(both, _div_no_nan(p[:n - 1], math_ops.maximum(p[1:], 0.0)),
                                   array_ops.ones_like(p[1:]))
            return math_ops.reduce_sum(_div_no_nan(slope * (dtp + intercept * math_ops.log(ratio)),
                                                   math_ops.maximum(tp[1:] + fn[1:], 0.0)))

        def compute_auc(tp, fn, tn, fp, nm):
            if curve == "PR" and summation_method == "careful_interpolation":
                return array_ops.identity(interpolate_pr_auc(tp, fp, fn), name=nm)
            rec = (tp + epsilon) / (tp + fn + epsilon)
            if curve == "ROC":
                x, y = fp / (fp + tn + epsilon), rec
            else:
                x, y = rec, (tp + epsilon) / (tp + fp + epsilon)
            dx = x[:n - 1] - x[1:]
            if summation_method in ("trapezoidal", "careful_interpolation"):
                h = (y[:n - 1] + y[1:]) / 2.0
            elif summation_method == "minoring":
                h = math_ops.minimum(y[:n - 1], y[1:])
            else:
                h = math_ops.maximum(y[:n - 1], y[1:])
            return math_ops.reduce_sum(dx * h, name=nm)

        auc_value = compute_auc(values["tp"], values["fn"], values["tn"], values["fp"], "value")
        update_op = compute_auc(updates["tp"], updates["fn"], updates["tn"], updates["fp"], "update_op")
    _add_to_collections(metrics_collections, auc_value)
    _add_to_collections(updates_collections, update_op)
    return auc_value, update_op


def streaming_curve_points(labels=None, predictions=None, weights=None, num_thresholds=200,
                           metrics_collections=None, updates_collections=None, curve="ROC", name=None):
    """The ROC (fpr, recall) or PR (recall, precision) curve at `num_thresholds` thresholds: a
    [num_thresholds, 2] value; `update` runs the accumulation (a group op, as in TF-Slim)."""
    if curve not in ("ROC", "PR"):
        raise InvalidArgumentError(f"curve must be either ROC or PR, {curve} unknown")
    with variable_scope(name, "curve_points", (labels, predictions, weights)):
        ths = _auc_thresholds(num_thresholds)
        values, updates = _confusion_matrix_at_thresholds(predictions, labels, ths, weights, check_range=False)
        epsilon = 1.0e-6
        tp, fn, tn, fp = values["tp"], values["fn"], values["tn"], values["fp"]
        rec = (tp + epsilon) / (tp + fn + epsilon)
        if curve == "ROC":
            xs, ys = fp / (fp + tn + epsilon), rec
        else:
            xs, ys = rec, (tp + epsilon) / (tp + fp + epsilon)
        points = array_ops.concat([array_ops.expand_dims(xs, 1), array_ops.expand_dims(ys, 1)], 1)
        update_op = state_ops.group(*updates.values())
    _add_to_collections(metrics_collections, points)
    _add_to_collections(updates_collections, update_op)
    return points, update_op


def _thresholds_ratio(scope, first, second, predictions, labels, thresholds, weights, metrics_collections,
                      updates_collections, name, check_range):
    with variable_scope(name, scope, (predictions, labels, weights)):
        values, updates = _confusion_matrix_at_thresholds(predictions, labels, thresholds, weights,
                                                          includes=(first, second), check_range=check_range)

        def ratio(a, b, nm):
            return math_ops.truediv(a, _EPSILON + a + b, name=nm)

        value = ratio(values[first], values[second], "value")
        update_op = ratio(updates[first], updates[second], "update_op")
    _add_to_collections(metrics_collections, value)
    _add_to_collections(updates_collections, update_op)
    return value, update_op


def streaming_precision_at_thresholds(predictions, labels, thresholds, weights=None, metrics_collections=None,
                                      updates_collections=None, name=None):
    """Per threshold t: tp / (tp + fp + 1e-7) with 'positive' meaning prediction > t; shape [len(thresholds)]."""
    return _thresholds_ratio("precision_at_thresholds", "tp", "fp", predictions, labels, thresholds, weights,
                             metrics_collections, updates_collections, name, True)


def streaming_recall_at_thresholds(predictions, labels, thresholds, weights=None, metrics_collections=None,
                                   updates_collections=None, name=None):
    """Per threshold t: tp / (tp + fn + 1e-7) with 'positive' meaning prediction > t; shape [len(thresholds)]."""
    return _thresholds_ratio("recall_at_thresholds", "tp", "fn", predictions, labels, thresholds, weights,
                             metrics_collections, updates_collections, name, True)


def streaming_false_positive_rate_at_thresholds(predictions, labels, thresholds, weights=None,
                                                metrics_collections=None, updates_collections=None, name=None):
    """Per threshold t: fp / (fp + tn + 1e-7); shape [len(thresholds)]."""
    return _thresholds_ratio("false_positive_rate_at_thresholds", "fp", "tn", predictions, labels, thresholds,
                             weights, metrics_collections, updates_collections, name, False)


def streaming_false_negative_rate_at_thresholds(predictions, labels, thresholds, weights=None,
                                                metrics_collections=None, updates_collections=None, name=None):
    """Per threshold t: fn / (fn + tp + 1e-7); shape [len(thresholds)]."""
    return _thresholds_ratio("false_negative_rate_at_thresholds", "fn", "tp", predictions, labels, thresholds,
                             weights, metrics_collections, updates_collections, name, False)


# ------------------------------------------------------------------------------------------
# Mean IoU (confusion matrix)


def streaming_mean_iou(predictions, labels, num_classes, weights=None, metrics_collections=None,
                       updates_collections=None, name=None):
    """The mean intersection-over-union over the classes present in labels or predictions.

    Accumulator `mean_iou/total_confusion_matrix` ([num_classes, num_classes], float64, rows =
    labels, columns = predictions), incremented by one_hot(labels)^T @ one_hot(predictions) (weighted).
    As in TF-Slim, `update` evaluates to the accumulated confusion matrix and `value` to the mean IoU.
    Predictions and labels are flattened; ids outside [0, num_classes) make the run fail
    (InvalidArgumentError, as TF) before the matrix changes.
    """
    num_classes = int(num_classes)
    if num_classes < 1:
        raise InvalidArgumentError(f"num_classes must be >= 1, got {num_classes}")
    with variable_scope(name, "mean_iou", (predictions, labels, weights)):
        predictions, labels = _t(predictions), _t(labels)
        _check_compatible(predictions, labels, "predictions and labels")
        total_cm = _metric_variable([num_classes, num_classes], _F64, "total_confusion_matrix")
        pred = array_ops.reshape(_cast(predictions, _dt.int64), [-1])
        lab = array_ops.reshape(_cast(labels, _dt.int64), [-1])
        ok = math_ops.logical_and(
            math_ops.logical_and(math_ops.greater_equal(pred, 0), math_ops.less(pred, num_classes)),
            math_ops.logical_and(math_ops.greater_equal(lab, 0), math_ops.less(lab, num_classes)))
        bad = math_ops.less(math_ops.reduce_min(array_ops.cast(ok, _F32)), 1.0)
        scope = get_default_graph().get_name_scope()
        chk = _runtime_check(bad, f"{scope}: labels and predictions must be in [0, num_classes={num_classes})")
        lab_oh = array_ops.one_hot(lab, num_classes, dtype=_F32)
        pred_oh = array_ops.one_hot(pred, num_classes, dtype=_F32)
        if weights is not None:
            lab_f, _, w = _remove_squeezable_dimensions(_cast(labels, _F32), None, weights)
            w = _broadcast_weights(_cast(w, _F32), lab_f)
            lab_oh = lab_oh * array_ops.expand_dims(array_ops.reshape(w, [-1]), 1)
        batch_cm = array_ops.cast(math_ops.matmul(lab_oh, pred_oh, transpose_a=True), _F64)
        with control_dependencies([chk]):
            update_op = state_ops.assign(total_cm, total_cm + batch_cm, name="AssignAdd")

        cm = array_ops.cast(total_cm, _F32)
        sum_over_row = math_ops.reduce_sum(cm, axis=0)
        sum_over_col = math_ops.reduce_sum(cm, axis=1)
        diag = math_ops.reduce_sum(cm * _const(np.eye(num_classes), _F32), axis=1)
        denominator = sum_over_row + sum_over_col - diag
        num_valid = math_ops.reduce_sum(array_ops.cast(math_ops.not_equal(denominator, 0.0), _F32))
        denominator = math_ops.where(math_ops.greater(denominator, 0.0), denominator,
                                     array_ops.ones_like(denominator))
        iou = diag / denominator
        mean_iou_v = math_ops.where(math_ops.greater(num_valid, 0.0),
                                    math_ops.reduce_sum(iou) / math_ops.maximum(num_valid, 1.0), 0.0,
                                    name="mean_iou")
    _add_to_collections(metrics_collections, mean_iou_v)
    _add_to_collections(updates_collections, update_op)
    return mean_iou_v, update_op


# ------------------------------------------------------------------------------------------
# Top-k metrics


def _at_k_name(name, k=None, class_id=None):
    name = f"{name}_at_{k}" if k is not None else f"{name}_at_k"
    if class_id is not None:
        name = f"{name}_class{class_id}"
    return name


def _isfinite(x: Tensor) -> Tensor:
    return math_ops.equal(x - x, 0.0)


def streaming_recall_at_k(predictions, labels, k, weights=None, metrics_collections=None,
                          updates_collections=None, name=None):
    """How often the label is among the top `k` predictions (TF's in_top_k): a `streaming_mean`
    named `recall_at_<k>`. predictions [batch, num_classes] (static num_classes), labels [batch] ints.

    As in_top_k: the label's class is in the top k when fewer than k classes score strictly higher
    (ties at the boundary count as in); an out-of-range label or a row with a non-finite score is
    not in the top k.
    """
    predictions = _to_float(predictions)
    labels = _t(labels)
    if len(predictions.shape) != 2:
        raise ShapeError(f"streaming_recall_at_k: predictions must be [batch, num_classes], got "
                         f"{fmt(predictions.shape)}")
    num_classes = predictions.shape[1]
    if num_classes is None:
        raise ShapeError("streaming_recall_at_k: the number of classes (last dimension of predictions) must be "
                         "static in slimir")
    if len(labels.shape) != 1:
        raise ShapeError(f"streaming_recall_at_k: labels must be [batch], got {fmt(labels.shape)}")
    if not labels.dtype.is_integer:
        raise DTypeError(f"streaming_recall_at_k: labels must be integers, got {labels.dtype.name}")
    with name_scope(None, "in_top_k"):
        is_label = math_ops.equal(array_ops.expand_dims(_cast(labels, _dt.int64), 1),
                                  _const(np.arange(num_classes), _dt.int64))  # [batch, C]
        target = math_ops.reduce_sum(math_ops.where(is_label, predictions, 0.0), axis=1)
        higher = math_ops.reduce_sum(
            array_ops.cast(math_ops.greater(predictions, array_ops.expand_dims(target, 1)), _F32), axis=1)
        valid = _any(is_label, axis=1)
        finite = math_ops.greater(math_ops.reduce_min(array_ops.cast(_isfinite(predictions), _F32), axis=1), 0.0)
        in_top_k = math_ops.logical_and(math_ops.logical_and(math_ops.less(higher, float(k)), valid), finite)
    return streaming_mean(array_ops.cast(in_top_k, _F32), weights, metrics_collections, updates_collections,
                          name or _at_k_name("recall", k))


def _top_k_mask(predictions: Tensor, k: int) -> Tensor:
    """[rows, C] bool: the k classes TF's top_k picks per row (highest scores; ties to the lower index).

    Built from k rounds of argmax (first index among equal maxima) that each take one class out.
    """
    num_classes = predictions.shape[-1]
    classes = _const(np.arange(num_classes), _dt.int64)
    lowest = float(np.finfo(predictions.dtype.np).min)
    scores = math_ops.where(math_ops.equal(predictions, float("-inf")), lowest, predictions)
    taken = None
    for _ in range(k):
        idx = math_ops.argmax(scores, axis=1)
        pick = math_ops.equal(array_ops.expand_dims(idx, 1), classes)
        taken = pick if taken is None else math_ops.logical_or(taken, pick)
        scores = math_ops.where(pick, float("-inf"), scores)
    return taken


def _membership_in_top(labels2d: Tensor, top_mask=None, top_idx=None) -> Tensor:
    """[rows, n] bool: whether each label is among the row's top-k classes."""
    if top_mask is not None:
        num_classes = top_mask.shape[-1]
        eq = math_ops.equal(array_ops.expand_dims(labels2d, 2), _const(np.arange(num_classes), _dt.int64))
        return _any(math_ops.logical_and(eq, array_ops.expand_dims(top_mask, 1)), axis=2)
    eq = math_ops.equal(array_ops.expand_dims(labels2d, 2), array_ops.expand_dims(top_idx, 1))  # [rows, n, k]
    return _any(eq, axis=2)


def _class_in_top(class_id: int, top_mask=None, top_idx=None) -> Tensor:
    if top_mask is not None:
        num_classes = top_mask.shape[-1]
        if not 0 <= class_id < num_classes:
            return math_ops.logical_not(array_ops.ones_like(top_mask[:, 0]))
        return top_mask[:, class_id]
    return _any(math_ops.equal(top_idx, np.int64(class_id)), axis=1)


def _first_occurrence(labels2d: Tensor) -> Tensor:
    """[rows, n] bool: true for the first occurrence of each label value in its row (set semantics)."""
    n = labels2d.shape[-1]
    if n == 1:
        return array_ops.ones_like(labels2d, dtype=_dt.bool_)
    earlier = _const(np.tril(np.ones((n, n), bool), -1), _dt.bool_)  # [p, q]: q < p
    same = math_ops.equal(array_ops.expand_dims(labels2d, 2), array_ops.expand_dims(labels2d, 1))
    dup = _any(math_ops.logical_and(same, earlier), axis=2)
    return math_ops.logical_not(dup)


def _sparse_at_k(kind, predictions, top_k_predictions, labels, k, class_id, weights, metrics_collections,
                 updates_collections, name):
    """precision@k / recall@k with dense integer labels, following TF's set semantics (see callers)."""
    if top_k_predictions is not None:
        top_idx = _cast(top_k_predictions, _dt.int64)
        if len(top_idx.shape) < 1 or top_idx.shape[-1] is None:
            raise ShapeError(f"top_k_predictions must have a static last dimension, got {fmt(top_idx.shape)}")
        k_eff = top_idx.shape[-1]
        lead = tuple(top_idx.shape[:-1])
    else:
        predictions = _to_float(predictions)
        if len(predictions.shape) < 2:
            raise ShapeError(f"predictions must be [D1, ... DN, num_classes] with N >= 1, got "
                             f"{fmt(predictions.shape)}")
        num_classes = predictions.shape[-1]
        if num_classes is None:
            raise ShapeError("the number of classes (last dimension of predictions) must be static in slimir")
        k_eff = int(k)
        if k_eff < 1:
            raise InvalidArgumentError(f"k must be >= 1, got {k}")
        if k_eff > num_classes:
            raise InvalidArgumentError(f"input must have at least k={k_eff} columns, got {num_classes}")
        lead = tuple(predictions.shape[:-1])
    labels = _t(labels)
    if isinstance(labels, Tensor) and not labels.dtype.is_integer:
        raise DTypeError(f"labels must be integer class ids, got {labels.dtype.name}")
    if len(labels.shape) == len(lead):
        labels = array_ops.expand_dims(labels, -1)
    elif len(labels.shape) != len(lead) + 1:
        raise ShapeError(f"Unexpected labels shape {fmt(labels.shape)} for predictions with leading shape "
                         f"{fmt(lead)}: labels must be [D1, ... DN] or [D1, ... DN, num_labels]")
    if labels.shape[-1] is None:
        raise ShapeError(f"labels must have a static last dimension (num_labels), got {fmt(labels.shape)}")
    n_labels = labels.shape[-1]
    labels2d = array_ops.reshape(_cast(labels, _dt.int64), [-1, n_labels])
    if top_k_predictions is not None:
        top_idx2d = array_ops.reshape(top_idx, [-1, k_eff])
        mask = None
    else:
        top_idx2d = None
        mask = _top_k_mask(array_ops.reshape(predictions, [-1, num_classes]), k_eff)
    if class_id is None:
        first = _first_occurrence(labels2d)
        hit = _membership_in_top(labels2d, mask, top_idx2d)
        tp = math_ops.reduce_sum(array_ops.cast(math_ops.logical_and(first, hit), _F64), axis=1)
        if kind == "precision":
            other = float(k_eff) - tp  # |top-k \ labels|: the k predicted classes that are not labels
        else:
            other = math_ops.reduce_sum(
                array_ops.cast(math_ops.logical_and(first, math_ops.logical_not(hit)), _F64), axis=1)
    else:
        class_id = int(class_id)
        in_labels = _any(math_ops.equal(labels2d, np.int64(class_id)), axis=1)
        in_top = _class_in_top(class_id, mask, top_idx2d)
        tp = array_ops.cast(math_ops.logical_and(in_labels, in_top), _F64)
        if kind == "precision":
            other = array_ops.cast(math_ops.logical_and(math_ops.logical_not(in_labels), in_top), _F64)
        else:
            other = array_ops.cast(math_ops.logical_and(in_labels, math_ops.logical_not(in_top)), _F64)
    if weights is not None:
        w = _cast(weights, _F64)
        if len(w.shape) not in (0, len(lead)):
            raise ShapeError(f"weights of shape {fmt(w.shape)} must be a scalar or have the leading shape "
                             f"{fmt(lead)} of the labels")
        if len(w.shape):
            w = array_ops.reshape(_broadcast_weights(w, _cast(labels[..., 0], _F64)), [-1])
        tp, other = tp * w, other * w
    other_name = "false_positive" if kind == "precision" else "false_negative"
    tp_var = _metric_variable([], _F64, _at_k_name("true_positive", k, class_id))
    other_var = _metric_variable([], _F64, _at_k_name(other_name, k, class_id))
    new_tp = state_ops.assign(tp_var, tp_var + math_ops.reduce_sum(tp), name="update")
    new_other = state_ops.assign(other_var, other_var + math_ops.reduce_sum(other), name="update")
    metric = math_ops.truediv(tp_var, tp_var + other_var, name="value")
    update = math_ops.truediv(new_tp, new_tp + new_other, name="update")
    _add_to_collections(metrics_collections, metric)
    _add_to_collections(updates_collections, update)
    return metric, update


def streaming_sparse_precision_at_k(predictions, labels, k, class_id=None, weights=None, metrics_collections=None,
                                    updates_collections=None, name=None):
    """precision@k: how many of the top-k predicted classes are labels, over all top-k predictions.

    predictions [D1, ... DN, num_classes] (static num_classes); labels: dense integer class ids
    [D1, ... DN] or [D1, ... DN, num_labels] (a row's labels form a set: repeats count once; ids
    outside [0, num_classes) never match). The top k are TF's top_k (ties to the lower class id).
    With `class_id`, only rows where that class is in the top k count (NaN when there are none).
    Accumulators `precision_at_<k>/true_positive_at_<k>`, `.../false_positive_at_<k>` (float64);
    the value is tp / (tp + fp), NaN before any prediction, float64 as in TF.
    """
    with name_scope(None, name or _at_k_name("precision", k, class_id)):
        return _sparse_at_k("precision", predictions, None, labels, k, class_id, weights, metrics_collections,
                            updates_collections, name)


def streaming_sparse_precision_at_top_k(top_k_predictions, labels, class_id=None, weights=None,
                                        metrics_collections=None, updates_collections=None, name=None):
    """precision@k from the top-k class ids [D1, ... DN, k] instead of scores (see
    streaming_sparse_precision_at_k)."""
    with name_scope(None, name or _at_k_name("precision", None, class_id)):
        return _sparse_at_k("precision", None, top_k_predictions, labels, None, class_id, weights,
                            metrics_collections, updates_collections, name)


def streaming_sparse_recall_at_k(predictions, labels, k, class_id=None, weights=None, metrics_collections=None,
                                 updates_collections=None, name=None):
    """recall@k: how many of a row's labels are among its top-k predicted classes, over all labels.

    Same inputs as streaming_sparse_precision_at_k; label ids outside [0, num_classes) count as
    false negatives (TF). With `class_id`, only rows whose labels hold that class count (NaN when
    there are none). Accumulators `recall_at_<k>/true_positive_at_<k>`, `.../false_negative_at_<k>`.
    """
    with name_scope(None, name or _at_k_name("recall", k, class_id)):
        return _sparse_at_k("recall", predictions, None, labels, k, class_id, weights, metrics_collections,
                            updates_collections, name)


def sparse_recall_at_top_k(labels, top_k_predictions, class_id=None, weights=None, metrics_collections=None,
                           updates_collections=None, name=None):
    """recall@k from the top-k class ids [D1, ... DN, k] (see streaming_sparse_recall_at_k)."""
    with name_scope(None, name or _at_k_name("recall", None, class_id)):
        return _sparse_at_k("recall", None, top_k_predictions, labels, None, class_id, weights,
                            metrics_collections, updates_collections, name)


# ------------------------------------------------------------------------------------------
# Covariance and Pearson correlation


def streaming_covariance(predictions, labels, weights=None, metrics_collections=None, updates_collections=None,
                         name=None):
    """The unbiased (weighted, frequency weights as numpy's `fweights`) covariance of predictions and
    labels, updated batch by batch with the pairwise (co-moment merging) formula.

    Accumulators `covariance/count`, `mean_prediction`, `mean_label`, `comoment`; the value is
    comoment / (count - 1), NaN while count <= 1.
    """
    with variable_scope(name, "covariance", (predictions, labels, weights)):
        predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
        predictions, labels = _cast(predictions, _F32), _cast(labels, _F32)
        count_ = _metric_variable([], _F32, "count")
        mean_prediction = _metric_variable([], _F32, "mean_prediction")
        mean_label = _metric_variable([], _F32, "mean_label")
        comoment = _metric_variable([], _F32, "comoment")
        if weights is None:
            batch_count = _numel(labels)
            weighted_predictions, weighted_labels = predictions, labels
        else:
            weights = _broadcast_weights(_cast(weights, _F32), labels)
            batch_count = math_ops.reduce_sum(weights)
            weighted_predictions, weighted_labels = predictions * weights, labels * weights
        new_count = count_ + batch_count
        prev_count = new_count - batch_count
        batch_mean_prediction = _div_no_nan(math_ops.reduce_sum(weighted_predictions), batch_count)
        delta_mean_prediction = _div_no_nan((batch_mean_prediction - mean_prediction) * batch_count, new_count)
        new_mean_prediction = mean_prediction + delta_mean_prediction
        prev_mean_prediction = new_mean_prediction - delta_mean_prediction
        batch_mean_label = _div_no_nan(math_ops.reduce_sum(weighted_labels), batch_count)
        delta_mean_label = _div_no_nan((batch_mean_label - mean_label) * batch_count, new_count)
        new_mean_label = mean_label + delta_mean_label
        prev_mean_label = new_mean_label - delta_mean_label
        coresiduals = (predictions - batch_mean_prediction) * (labels - batch_mean_label)
        if weights is not None:
            coresiduals = coresiduals * weights
        batch_comoment = math_ops.reduce_sum(coresiduals)
        delta_comoment = batch_comoment + (prev_mean_prediction - batch_mean_prediction) * \
            (prev_mean_label - batch_mean_label) * _div_no_nan(prev_count * batch_count, new_count)
        assigns = [
            state_ops.assign(count_, new_count, name="AssignAdd"),
            state_ops.assign(mean_prediction, new_mean_prediction, name="AssignAdd_1"),
            state_ops.assign(mean_label, new_mean_label, name="AssignAdd_2"),
            state_ops.assign(comoment, comoment + delta_comoment, name="AssignAdd_3"),
        ]
        nan = np.float32(np.nan)

        def cov(c, m, nm):
            return math_ops.where(math_ops.less_equal(c, 1.0), nan, m / (c - 1.0), name=nm)

        covariance = cov(count_, comoment, "covariance")
        with control_dependencies(assigns):
            update_op = cov(assigns[0], assigns[3], "update_op")
    _add_to_collections(metrics_collections, covariance)
    _add_to_collections(updates_collections, update_op)
    return covariance, update_op


def streaming_pearson_correlation(predictions, labels, weights=None, metrics_collections=None,
                                  updates_collections=None, name=None):
    """Pearson's r of predictions and labels: cov / (sqrt(var_predictions) * sqrt(var_labels)) from three
    streaming covariances (`pearson_r/covariance`, `.../variance_predictions`, `.../variance_labels`)."""
    with variable_scope(name, "pearson_r", (predictions, labels, weights)):
        predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
        _check_compatible(predictions, labels, "predictions and labels")
        if weights is not None:
            weights = _broadcast_weights(_cast(weights, _F32), _cast(labels, _F32))
        cov, update_cov = streaming_covariance(predictions, labels, weights=weights, name="covariance")
        var_p, update_var_p = streaming_covariance(predictions, predictions, weights=weights,
                                                   name="variance_predictions")
        var_l, update_var_l = streaming_covariance(labels, labels, weights=weights, name="variance_labels")
        pearson_r = math_ops.truediv(cov, math_ops.sqrt(var_p) * math_ops.sqrt(var_l), name="pearson_r")
        update_op = math_ops.truediv(update_cov, math_ops.sqrt(update_var_p) * math_ops.sqrt(update_var_l),
                                     name="update_op")
    _add_to_collections(metrics_collections, pearson_r)
    _add_to_collections(updates_collections, update_op)
    return pearson_r, update_op


# ------------------------------------------------------------------------------------------
# Concatenation


class StreamingConcatValue:
    """The value of `streaming_concat` with a `max_size`: fetched with `sess.run`, it gives the
    concatenation so far.

    The accumulator is a fixed [max_size, ...] buffer plus a fill count; this object fetches both and
    returns the filled part (moved back to `axis`). It is not a graph tensor; `buffer` and `size` are,
    for further graph use. (Without max_size the value is a graph tensor.)
    """

    def __init__(self, buffer: Tensor, size: Tensor, axis: int, name: str):
        self.buffer = buffer
        self.size = size
        self.axis = axis
        self.name = name
        self.dtype = buffer.dtype

    def _fetch_tensors(self) -> list:
        return [self.buffer, self.size]

    def _fetch_result(self, values):
        buf, size = values
        return np.moveaxis(np.asarray(buf)[:int(size)], 0, self.axis)

    def eval(self, feed_dict=None, session=None):
        from .graph import get_default_session

        sess = session or get_default_session()
        if sess is None:
            raise InvalidArgumentError(f"{self.name}.eval(): no session given and no default session")
        return sess.run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<slim.metrics.StreamingConcatValue '{self.name}' buffer={self.buffer.shape} axis={self.axis}>"


def streaming_concat(values, axis=0, max_size=None, metrics_collections=None, updates_collections=None,
                     name=None):
    """Concatenate `values` along `axis` over batches (e.g. to collect all predictions of an evaluation).

    Accumulators `streaming_concat/array` (the rows, `axis` moved to the front) and
    `streaming_concat/size` (int32); `update` appends the batch and returns the new size. Every
    dimension but `axis` must be static.

    Without `max_size` (TF-Slim's default) the array grows without bound: it is a variable whose first
    dimension is unknown, and each update assigns it the old rows plus the batch (a slimir run rewrites
    a variable whole, so it holds exactly `size` rows); the value is a graph tensor `streaming_concat/concat`.

    With `max_size` the array is a fixed [max_size, ...] buffer and rows past max_size are dropped
    (TF-Slim's behaviour once max_size is reached); the value is then a `StreamingConcatValue` that
    `sess.run` turns into the array of the rows so far. An update places the batch with a
    [max_size, batch] selection matmul, so keep max_size to some thousands of rows, and the batch's
    values must be finite (a NaN or Inf spreads to the whole buffer).
    """
    values = _t(values)
    shape = values.shape
    ndim = len(shape)
    if ndim == 0:
        raise InvalidArgumentError("streaming_concat: `values` must have at least one dimension")
    ax = axis + ndim if axis < 0 else axis
    if not 0 <= ax < ndim:
        raise InvalidArgumentError(f"axis = {axis!r} not in [0, {ndim!r})")
    fixed = [d for i, d in enumerate(shape) if i != ax]
    if any(d is None for d in fixed):
        raise InvalidArgumentError("all dimensions of `values` other than the dimension to concatenate along must "
                                   f"have statically known size, got {fmt(shape)} with axis {ax}")
    if max_size is None:
        from .metrics_curves import _growing_concat

        value, update_op = _growing_concat(values, ax, fixed, name=name)
        _add_to_collections(metrics_collections, value)
        _add_to_collections(updates_collections, update_op)
        return value, update_op
    max_size = int(max_size)
    if max_size < 1:
        raise InvalidArgumentError(f"max_size must be >= 1, got {max_size}")
    with variable_scope(name, "streaming_concat", (values,)):
        array = _metric_variable([max_size] + fixed, values.dtype, "array")
        size = _metric_variable([], _dt.int32, "size")
        perm = [ax] + [i for i in range(ndim) if i != ax]
        batch = array_ops.transpose(values, perm) if ax != 0 else values  # [b, fixed...]
        b_static = batch.shape[0]
        feat = int(np.prod(fixed)) if fixed else 1
        rows = min(b_static, max_size) if b_static is not None else max_size
        flat = array_ops.reshape(batch, [-1, feat])
        ones = array_ops.ones_like(flat[:, 0:1], dtype=_F32)
        if b_static is None or b_static != rows:
            # Pad with `rows` rows, then keep the first `rows`: a static [rows, feat] block whose rows
            # past the batch are padding (marked invalid).
            flat = array_ops.pad(flat, [[0, rows], [0, 0]])[:rows]
            ones = array_ops.pad(ones, [[0, rows], [0, 0]])[:rows]
        valid = math_ops.greater(array_ops.reshape(ones, [rows]), 0.0)  # [rows]
        slot = _const(np.arange(max_size).reshape(max_size, 1), _dt.int32)
        src = _const(np.arange(rows).reshape(1, rows), _dt.int32)
        place = math_ops.logical_and(math_ops.equal(slot - size, src), array_ops.expand_dims(valid, 0))
        dt = values.dtype
        calc = dt if dt in (_F32, _F64) else _F64
        placed = math_ops.matmul(array_ops.cast(place, calc), _cast(flat, calc))  # [max_size, feat]
        is_new = _any(place, axis=1)
        old = array_ops.reshape(array, [max_size, feat])
        if dt is _dt.bool_:
            placed = math_ops.greater(placed, 0.5)
        else:
            placed = _cast(placed, dt)
        new_array = math_ops.where(array_ops.expand_dims(is_new, 1), placed, old)
        n_valid = math_ops.reduce_sum(array_ops.cast(valid, _dt.int32))
        new_size = math_ops.minimum(size + n_valid, max_size)
        assign_array = state_ops.assign(array, array_ops.reshape(new_array, [max_size] + fixed), name="Assign")
        with control_dependencies([assign_array]):
            update_op = state_ops.assign(size, new_size, name="Assign_1")
        value = StreamingConcatValue(array, size, ax, f"{get_default_graph().get_name_scope()}/concat")
    _add_to_collections(metrics_collections, value)
    _add_to_collections(updates_collections, update_op)
    return value, update_op


# ------------------------------------------------------------------------------------------
# Aggregation


def aggregate_metrics(*value_update_tuples):
    """([values], [updates]) from (value, update) pairs, in order."""
    if not value_update_tuples:
        raise InvalidArgumentError("Expected at least one value_tensor/update_op pair")
    value_ops, update_ops = zip(*value_update_tuples)
    return list(value_ops), list(update_ops)


def aggregate_metric_map(names_to_tuples):
    """({name: value}, {name: update}) from {name: (value, update)}, in the dict's order."""
    names = list(names_to_tuples.keys())
    if not names:
        return {}, {}
    value_ops, update_ops = zip(*names_to_tuples.values())
    return dict(zip(names, value_ops)), dict(zip(names, update_ops))


# ------------------------------------------------------------------------------------------
# Short names used by the TF-Slim README's evaluation snippets (TF-Slim argument order, streaming:
# each returns (value, update)).

accuracy = streaming_accuracy
precision = streaming_precision
recall = streaming_recall
percentage_less = streaming_percentage_less


# ------------------------------------------------------------------------------------------
# Ranking, curve and agreement metrics (slimir/metrics_curves.py)

from .metrics_curves import (AucData, PrecisionRecallData, auc_with_confidence_intervals, cohen_kappa,  # noqa: E402
                             precision_at_recall, precision_recall_at_equal_thresholds, recall_at_precision,
                             streaming_dynamic_auc, streaming_sensitivity_at_specificity,
                             streaming_sparse_average_precision_at_k, streaming_sparse_average_precision_at_top_k,
                             streaming_specificity_at_sensitivity)

__all__ += ["auc_with_confidence_intervals", "cohen_kappa", "precision_at_recall",
            "precision_recall_at_equal_thresholds", "recall_at_precision", "streaming_dynamic_auc",
            "streaming_sensitivity_at_specificity", "streaming_sparse_average_precision_at_k",
            "streaming_sparse_average_precision_at_top_k", "streaming_specificity_at_sensitivity"]
