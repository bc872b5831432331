"""research/slim's MobileNet builder (nets/mobilenet/mobilenet.py): a network is a `conv_defs` dict
({'defaults': arg_scope defaults, 'overrides': ..., 'spec': [op(...), ...]}) that `mobilenet_base` turns
into layers 'layer_1', 'layer_2', ... (with `multiplier` thinning, atrous `output_stride` and explicit
padding), and `mobilenet` tops with a global pool, dropout and the 'Logits/Conv2d_1c_1x1' classifier.

    with slim.arg_scope(mobilenet.training_scope(is_training=False)):
        logits, end_points = mobilenet_v2.mobilenet(images)
"""

from __future__ import annotations

import collections
import contextlib
import copy

from ... import layers
from ...arg_scope import add_arg_scope, arg_scope
from ...errors import InvalidArgumentError, ShapeError
from ...ir.graph import name_scope, variable_scope
from ...initializers import truncated_normal_initializer, xavier_initializer, zeros_initializer
from ...ops import array_ops, math_ops, nn_ops
from ...regularizers import l2_regularizer
from ...shape import fmt

__all__ = ["depth_multiplier", "global_pool", "mobilenet", "mobilenet_base", "op", "safe_arg_scope",
           "training_scope"]


@add_arg_scope
def apply_activation(x, name=None, activation_fn=None):
    return activation_fn(x, name=name) if activation_fn else x


def _fixed_padding(inputs, kernel_size, rate: int = 1):
    from .conv_blocks import _fixed_padding as pad

    return pad(inputs, kernel_size, rate)


def _make_divisible(v, divisor, min_value=None) -> int:
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # rounding down may not lose more than 10%
        new_v += divisor
    return int(new_v)


@contextlib.contextmanager
def _set_arg_scope_defaults(defaults):
    """Enter one arg_scope per (functions, kwargs) item of `defaults` (a dict or a list of pairs)."""
    items = list(defaults.items()) if hasattr(defaults, "items") else list(defaults)
    with contextlib.ExitStack() as stack:
        for funcs, kwargs in items:
            funcs = funcs if isinstance(funcs, (list, tuple)) else (funcs,)
            stack.enter_context(arg_scope(list(funcs), **kwargs))
        yield


@add_arg_scope
def depth_multiplier(output_params, multiplier, divisible_by=8, min_depth=8, **unused_kwargs):
    """Scale `output_params['num_outputs']` by `multiplier`, made divisible by `divisible_by` (at least
    `min_depth`); the default `multiplier_func` of an op."""
    if "num_outputs" not in output_params:
        return
    d = output_params["num_outputs"]
    output_params["num_outputs"] = _make_divisible(d * multiplier, divisible_by, min_depth)


_Op = collections.namedtuple("Op", ["op", "params", "multiplier_func"])


def op(opfunc, multiplier_func=depth_multiplier, **params):
    """One layer of a conv_defs 'spec': the layer function and its parameters."""
    multiplier = params.pop("multiplier_transform", multiplier_func)
    return _Op(opfunc, params=params, multiplier_func=multiplier)


class NoOpScope:
    """A context manager that does nothing."""

    def __enter__(self):
        return None

    def __exit__(self, exc_type, exc_value, traceback):
        return False


def safe_arg_scope(funcs, **kwargs):
    """arg_scope(funcs, **kwargs) without the None-valued arguments (none left: a no-op scope)."""
    filtered = {k: v for k, v in kwargs.items() if v is not None}
    return arg_scope(funcs, **filtered) if filtered else NoOpScope()


@contextlib.contextmanager
def _scope_all(scope, default_scope=None):
    with variable_scope(scope, default_name=default_scope) as s, name_scope(s.original_name_scope):
        yield s


@add_arg_scope
def mobilenet_base(inputs, conv_defs, multiplier=1.0, final_endpoint=None, output_stride=None,
                   use_explicit_padding=False, scope=None, is_training=False):
    """The layers of `conv_defs['spec']` from `inputs` to `final_endpoint` ('layer_<i>', 1-based).

    Args:
      inputs: [batch, height, width, channels].
      conv_defs: {'defaults': {functions: kwargs}, 'overrides': {...}, 'spec': [op(...), ...]}.
      multiplier: depth multiplier (> 0) handed to each op's multiplier_func.
      final_endpoint: the last layer built (None: all).
      output_stride: None, 1 or an even number: once the running stride reaches it, later layers use
        stride 1 and atrous (dilated) kernels.
      use_explicit_padding: pad explicitly and convolve VALID instead of SAME.
      scope: variable scope (default 'Mobilenet').
      is_training: batch norm's is_training inside (None leaves it to the arg_scope).

    Returns:
      (net, end_points): end points 'layer_<i>' and, for each layer, its tensors whose names end in
      'output' ('layer_<i>/output', 'layer_<i>/depthwise_output', 'layer_<i>/expansion_output').
    """
    if multiplier <= 0:
        raise InvalidArgumentError(f"mobilenet: multiplier is not greater than zero ({multiplier})")
    defaults = conv_defs.get("defaults", {})
    overrides = conv_defs.get("overrides", {})
    if use_explicit_padding:
        overrides = copy.deepcopy(overrides)
        overrides[(layers.conv2d, layers.separable_conv2d)] = {"padding": "VALID"}
    if output_stride is not None and (output_stride == 0 or (output_stride > 1 and output_stride % 2)):
        raise InvalidArgumentError(f"mobilenet: Output stride must be None, 1 or a multiple of 2, got {output_stride}")
    with _scope_all(scope, default_scope="Mobilenet"), safe_arg_scope([layers.batch_norm], is_training=is_training), \
            _set_arg_scope_defaults(defaults), _set_arg_scope_defaults(overrides):
        current_stride = 1
        rate = 1
        net = inputs
        end_points = {}
        scopes = {}
        for i, opdef in enumerate(conv_defs["spec"]):
            params = dict(opdef.params)
            opdef.multiplier_func(params, multiplier)
            stride = params.get("stride", 1)
            if output_stride is not None and current_stride == output_stride:
                layer_stride, layer_rate = 1, rate
                rate *= stride
            else:
                layer_stride, layer_rate = stride, 1
                current_stride *= stride
            params["stride"] = layer_stride
            if layer_rate > 1 and tuple(params.get("kernel_size", [])) != (1, 1):
                params["rate"] = layer_rate  # no dilation for 1x1 kernels
            if use_explicit_padding:
                if "kernel_size" in params:
                    net = _fixed_padding(net, params["kernel_size"], layer_rate)
                else:
                    params["use_explicit_padding"] = True
            end_point = f"layer_{i + 1}"
            net = opdef.op(net, **params)
            end_points[end_point] = net
            scopes[net.op.name.rpartition("/")[0]] = end_point
            if final_endpoint is not None and end_point == final_endpoint:
                break
        for node in net.graph.nodes:
            where, _, base = node.name.rpartition("/")
            if where in scopes and node.name.endswith("output") and node.outputs:
                end_points[scopes[where] + "/" + base] = node.outputs[0]
        return net, end_points


@add_arg_scope
def mobilenet(inputs, num_classes=1001, prediction_fn=layers.softmax, reuse=None, scope="Mobilenet",
              base_only=False, use_reduce_mean_for_pooling=False, **mobilenet_args):
    """A MobileNet classifier: `mobilenet_base(inputs, **mobilenet_args)`, then under 'Logits' a global
    average pool ('global_pool'), dropout ('Dropout') and the 1x1 convolution 'Conv2d_1c_1x1' squeezed to
    [batch, num_classes] ('Logits/output'); end_points['Predictions'] = prediction_fn(logits).

    `num_classes` 0 or None returns the pooled features; `base_only` the base's output. Inference mode by
    default: build under `training_scope()` (or pass is_training=True) to train.
    """
    is_training = mobilenet_args.get("is_training", False)
    if len(inputs.shape) != 4:
        raise ShapeError(f"mobilenet: Expected rank 4 input, was: {len(inputs.shape)} ({fmt(inputs.shape)})")
    with variable_scope(scope, "Mobilenet", reuse=reuse) as sc:
        inputs = array_ops.identity(inputs, "input")
        net, end_points = mobilenet_base(inputs, scope=sc, **mobilenet_args)
        if base_only:
            return net, end_points
        net = array_ops.identity(net, name="embedding")
        with variable_scope("Logits"):
            net = global_pool(net, use_reduce_mean_for_pooling)
            end_points["global_pool"] = net
            if not num_classes:
                return net, end_points
            net = layers.dropout(net, scope="Dropout", is_training=is_training)
            logits = layers.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                                   biases_initializer=zeros_initializer(), scope="Conv2d_1c_1x1")
            logits = array_ops.squeeze(logits, [1, 2])
            logits = array_ops.identity(logits, name="output")
        end_points["Logits"] = logits
        if prediction_fn:
            end_points["Predictions"] = prediction_fn(logits, "Predictions")
    return logits, end_points


def global_pool(input_tensor, use_reduce_mean_for_pooling=False, pool_op=nn_ops.avg_pool):
    """Average over the whole spatial extent to [batch, 1, 1, depth]: a VALID average pool with the map's
    size as the window, or a mean ('ReduceMean') when asked or when the size is unknown until run time."""
    h, w = list(input_tensor.shape)[1:3]
    if use_reduce_mean_for_pooling or h is None or w is None:
        return math_ops.reduce_mean(input_tensor, [1, 2], keepdims=True, name="ReduceMean")
    return pool_op(input_tensor, ksize=[1, h, w, 1], strides=[1, 1, 1, 1], padding="VALID")


def training_scope(is_training=True, weight_decay=0.00004, stddev=0.09, dropout_keep_prob=0.8, bn_decay=0.997):
    """The arg_scope MobileNet v2/v3 train with: truncated-normal weights (`stddev`; negative: Xavier) and
    batch norm on conv2d / fully_connected / separable_conv2d, L2 `weight_decay` on conv2d only, batch norm
    decay `bn_decay`, dropout keep probability `dropout_keep_prob`, and `is_training` for batch norm, dropout
    and the builders (None leaves it unset; a None decay or keep probability is not set either)."""
    init = xavier_initializer() if stddev < 0 else truncated_normal_initializer(stddev=stddev)
    with arg_scope([layers.conv2d, layers.fully_connected, layers.separable_conv2d], weights_initializer=init,
                   normalizer_fn=layers.batch_norm), \
            arg_scope([mobilenet_base, mobilenet], is_training=is_training), \
            safe_arg_scope([layers.batch_norm], decay=bn_decay, is_training=is_training), \
            safe_arg_scope([layers.dropout], is_training=is_training, keep_prob=dropout_keep_prob), \
            arg_scope([layers.conv2d], weights_regularizer=l2_regularizer(weight_decay)), \
            arg_scope([layers.separable_conv2d], weights_regularizer=None) as s:
        return s
