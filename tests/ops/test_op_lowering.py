"""Every registered op: its ONNX lowering (run on ONNX Runtime) agrees with its numpy reference.

Elementwise, math and array ops live here, with the registry-wide coverage test; convolutions,
pooling and normalisation are in test_op_nn_lowering.py, random ops in test_op_random_lowering.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opcheck import OPSET, broadcastable_pair, check, examples, rand, seeds, shapes

import slimir as slim
from slimir.ir.registry import apply_op, registered_ops
from slimir.ops import array_ops, math_ops, nn_ops

FEW = examples(30)

# ------------------------------------------------------------------------------------------
# Registry coverage: one example per op (a new op without one fails here)

#: sources and Python-side control ops: nothing to lower or to compare.
SPECIAL = {"placeholder", "variable", "const", "init_variables", "no_op"}
#: random ops: compared statistically in test_op_random_lowering.py.
STATISTICAL = {"random_normal", "random_uniform", "truncated_normal", "dropout"}

_R = np.random.default_rng(0)
_X = rand(_R, (2, 3, 4, 5))
_P = rand(_R, (2, 3, 4, 5), lo=0.1, hi=3.0)
_M = rand(_R, (3, 4))
_I = rand(_R, (2, 3), np.int32, 0, 4)
_B = rand(_R, (2, 3), np.bool_)


def _unary_example(name, x=_X):
    return (lambda a: apply_op(name, [a]), [x])


def _binary_example(name, x=_M, y=_M[:1]):
    return (lambda a, b: apply_op(name, [a, b]), [x, y])


EXAMPLES = {
    **{n: _unary_example(n) for n in ["neg", "abs", "square", "exp", "floor", "ceil", "sign", "relu", "relu6",
                                      "elu", "selu", "sigmoid", "tanh", "softplus", "softsign", "identity",
                                      "stop_gradient", "flatten"]},
    **{n: _unary_example(n, _P) for n in ["sqrt", "rsqrt", "log", "reciprocal"]},
    "logical_not": _unary_example("logical_not", _B),
    **{n: _binary_example(n) for n in ["add", "sub", "mul", "div", "maximum", "minimum",
                                       "squared_difference", "equal", "not_equal", "less", "less_equal",
                                       "greater", "greater_equal"]},
    "pow": _binary_example("pow", np.abs(_M) + 0.1),
    "logical_and": _binary_example("logical_and", _B, _B[:1]),
    "logical_or": _binary_example("logical_or", _B, _B[:1]),
    "leaky_relu": (lambda a: math_ops.leaky_relu(a, 0.3), [_X]),
    "add_n": (lambda a, b, c: math_ops.add_n([a, b, c]), [_M, _M * 2, _M - 1]),
    "matmul": (lambda a, b: math_ops.matmul(a, b, transpose_b=True), [_M, _M]),
    **{n: (lambda a, _n=n: getattr(math_ops, _n)(a, axis=[1, -1], keepdims=True), [_X])
       for n in ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"]},
    "argmax": (lambda a: math_ops.argmax(a, axis=2), [_X]),
    "argmin": (lambda a: math_ops.argmin(a, axis=-1, output_type=slim.int32), [_X]),
    "clip": (lambda a: math_ops.clip_by_value(a, -0.5, 1.0), [_X]),
    "where": (lambda c, a, b: math_ops.where(c, a, b), [_B, _M[:2, :3], _M[:1, :3]]),
    "cast": (lambda a: array_ops.cast(a, slim.int32), [_X * 3]),
    "reshape": (lambda a: array_ops.reshape(a, [6, -1]), [_X]),
    "transpose": (lambda a: array_ops.transpose(a, [3, 1, 0, 2]), [_X]),
    "concat": (lambda a, b: array_ops.concat([a, b], axis=1), [_M, _M]),
    "split": (lambda a: array_ops.split(a, [1, 3, 0], axis=1), [_M]),
    "squeeze": (lambda a: array_ops.squeeze(a), [_X[:, :1]]),
    "expand_dims": (lambda a: array_ops.expand_dims(a, -2), [_X]),
    "strided_slice": (lambda a: a[..., ::-2, None, 1], [_X]),
    "pad": (lambda a: array_ops.pad(a, [[1, 2], [0, 1]], mode="REFLECT"), [_M]),
    "tile": (lambda a: array_ops.tile(a, [2, 1, 3]), [_X[0]]),
    "one_hot": (lambda a: array_ops.one_hot(a, 5, axis=0), [_I]),
    "fill_like": (lambda a: array_ops.ones_like(a), [_X]),
    "shape": (lambda a: array_ops.shape(a), [_X]),
    "assign": (lambda a: slim.assign(slim.Variable(np.zeros((3, 4), np.float32), name="v"), a), [_M]),
    "print": (lambda a, b: slim.Print(a, [b], "values: "), [_M, _I]),
    "check_numerics": (lambda a: apply_op("check_numerics", [a], message="bad"), [_M]),
    "check_labels": (lambda a: apply_op("check_labels", [a], num_classes=5, message="ids"), [_I]),
    "assert": (lambda a: apply_op("assert", [a], message="all true", summarize=3, error="InvalidArgumentError"),
               [np.ones((2, 3), np.bool_)]),
    "summary": (lambda a: apply_op("summary", [a], tag="m", kind="histogram"), [_M]),
    "bias_add": (lambda a, b: nn_ops.bias_add(a, b, data_format="NCHW"), [_X, _X[0, :, 0, 0]]),
    "conv2d": (lambda a, w: slim.nn.conv2d(a, w, 2, "SAME"), [_X, rand(_R, (3, 3, 5, 2))]),
    "depthwise_conv2d": (lambda a, w: slim.nn.depthwise_conv2d(a, w, [1, 1], "VALID"),
                         [_X, rand(_R, (2, 3, 5, 2))]),
    "conv2d_transpose": (lambda a, w: slim.nn.conv2d_transpose(a, w, [2, 6, 8, 4], 2, "SAME"),
                         [_X, rand(_R, (3, 3, 4, 5))]),
    "max_pool": (lambda a: nn_ops.max_pool(a, [2, 2], [2, 2], "SAME"), [_X]),
    "avg_pool": (lambda a: nn_ops.avg_pool(a, [3, 3], [2, 2], "SAME"), [_X]),
    "softmax": (lambda a: nn_ops.softmax(a, axis=1), [_X]),
    "log_softmax": (lambda a: nn_ops.log_softmax(a), [_X]),
    "lrn": (lambda a: nn_ops.lrn(a, 2, 1.0, 0.1, 0.75), [_X]),
    "fused_batch_norm": (lambda a, s, o, m, v: nn_ops.fused_batch_norm(a, s, o, m, v),
                         [_X, _X[0, 0, 0], _X[1, 0, 0], _X[0, 1, 0], _P[0, 0, 0]]),
}

if "fused_conv2d" in registered_ops():  # made by the fusion passes (slimir/ops/conv.py, matmul.py)
    EXAMPLES["fused_conv2d"] = (
        lambda a, w, b: apply_op("fused_conv2d", [a, w, b], conv="conv2d", strides=(1, 1), dilations=(1, 1),
                                 padding="SAME", data_format="NHWC", activation="relu", act_attrs=()),
        [_X, rand(_R, (3, 3, 5, 2)), rand(_R, (2,))])
if "gemm" in registered_ops():
    EXAMPLES["gemm"] = (lambda a, w, b: apply_op("gemm", [a, w, b], transpose_b=False, activation=None,
                                                 act_attrs=()), [_M, _M.T, _M[:, 0]])


#: ops of the passes and of autodiff, tested in their own files (which must name them).
TESTED_IN = {
    **{n: "test_op_fused_lowering.py" for n in ["fused_conv2d", "gemm"]},
    **{n: "test_op_grad_lowering.py" for n in [
        "conv2d_backprop_input", "conv2d_backprop_filter", "depthwise_backprop_input", "depthwise_backprop_filter",
        "max_pool_grad", "max_pool_argmax", "max_pool_grad_argmax", "avg_pool_grad", "lrn_grad", "sum_to",
        "broadcast_like", "reshape_like", "num_elements",
        "tile_grad"]},
    **{n: "test_op_index_lowering.py" for n in ["top_k", "boolean_mask", "cumsum", "unsorted_segment_sum"]},
    **{n: "test_op_image_lowering.py" for n in ["resize", "resize_grad"]},
    **{n: "test_op_core_lowering.py" for n in ["range", "random_uniform_int", "random_dynamic", "assert", "gather",
                                               "gather_grad", "mirror_pad_grad"]},
    **{n: "test_op_conv3d_lowering.py" for n in [
        "conv3d", "conv3d_backprop_input", "conv3d_backprop_filter", "max_pool3d", "avg_pool3d", "max_pool3d_grad",
        "avg_pool3d_grad"]},
}


def test_every_registered_op_has_a_test():
    ops = set(registered_ops())
    missing = ops - set(EXAMPLES) - SPECIAL - STATISTICAL - set(TESTED_IN)
    assert not missing, f"ops without a lowering-vs-reference test: {sorted(missing)}"
    stale = (set(EXAMPLES) | SPECIAL | STATISTICAL) - ops
    assert not stale, f"tests name ops that are not registered: {sorted(stale)}"
    here = Path(__file__).parent
    for name, file in TESTED_IN.items():
        assert f'"{name}"' in (here / file).read_text(), f"{file} does not test {name}"
    for name in ops - SPECIAL:
        op = registered_ops()[name]
        assert op.lower is not None and op.reference is not None, f"{name} lacks a lowering or a reference"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example(name):
    build, inputs = EXAMPLES[name]
    check(build, inputs, op=name)


# ------------------------------------------------------------------------------------------
# Unary elementwise

_UNARY_ANY = ["neg", "abs", "square", "exp", "floor", "ceil", "sign", "relu", "relu6", "elu", "selu", "sigmoid",
              "tanh", "softplus", "softsign", "identity", "stop_gradient"]
_UNARY_POS = ["sqrt", "rsqrt", "log", "reciprocal"]
_UNARY_INT = ["neg", "abs", "square", "sign", "identity"]


@FEW
@given(name=st.sampled_from(_UNARY_ANY + _UNARY_POS), shape=shapes(0, 4), seed=seeds, dyn=st.booleans())
def test_unary_float(name, shape, seed, dyn):
    rng = np.random.default_rng(seed)
    x = rand(rng, shape, lo=0.05, hi=4.0) if name in _UNARY_POS else rand(rng, shape, lo=-8.0, hi=8.0)
    check(lambda a: apply_op(name, [a]), [x], op=name, dynamic=[0] if dyn and shape else [])


def test_selu_uses_tf_constants():
    """TF's tf.nn.selu: scale * x for x > 0, scale * alpha * (exp(x) - 1) otherwise, with TF's alpha and scale."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    x = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 2.0], np.float32)
    want = np.where(x > 0, scale * x, scale * alpha * np.expm1(x.astype(np.float64)))
    with slim.Graph().as_default():
        xp = slim.placeholder(slim.float32, [6], name="x")
        y = slim.nn.selu(xp)
        assert y.op.type == "selu" and y.op.name == "Selu"
        with slim.Session() as sess:
            got = sess.run(y, {xp: x})
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got[1], -1.1113307378125628, rtol=1e-6)  # selu(-1)
    np.testing.assert_allclose(got[5], 2.101401974710961, rtol=1e-6)  # selu(2)


@FEW
@given(name=st.sampled_from(_UNARY_INT), shape=shapes(0, 3), seed=seeds, dtype=st.sampled_from([np.int32, np.int64]),
       dyn=st.booleans())
def test_unary_int(name, shape, seed, dtype, dyn):
    x = rand(np.random.default_rng(seed), shape, dtype, -50, 50)
    check(lambda a: apply_op(name, [a]), [x], op=name, dynamic=range(len(shape)) if dyn else [])


@FEW
@given(shape=shapes(0, 3), seed=seeds, alpha=st.floats(0.0, 1.0), lo=st.floats(-3, 0), width=st.floats(0, 3))
def test_leaky_relu_and_clip(shape, seed, alpha, lo, width):
    x = rand(np.random.default_rng(seed), shape, lo=-4, hi=4)
    check(lambda a: math_ops.leaky_relu(a, alpha), [x], op="leaky_relu")
    check(lambda a: math_ops.clip_by_value(a, lo, lo + width), [x], op="clip")


def test_logical_not():
    check(lambda a: math_ops.logical_not(a), [rand(np.random.default_rng(1), (3, 4), np.bool_)], op="logical_not")


# ------------------------------------------------------------------------------------------
# Binary elementwise with broadcasting

_ARITH = ["add", "sub", "mul", "div", "maximum", "minimum", "squared_difference", "pow"]
_COMPARE = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]


@examples(40)
@given(name=st.sampled_from(_ARITH + _COMPARE), shapes_=broadcastable_pair(), seed=seeds,
       dtype=st.sampled_from([np.float32, np.int32, np.int64]), dyn=st.booleans())
def test_binary(name, shapes_, seed, dtype, dyn):
    rng = np.random.default_rng(seed)
    sa, sb = shapes_
    if name == "pow":
        if dtype is not np.float32:
            dtype = np.float32
        x, y = rand(rng, sa, lo=0.1, hi=3.0), rand(rng, sb, lo=-3.0, hi=3.0)
    else:
        x, y = rand(rng, sa, dtype, -9, 9), rand(rng, sb, dtype, -9, 9)
        if name in _COMPARE:  # make ties happen
            y = np.where(rng.random(sb) < 0.3, np.resize(x, sb) if x.size else y, y).astype(dtype)
    if name == "div":
        y = np.where(y == 0, 3, y).astype(dtype)
    check(lambda a, b: apply_op(name, [a, b]), [x, y], op=name, dynamic={0: range(len(sa))} if dyn else {})


@FEW
@given(name=st.sampled_from(["logical_and", "logical_or"]), shapes_=broadcastable_pair(), seed=seeds)
def test_logical_binary(name, shapes_, seed):
    rng = np.random.default_rng(seed)
    x, y = rand(rng, shapes_[0], np.bool_), rand(rng, shapes_[1], np.bool_)
    check(lambda a, b: apply_op(name, [a, b]), [x, y], op=name)


@FEW
@given(shapes_=broadcastable_pair(3), seed=seeds, cond_first=st.booleans(), dyn=st.booleans())
def test_where(shapes_, seed, cond_first, dyn):
    rng = np.random.default_rng(seed)
    sc, sx = shapes_ if cond_first else shapes_[::-1]
    c, x, y = rand(rng, sc, np.bool_), rand(rng, sx), rand(rng, sx[1:])
    check(lambda a, b, d: math_ops.where(a, b, d), [c, x, y], op="where", dynamic={1: range(len(sx))} if dyn else {})


@FEW
@given(shape=shapes(0, 4), n=st.integers(2, 5), seed=seeds, dyn=st.booleans())
def test_add_n(shape, n, seed, dyn):
    rng = np.random.default_rng(seed)
    check(lambda *xs: math_ops.add_n(xs), [rand(rng, shape) for _ in range(n)], op="add_n",
          dynamic={0: range(len(shape))} if dyn else {})


# ------------------------------------------------------------------------------------------
# matmul (Gemm for 2-D with transposes, MatMul with batch broadcasting otherwise)


@examples(40)
@given(m=st.integers(1, 5), k=st.integers(1, 5), n=st.integers(1, 5), ta=st.booleans(), tb=st.booleans(),
       batch=broadcastable_pair(2), seed=seeds, dyn=st.booleans())
def test_matmul(m, k, n, ta, tb, batch, seed, dyn):
    rng = np.random.default_rng(seed)
    ba, bb = batch
    x = rand(rng, ba + ((k, m) if ta else (m, k)))
    y = rand(rng, bb + ((n, k) if tb else (k, n)))
    check(lambda a, b: math_ops.matmul(a, b, transpose_a=ta, transpose_b=tb), [x, y], op="matmul",
          dynamic=[0] if dyn else [])


# ------------------------------------------------------------------------------------------
# Reductions and argmax/argmin


@examples(40)
@given(name=st.sampled_from(["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"]),
       shape=shapes(1, 4, 1, 4), data=st.data(), keepdims=st.booleans(), seed=seeds, dyn=st.booleans())
def test_reductions(name, shape, data, keepdims, seed, dyn):
    r = len(shape)
    axis = data.draw(st.one_of(st.none(), st.lists(st.integers(-r, r - 1), max_size=r, unique_by=lambda a: a % r)))
    lo, hi = (0.5, 1.5) if name == "reduce_prod" else (-2.0, 2.0)
    x = rand(np.random.default_rng(seed), shape, lo=lo, hi=hi)
    check(lambda a: getattr(math_ops, name)(a, axis=axis, keepdims=keepdims), [x], op=name,
          dynamic=range(r) if dyn else [])


@FEW
@given(name=st.sampled_from(["argmax", "argmin"]), shape=shapes(1, 4), data=st.data(), seed=seeds,
       out=st.sampled_from([slim.int64, slim.int32]), dyn=st.booleans())
def test_arg_reductions(name, shape, data, seed, out, dyn):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = rand(np.random.default_rng(seed), shape)
    check(lambda a: getattr(math_ops, name)(a, axis=axis, output_type=out), [x], op=name,
          dynamic=range(len(shape)) if dyn else [])


# ------------------------------------------------------------------------------------------
# softmax / log_softmax


@FEW
@given(name=st.sampled_from(["softmax", "log_softmax"]), shape=shapes(1, 4), data=st.data(), seed=seeds,
       dyn=st.booleans())
def test_softmax(name, shape, data, seed, dyn):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = rand(np.random.default_rng(seed), shape, lo=-10, hi=10)
    check(lambda a: getattr(nn_ops, name)(a, axis=axis), [x], op=name, dynamic=range(len(shape)) if dyn else [])


# ------------------------------------------------------------------------------------------
# Array ops


@FEW
@given(shape=shapes(0, 4), seed=seeds, to=st.sampled_from([slim.float32, slim.int32, slim.int64, slim.bool_,
                                                             slim.float64, slim.uint8]), dyn=st.booleans())
def test_cast(shape, seed, to, dyn):
    x = rand(np.random.default_rng(seed), shape, lo=0.0 if to is slim.uint8 else -9.0, hi=9.0)
    check(lambda a: array_ops.cast(a, to), [x], op="cast", dynamic=range(len(shape)) if dyn else [])


@FEW
@given(shape=shapes(1, 4), seed=seeds, data=st.data(), dyn=st.booleans())
def test_reshape_and_flatten(shape, seed, data, dyn):
    x = rand(np.random.default_rng(seed), shape)
    perm = data.draw(st.permutations(shape))
    target = list(perm)
    if data.draw(st.booleans()):
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    check(lambda a: array_ops.reshape(a, target), [x], op="reshape", dynamic=[0] if dyn else [])
    if len(shape) >= 2:
        check(lambda a: apply_op("flatten", [a]), [x], op="flatten", dynamic=[0] if dyn else [])


@pytest.mark.skipif(OPSET is not None and OPSET < 14, reason="Reshape's allowzero needs opset 14")
def test_reshape_empty():
    check(lambda a: array_ops.reshape(a, [0, 6]), [np.zeros((2, 0, 3), np.float32)], op="reshape")


@FEW
@given(shape=shapes(0, 4), data=st.data(), seed=seeds, dyn=st.booleans())
def test_transpose(shape, data, seed, dyn):
    perm = data.draw(st.permutations(range(len(shape))))
    check(lambda a: array_ops.transpose(a, perm), [rand(np.random.default_rng(seed), shape)], op="transpose",
          dynamic=range(len(shape)) if dyn else [])


@FEW
@given(shape=shapes(1, 4), data=st.data(), seed=seeds, dyn=st.booleans())
def test_concat(shape, data, seed, dyn):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    xs = []
    for _ in range(data.draw(st.integers(2, 4))):
        s = list(shape)
        s[axis] = data.draw(st.integers(0, 3))
        xs.append(rand(rng, s))
    check(lambda *a: array_ops.concat(a, axis), xs, op="concat", dynamic=range(len(shape)) if dyn else [])


@FEW
@given(shape=shapes(1, 4, 1, 6), data=st.data(), seed=seeds, dyn=st.booleans())
def test_split(shape, data, seed, dyn):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    dim = shape[axis]
    divisors = [n for n in range(2, dim + 1) if dim % n == 0]
    if divisors and data.draw(st.booleans()):
        spec = data.draw(st.sampled_from(divisors))
    else:
        cuts = sorted(data.draw(st.lists(st.integers(0, dim), min_size=1, max_size=3)))
        spec = list(np.diff([0] + cuts + [dim]))
        if data.draw(st.booleans()):
            spec[data.draw(st.integers(0, len(spec) - 1))] = -1
    x = rand(np.random.default_rng(seed), shape)
    others = [i for i in range(len(shape)) if i != axis % len(shape)]
    check(lambda a: array_ops.split(a, spec, axis), [x], op="split", dynamic=others if dyn else [])


@FEW
@given(shape=shapes(0, 4, 1, 3), data=st.data(), seed=seeds, dyn=st.booleans())
def test_squeeze_expand_dims(shape, data, seed, dyn):
    """Unknown dims only with explicit squeeze axes: squeeze(axis=None) drops the dims known to be 1."""
    x = rand(np.random.default_rng(seed), shape)
    ones = [i for i, d in enumerate(shape) if d == 1]
    axis = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(ones), unique=True, min_size=1)
                               if ones else st.none()))
    if axis is not None and data.draw(st.booleans()):
        axis = [a - len(shape) for a in axis]
    dims = range(len(shape)) if dyn else []
    if ones:
        check(lambda a: array_ops.squeeze(a, axis), [x], op="squeeze", dynamic=dims if axis is not None else [])
    where = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(lambda a: array_ops.expand_dims(a, where), [x], op="expand_dims", dynamic=dims)


@st.composite
def index_keys(draw, shape):
    """A numpy basic-indexing key for `shape`: ints, slices (any step sign), None and at most one Ellipsis."""
    key = []
    for d in shape:
        kind = draw(st.sampled_from(["int", "slice", "slice", "full"]))
        if kind == "int":
            key.append(draw(st.integers(-d, d - 1)))
        elif kind == "full":
            key.append(slice(None))
        else:
            bound = st.one_of(st.none(), st.integers(-d - 2, d + 2))
            key.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3, -1, -2, -3]))))
    for _ in range(draw(st.integers(0, 2))):
        key.insert(draw(st.integers(0, len(key))), None)
    if key and draw(st.booleans()):  # replace a run of full-dimension entries by an ellipsis
        i = draw(st.integers(0, len(key)))
        j = i
        while j < len(key) and key[j] == slice(None):
            j += 1
        key[i:j] = [Ellipsis]
    elif key and draw(st.booleans()):  # drop trailing entries (numpy fills with ':')
        key = key[:draw(st.integers(1, len(key)))]
    return tuple(key)


@examples(60)
@given(shape=shapes(1, 4, 1, 5), data=st.data(), seed=seeds)
def test_strided_slice(shape, data, seed):
    key = data.draw(index_keys(shape))
    x = rand(np.random.default_rng(seed), shape)
    check(lambda a: a[key], [x], op="strided_slice")


@FEW
@given(shape=shapes(1, 3, 1, 5), data=st.data(), seed=seeds)
def test_strided_slice_dynamic(shape, data, seed):
    """Unknown dims: non-negative ints, and slices whose bounds lie within [-dim, dim]."""
    key = []
    for d in shape:
        if data.draw(st.booleans()):
            key.append(data.draw(st.integers(0, d - 1)))
        else:
            b = st.one_of(st.none(), st.integers(-d, d))
            key.append(slice(data.draw(b), data.draw(b), data.draw(st.sampled_from([None, 1, 2, -1, -2]))))
    x = rand(np.random.default_rng(seed), shape)
    check(lambda a: a[tuple(key)], [x], op="strided_slice", dynamic=range(len(shape)))


def test_slice():
    x = rand(np.random.default_rng(2), (4, 5, 6))
    check(lambda a: slim.slice(a, [1, 0, 2], [2, -1, 3]), [x], op="strided_slice")


@FEW
@given(shape=shapes(1, 4, 1, 4), data=st.data(), seed=seeds,
       mode=st.sampled_from(["CONSTANT", "REFLECT", "SYMMETRIC"]), value=st.floats(-3, 3), dyn=st.booleans())
def test_pad(shape, data, seed, mode, value, dyn):
    limit = {"CONSTANT": 3, "REFLECT": None, "SYMMETRIC": None}[mode]
    pads = []
    for d in shape:
        hi = limit if limit is not None else (d - 1 if mode == "REFLECT" else d)
        pads.append((data.draw(st.integers(0, hi)), data.draw(st.integers(0, hi))))
    x = rand(np.random.default_rng(seed), shape)
    check(lambda a: array_ops.pad(a, pads, mode=mode, constant_values=value), [x], op="pad",
          dynamic=range(len(shape)) if dyn else [])


@FEW
@given(shape=shapes(0, 4, 1, 3), data=st.data(), seed=seeds, dyn=st.booleans())
def test_tile(shape, data, seed, dyn):
    reps = [data.draw(st.integers(0, 3)) for _ in shape]
    check(lambda a: array_ops.tile(a, reps), [rand(np.random.default_rng(seed), shape)], op="tile",
          dynamic=range(len(shape)) if dyn else [])


@FEW
@given(shape=shapes(0, 3), depth=st.integers(1, 6), data=st.data(), seed=seeds,
       itype=st.sampled_from([np.int32, np.int64]), otype=st.sampled_from([slim.float32, slim.int32, slim.int64]),
       on=st.integers(-3, 3), off=st.integers(-3, 3), dyn=st.booleans())
def test_one_hot(shape, depth, data, seed, itype, otype, on, off, dyn):
    axis = data.draw(st.integers(-1, len(shape)))
    idx = rand(np.random.default_rng(seed), shape, itype, -depth - 1, depth + 1)
    check(lambda a: array_ops.one_hot(a, depth, on, off, axis=axis, dtype=otype), [idx], op="one_hot",
          dynamic=range(len(shape)) if dyn else [])


@FEW
@given(shape=shapes(0, 4), seed=seeds, value=st.sampled_from([0.0, 1.0]),
       dtype=st.sampled_from([None, slim.int32, slim.float32]), out=st.sampled_from([slim.int32, slim.int64]))
def test_fill_like_and_shape(shape, seed, value, dtype, out):
    x = rand(np.random.default_rng(seed), shape)
    fn = array_ops.ones_like if value else array_ops.zeros_like
    check(lambda a: fn(a, dtype=dtype), [x], op="fill_like", dynamic=[0] if shape else [])
    check(lambda a: array_ops.shape(a, out_type=out), [x], op="shape", dynamic=range(len(shape)))


def test_assign_and_print():
    rng = np.random.default_rng(3)
    x = rand(rng, (3, 4))
    check(lambda a: slim.assign(slim.Variable(np.zeros((3, 4), np.float32), name="v"), a * 2.0), [x], op="assign")
    check(lambda a, b: slim.Print(a + 1.0, [b, a], "x:", summarize=2), [x, rand(rng, (5,))], op="print")


def test_variables_feed_the_reference():
    x = rand(np.random.default_rng(4), (2, 3))
    g = slim.Graph()
    with g.as_default():
        v = slim.Variable(np.ones((2, 3), np.float32), name="v")
        p = slim.placeholder(slim.float32, (2, 3))
        y = v * p
    from slimir.ir.reference import evaluate

    (got,) = evaluate([y], {p: x}, {v: np.full((2, 3), 2.0, np.float32)})
    np.testing.assert_allclose(got, 2 * x)
