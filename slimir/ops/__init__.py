"""The ops, one module per family, each op's shape rule, lowering, reference, VJP and FLOPs in one place.

Families: array (+ slicing), elementwise, reduce, matmul (with gemm), conv (with its backward and fused
forms), pool (with its gradients and their CUDA form), conv3d (3-D convolution and pooling with their
gradients), norm, softmax, random (with dropout), state (with the run-time checks), index (top_k, gather,
boolean_mask, cumsum, segment sums), image (resizing).
`math_ops`, `nn_ops` and `array_ops` are TF's module names over the same functions, for model code;
static.py evaluates the values known while the graph is built (TF's tensor_util.constant_value).
"""

from . import (  # noqa: F401
    array,
    conv,
    conv3d,
    elementwise,
    image,
    index,
    matmul,
    norm,
    pool,
    random,
    reduce,
    slicing,
    softmax,
    state,
)

__all__ = ["array", "conv", "conv3d", "elementwise", "image", "index", "matmul", "norm", "pool", "random", "reduce",
           "slicing", "softmax", "state"]
