"""The Oxford VGG networks (configurations A, D and E of Simonyan & Zisserman, arXiv:1409.1556) in
TF-Slim's form: fully connected layers written as convolutions, TF-Slim's scopes and end points.

    with slim.arg_scope(vgg.vgg_arg_scope()):
        logits, end_points = vgg.vgg_16(images, num_classes=1000, is_training=False)

Variable names (`vgg_16/conv3/conv3_2/weights`, `vgg_16/fc6/biases`, ...) equal TF-Slim's, so its
published checkpoints restore as they are.
"""

from __future__ import annotations

from .. import layers, utils
from ..arg_scope import arg_scope
from ..ir.graph import variable_scope
from ..initializers import zeros_initializer
from ..ops import array_ops, math_ops
from ..regularizers import l2_regularizer

__all__ = ["vgg_16", "vgg_19", "vgg_a", "vgg_arg_scope", "vgg_d", "vgg_e"]

# Convolutions per block for each configuration; every block ends with a 2x2 max pool.
_BLOCK_WIDTHS = (64, 128, 256, 512, 512)
_REPEATS = {
    "vgg_a": (1, 1, 2, 2, 2),
    "vgg_16": (2, 2, 3, 3, 3),
    "vgg_19": (2, 2, 4, 4, 4),
}


def vgg_arg_scope(weight_decay=0.0005):
    """The arg_scope VGG was trained with: relu, L2 weight decay, zero biases, SAME convolutions."""
    with (
        arg_scope(
            [layers.conv2d, layers.fully_connected],
            activation_fn=math_ops.relu,
            weights_regularizer=l2_regularizer(weight_decay),
            biases_initializer=zeros_initializer(),
        ),
        arg_scope([layers.conv2d], padding="SAME") as sc,
    ):
        return sc


def _vgg(
    config,
    inputs,
    num_classes,
    is_training,
    dropout_keep_prob,
    spatial_squeeze,
    scope,
    fc_conv_padding,
    global_pool,
    collected,
):
    """The body shared by the three configurations.

    Returns the logits (or, when num_classes is 0/None, the fc7 features) and the end points:
    every conv and pool output keyed by its scope, then fc6/fc7, optionally 'global_pool', then fc8.
    """
    with variable_scope(scope, config, [inputs]) as sc:
        end_points_collection = sc.original_name_scope + "_end_points"
        with arg_scope(collected, outputs_collections=end_points_collection):
            net = inputs
            for block, (reps, width) in enumerate(zip(_REPEATS[config], _BLOCK_WIDTHS), start=1):
                net = layers.repeat(net, reps, layers.conv2d, width, [3, 3], scope=f"conv{block}")
                net = layers.max_pool2d(net, [2, 2], scope=f"pool{block}")
            # The classifier: fully connected layers as convolutions (7x7 over the 7x7 map of a 224 input).
            net = layers.conv2d(net, 4096, [7, 7], padding=fc_conv_padding, scope="fc6")
            net = layers.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout6")
            net = layers.conv2d(net, 4096, [1, 1], scope="fc7")
            end_points = utils.convert_collection_to_dict(end_points_collection)
            if global_pool:
                net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                end_points["global_pool"] = net
            if num_classes:
                net = layers.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout7")
                net = layers.conv2d(
                    net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="fc8"
                )
                if spatial_squeeze:
                    net = array_ops.squeeze(net, [1, 2], name="fc8/squeezed")
                end_points[sc.name + "/fc8"] = net
            return net, end_points


def vgg_a(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    scope="vgg_a",
    fc_conv_padding="VALID",
    global_pool=False,
):
    """VGG configuration A (11 weight layers).

    Args:
      inputs: images, [batch, height, width, channels]; 224x224 for classification.
      num_classes: number of classes; 0 or None leaves out the logits layer and returns fc7's output.
      is_training: whether dropout is active.
      dropout_keep_prob: probability of keeping an activation in the dropout layers while training.
      spatial_squeeze: squeeze the 1x1 spatial dimensions of the logits away.
      scope: variable scope of the network.
      fc_conv_padding: padding of fc6 ('SAME' gives an input/32 prediction map in fully convolutional use).
      global_pool: average fc7 to 1x1 before the logits, whatever the input size (not in the original VGG).

    Returns:
      (net, end_points): the logits (or the features before them) and a dict of intermediate activations.
    """
    return _vgg(
        "vgg_a",
        inputs,
        num_classes,
        is_training,
        dropout_keep_prob,
        spatial_squeeze,
        scope,
        fc_conv_padding,
        global_pool,
        [layers.conv2d, layers.max_pool2d],
    )


vgg_a.default_image_size = 224


def vgg_16(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    scope="vgg_16",
    fc_conv_padding="VALID",
    global_pool=False,
):
    """VGG configuration D (16 weight layers); the arguments and result are those of `vgg_a`."""
    return _vgg(
        "vgg_16",
        inputs,
        num_classes,
        is_training,
        dropout_keep_prob,
        spatial_squeeze,
        scope,
        fc_conv_padding,
        global_pool,
        [layers.conv2d, layers.fully_connected, layers.max_pool2d],
    )


vgg_16.default_image_size = 224


def vgg_19(
    inputs,
    num_classes=1000,
    is_training=True,
    dropout_keep_prob=0.5,
    spatial_squeeze=True,
    scope="vgg_19",
    fc_conv_padding="VALID",
    global_pool=False,
):
    """VGG configuration E (19 weight layers); the arguments and result are those of `vgg_a`."""
    return _vgg(
        "vgg_19",
        inputs,
        num_classes,
        is_training,
        dropout_keep_prob,
        spatial_squeeze,
        scope,
        fc_conv_padding,
        global_pool,
        [layers.conv2d, layers.fully_connected, layers.max_pool2d],
    )


vgg_19.default_image_size = 224

# The configurations' letters from the paper.
vgg_d = vgg_16
vgg_e = vgg_19
