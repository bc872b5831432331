"""slimir.nets.nets_factory against TF-Slim's research/slim nets_factory(_test): every network of slimir.nets
is registered with its arg_scope, and get_network_fn builds it under that scope with the given number of
classes, weight decay and training mode."""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import slimir as slim
from slimir import errors
from slimir.nets import nets_factory

EXPECTED = [
    "alexnet_v2",
    "cifarnet",
    "overfeat",
    "vgg_a",
    "vgg_16",
    "vgg_19",
    "lenet",
    "resnet_v1_50",
    "resnet_v1_101",
    "resnet_v1_152",
    "resnet_v1_200",
    "resnet_v2_50",
    "resnet_v2_101",
    "resnet_v2_152",
    "resnet_v2_200",
    "mobilenet_v1",
    "mobilenet_v1_075",
    "mobilenet_v1_050",
    "mobilenet_v1_025",
    # research/slim's zoo beyond TF-Slim's own nets
    "inception_v4",
    "inception_resnet_v2",
    "mobilenet_v2",
    "mobilenet_v2_140",
    "mobilenet_v2_035",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mobilenet_v3_small_minimalistic",
    "mobilenet_v3_large_minimalistic",
    "mobilenet_edgetpu",
    "mobilenet_edgetpu_075",
    "nasnet_cifar",
    "nasnet_mobile",
    "nasnet_large",
    "pnasnet_mobile",
    "pnasnet_large",
    "i3d",
    "s3dg",
]
# Nets whose layers use batch norm (their training mode adds moving-average updates).
BATCH_NORM = [n for n in EXPECTED if n.startswith(("resnet", "mobilenet"))]


def _public_networks():
    """Every function of the slimir.nets modules that is a complete network: it has a default_image_size
    and takes images first (the ResNet generators, which need a list of blocks, are not networks)."""
    found = {}
    import slimir.nets as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"slimir.nets.{info.name}")
        for attr, obj in vars(module).items():
            if attr.startswith("_") or not callable(obj) or not hasattr(obj, "default_image_size"):
                continue
            if "blocks" in inspect.signature(obj).parameters:
                continue
            found[f"{info.name}.{attr}"] = obj
    return found


def test_maps_cover_every_network_of_slimir_nets():
    assert set(nets_factory.networks_map) == set(nets_factory.arg_scopes_map)
    assert set(EXPECTED) <= set(nets_factory.networks_map)
    registered = {id(f) for f in nets_factory.networks_map.values()} | {
        id(getattr(f, "func", f)) for f in nets_factory.generative_map.values()}  # partials: their function
    missing = [name for name, fn in _public_networks().items() if id(fn) not in registered]
    assert missing == []
    for name, fn in nets_factory.networks_map.items():
        assert callable(nets_factory.arg_scopes_map[name]), name
        assert isinstance(nets_factory.arg_scopes_map[name](weight_decay=0.0), dict), name
        assert fn.default_image_size in (28, 32, 224, 231, 299, 331), name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(nets_factory.networks_map))
def test_get_network_fn_builds_every_network(name):
    """nets_factory_test: logits [batch, num_classes] at the network's default image size."""
    batch, num_classes = 2, 1000
    network_fn = nets_factory.get_network_fn(name, num_classes)
    assert network_fn.default_image_size == nets_factory.networks_map[name].default_image_size
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [batch] + nets_factory.input_shape(name))
        logits, end_points = network_fn(images)
        assert logits.shape.as_list() == [batch, num_classes]
        assert isinstance(end_points, dict) and end_points
        # weight_decay=0.0 (the default) disables the regularizers, as TF-Slim's l2_regularizer(0.)
        assert slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES) == []
        # is_training=False (the default): no moving-average updates
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", BATCH_NORM)
def test_training_mode_and_weight_decay(name):
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [2, 64, 64, 3])
        logits, _ = nets_factory.get_network_fn(name, 10, weight_decay=0.01, is_training=True)(images)
        assert logits.shape.as_list() == [2, 10]
        bn = [v for v in slim.global_variables() if v.op.name.endswith("moving_mean")]
        assert len(slim.get_collection(slim.GraphKeys.UPDATE_OPS)) == 2 * len(bn) > 0
        conv_weights = [v for v in slim.trainable_variables() if v.op.name.endswith("/weights")]
        # every conv2d (and, under the default mobilenet scope, not the depthwise ones) is decayed
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == len(conv_weights)


def test_weight_decay_value():
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [1, 32, 32, 3])
        nets_factory.get_network_fn("mobilenet_v1_025", 10, weight_decay=0.5)(images)
        losses = slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)
        first = next(v for v in slim.trainable_variables() if v.op.name == "MobilenetV1/Conv2d_0/weights")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            value, w = sess.run([losses[0], first])
    np.testing.assert_allclose(value, 0.5 * np.sum(w.astype(np.float64) ** 2) / 2, rtol=1e-5)


def test_keyword_arguments_reach_the_network():
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [2, 224, 224, 3])
        fn = nets_factory.get_network_fn("resnet_v1_50", 1001)
        assert fn.__name__ == "resnet_v1_50"
        logits, end_points = fn(images, spatial_squeeze=False, scope="custom")
        assert logits.shape.as_list() == [2, 1, 1, 1001]
        assert "custom/logits" in end_points
        pre, _ = nets_factory.get_network_fn("mobilenet_v1", None)(images, global_pool=True)
        assert pre.shape.as_list() == [2, 1, 1, 1024]


def test_unknown_network_name():
    with pytest.raises(errors.InvalidArgumentError, match="resnet_v3_50") as excinfo:
        nets_factory.get_network_fn("resnet_v3_50", 10)
    assert isinstance(excinfo.value, ValueError)
    assert "resnet_v1_50" in str(excinfo.value)  # the known names are listed
