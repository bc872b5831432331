"""`slim.losses`: TF-Slim's loss functions (tf_slim/losses/loss_ops.py) as IR built from registered ops.

Weighted losses are sums of weighted elements divided by the number of *present* elements (those whose
weight, broadcast over the losses, is non-zero; 0 when none is), and are added to the LOSSES collection:

    loss = slim.losses.softmax_cross_entropy(logits, onehot_labels)      # logits first, as TF-Slim
    slim.losses.sum_of_squares(depth, depth_labels, weights=mask)         # per-element weights
    total = slim.losses.get_total_loss()                                  # + regularization losses

`weights` is a scalar, a tensor of shape [batch_size] (a trailing 1 is squeezed: [batch_size, 1]), or
a tensor matching the leading dimensions of the per-element losses; `weights=None` raises ValueError.
`hinge_loss` returns the unreduced per-element loss and, as in TF-Slim, adds nothing to the collection.
"""

from __future__ import annotations

import numpy as np

from . import dtypes as _dt
from . import nn_losses
from .arg_scope import add_arg_scope
from .errors import InvalidArgumentError, ShapeError
from .ir.graph import GraphKeys, Tensor, add_to_collection, get_collection, get_default_graph, name_scope
from .ir.registry import convert_to_tensor, normalize_axis
from .ops import array_ops, math_ops
from .shape import compatible, fmt

__all__ = [
    "absolute_difference", "add_loss", "compute_weighted_loss", "cosine_distance", "get_losses",
    "get_regularization_loss", "get_regularization_losses", "get_total_loss", "hinge_loss", "huber_loss", "log_loss",
    "mean_pairwise_squared_error", "mean_squared_error", "sigmoid_cross_entropy", "softmax_cross_entropy",
    "sparse_softmax_cross_entropy", "sum_of_squares",
]

LOSSES = GraphKeys.LOSSES
_ARG_SCOPED = type("_ArgScoped", (), {"__repr__": lambda self: "LOSSES"})()  # add_loss's (arg-scoped) default

# ------------------------------------------------------------------------------------------
# Helpers


def _here(default: str) -> str:
    """The current name scope, for error messages."""
    return get_default_graph().get_name_scope() or default


def _require(value, what: str, fn: str):
    if value is None:
        raise InvalidArgumentError(f"{fn}: {what} must not be None")
    return value


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


def _cast(x: Tensor, dtype) -> Tensor:
    """TF's math_ops.cast: no node when the dtype already matches."""
    return x if x.dtype is dtype else array_ops.cast(x, dtype)


def _to_float(x) -> Tensor:
    return _cast(_tensor(x), _dt.float32)


def _check_compatible(a: Tensor, b: Tensor, a_name: str, b_name: str, fn: str) -> None:
    if not compatible(a.shape, b.shape):
        raise ShapeError(f"{_here(fn)}: {a_name} of shape {fmt(a.shape)} is incompatible with "
                         f"{b_name} of shape {fmt(b.shape)}")


def _reduce_sum(x: Tensor, axes) -> Tensor:
    axes = list(axes)
    return math_ops.reduce_sum(x, axis=axes) if axes else x


def _num_elements(x: Tensor, start: int) -> Tensor:
    """prod(x.shape[start:]) as a float32 scalar: a constant when static, else computed at run time."""
    dims = x.shape[start:]
    if all(d is not None for d in dims):
        n = float(np.prod(dims, dtype=np.int64))
        return array_ops.constant(n, dtype=_dt.float32, name="num_elements")
    s = array_ops.cast(array_ops.shape(x), _dt.float32)
    return math_ops.reduce_prod(s[start:])


def _div_no_nan(x: Tensor, y: Tensor, name: str) -> Tensor:
    """x / y, and 0 where y == 0 (the masked division keeps gradients finite there too)."""
    zero = math_ops.equal(y, 0.0)
    safe = math_ops.where(zero, 1.0, y)
    return math_ops.where(zero, 0.0, math_ops.div(x, safe), name=name)


def _scale_losses(losses: Tensor, weights: Tensor) -> Tensor:
    """sum(losses * weights), reducing `losses` down to the rank of `weights` first."""
    reduced = _reduce_sum(losses, range(len(weights.shape), len(losses.shape)))
    scaled = math_ops.mul(reduced, weights)
    return math_ops.reduce_sum(scaled) if len(scaled.shape) else scaled


def _num_present(losses: Tensor, weights: Tensor, per_batch: bool = False) -> Tensor:
    """How many elements of `losses` the non-zero `weights` select (TF-Slim's `_num_present`).

    A scalar weight selects all elements (or none when it is 0). A weight tensor of shape [b, d1..dk]
    counts its non-zero entries per batch row, each standing for prod(losses.shape[k+1:]) elements.
    With `per_batch`, the count per batch row (a scalar, broadcasting, for a scalar weight).
    """
    if len(weights.shape) == 0:
        n = _num_elements(losses, 1 if per_batch and len(losses.shape) else 0)
        return math_ops.where(math_ops.equal(weights, 0.0), 0.0, n)
    nonzero = array_ops.cast(math_ops.not_equal(weights, 0.0), _dt.float32)
    per_row = _reduce_sum(nonzero, range(1, len(weights.shape)))
    if len(weights.shape) < len(losses.shape):
        per_row = math_ops.mul(per_row, _num_elements(losses, len(weights.shape)))
    return per_row if per_batch else math_ops.reduce_sum(per_row)


def _squeeze_trailing_one(weights: Tensor) -> Tensor:
    if len(weights.shape) > 1 and weights.shape[-1] in (1, None):
        return array_ops.squeeze(weights, [-1])
    return weights


def _check_weights(losses: Tensor, weights: Tensor, given_shape, fn: str) -> None:
    ls, ws = losses.shape, weights.shape
    ok = len(ws) <= len(ls) and all(w is None or d is None or w == 1 or w == d for w, d in zip(ws, ls))
    if not ok:
        raise ShapeError(
            f"{_here(fn)}: weights of shape {fmt(given_shape)} do not fit losses of shape {fmt(ls)}; weights "
            "must be a scalar, of shape [batch_size] or [batch_size, 1], or match the leading dimensions "
            "of the losses")


def _weighted_mean(losses, weights, fn: str) -> Tensor:
    """The body of compute_weighted_loss, inside the caller's name scope."""
    losses = _tensor(losses)
    input_dtype = losses.dtype
    losses = _cast(losses, _dt.float32)
    weights = _to_float(weights)
    given = weights.shape
    weights = _squeeze_trailing_one(weights)
    _check_weights(losses, weights, given, fn)
    total = _scale_losses(losses, weights)
    mean = _div_no_nan(total, _num_present(losses, weights), name="value")
    mean = _cast(mean, input_dtype)
    add_loss(mean)
    return mean


# ------------------------------------------------------------------------------------------
# Collections


@add_arg_scope
def add_loss(loss, loss_collection=LOSSES) -> None:
    """Add an externally defined loss to `loss_collection` (nothing when it is None or '')."""
    if loss_collection:
        add_to_collection(loss_collection, loss)


def get_losses(scope: str | None = None, loss_collection=LOSSES) -> list:
    """The losses in `loss_collection`, optionally only those whose name matches `scope`."""
    return get_collection(loss_collection, scope)


def get_regularization_losses(scope: str | None = None) -> list:
    """The REGULARIZATION_LOSSES (added by variables created with a regularizer)."""
    return get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope: str | None = None, name: str = "total_regularization_loss") -> Tensor:
    """The sum of the REGULARIZATION_LOSSES (matching `scope`), one AddN named `name`; 0.0 when there are
    none (TF's tf.losses.get_regularization_loss)."""
    losses = get_regularization_losses(scope)
    if not losses:
        from .ops.array_ops import constant

        return constant(0.0, name=name)
    return math_ops.add_n(losses, name=name)


def get_total_loss(add_regularization_losses: bool = True, name: str = "total_loss") -> Tensor:
    """The sum of all LOSSES and, by default, all REGULARIZATION_LOSSES (one AddN named `name`)."""
    losses = get_losses()
    if add_regularization_losses:
        losses = losses + get_regularization_losses()
    if not losses:
        raise InvalidArgumentError(
            "get_total_loss: there are no losses to add (the LOSSES collection"
            f"{' and REGULARIZATION_LOSSES' if add_regularization_losses else ''} is empty); create a loss "
            "with slim.losses.* or slim.losses.add_loss first")
    return math_ops.add_n(losses, name=name)


# ------------------------------------------------------------------------------------------
# Weighted reduction


def compute_weighted_loss(losses, weights=1.0, scope: str | None = None) -> Tensor:
    """The weighted mean of `losses` over the present elements, added to LOSSES.

    `weights`: a scalar, [batch_size] (or [batch_size, 1]), or [batch_size, d1, ... dK] with K < rank.
    """
    _require(weights, "weights", "compute_weighted_loss")
    _require(losses, "losses", "compute_weighted_loss")
    with name_scope(scope, "weighted_loss", [losses, weights]):
        return _weighted_mean(losses, weights, "compute_weighted_loss")


# ------------------------------------------------------------------------------------------
# Regression losses


def absolute_difference(predictions, labels=None, weights=1.0, scope: str | None = None) -> Tensor:
    """Weighted mean of |predictions - labels|."""
    fn = "absolute_difference"
    _require(labels, "labels", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, fn, [predictions, labels, weights]) as sc:
        predictions, labels = _to_float(predictions), _to_float(labels)
        _check_compatible(predictions, labels, "predictions", "labels", fn)
        losses = math_ops.abs(math_ops.sub(predictions, labels))
        return compute_weighted_loss(losses, weights, scope=sc)


def mean_squared_error(predictions, labels=None, weights=1.0, scope: str | None = None) -> Tensor:
    """Weighted mean of (predictions - labels)**2 (TF-Slim's sum-of-squares loss)."""
    fn = "mean_squared_error"
    _require(labels, "labels", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, fn, [predictions, labels, weights]) as sc:
        predictions, labels = _to_float(predictions), _to_float(labels)
        _check_compatible(predictions, labels, "predictions", "labels", fn)
        losses = math_ops.squared_difference(predictions, labels)
        return compute_weighted_loss(losses, weights, scope=sc)


sum_of_squares = mean_squared_error


def huber_loss(predictions, labels=None, weights=1.0, delta: float = 1.0, scope: str | None = None,
               loss_collection=_ARG_SCOPED) -> Tensor:
    """Huber loss with TF's tf.losses.huber_loss semantics: per element e = predictions - labels,
    0.5 * e**2 where |e| <= delta, else 0.5 * delta**2 + delta * (|e| - delta); then the sum of the
    weighted elements over the number of non-zero weights broadcast to the losses.

    As in tf.losses, `weights` is a scalar or has the rank of the losses with each dimension 1 or equal
    to the losses' (so per-example weights are [batch_size, 1]). The loss is symmetric in
    predictions and labels, so TF's (labels, predictions) order gives the same value.
    `loss_collection` defaults to LOSSES (through `add_loss`, so its arg_scope applies); None adds it
    to no collection.
    """
    fn = "huber_loss"
    _require(labels, "labels", fn)
    _require(predictions, "predictions", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, fn, [predictions, labels, weights]) as sc:
        predictions, labels = _to_float(predictions), _to_float(labels)
        _check_compatible(predictions, labels, "predictions", "labels", fn)
        abs_error = math_ops.abs(math_ops.sub(predictions, labels))
        quadratic = math_ops.minimum(abs_error, float(delta))
        linear = math_ops.sub(abs_error, quadratic)  # (not max(|e| - delta, 0): one gradient at |e| == delta)
        losses = math_ops.add(math_ops.mul(0.5, math_ops.square(quadratic)),
                              math_ops.mul(float(delta), linear))
        with name_scope(sc, "weighted_loss", [losses, weights]):
            w = _to_float(weights)
            ls, ws = losses.shape, w.shape
            if len(ws) and (len(ws) != len(ls) or not all(a is None or b is None or a in (1, b)
                                                           for a, b in zip(ws, ls))):
                raise ShapeError(
                    f"{_here(fn)}: weights of shape {fmt(ws)} cannot be broadcast to losses of shape "
                    f"{fmt(ls)}; weights must be a scalar or have the losses' rank with each dimension 1 "
                    "or equal (per-example weights: [batch_size, 1])")
            total = math_ops.reduce_sum(math_ops.mul(losses, w))
            present = array_ops.cast(math_ops.not_equal(w, 0.0), _dt.float32)
            num = math_ops.reduce_sum(math_ops.mul(present, array_ops.ones_like(losses)), name="num_present")
            mean = _div_no_nan(total, num, name="value")
        if loss_collection is _ARG_SCOPED:
            add_loss(mean)
        else:
            add_loss(mean, loss_collection=loss_collection)
        return mean


def mean_pairwise_squared_error(predictions, labels=None, weights=1.0, scope: str | None = None) -> Tensor:
    """Mean over pairs (i, j) within each example of ((p_i - p_j) - (l_i - l_j))**2, weighted per example.

    Per example with n present elements and d = predictions - labels:
    2 * sum(d**2) / n - 2 * sum(d)**2 / n**2. `weights` is a scalar or [batch_size] ([batch_size, 1]).
    """
    fn = "mean_pairwise_squared_error"
    _require(labels, "labels", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, fn, [predictions, labels, weights]):
        predictions, labels = _to_float(predictions), _to_float(labels)
        _check_compatible(predictions, labels, "predictions", "labels", fn)
        weights = _to_float(weights)
        given = weights.shape
        weights = _squeeze_trailing_one(weights)
        diffs = math_ops.sub(predictions, labels)
        ws, ds = weights.shape, diffs.shape
        per_example = len(ws) == 1 and len(ds) >= 1 and (ws[0] in (None, 1) or ds[0] in (None, ws[0]))
        if len(ws) and not per_example:
            raise ShapeError(f"{_here(fn)}: weights of shape {fmt(given)} do not fit predictions of shape "
                             f"{fmt(ds)}; weights must be a scalar or of shape [batch_size] "
                             "([batch_size, 1])")
        axes = range(1, len(ds))
        sum_sq = _reduce_sum(math_ops.square(diffs), axes)
        num = _num_present(diffs, weights, per_batch=True)
        term1 = math_ops.mul(2.0, _div_no_nan(sum_sq, num, name="value"))
        sum_diff = _reduce_sum(diffs, axes)
        term2 = math_ops.mul(2.0, _div_no_nan(math_ops.square(sum_diff), math_ops.square(num), name="value"))
        loss = _scale_losses(math_ops.sub(term1, term2), weights)
        any_present = math_ops.greater(math_ops.reduce_sum(num), 0.0)
        mean = math_ops.where(any_present, loss, 0.0, name="value")
        add_loss(mean)
        return mean


def cosine_distance(predictions, labels=None, axis: int | None = None, weights=1.0,
                    scope: str | None = None, dim: int | None = None) -> Tensor:
    """Weighted mean of 1 - sum(predictions * labels, axis) (inputs assumed unit-normalised).

    The per-element losses lose `axis`, so `weights` fit the remaining dimensions.
    """
    fn = "cosine_distance"
    if dim is not None:
        if axis is not None:
            raise InvalidArgumentError(f"{fn}: cannot specify both 'axis' ({axis}) and 'dim' ({dim})")
        axis = dim
    if axis is None:
        raise InvalidArgumentError(f"{fn}: you must specify 'axis'")
    _require(labels, "labels", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, "cosine_distance_loss", [predictions, labels, weights]) as sc:
        predictions, labels = _to_float(predictions), _to_float(labels)
        _check_compatible(predictions, labels, "predictions", "labels", fn)
        ax = normalize_axis(int(axis), len(predictions.shape))
        radial = math_ops.reduce_sum(math_ops.mul(predictions, labels), axis=[ax])
        losses = math_ops.sub(1.0, radial)
        return compute_weighted_loss(losses, weights, scope=sc)


# ------------------------------------------------------------------------------------------
# Classification losses


def log_loss(predictions, labels=None, weights=1.0, epsilon: float = 1e-7,
             scope: str | None = None) -> Tensor:
    """Weighted mean of -l*log(p + eps) - (1 - l)*log(1 - p + eps) for probabilities p."""
    fn = "log_loss"
    _require(labels, "labels", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, fn, [predictions, labels, weights]) as sc:
        predictions, labels = _to_float(predictions), _to_float(labels)
        _check_compatible(predictions, labels, "predictions", "labels", fn)
        eps = float(epsilon)
        pos = math_ops.mul(labels, math_ops.log(math_ops.add(predictions, eps)))
        log_not_p = math_ops.log(math_ops.add(math_ops.sub(1.0, predictions), eps))
        neg = math_ops.mul(math_ops.sub(1.0, labels), log_not_p)
        losses = math_ops.sub(math_ops.neg(pos), neg)
        return compute_weighted_loss(losses, weights, scope=sc)


def hinge_loss(logits, labels=None, scope: str | None = None) -> Tensor:
    """Per-element hinge loss relu(1 - (2*labels - 1) * logits) for {0, 1} labels.

    Unweighted and unreduced (shape of `logits`); as in TF-Slim it is not added to LOSSES: reduce it
    with `compute_weighted_loss` or `add_loss`.
    """
    fn = "hinge_loss"
    _require(labels, "labels", fn)
    with name_scope(scope, fn, [logits, labels]):
        logits, labels = _to_float(logits), _to_float(labels)
        _check_compatible(logits, labels, "logits", "labels", fn)
        signs = math_ops.sub(math_ops.mul(2.0, labels), 1.0)
        return math_ops.relu(math_ops.sub(1.0, math_ops.mul(signs, logits)))


def sigmoid_cross_entropy(logits, multi_class_labels, weights=1.0, label_smoothing=0,
                          scope: str | None = None) -> Tensor:
    """Weighted mean of the elementwise logistic loss; labels in [0, 1] of the logits' shape.

    label_smoothing > 0 moves the labels towards 1/2: z * (1 - s) + s / 2.
    """
    fn = "sigmoid_cross_entropy"
    _require(multi_class_labels, "multi_class_labels", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, "sigmoid_cross_entropy_loss", [logits, multi_class_labels, weights]) as sc:
        logits, labels = _tensor(logits), _tensor(multi_class_labels)
        _check_compatible(logits, labels, "logits", "multi_class_labels", fn)
        labels = _cast(labels, logits.dtype)
        if label_smoothing > 0:
            labels = math_ops.add(math_ops.mul(labels, 1.0 - label_smoothing), 0.5 * label_smoothing)
        losses = nn_losses.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits, name="xentropy")
        return compute_weighted_loss(losses, weights, scope=sc)


def softmax_cross_entropy(logits, onehot_labels, weights=1.0, label_smoothing=0,
                          scope: str | None = None) -> Tensor:
    """Weighted mean over examples of the softmax cross-entropy of [batch_size, num_classes] logits.

    label_smoothing > 0 moves the labels towards uniform: y * (1 - s) + s / num_classes.
    `weights` is a scalar or [batch_size] ([batch_size, 1]).
    """
    fn = "softmax_cross_entropy"
    _require(onehot_labels, "onehot_labels", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, "softmax_cross_entropy_loss", [logits, onehot_labels, weights]) as sc:
        logits, labels = _tensor(logits), _tensor(onehot_labels)
        _check_compatible(logits, labels, "logits", "onehot_labels", fn)
        labels = _cast(labels, logits.dtype)
        if label_smoothing > 0:
            c = labels.shape[-1] if len(labels.shape) else None
            if c is not None:
                num_classes = array_ops.constant(float(c), dtype=logits.dtype)
            else:
                num_classes = array_ops.cast(array_ops.shape(labels)[-1], logits.dtype)
            smoothing = array_ops.constant(float(label_smoothing), dtype=logits.dtype)
            smooth_neg = math_ops.div(smoothing, num_classes)
            labels = math_ops.add(math_ops.mul(labels, 1.0 - label_smoothing), smooth_neg)
        losses = nn_losses.softmax_cross_entropy_with_logits(labels=labels, logits=logits, name="xentropy")
        return compute_weighted_loss(losses, weights, scope=sc)


def sparse_softmax_cross_entropy(logits, labels, weights=1.0, scope: str | None = None,
                                 check_labels: bool = True) -> Tensor:
    """Weighted mean of the softmax cross-entropy with integer class labels of shape [batch_size]
    (or [batch_size, 1]); `weights` is a scalar or [batch_size] ([batch_size, 1]).

    A run with a label outside [0, num_classes) raises InvalidArgumentError naming it and the range (TF's
    message), before any variable changes; check_labels=False (slimir) lets it give NaN instead."""
    fn = "sparse_softmax_cross_entropy"
    _require(labels, "labels", fn)
    _require(weights, "weights", fn)
    with name_scope(scope, "sparse_softmax_cross_entropy_loss", [logits, labels, weights]) as sc:
        logits, labels = _tensor(logits), _tensor(labels)
        ls = labels.shape
        if len(ls) == 0 or any(d not in (1, None) for d in ls[1:]):
            raise ShapeError(f"{_here(fn)}: labels of shape {fmt(ls)} must be [batch_size] or "
                             f"[batch_size, 1] (logits of shape {fmt(logits.shape)})")
        if len(ls) > 1:
            labels = array_ops.reshape(labels, [ls[0] if ls[0] is not None else -1])
        if len(logits.shape) != 2 or not compatible(labels.shape, logits.shape[:1]):
            raise ShapeError(f"{_here(fn)}: labels of shape {fmt(ls)} do not match logits of shape "
                             f"{fmt(logits.shape)} (expected logits [batch_size, num_classes])")
        losses = nn_losses.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits,
                                                                    name="xentropy", check_labels=check_labels)
        return compute_weighted_loss(losses, weights, scope=sc)
