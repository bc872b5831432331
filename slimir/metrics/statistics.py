"""Covariance and Pearson correlation, and streaming concatenation (a fixed buffer with max_size, a growing
array without)."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError
from ..ir.graph import (
    GraphKeys,
    Tensor,
    control_dependencies,
    get_default_graph,
    variable_scope,
)
from ..ops import array_ops, math_ops
from ..ops import state as state_ops
from ..shape import fmt
from ..variables import _new_variable
from ._common import (
    _F32,
    _F64,
    _add_to_collections,
    _any,
    _broadcast_weights,
    _cast,
    _check_compatible,
    _const,
    _div_no_nan,
    _metric_variable,
    _numel,
    _remove_squeezable_dimensions,
    _t,
)

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


def _growing_variable(fixed: list, dtype, name: str):
    """A metric variable of shape [None] + fixed that starts empty ([0] + fixed) and grows: each update
    assigns it a longer value (the Session lets a variable with an unknown dimension change its shape)."""
    dtype = _dt.as_dtype(dtype)
    return _new_variable(name, [None] + list(fixed), dtype, np.zeros([0] + list(fixed), dtype.np), False,
                         [GraphKeys.LOCAL_VARIABLES, GraphKeys.METRIC_VARIABLES], exact_name=False)


def _growing_concat(values: Tensor, ax: int, fixed: list, deps=(), name=None, default_name="streaming_concat"):
    """streaming_concat without max_size: accumulators `array` ([None] + fixed: the rows so far, `axis`
    moved to the front) and `size` (int32). The update appends the batch (a concat: every run rewrites the
    whole array anyway, so the array holds exactly `size` rows and never has spare capacity) and returns the
    new size; `deps` guard the update only. The value is the array with `axis` moved back, named `concat`."""
    ndim = len(values.shape)
    with variable_scope(name, default_name, (values,)):
        array = _growing_variable(fixed, values.dtype, "array")
        size = _metric_variable([], _dt.int32, "size")
        perm = [ax] + [i for i in range(ndim) if i != ax]
        inverse = [int(i) for i in np.argsort(perm)]
        value = array_ops.transpose(array, inverse, name="concat") if ax else array_ops.identity(array, name="concat")
        with control_dependencies(list(deps)):
            batch = array_ops.transpose(values, perm) if ax else array_ops.identity(values)
            n = batch.shape[0]
            rows = _const(n, _dt.int32) if n is not None else array_ops.shape(batch, out_type=_dt.int32)[0]
            assign_array = state_ops.assign(array, array_ops.concat([array, batch], 0), name="Assign")
            with control_dependencies([assign_array]):
                update_op = state_ops.assign(size, size + rows, name="Assign_1")
    return value, update_op


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
        from ..ir.graph import get_default_session

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


