"""The CUDA path: device-resident session state, device selection and node placement.

The first part runs everywhere: the device-state code path with OrtValues on the 'cpu' device (the same
code that keeps them on 'cuda'), the CPU fallback and the placement check. The second part needs
onnxruntime-gpu and a GPU (skipped otherwise): CUDA against CPU for inference and 10 training steps of
lenet and cifarnet (rtol 1e-3), state kept on the GPU, and no node of the train step falling back to CPU.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import onnxruntime as ort
import pytest
from slimir.runtime import session as S

import slimir as slim
from slimir.errors import NumericsError, SlimirError
from slimir.nets import cifarnet, lenet


# CUDA against CPU at rtol 1e-3 needs full float32 math: no TF32 in cuDNN (this variable must be set before
# CUDA starts) nor in ORT's MatMul/Gemm (use_tf32=0 below); TF32 is faster and the default otherwise
os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")
CUDA_FP32 = [(S.CUDA, {"use_tf32": 0}), S.CPU]


def _cuda_usable() -> bool:
    if S.CUDA not in ort.get_available_providers():
        return False
    try:  # onnxruntime-gpu lists the provider even without a GPU; a session tells
        from onnx import TensorProto, helper

        g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
        m.ir_version = 8
        s = ort.InferenceSession(m.SerializeToString(), providers=[S.CUDA])
        return S.CUDA in s.get_providers()
    except Exception:
        return False


HAS_CUDA = _cuda_usable()
needs_gpu = pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and an NVIDIA GPU "
                                                    "(CUDAExecutionProvider usable); this machine has none")


def _net(kind: str, optimizer=None):
    g = slim.Graph()
    with g.as_default():
        g.seed = 5
        size, chans = (28, 1) if kind == "lenet" else (32, 3)
        images = slim.placeholder(slim.float32, [None, size, size, chans], name="images")
        labels = slim.placeholder(slim.int64, [None], name="labels")
        if kind == "lenet":
            logits, _ = lenet.lenet(images, num_classes=10, is_training=False)
        else:
            with slim.arg_scope(cifarnet.cifarnet_arg_scope()):
                logits, _ = cifarnet.cifarnet(images, num_classes=10, is_training=False)
        slim.losses.sparse_softmax_cross_entropy(logits, labels)
        loss = slim.losses.get_total_loss()
        train_op = slim.learning.create_train_op(loss, optimizer or slim.train.MomentumOptimizer(0.01, 0.9))
    return g, images, labels, logits, train_op


def _batches(kind: str, n: int, batch: int = 8):
    size, chans = (28, 1) if kind == "lenet" else (32, 3)
    rng = np.random.default_rng(11)
    return [(rng.normal(0, 1, (batch, size, size, chans)).astype(np.float32),
             rng.integers(0, 10, batch).astype(np.int64)) for _ in range(n)]


def _train(kind: str, steps: int, **session_kwargs):
    g, images, labels, logits, train_op = _net(kind)
    sess = slim.Session(graph=g, **session_kwargs)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        losses = [float(sess.run(train_op, {images: x, labels: y})) for x, y in _batches(kind, steps)]
        final = {v.op.name: sess.variable_value(v).copy() for v in slim.get_variables()}
    return losses, final, sess, g


# ------------------------------------------------------------------------------------------ everywhere


def test_device_state_on_cpu_trains_bitwise_like_host_state():
    host, host_vars, _, _ = _train("lenet", 4)
    dev, dev_vars, sess, g = _train("lenet", 4, state_device="cpu")
    assert dev == host and len(set(host)) == 4  # it trained, on the same numbers
    for k, v in host_vars.items():
        np.testing.assert_array_equal(dev_vars[k], v)
    w = g.get_tensor_by_name("LeNet/conv1/weights:0")
    assert isinstance(sess._state[w], ort.OrtValue) and sess._state[w].device_name().lower() == "cpu"


def test_device_state_two_buffers_per_variable_swapped_each_step():
    g, images, labels, logits, train_op = _net("lenet")
    sess = slim.Session(graph=g, state_device="cpu")
    (x, y), = _batches("lenet", 1)
    w = g.get_tensor_by_name("LeNet/fc4/weights:0")
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        sess.run(train_op, {images: x, labels: y})
        a = sess._state[w]
        sess.run(train_op, {images: x, labels: y})
        b = sess._state[w]
        assert b is not a and sess._spare[w] is a  # the old value is the next step's output buffer
        sess.run(train_op, {images: x, labels: y})
        assert sess._state[w] is a and sess._spare[w] is b  # no allocation per step
        v = sess.variable_value(w)  # a host array (for 'cuda' a copy from the GPU)
        assert isinstance(v, np.ndarray) and v.shape == (1024, 10) and np.abs(v).sum() > 0


def test_device_state_set_value_checkpoint_and_failed_check_keep_state(tmp_path):
    g = slim.Graph()
    with g.as_default():
        x = slim.placeholder(slim.float32, [3], name="x")
        v = slim.variable("v", initializer=slim.constant_initializer(1.0), shape=[3])
        loss = slim.reduce_sum(v * x)
        op = slim.learning.create_train_op(loss, slim.train.GradientDescentOptimizer(0.5))
        sess = slim.Session(graph=g, state_device="cpu")
        sess.run(slim.global_variables_initializer())
        sess.set_variable_value(v, np.array([1.0, 2.0, 3.0], np.float32))
        assert float(sess.run(op, {x: np.array([1, 1, 2], np.float32)})) == 9.0
        np.testing.assert_array_equal(sess.variable_value(v), [0.5, 1.5, 2.0])
        with pytest.raises(NumericsError):
            sess.run(op, {x: np.array([np.nan, 1, 1], np.float32)})
        np.testing.assert_array_equal(sess.variable_value(v), [0.5, 1.5, 2.0])
        saver = slim.train.Saver()
        path = saver.save(sess, str(tmp_path / "m.ckpt"))
        sess2 = slim.Session(graph=g, state_device="cpu")
        saver.restore(sess2, path)
        np.testing.assert_array_equal(sess2.variable_value(v), [0.5, 1.5, 2.0])
        assert isinstance(sess2._state[v], ort.OrtValue)


def test_device_selection_and_fallback():
    assert slim.Session(device="cpu").providers == [S.CPU] and slim.Session(device="cpu").state_device is None
    with pytest.raises(SlimirError, match="unknown device"):
        slim.Session(device="tpu")
    with pytest.raises(SlimirError, match="unknown state_device"):
        slim.Session(state_device="gpu0")
    if HAS_CUDA:
        s = slim.Session(device="cuda")
        assert s.providers[0] == S.CUDA and s.state_device == "cuda"
        return
    if S.CUDA not in ort.get_available_providers():
        with pytest.warns(UserWarning, match="install onnxruntime-gpu instead of onnxruntime"):
            s = slim.Session(device="cuda")
        assert s.providers == [S.CPU] and s.state_device is None
        with pytest.warns(UserWarning, match="install onnxruntime-gpu instead of onnxruntime"):
            s = slim.Session(providers=CUDA_FP32)
        assert s.providers == [S.CPU] and s.state_device is None
    with pytest.raises(SlimirError, match="state_device='cuda' needs the CUDAExecutionProvider"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slim.Session(device="cuda", state_device="cuda")


def test_node_placement_of_a_train_step_and_the_fallback_filter():
    g, images, labels, logits, train_op = _net("lenet")
    sess = slim.Session(graph=g)
    (x, y), = _batches("lenet", 1)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        before = sess.variable_value(g.get_tensor_by_name("LeNet/conv1/weights:0")).copy()
        placement = S.node_placement(sess, train_op, {images: x, labels: y})
        np.testing.assert_array_equal(sess.variable_value(g.get_tensor_by_name("LeNet/conv1/weights:0")), before)
    ops = {p[1] for p in placement}
    assert len(placement) > 100 and any("Conv" in o for o in ops) and "ConvTranspose" in ops
    assert any(p[0].startswith("LeNet/conv1/") for p in placement)  # scope names survive to the profile
    assert {p[2] for p in placement} == {S.CPU}
    assert S.cpu_fallbacks(placement, S.CPU) == []
    # for a CUDA run the same list would flag every float-valued node left on the CPU ...
    flagged = S.cpu_fallbacks(placement, S.CUDA)
    assert flagged and all({"float", "double"} & set(p[3]) for p in flagged)  # double: accurate sums' stage
    # ... but not the integer shape computations ORT keeps on the CPU on purpose
    synthetic = [("a/Shape", "Shape", S.CPU, ["int64"]), ("a/Conv", "Conv", S.CUDA, ["float"]),
                 ("a/Relu", "Relu", S.CPU, ["float"])]
    assert S.cpu_fallbacks(synthetic) == [("a/Relu", "Relu", S.CPU, ["float"])]


def test_training_batch_norm_is_primitive_ops_in_the_train_step():
    """Training-mode batch norm never reaches a provider as BatchNormalization (CUDA's kernel has no
    training mode with batch statistics in every ORT build): it is lowered to primitive ops."""
    from slimir.runtime.lowering import lower

    g = slim.Graph()
    with g.as_default():
        x = slim.placeholder(slim.float32, [None, 6, 6, 3], name="x")
        net = slim.conv2d(x, 4, [3, 3], normalizer_fn=slim.batch_norm, normalizer_params={"is_training": True})
        loss = slim.reduce_mean(slim.square(net))
        op = slim.learning.create_train_op(loss, slim.train.GradientDescentOptimizer(0.1))
        low = lower(g, [op], [x])
        assert not any(n.op_type == "BatchNormalization" for n in low.model.graph.node)
        sess = slim.Session(graph=g, state_device="cpu")
        sess.run(slim.global_variables_initializer())
        a = np.random.default_rng(0).normal(2, 3, (4, 6, 6, 3)).astype(np.float32)
        l0 = float(sess.run(op, {x: a}))
        l1 = float(sess.run(op, {x: a}))
        assert np.isfinite(l0) and l1 < l0


# ------------------------------------------------------------------------------------------ GPU


@needs_gpu
@pytest.mark.parametrize("kind", ["lenet", "cifarnet"])
def test_cuda_inference_matches_cpu(kind):
    g, images, labels, logits, _ = _net(kind)
    x = _batches(kind, 1, batch=16)[0][0]
    cpu = slim.Session(graph=g)
    with g.as_default():
        cpu.run(slim.global_variables_initializer())
        want = cpu.run(logits, {images: x})
        gpu = slim.Session(graph=g, providers=CUDA_FP32)
        for v in slim.get_variables():
            gpu.set_variable_value(v, cpu.variable_value(v))
        got = gpu.run(logits, {images: x})
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * float(np.abs(want).max()))


@needs_gpu
@pytest.mark.parametrize("kind", ["lenet", "cifarnet"])
def test_cuda_ten_training_steps_match_cpu(kind):
    cpu_losses, cpu_vars, _, _ = _train(kind, 10)
    gpu_losses, gpu_vars, sess, g = _train(kind, 10, providers=CUDA_FP32)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-3)
    w = g.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES)
    assert sess.state_device == "cuda"
    assert all(sess._state[v].device_name().lower() == "cuda" for v in w)  # parameters stayed on the GPU
    for k, v in cpu_vars.items():
        np.testing.assert_allclose(gpu_vars[k], v, rtol=1e-3, atol=1e-4)


@needs_gpu
@pytest.mark.parametrize("kind", ["lenet", "cifarnet"])
def test_cuda_train_step_has_no_cpu_fallback(kind):
    g, images, labels, logits, train_op = _net(kind)
    sess = slim.Session(graph=g, providers=CUDA_FP32)
    (x, y), = _batches(kind, 1)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        placement = S.node_placement(sess, train_op, {images: x, labels: y})
    assert placement
    assert S.cpu_fallbacks(placement, S.CUDA) == []


@pytest.mark.parametrize("kind", ["lenet", "cifarnet"])
def test_cuda_compatible_rewrites_maxunpool_with_the_same_values(kind):
    """MaxUnpool has no CUDA kernel: CUDA sessions compile the max-pool gradient as ScatterElements."""
    import onnx

    g, images, labels, logits, train_op = _net(kind)
    sess = slim.Session(graph=g)
    (x, y), = _batches(kind, 1)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        sess.run(train_op, {images: x, labels: y})
    comp = next(c for c in sess._cache.values() if c.sess is not None)
    model = comp.lowered.model
    assert any(n.op_type == "MaxUnpool" for n in model.graph.node)
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    assert S.cuda_compatible(rewritten) == 2  # the two pools of both nets
    assert not any(n.op_type in ("MaxUnpool", "CastLike") for n in rewritten.graph.node)
    onnx.checker.check_model(rewritten, full_check=True)
    feeds = {}
    for i, t in zip(comp.sess.get_inputs(), comp.lowered.feeds + comp.lowered.variables):
        feeds[i.name] = {images: x, labels: y}.get(t) if t in (images, labels) else sess.variable_value(t)
    want = comp.sess.run(None, feeds)
    got = ort.InferenceSession(rewritten.SerializeToString(), providers=[S.CPU]).run(None, feeds)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_providers_with_options_pick_the_state_device():
    assert S.provider_names([(S.CUDA, {"use_tf32": 0}), S.CPU]) == [S.CUDA, S.CPU]
    assert S._state_device([(S.CUDA, {"use_tf32": 0}), S.CPU], None) == "cuda"
    assert S._state_device([S.CPU], None) is None and S._state_device([S.CPU], "cpu") == "cpu"
