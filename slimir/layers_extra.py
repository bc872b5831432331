"""TF-Slim layers beyond the core set: group_norm, instance_norm, and the 3-D convolution and pooling
layers (conv3d, max_pool3d, avg_pool3d) with TF-Slim's signatures, defaults, scopes and variable names."""

from __future__ import annotations

from . import utils
from .arg_scope import add_arg_scope
from .errors import InvalidArgumentError, ShapeError
from .graph import Tensor, name_scope, variable_scope
from .initializers import ones_initializer, zeros_initializer
from .ops import array_ops, math_ops
from .ops.registry import convert_to_tensor
from .shape import fmt
from .variables import model_variable

__all__ = ["group_norm", "instance_norm"]


def _where(sc) -> str:
    return (sc.name if hasattr(sc, "name") else str(sc)).rstrip("/")


def _param(name, shape, dtype, initializer, regularizer, variables_collections, trainable):
    return model_variable(name, shape=list(shape), dtype=dtype, initializer=initializer, regularizer=regularizer,
                          collections=utils.get_variable_collections(variables_collections, name),
                          trainable=trainable)


def _moments(x: Tensor, axes, name: str = "moments"):
    """(mean, variance) over `axes`, kept as size-1 dims; the two-pass form of tf.nn.moments."""
    with name_scope(name):
        mean = math_ops.reduce_mean(x, axes, keepdims=True, name="mean")
        variance = math_ops.reduce_mean(math_ops.squared_difference(x, mean), axes, keepdims=True,
                                        name="variance")
    return mean, variance


# ------------------------------------------------------------------------------------------
# Normalisation


@add_arg_scope
def group_norm(inputs, groups=32, channels_axis=-1, reduction_axes=(-3, -2), center=True, scale=True,
               epsilon=1e-6, activation_fn=None, param_initializers=None, reuse=None, variables_collections=None,
               outputs_collections=None, trainable=True, scope=None, mean_close_to_zero=False):
    """Group normalisation (Wu & He, arXiv:1803.08494), TF-Slim's group_norm: the channels are split into
    `groups` groups and each group is normalised over `reduction_axes` and its own channels, per example.

    Variables 'beta' and 'gamma' of shape [channels] (scope 'GroupNorm'). `mean_close_to_zero` picks TF's
    one-pass moments; both forms compute the same moments here (two-pass, the more accurate).
    """
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "GroupNorm", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        shape = list(inputs.shape)
        rank = len(shape)
        if rank == 0:
            raise ShapeError(f"{where}: group_norm needs an input of known rank, got {fmt(shape)}")
        if channels_axis > rank - 1 or channels_axis < -rank:
            raise ShapeError(f"{where}: group_norm channels_axis {channels_axis} is out of bounds for "
                             f"{fmt(shape)}")
        caxis = channels_axis % rank
        channels = shape[caxis]
        if channels is None:
            raise ShapeError(f"{where}: group_norm inputs {fmt(shape)} have an undefined channel dimension "
                             f"{caxis}")
        axes = []
        for a in reduction_axes:
            if a > rank - 1 or a < -rank:
                raise ShapeError(f"{where}: group_norm reduction axis {a} is out of bounds for {fmt(shape)}")
            a %= rank
            if a == caxis:
                raise InvalidArgumentError(f"{where}: reduction_axes must be mutually exclusive with channels_axis")
            axes.append(a)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise InvalidArgumentError(f"{where}: groups must be a positive int, got {groups!r}")
        if groups > channels:
            raise InvalidArgumentError(f"{where}: Invalid groups {groups} for {channels} channels.")
        if channels % groups:
            raise InvalidArgumentError(f"{where}: {channels} channels is not commensurate with {groups} groups.")
        dtype = inputs.dtype
        pi = param_initializers or {}
        beta = gamma = None
        if center:
            beta = _param("beta", [channels], dtype, pi.get("beta", zeros_initializer()), None,
                          variables_collections, trainable)
        if scale:
            gamma = _param("gamma", [channels], dtype, pi.get("gamma", ones_initializer()), None,
                           variables_collections, trainable)
        # Per-channel moments over the reduction axes, then averaged over each group's channels (equal counts,
        # so the group's mean and variance are exact); the reshapes act on tensors whose reduced axes are 1.
        per = channels // groups
        kept = [1 if i in axes else d for i, d in enumerate(shape)]
        grouped = kept[:caxis] + [groups, per] + kept[caxis + 1:]
        if sum(d is None for d in grouped) > 1:
            raise ShapeError(f"{where}: group_norm needs the non-reduced dimensions of {fmt(shape)} known but "
                             "one")
        grouped = [-1 if d is None else d for d in grouped]
        back = [-1 if d is None else d for d in kept]
        back[caxis] = channels

        def group_mean(t, name):
            m = math_ops.reduce_mean(t, axes, keepdims=True)
            m = math_ops.reduce_mean(array_ops.reshape(m, grouped), [caxis + 1], keepdims=True)
            m = m * array_ops.ones([per] + [1] * (rank - caxis - 1), dtype)
            return array_ops.reshape(m, back, name=name)

        with name_scope("moments"):
            mean = group_mean(inputs, "mean")
            centered = inputs - mean
            variance = group_mean(math_ops.square(centered), "variance")
        outputs = centered * math_ops.rsqrt(variance + epsilon)
        bshape = [channels if i == caxis else 1 for i in range(rank)]
        if gamma is not None:
            outputs = outputs * (array_ops.reshape(gamma, bshape) if caxis != rank - 1 else gamma)
        if beta is not None:
            outputs = outputs + (array_ops.reshape(beta, bshape) if caxis != rank - 1 else beta)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


@add_arg_scope
def instance_norm(inputs, center=True, scale=True, epsilon=1e-6, activation_fn=None, param_initializers=None,
                  reuse=None, variables_collections=None, outputs_collections=None, trainable=True,
                  data_format="NHWC", scope=None):
    """Instance normalisation (Ulyanov et al., arXiv:1607.08022), TF-Slim's instance_norm: each example and
    channel normalised over the spatial axes. Variables 'beta' and 'gamma' of shape [channels] (scope
    'InstanceNorm')."""
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "InstanceNorm", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        rank = len(inputs.shape)
        if rank < 3:
            raise ShapeError(f"{where}: instance_norm expects an input of rank >= 3, got {fmt(inputs.shape)}")
        if data_format not in ("NHWC", "NCHW"):
            raise InvalidArgumentError(f"{where}: data_format has to be either NCHW or NHWC, got {data_format!r}")
        caxis = 1 if data_format == "NCHW" else rank - 1
        channels = inputs.shape[caxis]
        if channels is None:
            raise ShapeError(f"{where}: instance_norm inputs {fmt(inputs.shape)} have an undefined channels "
                             "dimension")
        dtype = inputs.dtype
        pi = param_initializers or {}
        bshape = [channels if i == caxis else 1 for i in range(rank)]
        beta = gamma = None
        if center:
            beta = _param("beta", [channels], dtype, pi.get("beta", zeros_initializer()), None,
                          variables_collections, trainable)
            if caxis != rank - 1:
                beta = array_ops.reshape(beta, bshape)
        if scale:
            gamma = _param("gamma", [channels], dtype, pi.get("gamma", ones_initializer()), None,
                           variables_collections, trainable)
            if caxis != rank - 1:
                gamma = array_ops.reshape(gamma, bshape)
        axes = [i for i in range(1, rank) if i != caxis]
        mean, variance = _moments(inputs, axes)
        with name_scope("instancenorm"):
            inv = math_ops.rsqrt(variance + epsilon)
            if gamma is not None:
                inv = inv * gamma
            outputs = inputs * inv + ((beta - mean * inv) if beta is not None else -mean * inv)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)
