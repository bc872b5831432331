"""TF's nn_ops names (tf.nn.conv2d's op, conv3d, max_pool, max_pool3d, bias_add, softmax, lrn, fused_batch_norm,
dropout) over the op families that define them, for model code written against TF's module layout. No op is
defined here."""

from .conv import transposed_out_len  # noqa: F401
from .conv3d import avg_pool3d, conv3d, max_pool3d  # noqa: F401
from .elementwise import bias_add  # noqa: F401
from .geometry import check_data_format, check_padding, nhwc, out_len  # noqa: F401
from .norm import fused_batch_norm, local_response_normalization, lrn  # noqa: F401
from .pool import avg_pool, max_pool  # noqa: F401
from .random import dropout  # noqa: F401
from .softmax import log_softmax, softmax  # noqa: F401
