"""ResNet v1 (He et al., arXiv:1512.03385) in TF-Slim's form: bottleneck units with batch norm after
every convolution, projection shortcuts only where the depth changes, downsampling in the last unit
of a block. Scopes, variable names and end points equal TF-Slim's research/slim `resnet_v1`.

    with slim.arg_scope(resnet_v1.resnet_arg_scope()):
        logits, end_points = resnet_v1.resnet_v1_50(images, 1000, is_training=False)

Dense prediction: `global_pool=False, output_stride=16` with inputs of size 32k + 1.
"""

from __future__ import annotations

import contextlib

from .. import layers, utils
from ..arg_scope import add_arg_scope, arg_scope
from ..errors import InvalidArgumentError
from ..ir.graph import Tensor, variable_scope
from ..ops import array_ops, math_ops
from . import resnet_utils

__all__ = [
    "bottleneck",
    "resnet_arg_scope",
    "resnet_v1",
    "resnet_v1_50",
    "resnet_v1_101",
    "resnet_v1_152",
    "resnet_v1_200",
    "resnet_v1_block",
]

resnet_arg_scope = resnet_utils.resnet_arg_scope


@add_arg_scope
def bottleneck(
    inputs: Tensor,
    depth: int,
    depth_bottleneck: int,
    stride: int,
    rate: int = 1,
    outputs_collections=None,
    scope: str | None = None,
    use_bounded_activations: bool = False,
) -> Tensor:
    """The v1 bottleneck unit: relu(shortcut + conv3(conv2(conv1(x)))), batch norm after each convolution.

    conv1 is 1x1 to `depth_bottleneck`, conv2 3x3 with `stride` (and atrous `rate`), conv3 1x1 to `depth`
    without activation. The shortcut is the (subsampled) input when its depth is already `depth`, else a
    strided 1x1 projection. `use_bounded_activations` clips to [-6, 6] and uses relu6 (for quantisation).
    """
    with variable_scope(scope, "bottleneck_v1", [inputs]) as sc:
        depth_in = resnet_utils.input_depth(inputs, sc.name, "bottleneck_v1")
        if depth == depth_in:
            shortcut = resnet_utils.subsample(inputs, stride, "shortcut")
        else:
            shortcut = layers.conv2d(
                inputs,
                depth,
                [1, 1],
                stride=stride,
                activation_fn=math_ops.relu6 if use_bounded_activations else None,
                scope="shortcut",
            )
        residual = layers.conv2d(inputs, depth_bottleneck, [1, 1], stride=1, scope="conv1")
        residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride, rate=rate, scope="conv2")
        residual = layers.conv2d(residual, depth, [1, 1], stride=1, activation_fn=None, scope="conv3")
        if use_bounded_activations:
            residual = math_ops.clip_by_value(residual, -6.0, 6.0)
            output = math_ops.relu6(shortcut + residual)
        else:
            output = math_ops.relu(shortcut + residual)
        return utils.collect_named_outputs(outputs_collections, sc.name, output)


def root_output_stride(output_stride, include_root_block: bool):
    """The output stride left for the blocks once the root (stride-2 conv1, stride-2 pool1) took 4."""
    if output_stride is None or not include_root_block:
        return output_stride
    if output_stride % 4 != 0:
        raise InvalidArgumentError(f"The output_stride needs to be a multiple of 4, got {output_stride}")
    return output_stride // 4


def head(
    net: Tensor, end_points: dict, scope_name: str, num_classes, global_pool: bool, spatial_squeeze: bool
):
    """The classifier both ResNet versions share: optional global average pool ('pool5'), a 1x1 conv
    'logits' without normaliser or activation, the optional squeeze and the softmax 'predictions'."""
    if global_pool:
        net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="pool5")
        end_points["global_pool"] = net
    if num_classes:
        net = layers.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="logits")
        end_points[scope_name + "/logits"] = net
        if spatial_squeeze:
            net = array_ops.squeeze(net, [1, 2], name="SpatialSqueeze")
            end_points[scope_name + "/spatial_squeeze"] = net
        end_points["predictions"] = layers.softmax(net, scope="predictions")
    return net, end_points


def batch_norm_training_scope(is_training):
    """arg_scope fixing batch_norm's is_training, or nothing when it is None (left to an outer scope)."""
    if is_training is None:
        return contextlib.nullcontext()
    return arg_scope([layers.batch_norm], is_training=is_training)


def resnet_v1(
    inputs: Tensor,
    blocks,
    num_classes: int | None = None,
    is_training: bool | None = True,
    global_pool: bool = True,
    output_stride: int | None = None,
    include_root_block: bool = True,
    spatial_squeeze: bool = True,
    store_non_strided_activations: bool = False,
    reuse=None,
    scope: str | None = None,
):
    """The ResNet v1 generator: root block, the `blocks`, then the classifier.

    Args:
      inputs: images [batch, height, width, channels].
      blocks: `resnet_utils.Block`s, e.g. from `resnet_v1_block`.
      num_classes: number of classes; 0 or None returns the features before the logits layer.
      is_training: batch norm mode; None leaves it to an enclosing arg_scope.
      global_pool: average the last block's output to 1x1 before the logits ('global_pool' end point).
      output_stride: input/output resolution ratio wanted (a multiple of 4 with the root block); None is
        the nominal 32.
      include_root_block: start with the 7x7/2 'conv1' and the 3x3/2 max pool 'pool1'.
      spatial_squeeze: squeeze the 1x1 spatial dimensions of the logits.
      store_non_strided_activations: block end points before each block's final subsampling.
      reuse: reuse the variables of an earlier call with the same `scope`.
      scope: variable scope (default 'resnet_v1').

    Returns:
      (net, end_points): the logits (or the features) and the dict of end points: every conv and unit
      output and every block end keyed by scope, 'global_pool', '<scope>/logits',
      '<scope>/spatial_squeeze' and 'predictions'.
    """
    with variable_scope(scope, "resnet_v1", [inputs], reuse=reuse) as sc:
        collection = sc.original_name_scope + "_end_points"
        with (
            arg_scope(
                [layers.conv2d, bottleneck, resnet_utils.stack_blocks_dense], outputs_collections=collection
            ),
            batch_norm_training_scope(is_training),
        ):
            net = inputs
            resnet_utils.input_depth(inputs, sc.name, "resnet_v1")
            output_stride = root_output_stride(output_stride, include_root_block)
            if include_root_block:
                net = resnet_utils.conv2d_same(net, 64, 7, stride=2, scope="conv1")
                net = layers.max_pool2d(net, [3, 3], stride=2, scope="pool1")
            net = resnet_utils.stack_blocks_dense(net, blocks, output_stride, store_non_strided_activations)
            end_points = utils.convert_collection_to_dict(collection)
            return head(net, end_points, sc.name, num_classes, global_pool, spatial_squeeze)


resnet_v1.default_image_size = 224


def resnet_v1_block(scope: str, base_depth: int, num_units: int, stride: int) -> resnet_utils.Block:
    """A block of `num_units` v1 bottlenecks of output depth 4 * `base_depth`; only the last unit has
    `stride`."""
    unit = {"depth": base_depth * 4, "depth_bottleneck": base_depth, "stride": 1}
    return resnet_utils.Block(
        scope, bottleneck, [dict(unit) for _ in range(num_units - 1)] + [dict(unit, stride=stride)]
    )


# Units per block of each depth (blocks 1-4 have base depths 64, 128, 256, 512).
UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3)}


def make_blocks(block_fn, layers_: int, depth_multiplier: float = 1, min_base_depth: int = 8) -> list:
    """The four blocks of a ResNet-`layers_`, base depths scaled by `depth_multiplier` (at least
    `min_base_depth`); blocks 1-3 end with stride 2, block 4 with stride 1."""
    out = []
    for i, (units, base) in enumerate(zip(UNITS[layers_], (64, 128, 256, 512))):
        out.append(
            block_fn(
                f"block{i + 1}",
                base_depth=max(int(base * depth_multiplier), min_base_depth),
                num_units=units,
                stride=2 if i < 3 else 1,
            )
        )
    return out


def _resnet_v1_n(
    layers_,
    inputs,
    num_classes,
    is_training,
    global_pool,
    output_stride,
    spatial_squeeze,
    store_non_strided_activations,
    min_base_depth,
    depth_multiplier,
    reuse,
    scope,
):
    blocks = make_blocks(resnet_v1_block, layers_, depth_multiplier, min_base_depth)
    return resnet_v1(
        inputs,
        blocks,
        num_classes,
        is_training,
        global_pool=global_pool,
        output_stride=output_stride,
        include_root_block=True,
        spatial_squeeze=spatial_squeeze,
        store_non_strided_activations=store_non_strided_activations,
        reuse=reuse,
        scope=scope,
    )


def resnet_v1_50(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    store_non_strided_activations=False,
    min_base_depth=8,
    depth_multiplier=1,
    reuse=None,
    scope="resnet_v1_50",
):
    """ResNet-50 (3, 4, 6, 3 units); arguments and result as `resnet_v1`, base depths scaled by
    `depth_multiplier` with a floor of `min_base_depth`."""
    return _resnet_v1_n(
        50,
        inputs,
        num_classes,
        is_training,
        global_pool,
        output_stride,
        spatial_squeeze,
        store_non_strided_activations,
        min_base_depth,
        depth_multiplier,
        reuse,
        scope,
    )


def resnet_v1_101(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    store_non_strided_activations=False,
    min_base_depth=8,
    depth_multiplier=1,
    reuse=None,
    scope="resnet_v1_101",
):
    """ResNet-101 (3, 4, 23, 3 units); see `resnet_v1_50`."""
    return _resnet_v1_n(
        101,
        inputs,
        num_classes,
        is_training,
        global_pool,
        output_stride,
        spatial_squeeze,
        store_non_strided_activations,
        min_base_depth,
        depth_multiplier,
        reuse,
        scope,
    )


def resnet_v1_152(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    store_non_strided_activations=False,
    spatial_squeeze=True,
    min_base_depth=8,
    depth_multiplier=1,
    reuse=None,
    scope="resnet_v1_152",
):
    """ResNet-152 (3, 8, 36, 3 units); see `resnet_v1_50`."""
    return _resnet_v1_n(
        152,
        inputs,
        num_classes,
        is_training,
        global_pool,
        output_stride,
        spatial_squeeze,
        store_non_strided_activations,
        min_base_depth,
        depth_multiplier,
        reuse,
        scope,
    )


def resnet_v1_200(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    store_non_strided_activations=False,
    spatial_squeeze=True,
    min_base_depth=8,
    depth_multiplier=1,
    reuse=None,
    scope="resnet_v1_200",
):
    """ResNet-200 (3, 24, 36, 3 units); see `resnet_v1_50`."""
    return _resnet_v1_n(
        200,
        inputs,
        num_classes,
        is_training,
        global_pool,
        output_stride,
        spatial_squeeze,
        store_non_strided_activations,
        min_base_depth,
        depth_multiplier,
        reuse,
        scope,
    )


for _f in (resnet_v1_50, resnet_v1_101, resnet_v1_152, resnet_v1_200):
    _f.default_image_size = resnet_v1.default_image_size
del _f
