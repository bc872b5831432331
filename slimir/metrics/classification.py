"""Classification counts: true/false positives/negatives, precision, recall, the counts at thresholds, AUC,
precision/recall/rates at thresholds, curve points, and mean IoU."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import (
    Tensor,
    control_dependencies,
    get_default_graph,
    variable_scope,
)
from ..ops import array_ops, math_ops
from ..ops import state as state_ops
from ..shape import fmt
from ._common import (
    _EPSILON,
    _F32,
    _F64,
    _add_to_collections,
    _broadcast_weights,
    _cast,
    _check_compatible,
    _const,
    _div_no_nan,
    _metric_variable,
    _remove_squeezable_dimensions,
    _runtime_check,
    _sum64,
    _t,
)

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


