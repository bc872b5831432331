"""TF-Slim's ranking, curve and agreement metrics (in the `slim.metrics` namespace).

streaming_dynamic_auc and auc_with_confidence_intervals keep every prediction they see (a growing
`streaming_concat`) and sort them when the value is read; precision_recall_at_equal_thresholds buckets
predictions; recall_at_precision, precision_at_recall and the specificity/sensitivity pair pick a threshold
from per-threshold confusion counts; cohen_kappa keeps a confusion table; the sparse average precisions rank
the top-k classes. Each returns (value, update) as TF-Slim's do, with accumulators in METRIC_VARIABLES.
"""

from __future__ import annotations

from collections import namedtuple
from statistics import NormalDist
from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..ir.graph import Tensor, control_dependencies, name_scope, variable_scope
from ..ops import array_ops, math_ops
from ..ops import state as state_ops
from ..ops.index import boolean_mask, cumsum, gather, top_k, unsorted_segment_sum
from ..shape import compatible, fmt
from ._common import (
    _EPSILON,
    _add_to_collections,
    _broadcast_weights,
    _cast,
    _div_no_nan,
    _metric_variable,
    _remove_squeezable_dimensions,
    _t,
)
from .classification import _confusion_matrix_at_thresholds
from .ranking import _at_k_name
from .statistics import _growing_concat

__all__ = [
    "AucData", "PrecisionRecallData", "auc_with_confidence_intervals", "cohen_kappa",
    "precision_at_recall", "precision_recall_at_equal_thresholds", "recall_at_precision",
    "streaming_dynamic_auc", "streaming_sensitivity_at_specificity", "streaming_sparse_average_precision_at_k",
    "streaming_sparse_average_precision_at_top_k", "streaming_specificity_at_sensitivity",
]

_F32, _F64, _I32, _I64 = _dt.float32, _dt.float64, _dt.int32, _dt.int64

#: auc_with_confidence_intervals' value: the AUC and the bounds of its confidence interval.
AucData = namedtuple("AucData", ["auc", "lower", "upper"])
#: precision_recall_at_equal_thresholds' value: per-threshold counts, precision, recall and the thresholds.
PrecisionRecallData = namedtuple("PrecisionRecallData", ["tp", "fp", "tn", "fn", "precision", "recall", "thresholds"])


# ------------------------------------------------------------------------------------------
# Helpers


def _assert_compatible(a: Tensor, b: Tensor) -> None:
    if len(a.shape) != len(b.shape) or not compatible(a.shape, b.shape):
        raise ShapeError(f"Shapes {fmt(a.shape)} and {fmt(b.shape)} are incompatible")


def _c(value, dtype) -> Tensor:
    return array_ops.constant(np.asarray(value, _dt.as_dtype(dtype).np))


def _count(b: Tensor) -> Tensor:
    """The number of true entries of a bool tensor, as float64."""
    return math_ops.reduce_sum(array_ops.cast(b, _F64))


def _labels_are_binary(labels: Tensor) -> list:
    """TF's two run-time checks that int64 labels are 0 or 1 (InvalidArgumentError when not)."""
    return [state_ops.assert_all(math_ops.greater_equal(labels, np.int64(0)),
                                 "labels must be 0 or 1, at least one is <0"),
            state_ops.assert_all(math_ops.less_equal(labels, np.int64(1)),
                                 "labels must be 0 or 1, at least one is >1")]


def _neighbour_differs(x: Tensor, step: int) -> Tensor:
    """Per entry of the 1-D `x`: whether it differs from the next (step=1) or the previous (step=-1) entry;
    the last (first) entry always does. Works for any length, 0 included (a NaN stands in for the missing
    neighbour and broadcasts away when x is empty)."""
    nan = _c([np.nan], x.dtype)
    other = array_ops.concat([x[1:], nan], 0) if step > 0 else array_ops.concat([nan, x[:-1]], 0)
    return math_ops.not_equal(x, other)


# ------------------------------------------------------------------------------------------
# streaming_dynamic_auc


def _dynamic_auc(labels: Tensor, predictions: Tensor, curve: str, weights: Optional[Tensor]) -> Tensor:
    """The trapezoidal ROC or PR area with every distinct prediction as a threshold (float64); 0 when the
    labels are all one class (TF-Slim's _compute_dynamic_auc)."""
    if weights is None:
        weights = array_ops.ones_like(predictions, dtype=_F64)
    zero = _c(0.0, _F64)
    pos_w = math_ops.where(math_ops.greater(labels, np.int64(0)), weights, zero)
    neg_w = math_ops.where(math_ops.less(labels, np.int64(1)), weights, zero)
    total_weight = math_ops.reduce_sum(weights)
    total_positive = math_ops.reduce_sum(pos_w)
    ordered, order = top_k(predictions, array_ops.shape(predictions, out_type=_I32)[0])
    ends = _neighbour_differs(ordered, 1)  # the last entry of each run of equal predictions

    def at_ends(x):  # the running sum at every threshold: 0 first, then at the end of each run
        return array_ops.concat([_c([0.0], _F64), boolean_mask(cumsum(gather(x, order)), ends)], 0)

    tp = at_ends(pos_w)
    if curve == "ROC":
        fp = at_ends(neg_w)
        x, y = fp / (total_weight - total_positive), tp / total_positive
    else:
        positives = at_ends(weights)
        x = tp / total_positive
        y = array_ops.concat([_c([1.0], _F64), tp[1:] / positives[1:]], 0)  # precision 1 with nothing predicted
    area = math_ops.reduce_sum((y[1:] + y[:-1]) / 2.0 * math_ops.abs(x[1:] - x[:-1]))
    one_class = math_ops.logical_or(math_ops.equal(total_positive, 0.0), math_ops.equal(total_positive, total_weight))
    return math_ops.where(one_class, zero, area)


def streaming_dynamic_auc(labels, predictions, curve="ROC", metrics_collections=(), updates_collections=(),
                          name=None, weights=None):
    """The area under the ROC or PR curve with every prediction seen as a threshold (no binning).

    All labels (0 or 1; anything else makes the update raise InvalidArgumentError), predictions (any
    real values) and weights are kept, flattened, in growing accumulators `dynamic_auc/concat_labels/...`,
    `.../concat_preds/...` (and `.../concat_weights/...`); the value sorts them and sums trapezoids, in
    float64. It is 0 while the labels seen are all of one class. `update` is a group op. Memory grows with
    the number of predictions seen, as in TF-Slim.
    """
    if curve not in ("PR", "ROC"):
        raise InvalidArgumentError(f"curve must be either ROC or PR, {curve} unknown")
    with variable_scope(name, "dynamic_auc"):
        labels, predictions = _t(labels), _t(predictions)
        _assert_compatible(labels, predictions)
        predictions_flat = array_ops.reshape(_cast(predictions, _F64), [-1])
        labels_flat = array_ops.reshape(_cast(labels, _I64), [-1])
        checks = _labels_are_binary(labels_flat)
        preds_accum, update_preds = _growing_concat(predictions_flat, 0, [], checks, "concat_preds")
        labels_accum, update_labels = _growing_concat(labels_flat, 0, [], checks, "concat_labels")
        updates = [update_labels, update_preds]
        weights_accum = None
        if weights is not None:
            w = _broadcast_weights(_cast(weights, _F64), _cast(predictions, _F64))
            weights_accum, update_weights = _growing_concat(array_ops.reshape(w, [-1]), 0, [], checks,
                                                            "concat_weights")
            updates.append(update_weights)
        update_op = state_ops.group(*updates)
        auc = _dynamic_auc(labels_accum, preds_accum, curve, weights_accum)
    _add_to_collections(updates_collections, update_op)
    _add_to_collections(metrics_collections, auc)
    return auc, update_op


# ------------------------------------------------------------------------------------------
# auc_with_confidence_intervals


def _placement_auc(labels: Tensor, predictions: Tensor, weights: Tensor, alpha: float, logit_transformation: bool,
                   is_valid: Tensor) -> AucData:
    """The ROC AUC and its asymptotic normal confidence interval from placement values (DeLong; Sun & Xu's
    algorithm, as TF-Slim's _compute_placement_auc), computed in the weights' dtype as TF does (in float32 an
    AUC of 1 or 0 comes out exactly, and its interval collapses onto it)."""
    eps = _EPSILON
    dt = weights.dtype
    lab = _cast(labels, dt)
    total_0 = math_ops.reduce_sum((1.0 - lab) * weights)
    total_1 = math_ops.reduce_sum(lab * weights)
    # ascending order; entries with equal predictions form one group
    ordered, order = top_k(math_ops.neg(predictions), array_ops.shape(predictions, out_type=_I32)[0])
    starts = _neighbour_differs(ordered, -1)
    ends = _neighbour_differs(ordered, 1)
    group = cumsum(array_ops.cast(starts, _I64)) - np.int64(1)
    lab_o, w_o = gather(lab, order), gather(weights, order)
    w_true, w_false = w_o * lab_o, w_o * (1.0 - lab_o)

    def placements(w_other):
        """Per entry: (weight of the other label before its group + half of it inside its group) / total."""
        before = gather(boolean_mask(cumsum(w_other, exclusive=True), starts), group)
        through = gather(boolean_mask(cumsum(w_other), ends), group)
        return (before + (through - before) / 2.0) / (math_ops.reduce_sum(w_other) + eps)

    placement = placements(w_false) * lab_o + placements(w_true) * (1.0 - lab_o)
    p0, w0 = placement * (1.0 - lab_o), w_o * (1.0 - lab_o)
    p1, w1 = placement * lab_o, w_o * lab_o
    auc_0 = math_ops.reduce_sum(w0 * (1.0 - p0)) / (total_0 + eps)
    auc_1 = math_ops.reduce_sum(w1 * p1) / (total_1 + eps)
    auc = math_ops.where(math_ops.less(total_0, total_1), auc_1, auc_0)
    var_0 = math_ops.reduce_sum(w0 * math_ops.square(1.0 - p0 - auc_0)) / (total_0 - 1.0 + eps)
    var_1 = math_ops.reduce_sum(w1 * math_ops.square(p1 - auc_1)) / (total_1 - 1.0 + eps)
    std_err = math_ops.sqrt(var_0 / (total_0 + eps) + var_1 / (total_1 + eps))
    z = float(np.asarray(NormalDist().inv_cdf((1.0 - alpha) / 2.0), dt.np))
    if logit_transformation:
        estimate = math_ops.log(auc / (1.0 - auc + eps))
        se = std_err / (auc * (1.0 - auc + eps))

        def inverse_logit(x):
            return 1.0 / (1.0 + math_ops.exp(math_ops.neg(x)) + eps)

        lower, upper = inverse_logit(estimate + z * se), inverse_logit(estimate - z * se)
    else:
        lower, upper = auc + z * std_err, auc - z * std_err
    certain = math_ops.logical_or(math_ops.equal(auc, 1.0), math_ops.equal(auc, 0.0))
    zero = _c(0.0, dt)
    return AucData(*[math_ops.where(is_valid, v, zero, name=nm)
                     for v, nm in ((auc, "auc"), (math_ops.where(certain, auc, lower), "lower"),
                                   (math_ops.where(certain, auc, upper), "upper"))])


def auc_with_confidence_intervals(labels, predictions, weights=None, alpha=0.95, logit_transformation=True,
                                  metrics_collections=(), updates_collections=(), name=None):
    """The ROC AUC with an asymptotic normal confidence interval at level `alpha`: value `AucData(auc,
    lower, upper)` (scalars of the weights' floating dtype, float32 by default), from placement values
    (DeLong), optionally on the logit scale.

    Labels (0 or 1, else the update raises InvalidArgumentError), predictions and weights are kept in
    growing accumulators `concat_labels`, `concat_preds`, `concat_weights`; a batch whose weights sum to
    less than 1 is not added (TF-Slim). The value is (0, 0, 0) until both classes and a total weight of at
    least 1 have been seen. (TF-Slim judges that from the current batch's labels instead of the accumulated
    ones, so its value depends on the inputs of the run that reads it; slimir's value reads only the
    accumulators.)
    """
    if not 0 < alpha < 1:
        raise InvalidArgumentError(f"alpha must be between 0 and 1; currently {alpha:.02f}")
    with variable_scope(name, "auc_with_confidence_intervals", (labels, predictions, weights)):
        labels, predictions = _t(labels), _t(predictions)
        if weights is None:
            weights = array_ops.ones_like(predictions, dtype=_F32)
        predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels, weights)
        w_dtype = weights.dtype if weights.dtype in (_F32, _F64) else _F32
        weights = _broadcast_weights(_cast(weights, w_dtype), _cast(predictions, w_dtype))
        total_weight = math_ops.reduce_sum(weights)
        weights = array_ops.reshape(weights, [-1])
        predictions = array_ops.reshape(_cast(predictions, _F64), [-1])
        labels = array_ops.reshape(_cast(labels, _I64), [-1])
        checks = _labels_are_binary(labels)
        # a batch with less than unit weight is dropped: masked to zero rows
        keep = math_ops.logical_and(array_ops.ones_like(predictions, dtype=_dt.bool_),
                                    math_ops.greater_equal(total_weight, 1.0))
        preds_accum, update_preds = _growing_concat(boolean_mask(predictions, keep), 0, [], checks, "concat_preds")
        labels_accum, update_labels = _growing_concat(boolean_mask(labels, keep), 0, [], checks, "concat_labels")
        weights_accum, update_weights = _growing_concat(boolean_mask(weights, keep), 0, [], checks,
                                                        "concat_weights")
        update_op = state_ops.group(update_labels, update_preds, update_weights)
        both_classes = math_ops.logical_and(math_ops.greater(_count(math_ops.equal(labels_accum, np.int64(0))), 0.0),
                                            math_ops.greater(_count(math_ops.equal(labels_accum, np.int64(1))), 0.0))
        is_valid = math_ops.logical_and(both_classes, math_ops.greater_equal(math_ops.reduce_sum(weights_accum), 1.0))
        auc = _placement_auc(labels_accum, preds_accum, weights_accum, alpha, logit_transformation, is_valid)
    _add_to_collections(updates_collections, update_op)
    _add_to_collections(metrics_collections, auc)
    return auc, update_op


# ------------------------------------------------------------------------------------------
# precision_recall_at_equal_thresholds


def precision_recall_at_equal_thresholds(labels, predictions, weights=None, num_thresholds=None, use_locking=None,
                                         name=None):
    """Per-threshold tp, fp, tn, fn, precision and recall at `num_thresholds` (default 201) thresholds
    evenly spaced in [0, 1], in O(T + N): each prediction p adds its (weighted) label to bucket
    floor(p * (T - 1)) of `variables/tp_buckets` or `variables/fp_buckets` (float64), and the counts at
    threshold t_i (a prediction counts as positive when p >= t_i) are the reversed running sums.

    labels must be bool (else DTypeError, a TypeError), predictions in [0, 1] (else the update raises
    InvalidArgumentError). Returns (PrecisionRecallData of [T] tensors in the predictions' dtype, update
    group op). `use_locking` is accepted and has no effect (a slimir run writes its variables once).
    """
    num_thresholds = 201 if num_thresholds is None else int(num_thresholds)
    if num_thresholds < 2:
        raise InvalidArgumentError(f"num_thresholds must be >= 2, got {num_thresholds}")
    labels, predictions = _t(labels), _t(predictions)
    if labels.dtype is not _dt.bool_:
        raise DTypeError(f"precision_recall_at_equal_thresholds: labels must be bool, got {labels.dtype.name}")
    if not predictions.dtype.is_floating:
        raise DTypeError(f"precision_recall_at_equal_thresholds: predictions must be floating point, got "
                         f"{predictions.dtype.name}")
    with variable_scope(name, "precision_recall_at_equal_thresholds", (labels, predictions, weights)):
        out_dtype = predictions.dtype
        check = state_ops.assert_all(
            math_ops.logical_and(math_ops.greater_equal(predictions, 0.0), math_ops.less_equal(predictions, 1.0)),
            "predictions must be in [0, 1]")
        predictions, labels, weights = _remove_squeezable_dimensions(predictions, labels,
                                                                     1.0 if weights is None else weights)
        _assert_compatible(predictions, labels)
        f_labels = _cast(labels, _F64)
        weights = _broadcast_weights(_cast(weights, _F64), f_labels)
        true_labels = array_ops.reshape(f_labels * weights, [-1])
        false_labels = array_ops.reshape((1.0 - f_labels) * weights, [-1])
        calc = predictions if predictions.dtype in (_F32, _F64) else _cast(predictions, _F32)
        buckets = array_ops.cast(math_ops.floor(array_ops.reshape(calc, [-1]) * float(num_thresholds - 1)), _I32)
        with name_scope("variables"):
            tp_buckets = _metric_variable([num_thresholds], _F64, "tp_buckets")
            fp_buckets = _metric_variable([num_thresholds], _F64, "fp_buckets")
        with name_scope("update_op"), control_dependencies([check]):
            update_tp = state_ops.assign(tp_buckets, tp_buckets + unsorted_segment_sum(true_labels, buckets,
                                                                                      num_thresholds))
            update_fp = state_ops.assign(fp_buckets, fp_buckets + unsorted_segment_sum(false_labels, buckets,
                                                                                      num_thresholds))
        tp = cumsum(tp_buckets, reverse=True, name="tp")
        fp = cumsum(fp_buckets, reverse=True, name="fp")
        tn, fn = fp[0] - fp, tp[0] - tp
        epsilon = _c(1e-7, _F64)
        precision = tp / math_ops.maximum(epsilon, tp + fp)
        recall = tp / math_ops.maximum(epsilon, tp + fn)
        thresholds = _c(np.linspace(0.0, 1.0, num_thresholds), _F64)
        result = PrecisionRecallData(*[_cast(t, out_dtype) for t in (tp, fp, tn, fn, precision, recall, thresholds)])
        update_op = state_ops.group(update_tp, update_fp)
    return result, update_op


# ------------------------------------------------------------------------------------------
# Operating points picked from per-threshold counts


def _thresholds(num_thresholds: int, last: float) -> list:
    num_thresholds = int(num_thresholds)
    if num_thresholds < 2:
        raise InvalidArgumentError(f"num_thresholds must be >= 2, got {num_thresholds}")
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - _EPSILON] + inner + [last]


def _in_unit_interval(value, what: str) -> None:
    if not 0 <= value <= 1:
        raise InvalidArgumentError(f"`{what}` must be in the range [0, 1]. Currently, `{what}` got {value}.")


def _operating_point(scope, pick, predictions, labels, weights, num_thresholds, last_threshold, metrics_collections,
                     updates_collections, name):
    """A metric read at one threshold chosen from the per-threshold counts: `pick(tp, fn, tn, fp, name)` maps
    the float32 count vectors to the metric, for the accumulators and for the updated counts."""
    with variable_scope(name, scope, (predictions, labels, weights)):
        ths = _thresholds(num_thresholds, last_threshold)
        values, updates = _confusion_matrix_at_thresholds(predictions, labels, ths, weights)
        value = pick(values["tp"], values["fn"], values["tn"], values["fp"], "value")
        update_op = pick(updates["tp"], updates["fn"], updates["tn"], updates["fp"], "update_op")
    _add_to_collections(metrics_collections, value)
    _add_to_collections(updates_collections, update_op)
    return value, update_op


def _ratio_at(a, b, idx, name):
    """a[idx] / (a[idx] + b[idx] + 1e-7)."""
    ai = gather(a, idx)
    return math_ops.truediv(ai, ai + gather(b, idx) + _EPSILON, name=name)


def streaming_sensitivity_at_specificity(predictions, labels, specificity, weights=None, num_thresholds=200,
                                         metrics_collections=None, updates_collections=None, name=None):
    """The sensitivity (recall) tp / (tp + fn) at the threshold whose specificity tn / (tn + fp) is closest to
    `specificity` (the first such threshold), among `num_thresholds` thresholds in [0, 1]. Accumulators
    `sensitivity_at_specificity/true_positives` etc. (float64); predictions must lie in [0, 1]."""
    _in_unit_interval(specificity, "specificity")

    def pick(tp, fn, tn, fp, nm):
        specificities = math_ops.truediv(tn, tn + fp + _EPSILON)
        idx = math_ops.argmin(math_ops.abs(specificities - float(specificity)), 0, output_type=_I32)
        return _ratio_at(tp, fn, idx, nm)

    return _operating_point("sensitivity_at_specificity", pick, predictions, labels, weights, num_thresholds,
                            1.0 + _EPSILON, metrics_collections, updates_collections, name)


def streaming_specificity_at_sensitivity(predictions, labels, sensitivity, weights=None, num_thresholds=200,
                                         metrics_collections=None, updates_collections=None, name=None):
    """The specificity tn / (tn + fp) at the threshold whose sensitivity tp / (tp + fn) is closest to
    `sensitivity` (the last, highest, such threshold, as TF), among `num_thresholds` thresholds in [0, 1)
    (TF's last threshold is 1 - 1e-7 here). Accumulators `specificity_at_sensitivity/true_positives` etc."""
    _in_unit_interval(sensitivity, "sensitivity")

    def pick(tp, fn, tn, fp, nm):
        dist = math_ops.abs(math_ops.truediv(tp, tp + fn + _EPSILON) - float(sensitivity))
        n = int(dist.shape[0])
        idx = (n - 1) - math_ops.argmin(dist[::-1], 0, output_type=_I32)  # the last index of the minimum
        return _ratio_at(tn, fp, idx, nm)

    return _operating_point("specificity_at_sensitivity", pick, predictions, labels, weights, num_thresholds,
                            1.0 - _EPSILON, metrics_collections, updates_collections, name)


def recall_at_precision(labels, predictions, precision, weights=None, num_thresholds=200, metrics_collections=None,
                        updates_collections=None, name=None, strict_mode=False):
    """The recall at the threshold whose precision tp / (tp + fp) is closest to `precision` (first such
    threshold). With `strict_mode`, the recall at the threshold of the smallest precision that is still
    >= `precision`, or 0 when no threshold reaches it. Accumulators `recall_at_precision/true_positives`
    etc.; labels are cast to bool, predictions must lie in [0, 1]."""
    if not 0 <= precision <= 1:
        raise InvalidArgumentError("`precision` must be in the range [0, 1].")

    def pick(tp, fn, tn, fp, nm):
        precisions = math_ops.truediv(tp, tp + fp + _EPSILON)
        if not strict_mode:
            idx = math_ops.argmin(math_ops.abs(precisions - float(precision)), 0, output_type=_I32)
            return _ratio_at(tp, fn, idx, nm)
        # the reciprocal of (precision - target) ranks the smallest non-negative difference first
        idx = math_ops.argmax(math_ops.truediv(1.0, precisions - float(precision) + _EPSILON), 0, output_type=_I32)
        reached = math_ops.greater_equal(gather(precisions, idx), float(precision))
        return math_ops.where(reached, _ratio_at(tp, fn, idx, None), _c(0.0, _F32), name=nm)

    return _operating_point("recall_at_precision", pick, predictions, labels, weights, num_thresholds,
                            1.0 + _EPSILON, metrics_collections, updates_collections, name)


def precision_at_recall(labels, predictions, target_recall, weights=None, num_thresholds=200,
                        metrics_collections=None, updates_collections=None, name=None):
    """The precision (tp + 1e-7) / (tp + fp + 1e-7) at the highest threshold whose recall is still >=
    `target_recall`. Accumulators `precision_at_recall/true_positives` etc.; labels are cast to bool,
    predictions must lie in [0, 1]."""
    if target_recall < 0 or target_recall > 1:
        raise InvalidArgumentError("`target_recall` must be in the range [0, 1].")

    def pick(tp, fn, tn, fp, nm):
        recalls = math_ops.truediv(tp, tp + fn + _EPSILON)
        admissible = math_ops.reduce_sum(array_ops.cast(math_ops.greater_equal(recalls, float(target_recall)), _I32))
        idx = admissible - np.int32(1)  # -1 (none admissible) reads the last threshold, as TF's indexing does
        tpi = gather(tp, idx)
        return math_ops.truediv(tpi + _EPSILON, tpi + gather(fp, idx) + _EPSILON, name=nm)

    return _operating_point("precision_at_recall", pick, predictions, labels, weights, num_thresholds,
                            1.0 + _EPSILON, metrics_collections, updates_collections, name)


# ------------------------------------------------------------------------------------------
# cohen_kappa


def cohen_kappa(labels, predictions_idx, num_classes, weights=None, metrics_collections=None,
                updates_collections=None, name=None):
    """Cohen's kappa (inter-annotator agreement) of class ids `labels` and `predictions_idx` ([N] or
    [N, 1]): from the confusion table's diagonal `cohen_kappa/po`, column sums `pe_row` and row sums
    `pe_col`, kappa = (sum(po) - sum(pe)) / (N - sum(pe)) with pe = pe_row * pe_col / N (float64; 0 when the
    denominator is 0). The accumulators are int64 without weights or with integer weights, float64 with
    float weights (TF: float32). Ids outside [0, num_classes) make the update raise InvalidArgumentError.
    """
    if num_classes < 2:
        raise InvalidArgumentError(f"`num_classes` must be >= 2.Found: {num_classes}")
    num_classes = int(num_classes)
    with variable_scope(name, "cohen_kappa", (labels, predictions_idx, weights)):
        labels, predictions_idx = _t(labels), _t(predictions_idx)
        if len(labels.shape) > 2:
            raise ShapeError(f"cohen_kappa: labels must have rank 1 or 2, got {fmt(labels.shape)}")
        if len(labels.shape) == 2:
            if labels.shape[-1] not in (1, None):
                raise ShapeError(f"cohen_kappa: labels of shape {fmt(labels.shape)}: a rank-2 labels tensor must "
                                 "be [N, 1]")
            labels = array_ops.squeeze(labels, [-1])
        predictions_idx, labels, weights = _remove_squeezable_dimensions(predictions_idx, labels, weights)
        _assert_compatible(predictions_idx, labels)
        stat_dtype = _I64 if weights is None or weights.dtype.is_integer else _F64
        po = _metric_variable((num_classes,), stat_dtype, "po")
        pe_row = _metric_variable((num_classes,), stat_dtype, "pe_row")
        pe_col = _metric_variable((num_classes,), stat_dtype, "pe_col")
        lab = array_ops.reshape(_cast(labels, _I64), [-1])
        pred = array_ops.reshape(_cast(predictions_idx, _I64), [-1])
        checks = [state_ops.assert_all(math_ops.logical_and(math_ops.greater_equal(t, np.int64(0)),
                                                            math_ops.less(t, np.int64(num_classes))),
                                       f"`{what}` out of bound: must be in [0, num_classes={num_classes})")
                  for t, what in ((lab, "labels"), (pred, "predictions"))]
        if weights is None:
            w = array_ops.ones_like(lab)
        else:
            w = array_ops.reshape(_broadcast_weights(_cast(weights, stat_dtype), _cast(labels, stat_dtype)), [-1])
        table = array_ops.reshape(unsorted_segment_sum(w, lab * np.int64(num_classes) + pred,
                                                       num_classes * num_classes), [num_classes, num_classes])
        diag = math_ops.reduce_sum(table * _c(np.eye(num_classes), stat_dtype), axis=1)
        with control_dependencies(checks):
            update_po = state_ops.assign(po, po + diag, name="AssignAdd")
            update_pe_row = state_ops.assign(pe_row, pe_row + math_ops.reduce_sum(table, axis=0), name="AssignAdd_1")
            update_pe_col = state_ops.assign(pe_col, pe_col + math_ops.reduce_sum(table, axis=1), name="AssignAdd_2")

        def kappa(po_, pe_row_, pe_col_, nm):
            po_sum = math_ops.reduce_sum(_cast(po_, _F64))
            row, col = _cast(pe_row_, _F64), _cast(pe_col_, _F64)
            total = math_ops.reduce_sum(row)
            pe_sum = math_ops.reduce_sum(_div_no_nan(row * col, total))
            return _div_no_nan(po_sum - pe_sum, total - pe_sum, name=nm)

        value = kappa(po, pe_row, pe_col, "value")
        update_op = kappa(update_po, update_pe_row, update_pe_col, "update_op")
    _add_to_collections(metrics_collections, value)
    _add_to_collections(updates_collections, update_op)
    return value, update_op


# ------------------------------------------------------------------------------------------
# Sparse average precision@k


def _average_precision(top_idx: Tensor, labels: Tensor) -> Tensor:
    """Per row of [R, k] ranked class ids and [R, L] label ids: sum over ranks i of precision@i where rank i
    is a label, over min(#labels >= 0, k) (float64; NaN for a row without labels)."""
    k = int(top_idx.shape[-1])
    hit = math_ops.equal(array_ops.expand_dims(top_idx, 2), array_ops.expand_dims(labels, 1))  # [R, k, L]
    relevant = math_ops.reduce_max(array_ops.cast(hit, _F64), axis=2)  # a label set: repeats count once
    precision_at = cumsum(relevant, axis=1) / _c(np.arange(1, k + 1), _F64)
    precision_sum = math_ops.reduce_sum(precision_at * relevant, axis=1)
    num_relevant = math_ops.minimum(math_ops.reduce_sum(array_ops.cast(math_ops.greater_equal(labels, np.int64(0)),
                                                                       _F64), axis=1), float(k))
    return precision_sum / num_relevant


def _streaming_average_precision(top_idx, labels, weights, metrics_collections, updates_collections):
    """The mean (weighted) average precision of [D1, ... DN, k] ranked class ids against [D1, ... DN(, L)]
    labels: accumulators `total` (sum of the rows' weighted AP) and `max` (sum of the weights), float64."""
    lead = tuple(top_idx.shape[:-1])
    labels = _t(labels)
    if not labels.dtype.is_integer:
        raise DTypeError(f"labels must be integer class ids, got {labels.dtype.name}")
    if len(labels.shape) == len(lead):
        labels = array_ops.expand_dims(labels, -1)
    elif len(labels.shape) != len(lead) + 1:
        raise ShapeError(f"Unexpected labels shape {fmt(labels.shape)} for predictions shape "
                         f"{fmt(tuple(top_idx.shape))}: labels must have the predictions' rank or one less")
    if labels.shape[-1] is None:
        raise ShapeError(f"labels must have a static last dimension (num_labels), got {fmt(labels.shape)}")
    k = int(top_idx.shape[-1])
    max_var = _metric_variable([], _F64, "max")
    total_var = _metric_variable([], _F64, "total")
    ap = _average_precision(array_ops.reshape(top_idx, [-1, k]),
                            array_ops.reshape(_cast(labels, _I64), [-1, int(labels.shape[-1])]))
    if weights is None:
        batch_max = _cast(array_ops.shape(ap, out_type=_I32)[0], _F64)
    else:
        w = _cast(weights, _F64)
        if len(w.shape) not in (0, len(lead)):
            raise ShapeError(f"weights of shape {fmt(w.shape)} must be a scalar or have the leading shape "
                             f"{fmt(lead)} of the labels")
        w = array_ops.reshape(_broadcast_weights(w, _cast(labels[..., 0], _F64)), [-1])
        ap = ap * w
        batch_max = math_ops.reduce_sum(w)
    max_update = state_ops.assign(max_var, max_var + batch_max, name="update")
    total_update = state_ops.assign(total_var, total_var + math_ops.reduce_sum(ap), name="update")
    value = _div_no_nan(total_var, max_var, name="mean")
    update = _div_no_nan(total_update, max_update, name="update")
    _add_to_collections(metrics_collections, value)
    _add_to_collections(updates_collections, update)
    return value, update


def streaming_sparse_average_precision_at_k(predictions, labels, k, weights=None, metrics_collections=None,
                                            updates_collections=None, name=None):
    """The mean average precision@k: per row, the precision at each of the top-k ranks that holds a label,
    summed and divided by min(number of labels, k); averaged over rows (weighted), as float64.

    predictions [D1, ... DN, num_classes] (static num_classes); labels: dense integer class ids [D1, ... DN]
    or [D1, ... DN, num_labels] (ids outside [0, num_classes) are ignored; a row without any label gives NaN,
    as TF). Accumulators `average_precision_at_<k>/total` and `.../max`.
    """
    if int(k) < 1:
        raise InvalidArgumentError(f"Invalid k={k}. `k` should be >= 1.")
    k = int(k)
    with name_scope(None, name or _at_k_name("average_precision", k)):
        predictions = _t(predictions)
        if not predictions.dtype.is_floating:
            predictions = _cast(predictions, _F32)
        if len(predictions.shape) < 2 or predictions.shape[-1] is None:
            raise ShapeError(f"predictions must be [D1, ... DN, num_classes] with N >= 1 and a static num_classes, "
                             f"got {fmt(predictions.shape)}")
        num_classes = int(predictions.shape[-1])
        _, top_idx = top_k(predictions, k)
        labels = _t(labels)
        if labels.dtype.is_integer:  # ids >= num_classes are ignored: mapped to -1 as TF does
            labels = math_ops.where(math_ops.greater_equal(labels, num_classes), -1, labels)
        return _streaming_average_precision(_cast(top_idx, _I64), labels, weights, metrics_collections,
                                            updates_collections)


def streaming_sparse_average_precision_at_top_k(top_k_predictions, labels, weights=None, metrics_collections=None,
                                                updates_collections=None, name=None):
    """The mean average precision@k from ranked class ids [D1, ... DN, k] (static k) instead of scores (see
    streaming_sparse_average_precision_at_k; negative label ids are ignored). Accumulators
    `average_precision_at_top_k/total` and `.../max`."""
    with name_scope(None, name or "average_precision_at_top_k"):
        top_idx = _cast(_t(top_k_predictions), _I64)
        if len(top_idx.shape) < 1:
            raise ShapeError("The rank of `predictions_idx` must be at least 1.")
        if top_idx.shape[-1] is None:
            raise ShapeError("The last dimension of predictions_idx must be set. Currently, it is None.")
        return _streaming_average_precision(top_idx, labels, weights, metrics_collections, updates_collections)
