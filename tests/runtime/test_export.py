"""export_onnx: checker-valid models, scope names, dynamic batch, embedded weights, no training-only ops."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import slimir as slim
from slimir import errors


def _small_net(x, is_training=False):
    with slim.arg_scope([slim.conv2d, slim.fully_connected], activation_fn=slim.nn.relu,
                        weights_initializer=slim.truncated_normal_initializer(stddev=0.1)):
        net = slim.conv2d(x, 8, [3, 3], scope="conv1", normalizer_fn=slim.batch_norm,
                          normalizer_params={"is_training": is_training, "scale": True})
        net = slim.max_pool2d(net, [2, 2], scope="pool1")
        net = slim.conv2d(net, 16, [3, 3], stride=2, padding="VALID", scope="conv2")
        net = slim.avg_pool2d(net, [2, 2], padding="SAME", scope="pool2")
        net = slim.flatten(net, scope="flatten")
        net = slim.dropout(net, 0.5, is_training=is_training, scope="dropout")
        net = slim.fully_connected(net, 10, activation_fn=None, scope="logits")
    return net


def _run_onnx(path, feeds):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def test_export_matches_session_and_passes_full_checker(tmp_path):
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((3, 16, 16, 3)).astype(np.float32)
    with slim.Graph().as_default():
        slim.set_random_seed(1)
        x = slim.placeholder(slim.float32, [None, 16, 16, 3], name="images")
        logits = _small_net(x)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            mm = slim.get_variables("conv1/BatchNorm/moving_mean")[0]
            sess.set_variable_value(mm, rng.standard_normal(8).astype(np.float32))
            want = sess.run(logits, {x: xv})
            path = str(tmp_path / "small.onnx")
            slim.export_onnx(logits, path, session=sess)
            raw_path = str(tmp_path / "small_raw.onnx")
            slim.export_onnx(logits, raw_path, session=sess, optimize=False)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    got = _run_onnx(path, {"images": xv})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # scope names on nodes and initializers; dynamic batch
    names = {n.name for n in model.graph.node}
    assert any(n.startswith("conv1/Conv2D") for n in names)
    inits = {i.name for i in model.graph.initializer}
    assert {"conv1/weights", "conv2/weights", "conv2/biases", "logits/weights", "logits/biases"} <= inits
    # batch norm was folded into conv1 by the optimiser; as built, every variable keeps its initializer
    assert not {"conv1/BatchNorm/gamma", "conv1/BatchNorm/moving_mean"} & inits
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node}
    raw = onnx.load(raw_path)
    assert {"conv1/weights", "conv1/BatchNorm/gamma", "conv1/BatchNorm/beta", "conv1/BatchNorm/moving_mean",
            "conv1/BatchNorm/moving_variance", "logits/weights", "logits/biases"} <= {
                i.name for i in raw.graph.initializer}
    np.testing.assert_allclose(_run_onnx(raw_path, {"images": xv})[0], want, rtol=1e-5, atol=1e-5)
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch"
    np.testing.assert_allclose(_run_onnx(path, {"images": xv[:1]})[0], want[:1], rtol=1e-5, atol=1e-5)
    # inference graph: no random or training-only ops
    ops = {n.op_type for n in model.graph.node}
    assert not ops & {"Dropout", "RandomUniformLike", "RandomUniform", "RandomNormal", "ReduceMean"}


def test_export_without_session_embeds_initial_values(tmp_path):
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 3], name="x")
        y = slim.fully_connected(x, 2, activation_fn=None, scope="fc",
                                 weights_initializer=slim.constant_initializer([[1, 2], [3, 4], [5, 6]]),
                                 biases_initializer=slim.constant_initializer([0.5, -0.5]))
        path = str(tmp_path / "fc.onnx")
        slim.export_onnx({"scores": y}, path)
    out = _run_onnx(path, {"x": np.array([[1, 1, 1]], np.float32)})
    np.testing.assert_allclose(out[0], [[9.5, 11.5]])
    assert onnx.load(path).graph.output[0].name == "scores"


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_opset_is_configurable_and_ir_version_minimal(tmp_path, opset):
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 2], name="x")
        y = slim.reduce_mean(slim.conv2d(x, 4, [3, 3], scope="c"), [1, 2])
        path = str(tmp_path / f"m{opset}.onnx")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            xv = np.ones((2, 8, 8, 2), np.float32)
            want = sess.run(y, {x: xv})
            slim.export_onnx(y, path, session=sess, opset=opset)
    m = onnx.load(path)
    assert m.opset_import[0].version == opset
    assert m.ir_version == onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
    onnx.checker.check_model(m, full_check=True)
    np.testing.assert_allclose(_run_onnx(path, {"x": xv})[0], want, rtol=1e-5, atol=1e-6)


def test_explicit_inputs_cut_the_graph(tmp_path):
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        h = slim.fully_connected(x, 4, scope="h")
        y = slim.fully_connected(h, 2, activation_fn=None, scope="y")
        path = str(tmp_path / "head.onnx")
        slim.export_onnx(y, path, inputs=[h])
    m = onnx.load(path)
    assert [i.name for i in m.graph.input] == ["h/Relu"]
    assert "h/weights" not in {i.name for i in m.graph.initializer}


def test_export_writes_atomically_and_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "keep.onnx"
    path.write_bytes(b"old")
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        y = slim.fully_connected(x, 2, scope="fc")
        with slim.Session() as sess:  # not initialised: exporting from it must fail before writing
            with pytest.raises(errors.FailedPreconditionError):
                slim.export_onnx(y, str(path), session=sess)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.onnx"]


def test_export_rejects_tensors_of_different_graphs(tmp_path):
    g1, g2 = slim.Graph(), slim.Graph()
    with g1.as_default():
        a = slim.placeholder(slim.float32, [1], name="a") * 2.0
    with g2.as_default():
        b = slim.placeholder(slim.float32, [1], name="b") * 2.0
    with pytest.raises(errors.GraphError):
        slim.export_onnx([a, b], str(tmp_path / "x.onnx"))


@pytest.mark.parametrize("target", ["onnxruntime", "onnxruntime-native"])
def test_onnxruntime_targets_match_the_portable_export(tmp_path, target):
    """target='onnxruntime' emits com.microsoft.FusedConv; 'onnxruntime-native' is ORT's own optimised graph
    for this CPU. Both compute what the portable export computes and pass the checker."""
    from slimir.nets import cifarnet

    xv = np.random.default_rng(3).standard_normal((2, 32, 32, 3)).astype(np.float32)
    with slim.Graph().as_default():
        slim.set_random_seed(5)
        x = slim.placeholder(slim.float32, [None, 32, 32, 3], name="x")
        logits, _ = cifarnet.cifarnet(x, is_training=False)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            want = sess.run(logits, {x: xv})
            path = str(tmp_path / f"{target}.onnx")
            slim.export_onnx(logits, path, session=sess, target=target)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    domains = {n.domain for n in m.graph.node}
    assert ("com.microsoft" in domains) if target == "onnxruntime" else ("com.microsoft.nchwc" in domains or
                                                                            "com.microsoft" in domains)
    np.testing.assert_allclose(_run_onnx(path, {"x": xv})[0], want, rtol=1e-4, atol=1e-5)


def test_unknown_target_is_an_error(tmp_path):
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        with pytest.raises(errors.SlimirError, match="target"):
            slim.export_onnx(x * 2.0, str(tmp_path / "t.onnx"), target="tensorrt")
