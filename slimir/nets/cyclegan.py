"""CycleGAN's ResNet generator (Zhu et al., arXiv:1703.10593) as research/slim defines it (nets/cyclegan.py):
a reflect-padded 7x7 conv ('input'), two stride-2 convs ('encoder'), residual blocks ('residual_blocks/
block_<i>'), two 2x upsamplings ('decoder/decoder1', 'decoder/decoder2') and a 7x7 conv ('output'), under
`cyclegan_arg_scope` (instance norm, N(0, 0.02) weights).

    images, end_points = cyclegan.cyclegan_generator_resnet(inputs)    # [b, h, w, c], h and w multiples of 4

Upsampling: research/slim's default 'conv2d_transpose', or a resize to `stride` times the run-time size (TF1's
tf.image.resize nearest neighbour for 'nn_upsample_conv', tf.compat.v1.image.resize_bilinear with
`align_corners` for 'bilinear_upsample_conv'; legacy pixel centres both) followed by `pad_mode` padding and a 3x3
VALID conv.
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import variable_scope
from ..initializers import random_normal_initializer
from ..ops import array_ops, image, math_ops
from ..ir.registry import apply_op
from ..regularizers import l2_regularizer
from ..shape import fmt

__all__ = ["cyclegan_arg_scope", "cyclegan_generator_resnet", "cyclegan_upsample"]


def cyclegan_arg_scope(instance_norm_center=True, instance_norm_scale=True, instance_norm_epsilon=0.001,
                       weights_init_stddev=0.02, weight_decay=0.0):
    """conv2d with instance norm and N(0, `weights_init_stddev`) weights, L2 `weight_decay` when positive."""
    params = {"center": instance_norm_center, "scale": instance_norm_scale, "epsilon": instance_norm_epsilon}
    reg = l2_regularizer(weight_decay) if weight_decay and weight_decay > 0.0 else None
    with arg_scope([layers.conv2d], normalizer_fn=layers.instance_norm, normalizer_params=params,
                   weights_initializer=random_normal_initializer(0, weights_init_stddev),
                   weights_regularizer=reg) as sc:
        return sc


def cyclegan_upsample(net, num_outputs, stride, method="conv2d_transpose", pad_mode="REFLECT",
                      align_corners=False):
    """Upsample by `stride` ('upconv'): a 3x3 VALID transposed conv with its first row and column dropped
    ('conv2d_transpose'), or a nearest-neighbour / bilinear resize, `pad_mode` padding and a 3x3 VALID conv."""
    with variable_scope("upconv"):
        pad_1 = [[0, 0], [1, 1], [1, 1], [0, 0]]
        if method in ("nn_upsample_conv", "bilinear_upsample_conv"):
            net_shape = array_ops.shape(net)
            size = [stride[0] * net_shape[1], stride[1] * net_shape[2]]
            if method == "nn_upsample_conv":
                net = image.resize_images(net, size, method=image.ResizeMethodV1.NEAREST_NEIGHBOR)
            else:
                net = image.resize_bilinear(net, size, align_corners=align_corners)
            net = array_ops.pad(net, pad_1, mode=pad_mode)
            return layers.conv2d(net, num_outputs, kernel_size=[3, 3], padding="VALID")
        if method == "conv2d_transpose":
            net = layers.conv2d_transpose(net, num_outputs, kernel_size=[3, 3], stride=stride, padding="VALID")
            return net[:, 1:, 1:, :]
        raise InvalidArgumentError(f"cyclegan: Unknown method: [{method}]")


def cyclegan_generator_resnet(images, arg_scope_fn=cyclegan_arg_scope, num_resnet_blocks=6, num_filters=64,
                              upsample_fn=cyclegan_upsample, kernel_size=3, tanh_linear_slope=0.0,
                              is_training=False):
    """The CycleGAN generator: images [b, h, w, c] (h, w multiples of 4) to images of the same shape.

    Returns (predictions = tanh(logits) + tanh_linear_slope * logits, end_points with 'encoder_0..2',
    'resnet_block_<i>', 'decoder1', 'decoder2', 'logits', 'predictions'). `is_training` is unused.
    """
    del is_training
    end_points = {}
    input_size = list(images.shape)
    if len(input_size) != 4:
        raise ShapeError(f"cyclegan: expected images of rank 4, got {fmt(input_size)}")
    height, width = input_size[1], input_size[2]
    if height and height % 4 != 0:
        raise InvalidArgumentError("cyclegan: The input height must be a multiple of 4.")
    if width and width % 4 != 0:
        raise InvalidArgumentError("cyclegan: The input width must be a multiple of 4.")
    num_outputs = input_size[3]
    if not isinstance(kernel_size, (list, tuple)):
        kernel_size = [kernel_size, kernel_size]
    kh, kw = kernel_size
    paddings = [[0, 0], [(kh - 1) // 2, kh // 2], [(kw - 1) // 2, kw // 2], [0, 0]]
    pad_3 = [[0, 0], [3, 3], [3, 3], [0, 0]]
    with arg_scope(arg_scope_fn()):
        with variable_scope("input"):
            net = layers.conv2d(array_ops.pad(images, pad_3, mode="REFLECT"), num_filters, kernel_size=[7, 7],
                                padding="VALID")
            end_points["encoder_0"] = net
        with variable_scope("encoder"), arg_scope([layers.conv2d], kernel_size=kernel_size, stride=2,
                                                  activation_fn=math_ops.relu, padding="VALID"):
            net = layers.conv2d(array_ops.pad(net, paddings, mode="REFLECT"), num_filters * 2)
            end_points["encoder_1"] = net
            net = layers.conv2d(array_ops.pad(net, paddings, mode="REFLECT"), num_filters * 4)
            end_points["encoder_2"] = net
        with variable_scope("residual_blocks"), arg_scope([layers.conv2d], kernel_size=kernel_size, stride=1,
                                                          activation_fn=math_ops.relu, padding="VALID"):
            for block_id in range(num_resnet_blocks):
                with variable_scope(f"block_{block_id}"):
                    res = layers.conv2d(array_ops.pad(net, paddings, mode="REFLECT"), num_filters * 4)
                    res = layers.conv2d(array_ops.pad(res, paddings, mode="REFLECT"), num_filters * 4,
                                        activation_fn=None)
                    net = net + res
                    end_points[f"resnet_block_{block_id}"] = net
        with variable_scope("decoder"), arg_scope([layers.conv2d], kernel_size=kernel_size, stride=1,
                                                  activation_fn=math_ops.relu):
            with variable_scope("decoder1"):
                net = upsample_fn(net, num_outputs=num_filters * 2, stride=[2, 2])
            end_points["decoder1"] = net
            with variable_scope("decoder2"):
                net = upsample_fn(net, num_outputs=num_filters, stride=[2, 2])
            end_points["decoder2"] = net
        with variable_scope("output"):
            net = array_ops.pad(net, pad_3, mode="REFLECT")
            logits = layers.conv2d(net, num_outputs, [7, 7], activation_fn=None, normalizer_fn=None,
                                   padding="VALID")
            if None in input_size:
                logits = apply_op("reshape_like", [logits, images])
            else:
                logits = array_ops.reshape(logits, input_size)
            end_points["logits"] = logits
            end_points["predictions"] = math_ops.tanh(logits) + logits * tanh_linear_slope
    return end_points["predictions"], end_points


cyclegan_generator_resnet.default_image_size = 256
