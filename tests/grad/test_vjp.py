"""Every differentiable op's VJP against central finite differences (float64, numpy references).

Shapes and attributes are drawn by hypothesis (few examples each: the whole of tests/grad stays well under
90 s on 2 cores; SLIMIR_GRAD_EXAMPLES_SCALE=20 multiplies them for a long hunt). The registry test at the
end fails for a new differentiable op that has no VJP test here.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from fdcheck import fd_check
from gradcheck import check_grads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import slimir as slim
from slimir.ir.autodiff import gradients
from slimir.ir.reference import evaluate
from slimir.ir.registry import apply_op, registered_ops
from slimir.ops import array_ops, math_ops, nn_ops
from slimir.ops import conv3d as conv3d_ops
from slimir.ops.nn_ops import transposed_out_len

SCALE = int(os.environ.get("SLIMIR_GRAD_EXAMPLES_SCALE", "1"))
N_COORDS = 6


def examples(n: int) -> settings:
    return settings(max_examples=n * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])


FEW = examples(20)
SOME = examples(40)
seeds = st.integers(0, 2**31 - 1)
formats = st.sampled_from(["NHWC", "NCHW"])


def grad_check(op, build, shapes, seed=0, **kw):
    """check_grads, asserting that the graph built holds a node of type `op` (no silent fallback)."""

    def wrapped(*xs):
        y = build(*xs)
        types = {n.type for n in y.graph.get_operations()}
        assert op in types, f"{op} not in the graph built ({sorted(types)})"
        return y

    kw.setdefault("n_coords", N_COORDS)
    return check_grads(wrapped, shapes, rng=np.random.default_rng(seed), **kw)


def layout(n, h, w, c, df):
    return (n, h, w, c) if df == "NHWC" else (n, c, h, w)


def randn(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape)


@st.composite
def shapes(draw, min_rank=0, max_rank=4, min_side=1, max_side=4):
    return tuple(draw(st.integers(min_side, max_side)) for _ in range(draw(st.integers(min_rank, max_rank))))


@st.composite
def broadcastable_pair(draw, max_rank=4):
    full = draw(shapes(0, max_rank, 1, 3))
    a, b = [], []
    for d in full:
        which = draw(st.sampled_from(["both", "a1", "b1"]))
        a.append(1 if which == "a1" else d)
        b.append(1 if which == "b1" else d)
    a = a[draw(st.integers(0, len(a))):]
    b = b[draw(st.integers(0, len(b))):]
    return tuple(a), tuple(b)


@st.composite
def conv_geometry(draw, dilation=True, explicit=True):
    """(h, w, kernel, strides, dilations, padding); dilation > 1 only with stride 1 (as TF)."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (1, 1)
    if dilation and s == (1, 1):
        d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["SAME", "VALID"] + (["explicit"] if explicit else [])))
    ext = [(kk - 1) * dd + 1 for kk, dd in zip(k, d)]
    if padding == "VALID":
        h, w = (draw(st.integers(e, e + 4)) for e in ext)
    elif padding == "explicit":
        padding = tuple((draw(st.integers(0, kk - 1)), draw(st.integers(0, kk - 1))) for kk in k)
        h, w = (draw(st.integers(max(1, e - a - b), max(1, e - a - b) + 4)) for e, (a, b) in zip(ext, padding))
    else:
        h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return h, w, k, s, d, padding


# ------------------------------------------------------------------------------------------
# Convolutions


@SOME
@given(geo=conv_geometry(), df=formats, n=st.integers(1, 2), ci=st.integers(1, 3), co=st.integers(1, 3), seed=seeds)
def test_conv2d(geo, df, n, ci, co, seed):
    h, w, k, s, d, padding = geo
    grad_check("conv2d", lambda x, f: slim.nn.conv2d(x, f, s, padding, data_format=df, dilations=d),
               [layout(n, h, w, ci, df), k + (ci, co)], seed)


@SOME
@given(geo=conv_geometry(), df=formats, n=st.integers(1, 2), ci=st.integers(1, 3), dm=st.integers(1, 2), seed=seeds)
def test_depthwise_conv2d(geo, df, n, ci, dm, seed):
    h, w, k, s, d, padding = geo
    grad_check("depthwise_conv2d",
               lambda x, f: slim.nn.depthwise_conv2d(x, f, s, padding, data_format=df, dilations=d),
               [layout(n, h, w, ci, df), k + (ci, dm)], seed)


@SOME
@given(h=st.integers(1, 5), w=st.integers(1, 5), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.sampled_from(["SAME", "VALID", "explicit"]),
       df=formats, n=st.integers(1, 2), ci=st.integers(1, 3), co=st.integers(1, 3), data=st.data(), seed=seeds)
def test_conv2d_transpose(h, w, k, s, padding, df, n, ci, co, data, seed):
    """tf.nn.conv2d_transpose with the output size TF-Slim's conv2d_transpose layer computes."""
    if padding == "explicit":
        padding = tuple((data.draw(st.integers(0, (kk - 1) // 2)), data.draw(st.integers(0, (kk - 1) // 2)))
                        for kk in k)
        oh, ow = (transposed_out_len(size, kk, ss, p) for size, kk, ss, p in zip((h, w), k, s, padding))
    else:
        oh, ow = (transposed_out_len(size, kk, ss, padding) for size, kk, ss in zip((h, w), k, s))
    out_shape = layout(n, oh, ow, co, df)
    grad_check("conv2d_transpose",
               lambda x, f: slim.nn.conv2d_transpose(x, f, out_shape, s, padding, data_format=df),
               [layout(n, h, w, ci, df), k + (co, ci)], seed)


@FEW
@given(h=st.integers(1, 5), w=st.integers(1, 5), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.sampled_from(["SAME", "VALID"]),
       df=formats, data=st.data(), seed=seeds)
def test_conv2d_transpose_any_output_size(h, w, k, s, padding, df, data, seed):
    """Every output size whose forward conv maps back to the input size (tf.nn.conv2d_transpose accepts each)."""
    def lengths(size, kk, ss):
        if padding == "SAME":
            return list(range((size - 1) * ss + 1, size * ss + 1))
        return [o for o in range((size - 1) * ss + kk, size * ss + kk) if o >= kk]

    oh = data.draw(st.sampled_from(lengths(h, k[0], s[0])))
    ow = data.draw(st.sampled_from(lengths(w, k[1], s[1])))
    out_shape = layout(2, oh, ow, 2, df)
    grad_check("conv2d_transpose",
               lambda x, f: slim.nn.conv2d_transpose(x, f, out_shape, s, padding, data_format=df),
               [layout(2, h, w, 3, df), k + (2, 3)], seed)


def test_separable_conv2d():
    grad_check("depthwise_conv2d",
               lambda x, d, p: slim.nn.separable_conv2d(x, d, p, [1, 1], "SAME"),
               [(2, 5, 5, 3), (3, 3, 3, 2), (1, 1, 6, 4)], 3)


@FEW
@given(rank=st.integers(2, 5), df=formats, data=st.data(), seed=seeds)
def test_bias_add(rank, df, data, seed):
    shape = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    c = shape[1] if df == "NCHW" and rank > 2 else shape[-1]
    grad_check("bias_add", lambda x, b: nn_ops.bias_add(x, b, data_format=df), [shape, (c,)], seed)


# ------------------------------------------------------------------------------------------
# Pooling


@SOME
@given(geo=conv_geometry(dilation=False), df=formats, n=st.integers(1, 2), c=st.integers(1, 3), seed=seeds)
def test_max_pool(geo, df, n, c, seed):
    """Random normal inputs have no ties; overlapping windows (kernel > stride) are drawn often."""
    h, w, k, s, _, padding = geo
    grad_check("max_pool", lambda x: nn_ops.max_pool(x, k, s, padding, data_format=df),
               [layout(n, h, w, c, df)], seed)


@SOME
@given(geo=conv_geometry(dilation=False), df=formats, n=st.integers(1, 2), c=st.integers(1, 3), seed=seeds)
def test_avg_pool(geo, df, n, c, seed):
    h, w, k, s, _, padding = geo
    grad_check("avg_pool", lambda x: nn_ops.avg_pool(x, k, s, padding, data_format=df),
               [layout(n, h, w, c, df)], seed)


def test_max_pool_overlapping_windows_share_a_maximum():
    """A maximum inside two overlapping windows gets both windows' gradients (3x3 windows, stride 1)."""
    x = randn(1, (1, 5, 5, 1))
    x[0, 2, 2, 0] = 10.0
    grad_check("max_pool", lambda a: nn_ops.max_pool(a, [3, 3], [1, 1], "VALID"), [x.shape], 1, values=[x])


# ------------------------------------------------------------------------------------------
# Normalisation, softmax, dropout


@SOME
@given(shape=shapes(2, 4, 1, 4), data=st.data(), is_training=st.booleans(), bessel=st.booleans(),
       epsilon=st.sampled_from([1e-3, 0.1]), seed=seeds)
def test_fused_batch_norm(shape, data, is_training, bessel, epsilon, seed):
    """The normalised output y for x, scale and offset (TF's FusedBatchNormGrad gives the statistics none)."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    c = shape[axis]
    rng = np.random.default_rng(seed + 1)
    mean, var = rng.standard_normal(c), rng.random(c) + 0.2

    def build(x, scale, offset):
        return nn_ops.fused_batch_norm(x, scale, offset, slim.constant(mean), slim.constant(var), epsilon=epsilon,
                                       axis=axis, is_training=is_training, bessel=bessel)[0]

    grad_check("fused_batch_norm", build, [shape, (c,), (c,)], seed)


def test_fused_batch_norm_statistics_get_no_gradient():
    """As TF: the moving mean/variance inputs get None, in training and in inference."""
    for is_training in (True, False):
        with slim.Graph().as_default():
            x = slim.placeholder(slim.float64, [4, 3])
            scale, offset, mean, var = (slim.placeholder(slim.float64, [3]) for _ in range(4))
            y = nn_ops.fused_batch_norm(x, scale, offset, mean, var, is_training=is_training)[0]
            g = gradients(slim.reduce_sum(y), [x, scale, offset, mean, var])
            assert [t is None for t in g] == [False, False, False, True, True]


@FEW
@given(name=st.sampled_from(["softmax", "log_softmax"]), shape=shapes(1, 4, 1, 4), data=st.data(), seed=seeds)
def test_softmax(name, shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    grad_check(name, lambda x: getattr(nn_ops, name)(x, axis=axis), [shape], seed)


@SOME
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 7)),
       radius=st.integers(0, 3), bias=st.floats(0.5, 2.0), alpha=st.floats(1e-3, 1.0), beta=st.floats(0.1, 1.0),
       df=formats, seed=seeds)
def test_lrn(shape, radius, bias, alpha, beta, df, seed):
    shp = shape if df == "NHWC" else (shape[0], shape[3], shape[1], shape[2])
    grad_check("lrn", lambda x: apply_op("lrn", [x], depth_radius=radius, bias=bias, alpha=alpha, beta=beta,
                                         data_format=df), [shp], seed)


@FEW
@given(shape=shapes(1, 4, 1, 5), rate=st.floats(0.1, 0.8), seed=seeds)
def test_dropout(shape, rate, seed):
    """The reference draws its mask from the node's seed, so it is the same in every evaluation."""
    grad_check("dropout", lambda x: nn_ops.dropout(x, rate=rate, seed=seed % 1000), [shape], seed)


@FEW
@given(shape=shapes(1, 4, 1, 5), rate=st.floats(0.1, 0.8), seed=seeds, noise=st.booleans())
def test_dropout_gradient_is_the_mask_of_the_same_run(shape, rate, seed, noise):
    """d(out)/d(x) = mask, the mask fetched from the same evaluation (reference and ONNX Runtime)."""
    ns = [1] + list(shape[1:]) if noise else None
    for dtype, run in ((slim.float64, "reference"), (slim.float32, "ort")):
        with slim.Graph().as_default() as g:
            x = slim.placeholder(dtype, list(shape))
            r = slim.placeholder(dtype, list(shape))
            out, mask = apply_op("dropout", [x], rate=rate, seed=seed % 1000,
                                 noise_shape=None if ns is None else tuple(ns))
            (gx,) = gradients(slim.reduce_sum(out * r), [x])
            rng = np.random.default_rng(seed)
            feed = {x: rng.standard_normal(shape).astype(dtype.np), r: rng.standard_normal(shape).astype(dtype.np)}
            if run == "reference":
                gv, mv = evaluate([gx, mask], feed)
            else:
                with slim.Session(graph=g) as sess:
                    gv, mv = sess.run([gx, mask], feed)
            np.testing.assert_allclose(gv, feed[r] * mv, rtol=1e-6, err_msg=run)
            np.testing.assert_allclose(mv[mv != 0], 1.0 / (1.0 - rate), rtol=1e-5)


# ------------------------------------------------------------------------------------------
# matmul


@SOME
@given(m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4), ta=st.booleans(), tb=st.booleans(),
       batch=broadcastable_pair(2), seed=seeds)
def test_matmul(m, k, n, ta, tb, batch, seed):
    ba, bb = batch
    sa = ba + ((k, m) if ta else (m, k))
    sb = bb + ((n, k) if tb else (k, n))
    grad_check("matmul", lambda a, b: math_ops.matmul(a, b, transpose_a=ta, transpose_b=tb), [sa, sb], seed)


@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("order", ["3x2", "2x3", "4x2"])
def test_matmul_rank3_rank2(ta, tb, order):
    m, k, n = 3, 4, 2
    sa = (k, m) if ta else (m, k)
    sb = (n, k) if tb else (k, n)
    if order == "3x2":
        sa = (2,) + sa
    elif order == "4x2":
        sa = (2, 3) + sa
    else:
        sb = (2,) + sb
    grad_check("matmul", lambda a, b: math_ops.matmul(a, b, transpose_a=ta, transpose_b=tb), [sa, sb], 5)


def test_fully_connected_on_rank3():
    """slim.fully_connected on a rank-3 input (the matmul rank-3 x rank-2 path), with its variables."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [2, 3, 4])
        y = slim.fully_connected(x, 5, activation_fn=math_ops.tanh)
        from slimir.ir.graph import GraphKeys

        vs = y.graph.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        rng = np.random.default_rng(0)
        loss = slim.reduce_sum(y * slim.constant(rng.standard_normal((2, 3, 5))))
        fd_check(loss, [x] + vs, {x: rng.standard_normal((2, 3, 4))},
                 {v: rng.standard_normal(tuple(v.shape)) for v in vs}, rng, n_coords=5)


# ------------------------------------------------------------------------------------------
# Elementwise


_UNARY_ANY = ["neg", "abs", "square", "exp", "relu", "elu", "selu", "sigmoid", "tanh", "softplus", "softsign",
              "identity"]
_UNARY_POS = ["sqrt", "rsqrt", "log", "reciprocal"]


@SOME
@given(name=st.sampled_from(_UNARY_ANY + _UNARY_POS + ["relu6"]), shape=shapes(0, 3), seed=seeds)
def test_unary(name, shape, seed):
    x = randn(seed, shape)
    if name in _UNARY_POS:
        x = np.abs(x) + 0.3
    if name == "relu6":
        x = 4 * x + 3  # both kinks (0 and 6) in range
    grad_check(name, lambda a: apply_op(name, [a]), [shape], seed, values=[x])


@pytest.mark.parametrize("name", _UNARY_ANY + _UNARY_POS + ["relu6"])
def test_unary_each(name):
    x = randn(7, (3, 4))
    x = np.abs(x) + 0.3 if name in _UNARY_POS else (4 * x + 3 if name == "relu6" else x)
    grad_check(name, lambda a: apply_op(name, [a]), [x.shape], 7, values=[x])


@FEW
@given(shape=shapes(0, 3), alpha=st.floats(0.0, 1.0), lo=st.floats(-2, 0.5), width=st.floats(0.1, 2), seed=seeds)
def test_leaky_relu_and_clip(shape, alpha, lo, width, seed):
    grad_check("leaky_relu", lambda a: math_ops.leaky_relu(a, alpha), [shape], seed)
    grad_check("clip", lambda a: math_ops.clip_by_value(a, lo, lo + width), [shape], seed)


_BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "squared_difference"]


@examples(60)
@given(name=st.sampled_from(_BINARY), pair=broadcastable_pair(), seed=seeds)
def test_binary(name, pair, seed):
    sa, sb = pair
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(sa), rng.standard_normal(sb)
    if name == "div":
        y = np.sign(y) * (np.abs(y) + 0.5)
    if name == "pow":
        x = np.abs(x) + 0.3
    grad_check(name, lambda a, b: apply_op(name, [a, b]), [sa, sb], seed, values=[x, y])


@pytest.mark.parametrize("name", _BINARY)
def test_binary_each_with_broadcasting(name):
    rng = np.random.default_rng(11)
    sa, sb = (2, 1, 3), (4, 1)
    x, y = rng.standard_normal(sa), rng.standard_normal(sb)
    if name == "div":
        y = np.sign(y) * (np.abs(y) + 0.5)
    if name == "pow":
        x = np.abs(x) + 0.3
    grad_check(name, lambda a, b: apply_op(name, [a, b]), [sa, sb], 11, values=[x, y])


def test_pow_at_non_positive_base():
    """d(x**y)/dy is taken as 0 where x <= 0 (TF's safe log), and d/dx stays finite for integer exponents."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [3])
        y = slim.placeholder(slim.float64, [3])
        gx, gy = gradients(slim.reduce_sum(math_ops.pow(x, y)), [x, y])
        gxv, gyv = evaluate([gx, gy], {x: np.array([-2.0, 0.0, 2.0]), y: np.array([2.0, 3.0, 2.0])})
    np.testing.assert_allclose(gxv, [-4.0, 0.0, 4.0])
    np.testing.assert_allclose(gyv, [0.0, 0.0, 4.0 * np.log(2.0)])


def test_maximum_minimum_ties_follow_tf():
    """At ties TF gives the whole gradient to x (x >= y for maximum, x <= y for minimum)."""
    for name in ("maximum", "minimum"):
        with slim.Graph().as_default():
            x = slim.placeholder(slim.float64, [3])
            y = slim.placeholder(slim.float64, [3])
            gx, gy = gradients(slim.reduce_sum(apply_op(name, [x, y])), [x, y])
            gxv, gyv = evaluate([gx, gy], {x: np.array([1.0, 2.0, 3.0]), y: np.array([1.0, 1.0, 4.0])})
        if name == "maximum":
            np.testing.assert_array_equal(gxv, [1, 1, 0])
            np.testing.assert_array_equal(gyv, [0, 0, 1])
        else:
            np.testing.assert_array_equal(gxv, [1, 0, 1])
            np.testing.assert_array_equal(gyv, [0, 1, 0])


@FEW
@given(n=st.integers(1, 5), shape=shapes(0, 3), seed=seeds)
def test_add_n(n, shape, seed):
    grad_check("add_n" if n > 1 else "identity", lambda *xs: math_ops.add_n(list(xs) if n > 1 else [xs[0]]),
               [shape] * max(n, 1), seed)


@FEW
@given(pair=broadcastable_pair(3), seed=seeds, cond_first=st.booleans())
def test_where(pair, seed, cond_first):
    sc, sx = pair if cond_first else pair[::-1]
    sy = sx[1:]
    cond = np.random.default_rng(seed).random(sc) < 0.5
    grad_check("where", lambda a, b: math_ops.where(slim.constant(cond), a, b), [sx, sy], seed)


def test_where_condition_gets_none():
    with slim.Graph().as_default():
        c = slim.placeholder(slim.bool_, [3])
        x = slim.placeholder(slim.float64, [3])
        gc, gx = gradients(slim.reduce_sum(math_ops.where(c, x, x * 2.0)), [c, x])
        assert gc is None
        (v,) = evaluate([gx], {c: np.array([True, False, True]), x: np.zeros(3)})
    np.testing.assert_array_equal(v, [1, 2, 1])


# ------------------------------------------------------------------------------------------
# Reductions


_REDUCE = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"]


@examples(60)
@given(name=st.sampled_from(_REDUCE), shape=shapes(1, 4, 1, 4), data=st.data(), keepdims=st.booleans(), seed=seeds)
def test_reductions(name, shape, data, keepdims, seed):
    r = len(shape)
    axis = data.draw(st.one_of(st.none(), st.lists(st.integers(-r, r - 1), max_size=r, unique_by=lambda a: a % r)))
    x = randn(seed, shape)
    if name == "reduce_prod":  # magnitudes near 1: products of up to 256 values stay O(1), so the loss's
        # rounding (which central differences divide by eps) stays small
        x = np.sign(x) * np.exp(np.random.default_rng(seed).uniform(-0.2, 0.2, shape))
    grad_check(name, lambda a: getattr(math_ops, name)(a, axis=axis, keepdims=keepdims), [shape], seed,
               values=[x])


@pytest.mark.parametrize("name", ["reduce_max", "reduce_min"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce_max_min_pairwise_ties(name, keepdims):
    """Each extreme held exactly twice: the VJP splits the gradient evenly (TF), which is what central
    differences see at a two-way tie (one side moves the extreme, the other does not)."""
    a = randn(3, (3, 4))
    x = np.concatenate([a, a[:, ::-1]], axis=1)  # every row's max and min appear twice
    grad_check(name, lambda t: getattr(math_ops, name)(t, axis=[1], keepdims=keepdims), [x.shape], 3, values=[x],
               n_coords=24)


def test_reduce_max_ties_split_evenly():
    """k-way ties get g/k each, as TF's reduce_max gradient."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [2, 4])
        (g,) = gradients(math_ops.reduce_max(x, axis=[1]) * slim.constant(np.array([1.0, 6.0])), [x])
        (v,) = evaluate([g], {x: np.array([[1.0, 3.0, 3.0, 3.0], [5.0, 5.0, 0.0, -1.0]])})
    np.testing.assert_allclose(v, [[0, 1 / 3, 1 / 3, 1 / 3], [3, 3, 0, 0]])


def test_reduce_mean_with_unknown_dims():
    """A batch dimension unknown when built: the count comes from num_elements at run time."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [None, 3])
        (g,) = gradients(math_ops.reduce_mean(x, axis=[0]) * slim.constant(np.array([1.0, 2.0, 3.0])), [x])
        assert any(n.type == "num_elements" for n in x.graph.get_operations())
        (v,) = evaluate([g], {x: np.zeros((4, 3))})
    np.testing.assert_allclose(v, np.tile([1 / 4, 2 / 4, 3 / 4], (4, 1)))


def test_reduce_prod_with_a_zero():
    """TF's reduce_prod gradient is exact with zeros: d/dx_i = prod of the others (not NaN)."""
    x = np.array([[2.0, 0.0, 3.0], [1.0, -2.0, 0.5]])
    with slim.Graph().as_default():
        t = slim.placeholder(slim.float64, [2, 3])
        (g,) = gradients(math_ops.reduce_sum(math_ops.reduce_prod(t, axis=[1])), [t])
        (v,) = evaluate([g], {t: x})
    np.testing.assert_allclose(v, [[0.0, 6.0, 0.0], [-1.0, 0.5, -2.0]])


# ------------------------------------------------------------------------------------------
# Array ops


@FEW
@given(shape=shapes(1, 4, 1, 4), data=st.data(), seed=seeds)
def test_reshape(shape, data, seed):
    target = list(data.draw(st.permutations(shape)))
    if data.draw(st.booleans()):
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    grad_check("reshape", lambda a: array_ops.reshape(a, target), [shape], seed)


@FEW
@given(shape=shapes(2, 4, 1, 4), seed=seeds)
def test_flatten(shape, seed):
    grad_check("flatten", lambda a: slim.flatten(a), [shape], seed)


@FEW
@given(shape=shapes(0, 4, 1, 4), data=st.data(), seed=seeds)
def test_transpose(shape, data, seed):
    perm = data.draw(st.permutations(range(len(shape))))
    grad_check("transpose", lambda a: array_ops.transpose(a, perm), [shape], seed)


@FEW
@given(shape=shapes(1, 4, 1, 3), data=st.data(), seed=seeds)
def test_concat(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    shps = []
    for _ in range(data.draw(st.integers(2, 3))):
        s = list(shape)
        s[axis] = data.draw(st.integers(1, 3))
        shps.append(tuple(s))
    grad_check("concat", lambda *xs: array_ops.concat(list(xs), axis), shps, seed)


@FEW
@given(shape=shapes(1, 4, 2, 5), data=st.data(), seed=seeds)
def test_split(shape, data, seed):
    """Any subset of the outputs used (the unused ones get zeros)."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    dim = shape[axis]
    cuts = sorted(data.draw(st.lists(st.integers(1, dim - 1), max_size=2, unique=True))) if dim > 1 else []
    sizes = list(np.diff([0] + cuts + [dim]))
    used = data.draw(st.lists(st.integers(0, len(sizes) - 1), min_size=1, unique=True))

    def build(a):
        parts = array_ops.split(a, sizes, axis)
        flat = [array_ops.reshape(parts[i] * float(i + 1), [-1]) for i in used]
        return array_ops.concat(flat, 0) if len(flat) > 1 else flat[0]

    grad_check("split", build, [shape], seed)


@FEW
@given(shape=shapes(1, 4, 1, 3), data=st.data(), seed=seeds)
def test_squeeze_expand_dims(shape, data, seed):
    where = data.draw(st.integers(-len(shape) - 1, len(shape)))
    grad_check("expand_dims", lambda a: array_ops.expand_dims(a, where), [shape], seed)
    shape1 = list(shape)
    shape1.insert(data.draw(st.integers(0, len(shape))), 1)
    ones = [i for i, d in enumerate(shape1) if d == 1]
    axis = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(ones), unique=True, min_size=1)))
    if axis is not None and data.draw(st.booleans()):
        axis = [a - len(shape1) for a in axis]
    grad_check("squeeze", lambda a: array_ops.squeeze(a, axis), [tuple(shape1)], seed)


@st.composite
def step1_keys(draw, shape):
    """Basic-indexing keys with step 1: ints (negative too), slices with negative/out-of-range bounds,
    None and Ellipsis."""
    key = []
    for d in shape:
        kind = draw(st.sampled_from(["int", "slice", "slice", "full"]))
        if kind == "int":
            key.append(draw(st.integers(-d, d - 1)))
        elif kind == "full":
            key.append(slice(None))
        else:
            bound = st.one_of(st.none(), st.integers(-d - 1, d + 1))
            key.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1]))))
    for _ in range(draw(st.integers(0, 1))):
        key.insert(draw(st.integers(0, len(key))), None)
    if key and draw(st.booleans()):
        i = draw(st.integers(0, len(key)))
        j = i
        while j < len(key) and key[j] == slice(None):
            j += 1
        key[i:j] = [Ellipsis]
    elif key and draw(st.booleans()):
        key = key[:draw(st.integers(1, len(key)))]
    return tuple(key)


@SOME
@given(shape=shapes(1, 4, 1, 4), data=st.data(), seed=seeds)
def test_strided_slice(shape, data, seed):
    key = data.draw(step1_keys(shape))
    grad_check("strided_slice", lambda a: a[key], [shape], seed)


def test_slice_negative_indices():
    grad_check("strided_slice", lambda a: a[-2, 1:-1, -3:], [(3, 5, 4)], 2)
    grad_check("strided_slice", lambda a: slim.slice(a, [1, 0, 2], [2, -1, 2]), [(3, 5, 4)], 2)


def test_strided_slice_step_2_is_refused_clearly():
    """Strides other than 1 have no VJP yet: a clear error naming the node, not a wrong gradient."""
    from slimir.errors import InvalidArgumentError

    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [6])
        with pytest.raises(InvalidArgumentError, match="step"):
            gradients(slim.reduce_sum(x[::2]), [x])


@FEW
@given(shape=shapes(1, 4, 1, 3), data=st.data(), value=st.floats(-2, 2), seed=seeds)
def test_pad(shape, data, value, seed):
    pads = [(data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape]
    grad_check("pad", lambda a: array_ops.pad(a, pads, constant_values=value), [shape], seed)


@FEW
@given(shape=shapes(0, 4, 1, 3), data=st.data(), seed=seeds)
def test_tile(shape, data, seed):
    reps = [data.draw(st.integers(1, 3)) for _ in shape]
    grad_check("tile", lambda a: array_ops.tile(a, reps), [shape], seed)


def test_cast():
    """float64 -> float32 -> float64: the gradient passes through (central differences with a large step,
    as float32 rounds the perturbation; the function is linear so the step costs no accuracy)."""
    grad_check("cast", lambda a: array_ops.cast(array_ops.cast(a, slim.float32), slim.float64) * 3.0, [(3, 4)], 1,
               eps=1e-2, rtol=1e-4, atol=1e-4)
    grad_check("cast", lambda a: array_ops.cast(a, slim.float64), [(3, 4)], 1)


def test_identity_and_print():
    grad_check("identity", lambda a: array_ops.identity(a) * 2.0, [(2, 3)], 1)
    grad_check("print", lambda a: slim.Print(a, [a, slim.constant(np.arange(3))], "x: ") * 2.0, [(2, 3)], 1)


@pytest.mark.skipif("check_numerics" not in registered_ops(), reason="no check_numerics op")
def test_check_numerics():
    from slimir.ops.state import check_numerics

    grad_check("check_numerics", lambda a: check_numerics(a * 2.0, "bad value"), [(2, 3)], 1)


def test_print_data_inputs_get_none():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [3])
        d = slim.placeholder(slim.float64, [2])
        gx, gd = gradients(slim.reduce_sum(slim.Print(x, [d])), [x, d])
        assert gx is not None and gd is None


# ------------------------------------------------------------------------------------------
# Broadcasting helpers (differentiable too: they appear in gradient graphs)


@FEW
@given(pair=broadcastable_pair(), seed=seeds)
def test_broadcast_like_and_sum_to(pair, seed):
    sa, sb = pair
    from slimir.shape import broadcast

    full = tuple(broadcast(sa, sb))
    like = np.zeros(full)
    grad_check("broadcast_like", lambda a: apply_op("broadcast_like", [a, slim.constant(like)]), [sa], seed)
    grad_check("sum_to", lambda a: apply_op("sum_to", [a], shape=sa), [full], seed)


@FEW
@given(shape=shapes(1, 4, 1, 4), data=st.data(), seed=seeds)
def test_reshape_like(shape, data, seed):
    target = tuple(data.draw(st.permutations(shape)))
    grad_check("reshape_like", lambda a: apply_op("reshape_like", [a, slim.constant(np.zeros(target))]), [shape],
               seed)


# ------------------------------------------------------------------------------------------
# Composites


@FEW
@given(shape=shapes(1, 3, 1, 4), data=st.data(), seed=seeds)
def test_l2_normalize(shape, data, seed):
    r = len(shape)
    axis = data.draw(st.one_of(st.integers(-r, r - 1), st.lists(st.integers(0, r - 1), min_size=1, unique=True)))
    grad_check("rsqrt", lambda a: slim.nn.l2_normalize(a, axis=axis), [shape], seed)


@FEW
@given(shape=shapes(2, 4, 1, 4), data=st.data(), center=st.booleans(), scale=st.booleans(), seed=seeds)
def test_layer_norm(shape, data, center, scale, seed):
    """atol 1e-6: normalising over two nearly equal values leaves an x-gradient of ~1e-4 made only by the
    1e-12 variance epsilon, which float64 rounding of the variance (~1e-16) blurs by ~1e-8 in both the
    analytic and the numeric value; well-conditioned gradients here are O(1)."""
    r = len(shape)
    bna = data.draw(st.integers(1, r - 1))
    bpa = data.draw(st.integers(-1, r - 1))
    with slim.Graph().as_default() as g:
        from slimir.ir.graph import GraphKeys

        x = slim.placeholder(slim.float64, list(shape))
        y = slim.layer_norm(x, center=center, scale=scale, begin_norm_axis=bna, begin_params_axis=bpa)
        vs = g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        rng = np.random.default_rng(seed)
        loss = slim.reduce_sum(y * slim.constant(rng.standard_normal(shape)))
        fd_check(loss, [x] + vs, {x: rng.standard_normal(shape)},
                 {v: rng.standard_normal(tuple(v.shape)) for v in vs}, rng, n_coords=N_COORDS, atol=1e-6)


def test_moments_and_batch_normalization():
    """tf.nn.moments (stop_gradient on the mean inside the variance) + tf.nn.batch_normalization."""
    def build(x, s, o):
        m, v = slim.nn.moments(x, [0, 1])
        return slim.nn.batch_normalization(x, m, v, o, s, 1e-3)

    grad_check("squared_difference", build, [(3, 2, 4), (4,), (4,)], 4)


# ------------------------------------------------------------------------------------------
# Unknown batch dimension (placeholders [None, ...], as training code writes them)


def _dyn_cases():
    c = slim.constant
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 3, 2, 3))
    return {
        "add_broadcast": (lambda x, y: x + y, [(3, 3, 4), (3, 1)], [0]),
        "mul_both_dynamic": (lambda x, y: x * y, [(3, 3, 4), (3, 1, 4)], [0, 1]),
        "div_dynamic_divisor": (lambda x, y: x / (y * y + 0.5), [(3, 4), (3, 1)], [1]),
        "bias_add_nchw": (lambda x, b: nn_ops.bias_add(x, b, data_format="NCHW"), [(2, 3, 2, 2), (3,)], [0]),
        "matmul_rank3": (lambda a, b: math_ops.matmul(a, b), [(2, 2, 3), (3, 4)], [0]),
        "reduce_mean_batch": (lambda x: math_ops.reduce_mean(x, axis=[0]), [(3, 4)], [0]),
        "reduce_mean_all": (lambda x: math_ops.reduce_mean(x), [(3, 4)], [0]),
        "reduce_max": (lambda x: math_ops.reduce_max(x, axis=[1]), [(3, 4)], [0]),
        "softmax": (lambda x: nn_ops.log_softmax(x), [(3, 4)], [0]),
        "batch_norm_training": (lambda x, s, o: nn_ops.fused_batch_norm(x, s, o, c(np.zeros(4)), c(np.ones(4)))[0],
                                [(3, 4), (4,), (4,)], [0]),
        "conv2d": (lambda x: slim.nn.conv2d(x, c(w), 2, "SAME"), [(2, 5, 5, 2)], [0]),
        "depthwise": (lambda x: slim.nn.depthwise_conv2d(x, c(w[:, :, :, :2]), [1, 1], "VALID"), [(2, 4, 4, 2)], [0]),
        "conv2d_transpose": (lambda x: slim.nn.conv2d_transpose(x, c(w), [None, 6, 6, 2], 2, "SAME"),
                             [(2, 3, 3, 3)], [0]),
        "max_pool": (lambda x: nn_ops.max_pool(x, [3, 3], [2, 2], "SAME"), [(2, 5, 5, 2)], [0]),
        "avg_pool": (lambda x: nn_ops.avg_pool(x, [3, 3], [2, 2], "SAME"), [(2, 5, 5, 2)], [0]),
        "lrn": (lambda x: nn_ops.lrn(x, 1, 1.0, 0.5, 0.75), [(2, 2, 2, 3)], [0]),
        "flatten_reshape": (lambda x: array_ops.reshape(slim.flatten(x), [-1, 3]), [(2, 3, 2)], [0]),
        "l2_normalize": (lambda x: slim.nn.l2_normalize(x, axis=1), [(3, 4)], [0]),
        "concat_split": (lambda a, b: array_ops.split(array_ops.concat([a, b], 1), [4, 1], 1)[0], [(2, 2), (2, 3)],
                         [0, 1]),
        "slice_pad": (lambda x: array_ops.pad(x[:, 1:3], [[0, 0], [1, 2]]), [(3, 4)], [0]),
        "where": (lambda x, y: math_ops.where(c(np.array([True, False, True])), x, y), [(2, 3), (2, 3)], [0]),
        "transpose_squeeze": (lambda x: array_ops.squeeze(array_ops.transpose(x, [1, 0, 2]), [0]), [(2, 1, 3)], [0]),
        "tile": (lambda x: array_ops.tile(x, [1, 2]), [(3, 2)], [0]),
    }


@pytest.mark.parametrize("case", sorted(_dyn_cases()))
def test_unknown_batch_dimension(case):
    build, shapes_, dyn = _dyn_cases()[case]
    rng = np.random.default_rng(1)
    with slim.Graph().as_default():
        xs = [slim.placeholder(slim.float64, [None if i in dyn and k == 0 else d for k, d in enumerate(s)])
              for i, s in enumerate(shapes_)]
        y = build(*xs)
        r = slim.placeholder(slim.float64, list(y.shape))
        loss = slim.reduce_sum(y * r)
        feed = {x: rng.standard_normal(s) for x, s in zip(xs, shapes_)}
        (yv,) = evaluate([y], feed)
        feed[r] = rng.standard_normal(yv.shape)
        fd_check(loss, xs, feed, rng=rng, n_coords=N_COORDS)


# ------------------------------------------------------------------------------------------
# Structure: non-differentiable inputs, unused branches, fan-out, stop_gradient


def test_integer_labels_through_one_hot():
    """Softmax cross-entropy from int labels (one_hot) and log_softmax: labels get None, logits the
    textbook gradient softmax - onehot, and central differences agree."""
    rng = np.random.default_rng(0)
    logits_v = rng.standard_normal((4, 5))
    labels_v = np.array([0, 3, 4, 1], np.int32)
    with slim.Graph().as_default():
        logits = slim.placeholder(slim.float64, [4, 5])
        labels = slim.placeholder(slim.int32, [4])
        onehot = array_ops.one_hot(labels, 5, dtype=slim.float64)
        loss = -math_ops.reduce_mean(math_ops.reduce_sum(onehot * nn_ops.log_softmax(logits), axis=[1]))
        g_logits, g_labels = gradients(loss, [logits, labels])
        assert g_labels is None
        feed = {logits: logits_v, labels: labels_v}
        (got,) = evaluate([g_logits], feed)
        e = np.exp(logits_v - logits_v.max(1, keepdims=True))
        np.testing.assert_allclose(got, (e / e.sum(1, keepdims=True) - np.eye(5)[labels_v]) / 4, rtol=1e-12)
        fd_check(loss, [logits], feed, rng=rng, n_coords=8)


def test_argmax_and_integer_casts_carry_no_gradient():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [3, 4])
        through_int = array_ops.cast(array_ops.cast(x, slim.int32), slim.float64)
        through_argmax = array_ops.cast(math_ops.argmax(x, axis=1), slim.float64)
        assert gradients(slim.reduce_sum(through_int), [x]) == [None]
        assert gradients(slim.reduce_sum(through_argmax), [x]) == [None]
        (g,) = gradients(slim.reduce_sum(through_argmax) + slim.reduce_sum(x * 2.0), [x])
        (v,) = evaluate([g], {x: np.ones((3, 4))})
    np.testing.assert_array_equal(v, np.full((3, 4), 2.0))


def test_unused_branch_gets_none():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [3])
        z = slim.placeholder(slim.float64, [3])
        w = slim.placeholder(slim.float64, [3])
        side = math_ops.exp(w) * x  # w's branch never reaches the loss
        loss = slim.reduce_sum(x * x)
        gx, gz, gw, gside = gradients(loss, [x, z, w, side])
        assert gx is not None and gz is None and gw is None and gside is None
        assert gradients(slim.reduce_sum(z), [x]) == [None]
        assert all(n.type != "exp" or not n.name.startswith("gradients") for n in x.graph.get_operations())


def test_fan_out_sums():
    """x used several times (directly, through two ops and through a shared intermediate)."""
    def build(x):
        t = math_ops.tanh(x)
        return x * x + math_ops.exp(x) * t + t + x

    grad_check("tanh", build, [(3, 4)], 0)


def test_fan_out_accumulates_with_add_n():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float64, [3])
        (gx,) = gradients(slim.reduce_sum(x * x + x), [x])
        assert any(n.type == "add_n" and n.name.startswith("gradients") for n in g.get_operations())
        (v,) = evaluate([gx], {x: np.array([1.0, 2.0, 3.0])})
    np.testing.assert_allclose(v, [3.0, 5.0, 7.0])


def test_stop_gradient_blocks():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [3])
        y = x * array_ops.stop_gradient(x)
        (g,) = gradients(slim.reduce_sum(y), [x])
        (v,) = evaluate([g], {x: np.array([1.0, -2.0, 3.0])})
        np.testing.assert_allclose(v, [1.0, -2.0, 3.0])  # not 2x
        assert gradients(slim.reduce_sum(array_ops.stop_gradient(x)), [x]) == [None]
        # the stop_gradients argument (tf.gradients(..., stop_gradients=...)) cuts at a tensor too
        t = x * 3.0
        (g2,) = gradients(slim.reduce_sum(t * x), [x], stop_gradients=[t])
        (v2,) = evaluate([g2], {x: np.array([1.0, -2.0, 3.0])})
        np.testing.assert_allclose(v2, [3.0, -6.0, 9.0])


def test_several_ys_grad_ys_and_intermediate_xs():
    """tf.gradients semantics: d(sum of ys)/dx, grad_ys weighting each y, and an intermediate tensor among xs
    gets its own gradient while the total still flows through it to x."""
    xv = np.array([1.0, -2.0, 0.5])
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [3])
        h = x * 3.0
        y1 = slim.reduce_sum(h * h)
        y2 = x * x
        gy2 = slim.constant(np.array([1.0, 10.0, 100.0]))
        gx, gh = gradients([y1, y2], [x, h], grad_ys=[None, gy2])
        gxv, ghv = evaluate([gx, gh], {x: xv})
    np.testing.assert_allclose(ghv, 2 * 3 * xv)
    np.testing.assert_allclose(gxv, 18 * xv + 2 * xv * np.array([1.0, 10.0, 100.0]))


def test_non_float_loss_is_refused():
    from slimir.errors import DTypeError

    with slim.Graph().as_default():
        x = slim.placeholder(slim.int32, [3])
        with pytest.raises(DTypeError):
            gradients(slim.reduce_sum(x), [x])


# ------------------------------------------------------------------------------------------
# Registry coverage: every differentiable op with a VJP has a finite-difference test here


#: op -> the test(s) of this module that check its VJP.
VJP_TESTS = {
    "conv2d": "test_conv2d", "depthwise_conv2d": "test_depthwise_conv2d",
    "conv2d_transpose": "test_conv2d_transpose", "bias_add": "test_bias_add",
    "max_pool": "test_max_pool", "avg_pool": "test_avg_pool", "fused_batch_norm": "test_fused_batch_norm",
    "softmax": "test_softmax", "log_softmax": "test_softmax", "lrn": "test_lrn", "dropout": "test_dropout",
    "matmul": "test_matmul",
    **{n: "test_unary" for n in _UNARY_ANY + _UNARY_POS + ["relu6"]},
    "leaky_relu": "test_leaky_relu_and_clip", "clip": "test_leaky_relu_and_clip",
    **{n: "test_binary" for n in _BINARY},
    **{n: "test_reductions" for n in _REDUCE},
    "add_n": "test_add_n", "where": "test_where", "reshape": "test_reshape", "flatten": "test_flatten",
    "transpose": "test_transpose", "concat": "test_concat", "split": "test_split",
    "squeeze": "test_squeeze_expand_dims", "expand_dims": "test_squeeze_expand_dims",
    "strided_slice": "test_strided_slice", "pad": "test_pad", "tile": "test_tile", "cast": "test_cast",
    "print": "test_identity_and_print", "broadcast_like": "test_broadcast_like_and_sum_to",
    "sum_to": "test_broadcast_like_and_sum_to", "reshape_like": "test_reshape_like",
}

if "check_numerics" in registered_ops():
    VJP_TESTS["check_numerics"] = "test_check_numerics"

VJP_TESTS["fused_conv2d"] = "test_fused_conv2d"
VJP_TESTS.update({"conv3d": "test_conv3d", "max_pool3d": "test_pool3d", "avg_pool3d": "test_pool3d"})
VJP_TESTS["gemm"] = "test_gemm"

#: op -> the test file in this directory that checks its VJP by finite differences (it must name the op).
VJP_TESTED_IN = {"resize": "test_vjp_tf_ops.py", "gather": "test_vjp_tf_ops.py"}

#: differentiable ops without a VJP, and why that is fine.
NO_VJP: dict = {}


def test_every_differentiable_op_has_a_vjp_test():
    ops = registered_ops()
    with_vjp = {n for n, op in ops.items() if op.differentiable and op.vjp is not None}
    without = {n for n, op in ops.items() if op.differentiable and op.vjp is None}
    missing = with_vjp - set(VJP_TESTS) - set(VJP_TESTED_IN)
    from pathlib import Path

    for name, file in VJP_TESTED_IN.items():
        assert f'"{name}"' in (Path(__file__).parent / file).read_text(), f"{file} does not test the VJP of {name}"
    assert not missing, f"differentiable ops without a VJP finite-difference test: {sorted(missing)}"
    unexplained = without - set(NO_VJP)
    assert not unexplained, f"differentiable ops without a VJP: {sorted(unexplained)}"
    stale = ((set(VJP_TESTS) | set(VJP_TESTED_IN)) - with_vjp) | (set(NO_VJP) - without)
    assert not stale, f"tests name ops that are not differentiable ops with (or without) a VJP: {sorted(stale)}"
    for name, test in VJP_TESTS.items():
        assert callable(globals().get(test)), f"{name}: no test function {test}"


def _fusable():
    from slimir.ops.activation import fusable_activations

    return sorted(fusable_activations())


_ACTS = [""] + _fusable()  # every activation a fusion may absorb, so a new one is checked here too


def _act_attrs(act):
    own = {"leaky_relu": {"alpha": 0.2}, "clip": {"lo": -0.5, "hi": 0.7}}.get(act, {})
    return dict(activation=act, act_attrs=tuple(sorted(own.items())))


@pytest.mark.parametrize("act", _ACTS)
@pytest.mark.parametrize("conv, df, bias", [("conv2d", "NHWC", True), ("conv2d", "NCHW", False),
                                             ("depthwise_conv2d", "NHWC", True),
                                             ("conv2d_transpose", "NCHW", True)])
def test_fused_conv2d(conv, df, bias, act):
    """The fused op's VJP (activation from its output, then bias, then the base conv's VJP) vs FD."""
    from slimir.ir.registry import apply_op

    x_shape = (2, 5, 4, 3) if df == "NHWC" else (2, 3, 5, 4)
    w_shape = {"conv2d": (3, 3, 3, 4), "depthwise_conv2d": (3, 3, 3, 2), "conv2d_transpose": (3, 3, 4, 3)}[conv]
    c_out = {"conv2d": 4, "depthwise_conv2d": 6, "conv2d_transpose": 4}[conv]
    base = dict(strides=(1, 1), padding="SAME", data_format=df)
    if conv == "conv2d_transpose":
        base["output_hw"] = (5, 4)
    else:
        base["dilations"] = (1, 1)
    shapes = [x_shape, w_shape] + ([(c_out,)] if bias else [])
    check_grads(lambda *ins: apply_op("fused_conv2d", list(ins), conv=conv, **base, **_act_attrs(act)), shapes)


@pytest.mark.parametrize("act", _ACTS)
@pytest.mark.parametrize("transpose_b", [False, True])
def test_gemm(transpose_b, act):
    from slimir.ir.registry import apply_op

    w_shape = (3, 4) if transpose_b else (4, 3)
    check_grads(lambda a, w, b: apply_op("gemm", [a, w, b], transpose_b=transpose_b, **_act_attrs(act)),
                [(5, 4), w_shape, (3,)])


# ------------------------------------------------------------------------------------------
# 3-D convolution and pooling (slimir/ops/conv3d.py)

_GEOMETRIES_3D = [  # (input NDHWC, kernel, strides, dilations, padding)
    ((2, 5, 7, 6, 3), (3, 2, 3), (1, 2, 2), (1, 1, 1), "SAME"),
    ((1, 6, 5, 7, 2), (2, 3, 3), (2, 1, 2), (1, 1, 1), "VALID"),
    ((1, 5, 6, 7, 2), (3, 2, 2), (1, 1, 1), (2, 1, 2), "SAME"),
]


@pytest.mark.parametrize("shape, k, s, d, padding", _GEOMETRIES_3D)
def test_conv3d(shape, k, s, d, padding):
    check_grads(lambda a, b: conv3d_ops.conv3d(a, b, s, padding, dilations=d), [shape, (*k, shape[-1], 2)],
                n_coords=6)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k, s, padding", [((2, 3, 2), (1, 2, 2), "SAME"), ((3, 3, 3), (2, 2, 2), "VALID")])
def test_pool3d(kind, k, s, padding):
    fn = conv3d_ops.max_pool3d if kind == "max" else conv3d_ops.avg_pool3d
    check_grads(lambda a: fn(a, k, s, padding), [(2, 5, 6, 7, 2)], n_coords=8)


