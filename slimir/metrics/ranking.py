"""Top-k metrics: recall@k, sparse precision/recall at k and at top-k."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..ir.graph import (
    Tensor,
    name_scope,
)
from ..ops import array_ops, math_ops
from ..ops import state as state_ops
from ..shape import fmt
from ._common import (
    _F32,
    _F64,
    _add_to_collections,
    _any,
    _broadcast_weights,
    _cast,
    _const,
    _metric_variable,
    _t,
    _to_float,
)
from .means import streaming_mean

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


