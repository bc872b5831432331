"""MobileNet v2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
arXiv:1801.04381) as research/slim defines it (nets/mobilenet/mobilenet_v2.py): scope 'MobilenetV2',
layers 'Conv', 'expanded_conv', 'expanded_conv_1' ... 'expanded_conv_16', 'Conv_1', the classifier
'Logits/Conv2d_1c_1x1', end points 'layer_1' ... 'layer_19' (plus 'layer_<i>/output',
'layer_<i>/depthwise_output', 'layer_<i>/expansion_output'), so research/slim's checkpoints restore by name.

    with slim.arg_scope(mobilenet_v2.training_scope(is_training=False)):
        logits, end_points = mobilenet_v2.mobilenet(images)   # 1001 classes, 224x224
"""

from __future__ import annotations

import copy
import functools

from ... import layers
from ...arg_scope import add_arg_scope, arg_scope
from ...errors import InvalidArgumentError
from ...layers import group_norm
from ...ops import math_ops
from . import conv_blocks as ops
from . import mobilenet as lib

__all__ = ["V2_DEF", "V2_DEF_GROUP_NORM", "mobilenet", "mobilenet_base", "mobilenet_base_group_norm",
           "mobilenet_v2_035", "mobilenet_v2_050", "mobilenet_v2_140", "training_scope"]

op = lib.op
expand_input = ops.expand_input_by_factor


def _spec():
    """Table 2 of the paper: a 3x3 stride-2 conv, 17 bottlenecks (t=1 for the first, 6 after), a 1x1 conv."""
    # (stride, depth) of expanded_conv_1 ... expanded_conv_16
    strides = [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
    depths = [24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
    return ([op(layers.conv2d, stride=2, num_outputs=32, kernel_size=[3, 3]),
             op(ops.expanded_conv, expansion_size=expand_input(1, divisible_by=1), num_outputs=16)]
            + [op(ops.expanded_conv, stride=s, num_outputs=d) for s, d in zip(strides, depths)]
            + [op(layers.conv2d, stride=1, kernel_size=[1, 1], num_outputs=1280)])


V2_DEF = {
    "defaults": {
        # these batch-norm parameters change the architecture, so they live here and not in training_scope
        (layers.batch_norm,): {"center": True, "scale": True},
        (layers.conv2d, layers.fully_connected, layers.separable_conv2d): {
            "normalizer_fn": layers.batch_norm, "activation_fn": math_ops.relu6},
        (ops.expanded_conv,): {"expansion_size": expand_input(6), "split_expansion": 1,
                               "normalizer_fn": layers.batch_norm, "residual": True},
        (layers.conv2d, layers.separable_conv2d): {"padding": "SAME"},
    },
    "spec": _spec(),
}

V2_DEF_GROUP_NORM = copy.deepcopy(V2_DEF)
V2_DEF_GROUP_NORM["defaults"] = {
    (layers.conv2d, layers.fully_connected, layers.separable_conv2d): {
        "normalizer_fn": group_norm, "activation_fn": math_ops.relu6},
    (ops.expanded_conv,): {"expansion_size": expand_input(6), "split_expansion": 1, "normalizer_fn": group_norm,
                           "residual": True},
    (layers.conv2d, layers.separable_conv2d): {"padding": "SAME"},
}


@add_arg_scope
def mobilenet(input_tensor, num_classes=1001, depth_multiplier=1.0, scope="MobilenetV2", conv_defs=None,
              finegrain_classification_mode=False, min_depth=None, divisible_by=None, activation_fn=None,
              **kwargs):
    """MobileNet v2 (inference mode unless built under `training_scope()` or with is_training=True).

    Args:
      input_tensor: [batch, height, width, channels].
      num_classes: classes of the logits (0 or None: the pooled features).
      depth_multiplier: channel multiplier of every layer.
      scope: variable scope.
      conv_defs: the architecture (default V2_DEF).
      finegrain_classification_mode: keep the last 1x1 conv at 1280 channels when depth_multiplier < 1.
      min_depth, divisible_by: bounds of the multiplied depths (research/slim's defaults 8 and 8).
      activation_fn: the activation of every conv (default relu6).
      **kwargs: to `mobilenet.mobilenet` (prediction_fn, reuse, base_only, final_endpoint, output_stride,
        use_explicit_padding, is_training, ...).

    Returns:
      (logits, end_points).
    """
    if conv_defs is None:
        conv_defs = V2_DEF
    if "multiplier" in kwargs:
        raise InvalidArgumentError("mobilenetv2 doesn't support generic multiplier parameter use "
                                   '"depth_multiplier" instead.')
    if finegrain_classification_mode:
        conv_defs = copy.deepcopy(conv_defs)
        if depth_multiplier < 1:
            conv_defs["spec"][-1].params["num_outputs"] /= depth_multiplier
    if activation_fn:
        conv_defs = copy.deepcopy(conv_defs)
        conv_defs["defaults"][(layers.conv2d, layers.fully_connected, layers.separable_conv2d)][
            "activation_fn"] = activation_fn
    depth_args = {}
    if min_depth is not None:
        depth_args["min_depth"] = min_depth
    if divisible_by is not None:
        depth_args["divisible_by"] = divisible_by
    with arg_scope((lib.depth_multiplier,), **depth_args):
        return lib.mobilenet(input_tensor, num_classes=num_classes, conv_defs=conv_defs, scope=scope,
                             multiplier=depth_multiplier, **kwargs)


mobilenet.default_image_size = 224


def wrapped_partial(func, *args, **kwargs):
    """functools.partial that keeps `func`'s name, docstring and attributes (default_image_size)."""
    partial_func = functools.partial(func, *args, **kwargs)
    functools.update_wrapper(partial_func, func)
    return partial_func


mobilenet_v2_140 = wrapped_partial(mobilenet, depth_multiplier=1.4)
mobilenet_v2_050 = wrapped_partial(mobilenet, depth_multiplier=0.50, finegrain_classification_mode=True)
mobilenet_v2_035 = wrapped_partial(mobilenet, depth_multiplier=0.35, finegrain_classification_mode=True)


@add_arg_scope
def mobilenet_base(input_tensor, depth_multiplier=1.0, **kwargs):
    """The base of MobileNet v2 (no pooling, no logits)."""
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


@add_arg_scope
def mobilenet_base_group_norm(input_tensor, depth_multiplier=1.0, **kwargs):
    """The base of MobileNet v2 with group normalisation (`groups`, default 8) instead of batch norm."""
    conv_defs = copy.deepcopy(V2_DEF_GROUP_NORM)
    conv_defs["defaults"][(group_norm,)] = {"groups": kwargs.pop("groups", 8)}
    kwargs["conv_defs"] = conv_defs
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


def training_scope(**kwargs):
    """MobileNet v2's training arg_scope: `mobilenet.training_scope(**kwargs)` (weight_decay, stddev,
    dropout_keep_prob, bn_decay, is_training)."""
    return lib.training_scope(**kwargs)
