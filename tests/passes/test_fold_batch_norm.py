"""fold_batch_norm: inference batch norm after conv / depthwise / transposed conv / fully_connected is folded
into the layer's weights and a bias; it is left alone in training mode, after an activation, when the layer's
output has other readers, when its batch statistics are read, and when it normalises another axis."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import export_pair, new_session, node_types, onnx_types, pass_numerics

import slimir as slim

RNG = np.random.default_rng(1)
X = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
X_NCHW = np.ascontiguousarray(np.transpose(X, (0, 3, 1, 2)))


def _bn(df="NHWC", is_training=False, **kw):
    return {"is_training": is_training, "scale": True, "data_format": df, **kw}


def _fold(outputs, x=X, names=("fold_batch_norm",)):
    g = outputs[0].graph
    sess = new_session(g, seed=3)
    res, fr = pass_numerics(outputs, sess, [x], list(names))
    return node_types(fr.graph, fr.outputs), node_types(res.graph, res.outputs), res.reports[-1]


@pytest.mark.parametrize("kind", ["conv", "depthwise", "separable", "transpose"])
@pytest.mark.parametrize("df", ["NHWC", "NCHW"])
def test_bn_after_each_conv_kind_is_folded(kind, df):
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 3, 7, 6] if df == "NCHW" else [None, 7, 6, 3], name="x")
        kw = {
            "normalizer_fn": slim.batch_norm,
            "normalizer_params": _bn(df),
            "data_format": df,
            "scope": "layer",
        }
        if kind == "conv":
            y = slim.conv2d(x, 4, [3, 3], stride=2, **kw)
        elif kind == "depthwise":
            y = slim.separable_conv2d(x, None, [3, 3], depth_multiplier=2, **kw)
        elif kind == "separable":
            y = slim.separable_conv2d(x, 5, [3, 3], depth_multiplier=2, **kw)
        else:
            y = slim.conv2d_transpose(x, 4, [3, 3], stride=2, **kw)
        before, after, rep = _fold([y], x=X_NCHW if df == "NCHW" else X)
    assert before["fused_batch_norm"] == 1
    assert "fused_batch_norm" not in after
    assert after["bias_add"] == 1
    assert len(rep.changes) == 1 and "layer/" in rep.changes[0]


def test_bn_after_conv_with_bias_is_folded():
    """conv2d (with its own bias) then a separate batch_norm layer: the bias is folded in too."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 7, 6, 3], name="x")
        y = slim.conv2d(x, 4, [3, 3], activation_fn=None, scope="conv")
        y = slim.nn.relu(slim.batch_norm(y, **_bn()))
        before, after, _ = _fold([y])
    assert before["bias_add"] == 1 and "fused_batch_norm" not in after and after["bias_add"] == 1


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_bn_after_fully_connected_is_folded(center, scale):
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 7, 6, 3], name="x")
        f = slim.flatten(x)
        y = slim.fully_connected(
            f,
            5,
            normalizer_fn=slim.batch_norm,
            normalizer_params={"is_training": False, "center": center, "scale": scale},
        )
        _before, after, _ = _fold([y])
    assert "fused_batch_norm" not in after and after["matmul"] == 1


def test_folded_export_has_no_batch_norm_and_matches():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 7, 6, 3], name="x")
        y = slim.conv2d(x, 4, [3, 3], normalizer_fn=slim.batch_norm, normalizer_params=_bn(), scope="conv")
        sess = new_session(g, seed=5)
        raw, opt, _, _ = export_pair([y], sess, [X])
    assert "BatchNormalization" in onnx_types(raw) or "Sqrt" in onnx_types(raw)
    types = onnx_types(opt)
    assert "BatchNormalization" not in types and types["Conv"] == 1
    assert not {"Mul", "Sqrt", "Reciprocal", "Sub"} & set(types)  # folded into constants


# ------------------------------------------------------------------------------------------
# where it must not fold


def test_bn_in_training_mode_is_not_folded():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 7, 6, 3], name="x")
        y = slim.conv2d(x, 4, [3, 3], normalizer_fn=slim.batch_norm, normalizer_params=_bn(is_training=True))
        before, after, rep = _fold([y])
    assert after == before and not rep.changes


def test_bn_after_relu_is_not_folded():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 7, 6, 3], name="x")
        y = slim.conv2d(x, 4, [3, 3], activation_fn=slim.nn.relu, scope="conv")
        y = slim.batch_norm(y, **_bn())
        before, after, rep = _fold([y])
    assert after == before and not rep.changes


def test_bn_after_a_pool_is_not_folded():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 7, 6, 3], name="x")
        y = slim.max_pool2d(slim.conv2d(x, 4, [3, 3], activation_fn=None), [2, 2])
        y = slim.batch_norm(y, **_bn())
        before, after, _ = _fold([y])
    assert after == before


def test_conv_output_read_elsewhere_is_not_folded():
    """The raw conv output is also a graph output: folding would change it."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 7, 6, 3], name="x")
        w = slim.constant(RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))
        c = slim.nn.conv2d(x, w, 1, "SAME")
        y = slim.batch_norm(c, **_bn())
        z = slim.nn.relu(c)
        before, after, rep = _fold([y, z])
    assert after == before
    assert rep.skipped, rep


def test_bn_whose_batch_statistics_are_read_is_not_folded():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 7, 6, 3], name="x")
        w = slim.constant(RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))
        c = slim.nn.conv2d(x, w, 1, "SAME")
        ones, zeros = slim.constant(np.ones(4, np.float32)), slim.constant(np.zeros(4, np.float32))
        y, mean, _var = slim.nn.fused_batch_norm(c, ones, zeros, zeros, ones, is_training=False)
        before, after, rep = _fold([y, mean])
    assert after == before
    assert any("statistics" in s for s in rep.skipped), rep


def test_bn_over_another_axis_than_the_conv_channels_is_not_folded():
    """NCHW conv, then a batch norm over the last axis (W): not the conv's output channels."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 3, 7, 6], name="x")
        w = slim.constant(RNG.standard_normal((3, 3, 3, 6)).astype(np.float32))
        c = slim.nn.conv2d(x, w, 1, "SAME", data_format="NCHW")  # [N, 6, 7, 6]: channels == width
        y = slim.batch_norm(c, **_bn("NHWC"))
        before, after, rep = _fold([y], x=X_NCHW)
    assert after == before
    assert rep.skipped, rep
