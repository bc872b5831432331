"""layout_nchw: NHWC layers run in NCHW; transposes sink through layout-agnostic ops and cancel; a transpose
whose reader is not layout-agnostic stays; flatten keeps TF-Slim's NHWC order; NCHW graphs are left alone."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import data_transposes, export_pair, new_session, node_types, onnx_types, pass_numerics

import slimir as slim
import slimir.passes as P

RNG = np.random.default_rng(2)
X = RNG.standard_normal((2, 8, 6, 3)).astype(np.float32)


def _x():
    return slim.placeholder(slim.float32, [None, 8, 6, 3], name="x")


def _layout(outputs, x=X, names=("layout_nchw",)):
    """Run the passes on a frozen copy, check numerics; (types before, types after, result). In the types
    after, 'transpose' counts only the transposes on the data path (not those of constant weights)."""
    sess = new_session(outputs[0].graph, seed=7)
    res, fr = pass_numerics(outputs, sess, [x], list(names))
    after = node_types(res.graph, res.outputs)
    after["transpose"] = len(data_transposes(res.outputs))
    if not after["transpose"]:
        del after["transpose"]
    return node_types(fr.graph, fr.outputs), after, res


def _stack(x, bn=True):
    kw = (
        {"normalizer_fn": slim.batch_norm, "normalizer_params": {"is_training": False, "scale": True}}
        if bn
        else {}
    )
    net = slim.conv2d(x, 4, [3, 3], scope="conv1", **kw)
    net = slim.max_pool2d(net, [2, 2], scope="pool1")
    net = slim.conv2d(net, 5, [3, 3], scope="conv2", activation_fn=slim.nn.relu6)
    net = slim.avg_pool2d(net, [2, 2], padding="SAME", scope="pool2")
    return net


def test_conv_stack_runs_in_nchw_with_one_transpose_each_side():
    with slim.Graph().as_default():
        y = _stack(_x())
        before, after, res = _layout([y])
    assert "transpose" not in before
    assert after["transpose"] == 2  # one after the input, one before the 4-D NHWC output
    for node in res.graph.nodes:
        if node.type in ("conv2d", "max_pool", "avg_pool", "bias_add"):
            assert node.attrs["data_format"] == "NCHW", node
        if node.type == "fused_batch_norm":
            assert node.attrs["axis"] == 1
    t_in, t_out = data_transposes(res.outputs)
    assert t_in.inputs[0].op.type == "placeholder" and tuple(t_in.attrs["perm"]) == (0, 3, 1, 2)
    assert res.outputs[0].op is t_out and tuple(t_out.attrs["perm"]) == (0, 2, 3, 1)


def test_2d_output_after_spatial_mean_needs_no_output_transpose():
    with slim.Graph().as_default():
        y = slim.reduce_mean(_stack(_x()), [1, 2])
        _, after, res = _layout([y])
    assert after["transpose"] == 1
    red = next(n for n in res.graph.nodes if n.type == "reduce_mean")
    assert tuple(red.attrs["axis"]) == (2, 3)


@pytest.mark.parametrize("keepdims", [True, False])
@pytest.mark.parametrize("axes", [[1, 2], [3], [-1], [0, 3], [1]])
def test_reductions_move_above_the_transpose(axes, keepdims):
    """The reduction reads the NCHW tensor itself (no transpose before it), over the NHWC axes mapped to NCHW,
    and a transpose follows only when the kept axes are not already in NHWC order."""
    with slim.Graph().as_default():
        y = slim.reduce_max(_stack(_x(), bn=False), axes, keepdims=keepdims)
        _, after, res = _layout([y])
    red = next(n for n in res.graph.nodes if n.type == "reduce_max")
    assert red.inputs[0].op.type != "transpose"
    assert red.inputs[0].op.type == "avg_pool" and red.inputs[0].op.attrs["data_format"] == "NCHW"
    to_nchw_axis = {0: 0, 1: 2, 2: 3, 3: 1}  # where NHWC axis a lives in NCHW
    assert tuple(red.attrs["axis"]) == tuple(sorted(to_nchw_axis[a % 4] for a in axes))
    kept = [a for a in range(4) if a not in {a % 4 for a in axes}]  # NHWC axes left after the reduction
    in_nchw_order = [to_nchw_axis[a] for a in kept] == sorted(to_nchw_axis[a] for a in kept)
    assert after["transpose"] == 1 + (keepdims or not in_nchw_order)  # the input's, and the output's if needed


def test_squeeze_moves_above_the_transpose():
    with slim.Graph().as_default():
        net = _stack(_x())  # [N, 2, 2, 5]
        net = slim.conv2d(net, 3, [2, 2], padding="VALID", activation_fn=None, scope="logits")
        y = slim.squeeze(net, [1, 2])
        _, after, _ = _layout([y])
    assert after["transpose"] == 1


def test_binary_ops_with_constants_sink_the_transpose():
    with slim.Graph().as_default():
        net = _stack(_x(), bn=False)
        net = net * slim.constant(np.arange(5, dtype=np.float32)) + 1.0
        y = slim.nn.relu(net - slim.constant(RNG.standard_normal((2, 2, 5)).astype(np.float32)))
        _, after, _ = _layout([y])
    assert after["transpose"] == 2


def test_nchw_graph_is_left_alone():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 3, 8, 6], name="x")
        with slim.arg_scope([slim.conv2d, slim.max_pool2d], data_format="NCHW"):
            net = slim.conv2d(x, 4, [3, 3])
            net = slim.max_pool2d(net, [2, 2])
        before, after, res = _layout([net], x=np.ascontiguousarray(np.transpose(X, (0, 3, 1, 2))))
    assert after == before and not res.reports[0].changes


def test_transpose_before_a_layout_sensitive_reader_stays():
    """softmax over the channels of a 4-D tensor is not layout-agnostic: the transpose stays before it."""
    with slim.Graph().as_default():
        net = _stack(_x(), bn=False)
        y = slim.nn.softmax(net)
        _, after, res = _layout([y])
    sm = next(n for n in res.graph.nodes if n.type == "softmax")
    assert sm.inputs[0].op.type == "transpose"
    assert tuple(sm.inputs[0].op.attrs["perm"]) == (0, 2, 3, 1)
    assert after["transpose"] == 2


def test_layout_reports_the_reader_it_could_not_move_through():
    """Bad input (issue): a pass that meets an op it cannot handle leaves it alone and says so in its report."""
    with slim.Graph().as_default():
        net = _stack(_x(), bn=False)
        y = slim.nn.softmax(net)
        _, _, res = _layout([y])
    rep = res.reports[0]
    assert any("Softmax" in s or "softmax" in s for s in rep.skipped), str(rep)


def test_flatten_keeps_nhwc_order_through_fully_connected():
    """The transpose reaching flatten is folded into the fc weights: same numbers, no transpose left."""
    with slim.Graph().as_default():
        net = _stack(_x())
        y = slim.fully_connected(slim.flatten(net), 7, scope="fc")
        _, after, res = _layout([y])
    assert after["transpose"] == 1
    flat = next(n for n in res.graph.nodes if n.type == "flatten")
    assert flat.inputs[0].op.type != "transpose"


def test_flatten_as_graph_output_keeps_its_transpose():
    with slim.Graph().as_default():
        net = _stack(_x())
        f = slim.flatten(net)
        y = slim.fully_connected(f, 7, scope="fc")
        _, _after, res = _layout([y, f])
    flat = [n for n in res.graph.nodes if n.type == "flatten"]
    assert all(n.inputs[0].op.type == "transpose" for n in flat if n.outputs[0] is res.outputs[1])


def test_two_fully_connected_readers_of_one_flatten():
    with slim.Graph().as_default():
        f = slim.flatten(_stack(_x()))
        a = slim.fully_connected(f, 3, scope="fa")
        b = slim.fully_connected(f, 4, scope="fb")
        _, after, _ = _layout([a, b])
    assert after["transpose"] == 1


def test_residual_add_cancels_its_transposes():
    """conv -> conv -> add(skip) in NHWC: the add runs in NCHW, one transpose in, one out."""
    with slim.Graph().as_default():
        net = slim.conv2d(_x(), 4, [3, 3], scope="conv1")
        branch = slim.conv2d(net, 4, [3, 3], scope="conv2", activation_fn=None)
        y = slim.nn.relu(net + branch)
        _, after, _ = _layout([y])
    assert after["transpose"] == 2


def test_residual_add_on_the_graph_input_settles():
    """x + conv(x): the add may run in either layout but no transpose pair may be left to cancel, and a
    second run must change nothing."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2, 8, 6, 3], name="x")
        y = x + slim.conv2d(x, 3, [1, 1], activation_fn=slim.nn.tanh, scope="conv")
        _, after, res = _layout([y])
    again = P.run(res.graph, ["layout_nchw"], res.outputs).reports[0]
    assert not again.changes, str(again)
    for node in res.graph.nodes:
        if node.type == "transpose" and node.inputs[0].op.type == "transpose":
            raise AssertionError(f"uncancelled transpose pair {node.inputs[0].op.name} -> {node.name}")
    assert after["transpose"] <= 2, after


def test_residual_on_input_exports_with_at_most_two_transposes():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [2, 8, 6, 3], name="x")
        y = x + slim.conv2d(x, 3, [1, 1], activation_fn=slim.nn.tanh, scope="conv")
        sess = new_session(g)
        _, opt, _, _ = export_pair([y], sess, [X])
    assert onnx_types(opt)["Transpose"] <= 2, onnx_types(opt)


def test_channel_concat_of_conv_branches_runs_in_nchw():
    """Inception-style block: two conv branches concatenated along the channels, then a conv. Every input to
    the concat is an NCHW conv output, so the concat can run in NCHW (axis 1) with no transpose around it:
    only the input and output transposes are unavoidable."""
    with slim.Graph().as_default():
        x = _x()
        a = slim.conv2d(x, 2, [1, 1], scope="branch_a")
        b = slim.conv2d(x, 3, [3, 3], scope="branch_b")
        y = slim.conv2d(slim.concat([a, b], 3), 4, [1, 1], scope="mix")
        _, after, res = _layout([y], names=("layout_nchw", "cse"))  # cse merges the two input transposes
    cat = next(n for n in res.graph.nodes if n.type == "concat")
    assert after["transpose"] == 2, [
        f"{n.name} <- {n.inputs[0].op.type}" for n in data_transposes(res.outputs)
    ]
    assert cat.attrs["axis"] in (1, -3)
