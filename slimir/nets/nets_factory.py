"""Networks by name, as TF-Slim's research/slim `nets_factory`: `get_network_fn('vgg_16', 1000)` gives a
function `images -> (logits, end_points)` that applies the network under its own arg_scope."""

from __future__ import annotations

import contextlib
import functools

from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError
from . import (
    alexnet,
    cifarnet,
    cyclegan,
    dcgan,
    i3d,
    inception_resnet_v2,
    inception_v1,
    inception_v2,
    inception_v3,
    inception_v4,
    lenet,
    mobilenet_v1,
    overfeat,
    pix2pix,
    resnet_v1,
    resnet_v2,
    s3dg,
    vgg,
)
from .mobilenet import mobilenet_v2, mobilenet_v3
from .nasnet import nasnet, pnasnet

__all__ = ["arg_scopes_map", "build_network", "default_num_classes", "generative_arg_scopes_map", "generative_map",
           "get_generative_network_fn", "get_network_fn", "input_channels_map", "input_shape", "network_names",
           "networks_map"]

networks_map = {
    "alexnet_v2": alexnet.alexnet_v2,
    "cifarnet": cifarnet.cifarnet,
    "overfeat": overfeat.overfeat,
    "vgg_a": vgg.vgg_a,
    "vgg_16": vgg.vgg_16,
    "vgg_19": vgg.vgg_19,
    "lenet": lenet.lenet,
    "inception_v1": inception_v1.inception_v1,
    "inception_v2": inception_v2.inception_v2,
    "inception_v3": inception_v3.inception_v3,
    "inception_v4": inception_v4.inception_v4,
    "inception_resnet_v2": inception_resnet_v2.inception_resnet_v2,
    "i3d": i3d.i3d,
    "s3dg": s3dg.s3dg,
    "resnet_v1_50": resnet_v1.resnet_v1_50,
    "resnet_v1_101": resnet_v1.resnet_v1_101,
    "resnet_v1_152": resnet_v1.resnet_v1_152,
    "resnet_v1_200": resnet_v1.resnet_v1_200,
    "resnet_v2_50": resnet_v2.resnet_v2_50,
    "resnet_v2_101": resnet_v2.resnet_v2_101,
    "resnet_v2_152": resnet_v2.resnet_v2_152,
    "resnet_v2_200": resnet_v2.resnet_v2_200,
    "mobilenet_v1": mobilenet_v1.mobilenet_v1,
    "mobilenet_v1_075": mobilenet_v1.mobilenet_v1_075,
    "mobilenet_v1_050": mobilenet_v1.mobilenet_v1_050,
    "mobilenet_v1_025": mobilenet_v1.mobilenet_v1_025,
    "mobilenet_v2": mobilenet_v2.mobilenet,
    "mobilenet_v2_140": mobilenet_v2.mobilenet_v2_140,
    "mobilenet_v2_035": mobilenet_v2.mobilenet_v2_035,
    "mobilenet_v3_small": mobilenet_v3.small,
    "mobilenet_v3_large": mobilenet_v3.large,
    "mobilenet_v3_small_minimalistic": mobilenet_v3.small_minimalistic,
    "mobilenet_v3_large_minimalistic": mobilenet_v3.large_minimalistic,
    "mobilenet_edgetpu": mobilenet_v3.edge_tpu,
    "mobilenet_edgetpu_075": mobilenet_v3.edge_tpu_075,
    "nasnet_cifar": nasnet.build_nasnet_cifar,
    "nasnet_mobile": nasnet.build_nasnet_mobile,
    "nasnet_large": nasnet.build_nasnet_large,
    "pnasnet_large": pnasnet.build_pnasnet_large,
    "pnasnet_mobile": pnasnet.build_pnasnet_mobile,
}

arg_scopes_map = {
    "alexnet_v2": alexnet.alexnet_v2_arg_scope,
    "cifarnet": cifarnet.cifarnet_arg_scope,
    "overfeat": overfeat.overfeat_arg_scope,
    "vgg_a": vgg.vgg_arg_scope,
    "vgg_16": vgg.vgg_arg_scope,
    "vgg_19": vgg.vgg_arg_scope,
    "lenet": lenet.lenet_arg_scope,
    "inception_v1": inception_v1.inception_v1_arg_scope,
    "inception_v2": inception_v2.inception_v2_arg_scope,
    "inception_v3": inception_v3.inception_v3_arg_scope,
    "inception_v4": inception_v4.inception_v4_arg_scope,
    "inception_resnet_v2": inception_resnet_v2.inception_resnet_v2_arg_scope,
    "i3d": i3d.i3d_arg_scope,
    "s3dg": s3dg.s3dg_arg_scope,
    "resnet_v1_50": resnet_v1.resnet_arg_scope,
    "resnet_v1_101": resnet_v1.resnet_arg_scope,
    "resnet_v1_152": resnet_v1.resnet_arg_scope,
    "resnet_v1_200": resnet_v1.resnet_arg_scope,
    "resnet_v2_50": resnet_v2.resnet_arg_scope,
    "resnet_v2_101": resnet_v2.resnet_arg_scope,
    "resnet_v2_152": resnet_v2.resnet_arg_scope,
    "resnet_v2_200": resnet_v2.resnet_arg_scope,
    "mobilenet_v1": mobilenet_v1.mobilenet_v1_arg_scope,
    "mobilenet_v1_075": mobilenet_v1.mobilenet_v1_arg_scope,
    "mobilenet_v1_050": mobilenet_v1.mobilenet_v1_arg_scope,
    "mobilenet_v1_025": mobilenet_v1.mobilenet_v1_arg_scope,
    "mobilenet_v2": mobilenet_v2.training_scope,
    "mobilenet_v2_140": mobilenet_v2.training_scope,
    "mobilenet_v2_035": mobilenet_v2.training_scope,
    "mobilenet_v3_small": mobilenet_v3.training_scope,
    "mobilenet_v3_large": mobilenet_v3.training_scope,
    "mobilenet_v3_small_minimalistic": mobilenet_v3.training_scope,
    "mobilenet_v3_large_minimalistic": mobilenet_v3.training_scope,
    "mobilenet_edgetpu": mobilenet_v3.training_scope,
    "mobilenet_edgetpu_075": mobilenet_v3.training_scope,
    "nasnet_cifar": nasnet.nasnet_cifar_arg_scope,
    "nasnet_mobile": nasnet.nasnet_mobile_arg_scope,
    "nasnet_large": nasnet.nasnet_large_arg_scope,
    "pnasnet_large": pnasnet.pnasnet_large_arg_scope,
    "pnasnet_mobile": pnasnet.pnasnet_mobile_arg_scope,
}


def get_network_fn(name, num_classes, weight_decay=0.0, is_training=False):
    """A function `network_fn(images, **kwargs) -> (logits, end_points)` for the network `name`.

    The network runs under its arg_scope with `weight_decay`, with `num_classes` and `is_training`
    fixed; extra keyword arguments go to the network. `network_fn.default_image_size` is the
    network's input size. An unknown name raises ValueError.
    """
    if name not in networks_map:
        raise InvalidArgumentError(
            f"Name of network unknown {name} (known: {', '.join(sorted(networks_map))})"
        )
    func = networks_map[name]

    @functools.wraps(func)
    def network_fn(images, **kwargs):
        with arg_scope(arg_scopes_map[name](weight_decay=weight_decay)):
            return func(images, num_classes=num_classes, is_training=is_training, **kwargs)

    if hasattr(func, "default_image_size"):
        network_fn.default_image_size = func.default_image_size
    return network_fn


def _with_defaults(func, **defaults):
    """`func` with other keyword defaults, keeping its name, docstring and default_image_size."""
    fn = functools.partial(func, **defaults)
    functools.update_wrapper(fn, func)
    return fn


# research/slim's networks that are not image classifiers (its GANs): name -> function(inputs, is_training=...).
# pix2pix's generator makes RGB images with research/slim's default upsampling (nearest-neighbour resize + conv);
# its discriminator is the 70x70 PatchGAN.
generative_map = {
    "dcgan_generator": dcgan.generator,
    "dcgan_discriminator": dcgan.discriminator,
    "pix2pix_generator": _with_defaults(pix2pix.pix2pix_generator, num_outputs=3),
    "pix2pix_discriminator": _with_defaults(pix2pix.pix2pix_discriminator, num_filters=[64, 128, 256, 512]),
    "cyclegan_generator": cyclegan.cyclegan_generator_resnet,
}

# The arg_scopes the generative networks are built under (the others set their own, or none).
generative_arg_scopes_map = {
    "pix2pix_generator": pix2pix.pix2pix_arg_scope,
    "pix2pix_discriminator": pix2pix.pix2pix_arg_scope,
}

# Inputs that are not an image [size, size, channels]: the shape without the batch axis, from (size, channels).
_INPUT_SHAPES = {
    "dcgan_generator": lambda size, channels: [64],
    "i3d": lambda size, channels: [64, size, size, channels],  # videos: 64 frames (research/slim's tests)
    "s3dg": lambda size, channels: [64, size, size, channels],
}


def network_names() -> list:
    """Every network's name, sorted: the classifiers of `networks_map` and the networks of `generative_map`."""
    return sorted({**networks_map, **generative_map})


def input_shape(name, image_size=None, channels=None) -> list:
    """The input shape of network `name` without the batch axis: [size, size, channels] for image networks
    (`image_size` or the network's default_image_size; 3 channels, 1 for lenet, unless `channels`), the
    videos [64, size, size, channels] of i3d and s3dg, the noise [64] of dcgan_generator."""
    func = networks_map.get(name) or generative_map.get(name)
    if func is None:
        raise InvalidArgumentError(f"unknown network {name!r} (choose from {', '.join(network_names())})")
    size = image_size or getattr(func, "default_image_size", 224)
    channels = channels or input_channels_map.get(name, 3)
    shape_fn = _INPUT_SHAPES.get(name)
    return shape_fn(size, channels) if shape_fn else [size, size, channels]


def get_generative_network_fn(name, is_training=False):
    """A function `network_fn(inputs, **kwargs) -> (net, end_points)` for the generative network `name`
    (see `generative_map`), with `is_training` fixed; extra keyword arguments go to the network."""
    if name not in generative_map:
        raise InvalidArgumentError(
            f"Name of generative network unknown {name} (known: {', '.join(sorted(generative_map))})")
    func = generative_map[name]

    scope_fn = generative_arg_scopes_map.get(name)

    @functools.wraps(func)
    def network_fn(inputs, **kwargs):
        with arg_scope(scope_fn()) if scope_fn else contextlib.nullcontext():
            return func(inputs, is_training=is_training, **kwargs)

    if hasattr(func, "default_image_size"):
        network_fn.default_image_size = func.default_image_size
    return network_fn


#: input channels of the networks that do not take RGB images
input_channels_map = {"lenet": 1}


def default_num_classes(name: str) -> int:
    """The `num_classes` default of network `name`'s function (1000 when it has none)."""
    import inspect

    try:
        default = inspect.signature(networks_map[name]).parameters["num_classes"].default
    except (KeyError, TypeError, ValueError):
        return 1000
    return default if isinstance(default, int) else 1000


def build_network(name: str, num_classes=None, image_size=None, batch_size=None, seed=None, is_training=False,
                  channels=None, weight_decay=0.0):
    """(graph, input placeholder, output) of network `name` in a new graph: the input is named 'images', of
    shape [batch_size] + `input_shape(name, image_size, channels)`; the output is a classifier's logits or a
    generative network's output. `seed` is the graph's random seed (variables then initialise to the same
    values in every build)."""
    from .. import dtypes
    from ..ir.graph import Graph, set_random_seed
    from ..ops.array import placeholder

    shape = input_shape(name, image_size, channels)
    graph = Graph()
    with graph.as_default():
        if seed is not None:
            set_random_seed(seed)
        images = placeholder(dtypes.float32, [batch_size] + shape, name="images")
        if name in generative_map:
            net, _ = get_generative_network_fn(name, is_training=is_training)(images)
        else:
            num_classes = default_num_classes(name) if num_classes is None else num_classes
            net, _ = get_network_fn(name, num_classes, weight_decay=weight_decay, is_training=is_training)(images)
    return graph, images, net
