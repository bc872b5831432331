"""Inception v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
arXiv:1512.00567) in TF-Slim's form: its scopes, variable names
(`InceptionV3/Mixed_5b/Branch_1/Conv2d_0b_5x5/weights`), end points, auxiliary head and
`min_depth`/`depth_multiplier` thinning, so that TF-Slim's published checkpoints restore as they are.

    with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
        logits, end_points = inception_v3.inception_v3(images, num_classes=1001, is_training=False)

The stem's convolutions and the grid reductions are VALID: the smallest input is 75x75 (107x107 with
the auxiliary head, which pools Mixed_6e with a 5x5 window).
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..ir.graph import variable_scope
from ..ops import array_ops, math_ops
from . import inception_utils
from .inception_utils import EndPoints, depth_fn, reduced_kernel_size_for_small_input, trunc_normal

__all__ = ["inception_v3", "inception_v3_arg_scope", "inception_v3_base"]

_ENDPOINTS = [
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_3a_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
    "MaxPool_5a_3x3", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
]  # fmt: skip

# The 35x35 modules: the 1x1 width of the pool branch.
_POOL_35 = {"Mixed_5b": 32, "Mixed_5c": 64, "Mixed_5d": 64}
# The 17x17 modules: the width of the factorised 7x7 convolutions.
_MID_17 = {"Mixed_6b": 128, "Mixed_6c": 160, "Mixed_6d": 160, "Mixed_6e": 192}


def _concat(branches):
    return array_ops.concat(branches, axis=3)


def _module_35(net, end_point, depth):
    """35x35: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""
    # TF-Slim's Mixed_5c names its 5x5 branch differently; its checkpoints carry these names.
    b1_names = (
        ("Conv2d_0b_1x1", "Conv_1_0c_5x5") if end_point == "Mixed_5c" else ("Conv2d_0a_1x1", "Conv2d_0b_5x5")
    )
    with variable_scope(end_point):
        with variable_scope("Branch_0"):
            branch_0 = layers.conv2d(net, depth(64), [1, 1], scope="Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            branch_1 = layers.conv2d(net, depth(48), [1, 1], scope=b1_names[0])
            branch_1 = layers.conv2d(branch_1, depth(64), [5, 5], scope=b1_names[1])
        with variable_scope("Branch_2"):
            branch_2 = layers.conv2d(net, depth(64), [1, 1], scope="Conv2d_0a_1x1")
            branch_2 = layers.conv2d(branch_2, depth(96), [3, 3], scope="Conv2d_0b_3x3")
            branch_2 = layers.conv2d(branch_2, depth(96), [3, 3], scope="Conv2d_0c_3x3")
        with variable_scope("Branch_3"):
            branch_3 = layers.avg_pool2d(net, [3, 3], scope="AvgPool_0a_3x3")
            branch_3 = layers.conv2d(branch_3, depth(_POOL_35[end_point]), [1, 1], scope="Conv2d_0b_1x1")
        return _concat([branch_0, branch_1, branch_2, branch_3])


def _reduction_6a(net, depth):
    """35x35 -> 17x17: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool 3x3/2 (TF-Slim's '1x1' names are its own)."""
    with variable_scope("Mixed_6a"):
        with variable_scope("Branch_0"):
            branch_0 = layers.conv2d(
                net, depth(384), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_1x1"
            )
        with variable_scope("Branch_1"):
            branch_1 = layers.conv2d(net, depth(64), [1, 1], scope="Conv2d_0a_1x1")
            branch_1 = layers.conv2d(branch_1, depth(96), [3, 3], scope="Conv2d_0b_3x3")
            branch_1 = layers.conv2d(
                branch_1, depth(96), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_1x1"
            )
        with variable_scope("Branch_2"):
            branch_2 = layers.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
        return _concat([branch_0, branch_1, branch_2])


def _module_17(net, end_point, depth):
    """17x17: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avg pool -> 1x1."""
    mid = _MID_17[end_point]
    with variable_scope(end_point):
        with variable_scope("Branch_0"):
            branch_0 = layers.conv2d(net, depth(192), [1, 1], scope="Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            branch_1 = layers.conv2d(net, depth(mid), [1, 1], scope="Conv2d_0a_1x1")
            branch_1 = layers.conv2d(branch_1, depth(mid), [1, 7], scope="Conv2d_0b_1x7")
            branch_1 = layers.conv2d(branch_1, depth(192), [7, 1], scope="Conv2d_0c_7x1")
        with variable_scope("Branch_2"):
            branch_2 = layers.conv2d(net, depth(mid), [1, 1], scope="Conv2d_0a_1x1")
            branch_2 = layers.conv2d(branch_2, depth(mid), [7, 1], scope="Conv2d_0b_7x1")
            branch_2 = layers.conv2d(branch_2, depth(mid), [1, 7], scope="Conv2d_0c_1x7")
            branch_2 = layers.conv2d(branch_2, depth(mid), [7, 1], scope="Conv2d_0d_7x1")
            branch_2 = layers.conv2d(branch_2, depth(192), [1, 7], scope="Conv2d_0e_1x7")
        with variable_scope("Branch_3"):
            branch_3 = layers.avg_pool2d(net, [3, 3], scope="AvgPool_0a_3x3")
            branch_3 = layers.conv2d(branch_3, depth(192), [1, 1], scope="Conv2d_0b_1x1")
        return _concat([branch_0, branch_1, branch_2, branch_3])


def _reduction_7a(net, depth):
    """17x17 -> 8x8: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool 3x3/2."""
    with variable_scope("Mixed_7a"):
        with variable_scope("Branch_0"):
            branch_0 = layers.conv2d(net, depth(192), [1, 1], scope="Conv2d_0a_1x1")
            branch_0 = layers.conv2d(
                branch_0, depth(320), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3"
            )
        with variable_scope("Branch_1"):
            branch_1 = layers.conv2d(net, depth(192), [1, 1], scope="Conv2d_0a_1x1")
            branch_1 = layers.conv2d(branch_1, depth(192), [1, 7], scope="Conv2d_0b_1x7")
            branch_1 = layers.conv2d(branch_1, depth(192), [7, 1], scope="Conv2d_0c_7x1")
            branch_1 = layers.conv2d(
                branch_1, depth(192), [3, 3], stride=2, padding="VALID", scope="Conv2d_1a_3x3"
            )
        with variable_scope("Branch_2"):
            branch_2 = layers.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
        return _concat([branch_0, branch_1, branch_2])


def _module_8(net, end_point, depth):
    """8x8: 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | avg pool -> 1x1."""
    # Mixed_7b's 3x1 of branch 1 is 'Conv2d_0b_3x1' in TF-Slim, Mixed_7c's 'Conv2d_0c_3x1'.
    b1_3x1 = "Conv2d_0b_3x1" if end_point == "Mixed_7b" else "Conv2d_0c_3x1"
    with variable_scope(end_point):
        with variable_scope("Branch_0"):
            branch_0 = layers.conv2d(net, depth(320), [1, 1], scope="Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            branch_1 = layers.conv2d(net, depth(384), [1, 1], scope="Conv2d_0a_1x1")
            branch_1 = _concat(
                [
                    layers.conv2d(branch_1, depth(384), [1, 3], scope="Conv2d_0b_1x3"),
                    layers.conv2d(branch_1, depth(384), [3, 1], scope=b1_3x1),
                ]
            )
        with variable_scope("Branch_2"):
            branch_2 = layers.conv2d(net, depth(448), [1, 1], scope="Conv2d_0a_1x1")
            branch_2 = layers.conv2d(branch_2, depth(384), [3, 3], scope="Conv2d_0b_3x3")
            branch_2 = _concat(
                [
                    layers.conv2d(branch_2, depth(384), [1, 3], scope="Conv2d_0c_1x3"),
                    layers.conv2d(branch_2, depth(384), [3, 1], scope="Conv2d_0d_3x1"),
                ]
            )
        with variable_scope("Branch_3"):
            branch_3 = layers.avg_pool2d(net, [3, 3], scope="AvgPool_0a_3x3")
            branch_3 = layers.conv2d(branch_3, depth(192), [1, 1], scope="Conv2d_0b_1x1")
        return _concat([branch_0, branch_1, branch_2, branch_3])


def inception_v3_base(inputs, final_endpoint="Mixed_7c", min_depth=16, depth_multiplier=1.0, scope=None):
    """Inception v3 from the inputs up to `final_endpoint`.

    At 299x299 the end points are Conv2d_1a_3x3 149x149x32, Conv2d_2a_3x3 147x147x32, Conv2d_2b_3x3
    147x147x64, MaxPool_3a_3x3 73x73x64, Conv2d_3b_1x1 73x73x80, Conv2d_4a_3x3 71x71x192, MaxPool_5a_3x3
    35x35x192, Mixed_5b 35x35x256, Mixed_5c/5d 35x35x288, Mixed_6a..6e 17x17x768, Mixed_7a 8x8x1280 and
    Mixed_7b/7c 8x8x2048.

    Args:
      inputs: images, [batch, height, width, channels].
      final_endpoint: the end point to stop at (one of the names above).
      min_depth: the fewest channels a convolution gets when depth_multiplier < 1.
      depth_multiplier: multiplier (> 0) of every convolution's number of channels.
      scope: variable scope (default 'InceptionV3').

    Returns:
      (net, end_points): the final end point's tensor and {end point name: tensor} in build order.

    Raises:
      ValueError: an unknown final_endpoint, or depth_multiplier <= 0.
    """
    depth = depth_fn(depth_multiplier, min_depth)
    ep = EndPoints(final_endpoint, _ENDPOINTS)
    with variable_scope(scope, "InceptionV3", [inputs]):
        # The stem: VALID unless said otherwise.
        with arg_scope([layers.conv2d, layers.max_pool2d, layers.avg_pool2d], stride=1, padding="VALID"):
            stem = [
                ("Conv2d_1a_3x3", lambda n, s: layers.conv2d(n, depth(32), [3, 3], stride=2, scope=s)),
                ("Conv2d_2a_3x3", lambda n, s: layers.conv2d(n, depth(32), [3, 3], scope=s)),
                ("Conv2d_2b_3x3", lambda n, s: layers.conv2d(n, depth(64), [3, 3], padding="SAME", scope=s)),
                ("MaxPool_3a_3x3", lambda n, s: layers.max_pool2d(n, [3, 3], stride=2, scope=s)),
                ("Conv2d_3b_1x1", lambda n, s: layers.conv2d(n, depth(80), [1, 1], scope=s)),
                ("Conv2d_4a_3x3", lambda n, s: layers.conv2d(n, depth(192), [3, 3], scope=s)),
                ("MaxPool_5a_3x3", lambda n, s: layers.max_pool2d(n, [3, 3], stride=2, scope=s)),
            ]
            net = inputs
            for end_point, layer in stem:
                net = layer(net, end_point)
                if ep.add(end_point, net):
                    return net, ep.dict
        # The Inception modules: SAME unless said otherwise.
        with arg_scope([layers.conv2d, layers.max_pool2d, layers.avg_pool2d], stride=1, padding="SAME"):
            for end_point in _ENDPOINTS[len(stem) :]:
                if end_point in _POOL_35:
                    net = _module_35(net, end_point, depth)
                elif end_point == "Mixed_6a":
                    net = _reduction_6a(net, depth)
                elif end_point in _MID_17:
                    net = _module_17(net, end_point, depth)
                elif end_point == "Mixed_7a":
                    net = _reduction_7a(net, depth)
                else:
                    net = _module_8(net, end_point, depth)
                if ep.add(end_point, net):
                    return net, ep.dict
    ep.unknown()


def _aux_logits(mixed_6e, num_classes, depth, spatial_squeeze):
    """The auxiliary classifier on Mixed_6e: 5x5/3 average pool, 1x1, 5x5 (clipped to the map), 1x1."""
    with (
        arg_scope([layers.conv2d, layers.max_pool2d, layers.avg_pool2d], stride=1, padding="SAME"),
        variable_scope("AuxLogits"),
    ):
        aux = layers.avg_pool2d(mixed_6e, [5, 5], stride=3, padding="VALID", scope="AvgPool_1a_5x5")
        aux = layers.conv2d(aux, depth(128), [1, 1], scope="Conv2d_1b_1x1")
        kernel_size = reduced_kernel_size_for_small_input(aux, [5, 5])
        aux = layers.conv2d(
            aux,
            depth(768),
            kernel_size,
            weights_initializer=trunc_normal(0.01),
            padding="VALID",
            scope="Conv2d_2a_{}x{}".format(*kernel_size),
        )
        aux = layers.conv2d(
            aux,
            num_classes,
            [1, 1],
            activation_fn=None,
            normalizer_fn=None,
            weights_initializer=trunc_normal(0.001),
            scope="Conv2d_2b_1x1",
        )
        if spatial_squeeze:
            aux = array_ops.squeeze(aux, [1, 2], name="SpatialSqueeze")
        return aux


def inception_v3(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.8,
    min_depth=16,
    depth_multiplier=1.0,
    prediction_fn=layers.softmax,
    spatial_squeeze=True,
    reuse=None,
    create_aux_logits=True,
    scope="InceptionV3",
    global_pool=False,
):
    """Inception v3 for classification (299x299 inputs by default).

    Args:
      inputs: images, [batch, height, width, channels].
      num_classes: number of classes (1001 for TF-Slim's ImageNet checkpoints, class 0 the background);
        0 or None leaves out the logits layer and the auxiliary head and returns the pooled features
        (before dropout).
      is_training: whether batch_norm and dropout are in training mode.
      dropout_keep_prob: probability of keeping an activation in the dropout before the logits.
      min_depth, depth_multiplier: channel thinning, as in `inception_v3_base`.
      prediction_fn: function from the logits to the predictions (softmax).
      spatial_squeeze: squeeze the 1x1 spatial dimensions of the logits away ([B, C], else [B, 1, 1, C]).
      reuse: reuse the network's variables (needs `scope`).
      create_aux_logits: build the auxiliary classifier on Mixed_6e (end point 'AuxLogits').
      scope: variable scope.
      global_pool: average the final features over all their positions, whatever the input size; by
        default an 8x8 average pool (stride 2, VALID), its window clipped to a smaller feature map.

    Returns:
      (net, end_points): the logits (or the pooled features) and the end points, with 'AuxLogits',
      'AvgPool_1a' (or 'global_pool'), 'PreLogits', 'Logits' and 'Predictions' after the base's.

    Raises:
      ValueError: depth_multiplier <= 0.
    """
    depth = depth_fn(depth_multiplier, min_depth)
    with (
        variable_scope(scope, "InceptionV3", [inputs], reuse=reuse) as sc,
        arg_scope([layers.batch_norm, layers.dropout], is_training=is_training),
    ):
        net, end_points = inception_v3_base(
            inputs, scope=sc, min_depth=min_depth, depth_multiplier=depth_multiplier
        )
        if create_aux_logits and num_classes:
            end_points["AuxLogits"] = _aux_logits(end_points["Mixed_6e"], num_classes, depth, spatial_squeeze)
        with variable_scope("Logits"):
            if global_pool:
                net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="GlobalPool")
                end_points["global_pool"] = net
            else:
                kernel_size = reduced_kernel_size_for_small_input(net, [8, 8])
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


inception_v3.default_image_size = 299

inception_v3_arg_scope = inception_utils.inception_arg_scope
