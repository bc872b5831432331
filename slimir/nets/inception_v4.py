"""Inception v4 (Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning", arXiv:1602.07261) in research/slim's form (nets/inception_v4.py): scope 'InceptionV4', the stem
(Conv2d_1a_3x3 ... Mixed_5a), four Inception-A blocks (Mixed_5b-e), Reduction-A (Mixed_6a), seven
Inception-B (Mixed_6b-h), Reduction-B (Mixed_7a), three Inception-C (Mixed_7b-d), the auxiliary head on
Mixed_6h and the logits, with research/slim's variable names so its checkpoints restore as they are.

    with slim.arg_scope(inception_v4.inception_v4_arg_scope()):
        logits, end_points = inception_v4.inception_v4(images, num_classes=1001, is_training=False)

The smallest input is 75x75 (107x107 with the auxiliary head).
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError
from ..ir.graph import variable_scope
from ..ops import array_ops, math_ops, nn_ops
from . import inception_utils

__all__ = ["block_inception_a", "block_inception_b", "block_inception_c", "block_reduction_a",
           "block_reduction_b", "inception_v4", "inception_v4_arg_scope", "inception_v4_base"]

_SAME_STRIDE_1 = ([layers.conv2d, layers.avg_pool2d, layers.max_pool2d], {"stride": 1, "padding": "SAME"})


def _conv(net, depth, kernel, scope, **kw):
    return layers.conv2d(net, depth, kernel, scope=scope, **kw)


def _branches(*branches):
    return array_ops.concat(list(branches), axis=3)


def block_inception_a(inputs, scope=None, reuse=None):
    """Inception-A (35x35): 1x1 96 | 1x1 64 -> 3x3 96 | 1x1 64 -> 3x3 96 -> 3x3 96 | avg pool -> 1x1 96."""
    with arg_scope(_SAME_STRIDE_1[0], **_SAME_STRIDE_1[1]), \
            variable_scope(scope, "BlockInceptionA", [inputs], reuse=reuse):
        with variable_scope("Branch_0"):
            b0 = _conv(inputs, 96, [1, 1], "Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            b1 = _conv(_conv(inputs, 64, [1, 1], "Conv2d_0a_1x1"), 96, [3, 3], "Conv2d_0b_3x3")
        with variable_scope("Branch_2"):
            b2 = _conv(inputs, 64, [1, 1], "Conv2d_0a_1x1")
            b2 = _conv(_conv(b2, 96, [3, 3], "Conv2d_0b_3x3"), 96, [3, 3], "Conv2d_0c_3x3")
        with variable_scope("Branch_3"):
            b3 = _conv(layers.avg_pool2d(inputs, [3, 3], scope="AvgPool_0a_3x3"), 96, [1, 1], "Conv2d_0b_1x1")
        return _branches(b0, b1, b2, b3)


def block_reduction_a(inputs, scope=None, reuse=None):
    """Reduction-A (35 -> 17): 3x3/2 384 | 1x1 192 -> 3x3 224 -> 3x3/2 256 | max pool 3x3/2."""
    with arg_scope(_SAME_STRIDE_1[0], **_SAME_STRIDE_1[1]), \
            variable_scope(scope, "BlockReductionA", [inputs], reuse=reuse):
        with variable_scope("Branch_0"):
            b0 = _conv(inputs, 384, [3, 3], "Conv2d_1a_3x3", stride=2, padding="VALID")
        with variable_scope("Branch_1"):
            b1 = _conv(_conv(inputs, 192, [1, 1], "Conv2d_0a_1x1"), 224, [3, 3], "Conv2d_0b_3x3")
            b1 = _conv(b1, 256, [3, 3], "Conv2d_1a_3x3", stride=2, padding="VALID")
        with variable_scope("Branch_2"):
            b2 = layers.max_pool2d(inputs, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
        return _branches(b0, b1, b2)


def block_inception_b(inputs, scope=None, reuse=None):
    """Inception-B (17x17): 1x1 384 | 1x1 192 -> 1x7 224 -> 7x1 256 |
    1x1 192 -> 7x1 192 -> 1x7 224 -> 7x1 224 -> 1x7 256 | avg pool -> 1x1 128."""
    with arg_scope(_SAME_STRIDE_1[0], **_SAME_STRIDE_1[1]), \
            variable_scope(scope, "BlockInceptionB", [inputs], reuse=reuse):
        with variable_scope("Branch_0"):
            b0 = _conv(inputs, 384, [1, 1], "Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            b1 = _conv(inputs, 192, [1, 1], "Conv2d_0a_1x1")
            b1 = _conv(_conv(b1, 224, [1, 7], "Conv2d_0b_1x7"), 256, [7, 1], "Conv2d_0c_7x1")
        with variable_scope("Branch_2"):
            b2 = _conv(inputs, 192, [1, 1], "Conv2d_0a_1x1")
            for depth, kernel, name in ((192, [7, 1], "Conv2d_0b_7x1"), (224, [1, 7], "Conv2d_0c_1x7"),
                                        (224, [7, 1], "Conv2d_0d_7x1"), (256, [1, 7], "Conv2d_0e_1x7")):
                b2 = _conv(b2, depth, kernel, name)
        with variable_scope("Branch_3"):
            b3 = _conv(layers.avg_pool2d(inputs, [3, 3], scope="AvgPool_0a_3x3"), 128, [1, 1], "Conv2d_0b_1x1")
        return _branches(b0, b1, b2, b3)


def block_reduction_b(inputs, scope=None, reuse=None):
    """Reduction-B (17 -> 8): 1x1 192 -> 3x3/2 192 | 1x1 256 -> 1x7 256 -> 7x1 320 -> 3x3/2 320 |
    max pool 3x3/2."""
    with arg_scope(_SAME_STRIDE_1[0], **_SAME_STRIDE_1[1]), \
            variable_scope(scope, "BlockReductionB", [inputs], reuse=reuse):
        with variable_scope("Branch_0"):
            b0 = _conv(inputs, 192, [1, 1], "Conv2d_0a_1x1")
            b0 = _conv(b0, 192, [3, 3], "Conv2d_1a_3x3", stride=2, padding="VALID")
        with variable_scope("Branch_1"):
            b1 = _conv(inputs, 256, [1, 1], "Conv2d_0a_1x1")
            b1 = _conv(_conv(b1, 256, [1, 7], "Conv2d_0b_1x7"), 320, [7, 1], "Conv2d_0c_7x1")
            b1 = _conv(b1, 320, [3, 3], "Conv2d_1a_3x3", stride=2, padding="VALID")
        with variable_scope("Branch_2"):
            b2 = layers.max_pool2d(inputs, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
        return _branches(b0, b1, b2)


def block_inception_c(inputs, scope=None, reuse=None):
    """Inception-C (8x8): 1x1 256 | 1x1 384 -> (1x3 256, 3x1 256) | 1x1 384 -> 3x1 448 -> 1x3 512 ->
    (1x3 256, 3x1 256) | avg pool -> 1x1 256."""
    with arg_scope(_SAME_STRIDE_1[0], **_SAME_STRIDE_1[1]), \
            variable_scope(scope, "BlockInceptionC", [inputs], reuse=reuse):
        with variable_scope("Branch_0"):
            b0 = _conv(inputs, 256, [1, 1], "Conv2d_0a_1x1")
        with variable_scope("Branch_1"):
            b1 = _conv(inputs, 384, [1, 1], "Conv2d_0a_1x1")
            b1 = _branches(_conv(b1, 256, [1, 3], "Conv2d_0b_1x3"), _conv(b1, 256, [3, 1], "Conv2d_0c_3x1"))
        with variable_scope("Branch_2"):
            b2 = _conv(inputs, 384, [1, 1], "Conv2d_0a_1x1")
            b2 = _conv(_conv(b2, 448, [3, 1], "Conv2d_0b_3x1"), 512, [1, 3], "Conv2d_0c_1x3")
            b2 = _branches(_conv(b2, 256, [1, 3], "Conv2d_0d_1x3"), _conv(b2, 256, [3, 1], "Conv2d_0e_3x1"))
        with variable_scope("Branch_3"):
            b3 = _conv(layers.avg_pool2d(inputs, [3, 3], scope="AvgPool_0a_3x3"), 256, [1, 1], "Conv2d_0b_1x1")
        return _branches(b0, b1, b2, b3)


def inception_v4_base(inputs, final_endpoint="Mixed_7d", scope=None):
    """Inception v4 up to `final_endpoint` (one of 'Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3',
    'Mixed_3a', 'Mixed_4a', 'Mixed_5a', 'Mixed_5b' ... 'Mixed_5e', 'Mixed_6a' ... 'Mixed_6h', 'Mixed_7a' ...
    'Mixed_7d'); returns (net, end_points)."""
    end_points = {}

    def done(name, net):
        end_points[name] = net
        return name == final_endpoint

    with variable_scope(scope, "InceptionV4", [inputs]), arg_scope(_SAME_STRIDE_1[0], **_SAME_STRIDE_1[1]):
        net = _conv(inputs, 32, [3, 3], "Conv2d_1a_3x3", stride=2, padding="VALID")
        if done("Conv2d_1a_3x3", net):
            return net, end_points
        net = _conv(net, 32, [3, 3], "Conv2d_2a_3x3", padding="VALID")
        if done("Conv2d_2a_3x3", net):
            return net, end_points
        net = _conv(net, 64, [3, 3], "Conv2d_2b_3x3")
        if done("Conv2d_2b_3x3", net):
            return net, end_points
        with variable_scope("Mixed_3a"):
            with variable_scope("Branch_0"):
                b0 = layers.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_0a_3x3")
            with variable_scope("Branch_1"):
                b1 = _conv(net, 96, [3, 3], "Conv2d_0a_3x3", stride=2, padding="VALID")
            net = _branches(b0, b1)
            if done("Mixed_3a", net):
                return net, end_points
        with variable_scope("Mixed_4a"):
            with variable_scope("Branch_0"):
                b0 = _conv(net, 64, [1, 1], "Conv2d_0a_1x1")
                b0 = _conv(b0, 96, [3, 3], "Conv2d_1a_3x3", padding="VALID")
            with variable_scope("Branch_1"):
                b1 = _conv(net, 64, [1, 1], "Conv2d_0a_1x1")
                b1 = _conv(_conv(b1, 64, [1, 7], "Conv2d_0b_1x7"), 64, [7, 1], "Conv2d_0c_7x1")
                b1 = _conv(b1, 96, [3, 3], "Conv2d_1a_3x3", padding="VALID")
            net = _branches(b0, b1)
            if done("Mixed_4a", net):
                return net, end_points
        with variable_scope("Mixed_5a"):
            with variable_scope("Branch_0"):
                b0 = _conv(net, 192, [3, 3], "Conv2d_1a_3x3", stride=2, padding="VALID")
            with variable_scope("Branch_1"):
                b1 = layers.max_pool2d(net, [3, 3], stride=2, padding="VALID", scope="MaxPool_1a_3x3")
            net = _branches(b0, b1)
            if done("Mixed_5a", net):
                return net, end_points
        for i in range(4):
            name = "Mixed_5" + "bcde"[i]
            net = block_inception_a(net, name)
            if done(name, net):
                return net, end_points
        net = block_reduction_a(net, "Mixed_6a")
        if done("Mixed_6a", net):
            return net, end_points
        for i in range(7):
            name = "Mixed_6" + "bcdefgh"[i]
            net = block_inception_b(net, name)
            if done(name, net):
                return net, end_points
        net = block_reduction_b(net, "Mixed_7a")
        if done("Mixed_7a", net):
            return net, end_points
        for i in range(3):
            name = "Mixed_7" + "bcd"[i]
            net = block_inception_c(net, name)
            if done(name, net):
                return net, end_points
    raise InvalidArgumentError(f"inception_v4: Unknown final endpoint {final_endpoint}")


def inception_v4(inputs, num_classes=1001, is_training=True, dropout_keep_prob=0.8, reuse=None,
                 scope="InceptionV4", create_aux_logits=True):
    """Inception v4 for classification.

    The auxiliary head ('AuxLogits': 5x5/3 average pool of Mixed_6h, 1x1 conv 128, a conv to 768 over the
    whole map, fully connected 'Aux_logits') is built when `create_aux_logits` and `num_classes`. The logits:
    an average pool over the whole final map ('Logits/AvgPool_1a'; a mean 'global_pool' when its size is
    unknown), dropout 'Dropout_1b', 'PreLogitsFlatten' and the fully connected 'Logits/Logits'.
    `num_classes` 0 or None returns the pooled features. Returns (logits, end_points).
    """
    with variable_scope(scope, "InceptionV4", [inputs], reuse=reuse) as sc, \
            arg_scope([layers.batch_norm, layers.dropout], is_training=is_training):
        net, end_points = inception_v4_base(inputs, scope=sc)
        with arg_scope(_SAME_STRIDE_1[0], **_SAME_STRIDE_1[1]):
            if create_aux_logits and num_classes:
                with variable_scope("AuxLogits"):
                    aux = layers.avg_pool2d(end_points["Mixed_6h"], [5, 5], stride=3, padding="VALID",
                                            scope="AvgPool_1a_5x5")
                    aux = _conv(aux, 128, [1, 1], "Conv2d_1b_1x1")
                    aux = _conv(aux, 768, aux.shape.as_list()[1:3], "Conv2d_2a", padding="VALID")
                    aux = layers.flatten(aux)
                    end_points["AuxLogits"] = layers.fully_connected(aux, num_classes, activation_fn=None,
                                                                     scope="Aux_logits")
            with variable_scope("Logits"):
                kernel = net.shape.as_list()[1:3]
                if None not in kernel:
                    net = layers.avg_pool2d(net, kernel, padding="VALID", scope="AvgPool_1a")
                else:
                    net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                end_points["global_pool"] = net
                if not num_classes:
                    return net, end_points
                net = layers.dropout(net, dropout_keep_prob, scope="Dropout_1b")
                net = layers.flatten(net, scope="PreLogitsFlatten")
                end_points["PreLogitsFlatten"] = net
                logits = layers.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
                end_points["Logits"] = logits
                end_points["Predictions"] = nn_ops.softmax(logits, name="Predictions")
    return logits, end_points


inception_v4.default_image_size = 299
inception_v4_arg_scope = inception_utils.inception_arg_scope
