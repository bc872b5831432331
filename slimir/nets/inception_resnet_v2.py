"""Inception-ResNet-v2 (Szegedy et al., arXiv:1602.07261) in research/slim's form
(nets/inception_resnet_v2.py): scope 'InceptionResnetV2', the stem, Mixed_5b, ten scaled residual 35x35
blocks ('Repeat/block35_<i>'), Mixed_6a, twenty 17x17 blocks ('Repeat_1/block17_<i>'), Mixed_7a, nine
8x8 blocks ('Repeat_2/block8_<i>') and a last one ('Block8'), Conv2d_7b_1x1, the auxiliary head on
PreAuxLogits and the logits, with research/slim's variable names so its checkpoints restore as they are.

    with slim.arg_scope(inception_resnet_v2.inception_resnet_v2_arg_scope()):
        logits, end_points = inception_resnet_v2.inception_resnet_v2(images, 1001, is_training=False)

`output_stride=8` keeps the 17x17 blocks at stride 8 with atrous convolutions (up to 'PreAuxLogits');
`align_feature_maps` pads SAME instead of VALID. The smallest input is 75x75 (107x107 with the
auxiliary head).
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError
from ..ir.graph import GraphKeys, variable_scope
from ..ops import array_ops, math_ops, nn_ops
from ..regularizers import l2_regularizer

__all__ = [
    "block8",
    "block17",
    "block35",
    "inception_resnet_v2",
    "inception_resnet_v2_arg_scope",
    "inception_resnet_v2_base",
]


def _residual(net, mixed, scale, activation_fn):
    """net + scale * (1x1 linear conv of `mixed` back to net's depth), then `activation_fn`."""
    up = layers.conv2d(mixed, net.shape[3], 1, normalizer_fn=None, activation_fn=None, scope="Conv2d_1x1")
    scaled_up = up * scale
    if activation_fn is math_ops.relu6:
        scaled_up = math_ops.clip_by_value(scaled_up, -6.0, 6.0)
    net = net + scaled_up
    return activation_fn(net) if activation_fn else net


def block35(net, scale=1.0, activation_fn=math_ops.relu, scope=None, reuse=None):
    """The 35x35 residual block: 1x1 32 | 1x1 32 -> 3x3 32 | 1x1 32 -> 3x3 48 -> 3x3 64, scaled."""
    with variable_scope(scope, "Block35", [net], reuse=reuse):
        with variable_scope("Branch_0"):
            b0 = layers.conv2d(net, 32, 1, scope="Conv2d_1x1")
        with variable_scope("Branch_1"):
            b1 = layers.conv2d(layers.conv2d(net, 32, 1, scope="Conv2d_0a_1x1"), 32, 3, scope="Conv2d_0b_3x3")
        with variable_scope("Branch_2"):
            b2 = layers.conv2d(net, 32, 1, scope="Conv2d_0a_1x1")
            b2 = layers.conv2d(layers.conv2d(b2, 48, 3, scope="Conv2d_0b_3x3"), 64, 3, scope="Conv2d_0c_3x3")
        return _residual(net, array_ops.concat([b0, b1, b2], axis=3), scale, activation_fn)


def block17(net, scale=1.0, activation_fn=math_ops.relu, scope=None, reuse=None):
    """The 17x17 residual block: 1x1 192 | 1x1 128 -> 1x7 160 -> 7x1 192, scaled."""
    with variable_scope(scope, "Block17", [net], reuse=reuse):
        with variable_scope("Branch_0"):
            b0 = layers.conv2d(net, 192, 1, scope="Conv2d_1x1")
        with variable_scope("Branch_1"):
            b1 = layers.conv2d(net, 128, 1, scope="Conv2d_0a_1x1")
            b1 = layers.conv2d(layers.conv2d(b1, 160, [1, 7], scope="Conv2d_0b_1x7"), 192, [7, 1],
                               scope="Conv2d_0c_7x1")
        return _residual(net, array_ops.concat([b0, b1], axis=3), scale, activation_fn)


def block8(net, scale=1.0, activation_fn=math_ops.relu, scope=None, reuse=None):
    """The 8x8 residual block: 1x1 192 | 1x1 192 -> 1x3 224 -> 3x1 256, scaled."""
    with variable_scope(scope, "Block8", [net], reuse=reuse):
        with variable_scope("Branch_0"):
            b0 = layers.conv2d(net, 192, 1, scope="Conv2d_1x1")
        with variable_scope("Branch_1"):
            b1 = layers.conv2d(net, 192, 1, scope="Conv2d_0a_1x1")
            b1 = layers.conv2d(layers.conv2d(b1, 224, [1, 3], scope="Conv2d_0b_1x3"), 256, [3, 1],
                               scope="Conv2d_0c_3x1")
        return _residual(net, array_ops.concat([b0, b1], axis=3), scale, activation_fn)


def inception_resnet_v2_base(inputs, final_endpoint="Conv2d_7b_1x1", output_stride=16, align_feature_maps=False,
                             scope=None, activation_fn=math_ops.relu):
    """Inception-ResNet-v2 up to `final_endpoint` (one of 'Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3',
    'MaxPool_3a_3x3', 'Conv2d_3b_1x1', 'Conv2d_4a_3x3', 'MaxPool_5a_3x3', 'Mixed_5b', 'Mixed_6a',
    'PreAuxLogits', 'Mixed_7a', 'Conv2d_7b_1x1'); `output_stride` 8 or 16 (8 only up to 'PreAuxLogits');
    `activation_fn` of the residual blocks. Returns (net, end_points)."""
    if output_stride not in (8, 16):
        raise InvalidArgumentError(f"inception_resnet_v2: output_stride must be 8 or 16, got {output_stride}")
    padding = "SAME" if align_feature_maps else "VALID"
    end_points = {}

    def done(name, net):
        end_points[name] = net
        return name == final_endpoint

    with variable_scope(scope, "InceptionResnetV2", [inputs]), \
            arg_scope([layers.conv2d, layers.max_pool2d, layers.avg_pool2d], stride=1, padding="SAME"):
        net = layers.conv2d(inputs, 32, 3, stride=2, padding=padding, scope="Conv2d_1a_3x3")
        if done("Conv2d_1a_3x3", net):
            return net, end_points
        net = layers.conv2d(net, 32, 3, padding=padding, scope="Conv2d_2a_3x3")
        if done("Conv2d_2a_3x3", net):
            return net, end_points
        net = layers.conv2d(net, 64, 3, scope="Conv2d_2b_3x3")
        if done("Conv2d_2b_3x3", net):
            return net, end_points
        net = layers.max_pool2d(net, 3, stride=2, padding=padding, scope="MaxPool_3a_3x3")
        if done("MaxPool_3a_3x3", net):
            return net, end_points
        net = layers.conv2d(net, 80, 1, padding=padding, scope="Conv2d_3b_1x1")
        if done("Conv2d_3b_1x1", net):
            return net, end_points
        net = layers.conv2d(net, 192, 3, padding=padding, scope="Conv2d_4a_3x3")
        if done("Conv2d_4a_3x3", net):
            return net, end_points
        net = layers.max_pool2d(net, 3, stride=2, padding=padding, scope="MaxPool_5a_3x3")
        if done("MaxPool_5a_3x3", net):
            return net, end_points
        with variable_scope("Mixed_5b"):
            with variable_scope("Branch_0"):
                b0 = layers.conv2d(net, 96, 1, scope="Conv2d_1x1")
            with variable_scope("Branch_1"):
                b1 = layers.conv2d(layers.conv2d(net, 48, 1, scope="Conv2d_0a_1x1"), 64, 5, scope="Conv2d_0b_5x5")
            with variable_scope("Branch_2"):
                b2 = layers.conv2d(net, 64, 1, scope="Conv2d_0a_1x1")
                b2 = layers.conv2d(layers.conv2d(b2, 96, 3, scope="Conv2d_0b_3x3"), 96, 3, scope="Conv2d_0c_3x3")
            with variable_scope("Branch_3"):
                b3 = layers.avg_pool2d(net, 3, stride=1, padding="SAME", scope="AvgPool_0a_3x3")
                b3 = layers.conv2d(b3, 64, 1, scope="Conv2d_0b_1x1")
            net = array_ops.concat([b0, b1, b2, b3], 3)
        if done("Mixed_5b", net):
            return net, end_points
        net = layers.repeat(net, 10, block35, scale=0.17, activation_fn=activation_fn)
        atrous = output_stride == 8
        stride = 1 if atrous else 2
        with variable_scope("Mixed_6a"):
            with variable_scope("Branch_0"):
                b0 = layers.conv2d(net, 384, 3, stride=stride, padding=padding, scope="Conv2d_1a_3x3")
            with variable_scope("Branch_1"):
                b1 = layers.conv2d(net, 256, 1, scope="Conv2d_0a_1x1")
                b1 = layers.conv2d(b1, 256, 3, scope="Conv2d_0b_3x3")
                b1 = layers.conv2d(b1, 384, 3, stride=stride, padding=padding, scope="Conv2d_1a_3x3")
            with variable_scope("Branch_2"):
                b2 = layers.max_pool2d(net, 3, stride=stride, padding=padding, scope="MaxPool_1a_3x3")
            net = array_ops.concat([b0, b1, b2], 3)
        if done("Mixed_6a", net):
            return net, end_points
        with arg_scope([layers.conv2d], rate=2 if atrous else 1):
            net = layers.repeat(net, 20, block17, scale=0.10, activation_fn=activation_fn)
        if done("PreAuxLogits", net):
            return net, end_points
        if atrous:
            raise InvalidArgumentError("inception_resnet_v2: output_stride==8 is only supported up to the "
                                       "PreAuxlogits end_point for now.")
        with variable_scope("Mixed_7a"):
            with variable_scope("Branch_0"):
                b0 = layers.conv2d(net, 256, 1, scope="Conv2d_0a_1x1")
                b0 = layers.conv2d(b0, 384, 3, stride=2, padding=padding, scope="Conv2d_1a_3x3")
            with variable_scope("Branch_1"):
                b1 = layers.conv2d(net, 256, 1, scope="Conv2d_0a_1x1")
                b1 = layers.conv2d(b1, 288, 3, stride=2, padding=padding, scope="Conv2d_1a_3x3")
            with variable_scope("Branch_2"):
                b2 = layers.conv2d(net, 256, 1, scope="Conv2d_0a_1x1")
                b2 = layers.conv2d(b2, 288, 3, scope="Conv2d_0b_3x3")
                b2 = layers.conv2d(b2, 320, 3, stride=2, padding=padding, scope="Conv2d_1a_3x3")
            with variable_scope("Branch_3"):
                b3 = layers.max_pool2d(net, 3, stride=2, padding=padding, scope="MaxPool_1a_3x3")
            net = array_ops.concat([b0, b1, b2, b3], 3)
        if done("Mixed_7a", net):
            return net, end_points
        net = layers.repeat(net, 9, block8, scale=0.20, activation_fn=activation_fn)
        net = block8(net, activation_fn=None)
        net = layers.conv2d(net, 1536, 1, scope="Conv2d_7b_1x1")
        if done("Conv2d_7b_1x1", net):
            return net, end_points
    raise InvalidArgumentError(f"inception_resnet_v2: final_endpoint ({final_endpoint}) not recognized")


def inception_resnet_v2(inputs, num_classes=1001, is_training=True, dropout_keep_prob=0.8, reuse=None,
                        scope="InceptionResnetV2", create_aux_logits=True, activation_fn=math_ops.relu):
    """Inception-ResNet-v2 for classification.

    The auxiliary head ('AuxLogits': 5x5/3 average pool of PreAuxLogits, 1x1 conv 128, a conv to 768 over
    the whole map, fully connected 'Logits') when `create_aux_logits` and `num_classes`; then an average
    pool over the final map ('Logits/AvgPool_1a_8x8'; a mean 'global_pool' when its size is unknown),
    flatten, dropout, fully connected 'Logits/Logits'. `num_classes` 0 or None returns the pooled features.
    Returns (logits, end_points).
    """
    with variable_scope(scope, "InceptionResnetV2", [inputs], reuse=reuse) as sc, \
            arg_scope([layers.batch_norm, layers.dropout], is_training=is_training):
        net, end_points = inception_resnet_v2_base(inputs, scope=sc, activation_fn=activation_fn)
        if create_aux_logits and num_classes:
            with variable_scope("AuxLogits"):
                aux = layers.avg_pool2d(end_points["PreAuxLogits"], 5, stride=3, padding="VALID",
                                        scope="Conv2d_1a_3x3")
                aux = layers.conv2d(aux, 128, 1, scope="Conv2d_1b_1x1")
                aux = layers.conv2d(aux, 768, aux.shape.as_list()[1:3], padding="VALID", scope="Conv2d_2a_5x5")
                aux = layers.flatten(aux)
                end_points["AuxLogits"] = layers.fully_connected(aux, num_classes, activation_fn=None,
                                                                 scope="Logits")
        with variable_scope("Logits"):
            kernel = net.shape.as_list()[1:3]
            if None not in kernel:
                net = layers.avg_pool2d(net, kernel, padding="VALID", scope="AvgPool_1a_8x8")
            else:
                net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
            end_points["global_pool"] = net
            if not num_classes:
                return net, end_points
            net = layers.flatten(net)
            net = layers.dropout(net, dropout_keep_prob, is_training=is_training, scope="Dropout")
            end_points["PreLogitsFlatten"] = net
            logits = layers.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
            end_points["Logits"] = logits
            end_points["Predictions"] = nn_ops.softmax(logits, name="Predictions")
    return logits, end_points


inception_resnet_v2.default_image_size = 299


def inception_resnet_v2_arg_scope(weight_decay=0.00004, batch_norm_decay=0.9997, batch_norm_epsilon=0.001,
                                  activation_fn=math_ops.relu, batch_norm_updates_collections=GraphKeys.UPDATE_OPS,
                                  batch_norm_scale=False):
    """The arg_scope Inception-ResNet-v2 was trained with: L2 `weight_decay` on the weights and biases of
    conv2d and fully_connected; conv2d with `activation_fn` and batch norm (decay, epsilon, gamma when
    `batch_norm_scale`, updates in `batch_norm_updates_collections`)."""
    bn = {"decay": batch_norm_decay, "epsilon": batch_norm_epsilon,
          "updates_collections": batch_norm_updates_collections, "fused": None, "scale": batch_norm_scale}
    with arg_scope([layers.conv2d, layers.fully_connected], weights_regularizer=l2_regularizer(weight_decay),
                   biases_regularizer=l2_regularizer(weight_decay)), \
            arg_scope([layers.conv2d], activation_fn=activation_fn, normalizer_fn=layers.batch_norm,
                      normalizer_params=bn) as sc:
        return sc
