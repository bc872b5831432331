"""Layout acceptance (issue 3): a plain conv net built NHWC and exported with optimize=True has at most one
Transpose right after the input and one before an output, none at all with input_format='NCHW' when the output
is 2-D; and flatten keeps TF-Slim's NHWC order (the optimised export equals slim.Session on the same weights)."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import export_pair, new_session, onnx_data_transposes, run_onnx

import slimir as slim
from slimir.nets import cifarnet, lenet, vgg
from slimir.runtime.export import build_model

RNG = np.random.default_rng(8)


def _check_transposes(model, two_d_output: bool, nchw_input: bool, data_inputs=None):
    """Transposes on the data path: only right after an input or right before an output."""
    found = onnx_data_transposes(model, data_inputs)
    names = [n.name for n, _, _ in found]
    for n, after_input, before_output in found:
        assert after_input or before_output, f"transpose {n.name} in the middle of the graph: {names}"
    after_in = [n for n, a, _ in found if a]
    before_out = [n for n, _, b in found if b]
    assert len(after_in) <= len(model.graph.input) and len(before_out) <= len(model.graph.output), names
    if nchw_input:
        assert not after_in, names
    if two_d_output:
        assert not before_out, names
    return found


def _conv_stack(x, df="NHWC"):
    with slim.arg_scope(
        [slim.conv2d],
        normalizer_fn=slim.batch_norm,
        normalizer_params={"is_training": False, "scale": True, "data_format": df},
    ):
        net = slim.conv2d(x, 8, [3, 3], scope="conv1")
        net = slim.max_pool2d(net, [2, 2], scope="pool1")
        net = slim.conv2d(net, 12, [3, 3], scope="conv2")
        net = slim.avg_pool2d(net, [2, 2], scope="pool2")
        net = slim.conv2d(net, 16, [3, 3], stride=2, scope="conv3")
    return net  # [N, 2, 2, 16] for a 16x16 input


def _head(net, head):
    if head == "conv_squeeze":
        net = slim.conv2d(net, 10, [2, 2], padding="VALID", activation_fn=None, scope="logits")
        return slim.squeeze(net, [1, 2], name="logits/squeezed")
    if head == "flatten_fc":
        net = slim.flatten(net)
        net = slim.fully_connected(net, 20, scope="fc1")
        return slim.fully_connected(net, 10, activation_fn=None, scope="logits")
    if head == "mean":
        return slim.reduce_mean(net, [1, 2], name="global_pool")
    return net  # 4-D feature map


@pytest.mark.parametrize("head", ["conv_squeeze", "flatten_fc", "mean", "none"])
def test_plain_conv_net_has_transposes_only_at_the_edges(head):
    xv = RNG.standard_normal((3, 16, 16, 3)).astype(np.float32)
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 16, 16, 3], name="images")
        y = _head(_conv_stack(x), head)
        sess = new_session(g, seed=11)
        _, opt, _, got_nhwc = export_pair([y], sess, [xv])
        two_d = len(y.shape) == 2
        found = _check_transposes(opt, two_d, nchw_input=False)
        assert len(found) == (1 if two_d else 2)
        _, opt_nchw, _, got_nchw = export_pair([y], sess, [xv], input_format="NCHW")
        _check_transposes(opt_nchw, two_d, nchw_input=True)
        if two_d:
            assert not onnx_data_transposes(opt_nchw)
    np.testing.assert_allclose(got_nchw[0], got_nhwc[0], rtol=1e-5, atol=1e-5)


def test_nchw_input_runs_on_transposed_images_directly():
    xv = RNG.standard_normal((2, 16, 16, 3)).astype(np.float32)
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 16, 16, 3], name="images")
        y = _head(_conv_stack(x), "flatten_fc")
        sess = new_session(g, seed=12)
        want = sess.run(y, {x: xv})
        model = build_model([y], session=sess, input_format="NCHW")
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3, 16, 16]
    got = run_onnx(model, {"images": np.ascontiguousarray(np.transpose(xv, (0, 3, 1, 2)))})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["lenet", "cifarnet"])
def test_slim_nets_export_with_edge_transposes_only(name):
    fn, size, ch = {"lenet": (lenet.lenet, 28, 1), "cifarnet": (cifarnet.cifarnet, 32, 3)}[name]
    xv = RNG.standard_normal((2, size, size, ch)).astype(np.float32)
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, size, size, ch], name="images")
        logits, _ = fn(x, num_classes=10, is_training=False)
        sess = new_session(g, seed=13, randomize=False)
        want = sess.run(logits, {x: xv})
        _, opt, _, got = export_pair([logits], sess, [xv])
        assert len(_check_transposes(opt, True, nchw_input=False)) == 1
        _, opt_nchw, _, got_nchw = export_pair([logits], sess, [xv], input_format="NCHW")
        assert not onnx_data_transposes(opt_nchw)
    np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_nchw[0], want, rtol=1e-4, atol=1e-5)


def test_vgg_a_small_has_edge_transposes_only():
    """vgg_a at 32x32 (fc6 as a SAME conv over the 1x1 map); weights left as inputs so nothing big is built."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 32, 32, 3], name="images")
        logits, _ = vgg.vgg_a(x, num_classes=10, is_training=False, fc_conv_padding="SAME")
        model = build_model([logits], weights=False)
        model_nchw = build_model([logits], weights=False, input_format="NCHW")
    assert len(_check_transposes(model, True, nchw_input=False, data_inputs=["images"])) == 1
    assert not onnx_data_transposes(model_nchw, ["images"])
    import onnx

    onnx.checker.check_model(model, full_check=True)


def test_flatten_order_is_nhwc_like_tf_slim():
    """conv -> flatten -> fully_connected: the optimised export equals slim.Session on the same weights, and
    that differs from what an NCHW-order flatten would give (so this test can tell them apart)."""
    xv = RNG.standard_normal((2, 6, 5, 3)).astype(np.float32)
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 6, 5, 3], name="images")
        c = slim.conv2d(x, 4, [3, 3], scope="conv")
        y = slim.fully_connected(slim.flatten(c), 7, activation_fn=None, scope="fc")
        sess = new_session(g, seed=14)
        want, feat = sess.run([y, c], {x: xv})
        w = sess.variable_value(slim.get_variables("fc/weights")[0])
        b = sess.variable_value(slim.get_variables("fc/biases")[0])
        got = run_onnx(build_model([y], session=sess, optimize=True), {"images": xv})[0]
        got_nchw_in = run_onnx(
            build_model([y], session=sess, optimize=True, input_format="NCHW"),
            {"images": np.ascontiguousarray(np.transpose(xv, (0, 3, 1, 2)))},
        )[0]
    np.testing.assert_allclose(feat.reshape(2, -1) @ w + b, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_nchw_in, want, rtol=1e-4, atol=1e-5)
    wrong = np.transpose(feat, (0, 3, 1, 2)).reshape(2, -1) @ w + b
    assert not np.allclose(wrong, want, rtol=1e-3, atol=1e-3)
