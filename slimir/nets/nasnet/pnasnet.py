"""PNASNet (Liu et al., "Progressive Neural Architecture Search", arXiv:1712.00559) as research/slim builds it
(nets/nasnet/pnasnet.py): one cell type, applied with stride 2 where NASNet puts its reduction cells;
PNASNet-5 Large (331x331, 12 cells of 216) and Mobile (224x224, 9 cells of 54), with research/slim's scopes
and end points ('Stem', 'Cell_<i>', 'global_pool', 'AuxLogits', 'Logits', 'Predictions').

    with slim.arg_scope(pnasnet.pnasnet_large_arg_scope()):
        logits, end_points = pnasnet.build_pnasnet_large(images, 1001, is_training=False)
"""

from __future__ import annotations

import copy

from ... import layers
from ...arg_scope import arg_scope
from ...ops import array_ops, math_ops
from . import nasnet, nasnet_utils

__all__ = ["PNasNetNormalCell", "build_pnasnet_large", "build_pnasnet_mobile", "large_imagenet_config",
           "mobile_imagenet_config", "pnasnet_large_arg_scope", "pnasnet_mobile_arg_scope"]


def large_imagenet_config() -> nasnet.HParams:
    return nasnet.HParams(stem_multiplier=3.0, dense_dropout_keep_prob=0.5, num_cells=12, filter_scaling_rate=2.0,
                          num_conv_filters=216, drop_path_keep_prob=0.6, use_aux_head=1, num_reduction_layers=2,
                          data_format="NHWC", skip_reduction_layer_input=1, total_training_steps=250000,
                          use_bounded_activation=False)


def mobile_imagenet_config() -> nasnet.HParams:
    return nasnet.HParams(stem_multiplier=1.0, dense_dropout_keep_prob=0.5, num_cells=9, filter_scaling_rate=2.0,
                          num_conv_filters=54, drop_path_keep_prob=1.0, use_aux_head=1, num_reduction_layers=2,
                          data_format="NHWC", skip_reduction_layer_input=1, total_training_steps=250000,
                          use_bounded_activation=False)


def pnasnet_large_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=0.001):
    """PNASNet Large's arg_scope: NASNet Large's with its own weight decay."""
    return nasnet.nasnet_large_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def pnasnet_mobile_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=0.001):
    """PNASNet Mobile's arg_scope: NASNet Mobile's."""
    return nasnet.nasnet_mobile_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def _build_pnasnet_base(images, normal_cell, num_classes, hparams, is_training, final_endpoint=None):
    end_points = {}

    def check(name, net):
        end_points[name] = net
        return bool(final_endpoint) and name == final_endpoint

    reduction_indices = nasnet_utils.calc_reduction_layers(hparams.num_cells, hparams.num_reduction_layers)
    net, cell_outputs = nasnet._imagenet_stem(images, hparams, normal_cell)
    if check("Stem", net):
        return net, end_points
    aux_head_cells = [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []
    filter_scaling = 1.0
    true_cell_num = 2
    activation_fn = math_ops.relu6 if hparams.use_bounded_activation else math_ops.relu
    prev_layer = None
    for cell_num in range(hparams.num_cells):
        is_reduction = cell_num in reduction_indices
        if is_reduction:
            filter_scaling *= hparams.filter_scaling_rate
        if hparams.skip_reduction_layer_input or not is_reduction:
            prev_layer = cell_outputs[-2]
        net = normal_cell(net, scope=f"cell_{cell_num}", filter_scaling=filter_scaling,
                          stride=2 if is_reduction else 1, prev_layer=prev_layer, cell_num=true_cell_num)
        if check(f"Cell_{cell_num}", net):
            return net, end_points
        true_cell_num += 1
        cell_outputs.append(net)
        if hparams.use_aux_head and cell_num in aux_head_cells and num_classes and is_training:
            nasnet._build_aux_head(activation_fn(net), end_points, num_classes, hparams, scope=f"aux_{cell_num}")
    return nasnet._head(net, end_points, num_classes, hparams, activation_fn, check)


def _build(images, num_classes, is_training, final_endpoint, hparams):
    nasnet._update_hparams(hparams, is_training)
    if hparams.data_format == "NCHW":
        images = array_ops.transpose(images, [0, 3, 1, 2])
    cell = PNasNetNormalCell(hparams.num_conv_filters, hparams.drop_path_keep_prob, hparams.num_cells + 2,
                             hparams.total_training_steps, hparams.use_bounded_activation)
    with arg_scope([layers.dropout, nasnet_utils.drop_path, layers.batch_norm], is_training=is_training), \
            arg_scope([layers.avg_pool2d, layers.max_pool2d, layers.conv2d, layers.batch_norm,
                       layers.separable_conv2d, nasnet_utils.factorized_reduction, nasnet_utils.global_avg_pool,
                       nasnet_utils.get_channel_index, nasnet_utils.get_channel_dim],
                      data_format=hparams.data_format):
        return _build_pnasnet_base(images, cell, num_classes, hparams, is_training, final_endpoint)


def build_pnasnet_large(images, num_classes, is_training=True, final_endpoint=None, config=None):
    """PNASNet-5 Large (331x331 images); returns (logits, end_points), or the output of `final_endpoint`."""
    return _build(images, num_classes, is_training, final_endpoint,
                  copy.deepcopy(config) if config else large_imagenet_config())


build_pnasnet_large.default_image_size = 331


def build_pnasnet_mobile(images, num_classes, is_training=True, final_endpoint=None, config=None):
    """PNASNet-5 Mobile (224x224 images); returns (logits, end_points), or the output of `final_endpoint`."""
    return _build(images, num_classes, is_training, final_endpoint,
                  copy.deepcopy(config) if config else mobile_imagenet_config())


build_pnasnet_mobile.default_image_size = 224


class PNasNetNormalCell(nasnet_utils.NasNetABaseCell):
    """PNASNet's cell (the paper's Figure 1)."""

    def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
                 use_bounded_activation=False):
        operations = ["separable_5x5_2", "max_pool_3x3", "separable_7x7_2", "max_pool_3x3", "separable_5x5_2",
                      "separable_3x3_2", "separable_3x3_2", "max_pool_3x3", "separable_3x3_2", "none"]
        used_hiddenstates = [1, 1, 0, 0, 0, 0, 0]
        hiddenstate_indices = [1, 1, 0, 0, 0, 0, 4, 0, 1, 0]
        super().__init__(num_conv_filters, operations, used_hiddenstates, hiddenstate_indices, drop_path_keep_prob,
                         total_num_cells, total_training_steps, use_bounded_activation)
