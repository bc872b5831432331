"""A LeNet variant for 28x28 digits (two 5x5 conv + pool blocks, a 1024-unit hidden layer), with the
scopes, variable names and end points of TF-Slim's research/slim `lenet`.

    with slim.arg_scope(lenet.lenet_arg_scope()):
        logits, end_points = lenet.lenet(images)
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..ir.graph import variable_scope
from ..initializers import truncated_normal_initializer
from ..ops import math_ops
from ..regularizers import l2_regularizer

__all__ = ["lenet", "lenet_arg_scope"]


def lenet(
    images,
    num_classes=10,
    is_training=False,
    dropout_keep_prob=0.5,
    prediction_fn=layers.softmax,
    scope="LeNet",
):
    """The LeNet variant.

    Args:
      images: [batch, height, width, channels] images (28x28x1 for MNIST).
      num_classes: number of classes; 0 or None leaves out the logits layer and returns fc3's output
        (before dropout).
      is_training: whether the dropout layer is active.
      dropout_keep_prob: probability of keeping an activation while training.
      prediction_fn: maps the logits to the 'Predictions' end point (softmax by default).
      scope: variable scope of the network.

    Returns:
      (logits, end_points): the pre-softmax logits (or the features) and a dict of activations keyed
      'conv1', 'pool1', 'conv2', 'pool2', 'Flatten', 'fc3', 'dropout3', 'Logits', 'Predictions'.
    """
    end_points = {}
    with variable_scope(scope, "LeNet", [images]):
        net = end_points["conv1"] = layers.conv2d(images, 32, [5, 5], scope="conv1")
        net = end_points["pool1"] = layers.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = end_points["conv2"] = layers.conv2d(net, 64, [5, 5], scope="conv2")
        net = end_points["pool2"] = layers.max_pool2d(net, [2, 2], 2, scope="pool2")
        net = end_points["Flatten"] = layers.flatten(net)
        net = end_points["fc3"] = layers.fully_connected(net, 1024, scope="fc3")
        if not num_classes:
            return net, end_points
        net = end_points["dropout3"] = layers.dropout(
            net, dropout_keep_prob, is_training=is_training, scope="dropout3"
        )
        logits = end_points["Logits"] = layers.fully_connected(
            net, num_classes, activation_fn=None, scope="fc4"
        )
    end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


lenet.default_image_size = 28


def lenet_arg_scope(weight_decay=0.0):
    """relu, truncated-normal(0.1) weights and L2 weight decay for conv2d and fully_connected."""
    with arg_scope(
        [layers.conv2d, layers.fully_connected],
        weights_regularizer=l2_regularizer(weight_decay),
        weights_initializer=truncated_normal_initializer(stddev=0.1),
        activation_fn=math_ops.relu,
    ) as sc:
        return sc
