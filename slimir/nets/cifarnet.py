"""A CIFAR-10 network (two conv + pool + local-response-norm blocks, two hidden layers), with the
scopes, variable names and end points of TF-Slim's research/slim `cifarnet`.

    with slim.arg_scope(cifarnet.cifarnet_arg_scope()):
        logits, end_points = cifarnet.cifarnet(images)
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..ir.graph import variable_scope
from ..initializers import constant_initializer, truncated_normal_initializer, zeros_initializer
from ..ops import math_ops, nn_ops
from ..regularizers import l2_regularizer

__all__ = ["cifarnet", "cifarnet_arg_scope"]


def _trunc_normal(stddev):
    return truncated_normal_initializer(stddev=stddev)


def _lrn(net, name):
    # Local response normalisation as in the CIFAR-10 tutorial: radius 4, alpha 0.001/9, beta 0.75.
    return nn_ops.lrn(net, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name=name)


def cifarnet(
    images,
    num_classes=10,
    is_training=False,
    dropout_keep_prob=0.5,
    prediction_fn=layers.softmax,
    scope="CifarNet",
):
    """The CifarNet variant.

    Args:
      images: [batch, height, width, channels] images (32x32x3 for CIFAR-10).
      num_classes: number of classes; 0 or None leaves out the logits layer and returns fc4's output.
      is_training: whether the dropout layer is active.
      dropout_keep_prob: probability of keeping an activation while training.
      prediction_fn: maps the logits to the 'Predictions' end point (softmax by default).
      scope: variable scope of the network.

    Returns:
      (logits, end_points): the pre-softmax logits (or the features) and a dict of activations keyed
      'conv1', 'pool1', 'conv2', 'pool2', 'Flatten', 'fc3', 'fc4', 'Logits', 'Predictions'.
    """
    end_points = {}
    with variable_scope(scope, "CifarNet", [images]):
        net = end_points["conv1"] = layers.conv2d(images, 64, [5, 5], scope="conv1")
        net = end_points["pool1"] = layers.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = _lrn(net, "norm1")
        net = end_points["conv2"] = layers.conv2d(net, 64, [5, 5], scope="conv2")
        net = _lrn(net, "norm2")
        net = end_points["pool2"] = layers.max_pool2d(net, [2, 2], 2, scope="pool2")
        net = end_points["Flatten"] = layers.flatten(net)
        net = end_points["fc3"] = layers.fully_connected(net, 384, scope="fc3")
        net = layers.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout3")
        net = end_points["fc4"] = layers.fully_connected(net, 192, scope="fc4")
        if not num_classes:
            return net, end_points
        logits = end_points["Logits"] = layers.fully_connected(
            net,
            num_classes,
            biases_initializer=zeros_initializer(),
            weights_initializer=_trunc_normal(1 / 192.0),
            weights_regularizer=None,
            activation_fn=None,
            scope="logits",
        )
        end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


cifarnet.default_image_size = 32


def cifarnet_arg_scope(weight_decay=0.004):
    """Truncated-normal conv weights (0.05); fully_connected: 0.1 biases, truncated-normal(0.04) weights
    and L2 weight decay; relu everywhere."""
    with (
        arg_scope([layers.conv2d], weights_initializer=_trunc_normal(5e-2), activation_fn=math_ops.relu),
        arg_scope(
            [layers.fully_connected],
            biases_initializer=constant_initializer(0.1),
            weights_initializer=_trunc_normal(0.04),
            weights_regularizer=l2_regularizer(weight_decay),
            activation_fn=math_ops.relu,
        ) as sc,
    ):
        return sc
