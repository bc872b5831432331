"""Inception v1 (GoogLeNet; Szegedy et al., "Going deeper with convolutions", arXiv:1409.4842) in
TF-Slim's form: its scopes, variable names (`InceptionV1/Mixed_4b/Branch_1/Conv2d_0b_3x3/weights`) and end
points, so that TF-Slim's published checkpoints restore as they are.

    with slim.arg_scope(inception_v1.inception_v1_arg_scope()):
        logits, end_points = inception_v1.inception_v1(images, num_classes=1001, is_training=False)
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..ir.graph import variable_scope
from ..ops import array_ops, math_ops
from . import inception_utils
from .inception_utils import EndPoints, trunc_normal

__all__ = ["inception_v1", "inception_v1_arg_scope", "inception_v1_base"]

_ROOT = ["Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3"]

# Inception modules: (end point, branch_0 1x1, branch_1 (1x1, 3x3), branch_2 (1x1, 3x3), branch_3 pool 1x1).
_MODULES = {
    "Mixed_3b": (64, (96, 128), (16, 32), 32),
    "Mixed_3c": (128, (128, 192), (32, 96), 64),
    "Mixed_4b": (192, (96, 208), (16, 48), 64),
    "Mixed_4c": (160, (112, 224), (24, 64), 64),
    "Mixed_4d": (128, (128, 256), (24, 64), 64),
    "Mixed_4e": (112, (144, 288), (32, 64), 64),
    "Mixed_4f": (256, (160, 320), (32, 128), 128),
    "Mixed_5b": (256, (160, 320), (32, 128), 128),
    "Mixed_5c": (384, (192, 384), (48, 128), 128),
}

_BODY = [
    "Mixed_3b", "Mixed_3c", "MaxPool_4a_3x3",
    "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f", "MaxPool_5a_2x2",
    "Mixed_5b", "Mixed_5c",
]  # fmt: skip


def _module(net, end_point):
    """One Inception module: four branches concatenated on the channels (all convolutions SAME)."""
    d0, (d1a, d1b), (d2a, d2b), d3 = _MODULES[end_point]
    with variable_scope(end_point):
        with variable_scope("Branch_0"):
            branch_0 = layers.conv2d(net, d0, [1, 1], scope="Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            branch_1 = layers.conv2d(net, d1a, [1, 1], scope="Conv2d_0a_1x1")
            branch_1 = layers.conv2d(branch_1, d1b, [3, 3], scope="Conv2d_0b_3x3")
        with variable_scope("Branch_2"):
            branch_2 = layers.conv2d(net, d2a, [1, 1], scope="Conv2d_0a_1x1")
            # TF-Slim names this one layer of Mixed_5b 'Conv2d_0a_3x3'; its checkpoints carry the name.
            second = "Conv2d_0a_3x3" if end_point == "Mixed_5b" else "Conv2d_0b_3x3"
            branch_2 = layers.conv2d(branch_2, d2b, [3, 3], scope=second)
        with variable_scope("Branch_3"):
            branch_3 = layers.max_pool2d(net, [3, 3], scope="MaxPool_0a_3x3")
            branch_3 = layers.conv2d(branch_3, d3, [1, 1], scope="Conv2d_0b_1x1")
        return array_ops.concat([branch_0, branch_1, branch_2, branch_3], axis=3)


def inception_v1_base(inputs, final_endpoint="Mixed_5c", include_root_block=True, scope="InceptionV1"):
    """Inception v1 from the inputs up to `final_endpoint`.

    Args:
      inputs: images, [batch, height, width, channels].
      final_endpoint: the end point to stop at, one of 'Conv2d_1a_7x7', 'MaxPool_2a_3x3', 'Conv2d_2b_1x1',
        'Conv2d_2c_3x3', 'MaxPool_3a_3x3', 'Mixed_3b', 'Mixed_3c', 'MaxPool_4a_3x3', 'Mixed_4b', 'Mixed_4c',
        'Mixed_4d', 'Mixed_4e', 'Mixed_4f', 'MaxPool_5a_2x2', 'Mixed_5b', 'Mixed_5c'.
      include_root_block: build the convolutions and poolings before Mixed_3b (False: the inputs are the
        MaxPool_3a_3x3 features and the five root end points do not exist).
      scope: variable scope.

    Returns:
      (net, end_points): the final end point's tensor and {end point name: tensor} in build order.

    Raises:
      ValueError: an unknown final_endpoint.
    """
    ep = EndPoints(final_endpoint, (_ROOT if include_root_block else []) + _BODY)
    with (
        variable_scope(scope, "InceptionV1", [inputs]),
        arg_scope([layers.conv2d, layers.fully_connected], weights_initializer=trunc_normal(0.01)),
        arg_scope([layers.conv2d, layers.max_pool2d], stride=1, padding="SAME"),
    ):
        net = inputs
        if include_root_block:
            net = layers.conv2d(net, 64, [7, 7], stride=2, scope="Conv2d_1a_7x7")
            if ep.add("Conv2d_1a_7x7", net):
                return net, ep.dict
            net = layers.max_pool2d(net, [3, 3], stride=2, scope="MaxPool_2a_3x3")
            if ep.add("MaxPool_2a_3x3", net):
                return net, ep.dict
            net = layers.conv2d(net, 64, [1, 1], scope="Conv2d_2b_1x1")
            if ep.add("Conv2d_2b_1x1", net):
                return net, ep.dict
            net = layers.conv2d(net, 192, [3, 3], scope="Conv2d_2c_3x3")
            if ep.add("Conv2d_2c_3x3", net):
                return net, ep.dict
            net = layers.max_pool2d(net, [3, 3], stride=2, scope="MaxPool_3a_3x3")
            if ep.add("MaxPool_3a_3x3", net):
                return net, ep.dict
        for end_point in _BODY:
            if end_point == "MaxPool_4a_3x3":
                net = layers.max_pool2d(net, [3, 3], stride=2, scope=end_point)
            elif end_point == "MaxPool_5a_2x2":
                net = layers.max_pool2d(net, [2, 2], stride=2, scope=end_point)
            else:
                net = _module(net, end_point)
            if ep.add(end_point, net):
                return net, ep.dict
    ep.unknown()


def inception_v1(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.8,
    prediction_fn=layers.softmax,
    spatial_squeeze=True,
    reuse=None,
    scope="InceptionV1",
    global_pool=False,
):
    """Inception v1 for classification (224x224 inputs by default).

    Args:
      inputs: images, [batch, height, width, channels].
      num_classes: number of classes; 0 or None leaves out the logits layer and returns the pooled
        features (before dropout).
      is_training: whether batch_norm and dropout are in training mode.
      dropout_keep_prob: probability of keeping an activation in the dropout before the logits.
      prediction_fn: function from the logits to the predictions (softmax).
      spatial_squeeze: squeeze the 1x1 spatial dimensions of the logits away ([B, C], else [B, 1, 1, C]).
      reuse: reuse the network's variables (needs `scope`).
      scope: variable scope.
      global_pool: average the final features over all their positions, whatever the input size; by
        default a fixed 7x7 average pool (1x1 for a 224 input; a 7x7 map at least is needed).

    Returns:
      (net, end_points): the logits (or the pooled features) and the end points, with 'AvgPool_0a_7x7'
      (or 'global_pool'), 'Logits' and 'Predictions' after the base's.
    """
    with (
        variable_scope(scope, "InceptionV1", [inputs], reuse=reuse) as sc,
        arg_scope([layers.batch_norm, layers.dropout], is_training=is_training),
    ):
        net, end_points = inception_v1_base(inputs, scope=sc)
        with variable_scope("Logits"):
            if global_pool:
                net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                end_points["global_pool"] = net
            else:
                net = layers.avg_pool2d(net, [7, 7], stride=1, scope="AvgPool_0a_7x7")
                end_points["AvgPool_0a_7x7"] = net
            if not num_classes:
                return net, end_points
            net = layers.dropout(net, dropout_keep_prob, scope="Dropout_0b")
            logits = layers.conv2d(
                net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_0c_1x1"
            )
            if spatial_squeeze:
                logits = array_ops.squeeze(logits, [1, 2], name="SpatialSqueeze")
            end_points["Logits"] = logits
            end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


inception_v1.default_image_size = 224

inception_v1_arg_scope = inception_utils.inception_arg_scope
