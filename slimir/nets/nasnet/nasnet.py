"""NASNet-A (Zoph et al., arXiv:1707.07012) as research/slim builds it (nets/nasnet/nasnet.py): the CIFAR
model (32x32, 18 cells of width 32), NASNet-A Mobile (224x224, 12 cells of 44) and Large (331x331, 18 cells
of 168), with research/slim's scopes ('cell_stem_0', 'cell_<i>', 'reduction_cell_<i>', 'aux_<i>',
'final_layer/FC'), end points and arg_scopes, so its checkpoints restore by name.

    with slim.arg_scope(nasnet.nasnet_mobile_arg_scope()):
        logits, end_points = nasnet.build_nasnet_mobile(images, 1001, is_training=False)

The auxiliary head is built only when training (as research/slim); drop-path only when training with a
keep probability below 1 (cifar 0.6, large 0.7), which needs a static batch size.
"""

from __future__ import annotations

import copy
import logging

from ... import layers
from ...arg_scope import arg_scope
from ...errors import InvalidArgumentError
from ...ir.graph import variable_scope
from ...initializers import variance_scaling_initializer
from ...ops import array_ops, math_ops, nn_ops
from ...regularizers import l2_regularizer
from . import nasnet_utils

__all__ = ["HParams", "build_nasnet_cifar", "build_nasnet_large", "build_nasnet_mobile", "cifar_config",
           "large_imagenet_config", "mobile_imagenet_config", "nasnet_cifar_arg_scope", "nasnet_large_arg_scope",
           "nasnet_mobile_arg_scope"]

_log = logging.getLogger("slimir.nets.nasnet")


class HParams:
    """Named hyperparameters (TF's contrib.training.HParams, the part research/slim uses): attributes,
    `set_hparam`, `values()`."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def set_hparam(self, name, value):
        if name not in self.__dict__:
            raise InvalidArgumentError(f"Unknown hyperparameter {name!r}")
        setattr(self, name, value)

    def values(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self):
        return f"HParams({self.__dict__})"


def cifar_config() -> HParams:
    return HParams(stem_multiplier=3.0, drop_path_keep_prob=0.6, num_cells=18, use_aux_head=1, num_conv_filters=32,
                   dense_dropout_keep_prob=1.0, filter_scaling_rate=2.0, num_reduction_layers=2, data_format="NHWC",
                   skip_reduction_layer_input=0, total_training_steps=937500, use_bounded_activation=False)


def large_imagenet_config() -> HParams:
    return HParams(stem_multiplier=3.0, dense_dropout_keep_prob=0.5, num_cells=18, filter_scaling_rate=2.0,
                   num_conv_filters=168, drop_path_keep_prob=0.7, use_aux_head=1, num_reduction_layers=2,
                   data_format="NHWC", skip_reduction_layer_input=1, total_training_steps=250000,
                   use_bounded_activation=False)


def mobile_imagenet_config() -> HParams:
    return HParams(stem_multiplier=1.0, dense_dropout_keep_prob=0.5, num_cells=12, filter_scaling_rate=2.0,
                   drop_path_keep_prob=1.0, num_conv_filters=44, use_aux_head=1, num_reduction_layers=2,
                   data_format="NHWC", skip_reduction_layer_input=0, total_training_steps=250000,
                   use_bounded_activation=False)


def _update_hparams(hparams, is_training):
    """No drop-path outside training."""
    if not is_training:
        hparams.set_hparam("drop_path_keep_prob", 1.0)


def _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon):
    bn = {"decay": batch_norm_decay, "epsilon": batch_norm_epsilon, "scale": True, "fused": True}
    with arg_scope([layers.fully_connected, layers.conv2d, layers.separable_conv2d],
                   weights_regularizer=l2_regularizer(weight_decay),
                   weights_initializer=variance_scaling_initializer(mode="FAN_OUT")), \
            arg_scope([layers.fully_connected], activation_fn=None, scope="FC"), \
            arg_scope([layers.conv2d, layers.separable_conv2d], activation_fn=None, biases_initializer=None), \
            arg_scope([layers.batch_norm], **bn) as sc:
        return sc


def nasnet_cifar_arg_scope(weight_decay=5e-4, batch_norm_decay=0.9, batch_norm_epsilon=1e-5):
    """NASNet's arg_scope for CIFAR: He (fan-out) weights with L2 decay, convolutions without bias or
    activation, batch norm with gamma; fully_connected named 'FC'."""
    return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def nasnet_mobile_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3):
    """NASNet-A Mobile's arg_scope (as the CIFAR one, with ImageNet's decays)."""
    return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def nasnet_large_arg_scope(weight_decay=5e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3):
    """NASNet-A Large's arg_scope (as the CIFAR one, with ImageNet's decays)."""
    return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def _build_aux_head(net, end_points, num_classes, hparams, scope):
    """The auxiliary classifier: 5x5/3 average pool, 1x1 conv 128 ('proj'), a conv to 768 over the whole map,
    each with batch norm and activation, fully connected; end_points['AuxLogits']."""
    activation_fn = math_ops.relu6 if hparams.use_bounded_activation else math_ops.relu
    with variable_scope(scope):
        aux = array_ops.identity(net)
        with variable_scope("aux_logits"):
            aux = layers.avg_pool2d(aux, [5, 5], stride=3, padding="VALID")
            aux = layers.conv2d(aux, 128, [1, 1], scope="proj")
            aux = activation_fn(layers.batch_norm(aux, scope="aux_bn0"))
            shape = list(aux.shape)
            shape = shape[1:3] if hparams.data_format == "NHWC" else shape[2:4]
            aux = layers.conv2d(aux, 768, shape, padding="VALID")
            aux = activation_fn(layers.batch_norm(aux, scope="aux_bn1"))
            aux = layers.flatten(aux)
            end_points["AuxLogits"] = layers.fully_connected(aux, num_classes)


def _imagenet_stem(inputs, hparams, stem_cell, current_step=None):
    """A 3x3/2 VALID conv ('conv0', 'conv0_bn') and two stride-2 stem cells ('cell_stem_0', 'cell_stem_1')."""
    num_stem_cells = 2
    net = layers.conv2d(inputs, int(32 * hparams.stem_multiplier), [3, 3], stride=2, scope="conv0", padding="VALID")
    net = layers.batch_norm(net, scope="conv0_bn")
    cell_outputs = [None, net]
    filter_scaling = 1.0 / (hparams.filter_scaling_rate ** num_stem_cells)
    for cell_num in range(num_stem_cells):
        net = stem_cell(net, scope=f"cell_stem_{cell_num}", filter_scaling=filter_scaling, stride=2,
                        prev_layer=cell_outputs[-2], cell_num=cell_num, current_step=current_step)
        cell_outputs.append(net)
        filter_scaling *= hparams.filter_scaling_rate
    return net, cell_outputs


def _cifar_stem(inputs, hparams):
    """A 3x3 conv ('l1_stem_3x3', 'l1_stem_bn')."""
    net = layers.conv2d(inputs, int(hparams.num_conv_filters * hparams.stem_multiplier), 3, scope="l1_stem_3x3")
    net = layers.batch_norm(net, scope="l1_stem_bn")
    return net, [None, net]


def _build(images, hparams, is_training, total_num_cells, stem_type, num_classes, final_endpoint, current_step):
    if hparams.data_format == "NCHW":
        images = array_ops.transpose(images, [0, 3, 1, 2])
    cells = [cls(hparams.num_conv_filters, hparams.drop_path_keep_prob, total_num_cells,
                 hparams.total_training_steps, hparams.use_bounded_activation)
             for cls in (nasnet_utils.NasNetANormalCell, nasnet_utils.NasNetAReductionCell)]
    with arg_scope([layers.dropout, nasnet_utils.drop_path, layers.batch_norm], is_training=is_training), \
            arg_scope([layers.avg_pool2d, layers.max_pool2d, layers.conv2d, layers.batch_norm,
                       layers.separable_conv2d, nasnet_utils.factorized_reduction, nasnet_utils.global_avg_pool,
                       nasnet_utils.get_channel_index, nasnet_utils.get_channel_dim],
                      data_format=hparams.data_format):
        return _build_nasnet_base(images, normal_cell=cells[0], reduction_cell=cells[1], num_classes=num_classes,
                                  hparams=hparams, is_training=is_training, stem_type=stem_type,
                                  final_endpoint=final_endpoint, current_step=current_step)


def build_nasnet_cifar(images, num_classes, is_training=True, config=None, current_step=None):
    """NASNet-A for CIFAR-10 (32x32 images); returns (logits, end_points)."""
    hparams = cifar_config() if config is None else copy.deepcopy(config)
    _update_hparams(hparams, is_training)
    return _build(images, hparams, is_training, hparams.num_cells + 2, "cifar", num_classes, None, current_step)


build_nasnet_cifar.default_image_size = 32


def build_nasnet_mobile(images, num_classes, is_training=True, final_endpoint=None, config=None,
                        current_step=None):
    """NASNet-A Mobile (224x224 images); returns (logits, end_points), or the output of `final_endpoint`."""
    hparams = mobile_imagenet_config() if config is None else copy.deepcopy(config)
    _update_hparams(hparams, is_training)
    return _build(images, hparams, is_training, hparams.num_cells + 4, "imagenet", num_classes, final_endpoint,
                  current_step)


build_nasnet_mobile.default_image_size = 224


def build_nasnet_large(images, num_classes, is_training=True, final_endpoint=None, config=None,
                       current_step=None):
    """NASNet-A Large (331x331 images); returns (logits, end_points), or the output of `final_endpoint`."""
    hparams = large_imagenet_config() if config is None else copy.deepcopy(config)
    _update_hparams(hparams, is_training)
    return _build(images, hparams, is_training, hparams.num_cells + 4, "imagenet", num_classes, final_endpoint,
                  current_step)


build_nasnet_large.default_image_size = 331


def _head(net, end_points, num_classes, hparams, activation_fn, check):
    """'final_layer': activation, global average pool, dropout, fully connected, softmax."""
    with variable_scope("final_layer"):
        net = nasnet_utils.global_avg_pool(activation_fn(net))
        if check("global_pool", net) or not num_classes:
            return net, end_points
        net = layers.dropout(net, hparams.dense_dropout_keep_prob, scope="dropout")
        logits = layers.fully_connected(net, num_classes)
        if check("Logits", logits):
            return net, end_points
        predictions = nn_ops.softmax(logits, name="predictions")
        if check("Predictions", predictions):
            return net, end_points
    return logits, end_points


def _build_nasnet_base(images, normal_cell, reduction_cell, num_classes, hparams, is_training, stem_type,
                       final_endpoint=None, current_step=None):
    """The stem, the normal and reduction cells, the auxiliary head and the final layer."""
    end_points = {}

    def check(name, net):
        end_points[name] = net
        return bool(final_endpoint) and name == final_endpoint

    reduction_indices = nasnet_utils.calc_reduction_layers(hparams.num_cells, hparams.num_reduction_layers)
    if stem_type == "imagenet":
        net, cell_outputs = _imagenet_stem(images, hparams, reduction_cell, current_step)
    elif stem_type == "cifar":
        net, cell_outputs = _cifar_stem(images, hparams)
    else:
        raise InvalidArgumentError(f"nasnet: Unknown stem_type: {stem_type}")
    if check("Stem", net):
        return net, end_points
    aux_head_cells = [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []
    filter_scaling = 1.0
    true_cell_num = 2 if stem_type == "imagenet" else 0
    activation_fn = math_ops.relu6 if hparams.use_bounded_activation else math_ops.relu
    prev_layer = None
    for cell_num in range(hparams.num_cells):
        if hparams.skip_reduction_layer_input:
            prev_layer = cell_outputs[-2]
        if cell_num in reduction_indices:
            filter_scaling *= hparams.filter_scaling_rate
            idx = reduction_indices.index(cell_num)
            net = reduction_cell(net, scope=f"reduction_cell_{idx}", filter_scaling=filter_scaling, stride=2,
                                 prev_layer=cell_outputs[-2], cell_num=true_cell_num, current_step=current_step)
            if check(f"Reduction_Cell_{idx}", net):
                return net, end_points
            true_cell_num += 1
            cell_outputs.append(net)
        if not hparams.skip_reduction_layer_input:
            prev_layer = cell_outputs[-2]
        net = normal_cell(net, scope=f"cell_{cell_num}", filter_scaling=filter_scaling, stride=1,
                          prev_layer=prev_layer, cell_num=true_cell_num, current_step=current_step)
        if check(f"Cell_{cell_num}", net):
            return net, end_points
        true_cell_num += 1
        if hparams.use_aux_head and cell_num in aux_head_cells and num_classes and is_training:
            _build_aux_head(activation_fn(net), end_points, num_classes, hparams, scope=f"aux_{cell_num}")
        cell_outputs.append(net)
    return _head(net, end_points, num_classes, hparams, activation_fn, check)
