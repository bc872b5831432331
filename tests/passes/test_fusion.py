"""fuse_conv_bias_act and fuse_gemm: the rewrite happens (node counts before/after), does not happen where an
intermediate value has another reader or is a graph output, and preserves the outputs."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import export_pair, new_session, node_types, onnx_types, pass_numerics

import slimir as slim

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
X_NCHW = np.ascontiguousarray(np.transpose(X, (0, 3, 1, 2)))

ACTS = {
    "relu": slim.nn.relu,
    "relu6": slim.nn.relu6,
    "leaky_relu": lambda t: slim.nn.leaky_relu(t, 0.3),
    "sigmoid": slim.nn.sigmoid,
    "tanh": slim.nn.tanh,
    "elu": slim.nn.elu,
    "clip": lambda t: slim.clip_by_value(t, -0.3, 0.6),
}


def _input(df="NHWC"):
    return slim.placeholder(slim.float32, [None, 3, 7, 6] if df == "NCHW" else [None, 7, 6, 3], name="x")


def _fuse(outputs, names=("fuse_conv_bias_act",), x=X):
    """Run the passes on a frozen copy; check numerics; return (types before, types after, report)."""
    g = outputs[0].graph
    sess = new_session(g)
    res, fr = pass_numerics(outputs, sess, [x], list(names))
    return node_types(fr.graph, fr.outputs), node_types(res.graph, res.outputs), res.reports[-1]


# ------------------------------------------------------------------------------------------
# fuse_conv_bias_act: the rewrite happens


@pytest.mark.parametrize("act", sorted(ACTS))
def test_conv_bias_activation_becomes_one_fused_node(act):
    with slim.Graph().as_default():
        y = slim.conv2d(_input(), 4, [3, 3], activation_fn=ACTS[act], scope="conv")
        before, after, rep = _fuse([y])
    assert before["conv2d"] == 1 and before["bias_add"] == 1
    assert after["fused_conv2d"] == 1
    assert not {"conv2d", "bias_add", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "elu", "clip"} & set(
        after
    )
    assert rep.nodes_after == rep.nodes_before - 2
    assert len(rep.changes) == 1


@pytest.mark.parametrize("kind", ["conv", "depthwise", "separable", "transpose"])
@pytest.mark.parametrize("df", ["NHWC", "NCHW"])
def test_every_conv_kind_and_layout_fuses(kind, df):
    with slim.Graph().as_default():
        x = _input(df)
        kw = {"activation_fn": slim.nn.relu6, "data_format": df, "scope": "layer"}
        if kind == "conv":
            y = slim.conv2d(x, 4, [3, 3], stride=2, **kw)
        elif kind == "depthwise":
            y = slim.separable_conv2d(x, None, [3, 3], depth_multiplier=2, **kw)
        elif kind == "separable":
            y = slim.separable_conv2d(x, 5, [3, 3], **kw)
        else:
            y = slim.conv2d_transpose(x, 4, [3, 3], stride=2, **kw)
        before, after, _ = _fuse([y], x=X_NCHW if df == "NCHW" else X)
    # the last convolution takes the bias and the activation; a separable's depthwise stays as it is
    assert after["fused_conv2d"] == 1
    assert "bias_add" not in after and "relu6" not in after
    assert (
        sum(after[t] for t in ("conv2d", "depthwise_conv2d", "conv2d_transpose"))
        == sum(before[t] for t in ("conv2d", "depthwise_conv2d", "conv2d_transpose")) - 1
    )


def test_conv_without_bias_fuses_the_activation_alone():
    with slim.Graph().as_default():
        y = slim.conv2d(_input(), 4, [3, 3], biases_initializer=None, activation_fn=slim.nn.tanh)
        before, after, _ = _fuse([y])
    assert "bias_add" not in before
    assert after == {"placeholder": 1, "const": 1, "fused_conv2d": 1}


def test_conv_with_bias_and_no_activation_fuses_the_bias():
    with slim.Graph().as_default():
        y = slim.conv2d(_input(), 4, [3, 3], activation_fn=None)
        _, after, _ = _fuse([y])
    assert after["fused_conv2d"] == 1 and "bias_add" not in after and "conv2d" not in after


@pytest.mark.parametrize("df", ["NHWC", "NCHW"])
def test_add_of_a_per_channel_vector_is_a_bias(df):
    with slim.Graph().as_default():
        y = slim.conv2d(_input(df), 4, [3, 3], biases_initializer=None, activation_fn=None, data_format=df)
        b = np.arange(4, dtype=np.float32) - 1.5
        y = slim.nn.relu(y + slim.constant(b.reshape(4, 1, 1) if df == "NCHW" else b))
        _, after, _ = _fuse([y], x=X_NCHW if df == "NCHW" else X)
    assert after["fused_conv2d"] == 1 and "add" not in after and "relu" not in after


# ------------------------------------------------------------------------------------------
# fuse_conv_bias_act: where it must not happen


def test_conv_output_with_a_second_reader_is_not_fused():
    """conv -> (bias_add -> relu) and conv -> reduce_sum: fusing would hide the raw conv output."""
    with slim.Graph().as_default():
        x = _input()
        w = slim.constant(RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))
        c = slim.nn.conv2d(x, w, 1, "SAME")
        y = slim.nn.relu(slim.nn.bias_add(c, slim.constant(np.ones(4, np.float32))))
        z = slim.reduce_sum(c, [1, 2])
        before, after, rep = _fuse([y, z])
    assert after == before
    assert any("Conv2D" in s for s in rep.skipped), rep


def test_bias_output_with_a_second_reader_keeps_the_activation_apart():
    """conv -> bias_add -> relu where the bias_add output is also read elsewhere: conv + bias fuse, relu stays."""
    with slim.Graph().as_default():
        x = _input()
        y = slim.conv2d(x, 4, [3, 3], activation_fn=None, scope="conv")
        r = slim.nn.relu(y)
        z = slim.nn.sigmoid(y)
        _, after, _ = _fuse([r, z])
    assert after["fused_conv2d"] == 1
    assert after["relu"] == 1 and after["sigmoid"] == 1  # neither activation swallowed


def test_intermediate_graph_output_is_not_swallowed():
    """conv -> bias_add -> relu, the bias_add output is itself a requested output."""
    with slim.Graph().as_default():
        x = _input()
        y = slim.conv2d(x, 4, [3, 3], activation_fn=None, scope="conv")
        r = slim.nn.relu(y)
        _, after, _ = _fuse([y, r])
    assert after["relu"] == 1 and after["fused_conv2d"] == 1


def test_raw_conv_as_graph_output_is_not_fused():
    with slim.Graph().as_default():
        x = _input()
        w = slim.constant(RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))
        c = slim.nn.conv2d(x, w, 1, "SAME")
        r = slim.nn.relu(c)
        before, after, _ = _fuse([c, r])
    assert after == before


def test_add_of_a_full_tensor_is_not_a_bias():
    with slim.Graph().as_default():
        x = _input()
        y = slim.conv2d(x, 4, [3, 3], biases_initializer=None, activation_fn=None)
        y = slim.nn.relu(y + slim.constant(RNG.standard_normal((7, 6, 4)).astype(np.float32)))
        _before, after, _ = _fuse([y])
    assert after["add"] == 1 and after["relu"] == 1 and "fused_conv2d" not in after


def test_an_activation_that_cannot_be_fused_stays():
    with slim.Graph().as_default():
        y = slim.conv2d(_input(), 4, [3, 3], activation_fn=slim.nn.softplus)
        _, after, _ = _fuse([y])
    assert after["fused_conv2d"] == 1 and after["softplus"] == 1


def test_fused_model_exports_conv_with_its_bias_input():
    """After the pipeline, the ONNX model holds Conv with three inputs and no separate Add."""
    with slim.Graph().as_default() as g:
        y = slim.conv2d(_input(), 4, [3, 3], activation_fn=slim.nn.relu)
        sess = new_session(g)
        _, opt, _, _ = export_pair([y], sess, [X])
    convs = [n for n in opt.graph.node if n.op_type == "Conv"]
    assert len(convs) == 1 and len(convs[0].input) == 3
    assert "Add" not in onnx_types(opt)


# ------------------------------------------------------------------------------------------
# fuse_gemm


@pytest.mark.parametrize("act", ["none"] + sorted(ACTS))
def test_fully_connected_becomes_gemm(act):
    with slim.Graph().as_default():
        x = _input()
        f = slim.flatten(x)
        y = slim.fully_connected(f, 5, activation_fn=None if act == "none" else ACTS[act], scope="fc")
        before, after, rep = _fuse([y], names=["fuse_gemm"])
    assert before["matmul"] == 1 and before["bias_add"] == 1
    assert after["gemm"] == 1
    assert not {"matmul", "bias_add"} & set(after)
    assert rep.nodes_after == rep.nodes_before - (1 if act == "none" else 2)


def test_gemm_keeps_transpose_b():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 6], name="v")
        w = slim.constant(RNG.standard_normal((4, 6)).astype(np.float32))
        y = slim.nn.relu(
            slim.nn.bias_add(slim.matmul(x, w, transpose_b=True), slim.constant(np.ones(4, np.float32)))
        )
        _, after, _ = _fuse([y], names=["fuse_gemm"], x=RNG.standard_normal((3, 6)).astype(np.float32))
    assert after["gemm"] == 1 and "relu" not in after


def test_matmul_without_bias_is_not_a_gemm():
    with slim.Graph().as_default():
        f = slim.flatten(_input())
        y = slim.fully_connected(f, 5, biases_initializer=None)
        before, after, _ = _fuse([y], names=["fuse_gemm"])
    assert after == before


def test_matmul_read_twice_is_not_a_gemm():
    with slim.Graph().as_default():
        f = slim.flatten(_input())
        w = slim.constant(RNG.standard_normal((126, 4)).astype(np.float32))
        m = slim.matmul(f, w)
        y = slim.nn.bias_add(m, slim.constant(np.ones(4, np.float32)))
        before, after, _ = _fuse([y, slim.nn.relu(m)], names=["fuse_gemm"])
    assert after == before


def test_rank3_fully_connected_is_left_alone_and_reported():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4, 6], name="seq")
        y = slim.fully_connected(x, 3, scope="fc")
        before, after, rep = _fuse(
            [y], names=["fuse_gemm"], x=RNG.standard_normal((2, 4, 6)).astype(np.float32)
        )
    assert after == before
    assert any("fc/" in s for s in rep.skipped), rep
