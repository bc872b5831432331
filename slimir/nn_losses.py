"""TF's per-example cross-entropy functions (`tf.nn.*_cross_entropy_with_logits`), built from registered ops.

Each returns the unreduced loss per example; `slim.losses` weights and averages them.
"""

from __future__ import annotations

import numpy as np

from .errors import DTypeError, InvalidArgumentError, ShapeError
from .ir.graph import Tensor, get_default_graph, name_scope
from .ir.registry import convert_to_tensor, normalize_axis
from .ops import array_ops, math_ops, nn_ops
from .ops import state as state_ops
from .shape import compatible, fmt

__all__ = ["sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
           "sparse_softmax_cross_entropy_with_logits"]


def _named_args_only(sentinel, fn: str) -> None:
    if sentinel is not None:
        raise InvalidArgumentError(f"{fn}: only call it with named arguments (labels=..., logits=...)")


def _float_logits(logits, fn: str):
    if logits is None:
        raise InvalidArgumentError(f"{fn}: logits must be given")
    logits = convert_to_tensor(logits)
    if not logits.dtype.is_floating:
        raise DTypeError(f"{fn}: logits {logits.name} must be floating point, got {logits.dtype.name}")
    return logits


def _labels_like(labels, logits, fn: str):
    """Labels as a tensor of the logits' dtype and a compatible shape."""
    if labels is None:
        raise InvalidArgumentError(f"{fn}: labels must be given")
    if not isinstance(labels, Tensor):
        labels = convert_to_tensor(np.asarray(labels, logits.dtype.np))
    if labels.dtype is not logits.dtype:
        raise DTypeError(f"{fn}: labels {labels.name} ({labels.dtype.name}) and logits {logits.name} "
                         f"({logits.dtype.name}) must have the same dtype")
    if not compatible(labels.shape, logits.shape):
        raise ShapeError(f"{fn}: logits and labels must have the same shape, got logits {fmt(logits.shape)} "
                         f"and labels {fmt(labels.shape)}")
    return labels


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim: int = -1,
                                      name: str | None = None, axis: int | None = None):
    """-sum(labels * log_softmax(logits)) over `axis` (TF1's tf.nn.softmax_cross_entropy_with_logits).

    As in TF1 no gradient flows into `labels`. The result has the logits' shape without `axis`.
    """
    fn = "softmax_cross_entropy_with_logits"
    _named_args_only(_sentinel, fn)
    axis = dim if axis is None else axis
    logits = _float_logits(logits, fn)
    labels = _labels_like(labels, logits, fn)
    if len(logits.shape) < 1:
        raise ShapeError(f"{fn}: logits must have rank >= 1, got {fmt(logits.shape)}")
    ax = normalize_axis(int(axis), len(logits.shape))
    with name_scope(name, "softmax_cross_entropy_with_logits", [logits, labels]) as sc:
        labels = array_ops.stop_gradient(labels, name="labels_stop_gradient")
        log_p = nn_ops.log_softmax(logits, axis=ax)
        nll = math_ops.reduce_sum(math_ops.mul(labels, log_p), axis=ax)
        return math_ops.neg(nll, name=sc)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None,
                                             name: str | None = None, check_labels: bool = True):
    """-log_softmax(logits)[..., labels] (TF's tf.nn.sparse_softmax_cross_entropy_with_logits).

    `labels` are int32/int64 class indices of shape logits.shape[:-1]. A run with a label outside
    [0, num_classes) raises InvalidArgumentError with TF's (CPU) message, naming the labels tensor, before
    any variable changes (state_ops.check_labels); with check_labels=False (slimir) such a label gives NaN
    for its example instead (as TF on GPU).
    """
    fn = "sparse_softmax_cross_entropy_with_logits"
    _named_args_only(_sentinel, fn)
    logits = _float_logits(logits, fn)
    if labels is None:
        raise InvalidArgumentError(f"{fn}: labels must be given")
    labels = convert_to_tensor(labels)
    if not labels.dtype.is_integer:
        raise DTypeError(f"{fn}: labels {labels.name} must be int32 or int64 class indices, "
                         f"got {labels.dtype.name}")
    if len(logits.shape) < 1:
        raise ShapeError(f"{fn}: logits must have rank >= 1, got {fmt(logits.shape)}")
    if len(labels.shape) != len(logits.shape) - 1:
        raise ShapeError(f"{fn}: rank of labels (shape {fmt(labels.shape)}) must equal rank of logits "
                         f"minus 1 (logits shape {fmt(logits.shape)})")
    if not compatible(labels.shape, logits.shape[:-1]):
        raise ShapeError(f"{fn}: labels of shape {fmt(labels.shape)} do not match logits of shape "
                         f"{fmt(logits.shape)} (labels must have shape logits.shape[:-1])")
    depth = logits.shape[-1]
    if depth is None:
        raise ShapeError(f"{fn}: the number of classes (last dimension of logits {fmt(logits.shape)}) "
                         "must be known statically")
    with name_scope(name, "SparseSoftmaxCrossEntropyWithLogits", [logits, labels]) as sc:
        if check_labels:
            labels = state_ops.check_labels(labels, depth, get_default_graph().get_name_scope())
        onehot = array_ops.one_hot(labels, depth, dtype=logits.dtype)
        log_p = nn_ops.log_softmax(logits, axis=-1)
        loss = math_ops.neg(math_ops.reduce_sum(math_ops.mul(onehot, log_p), axis=-1))
        valid = math_ops.logical_and(math_ops.greater_equal(labels, 0), math_ops.less(labels, depth))
        nan = array_ops.constant(np.array(np.nan, logits.dtype.np), name="nan")
        return math_ops.where(valid, loss, nan, name=sc)


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name: str | None = None):
    """Elementwise logistic loss, stable form max(x, 0) - x*z + log(1 + exp(-|x|))
    (TF's tf.nn.sigmoid_cross_entropy_with_logits); labels and logits have the same shape and dtype."""
    fn = "sigmoid_cross_entropy_with_logits"
    _named_args_only(_sentinel, fn)
    logits = _float_logits(logits, fn)
    labels = _labels_like(labels, logits, fn)
    with name_scope(name, "logistic_loss", [logits, labels]) as sc:
        relu_logits = math_ops.relu(logits)
        log_term = math_ops.softplus(math_ops.neg(math_ops.abs(logits)))  # log1p(exp(-|x|)), stable in ORT
        return math_ops.add(math_ops.sub(relu_logits, math_ops.mul(logits, labels)), log_term, name=sc)
