"""conv3d, max_pool3d, avg_pool3d and their backward ops (slimir/ops/conv3d.py): ONNX Runtime against the
numpy references (both layouts, SAME/VALID, strides, dilations), FLOPs (the VJPs: tests/grad/test_vjp_conv3d.py),
shape rules and errors."""

import numpy as np
import pytest
from opcheck import check

import slimir as slim
from slimir import errors
from slimir.ir.registry import apply_op, get_op
from slimir.ops import conv3d as conv3d_ops

#: the ops this file tests (tests/ops/test_op_lowering.py checks every registered op is tested somewhere)
OPS = ["conv3d", "conv3d_backprop_input", "conv3d_backprop_filter", "max_pool3d", "avg_pool3d", "max_pool3d_grad",
       "avg_pool3d_grad"]

GEOMETRIES = [  # (input NDHWC, kernel, strides, dilations, padding)
    ((2, 5, 7, 6, 3), (3, 2, 3), (1, 2, 2), (1, 1, 1), "SAME"),
    ((1, 6, 5, 7, 2), (2, 3, 3), (2, 1, 2), (1, 1, 1), "VALID"),
    ((1, 5, 6, 7, 2), (3, 2, 2), (1, 1, 1), (2, 1, 2), "SAME"),
    ((2, 4, 4, 4, 1), (1, 1, 1), (2, 2, 2), (1, 1, 1), "SAME"),
]


def _nc(x, df):
    return x if df == "NDHWC" else np.transpose(x, (0, 4, 1, 2, 3))


@pytest.mark.parametrize("df", ["NDHWC", "NCDHW"])
@pytest.mark.parametrize("shape, k, s, d, padding", GEOMETRIES)
def test_conv3d_and_its_backward_ops_match_the_references(shape, k, s, d, padding, df):
    rng = np.random.default_rng(0)
    x = _nc(rng.normal(size=shape).astype(np.float32), df)
    w = rng.normal(size=(*k, shape[-1], 4)).astype(np.float32)
    (y,) = check(lambda a, b: conv3d_ops.conv3d(a, b, s, padding, data_format=df, dilations=d), [x, w], op="conv3d",
                 rtol=1e-4, atol=1e-4)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dhw = shape[1:4]
    common = {"strides": s, "dilations": d, "padding": padding, "data_format": df}
    check(lambda g, b: apply_op("conv3d_backprop_input", [g, b], input_dhw=dhw, **common), [dy, w],
          op="conv3d_backprop_input", rtol=1e-4, atol=1e-4)
    check(lambda a, g: apply_op("conv3d_backprop_filter", [a, g], filter_shape=w.shape, **common), [x, dy],
          op="conv3d_backprop_filter", rtol=1e-4, atol=1e-3)


def test_conv3d_reference_is_a_correlation():
    """One output value written out by hand: sum over the kernel window of x * w (VALID, stride 1)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 3, 4, 5, 2))
    w = rng.normal(size=(2, 3, 2, 2, 3))
    y = conv3d_ops.conv3d_reference(x, w, (1, 1, 1), (1, 1, 1), "VALID", "NDHWC")
    assert y.shape == (1, 2, 2, 4, 3)
    want = np.einsum("dhwc,dhwco->o", x[0, 1:3, 1:4, 2:4, :], w)
    np.testing.assert_allclose(y[0, 1, 1, 2], want, rtol=1e-12)


@pytest.mark.parametrize("df", ["NDHWC", "NCDHW"])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape, k, s, padding", [((2, 5, 7, 6, 3), (2, 3, 2), (1, 2, 2), "SAME"),
                                                   ((1, 6, 5, 7, 2), (3, 3, 3), (2, 2, 2), "VALID"),
                                                   ((1, 4, 6, 5, 2), (1, 3, 3), (1, 2, 2), "SAME")])
def test_pool3d_and_its_gradient_match_the_references(shape, k, s, padding, kind, df):
    rng = np.random.default_rng(2)
    x = _nc(rng.normal(size=shape).astype(np.float32), df)
    fn = conv3d_ops.max_pool3d if kind == "max" else conv3d_ops.avg_pool3d
    (y,) = check(lambda a: fn(a, k, s, padding, data_format=df), [x], op=f"{kind}_pool3d")
    dy = rng.normal(size=y.shape).astype(np.float32)
    attrs = {"ksize": k, "strides": s, "padding": padding, "data_format": df}
    if kind == "max":
        check(lambda a, g: apply_op("max_pool3d_grad", [a, g], **attrs), [x, dy], op="max_pool3d_grad")
    else:
        check(lambda g: apply_op("avg_pool3d_grad", [g], input_shape=x.shape, **attrs), [dy],
              op="avg_pool3d_grad")


def test_avg_pool3d_same_averages_the_real_cells_only():
    x = np.ones((1, 3, 3, 3, 1), np.float32)
    y = conv3d_ops._pool3d_ref("avg")(x, (3, 3, 3), (1, 1, 1), "SAME", "NDHWC")
    np.testing.assert_allclose(y, 1.0)  # padded cells do not count (TF's avg_pool3d)
    m = conv3d_ops._pool3d_ref("max")(-x, (3, 3, 3), (1, 1, 1), "SAME", "NDHWC")
    np.testing.assert_allclose(m, -1.0)  # nor do they win a max


def test_flops():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2, 8, 8, 8, 3])
        w = slim.placeholder(slim.float32, [3, 3, 3, 3, 5])
        y = conv3d_ops.conv3d(x, w, (2, 2, 2), "SAME")
        p = conv3d_ops.max_pool3d(x, (2, 2, 2), (2, 2, 2), "VALID")
        assert get_op("conv3d").flops(y.op) == 2 * 27 * 3 * (2 * 4 * 4 * 4 * 5)
        assert get_op("max_pool3d").flops(p.op) == 8 * (2 * 4 * 4 * 4 * 3)


def test_shape_rules_and_errors():
    assert slim.nn.conv3d is conv3d_ops.conv3d and slim.nn.max_pool3d is conv3d_ops.max_pool3d  # tf.nn names
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 16, None, 9, 3])
        w = slim.placeholder(slim.float32, [3, 3, 3, 3, 8])
        assert conv3d_ops.conv3d(x, w, [1, 2, 2, 2, 1], "SAME").shape.as_list() == [None, 8, None, 5, 8]
        assert conv3d_ops.conv3d(x, w, (1, 1, 1), "VALID").shape.as_list() == [None, 14, None, 7, 8]
        assert conv3d_ops.max_pool3d(x, [1, 3, 3, 3, 1], [1, 2, 2, 2, 1], "VALID").shape.as_list() == [
            None, 7, None, 4, 3]
        with pytest.raises(errors.ShapeError, match="channels"):
            conv3d_ops.conv3d(x, slim.placeholder(slim.float32, [3, 3, 3, 4, 8]), (1, 1, 1), "SAME")
        with pytest.raises(errors.ShapeError, match="rank 5"):
            conv3d_ops.conv3d(slim.placeholder(slim.float32, [1, 4, 4, 3]), w, (1, 1, 1), "SAME")
        with pytest.raises(errors.InvalidArgumentError, match="dilation"):
            conv3d_ops.conv3d(x, w, (2, 2, 2), "SAME", dilations=(2, 2, 2))
        with pytest.raises(errors.InvalidArgumentError, match="data_format"):
            conv3d_ops.conv3d(x, w, (1, 1, 1), "SAME", data_format="NHWC")
        with pytest.raises(errors.ShapeError, match="larger than the VALID"):
            conv3d_ops.conv3d(slim.placeholder(slim.float32, [1, 2, 9, 9, 3]), w, (1, 1, 1), "VALID")
        with pytest.raises(errors.InvalidArgumentError, match="padding"):
            conv3d_ops.avg_pool3d(x, (2, 2, 2), (2, 2, 2), "FULL")
