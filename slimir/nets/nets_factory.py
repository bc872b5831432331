"""Networks by name, as TF-Slim's research/slim `nets_factory`: `get_network_fn('vgg_16', 1000)` gives a
function `images -> (logits, end_points)` that applies the network under its own arg_scope."""

from __future__ import annotations

import functools

from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError
from . import (
    alexnet,
    cifarnet,
    inception_v1,
    inception_v2,
    inception_v3,
    lenet,
    mobilenet_v1,
    overfeat,
    resnet_v1,
    resnet_v2,
    vgg,
)

__all__ = ["arg_scopes_map", "get_network_fn", "networks_map"]

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
    """(graph, images placeholder, logits) of network `name` in a new graph: the input is named 'images',
    [batch_size, size, size, channels] with the network's default size and channels unless given; `seed` is
    the graph's random seed (variables then initialise to the same values in every build)."""
    from .. import dtypes
    from ..ir.graph import Graph, set_random_seed
    from ..ops.array import placeholder

    if name not in networks_map:
        raise InvalidArgumentError(f"unknown network {name!r} (choose from {', '.join(sorted(networks_map))})")
    func = networks_map[name]
    num_classes = default_num_classes(name) if num_classes is None else num_classes
    size = image_size or getattr(func, "default_image_size", 224)
    channels = input_channels_map.get(name, 3) if channels is None else channels
    graph = Graph()
    with graph.as_default():
        if seed is not None:
            set_random_seed(seed)
        images = placeholder(dtypes.float32, [batch_size, size, size, channels], name="images")
        logits, _ = get_network_fn(name, num_classes, weight_decay=weight_decay, is_training=is_training)(images)
    return graph, images, logits
