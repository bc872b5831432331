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

The modules: means.py (means, accuracy, errors), classification.py (counts, thresholds, AUC, mean IoU),
ranking.py (top-k), statistics.py (covariance, concatenation), curves.py (the ranking, curve and agreement
metrics: streaming_dynamic_auc, auc_with_confidence_intervals, precision_recall_at_equal_thresholds,
recall_at_precision, precision_at_recall, cohen_kappa, streaming_specificity_at_sensitivity,
streaming_sensitivity_at_specificity, the sparse average precisions).
"""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .classification import (
    streaming_auc,
    streaming_curve_points,
    streaming_false_negative_rate,
    streaming_false_negative_rate_at_thresholds,
    streaming_false_negatives,
    streaming_false_negatives_at_thresholds,
    streaming_false_positive_rate,
    streaming_false_positive_rate_at_thresholds,
    streaming_false_positives,
    streaming_false_positives_at_thresholds,
    streaming_mean_iou,
    streaming_precision,
    streaming_precision_at_thresholds,
    streaming_recall,
    streaming_recall_at_thresholds,
    streaming_true_negatives,
    streaming_true_negatives_at_thresholds,
    streaming_true_positives,
    streaming_true_positives_at_thresholds,
)
from .curves import (
    AucData,
    PrecisionRecallData,
    auc_with_confidence_intervals,
    cohen_kappa,
    precision_at_recall,
    precision_recall_at_equal_thresholds,
    recall_at_precision,
    streaming_dynamic_auc,
    streaming_sensitivity_at_specificity,
    streaming_sparse_average_precision_at_k,
    streaming_sparse_average_precision_at_top_k,
    streaming_specificity_at_sensitivity,
)
from .means import (
    count,
    streaming_accuracy,
    streaming_mean,
    streaming_mean_absolute_error,
    streaming_mean_cosine_distance,
    streaming_mean_relative_error,
    streaming_mean_squared_error,
    streaming_mean_tensor,
    streaming_percentage_less,
    streaming_root_mean_squared_error,
)
from .ranking import (
    sparse_recall_at_top_k,
    streaming_recall_at_k,
    streaming_sparse_precision_at_k,
    streaming_sparse_precision_at_top_k,
    streaming_sparse_recall_at_k,
)
from .statistics import streaming_concat, streaming_covariance, streaming_pearson_correlation

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
    "AucData", "PrecisionRecallData", "auc_with_confidence_intervals", "cohen_kappa", "precision_at_recall",
    "precision_recall_at_equal_thresholds", "recall_at_precision", "streaming_dynamic_auc",
    "streaming_sensitivity_at_specificity",
    "streaming_sparse_average_precision_at_k", "streaming_sparse_average_precision_at_top_k",
    "streaming_specificity_at_sensitivity",
]


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
