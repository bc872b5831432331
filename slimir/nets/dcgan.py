"""DCGAN (Radford et al., arXiv:1511.06434) as research/slim defines it (nets/dcgan.py): a generator from a
noise vector to a [final_size, final_size, num_outputs] image by 4x4 transposed convolutions, and a
discriminator from a square, power-of-two image to one logit by 4x4 stride-2 convolutions with leaky relu,
both with zero-debiased batch norm, under scopes 'Generator' and 'Discriminator'.

    images, end_points = dcgan.generator(noise, final_size=32)           # noise [batch, 64]
    logits, end_points = dcgan.discriminator(images)                      # [batch, 1]
"""

from __future__ import annotations

from math import log2

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import variable_scope
from ..ops import array_ops, math_ops
from ..shape import fmt

__all__ = ["discriminator", "generator"]


def _validate_image_inputs(inputs):
    shape = list(inputs.shape)
    if len(shape) != 4:
        raise ShapeError(f"dcgan: expected images of rank 4, got {fmt(shape)}")
    if shape[1] is None or shape[2] is None:
        raise ShapeError(f"dcgan: the image height and width must be known, got {fmt(shape)}")
    if shape[1] != shape[2]:
        raise InvalidArgumentError(f"dcgan: Input tensor does not have equal width and height: {shape[1:3]}")
    width = shape[1]
    if log2(width) != int(log2(width)):
        raise InvalidArgumentError(f"dcgan: Input tensor `width` is not a power of 2: {width}")


def discriminator(inputs, depth=64, is_training=True, reuse=None, scope="Discriminator", fused_batch_norm=False):
    """The DCGAN discriminator: log2(width) 4x4 stride-2 convolutions ('conv1', 'conv2', ...; depth
    `depth` * 2^i, leaky relu, batch norm after the first) down to 1x1, then a 1x1 conv to one logit.

    Returns (logits [batch, 1], end_points with 'conv<i>' and 'logits').
    """
    bn_args = {"is_training": is_training, "zero_debias_moving_mean": True, "fused": fused_batch_norm}
    _validate_image_inputs(inputs)
    width = list(inputs.shape)[1]
    end_points = {}
    with variable_scope(scope, values=[inputs], reuse=reuse), arg_scope([layers.batch_norm], **bn_args), \
            arg_scope([layers.conv2d], stride=2, kernel_size=4, activation_fn=math_ops.leaky_relu):
        net = inputs
        for i in range(int(log2(width))):
            name = f"conv{i + 1}"
            net = layers.conv2d(net, depth * 2 ** i, normalizer_fn=None if i == 0 else layers.batch_norm, scope=name)
            end_points[name] = net
        logits = layers.conv2d(net, 1, kernel_size=1, stride=1, padding="VALID", normalizer_fn=None,
                               activation_fn=None)
        logits = array_ops.reshape(logits, [-1, 1])
        end_points["logits"] = logits
        return logits, end_points


discriminator.default_image_size = 32


def generator(inputs, depth=64, final_size=32, num_outputs=3, is_training=True, reuse=None, scope="Generator",
              fused_batch_norm=False):
    """The DCGAN generator: the noise [batch, n] as a 1x1 map, a 4x4 VALID transposed conv to 4x4
    ('deconv1'), 4x4 stride-2 transposed convs doubling the size ('deconv2', ...; batch norm and relu, the
    last without), and a 1x1 conv to `num_outputs` channels ('logits'). `final_size` is a power of 2, >= 8.

    Returns (images [batch, final_size, final_size, num_outputs], end_points).
    """
    bn_args = {"is_training": is_training, "zero_debias_moving_mean": True, "fused": fused_batch_norm}
    if len(inputs.shape) != 2:
        raise ShapeError(f"dcgan: the generator's input must be of rank 2 [batch, noise], got {fmt(inputs.shape)}")
    if log2(final_size) != int(log2(final_size)):
        raise InvalidArgumentError(f"dcgan: `final_size` ({final_size}) must be a power of 2.")
    if final_size < 8:
        raise InvalidArgumentError(f"dcgan: `final_size` ({final_size}) must be greater than 8.")
    end_points = {}
    num_layers = int(log2(final_size)) - 1
    with variable_scope(scope, values=[inputs], reuse=reuse), arg_scope([layers.batch_norm], **bn_args), \
            arg_scope([layers.conv2d_transpose], normalizer_fn=layers.batch_norm, stride=2, kernel_size=4):
        net = array_ops.expand_dims(array_ops.expand_dims(inputs, 1), 1)
        net = layers.conv2d_transpose(net, depth * 2 ** (num_layers - 1), stride=1, padding="VALID",
                                      scope="deconv1")
        end_points["deconv1"] = net
        for i in range(2, num_layers):
            name = f"deconv{i}"
            net = layers.conv2d_transpose(net, depth * 2 ** (num_layers - i), scope=name)
            end_points[name] = net
        name = f"deconv{num_layers}"
        net = layers.conv2d_transpose(net, depth, normalizer_fn=None, activation_fn=None, scope=name)
        end_points[name] = net
        logits = layers.conv2d(net, num_outputs, normalizer_fn=None, activation_fn=None, kernel_size=1, stride=1,
                               padding="VALID", scope="logits")
        end_points["logits"] = logits
        if list(logits.shape)[1:] != [final_size, final_size, num_outputs]:
            raise ShapeError(f"dcgan: generated {fmt(logits.shape)}, expected [?, {final_size}, {final_size}, "
                             f"{num_outputs}]")
        return logits, end_points


generator.default_image_size = 32  # the size of the images it generates (final_size)
