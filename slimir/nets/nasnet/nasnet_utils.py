"""The building blocks of NASNet-A (Zoph et al., "Learning Transferable Architectures for Scalable Image
Recognition", arXiv:1707.07012) as research/slim writes them (nets/nasnet/nasnet_utils.py): the normal and
reduction cells (five pairwise combinations of stacked separable convolutions, pools and identities),
factorized reduction, drop-path, with research/slim's scopes ('comb_iter_<i>/left/separable_5x5_1', ...).

`data_format` of the helpers comes from an arg_scope, as in research/slim.
"""

from __future__ import annotations

from ... import dtypes as _dt
from ... import layers
from ...arg_scope import add_arg_scope
from ...errors import InvalidArgumentError, ShapeError
from ...ir.graph import variable_scope
from ...ops import array_ops, math_ops, nn_ops
from ...ops import random as random_ops
from ...shape import fmt
from ...variables import get_or_create_global_step

__all__ = ["NasNetABaseCell", "NasNetANormalCell", "NasNetAReductionCell", "calc_reduction_layers",
           "drop_path", "factorized_reduction", "get_channel_dim", "get_channel_index", "global_avg_pool"]

DATA_FORMAT_NCHW = "NCHW"
DATA_FORMAT_NHWC = "NHWC"
INVALID = "null"
# The cap of the activations when bounded activations (relu6) are used.
CLIP_BY_VALUE_CAP = 6


def calc_reduction_layers(num_cells: int, num_reduction_layers: int) -> list:
    """The cell indices after which the reduction cells go: evenly spaced among `num_cells`."""
    return [int(float(i) / (num_reduction_layers + 1) * num_cells) for i in range(1, num_reduction_layers + 1)]


def _check_format(data_format):
    if data_format not in (DATA_FORMAT_NHWC, DATA_FORMAT_NCHW):
        raise InvalidArgumentError(f"nasnet: data_format must be set (by arg_scope) to NHWC or NCHW, got "
                                   f"{data_format!r}")


@add_arg_scope
def get_channel_index(data_format=INVALID) -> int:
    _check_format(data_format)
    return 3 if data_format == DATA_FORMAT_NHWC else 1


@add_arg_scope
def get_channel_dim(shape, data_format=INVALID) -> int:
    _check_format(data_format)
    shape = list(shape)
    if len(shape) != 4:
        raise ShapeError(f"nasnet: expected a rank 4 shape, got {fmt(shape)}")
    return int(shape[3] if data_format == DATA_FORMAT_NHWC else shape[1])


@add_arg_scope
def global_avg_pool(x, data_format=INVALID):
    """The mean over the spatial axes: [batch, channels]."""
    _check_format(data_format)
    if len(x.shape) != 4:
        raise ShapeError(f"nasnet: global_avg_pool expects a rank 4 input, got {fmt(x.shape)}")
    return math_ops.reduce_mean(x, [1, 2] if data_format == DATA_FORMAT_NHWC else [2, 3])


@add_arg_scope
def factorized_reduction(net, output_filters, stride, data_format=INVALID):
    """Halve the spatial size without losing information: two 1x1 stride-2 paths (the second shifted by one
    pixel) of output_filters/2 channels each, concatenated and batch-normalised; stride 1 is a 1x1 conv."""
    _check_format(data_format)
    if stride == 1:
        net = layers.conv2d(net, output_filters, 1, scope="path_conv")
        return layers.batch_norm(net, scope="path_bn")
    nhwc = data_format == DATA_FORMAT_NHWC
    strides = (stride, stride)
    path1 = nn_ops.avg_pool(net, (1, 1), strides, "VALID", data_format=data_format)
    path1 = layers.conv2d(path1, int(output_filters / 2), 1, scope="path1_conv")
    if nhwc:
        path2 = array_ops.pad(net, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
    else:
        path2 = array_ops.pad(net, [[0, 0], [0, 0], [0, 1], [0, 1]])[:, :, 1:, 1:]
    path2 = nn_ops.avg_pool(path2, (1, 1), strides, "VALID", data_format=data_format)
    path2 = layers.conv2d(path2, int(output_filters / 2) + int(output_filters % 2), 1, scope="path2_conv")
    final = array_ops.concat([path1, path2], axis=3 if nhwc else 1)
    return layers.batch_norm(final, scope="final_path_bn")


@add_arg_scope
def drop_path(net, keep_prob, is_training=True):
    """Drop the whole `net` of an example with probability 1 - keep_prob (scaling the kept ones by
    1/keep_prob) when training; `keep_prob` may be a tensor. Needs a static batch size."""
    if not is_training:
        return net
    batch = net.shape[0]
    if batch is None:
        raise ShapeError(f"nasnet: drop_path in training needs a known batch size, got {fmt(net.shape)} (build "
                         "the training graph with a fixed batch, or drop_path_keep_prob=1.0)")
    noise = random_ops.random_uniform([batch, 1, 1, 1], dtype=_dt.float32)
    binary = array_ops.cast(math_ops.floor(noise + keep_prob), net.dtype)
    return net * array_ops.cast(1.0 / keep_prob, net.dtype) * binary


def _operation_to_filter_shape(operation: str) -> int:
    parts = operation.split("x")
    size = int(parts[0][-1])
    if size != int(parts[1][0]):
        raise InvalidArgumentError(f"nasnet: rectangular filters are not supported ({operation})")
    return size


def _operation_to_num_layers(operation: str) -> int:
    last = operation.split("_")[-1]
    return 1 if "x" in last else int(last)


def _operation_to_info(operation: str):
    return _operation_to_num_layers(operation), _operation_to_filter_shape(operation)


def _stacked_separable_conv(net, stride, operation, filter_size, use_bounded_activation):
    """`operation` 'separable_KxK_N': N times (activation, separable conv KxK, batch norm); the first one
    carries the stride. Scopes 'separable_KxK_<i>' and 'bn_sep_KxK_<i>'."""
    num_layers, k = _operation_to_info(operation)
    activation_fn = math_ops.relu6 if use_bounded_activation else math_ops.relu
    for i in range(1, num_layers + 1):
        net = activation_fn(net)
        net = layers.separable_conv2d(net, filter_size, k, depth_multiplier=1, scope=f"separable_{k}x{k}_{i}",
                                      stride=stride)
        net = layers.batch_norm(net, scope=f"bn_sep_{k}x{k}_{i}")
        stride = 1
    return net


def _operation_to_pooling_info(operation: str):
    parts = operation.split("_")
    h, w = parts[-1].split("x")
    if h != w:
        raise InvalidArgumentError(f"nasnet: rectangular pools are not supported ({operation})")
    return parts[0], int(h)


def _pooling(net, stride, operation, use_bounded_activation):
    kind, size = _operation_to_pooling_info(operation)
    if use_bounded_activation:
        net = math_ops.relu6(net)
    if kind == "avg":
        return layers.avg_pool2d(net, size, stride=stride, padding="SAME")
    if kind == "max":
        return layers.max_pool2d(net, size, stride=stride, padding="SAME")
    raise InvalidArgumentError(f"nasnet: Unimplemented pooling type: {kind}")


class NasNetABaseCell:
    """A NASNet cell: from the current and the previous hidden state, five combinations ('comb_iter_<i>')
    each add two operations ('left', 'right') of earlier states; the unused states are concatenated
    ('cell_output').

    Args:
      num_conv_filters: the cell's base width (times `filter_scaling` when called).
      operations: ten operation names ('separable_5x5_2', 'avg_pool_3x3', 'max_pool_3x3', 'none').
      used_hiddenstates: per state (2 inputs + 5 combinations), 1 when an operation consumes it.
      hiddenstate_indices: the ten states the operations read.
      drop_path_keep_prob: drop-path keep probability at the last cell, at the end of training.
      total_num_cells, total_training_steps: scale drop-path by depth and by training progress.
      use_bounded_activation: relu6 and clipping instead of relu.
    """

    def __init__(self, num_conv_filters, operations, used_hiddenstates, hiddenstate_indices, drop_path_keep_prob,
                 total_num_cells, total_training_steps, use_bounded_activation=False):
        self._num_conv_filters = num_conv_filters
        self._operations = operations
        self._used_hiddenstates = used_hiddenstates
        self._hiddenstate_indices = hiddenstate_indices
        self._drop_path_keep_prob = drop_path_keep_prob
        self._total_num_cells = total_num_cells
        self._total_training_steps = total_training_steps
        self._use_bounded_activation = use_bounded_activation

    def _activation(self, x):
        return math_ops.relu6(x) if self._use_bounded_activation else math_ops.relu(x)

    def _reduce_prev_layer(self, prev_layer, curr_layer):
        """The previous state brought to the current one's size and width."""
        if prev_layer is None:
            return curr_layer
        curr_filters = self._filter_size
        prev_filters = get_channel_dim(prev_layer.shape)
        if int(curr_layer.shape[2]) != int(prev_layer.shape[2]):
            prev_layer = factorized_reduction(self._activation(prev_layer), curr_filters, stride=2)
        elif curr_filters != prev_filters:
            prev_layer = layers.conv2d(self._activation(prev_layer), curr_filters, 1, scope="prev_1x1")
            prev_layer = layers.batch_norm(prev_layer, scope="prev_bn")
        return prev_layer

    def _cell_base(self, net, prev_layer):
        prev_layer = self._reduce_prev_layer(prev_layer, net)
        net = layers.conv2d(self._activation(net), self._filter_size, 1, scope="1x1")
        net = layers.batch_norm(net, scope="beginning_bn")
        return [net, prev_layer]

    def __call__(self, net, scope=None, filter_scaling=1, stride=1, prev_layer=None, cell_num=-1,
                 current_step=None):
        self._cell_num = cell_num
        self._filter_scaling = filter_scaling
        self._filter_size = int(self._num_conv_filters * filter_scaling)
        with variable_scope(scope):
            states = self._cell_base(net, prev_layer)
            for it in range(5):
                with variable_scope(f"comb_iter_{it}"):
                    li, ri = self._hiddenstate_indices[2 * it], self._hiddenstate_indices[2 * it + 1]
                    with variable_scope("left"):
                        h1 = self._apply_conv_operation(states[li], self._operations[2 * it], stride, li < 2,
                                                        current_step)
                    with variable_scope("right"):
                        h2 = self._apply_conv_operation(states[ri], self._operations[2 * it + 1], stride, ri < 2,
                                                        current_step)
                    with variable_scope("combine"):
                        h = h1 + h2
                        if self._use_bounded_activation:
                            h = math_ops.relu6(h)
                    states.append(h)
            with variable_scope("cell_output"):
                return self._combine_unused_states(states)

    def _apply_conv_operation(self, net, operation, stride, is_from_original_input, current_step):
        if stride > 1 and not is_from_original_input:
            stride = 1
        input_filters = get_channel_dim(net.shape)
        filter_size = self._filter_size
        bounded = self._use_bounded_activation
        if "separable" in operation:
            net = _stacked_separable_conv(net, stride, operation, filter_size, bounded)
            if bounded:
                net = math_ops.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
        elif operation == "none":
            if bounded:
                net = math_ops.relu6(net)
            if stride > 1 or input_filters != filter_size:
                if not bounded:
                    net = math_ops.relu(net)
                net = layers.conv2d(net, filter_size, 1, stride=stride, scope="1x1")
                net = layers.batch_norm(net, scope="bn_1")
                if bounded:
                    net = math_ops.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
        elif "pool" in operation:
            net = _pooling(net, stride, operation, bounded)
            if input_filters != filter_size:
                net = layers.conv2d(net, filter_size, 1, stride=1, scope="1x1")
                net = layers.batch_norm(net, scope="bn_1")
            if bounded:
                net = math_ops.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
        else:
            raise InvalidArgumentError(f"nasnet: Unimplemented operation {operation}")
        if operation != "none":
            net = self._apply_drop_path(net, current_step=current_step)
        return net

    def _combine_unused_states(self, states):
        """Concatenate the states no operation consumed, reduced to the last state's size and width."""
        used = self._used_hiddenstates
        final_height = int(states[-1].shape[2])
        final_filters = get_channel_dim(states[-1].shape)
        if len(used) != len(states):
            raise InvalidArgumentError(f"nasnet: {len(used)} used_hiddenstates for {len(states)} states")
        for idx, is_used in enumerate(used):
            height = int(states[idx].shape[2])
            if not is_used and (final_height != height or final_filters != get_channel_dim(states[idx].shape)):
                with variable_scope(f"reduction_{idx}"):
                    states[idx] = factorized_reduction(states[idx], final_filters,
                                                       2 if final_height != height else 1)
        unused = [h for h, is_used in zip(states, used) if not is_used]
        return array_ops.concat(unused, axis=get_channel_index())

    def _apply_drop_path(self, net, current_step=None, drop_connect_version="v3"):
        """Drop-path with a keep probability that falls linearly with the cell's depth (v2, v3) and with the
        training progress current_step / total_training_steps (v1, v3)."""
        keep_prob = self._drop_path_keep_prob
        if keep_prob >= 1.0:
            return net
        if drop_connect_version not in ("v1", "v2", "v3"):
            raise InvalidArgumentError(f"nasnet: unknown drop_connect_version {drop_connect_version!r}")
        if drop_connect_version in ("v2", "v3"):
            if self._cell_num == -1:
                raise InvalidArgumentError("nasnet: drop-path needs the cell number")
            layer_ratio = (self._cell_num + 1) / float(self._total_num_cells)
            keep_prob = 1 - layer_ratio * (1 - keep_prob)
        if drop_connect_version in ("v1", "v3"):
            if current_step is None:
                current_step = get_or_create_global_step()
            step = array_ops.cast(current_step, _dt.float32)
            ratio = math_ops.minimum(1.0, step / float(self._total_training_steps))
            keep_prob = 1 - ratio * (1 - keep_prob)
        return drop_path(net, keep_prob)


class NasNetANormalCell(NasNetABaseCell):
    """NASNet-A's normal cell (the paper's Figure 4, left)."""

    def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
                 use_bounded_activation=False):
        operations = ["separable_5x5_2", "separable_3x3_2", "separable_5x5_2", "separable_3x3_2", "avg_pool_3x3",
                      "none", "avg_pool_3x3", "avg_pool_3x3", "separable_3x3_2", "none"]
        used_hiddenstates = [1, 0, 0, 0, 0, 0, 0]
        hiddenstate_indices = [0, 1, 1, 1, 0, 1, 1, 1, 0, 0]
        super().__init__(num_conv_filters, operations, used_hiddenstates, hiddenstate_indices, drop_path_keep_prob,
                         total_num_cells, total_training_steps, use_bounded_activation)


class NasNetAReductionCell(NasNetABaseCell):
    """NASNet-A's reduction cell (the paper's Figure 4, right)."""

    def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
                 use_bounded_activation=False):
        operations = ["separable_5x5_2", "separable_7x7_2", "max_pool_3x3", "separable_7x7_2", "avg_pool_3x3",
                      "separable_5x5_2", "none", "avg_pool_3x3", "separable_3x3_2", "max_pool_3x3"]
        used_hiddenstates = [1, 1, 1, 0, 0, 0, 0]
        hiddenstate_indices = [0, 1, 0, 1, 0, 1, 3, 2, 2, 0]
        super().__init__(num_conv_filters, operations, used_hiddenstates, hiddenstate_indices, drop_path_keep_prob,
                         total_num_cells, total_training_steps, use_bounded_activation)
