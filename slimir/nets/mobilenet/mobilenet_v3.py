"""MobileNet v3 (Howard et al., "Searching for MobileNetV3", arXiv:1905.02244) and MobileNet EdgeTPU as
research/slim defines them (nets/mobilenet/mobilenet_v3.py): the conv defs V3_LARGE, V3_SMALL, their
'minimalistic' forms (no squeeze-excite, no hard-swish, 3x3 kernels only) and V3_EDGETPU (fused expansion
convolutions early on), built by `mobilenet.mobilenet` under scope 'MobilenetV3' ('MobilenetEdgeTPU').

    with slim.arg_scope(mobilenet_v3.training_scope(is_training=False)):
        logits, end_points = mobilenet_v3.large(images)   # 1001 classes, 224x224
"""

from __future__ import annotations

import copy
import functools

import numpy as np

from ... import layers
from ...arg_scope import add_arg_scope, arg_scope
from ...errors import InvalidArgumentError
from ...ir.graph import name_scope
from ...layers import group_norm
from ...ops import math_ops
from . import conv_blocks as ops
from . import mobilenet as lib

__all__ = ["V3_EDGETPU", "V3_LARGE", "V3_LARGE_DETECTION", "V3_LARGE_MINIMALISTIC", "V3_SMALL",
           "V3_SMALL_DETECTION", "V3_SMALL_MINIMALISTIC", "edge_tpu", "edge_tpu_075", "hard_swish", "large",
           "large_minimalistic", "mobilenet", "mobilenet_base", "small", "small_minimalistic", "training_scope"]

op = lib.op
expand_input = ops.expand_input_by_factor


def _hard_sigmoid_gate(x):
    """The squeeze-excite gate: relu6(x + 3) * 0.16667 (research/slim's constant)."""
    return math_ops.relu6(x + 3.0) * 0.16667


# Squeeze-excite with research/slim's settings: a quarter of the channels, relu inside, hard-sigmoid gate.
squeeze_excite = functools.partial(ops.squeeze_excite, squeeze_factor=4, inner_activation_fn=math_ops.relu,
                                   gating_fn=_hard_sigmoid_gate)


def _se4(expansion_tensor, input_tensor):
    """squeeze_excite as an expanded_conv expansion_transform."""
    return squeeze_excite(expansion_tensor)


def hard_swish(x):
    """x * relu6(x + 3) / 6 (under name scope 'hard_swish')."""
    with name_scope("hard_swish"):
        return x * math_ops.relu6(x + np.float32(3)) * np.float32(1.0 / 6.0)


def reduce_to_1x1(input_tensor, default_size=7, **kwargs):
    """An average pool over the whole (square) map, or a `default_size` window when its size is unknown."""
    h, w = list(input_tensor.shape)[1:3]
    k = [h, h] if h is not None and w == h else [default_size, default_size]
    return layers.avg_pool2d(input_tensor, kernel_size=k, **kwargs)


def mbv3_op(ef, n, k, s=1, act=math_ops.relu, se=None, **kwargs):
    """One MobileNet v3 block: an expanded_conv with expansion factor `ef`, `n` outputs, a `k`x`k` depthwise
    kernel, stride `s`, inner activation `act` and expansion transform `se`."""
    return op(ops.expanded_conv, expansion_size=expand_input(ef), kernel_size=(k, k), stride=s, num_outputs=n,
              inner_activation_fn=act, expansion_transform=se, **kwargs)


def mbv3_fused(ef, n, k, s=1, **kwargs):
    """A block whose `k`x`k` stride-`s` expansion convolution replaces the depthwise one (EdgeTPU)."""
    expansion_fn = functools.partial(layers.conv2d, kernel_size=k, stride=s)
    return mbv3_op(ef, n, k=1, s=s, depthwise_location=None, expansion_fn=expansion_fn, **kwargs)


mbv3_op_se = functools.partial(mbv3_op, se=_se4)

DEFAULTS = {
    (ops.expanded_conv,): {"normalizer_fn": layers.batch_norm, "residual": True},
    (layers.conv2d, layers.fully_connected, layers.separable_conv2d): {
        "normalizer_fn": layers.batch_norm, "activation_fn": math_ops.relu},
    (layers.batch_norm,): {"center": True, "scale": True},
}

DEFAULTS_GROUP_NORM = {
    (ops.expanded_conv,): {"normalizer_fn": group_norm, "residual": True},
    (layers.conv2d, layers.fully_connected, layers.separable_conv2d): {
        "normalizer_fn": group_norm, "activation_fn": math_ops.relu},
    (group_norm,): {"groups": 8},
}


def _head(first_width, last_width, act=None):
    """The last 1x1 conv, the pool to 1x1 and the un-normalised 1x1 conv of the v3 specs."""
    kw = {} if act is None else {"activation_fn": act}
    return [op(layers.conv2d, stride=1, kernel_size=[1, 1], num_outputs=first_width, **kw),
            op(reduce_to_1x1, default_size=7, stride=1, padding="VALID"),
            op(layers.conv2d, stride=1, kernel_size=[1, 1], num_outputs=last_width, normalizer_fn=None, **kw)]


V3_LARGE = {"defaults": dict(DEFAULTS), "spec": (
    [op(layers.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3), activation_fn=hard_swish),
     mbv3_op(ef=1, n=16, k=3),
     mbv3_op(ef=4, n=24, k=3, s=2),
     mbv3_op(ef=3, n=24, k=3, s=1),
     mbv3_op_se(ef=3, n=40, k=5, s=2),
     mbv3_op_se(ef=3, n=40, k=5, s=1),
     mbv3_op_se(ef=3, n=40, k=5, s=1),
     mbv3_op(ef=6, n=80, k=3, s=2, act=hard_swish),
     mbv3_op(ef=2.5, n=80, k=3, s=1, act=hard_swish),
     mbv3_op(ef=184 / 80.0, n=80, k=3, s=1, act=hard_swish),
     mbv3_op(ef=184 / 80.0, n=80, k=3, s=1, act=hard_swish),
     mbv3_op_se(ef=6, n=112, k=3, s=1, act=hard_swish),
     mbv3_op_se(ef=6, n=112, k=3, s=1, act=hard_swish),
     mbv3_op_se(ef=6, n=160, k=5, s=2, act=hard_swish),
     mbv3_op_se(ef=6, n=160, k=5, s=1, act=hard_swish),
     mbv3_op_se(ef=6, n=160, k=5, s=1, act=hard_swish)]
    + _head(960, 1280, hard_swish))}

V3_LARGE_MINIMALISTIC = {"defaults": dict(DEFAULTS), "spec": (
    [op(layers.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3))]
    + [mbv3_op(ef=ef, n=n, k=3, s=s) for ef, n, s in (
        (1, 16, 1), (4, 24, 2), (3, 24, 1), (3, 40, 2), (3, 40, 1), (3, 40, 1), (6, 80, 2), (2.5, 80, 1),
        (184 / 80.0, 80, 1), (184 / 80.0, 80, 1), (6, 112, 1), (6, 112, 1), (6, 160, 2), (6, 160, 1),
        (6, 160, 1))]
    + _head(960, 1280))}

V3_SMALL = {"defaults": dict(DEFAULTS), "spec": (
    [op(layers.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3), activation_fn=hard_swish),
     mbv3_op_se(ef=1, n=16, k=3, s=2),
     mbv3_op(ef=72.0 / 16, n=24, k=3, s=2),
     mbv3_op(ef=(88.0 / 24), n=24, k=3, s=1),
     mbv3_op_se(ef=4, n=40, k=5, s=2, act=hard_swish),
     mbv3_op_se(ef=6, n=40, k=5, s=1, act=hard_swish),
     mbv3_op_se(ef=6, n=40, k=5, s=1, act=hard_swish),
     mbv3_op_se(ef=3, n=48, k=5, s=1, act=hard_swish),
     mbv3_op_se(ef=3, n=48, k=5, s=1, act=hard_swish),
     mbv3_op_se(ef=6, n=96, k=5, s=2, act=hard_swish),
     mbv3_op_se(ef=6, n=96, k=5, s=1, act=hard_swish),
     mbv3_op_se(ef=6, n=96, k=5, s=1, act=hard_swish)]
    + _head(576, 1024, hard_swish))}

V3_SMALL_MINIMALISTIC = {"defaults": dict(DEFAULTS), "spec": (
    [op(layers.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3))]
    + [mbv3_op(ef=ef, n=n, k=3, s=s) for ef, n, s in (
        (1, 16, 2), (72.0 / 16, 24, 2), (88.0 / 24, 24, 1), (4, 40, 2), (6, 40, 1), (6, 40, 1), (3, 48, 1),
        (3, 48, 1), (6, 96, 2), (6, 96, 1), (6, 96, 1))]
    + _head(576, 1024))}

# EdgeTPU-friendly MobileNet: fused (full) expansion convolutions instead of depthwise in the early layers.
V3_EDGETPU = {"defaults": dict(DEFAULTS), "spec": (
    [op(layers.conv2d, stride=2, num_outputs=32, kernel_size=(3, 3))]
    + [mbv3_fused(k=3, s=s, ef=ef, n=n) for s, ef, n in (
        (1, 1, 16), (2, 8, 32), (1, 4, 32), (1, 4, 32), (1, 4, 32), (2, 8, 48), (1, 4, 48), (1, 4, 48),
        (1, 4, 48))]
    + [mbv3_op(k=3, s=2, ef=8, n=96), mbv3_op(k=3, s=1, ef=4, n=96), mbv3_op(k=3, s=1, ef=4, n=96),
       mbv3_op(k=3, s=1, ef=4, n=96), mbv3_op(k=3, s=1, ef=8, n=96, residual=False),
       mbv3_op(k=3, s=1, ef=4, n=96), mbv3_op(k=3, s=1, ef=4, n=96), mbv3_op(k=3, s=1, ef=4, n=96),
       mbv3_op(k=5, s=2, ef=8, n=160), mbv3_op(k=5, s=1, ef=4, n=160), mbv3_op(k=5, s=1, ef=4, n=160),
       mbv3_op(k=5, s=1, ef=4, n=160), mbv3_op(k=3, s=1, ef=8, n=192),
       op(layers.conv2d, stride=1, num_outputs=1280, kernel_size=(1, 1))])}


@add_arg_scope
def mobilenet(input_tensor, num_classes=1001, depth_multiplier=1.0, scope="MobilenetV3", conv_defs=None,
              finegrain_classification_mode=False, use_groupnorm=False, **kwargs):
    """MobileNet v3. Inference mode is created by default; build under `training_scope()` (or pass
    is_training=True) to train.

    Args:
      input_tensor: [batch, height, width, channels].
      num_classes: classes of the logits (0 or None: the pooled features).
      depth_multiplier: channel multiplier of every layer.
      scope: variable scope.
      conv_defs: the architecture (default V3_LARGE).
      finegrain_classification_mode: keep the last layer's width whatever the multiplier.
      use_groupnorm: group normalisation (`groups`, default 8) instead of batch norm.
      **kwargs: to `mobilenet.mobilenet` (prediction_fn, reuse, base_only, final_endpoint, output_stride,
        use_explicit_padding, use_reduce_mean_for_pooling, is_training, ...).

    Returns:
      (logits, end_points).
    """
    if conv_defs is None:
        conv_defs = V3_LARGE
    if "multiplier" in kwargs:
        raise InvalidArgumentError("mobilenetv2 doesn't support generic multiplier parameter use "
                                   '"depth_multiplier" instead.')
    if finegrain_classification_mode:
        conv_defs = copy.deepcopy(conv_defs)
        conv_defs["spec"][-1] = conv_defs["spec"][-1]._replace(multiplier_func=lambda params, multiplier: params)
    if use_groupnorm:
        conv_defs = copy.deepcopy(conv_defs)
        conv_defs["defaults"] = dict(DEFAULTS_GROUP_NORM)
        conv_defs["defaults"][(group_norm,)] = {"groups": kwargs.pop("groups", 8)}
    with arg_scope((lib.depth_multiplier,)):
        return lib.mobilenet(input_tensor, num_classes=num_classes, conv_defs=conv_defs, scope=scope,
                             multiplier=depth_multiplier, **kwargs)


mobilenet.default_image_size = 224
training_scope = lib.training_scope


@add_arg_scope
def mobilenet_base(input_tensor, depth_multiplier=1.0, **kwargs):
    """The base of MobileNet v3 (no pooling, no logits)."""
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


def wrapped_partial(func, new_defaults=None, **kwargs):
    """`func` with new defaults (`new_defaults` may still be overridden) and fixed `kwargs`, keeping its
    name, docstring and attributes."""
    new_defaults = dict(new_defaults or {})

    def func_wrapper(*f_args, **f_kwargs):
        merged = dict(new_defaults)
        merged.update(f_kwargs)
        return func(*f_args, **merged)

    functools.update_wrapper(func_wrapper, func)
    partial_func = functools.partial(func_wrapper, **kwargs)
    functools.update_wrapper(partial_func, func)
    return partial_func


large = wrapped_partial(mobilenet, conv_defs=V3_LARGE)
small = wrapped_partial(mobilenet, conv_defs=V3_SMALL)
edge_tpu = wrapped_partial(mobilenet, new_defaults={"scope": "MobilenetEdgeTPU"}, conv_defs=V3_EDGETPU)
edge_tpu_075 = wrapped_partial(mobilenet, new_defaults={"scope": "MobilenetEdgeTPU"}, conv_defs=V3_EDGETPU,
                               depth_multiplier=0.75, finegrain_classification_mode=True)
large_minimalistic = wrapped_partial(mobilenet, conv_defs=V3_LARGE_MINIMALISTIC)
small_minimalistic = wrapped_partial(mobilenet, conv_defs=V3_SMALL_MINIMALISTIC)


def _reduce_consecutive_layers(conv_defs, start_id, end_id, multiplier=0.5):
    """`conv_defs` with the outputs of layers start_id..end_id (0-based, inclusive) scaled by `multiplier`."""
    defs = copy.deepcopy(conv_defs)
    for d in defs["spec"][start_id:end_id + 1]:
        if "num_outputs" not in d.params:
            raise InvalidArgumentError(f"layer {d.op.__name__} to be reduced has no num_outputs")
        d.params["num_outputs"] = int(np.round(d.params["num_outputs"] * multiplier))
    return defs


V3_LARGE_DETECTION = _reduce_consecutive_layers(V3_LARGE, 13, 16)
V3_SMALL_DETECTION = _reduce_consecutive_layers(V3_SMALL, 9, 12)
