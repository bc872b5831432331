"""slimir: TF-Slim model definitions compiled to ONNX and run on ONNX Runtime.

    import slimir as slim
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 224, 224, 3], name='x')
        with slim.arg_scope([slim.conv2d], padding='SAME'):
            net = slim.conv2d(x, 64, [11, 11], scope='conv1')

The facade re-exports the front end (IR, scopes, variables, layers, nets) and the runtime names
(`Session`, `export_onnx`) so that TF-Slim code ports by replacing `tf.`/`tf_slim` with `slim.`.
"""

from . import dtypes, errors, initializers, inputs, losses, metrics, regularizers, summary, train, utils  # noqa: F401
from . import nn  # noqa: F401
from .arg_scope import (add_arg_scope, arg_scope, arg_scope_func_key, arg_scoped_arguments,  # noqa: F401
                        current_arg_scope, has_arg_scope)
from .dtypes import DType, as_dtype, bool_, float16, float32, float64, int8, int16, int32, int64, uint8  # noqa: F401
from .graph import (AUTO_REUSE, Graph, GraphKeys, Node, Tensor, Variable, VariableScope,  # noqa: F401
                    add_to_collection, add_to_collections, control_dependencies, device, get_collection,
                    get_collection_ref, get_default_graph, get_default_session, get_variable_scope, name_scope,
                    reset_default_graph, set_random_seed, variable_scope)
from .initializers import (constant_initializer, glorot_normal_initializer, glorot_uniform_initializer,  # noqa: F401
                           ones_initializer, random_normal_initializer, random_uniform_initializer,
                           truncated_normal_initializer, variance_scaling_initializer, xavier_initializer,
                           xavier_initializer_conv2d, zeros_initializer)
from .layers import (avg_pool2d, batch_norm, bias_add, conv2d, conv2d_in_plane, conv2d_transpose,  # noqa: F401
                     convolution, convolution2d, convolution2d_in_plane, convolution2d_transpose, dropout, flatten,
                     fully_connected, layer_norm, max_pool2d, one_hot_encoding, repeat, separable_conv2d,
                     separable_convolution2d, softmax, stack, unit_norm)
from .layers_extra import avg_pool3d, conv3d, convolution3d, group_norm, instance_norm, max_pool3d  # noqa: F401
from .ops.array_ops import (cast, concat, constant, expand_dims, fill, identity, one_hot, ones, ones_like,  # noqa: F401
                            pad, placeholder, placeholder_with_default, reshape, shape, split, squeeze,
                            stop_gradient, tile, to_float, transpose, zeros, zeros_like)
from .ops.array_ops import slice_ as slice  # noqa: F401,A001
from .ops.math_ops import (abs, add, add_n, argmax, argmin, ceil, clip_by_value, divide, equal, exp,  # noqa: F401,A001
                           floor, greater, greater_equal, less, less_equal, log, logical_and, logical_not,
                           logical_or, matmul, maximum, minimum, multiply, negative, not_equal, pow, reciprocal,
                           reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum, rsqrt, sigmoid, sign,
                           sqrt, square, squared_difference, subtract, tanh, truediv, where)
from .ops.random_ops import random_normal, random_uniform, truncated_normal  # noqa: F401
from .ops.registry import convert_to_tensor  # noqa: F401
from .ops.state_ops import Print, assign, assign_add, assign_sub, check_numerics, group, no_op  # noqa: F401
from .regularizers import (apply_regularization, l1_l2_regularizer, l1_regularizer, l2_regularizer,  # noqa: F401
                           sum_regularizer)
from .shape import Shape as TensorShape  # noqa: F401
from .variables import (add_model_variable, create_global_step,  # noqa: F401
                        filter_variables, get_global_step, get_local_variables, get_model_variables,
                        get_or_create_global_step, get_trainable_variables, get_unique_variable, get_variable,
                        get_variables, get_variables_by_name, get_variables_by_suffix, get_variables_to_restore,
                        global_variable, global_variables, global_variables_initializer, initialize_all_variables,
                        initialize_local_variables, local_variable, local_variables, local_variables_initializer,
                        model_variable, model_variables, trainable_variables, variable, variables_initializer)
from . import nets  # noqa: E402,F401
from .passes.gradients import gradients  # noqa: E402,F401
from .runtime import InteractiveSession, Session, export_onnx  # noqa: E402,F401
from .runtime import evaluation, learning  # noqa: E402,F401
from .runtime import distributed  # noqa: E402,F401
from .runtime.checkpoint.assign import (assign_from_checkpoint, assign_from_checkpoint_fn,  # noqa: E402,F401
                                        assign_from_values, assign_from_values_fn)
from .runtime.checkpoint import saver as _saver  # noqa: E402

for _n in ("Saver", "latest_checkpoint", "get_checkpoint_state", "list_variables", "load_variable",
           "CheckpointReader", "checkpoint_exists"):
    setattr(train, _n, getattr(_saver, _n))
train.NewCheckpointReader = _saver.CheckpointReader
del _n
from . import data, queues  # noqa: E402,F401  (slim.data providers/pipelines, slim.queues.QueueRunners)
from .data import (data_decoder, data_provider, dataset, dataset_data_provider, parallel_reader,  # noqa: E402,F401
                   prefetch_queue, tfexample_decoder)

for _n in ("batch", "shuffle_batch"):  # tf.train.batch / shuffle_batch: host tensors -> fed placeholders
    setattr(train, _n, getattr(data, _n))
train.start_queue_runners = queues.start_queue_runners
train.Coordinator = queues.Coordinator
del _n

__version__ = "0.1.0"

