"""The blocks MobileNet v2 and v3 are made of (research/slim nets/mobilenet/conv_blocks.py): the inverted
residual `expanded_conv` (1x1 expansion -> depthwise -> 1x1 linear projection, residual when shapes allow),
its split convolutions, MobileNet v1's separable pair and v3's squeeze-and-excite gate, with research/slim's
scope names ('expand', 'depthwise', 'project', 'squeeze_excite/Conv', ...) and 'output' tensors."""

from __future__ import annotations

import contextlib
import functools

from ... import layers
from ...arg_scope import add_arg_scope, arg_scope
from ...errors import InvalidArgumentError
from ...ir.graph import name_scope, variable_scope
from ...ops import array_ops, image, math_ops, nn_ops

__all__ = ["expand_input_by_factor", "expanded_conv", "split_conv", "split_separable_conv2d", "squeeze_excite"]


def _fixed_padding(inputs, kernel_size, rate: int = 1):
    """Zero-pad so that a VALID convolution gives the SAME output size, whatever the input size (as
    research/slim, the first kernel dimension serves both axes)."""
    k = kernel_size[0] + (kernel_size[0] - 1) * (rate - 1)
    before = (k - 1) // 2
    after = k - 1 - before
    return array_ops.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]])


def _make_divisible(v, divisor, min_value=None):
    """`v` rounded to the nearest multiple of `divisor` (at least `min_value`), never more than 10% below."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _split_divisible(num: int, num_ways: int, divisible_by: int = 8) -> list:
    """`num` split in `num_ways` near-equal parts, each a multiple of `divisible_by`."""
    if num % divisible_by or num / num_ways < divisible_by:
        raise InvalidArgumentError(f"cannot split {num} channels {num_ways} ways in multiples of {divisible_by}")
    base = num // num_ways // divisible_by * divisible_by
    parts, total = [], 0
    for i in range(num_ways):
        r = base
        while total + r < num * (i + 1) / num_ways:
            r += divisible_by
        parts.append(r)
        total += r
    return parts


@contextlib.contextmanager
def _block_scope(scope, default_name: str):
    """A variable scope whose ops also live under its own original name scope (research/slim's pattern)."""
    with variable_scope(scope, default_name=default_name) as s, name_scope(s.original_name_scope):
        yield s


@contextlib.contextmanager
def _v1_compatible_scope_naming(scope):
    if scope is None:  # a uniquified 'separable' block holding 'depthwise' and 'pointwise'
        with _block_scope(None, "separable"):
            yield ""
    else:  # 'scope_depthwise' / 'scope_pointwise', the names of MobileNet v1's checkpoints
        yield scope + "_"


@add_arg_scope
def split_separable_conv2d(input_tensor, num_outputs, scope=None, normalizer_fn=None, stride=1, rate=1,
                           endpoints=None, use_explicit_padding=False):
    """MobileNet v1's separable layer: a 3x3 depthwise convolution with normalizer and activation, then a
    1x1 pointwise convolution."""
    with _v1_compatible_scope_naming(scope) as prefix:
        endpoints = endpoints if endpoints is not None else {}
        kernel_size = [3, 3]
        padding = "SAME"
        if use_explicit_padding:
            padding = "VALID"
            input_tensor = _fixed_padding(input_tensor, kernel_size, rate)
        dw_scope = prefix + "depthwise"
        net = layers.separable_conv2d(input_tensor, None, kernel_size, depth_multiplier=1, stride=stride, rate=rate,
                                      normalizer_fn=normalizer_fn, padding=padding, scope=dw_scope)
        endpoints[dw_scope] = net
        pw_scope = prefix + "pointwise"
        net = layers.conv2d(net, num_outputs, [1, 1], stride=1, normalizer_fn=normalizer_fn, scope=pw_scope)
        endpoints[pw_scope] = net
    return net


def expand_input_by_factor(n, divisible_by: int = 8):
    """An `expansion_size` callable: the input depth times `n`, made divisible by `divisible_by`."""
    return lambda num_inputs, **_: _make_divisible(num_inputs * n, divisible_by)


def split_conv(input_tensor, num_outputs, num_ways, scope, divisible_by=8, **kwargs):
    """A 1x1 convolution split `num_ways` ways: the i-th part of the input feeds only the i-th part of the
    output ('<scope>_part_<i>'); a plain conv2d named `scope` when a part would hold fewer than
    `divisible_by` channels."""
    b = input_tensor.shape[3]
    if num_ways == 1 or min(b // num_ways, num_outputs // num_ways) < divisible_by:
        return layers.conv2d(input_tensor, num_outputs, [1, 1], scope=scope, **kwargs)
    outs = []
    in_splits = _split_divisible(b, num_ways, divisible_by=divisible_by)
    out_splits = _split_divisible(num_outputs, num_ways, divisible_by=divisible_by)
    inputs = array_ops.split(input_tensor, in_splits, axis=3, name="split_" + scope)
    part = scope
    for i, (x, size) in enumerate(zip(inputs, out_splits)):
        part = f"{scope}_part_{i}"
        n = layers.conv2d(x, size, [1, 1], scope=part, **kwargs)
        outs.append(array_ops.identity(n, part + "_output"))
    return array_ops.concat(outs, 3, name=part + "_concat")


_EXPAND_BY_6 = expand_input_by_factor(6)


@add_arg_scope
def expanded_conv(input_tensor, num_outputs, expansion_size=_EXPAND_BY_6, stride=1, rate=1,
                  kernel_size=(3, 3), residual=True, normalizer_fn=None, split_projection=1, split_expansion=1,
                  split_divisible_by=8, expansion_transform=None, depthwise_location="expansion",
                  depthwise_channel_multiplier=1, endpoints=None, use_explicit_padding=False, padding="SAME",
                  inner_activation_fn=None, depthwise_activation_fn=None, project_activation_fn=array_ops.identity,
                  depthwise_fn=layers.separable_conv2d, expansion_fn=split_conv, projection_fn=split_conv,
                  scope=None):
    """The inverted-residual block (MobileNet v2): 1x1 expansion ('expand', only when it widens),
    `kernel_size` depthwise convolution ('depthwise'; placed at the 'input', the 'expansion', the 'output'
    or nowhere by `depthwise_location`), optional `expansion_transform` (v3's squeeze-excite), linear 1x1
    projection ('project'); the input is added back when `residual` and stride 1 keep the shape.

    `expansion_size` is a depth or a callable of `num_inputs`. `inner_activation_fn` sets the activation of
    the inner convolutions, `depthwise_activation_fn` that of the depthwise one (None: the arg_scope's).
    Tensors 'input', 'expansion_output', 'depthwise_output' and 'output' are named in the block's scope.
    """
    conv_defaults, dw_defaults = {}, {}
    if inner_activation_fn is not None:
        conv_defaults["activation_fn"] = inner_activation_fn
        dw_defaults["activation_fn"] = inner_activation_fn
    if depthwise_activation_fn is not None:
        dw_defaults["activation_fn"] = depthwise_activation_fn
    with _block_scope(scope, "expanded_conv"), arg_scope((layers.conv2d,), **conv_defaults), \
            arg_scope((layers.separable_conv2d,), **dw_defaults):
        prev_depth = input_tensor.shape[3]
        if depthwise_location not in (None, "input", "output", "expansion"):
            raise InvalidArgumentError(f"{depthwise_location!r} is unknown value for depthwise_location")
        if use_explicit_padding:
            if padding != "SAME":
                raise InvalidArgumentError('`use_explicit_padding` should only be used with "SAME" padding.')
            padding = "VALID"
        depthwise_func = functools.partial(depthwise_fn, num_outputs=None, kernel_size=kernel_size,
                                           depth_multiplier=depthwise_channel_multiplier, stride=stride, rate=rate,
                                           normalizer_fn=normalizer_fn, padding=padding, scope="depthwise")
        input_tensor = array_ops.identity(input_tensor, "input")
        net = input_tensor

        def depthwise(net, **kw):
            if use_explicit_padding:
                net = _fixed_padding(net, kernel_size, rate)
            net = array_ops.identity(depthwise_func(net, **kw), name="depthwise_output")
            if endpoints is not None:
                endpoints["depthwise_output"] = net
            return net

        if depthwise_location == "input":
            net = depthwise(net, activation_fn=None)
        inner_size = expansion_size(num_inputs=prev_depth) if callable(expansion_size) else expansion_size
        if inner_size > net.shape[3]:
            fn = expansion_fn
            if fn is split_conv:
                fn = functools.partial(split_conv, num_ways=split_expansion, divisible_by=split_divisible_by,
                                       stride=1)
            net = fn(net, inner_size, scope="expand", normalizer_fn=normalizer_fn)
            net = array_ops.identity(net, "expansion_output")
            if endpoints is not None:
                endpoints["expansion_output"] = net
        if depthwise_location == "expansion":
            net = depthwise(net)
        if expansion_transform:
            net = expansion_transform(expansion_tensor=net, input_tensor=input_tensor)
        fn = projection_fn
        if fn is split_conv:
            fn = functools.partial(split_conv, num_ways=split_projection, divisible_by=split_divisible_by, stride=1)
        net = fn(net, num_outputs, scope="project", normalizer_fn=normalizer_fn,
                 activation_fn=project_activation_fn)
        if endpoints is not None:
            endpoints["projection_output"] = net
        if depthwise_location == "output":
            net = depthwise(net, activation_fn=None)
        if callable(residual):  # a custom residual
            net = residual(input_tensor=input_tensor, output_tensor=net)
        elif residual and stride == 1 and net.shape[3] == input_tensor.shape[3]:
            net = net + input_tensor
        return array_ops.identity(net, name="output")


@add_arg_scope
def squeeze_excite(input_tensor, divisible_by=8, squeeze_factor=3, inner_activation_fn=math_ops.relu,
                   gating_fn=math_ops.sigmoid, squeeze_input_tensor=None, pool=None):
    """Squeeze-and-excite (Hu et al., arXiv:1709.01507) as MobileNet v3 uses it: the input, averaged over
    space (or pooled with a `pool` window), through a 1x1 conv of input/`squeeze_factor` channels
    ('squeeze_excite/Conv', `inner_activation_fn`) and a 1x1 conv back ('squeeze_excite/Conv_1',
    `gating_fn`), gates `input_tensor` channel-wise."""
    with variable_scope("squeeze_excite"):
        if squeeze_input_tensor is None:
            squeeze_input_tensor = input_tensor
        input_size = list(input_tensor.shape)[1:3]
        pool_height, pool_width = list(squeeze_input_tensor.shape)[1:3]
        stride = 1
        if pool is not None and pool_height is not None and pool_height >= pool:
            pool_height, pool_width, stride = pool, pool, pool
        input_channels = squeeze_input_tensor.shape[3]
        output_channels = input_tensor.shape[3]
        squeeze_channels = _make_divisible(input_channels / squeeze_factor, divisor=divisible_by)
        if pool is None:
            pooled = math_ops.reduce_mean(squeeze_input_tensor, [1, 2], keepdims=True)
        else:
            pooled = nn_ops.avg_pool(squeeze_input_tensor, (pool_height, pool_width), (stride, stride), "VALID")
        squeeze = layers.conv2d(pooled, kernel_size=(1, 1), num_outputs=squeeze_channels, normalizer_fn=None,
                                activation_fn=inner_activation_fn)
        excite = layers.conv2d(squeeze, num_outputs=output_channels, kernel_size=[1, 1], normalizer_fn=None,
                               activation_fn=gating_fn)
        if pool is not None:  # TF1's tf.image.resize_images: bilinear, corners aligned (the gate's size back)
            dyn = array_ops.shape(input_tensor)
            size = [d if d is not None else dyn[i + 1] for i, d in enumerate(input_size)]
            excite = image.resize_images(excite, size, align_corners=True)
        return input_tensor * excite
