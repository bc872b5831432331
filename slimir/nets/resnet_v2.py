"""ResNet v2 (He et al., "Identity Mappings in Deep Residual Networks", arXiv:1603.05027) in TF-Slim's
form: full pre-activation bottleneck units (batch norm + relu 'preact' before the convolutions), a
root conv1 without normaliser or activation, and a final 'postnorm' batch norm + relu after the last
block. Scopes, variable names and end points equal TF-Slim's research/slim `resnet_v2`.

    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
        logits, end_points = resnet_v2.resnet_v2_50(images, 1001, is_training=False)
"""

from __future__ import annotations

from .. import layers, utils
from ..arg_scope import add_arg_scope, arg_scope
from ..ir.graph import Tensor, variable_scope
from ..ops import math_ops
from . import resnet_utils
from .resnet_v1 import batch_norm_training_scope, head, make_blocks, root_output_stride

__all__ = [
    "bottleneck",
    "resnet_arg_scope",
    "resnet_v2",
    "resnet_v2_50",
    "resnet_v2_101",
    "resnet_v2_152",
    "resnet_v2_200",
    "resnet_v2_block",
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
) -> Tensor:
    """The v2 (pre-activation) bottleneck unit: shortcut + conv3(conv2(conv1(preact))), no activation
    on the sum.

    'preact' is batch norm + relu of the input. The shortcut is the (subsampled) input when its depth is
    `depth`, else a strided 1x1 projection of preact without normaliser or activation; conv3 has neither.
    """
    with variable_scope(scope, "bottleneck_v2", [inputs]) as sc:
        depth_in = resnet_utils.input_depth(inputs, sc.name, "bottleneck_v2")
        preact = layers.batch_norm(inputs, activation_fn=math_ops.relu, scope="preact")
        if depth == depth_in:
            shortcut = resnet_utils.subsample(inputs, stride, "shortcut")
        else:
            shortcut = layers.conv2d(
                preact, depth, [1, 1], stride=stride, normalizer_fn=None, activation_fn=None, scope="shortcut"
            )
        residual = layers.conv2d(preact, depth_bottleneck, [1, 1], stride=1, scope="conv1")
        residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride, rate=rate, scope="conv2")
        residual = layers.conv2d(
            residual, depth, [1, 1], stride=1, normalizer_fn=None, activation_fn=None, scope="conv3"
        )
        output = shortcut + residual
        return utils.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v2(
    inputs: Tensor,
    blocks,
    num_classes: int | None = None,
    is_training: bool | None = True,
    global_pool: bool = True,
    output_stride: int | None = None,
    include_root_block: bool = True,
    spatial_squeeze: bool = True,
    reuse=None,
    scope: str | None = None,
):
    """The ResNet v2 generator; arguments and result as `resnet_v1.resnet_v1` (without
    store_non_strided_activations). With `include_root_block=False`, `inputs` should be the output of a
    convolution without activation. The features returned when `num_classes` is 0/None are taken after
    'postnorm'."""
    with variable_scope(scope, "resnet_v2", [inputs], reuse=reuse) as sc:
        collection = sc.original_name_scope + "_end_points"
        with (
            arg_scope(
                [layers.conv2d, bottleneck, resnet_utils.stack_blocks_dense], outputs_collections=collection
            ),
            batch_norm_training_scope(is_training),
        ):
            net = inputs
            resnet_utils.input_depth(inputs, sc.name, "resnet_v2")
            output_stride = root_output_stride(output_stride, include_root_block)
            if include_root_block:
                # No batch norm or activation in conv1: the first unit's preact provides them.
                with arg_scope([layers.conv2d], activation_fn=None, normalizer_fn=None):
                    net = resnet_utils.conv2d_same(net, 64, 7, stride=2, scope="conv1")
                net = layers.max_pool2d(net, [3, 3], stride=2, scope="pool1")
            net = resnet_utils.stack_blocks_dense(net, blocks, output_stride)
            # The pre-activation units leave their sum un-normalised: normalise the last one here.
            net = layers.batch_norm(net, activation_fn=math_ops.relu, scope="postnorm")
            end_points = utils.convert_collection_to_dict(collection)
            return head(net, end_points, sc.name, num_classes, global_pool, spatial_squeeze)


resnet_v2.default_image_size = 224


def resnet_v2_block(scope: str, base_depth: int, num_units: int, stride: int) -> resnet_utils.Block:
    """A block of `num_units` v2 bottlenecks of output depth 4 * `base_depth`; only the last unit has
    `stride`."""
    unit = {"depth": base_depth * 4, "depth_bottleneck": base_depth, "stride": 1}
    return resnet_utils.Block(
        scope, bottleneck, [dict(unit) for _ in range(num_units - 1)] + [dict(unit, stride=stride)]
    )


def _resnet_v2_n(
    layers_, inputs, num_classes, is_training, global_pool, output_stride, spatial_squeeze, reuse, scope
):
    blocks = make_blocks(resnet_v2_block, layers_)
    return resnet_v2(
        inputs,
        blocks,
        num_classes,
        is_training=is_training,
        global_pool=global_pool,
        output_stride=output_stride,
        include_root_block=True,
        spatial_squeeze=spatial_squeeze,
        reuse=reuse,
        scope=scope,
    )


def resnet_v2_50(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_50",
):
    """ResNet-50 v2 (3, 4, 6, 3 units); arguments and result as `resnet_v2`."""
    return _resnet_v2_n(
        50, inputs, num_classes, is_training, global_pool, output_stride, spatial_squeeze, reuse, scope
    )


def resnet_v2_101(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_101",
):
    """ResNet-101 v2 (3, 4, 23, 3 units); see `resnet_v2_50`."""
    return _resnet_v2_n(
        101, inputs, num_classes, is_training, global_pool, output_stride, spatial_squeeze, reuse, scope
    )


def resnet_v2_152(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_152",
):
    """ResNet-152 v2 (3, 8, 36, 3 units); see `resnet_v2_50`."""
    return _resnet_v2_n(
        152, inputs, num_classes, is_training, global_pool, output_stride, spatial_squeeze, reuse, scope
    )


def resnet_v2_200(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_200",
):
    """ResNet-200 v2 (3, 24, 36, 3 units); see `resnet_v2_50`."""
    return _resnet_v2_n(
        200, inputs, num_classes, is_training, global_pool, output_stride, spatial_squeeze, reuse, scope
    )


for _f in (resnet_v2_50, resnet_v2_101, resnet_v2_152, resnet_v2_200):
    _f.default_image_size = resnet_v2.default_image_size
del _f
