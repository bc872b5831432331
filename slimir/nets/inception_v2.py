"""Inception v2 (BN-Inception; Ioffe & Szegedy, "Batch Normalization", arXiv:1502.03167) in TF-Slim's
form: its scopes, variable names (`InceptionV2/Mixed_4a/Branch_1/Conv2d_1a_3x3/weights`), end points,
`min_depth`/`depth_multiplier` thinning and separable first layer.

    with slim.arg_scope(inception_v2.inception_v2_arg_scope()):
        logits, end_points = inception_v2.inception_v2(images, num_classes=1001, is_training=False)

Every convolution and pooling is SAME, so any input size works (the final average pool shrinks its
7x7 window to the feature map of a small input).
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError
from ..ir.graph import variable_scope
from ..ops import array_ops, math_ops
from . import inception_utils
from .inception_utils import EndPoints, depth_fn, reduced_kernel_size_for_small_input, trunc_normal

__all__ = ["inception_v2", "inception_v2_arg_scope", "inception_v2_base"]

_ROOT = ["Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3"]

# Modules of four branches: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool 3x3 -> 1x1.
# (branch_0, (branch_1 1x1, 3x3), (branch_2 1x1, 3x3, 3x3), branch_3 pool kind, branch_3 1x1); 0: no branch_0.
_MODULES = {
    "Mixed_3b": (64, (64, 64), (64, 96, 96), "avg", 32),
    "Mixed_3c": (64, (64, 96), (64, 96, 96), "avg", 64),
    "Mixed_4b": (224, (64, 96), (96, 128, 128), "avg", 128),
    "Mixed_4c": (192, (96, 128), (96, 128, 128), "avg", 128),
    "Mixed_4d": (160, (128, 160), (128, 160, 160), "avg", 96),
    "Mixed_4e": (96, (128, 192), (160, 192, 192), "avg", 96),
    "Mixed_5b": (352, (192, 320), (160, 224, 224), "avg", 128),
    "Mixed_5c": (352, (192, 320), (192, 224, 224), "max", 128),
}

# Grid reductions (stride 2): (branch_0 (1x1, 3x3/2), branch_1 (1x1, 3x3, 3x3/2)); branch_2 is a 3x3/2 max pool.
_REDUCTIONS = {
    "Mixed_4a": ((128, 160), (64, 96, 96)),
    "Mixed_5a": ((128, 192), (192, 256, 256)),
}

_BODY = ["Mixed_3b", "Mixed_3c", "Mixed_4a", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_5a",
         "Mixed_5b", "Mixed_5c"]  # fmt: skip


def _module(net, end_point, depth, concat_dim):
    d0, (d1a, d1b), (d2a, d2b, d2c), pool, d3 = _MODULES[end_point]
    with variable_scope(end_point):
        with variable_scope("Branch_0"):
            branch_0 = layers.conv2d(net, depth(d0), [1, 1], scope="Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            branch_1 = layers.conv2d(
                net, depth(d1a), [1, 1], weights_initializer=trunc_normal(0.09), scope="Conv2d_0a_1x1"
            )
            branch_1 = layers.conv2d(branch_1, depth(d1b), [3, 3], scope="Conv2d_0b_3x3")
        with variable_scope("Branch_2"):
            branch_2 = layers.conv2d(
                net, depth(d2a), [1, 1], weights_initializer=trunc_normal(0.09), scope="Conv2d_0a_1x1"
            )
            branch_2 = layers.conv2d(branch_2, depth(d2b), [3, 3], scope="Conv2d_0b_3x3")
            branch_2 = layers.conv2d(branch_2, depth(d2c), [3, 3], scope="Conv2d_0c_3x3")
        with variable_scope("Branch_3"):
            if pool == "max":
                branch_3 = layers.max_pool2d(net, [3, 3], scope="MaxPool_0a_3x3")
            else:
                branch_3 = layers.avg_pool2d(net, [3, 3], scope="AvgPool_0a_3x3")
            branch_3 = layers.conv2d(
                branch_3, depth(d3), [1, 1], weights_initializer=trunc_normal(0.1), scope="Conv2d_0b_1x1"
            )
        return array_ops.concat([branch_0, branch_1, branch_2, branch_3], axis=concat_dim)


def _reduction(net, end_point, depth, concat_dim):
    (d0a, d0b), (d1a, d1b, d1c) = _REDUCTIONS[end_point]
    with variable_scope(end_point):
        with variable_scope("Branch_0"):
            branch_0 = layers.conv2d(
                net, depth(d0a), [1, 1], weights_initializer=trunc_normal(0.09), scope="Conv2d_0a_1x1"
            )
            branch_0 = layers.conv2d(branch_0, depth(d0b), [3, 3], stride=2, scope="Conv2d_1a_3x3")
        with variable_scope("Branch_1"):
            branch_1 = layers.conv2d(
                net, depth(d1a), [1, 1], weights_initializer=trunc_normal(0.09), scope="Conv2d_0a_1x1"
            )
            branch_1 = layers.conv2d(branch_1, depth(d1b), [3, 3], scope="Conv2d_0b_3x3")
            branch_1 = layers.conv2d(branch_1, depth(d1c), [3, 3], stride=2, scope="Conv2d_1a_3x3")
        with variable_scope("Branch_2"):
            branch_2 = layers.max_pool2d(net, [3, 3], stride=2, scope="MaxPool_1a_3x3")
        return array_ops.concat([branch_0, branch_1, branch_2], axis=concat_dim)


def inception_v2_base(
    inputs,
    final_endpoint="Mixed_5c",
    min_depth=16,
    depth_multiplier=1.0,
    use_separable_conv=True,
    data_format="NHWC",
    include_root_block=True,
    scope=None,
):
    """Inception v2 from the inputs up to `final_endpoint`.

    Args:
      inputs: images, [batch, height, width, channels] ([batch, channels, height, width] for NCHW).
      final_endpoint: the end point to stop at, one of 'Conv2d_1a_7x7', 'MaxPool_2a_3x3', 'Conv2d_2b_1x1',
        'Conv2d_2c_3x3', 'MaxPool_3a_3x3', 'Mixed_3b', 'Mixed_3c', 'Mixed_4a', 'Mixed_4b', 'Mixed_4c',
        'Mixed_4d', 'Mixed_4e', 'Mixed_5a', 'Mixed_5b', 'Mixed_5c'.
      min_depth: the fewest channels a convolution gets when depth_multiplier < 1.
      depth_multiplier: multiplier (> 0) of every convolution's number of channels.
      use_separable_conv: Conv2d_1a_7x7 is a separable convolution (else a plain one, same output shape).
      data_format: 'NHWC' or 'NCHW' (NCHW only without the separable convolution).
      include_root_block: build the layers before Mixed_3b (False: the inputs are the MaxPool_3a_3x3
        features and the five root end points do not exist).
      scope: variable scope (default 'InceptionV2').

    Returns:
      (net, end_points): the final end point's tensor and {end point name: tensor} in build order.

    Raises:
      ValueError: an unknown final_endpoint or data_format, NCHW with the separable convolution, or
        depth_multiplier <= 0.
    """
    depth = depth_fn(depth_multiplier, min_depth)
    if data_format not in ("NHWC", "NCHW"):
        raise InvalidArgumentError("data_format must be either NHWC or NCHW.")
    if data_format == "NCHW" and use_separable_conv:
        raise InvalidArgumentError(
            "separable convolution only supports NHWC layout. NCHW data format can only be used when "
            "use_separable_conv is False."
        )
    ep = EndPoints(final_endpoint, (_ROOT if include_root_block else []) + _BODY)
    concat_dim = 3 if data_format == "NHWC" else 1
    with (
        variable_scope(scope, "InceptionV2", [inputs]),
        arg_scope(
            [layers.conv2d, layers.max_pool2d, layers.avg_pool2d],
            stride=1,
            padding="SAME",
            data_format=data_format,
        ),
    ):
        net = inputs
        if include_root_block:
            end_point = "Conv2d_1a_7x7"
            if use_separable_conv:
                # The depthwise stage's channel multiplier (not depth_multiplier): at most 8 and no more
                # than out/in channels, so that the separable convolution is not overparameterised.
                depthwise_multiplier = min(int(depth(64) / 3), 8)
                net = layers.separable_conv2d(
                    inputs,
                    depth(64),
                    [7, 7],
                    depth_multiplier=depthwise_multiplier,
                    stride=2,
                    padding="SAME",
                    weights_initializer=trunc_normal(1.0),
                    scope=end_point,
                )
            else:
                net = layers.conv2d(
                    inputs,
                    depth(64),
                    [7, 7],
                    stride=2,
                    weights_initializer=trunc_normal(1.0),
                    scope=end_point,
                )
            if ep.add(end_point, net):
                return net, ep.dict
            net = layers.max_pool2d(net, [3, 3], stride=2, scope="MaxPool_2a_3x3")
            if ep.add("MaxPool_2a_3x3", net):
                return net, ep.dict
            net = layers.conv2d(
                net, depth(64), [1, 1], weights_initializer=trunc_normal(0.1), scope="Conv2d_2b_1x1"
            )
            if ep.add("Conv2d_2b_1x1", net):
                return net, ep.dict
            net = layers.conv2d(net, depth(192), [3, 3], scope="Conv2d_2c_3x3")
            if ep.add("Conv2d_2c_3x3", net):
                return net, ep.dict
            net = layers.max_pool2d(net, [3, 3], stride=2, scope="MaxPool_3a_3x3")
            if ep.add("MaxPool_3a_3x3", net):
                return net, ep.dict
        for end_point in _BODY:
            if end_point in _REDUCTIONS:
                net = _reduction(net, end_point, depth, concat_dim)
            else:
                net = _module(net, end_point, depth, concat_dim)
            if ep.add(end_point, net):
                return net, ep.dict
    ep.unknown()


def inception_v2(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.8,
    min_depth=16,
    depth_multiplier=1.0,
    prediction_fn=layers.softmax,
    spatial_squeeze=True,
    reuse=None,
    scope="InceptionV2",
    global_pool=False,
):
    """Inception v2 for classification (224x224 inputs by default).

    Args:
      inputs: images, [batch, height, width, channels].
      num_classes: number of classes; 0 or None leaves out the logits layer and returns the pooled
        features (before dropout).
      is_training: whether batch_norm and dropout are in training mode.
      dropout_keep_prob: probability of keeping an activation in the dropout before the logits.
      min_depth, depth_multiplier: channel thinning, as in `inception_v2_base`.
      prediction_fn: function from the logits to the predictions (softmax).
      spatial_squeeze: squeeze the 1x1 spatial dimensions of the logits away ([B, C], else [B, 1, 1, C]).
      reuse: reuse the network's variables (needs `scope`).
      scope: variable scope.
      global_pool: average the final features over all their positions, whatever the input size; by
        default a 7x7 average pool (stride 2, VALID), its window clipped to a smaller feature map.

    Returns:
      (net, end_points): the logits (or the pooled features) and the end points, with 'AvgPool_1a' (or
      'global_pool'), 'PreLogits', 'Logits' and 'Predictions' after the base's.

    Raises:
      ValueError: depth_multiplier <= 0.
    """
    depth_fn(depth_multiplier, min_depth)
    with (
        variable_scope(scope, "InceptionV2", [inputs], reuse=reuse) as sc,
        arg_scope([layers.batch_norm, layers.dropout], is_training=is_training),
    ):
        net, end_points = inception_v2_base(
            inputs, scope=sc, min_depth=min_depth, depth_multiplier=depth_multiplier
        )
        with variable_scope("Logits"):
            if global_pool:
                net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                end_points["global_pool"] = net
            else:
                kernel_size = reduced_kernel_size_for_small_input(net, [7, 7])
                net = layers.avg_pool2d(
                    net, kernel_size, padding="VALID", scope="AvgPool_1a_{}x{}".format(*kernel_size)
                )
                end_points["AvgPool_1a"] = net
            if not num_classes:
                return net, end_points
            net = layers.dropout(net, keep_prob=dropout_keep_prob, scope="Dropout_1b")
            end_points["PreLogits"] = net
            logits = layers.conv2d(
                net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_1c_1x1"
            )
            if spatial_squeeze:
                logits = array_ops.squeeze(logits, [1, 2], name="SpatialSqueeze")
        end_points["Logits"] = logits
        end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


inception_v2.default_image_size = 224

inception_v2_arg_scope = inception_utils.inception_arg_scope
