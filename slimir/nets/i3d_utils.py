"""Helpers of research/slim's video networks (nets/i3d_utils.py): the center initializer of temporal
convolutions, (separable) spatio-temporal 3-D convolutions and the 3-D Inception block."""

from __future__ import annotations

import numpy as np

from .. import layers
from ..arg_scope import add_arg_scope
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import variable_scope
from ..initializers import Initializer
from ..ops import array_ops
from ..shape import fmt

__all__ = ["center_initializer", "conv3d_spatiotemporal", "inception_block_v1_3d", "reduced_kernel_size_3d"]


class _CenterInitializer(Initializer):
    """Identity at the temporal center of a [t, 1, 1, c, c] kernel, zero elsewhere."""

    def sample(self, shape, dtype, rng):
        if len(shape) != 5:
            raise InvalidArgumentError("center_initializer: Input tensor has to be 5-D.")
        if shape[3] != shape[4]:
            raise InvalidArgumentError("center_initializer: Input and output channel dimensions must be the same.")
        if shape[1] != 1 or shape[2] != 1:
            raise InvalidArgumentError("center_initializer: Spatial kernel sizes must be 1 (pointwise conv).")
        if shape[0] % 2 == 0:
            raise InvalidArgumentError("center_initializer: Temporal kernel size has to be odd.")
        init = np.zeros(shape, np.float32)
        init[shape[0] // 2, 0, 0, np.arange(shape[3]), np.arange(shape[3])] = 1.0
        return init


def center_initializer() -> Initializer:
    """The initializer of the temporal half of a separable 3-D convolution: it starts as the identity."""
    return _CenterInitializer()


@add_arg_scope
def conv3d_spatiotemporal(inputs, num_outputs, kernel_size, stride=1, padding="SAME", activation_fn=None,
                          normalizer_fn=None, normalizer_params=None, weights_regularizer=None, separable=False,
                          data_format="NDHWC", scope=""):
    """A 3-D convolution, or with `separable` (and a temporal extent > 1) a spatial [1, k, k] convolution
    (scope `scope`) followed by a temporal [t, 1, 1] one ('<scope>/temporal', identity-initialised)."""
    if len(kernel_size) != 3:
        raise InvalidArgumentError(f"conv3d_spatiotemporal: kernel_size needs 3 values, got {kernel_size}")
    scope = scope or None
    if separable and kernel_size[0] != 1:
        if isinstance(stride, (list, tuple)) and len(stride) == 3:
            spatial_stride, temporal_stride = [1, stride[1], stride[2]], [stride[0], 1, 1]
        else:
            spatial_stride, temporal_stride = [1, stride, stride], [stride, 1, 1]
        net = layers.conv3d(inputs, num_outputs, [1, kernel_size[1], kernel_size[2]], stride=spatial_stride,
                                  padding=padding, activation_fn=activation_fn, normalizer_fn=normalizer_fn,
                                  normalizer_params=normalizer_params, weights_regularizer=weights_regularizer,
                                  data_format=data_format, scope=scope)
        return layers.conv3d(net, num_outputs, [kernel_size[0], 1, 1], stride=temporal_stride,
                                   padding=padding, scope=(scope or "Conv") + "/temporal",
                                   activation_fn=activation_fn, normalizer_fn=None, data_format=data_format,
                                   weights_initializer=center_initializer())
    return layers.conv3d(inputs, num_outputs, kernel_size, stride=stride, padding=padding,
                               activation_fn=activation_fn, normalizer_fn=normalizer_fn,
                               normalizer_params=normalizer_params, weights_regularizer=weights_regularizer,
                               data_format=data_format, scope=scope)


@add_arg_scope
def inception_block_v1_3d(inputs, num_outputs_0_0a, num_outputs_1_0a, num_outputs_1_0b, num_outputs_2_0a,
                          num_outputs_2_0b, num_outputs_3_0b, temporal_kernel_size=3, self_gating_fn=None,
                          data_format="NDHWC", scope=""):
    """The 3-D Inception block: 1x1x1 | 1x1x1 -> tx3x3 | 1x1x1 -> tx3x3 | 3x3x3 max pool -> 1x1x1, each branch
    optionally self-gated, concatenated on the channels."""
    gate = self_gating_fn is not None
    with variable_scope(scope or None, default_name="InceptionBlock"):
        with variable_scope("Branch_0"):
            b0 = layers.conv3d(inputs, num_outputs_0_0a, [1, 1, 1], scope="Conv2d_0a_1x1")
            if gate:
                b0 = self_gating_fn(b0, scope="Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            b1 = layers.conv3d(inputs, num_outputs_1_0a, [1, 1, 1], scope="Conv2d_0a_1x1")
            b1 = conv3d_spatiotemporal(b1, num_outputs_1_0b, [temporal_kernel_size, 3, 3], scope="Conv2d_0b_3x3")
            if gate:
                b1 = self_gating_fn(b1, scope="Conv2d_0b_3x3")
        with variable_scope("Branch_2"):
            b2 = layers.conv3d(inputs, num_outputs_2_0a, [1, 1, 1], scope="Conv2d_0a_1x1")
            b2 = conv3d_spatiotemporal(b2, num_outputs_2_0b, [temporal_kernel_size, 3, 3], scope="Conv2d_0b_3x3")
            if gate:
                b2 = self_gating_fn(b2, scope="Conv2d_0b_3x3")
        with variable_scope("Branch_3"):
            b3 = layers.max_pool3d(inputs, [3, 3, 3], scope="MaxPool_0a_3x3")
            b3 = layers.conv3d(b3, num_outputs_3_0b, [1, 1, 1], scope="Conv2d_0b_1x1")
            if gate:
                b3 = self_gating_fn(b3, scope="Conv2d_0b_1x1")
        c = data_format.index("C")
        return array_ops.concat([b0, b1, b2, b3], c)


def reduced_kernel_size_3d(input_tensor, kernel_size):
    """`kernel_size` clipped to the input's static [D, H, W] (unchanged when any is unknown)."""
    shape = list(input_tensor.shape)
    if len(kernel_size) != 3 or len(shape) != 5:
        raise ShapeError(f"reduced_kernel_size_3d: needs a 3-value kernel and a rank 5 input, got {kernel_size} "
                         f"and {fmt(shape)}")
    if None in shape[1:4]:
        return list(kernel_size)
    return [min(shape[1], kernel_size[0]), min(shape[2], kernel_size[1]), min(shape[3], kernel_size[2])]
