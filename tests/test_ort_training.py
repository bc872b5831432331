"""slimir.runtime.ort_training: the forward + loss model handed to onnxruntime-training (checked here on the
stock onnxruntime), the optimiser and name mappings, and the cross-check against the built-in backend, which
runs in the ort-training profile (scripts/setup-ort-training.sh) and is skipped when that profile is absent."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from slimir.runtime import ort_training

import slimir as slim
from slimir.errors import InvalidArgumentError, SlimirError
from slimir.nets import lenet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lenet(is_training=False, weight_decay=1e-4):
    g = slim.Graph()
    with g.as_default():
        g.seed = 1234
        images = slim.placeholder(slim.float32, [None, 28, 28, 1], name="images")
        labels = slim.placeholder(slim.int64, [None], name="labels")
        with slim.arg_scope(lenet.lenet_arg_scope(weight_decay=weight_decay)):
            logits, _ = lenet.lenet(images, num_classes=10, is_training=is_training)
        slim.losses.sparse_softmax_cross_entropy(logits, labels)
        total = slim.losses.get_total_loss()
    return g, images, labels, logits, total


def _bn_net():
    g = slim.Graph()
    with g.as_default():
        g.seed = 7
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        y = slim.placeholder(slim.int64, [None], name="y")
        net = slim.conv2d(x, 4, [3, 3], normalizer_fn=slim.batch_norm,
                          normalizer_params={"is_training": True, "decay": 0.9, "scale": True}, scope="conv")
        logits = slim.fully_connected(slim.flatten(net), 3, activation_fn=None, scope="logits")
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        total = slim.losses.get_total_loss()
    return g, x, y, total


def _batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)


# ------------------------------------------------------------------------------------------ the exported model


def test_export_forward_lenet_structure_and_loss_value():
    g, images, labels, logits, total = _lenet()
    sess = slim.Session(graph=g)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
    fwd = ort_training.export_forward(total, session=sess, extra_outputs={"logits": logits})
    m = fwd.model
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 8 and m.ir_version <= ort_training.MAX_IR_VERSION
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 18)]
    assert sorted(fwd.input_names) == ["images", "labels"] and {i.name for i in m.graph.input} == {"images", "labels"}
    assert [o.name for o in m.graph.output] == ["loss", "logits"]
    trainable = [v.op.name for v in g.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES)]
    assert sorted(fwd.requires_grad) == sorted(trainable) and len(trainable) == 8
    assert fwd.frozen_params == [] and fwd.stat_outputs == {}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    for v in g.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES):  # initializers under the scope names
        np.testing.assert_array_equal(inits[v.op.name], sess.variable_value(v))
    # ORT has no gradient for Sum and mis-shapes a scalar Where's gradient: neither is left
    assert not any(n.op_type == "Sum" for n in m.graph.node)
    x, y = _batch()
    got_loss, got_logits = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        ["loss", "logits"], {"images": x, "labels": y})
    want_loss, want_logits = sess.run([total, logits], {images: x, labels: y})
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5)
    np.testing.assert_allclose(got_logits, want_logits, rtol=1e-4, atol=1e-5)
    assert got_loss.shape == ()


def test_export_forward_takes_the_loss_of_a_train_op_and_initial_values_without_session():
    g, images, labels, logits, total = _lenet()
    with g.as_default():
        train_op = slim.learning.create_train_op(total, slim.train.GradientDescentOptimizer(0.1))
    fwd = ort_training.export_forward(train_op)
    # the update and global step are ORT's business: only the forward's variables are parameters
    assert sorted(fwd.variables) == sorted(v.op.name for v in g.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES))
    sess = slim.Session(graph=g)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
    x, y = _batch(seed=1)
    got = ort.InferenceSession(fwd.model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        ["loss"], {"images": x, "labels": y})[0]
    np.testing.assert_allclose(got, sess.run(total, {images: x, labels: y}), rtol=1e-5)


def test_export_forward_batch_norm_moving_statistics_are_frozen_outputs():
    g, x, y, total = _bn_net()
    sess = slim.Session(graph=g)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
    fwd = ort_training.export_forward(total, session=sess)
    assert sorted(fwd.frozen_params) == ["conv/BatchNorm/moving_mean", "conv/BatchNorm/moving_variance"]
    assert "conv/BatchNorm/gamma" in fwd.requires_grad and "conv/BatchNorm/beta" in fwd.requires_grad
    assert fwd.stat_outputs == {"conv/BatchNorm/moving_mean:new_value": "conv/BatchNorm/moving_mean",
                                "conv/BatchNorm/moving_variance:new_value": "conv/BatchNorm/moving_variance"}
    # training-mode batch norm is primitive ops, never BatchNormalization (ORT's eval model flips that node)
    assert not any(n.op_type == "BatchNormalization" for n in fwd.model.graph.node)
    rng = np.random.default_rng(2)
    a, b = rng.normal(1, 2, (8, 8, 8, 3)).astype(np.float32), rng.integers(0, 3, 8)
    outs = ort.InferenceSession(fwd.model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": a, "y": b})
    named = dict(zip([o.name for o in fwd.model.graph.output], outs))
    with g.as_default():
        updates = g.get_collection(slim.GraphKeys.UPDATE_OPS)
        want = sess.run([total] + updates, {x: a, y: b})
    np.testing.assert_allclose(named["loss"], want[0], rtol=1e-5)
    np.testing.assert_allclose(named["conv/BatchNorm/moving_mean:new_value"], want[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(named["conv/BatchNorm/moving_variance:new_value"], want[2], rtol=1e-5)


def test_export_forward_variables_to_train_freezes_the_rest():
    g, images, labels, logits, total = _lenet()
    with g.as_default():
        only = slim.get_variables("LeNet/fc4")
    fwd = ort_training.export_forward(total, variables_to_train=only)
    assert sorted(fwd.requires_grad) == ["LeNet/fc4/biases", "LeNet/fc4/weights"]
    assert len(fwd.frozen_params) == 6 and "LeNet/conv1/weights" in fwd.frozen_params


def test_scalar_where_rewrite_keeps_values():
    a = onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [])
    c = onnx.helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, [])
    out = onnx.helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [])
    zero = onnx.numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    node = onnx.helper.make_node("Where", ["c", "zero", "a"], ["out"], name="w")
    s = onnx.helper.make_node("Sum", ["out", "a", "a"], ["total"], name="s")
    total = onnx.helper.make_tensor_value_info("total", onnx.TensorProto.FLOAT, [])
    m = onnx.helper.make_model(onnx.helper.make_graph([node, s], "g", [a, c], [out, total], [zero]),
                               opset_imports=[onnx.helper.make_opsetid("", 18)])
    m.ir_version = 8
    assert ort_training._rank1_scalar_where(m) == 1 and ort_training._sum_as_adds(m) == 1
    onnx.checker.check_model(m, full_check=True)
    assert [n.op_type for n in m.graph.node] == ["Reshape", "Reshape", "Reshape", "Where", "Reshape", "Add", "Add"]
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for cond, want in ((True, 0.0), (False, 2.5)):
        o, t = sess.run(None, {"a": np.array(2.5, np.float32), "c": np.array(cond)})
        assert o.shape == () and float(o) == want and float(t) == want + 5.0


def test_stamp_ir_version():
    g = onnx.helper.make_graph([], "g", [], [])
    m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 18)])
    m.ir_version = 12  # what a recent onnx writes by default; ORT 1.19.2 reads <= 10
    assert ort_training.stamp_ir_version(m).ir_version == 8
    m21 = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 21)])
    assert ort_training.stamp_ir_version(m21).ir_version == 10
    m22 = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 22)])
    with pytest.raises(InvalidArgumentError, match="opsets <= 21"):
        ort_training.stamp_ir_version(m22)


def test_export_forward_errors():
    g, images, labels, logits, total = _lenet()
    with pytest.raises(InvalidArgumentError, match="floating-point scalar"):
        ort_training.export_forward(logits)
    with pytest.raises(InvalidArgumentError, match="opsets <= 21"):
        ort_training.export_forward(total, opset=22)
    with pytest.raises(InvalidArgumentError, match="unknown builtin_loss"):
        ort_training.export_forward(logits, builtin_loss="HingeLoss")
    with pytest.raises(InvalidArgumentError, match="must be a tensor"):
        ort_training.export_forward("total_loss")


# ------------------------------------------------------------------------------------------ mappings


def test_optimizer_spec_maps_slimir_optimizers_onto_ort():
    spec = ort_training.optimizer_spec(slim.train.GradientDescentOptimizer(0.25))
    assert (spec.kind, spec.learning_rate) == ("SGD", 0.25)
    spec = ort_training.optimizer_spec(slim.train.AdamOptimizer(0.01, beta1=0.8, beta2=0.99, epsilon=1e-7))
    assert (spec.kind, spec.learning_rate, spec.betas, spec.eps, spec.weight_decay) == \
        ("AdamW", 0.01, (0.8, 0.99), 1e-7, 0.0)
    # slimir (TF contrib) decays by weight_decay per step; ORT by lr * weight_decay
    spec = ort_training.optimizer_spec(slim.train.AdamWOptimizer(weight_decay=1e-5, learning_rate=1e-3))
    assert spec.kind == "AdamW" and spec.weight_decay == pytest.approx(1e-2)
    with pytest.raises(InvalidArgumentError, match="SGD and AdamW only; MomentumOptimizer"):
        ort_training.optimizer_spec(slim.train.MomentumOptimizer(0.1, 0.9))
    with slim.Graph().as_default():
        step = slim.train.get_or_create_global_step()
        lr = slim.train.exponential_decay(0.1, step, 10, 0.5)
        with pytest.raises(InvalidArgumentError, match="learning_rate is a tensor"):
            ort_training.optimizer_spec(slim.train.GradientDescentOptimizer(lr))


def test_names_round_trip():
    for name in ("LeNet/conv1/weights", "vgg_16/fc8/biases", "conv/BatchNorm/moving_mean", "a.b/c_d"):
        assert ort_training.slimir_name(ort_training.ort_name(name)) == name
    assert ort_training.ort_name("LeNet/fc3/weights:0") == "LeNet/fc3/weights"


def test_without_the_profile_a_clear_error():
    if os.path.isdir(os.path.join(os.path.dirname(ort.__file__), "training", "api")):
        pytest.skip("this environment has onnxruntime-training")
    with pytest.raises(ort_training.OrtTrainingUnavailableError, match="setup-ort-training.sh"):
        ort_training.import_ort_training()
    g, images, labels, logits, total = _lenet()
    with g.as_default():
        opt = slim.train.GradientDescentOptimizer(0.1)
        train_op = slim.learning.create_train_op(total, opt)
        with pytest.raises(SlimirError, match="setup-ort-training.sh"):
            slim.learning.train(train_op, None, number_of_steps=1, backend="ort-training", optimizer=opt,
                                feed_fn=lambda: {images: _batch()[0], labels: _batch()[1]})
        with pytest.raises(InvalidArgumentError, match="needs optimizer="):
            slim.learning.train(train_op, None, number_of_steps=1, backend="ort-training")
        with pytest.raises(InvalidArgumentError, match="unknown backend"):
            slim.learning.train(train_op, None, number_of_steps=1, backend="tensorflow")


# ------------------------------------------------------------------------------------------ the cross-check


def _profile_python():
    env = os.environ.get("SLIMIR_ORT_TRAINING_PYTHON")
    if env:
        return env
    p = os.path.join(ROOT, ".venv-ort-training", "bin", "python")
    return p if os.path.exists(p) else None


@pytest.fixture(scope="module")
def crosscheck(tmp_path_factory):
    py = _profile_python()
    if py is None:
        pytest.skip("the ort-training profile is absent: run scripts/setup-ort-training.sh (creates "
                    ".venv-ort-training with onnxruntime-training-cpu==1.19.2) or set SLIMIR_ORT_TRAINING_PYTHON")
    out = tmp_path_factory.mktemp("ort_training")
    r = subprocess.run([py, os.path.join(ROOT, "tests", "ort_training_crosscheck.py"), str(out)], check=False,
                       capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("opt", ["sgd", "adamw"])
def test_crosscheck_lenet_loss_trajectories_agree(crosscheck, opt):
    builtin, ortt = crosscheck[f"{opt}_builtin"], crosscheck[f"{opt}_ort"]
    assert len(builtin) == len(ortt) == 20
    np.testing.assert_allclose(ortt, builtin, rtol=1e-3)
    assert builtin[-1] < 0.5 * builtin[0]  # it trained
    assert crosscheck["onnxruntime"] == "1.19.2" and crosscheck["torch_imported"] is False


def test_crosscheck_artifacts_and_checkpoint_round_trip(crosscheck):
    assert crosscheck["ir_versions"] == {"training_model.onnx": 8, "eval_model.onnx": 8, "optimizer_model.onnx": 8}
    assert crosscheck["optimizer_spec"]["kind"] == "AdamW"
    assert crosscheck["optimizer_spec"]["weight_decay"] == pytest.approx(1e-2)
    rt = crosscheck["roundtrip"]
    names = ["LeNet/conv1/biases", "LeNet/conv1/weights", "LeNet/conv2/biases", "LeNet/conv2/weights",
             "LeNet/fc3/biases", "LeNet/fc3/weights", "LeNet/fc4/biases", "LeNet/fc4/weights"]
    assert rt["names"] == names and rt["file_names"] == names
    assert set(names) <= {n for n, _ in rt["ckpt_names"]}  # the slimir checkpoint keeps the scope names
    assert rt["max_diff_ckpt"] == 0.0 and rt["max_diff_file"] == 0.0 and rt["from_session_diff"] == 0.0
    assert rt["global_step_session"] == 20
    assert rt["inference_inputs"] == ["images"]  # the deployable model needs no labels
    assert rt["inference_max_diff"] <= 1e-4 * max(1.0, rt["inference_scale"])


def test_crosscheck_batch_norm_statistics_written_back(crosscheck):
    bn = crosscheck["batchnorm"]
    np.testing.assert_allclose(bn["ort"], bn["builtin"], rtol=1e-3)
    for k, want in bn["stats_builtin"].items():
        np.testing.assert_allclose(bn["stats_ort"][k], want, rtol=1e-3, atol=1e-5)
        assert not np.allclose(want, bn["stats_initial"][k])
    assert sorted(bn["frozen"]) == ["conv/BatchNorm/moving_mean", "conv/BatchNorm/moving_variance"]
    assert bn["eval_batchnorm_nodes"] == [] and np.isfinite(bn["eval_loss"])


def test_crosscheck_learning_train_backend_resumes(crosscheck):
    lt = crosscheck["learning_train"]
    assert (lt["ckpt_6"], lt["step_6"], lt["ckpt_10"], lt["step_10"]) == ("model.ckpt-6", 6, "model.ckpt-10", 10)
    # the resumed run continues from the slimir checkpoint: the same losses as 10 uninterrupted built-in steps
    np.testing.assert_allclose(lt["last_loss_6"], crosscheck["sgd_builtin"][5], rtol=1e-3)
    np.testing.assert_allclose(lt["last_loss_10"], crosscheck["sgd_builtin"][9], rtol=1e-3)


def test_crosscheck_ort_builtin_cross_entropy_loss(crosscheck):
    bl = crosscheck["builtin_loss"]
    assert bl["inputs"] == ["images", "labels"]  # ORT's loss block adds the labels input
    np.testing.assert_allclose(bl["ort"], bl["builtin"], rtol=1e-3)
    assert len(bl["ort"]) == 7  # two steps after the failed ones


def test_crosscheck_bad_input_gets_slimir_errors(crosscheck):
    err = crosscheck["builtin_loss"]["errors"]
    assert err["shape"][0] == "FeedError" and "expects shape [None, 28, 28, 1], got [16, 14, 28, 1]" in err["shape"][1]
    assert err["missing"][0] == "FeedError" and "labels" in err["missing"][1]
    assert err["nan"][0] == "NumericsError" and "not updated" in err["nan"][1]


def test_crosscheck_train_with_feed_fn_and_no_logdir(crosscheck):
    seen = crosscheck["learning_train"]["feed_fn_steps"]
    assert [s for s, _ in seen] == [1, 2, 3]
    np.testing.assert_allclose([x for _, x in seen], crosscheck["sgd_builtin"][:3], rtol=1e-3)


def test_crosscheck_builtin_loss_model_exports_its_output(crosscheck):
    bl = crosscheck["builtin_loss"]
    assert bl["inference_outputs"] == ["output"] and bl["inference_max_diff"] < 1e-4
