"""AlexNet v2, the single-tower variant of Krizhevsky's "One weird trick" paper (arXiv:1404.5997), in
TF-Slim's form: no LRN, fully connected layers as convolutions, TF-Slim's scopes and end points.

    with slim.arg_scope(alexnet.alexnet_v2_arg_scope()):
        logits, end_points = alexnet.alexnet_v2(images, is_training=False)
"""

from __future__ import annotations

from .. import layers, utils
from ..arg_scope import arg_scope
from ..ir.graph import variable_scope
from ..initializers import constant_initializer, truncated_normal_initializer, zeros_initializer
from ..ops import array_ops, math_ops
from ..regularizers import l2_regularizer

__all__ = ["alexnet_v2", "alexnet_v2_arg_scope"]


def _trunc_normal(stddev):
    return truncated_normal_initializer(0.0, stddev)


def alexnet_v2_arg_scope(weight_decay=0.0005):
    """relu, L2 weight decay and 0.1 biases for conv2d/fully_connected; SAME convolutions, VALID pools."""
    with (
        arg_scope(
            [layers.conv2d, layers.fully_connected],
            activation_fn=math_ops.relu,
            biases_initializer=constant_initializer(0.1),
            weights_regularizer=l2_regularizer(weight_decay),
        ),
        arg_scope([layers.conv2d], padding="SAME"),
        arg_scope([layers.max_pool2d], padding="VALID") as sc,
    ):
        return sc


def alexnet_v2(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    scope="alexnet_v2",
    global_pool=False,
):
    """AlexNet version 2.

    Args:
      inputs: images, [batch, height, width, channels]; 224x224 for classification, any size in fully
        convolutional use (spatial_squeeze=False).
      num_classes: number of classes; 0 or None leaves out the logits layer and returns fc7's output.
      is_training: whether dropout is active.
      dropout_keep_prob: probability of keeping an activation in the dropout layers while training.
      spatial_squeeze: squeeze the 1x1 spatial dimensions of the logits away.
      scope: variable scope of the network.
      global_pool: average fc7 to 1x1 before the logits, whatever the input size.

    Returns:
      (net, end_points): the logits (or the features before them) and a dict of intermediate activations.
    """
    with variable_scope(scope, "alexnet_v2", [inputs]) as sc:
        end_points_collection = sc.original_name_scope + "_end_points"
        with arg_scope(
            [layers.conv2d, layers.fully_connected, layers.max_pool2d],
            outputs_collections=[end_points_collection],
        ):
            net = layers.conv2d(inputs, 64, [11, 11], 4, padding="VALID", scope="conv1")
            net = layers.max_pool2d(net, [3, 3], 2, scope="pool1")
            net = layers.conv2d(net, 192, [5, 5], scope="conv2")
            net = layers.max_pool2d(net, [3, 3], 2, scope="pool2")
            net = layers.conv2d(net, 384, [3, 3], scope="conv3")
            net = layers.conv2d(net, 384, [3, 3], scope="conv4")
            net = layers.conv2d(net, 256, [3, 3], scope="conv5")
            net = layers.max_pool2d(net, [3, 3], 2, scope="pool5")

            # The classifier, as convolutions: fc6 covers the whole 5x5 map of a 224 input.
            with arg_scope(
                [layers.conv2d],
                weights_initializer=_trunc_normal(0.005),
                biases_initializer=constant_initializer(0.1),
            ):
                net = layers.conv2d(net, 4096, [5, 5], padding="VALID", scope="fc6")
                net = layers.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout6")
                net = layers.conv2d(net, 4096, [1, 1], scope="fc7")
                end_points = utils.convert_collection_to_dict(end_points_collection)
                if global_pool:
                    net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                    end_points["global_pool"] = net
                if num_classes:
                    net = layers.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout7")
                    net = layers.conv2d(
                        net,
                        num_classes,
                        [1, 1],
                        activation_fn=None,
                        normalizer_fn=None,
                        biases_initializer=zeros_initializer(),
                        scope="fc8",
                    )
                    if spatial_squeeze:
                        net = array_ops.squeeze(net, [1, 2], name="fc8/squeezed")
                    end_points[sc.name + "/fc8"] = net
            return net, end_points


alexnet_v2.default_image_size = 224
