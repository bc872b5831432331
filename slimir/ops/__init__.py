"""The ops, one module per family, each op's shape rule, lowering, reference, VJP and FLOPs in one place.

Families: array (+ slicing), elementwise, reduce, matmul (with gemm), conv (with its backward and fused
forms), pool (with its gradients and their CUDA form), norm, softmax, random (with dropout), state.
`math_ops`, `nn_ops` and `array_ops` are TF's module names over the same functions, for model code.
"""

from . import array, conv, elementwise, matmul, norm, pool, random, reduce, slicing, softmax, state  # noqa: F401

__all__ = ["array", "conv", "elementwise", "matmul", "norm", "pool", "random", "reduce", "slicing", "softmax",
           "state"]
