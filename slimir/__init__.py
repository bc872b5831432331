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
from .ir.graph import (AUTO_REUSE, Graph, GraphKeys, Node, Tensor, Variable, VariableScope,  # noqa: F401
                    add_to_collection, add_to_collections, control_dependencies, device, get_collection,
                    get_collection_ref, get_default_graph, get_default_session, get_variable_scope, name_scope,
                    reset_default_graph, set_random_seed, variable_scope)
from .initializers import (constant_initializer, glorot_normal_initializer, glorot_uniform_initializer,  # noqa: F401
                           ones_initializer, random_normal_initializer, random_uniform_initializer,
                           truncated_normal_initializer, variance_scaling_initializer, xavier_initializer,
                           xavier_initializer_conv2d, zeros_initializer)
from .layers import (avg_pool2d, avg_pool3d, batch_norm, bias_add, conv2d, conv2d_in_plane,  # noqa: F401
                     conv2d_transpose, conv3d, convolution, convolution2d, convolution2d_in_plane,
                     convolution2d_transpose, convolution3d, dropout, flatten, fully_connected, group_norm,
                     instance_norm, layer_norm, max_pool2d, max_pool3d, one_hot_encoding, repeat, separable_conv2d,
                     separable_convolution2d, softmax, stack, unit_norm)
from .ir.autodiff import gradients  # noqa: F401
from .ir.registry import convert_to_tensor  # noqa: F401
from .ops.array import (cast, concat, constant, one_hot, placeholder, placeholder_with_default,  # noqa: F401
                        split, to_float)
from .ops.elementwise import (abs, add, add_n, ceil, clip_by_value, divide, equal, exp, floor,  # noqa: F401,A004
                              greater, greater_equal, less, less_equal, log, logical_and, logical_not, logical_or,
                              maximum, minimum, multiply, negative, not_equal, pow, reciprocal, rsqrt, sigmoid, sign,
                              sqrt, square, squared_difference, subtract, tanh, truediv)
from .ops.image import (resize_area, resize_bicubic, resize_bilinear, resize_images,  # noqa: F401
                        resize_nearest_neighbor)
from .ops.reduce import argmax, argmin, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum  # noqa: F401
from .ops.state import (Print, assign, assign_add, assign_sub, check_labels, check_numerics, count_up_to,  # noqa: F401
                        group, no_op)

# TF's argument names (slim.pad(tensor=...), slim.shape(input=...), ...) on the array/matmul/random functions, and
# the TF-core ops the porting table promises under slim. (range, size, rank, gather, unstack)
from .tf_args import (expand_dims, fill, gather, identity, matmul, ones, ones_like, pad,  # noqa: F401,A004
                      random_normal, random_uniform, range, rank, reshape, shape, size, slice, squeeze,
                      stop_gradient, tile, transpose, truncated_normal, unstack, where, zeros, zeros_like)
from . import tensor_util  # noqa: F401
from .regularizers import (apply_regularization, l1_l2_regularizer, l1_regularizer, l2_regularizer,  # noqa: F401
                           sum_regularizer)
from .shape import Shape as TensorShape  # noqa: F401
from .shape import Dimension, dimension_value  # noqa: F401
from .variables import (add_model_variable, create_global_step,  # noqa: F401
                        filter_variables, get_global_step, get_local_variables, get_model_variables,
                        get_or_create_global_step, get_trainable_variables, get_unique_variable, get_variable,
                        get_variables, get_variables_by_name, get_variables_by_suffix, get_variables_to_restore,
                        global_variable, global_variables, global_variables_initializer, initialize_all_variables,
                        initialize_local_variables, local_variable, local_variables, local_variables_initializer,
                        model_variable, model_variables, trainable_variables, variable, variables_initializer)
from . import nets  # noqa: E402,F401
from . import passes  # noqa: E402,F401  (slim.passes.run, INFERENCE_PIPELINE)
from .runtime import InteractiveSession, Session, export_onnx  # noqa: E402,F401
from . import learning  # noqa: E402,F401
from .runtime import evaluation  # noqa: E402,F401
from .runtime import distributed  # noqa: E402,F401
from .runtime.checkpoint.assign import (assign_from_checkpoint, assign_from_checkpoint_fn,  # noqa: E402,F401
                                        assign_from_values, assign_from_values_fn)
from . import data, queues  # noqa: E402,F401  (slim.data providers/pipelines, slim.queues.QueueRunners)
from .data import (data_decoder, data_provider, dataset, dataset_data_provider, parallel_reader,  # noqa: E402,F401
                   prefetch_queue, tfexample_decoder)

__version__ = "0.1.0"

