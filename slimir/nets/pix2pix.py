"""pix2pix (Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks",
arXiv:1611.07004) as research/slim defines it (nets/pix2pix.py): the U-Net generator (scopes 'encoder',
'decoder', 'output'; dropout in the decoder also at test time, as the paper) and the PatchGAN discriminator
('conv0' ... 'conv<n>'), with research/slim's end points and `pix2pix_arg_scope` (instance norm, N(0, 0.02)
weights).

    with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
        images, end_points = pix2pix.pix2pix_generator(inputs, num_outputs=3)    # [b, 256, 256, 3]

Upsampling: research/slim's default 'nn_upsample_conv' (TF1's tf.image.resize, nearest neighbour with legacy
pixel centres, to twice the run-time height and width, then a 4x4 conv), or 'conv2d_transpose'.
"""

from __future__ import annotations

import collections
import functools

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import variable_scope
from ..initializers import random_normal_initializer
from ..ops import array_ops, image, math_ops
from ..shape import fmt

__all__ = ["Block", "pix2pix_arg_scope", "pix2pix_discriminator", "pix2pix_generator", "upsample"]


def pix2pix_arg_scope():
    """conv2d and conv2d_transpose with instance norm (center, scale, epsilon 1e-5) and N(0, 0.02) weights."""
    params = {"center": True, "scale": True, "epsilon": 1e-5}
    with arg_scope([layers.conv2d, layers.conv2d_transpose], normalizer_fn=layers.instance_norm,
                   normalizer_params=params, weights_initializer=random_normal_initializer(0, 0.02)) as sc:
        return sc


def upsample(net, num_outputs, kernel_size, method="nn_upsample_conv"):
    """Scale the spatial size by `kernel_size` ([2, 2]: double it): a nearest-neighbour resize then a 4x4 conv
    ('nn_upsample_conv'), or a 4x4 transposed conv of stride `kernel_size` ('conv2d_transpose'); no
    activation. The resize takes its size from the run-time shape, as research/slim's."""
    if method == "nn_upsample_conv":
        net_shape = array_ops.shape(net)
        height, width = net_shape[1], net_shape[2]
        net = image.resize_images(net, [kernel_size[0] * height, kernel_size[1] * width],
                                  method=image.ResizeMethodV1.NEAREST_NEIGHBOR)
        return layers.conv2d(net, num_outputs, [4, 4], activation_fn=None)
    if method == "conv2d_transpose":
        return layers.conv2d_transpose(net, num_outputs, [4, 4], stride=kernel_size, activation_fn=None)
    raise InvalidArgumentError(f"pix2pix: Unknown method: [{method}]")


class Block(collections.namedtuple("Block", ["num_filters", "decoder_keep_prob"])):
    """A U-Net level: the encoder's filters and the keep probability of the matching decoder's dropout
    (0: no dropout)."""


def _default_generator_blocks():
    return [Block(64, 0.5), Block(128, 0.5), Block(256, 0.5), Block(512, 0), Block(512, 0), Block(512, 0),
            Block(512, 0)]


def pix2pix_generator(net, num_outputs, blocks=None, upsample_method="nn_upsample_conv", is_training=False):
    """The U-Net: 4x4 stride-2 convs ('encoder'; leaky relu, instance norm but on the first, none on the
    last), then per level relu, upsampling and dropout ('decoder', concatenated with the mirrored encoder
    level), a 4x4 conv to `num_outputs` ('output'). The input size must be divisible by 2^len(blocks).

    Returns (logits, end_points) with 'encoder<i>', 'decoder<i>', 'logits' and 'predictions' (tanh).
    `is_training` is unused: the decoder's dropout is always on (pix2pix's noise source).
    """
    del is_training
    end_points = {}
    blocks = blocks or _default_generator_blocks()
    input_size = list(net.shape)
    if len(input_size) != 4:
        raise ShapeError(f"pix2pix: the generator expects images of rank 4, got {fmt(input_size)}")
    input_size[3] = num_outputs
    upsample_fn = functools.partial(upsample, method=upsample_method)
    encoder_activations = []
    with variable_scope("encoder"), arg_scope([layers.conv2d], kernel_size=[4, 4], stride=2,
                                              activation_fn=math_ops.leaky_relu):
        for block_id, block in enumerate(blocks):
            if block_id == 0:
                net = layers.conv2d(net, block.num_filters, normalizer_fn=None)
            elif block_id < len(blocks) - 1:
                net = layers.conv2d(net, block.num_filters)
            else:
                net = layers.conv2d(net, block.num_filters, activation_fn=None, normalizer_fn=None)
            encoder_activations.append(net)
            end_points[f"encoder{block_id}"] = net
    with variable_scope("decoder"), arg_scope([layers.dropout], is_training=True):
        for block_id, block in enumerate(reversed(blocks)):
            if block_id > 0:
                net = array_ops.concat([net, encoder_activations[-block_id - 1]], axis=3)
            net = upsample_fn(math_ops.relu(net), block.num_filters, [2, 2])
            if block.decoder_keep_prob > 0:
                net = layers.dropout(net, keep_prob=block.decoder_keep_prob)
            end_points[f"decoder{block_id}"] = net
    with variable_scope("output"):
        logits = layers.conv2d(net, num_outputs, [4, 4], activation_fn=None, normalizer_fn=None)
        if sum(d is None for d in input_size) > 1:
            raise ShapeError(f"pix2pix: the generator needs the image size known (all but one dimension), got "
                             f"{fmt(input_size)}")
        logits = array_ops.reshape(logits, [-1 if d is None else d for d in input_size])
        end_points["logits"] = logits
        end_points["predictions"] = math_ops.tanh(logits)
    return logits, end_points


pix2pix_generator.default_image_size = 256


def pix2pix_discriminator(net, num_filters, padding=2, pad_mode="REFLECT", activation_fn=math_ops.leaky_relu,
                          is_training=False):
    """The PatchGAN discriminator: 4x4 VALID convs ('conv0' ... ; stride 2 but the last two), each input
    padded by `padding` (`pad_mode`), instance norm but on the first; a last conv to one logit per patch.

    Returns (logits [b, h', w', 1], end_points with 'conv<i>', 'logits' and 'predictions' (sigmoid)).
    """
    del is_training
    end_points = {}
    num_layers = len(num_filters)

    def padded(net, scope):
        if not padding:
            return net
        with variable_scope(scope):
            return array_ops.pad(net, [[0, 0], [padding, padding], [padding, padding], [0, 0]], mode=pad_mode)

    with arg_scope([layers.conv2d], kernel_size=[4, 4], stride=2, padding="VALID", activation_fn=activation_fn):
        net = layers.conv2d(padded(net, "conv0"), num_filters[0], normalizer_fn=None, scope="conv0")
        end_points["conv0"] = net
        for i in range(1, num_layers - 1):
            net = layers.conv2d(padded(net, f"conv{i}"), num_filters[i], scope=f"conv{i}")
            end_points[f"conv{i}"] = net
        last = f"conv{num_layers - 1}"
        net = layers.conv2d(padded(net, last), num_filters[-1], stride=1, scope=last)
        end_points[last] = net
        logits = layers.conv2d(padded(net, f"conv{num_layers}"), 1, stride=1, activation_fn=None,
                               normalizer_fn=None, scope=f"conv{num_layers}")
        end_points["logits"] = logits
        end_points["predictions"] = math_ops.sigmoid(logits)
    return logits, end_points


pix2pix_discriminator.default_image_size = 256
