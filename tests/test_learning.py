"""slim.learning: create_train_op, the gradient helpers and the `train` loop, checked against TF-Slim's
documented behaviour (tf_slim/learning.py and the scenarios of its learning_test.py), numpy and,
when it is installed, PyTorch."""

import logging
import os
import struct

import numpy as np
import pytest

import slimir as slim
from slimir.errors import DTypeError, FeedError, InvalidArgumentError, NumericsError, ShapeError, SlimirError

# ------------------------------------------------------------------------------------------------ helpers


def _easy_data():
    """learning_test's TrainTest data: 16 one-hot inputs whose hot column is 2*label + a random bit."""
    np.random.seed(0)
    inputs = np.zeros((16, 4), np.float32)
    labels = np.random.randint(0, 2, size=(16, 1)).astype(np.float32)
    for i in range(16):
        j = int(2 * labels[i, 0] + np.random.randint(0, 2))
        inputs[i, j] = 1
    return inputs, labels


INPUTS, LABELS = _easy_data()


def _logistic_loss(inputs=None, labels=None):
    """fully_connected(1, sigmoid) + log_loss; returns the total loss."""
    x = slim.constant(INPUTS if inputs is None else inputs)
    y = slim.constant(LABELS if labels is None else labels)
    predictions = slim.fully_connected(x, 1, activation_fn=slim.sigmoid)
    slim.losses.log_loss(predictions, y)
    return slim.losses.get_total_loss()


def _logistic_train_op(lr=1.0, **kwargs):
    total_loss = _logistic_loss()
    return slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(lr), **kwargs)


def _read_events(logdir):
    """Every Event of the TFRecord-framed event files in logdir (length, crc, payload, crc)."""
    from tensorboardX.proto import event_pb2

    out = []
    for name in sorted(os.listdir(logdir)):
        if "tfevents" not in name:
            continue
        with open(os.path.join(logdir, name), "rb") as f:
            data = f.read()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            i += 12
            ev = event_pb2.Event()
            ev.ParseFromString(data[i:i + n])
            out.append(ev)
            i += n + 4
    return out


def _tags(logdir):
    """{tag: [(step, summary value proto)]} of the event files in logdir."""
    tags = {}
    for ev in _read_events(logdir):
        for v in ev.summary.value:
            tags.setdefault(v.tag, []).append((ev.step, v))
    return tags


def _restore_all(logdir, build):
    """Build a fresh graph with `build`, restore the newest checkpoint of logdir; {name: value}."""
    with slim.Graph().as_default():
        build()
        variables = slim.global_variables()
        with slim.Session() as sess:
            slim.train.Saver(variables).restore(sess, slim.train.latest_checkpoint(logdir))
            return {v.op.name: np.array(sess.run(v)) for v in variables}


# ------------------------------------------------------------------------------- create_train_op (graph)


def test_learning_test_scenario_reaches_low_loss(tmp_path):
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        train_op = _logistic_train_op()
        loss = slim.learning.train(train_op, str(tmp_path), number_of_steps=300, log_every_n_steps=10)
    assert loss is not None
    assert float(loss) < 0.015


def test_train_with_none_as_logdir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        train_op = _logistic_train_op()
        loss = slim.learning.train(train_op, None, number_of_steps=300, log_every_n_steps=10)
    assert float(loss) < 0.015
    assert os.listdir(tmp_path) == []


def test_train_op_returns_loss_and_increments_global_step():
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        total_loss = _logistic_loss()
        train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0))
        global_step = slim.get_global_step()
        assert train_op in slim.get_collection("train_op")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert int(sess.run(global_step)) == 0
            for i in range(10):
                before = float(sess.run(total_loss))  # the loss with the weights before the update
                got = sess.run(train_op)
                assert np.shape(got) == ()
                np.testing.assert_allclose(float(got), before, rtol=1e-6)
                assert int(sess.run(global_step)) == i + 1
            assert float(sess.run(total_loss)) < before  # it did train
            assert np.asarray(sess.run(global_step)).dtype == np.int64


def test_train_op_with_global_step_none_leaves_the_step():
    with slim.Graph().as_default():
        train_op = _logistic_train_op(global_step=None)
        global_step = slim.get_or_create_global_step()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for _ in range(5):
                sess.run(train_op)
            assert int(sess.run(global_step)) == 0


def _bn_classifier(decay):
    rng = np.random.default_rng(0)
    inputs = rng.random((16, 4)).astype(np.float32) * np.array([1, 2, 3, 4], np.float32) + 0.5
    labels = rng.integers(0, 2, (16, 1)).astype(np.float32)
    x = slim.constant(inputs)
    net = slim.batch_norm(x, decay=decay, fused=True, is_training=True)
    predictions = slim.fully_connected(net, 1, activation_fn=slim.sigmoid)
    slim.losses.log_loss(predictions, slim.constant(labels))
    return inputs, slim.losses.get_total_loss()


def test_update_ops_run_with_every_step():
    decay = 0.9
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        inputs, total_loss = _bn_classifier(decay)
        train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0))
        moving_mean = slim.get_variables_by_name("moving_mean")[0]
        moving_variance = slim.get_variables_by_name("moving_variance")[0]
        mean = inputs.mean(axis=0)
        var = inputs.var(axis=0) * 16 / 15  # Bessel-corrected, as TF's fused batch norm
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            np.testing.assert_allclose(sess.run(moving_mean), np.zeros(4))
            np.testing.assert_allclose(sess.run(moving_variance), np.ones(4))
            for _ in range(10):
                sess.run(train_op)
            d10 = decay ** 10
            np.testing.assert_allclose(sess.run(moving_mean), (1 - d10) * mean, rtol=1e-5)
            np.testing.assert_allclose(sess.run(moving_variance), d10 + (1 - d10) * var, rtol=1e-5)
            for _ in range(190):
                sess.run(train_op)
            np.testing.assert_allclose(sess.run(moving_mean), mean, rtol=1e-5)
            np.testing.assert_allclose(sess.run(moving_variance), var, rtol=1e-5)


def test_empty_update_ops_leave_moving_statistics(caplog):
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        _, total_loss = _bn_classifier(0.1)
        with caplog.at_level(logging.WARNING, logger="slimir"):
            train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0),
                                                     update_ops=[])
        assert any("update_ops" in r.getMessage() for r in caplog.records)
        moving_mean = slim.get_variables_by_name("moving_mean")[0]
        moving_variance = slim.get_variables_by_name("moving_variance")[0]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for _ in range(5):
                sess.run(train_op)
            np.testing.assert_allclose(sess.run(moving_mean), np.zeros(4))
            np.testing.assert_allclose(sess.run(moving_variance), np.ones(4))


def test_variables_to_train_leaves_the_others_unchanged():
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        total_loss = _logistic_loss()
        optimizer = slim.train.GradientDescentOptimizer(1.0)
        weights, biases = slim.get_variables_by_name("weights")[0], slim.get_variables_by_name("biases")[0]
        train_all = slim.learning.create_train_op(total_loss, optimizer)
        train_weights = slim.learning.create_train_op(total_loss, optimizer, variables_to_train=[weights])
        train_biases = slim.learning.create_train_op(total_loss, optimizer, variables_to_train=[biases])
        global_step = slim.get_global_step()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w, b = sess.run([weights, biases])
            assert np.linalg.norm(w) > 0 and np.linalg.norm(b) == 0
            assert float(sess.run(train_all)) > 0.5
            w1, b1 = sess.run([weights, biases])
            assert np.linalg.norm(w1 - w) > 0 and np.linalg.norm(b1 - b) > 0
            assert float(sess.run(train_weights)) > 0.5
            w2, b2 = sess.run([weights, biases])
            assert np.linalg.norm(w2 - w1) > 0
            np.testing.assert_array_equal(b2, b1)
            assert float(sess.run(train_biases)) > 0.45
            w3, b3 = sess.run([weights, biases])
            np.testing.assert_array_equal(w3, w2)
            assert np.linalg.norm(b3 - b2) > 0
            assert int(sess.run(global_step)) == 3


def test_training_a_subset_then_all(tmp_path):
    """learning_test: weights alone, then biases alone, stay above 0.015; both together get below."""
    logdir = str(tmp_path)
    for seed, name, steps in [(0, "weights", 200), (1, "biases", 300), (2, None, 400)]:
        with slim.Graph().as_default():
            slim.set_random_seed(seed)
            total_loss = _logistic_loss()
            subset = slim.get_variables_by_name(name) if name else None
            train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0),
                                                     variables_to_train=subset)
            loss = float(slim.learning.train(train_op, logdir, number_of_steps=steps, log_every_n_steps=10))
        if name:
            assert 0.015 < loss < 0.05
        else:
            assert loss < 0.015


def _tiny_linear(x_value, z_value):
    """loss = sum(w * x) + sum(b * z): the gradients are exactly x and z."""
    w = slim.variable("w", initializer=np.array([0.5, -1.0, 2.0], np.float32))
    b = slim.variable("b", initializer=np.array([0.25, 0.75], np.float32))
    loss = slim.reduce_sum(w * slim.constant(x_value)) + slim.reduce_sum(b * slim.constant(z_value))
    return w, b, loss


def test_gradient_multipliers_scale_one_sgd_step_exactly():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    z = np.array([-4.0, 0.5], np.float32)
    with slim.Graph().as_default():
        w, b, loss = _tiny_linear(x, z)
        train_op = slim.learning.create_train_op(loss, slim.train.GradientDescentOptimizer(0.1),
                                                 gradient_multipliers={w: 3.7, "b": 0.5})
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w0, b0 = sess.run([w, b])
            sess.run(train_op)
            np.testing.assert_allclose(sess.run(w), w0 - np.float32(0.1) * (x * np.float32(3.7)), rtol=1e-6)
            np.testing.assert_allclose(sess.run(b), b0 - np.float32(0.1) * (z * np.float32(0.5)), rtol=1e-6)


def test_gradient_multipliers_equivalent_to_larger_learning_rate(tmp_path):
    """learning_test.testTrainWithAlteredGradients: multiplier 1000 at lr 0.001 trains like lr 1."""
    losses = []
    for i, mult in enumerate([1.0, 1000.0]):
        with slim.Graph().as_default():
            slim.set_random_seed(0)
            total_loss = _logistic_loss()
            multipliers = {v: mult for v in slim.trainable_variables()} if mult != 1.0 else None
            train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(0.001),
                                                     gradient_multipliers=multipliers)
            losses.append(float(slim.learning.train(train_op, str(tmp_path / str(i)), number_of_steps=10)))
    assert losses[0] > 0.5
    assert losses[1] < 0.5
    assert losses[0] > losses[1]


def test_multiply_gradients_helper():
    with slim.Graph().as_default():
        grad = slim.constant(np.array([1.0, 2.0, 3.0], np.float32))
        var = slim.variable("v", initializer=np.zeros(3, np.float32))
        with pytest.raises(ValueError):
            slim.learning.multiply_gradients((grad, var), {var: 3.7})  # not a list
        with pytest.raises(ValueError):
            slim.learning.multiply_gradients([(grad, var)], {})
        with pytest.raises(ValueError):
            slim.learning.multiply_gradients([(grad, var)], 3)
        with pytest.raises(ValueError):
            slim.learning.multiply_gradients((None, var), {var: 3.7})
        [(g, v)] = slim.learning.multiply_gradients([(grad, var)], {var: 3.7})
        assert v is var
        [(none, v2)] = slim.learning.multiply_gradients([(None, var)], {var: 3.7})
        assert none is None and v2 is var
        with slim.Session() as sess:
            expected = np.array([1, 2, 3], np.float32) * np.float32(3.7)
            np.testing.assert_allclose(sess.run(g), expected, rtol=1e-6)


def test_clip_gradient_norms_helper():
    grad_vec = np.array([1.0, 2.0, 3.0], np.float32)
    with slim.Graph().as_default():
        var = slim.variable("v", initializer=np.zeros(3, np.float32))
        small = slim.constant(np.array([0.3, -0.4], np.float32))
        var2 = slim.variable("v2", initializer=np.zeros(2, np.float32))
        [(g, v), (g2, v2), (none, v3)] = slim.learning.clip_gradient_norms(
            [(slim.constant(grad_vec), var), (small, var2), (None, var)], 1.0)
        assert v is var and v2 is var2 and v3 is var and none is None
        with slim.Session() as sess:
            np.testing.assert_allclose(sess.run(g), grad_vec / np.sqrt(14.0), rtol=1e-6)
            np.testing.assert_allclose(sess.run(g2), [0.3, -0.4], rtol=1e-6)  # norm 0.5 <= 1: unchanged


def test_clip_gradient_norm_clips_each_gradient_in_the_step():
    x = np.array([1.0, 2.0, 3.0], np.float32)   # norm sqrt(14) > 2: clipped to norm 2
    z = np.array([0.6, -0.8], np.float32)       # norm 1 <= 2: unchanged (per-gradient, not global)
    with slim.Graph().as_default():
        w, b, loss = _tiny_linear(x, z)
        train_op = slim.learning.create_train_op(loss, slim.train.GradientDescentOptimizer(1.0),
                                                 clip_gradient_norm=2.0)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w0, b0 = sess.run([w, b])
            sess.run(train_op)
            step_w = w0 - sess.run(w)
            np.testing.assert_allclose(step_w, x * 2.0 / np.sqrt(14.0), rtol=1e-5)
            np.testing.assert_allclose(np.linalg.norm(step_w), 2.0, rtol=1e-5)
            np.testing.assert_allclose(b0 - sess.run(b), z, rtol=1e-5)


def test_summarize_gradients_adds_histogram_and_norm(tmp_path):
    x = np.array([1.0, 2.0, 3.0], np.float32)
    z = np.array([0.6, -0.8], np.float32)
    with slim.Graph().as_default():
        w, b, loss = _tiny_linear(x, z)
        n_before = len(slim.get_collection(slim.GraphKeys.SUMMARIES))
        train_op = slim.learning.create_train_op(loss, slim.train.GradientDescentOptimizer(0.01),
                                                 summarize_gradients=True)
        assert len(slim.get_collection(slim.GraphKeys.SUMMARIES)) == n_before + 4
        slim.learning.train(train_op, str(tmp_path), number_of_steps=3, save_summaries_secs=0)
    tags = _tags(str(tmp_path))
    for name, grad in [("w", x), ("b", z)]:
        hist = [t for t in tags if t.endswith(f"{name}_gradient")]
        norm = [t for t in tags if t.endswith(f"{name}_gradient_norm")]
        assert len(hist) == 1 and len(norm) == 1, sorted(tags)
        _, hv = tags[hist[0]][-1]
        assert hv.HasField("histo") and hv.histo.num == grad.size
        np.testing.assert_allclose(hv.histo.sum, grad.sum(), rtol=1e-5)
        _, nv = tags[norm[0]][-1]
        np.testing.assert_allclose(nv.simple_value, np.linalg.norm(grad), rtol=1e-5)


def test_add_gradients_summaries_skips_none():
    with slim.Graph().as_default():
        var = slim.variable("v", initializer=np.zeros(3, np.float32))
        other = slim.variable("u", initializer=np.zeros(3, np.float32))
        ones = slim.constant(np.ones(3, np.float32))
        out = slim.learning.add_gradients_summaries([(ones, var), (None, other)])
        assert len(out) == 2


# ------------------------------------------------------------------------------------------ learning.train


def test_train_writes_checkpoint_state_and_events(tmp_path):
    logdir = str(tmp_path)
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        total_loss = _logistic_loss()
        slim.summary.scalar("losses/total_loss", total_loss)
        train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0))
        loss = slim.learning.train(train_op, logdir, number_of_steps=50, save_summaries_secs=0)
    files = os.listdir(logdir)
    assert "model.ckpt-50.safetensors" in files
    assert "checkpoint" in files
    assert not [f for f in files if f.startswith(".tmp")]
    assert slim.train.latest_checkpoint(logdir) == os.path.join(logdir, "model.ckpt-50")
    state = open(os.path.join(logdir, "checkpoint")).read()
    assert 'model_checkpoint_path: "model.ckpt-50"' in state
    names = dict(slim.train.list_variables(logdir))
    assert names["global_step"] == [] and "fully_connected/weights" in names
    assert int(slim.train.load_variable(logdir, "global_step")) == 50
    tags = _tags(logdir)
    assert "losses/total_loss" in tags
    steps = [s for s, _ in tags["losses/total_loss"]]
    assert len(steps) == 50 and steps == sorted(steps) and steps[-1] == 50
    values = [v.simple_value for _, v in tags["losses/total_loss"]]
    assert values[-1] < values[0]
    np.testing.assert_allclose(values[-1], float(loss), rtol=0.05)


def test_train_with_default_summary_interval_writes_the_summaries(tmp_path):
    """TF-Slim's Supervisor writes the summaries when training starts and then every save_summaries_secs:
    a short run with the default interval (600 s) still has 'losses/total_loss' in its event file."""
    logdir = str(tmp_path)
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        total_loss = _logistic_loss()
        slim.summary.scalar("losses/total_loss", total_loss)
        train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0))
        slim.learning.train(train_op, logdir, number_of_steps=20)
    assert "losses/total_loss" in _tags(logdir)


def _counting_step(counter):
    def step_fn(sess, train_op, global_step, kwargs):
        counter.append(1)
        return slim.learning.train_step(sess, train_op, global_step, kwargs)

    return step_fn


def test_resume_restores_the_global_step(tmp_path):
    logdir = str(tmp_path)
    init_calls = []

    def init_fn(sess):
        init_calls.append(1)

    with slim.Graph().as_default():
        slim.set_random_seed(0)
        train_op = _logistic_train_op()
        steps = []
        slim.learning.train(train_op, logdir, number_of_steps=100, init_fn=init_fn,
                            train_step_fn=_counting_step(steps))
        assert len(steps) == 100 and len(init_calls) == 1
    first = _restore_all(logdir, _logistic_train_op)
    with slim.Graph().as_default():
        slim.set_random_seed(1)  # other initial values: they must be overwritten by the checkpoint
        train_op = _logistic_train_op()
        weights = slim.get_variables_by_name("weights")[0]
        seen = {}

        def step_fn(sess, train_op, global_step, kwargs):
            if not seen:
                seen["step"] = int(sess.run(global_step))
                seen["weights"] = np.array(sess.run(weights))
            return _counting_step(steps)(sess, train_op, global_step, kwargs)

        steps.clear()
        loss = slim.learning.train(train_op, logdir, number_of_steps=150, init_fn=init_fn,
                                   train_step_fn=step_fn)
    assert len(steps) == 50
    assert len(init_calls) == 1  # not run again: logdir had a checkpoint
    assert seen["step"] == 100
    np.testing.assert_array_equal(seen["weights"], first["fully_connected/weights"])
    assert float(loss) < 0.05
    assert slim.train.latest_checkpoint(logdir).endswith("model.ckpt-150")
    assert int(slim.train.load_variable(logdir, "global_step")) == 150
    assert os.path.isfile(os.path.join(logdir, "model.ckpt-100.safetensors"))


def test_init_fn_warm_starts_from_another_logdir(tmp_path):
    """learning_test.testTrainWithInitFromFn."""
    logdir1, logdir2 = str(tmp_path / "a"), str(tmp_path / "b")
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        assert float(slim.learning.train(_logistic_train_op(), logdir1, number_of_steps=1)) > 0.5
    with slim.Graph().as_default():
        slim.set_random_seed(1)
        assert float(slim.learning.train(_logistic_train_op(), logdir1, number_of_steps=300)) < 0.015
    with slim.Graph().as_default():
        slim.set_random_seed(2)
        train_op = _logistic_train_op()
        saver = slim.train.Saver(slim.global_variables())
        calls = []

        def restore_fn(sess):
            calls.append(1)
            saver.restore(sess, os.path.join(logdir1, "model.ckpt-300"))

        loss = slim.learning.train(train_op, logdir2, number_of_steps=301, init_fn=restore_fn)
    assert calls == [1]
    assert float(loss) < 0.015
    assert int(slim.train.load_variable(logdir2, "global_step")) == 301


def test_train_stops_at_number_of_steps_when_already_reached(tmp_path):
    logdir = str(tmp_path)
    with slim.Graph().as_default():
        slim.learning.train(_logistic_train_op(), logdir, number_of_steps=5)
    with slim.Graph().as_default():
        steps = []
        slim.learning.train(_logistic_train_op(), logdir, number_of_steps=5,
                            train_step_fn=_counting_step(steps))
    assert len(steps) <= 1  # TF-Slim runs at most the one step that checks the stop condition


def test_non_positive_number_of_steps_is_a_value_error(tmp_path):
    """TF-Slim raises ValueError; slimir's errors derive from the builtin TF-Slim raises (errors.py)."""
    with slim.Graph().as_default():
        train_op = _logistic_train_op()
        for n in (0, -3):
            with pytest.raises(ValueError):
                slim.learning.train(train_op, str(tmp_path), number_of_steps=n)


def test_train_with_local_variable(tmp_path):
    """learning_test.testTrainWithLocalVariable: a local variable is initialised and not checkpointed."""
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        multiplier = slim.local_variable(1.0)
        predictions = slim.fully_connected(slim.constant(INPUTS), 1, activation_fn=slim.sigmoid) * multiplier
        slim.losses.log_loss(predictions, slim.constant(LABELS))
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(),
                                                 slim.train.GradientDescentOptimizer(1.0))
        loss = slim.learning.train(train_op, str(tmp_path), number_of_steps=300)
    assert float(loss) < 0.015
    assert sorted(dict(slim.train.list_variables(str(tmp_path)))) == \
        ["fully_connected/biases", "fully_connected/weights", "global_step"]


def test_init_op_none_with_variables_is_a_runtime_error(tmp_path):
    with slim.Graph().as_default():
        train_op = _logistic_train_op()
        with pytest.raises(RuntimeError):
            slim.learning.train(train_op, str(tmp_path), init_op=None, number_of_steps=3)


def test_summary_op_or_saver_without_logdir_is_a_value_error():
    """TF-Slim: 'Cannot provide summary_op because logdir=None' (and the same for saver)."""
    with slim.Graph().as_default():
        total_loss = _logistic_loss()
        slim.summary.scalar("total_loss", total_loss)
        train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0))
        with pytest.raises(ValueError):
            slim.learning.train(train_op, None, number_of_steps=3, summary_op=slim.summary.merge_all())
        with pytest.raises(ValueError):
            slim.learning.train(train_op, None, number_of_steps=3, saver=slim.train.Saver())


def test_periodic_checkpoints_keep_max_to_keep_across_a_resume(tmp_path):
    logdir = str(tmp_path)

    def ckpts():
        names = [f for f in os.listdir(logdir) if f.endswith(".safetensors")]
        return sorted(int(f.split("-")[1].split(".")[0]) for f in names)

    with slim.Graph().as_default():
        slim.learning.train(_logistic_train_op(), logdir, number_of_steps=8, save_interval_secs=1e-9)
    assert ckpts() == [4, 5, 6, 7, 8]
    with slim.Graph().as_default():
        slim.learning.train(_logistic_train_op(), logdir, number_of_steps=10, save_interval_secs=1e-9)
    assert ckpts() == [6, 7, 8, 9, 10]
    st = slim.train.get_checkpoint_state(logdir)
    kept = [os.path.basename(p) for p in st.all_model_checkpoint_paths]
    assert kept == [f"model.ckpt-{i}" for i in range(6, 11)]


def test_log_every_n_steps_and_progress_bar(tmp_path, caplog, capsys):
    with slim.Graph().as_default():
        train_op = _logistic_train_op()
        with caplog.at_level(logging.INFO, logger="slimir"):
            slim.learning.train(train_op, str(tmp_path / "a"), number_of_steps=30, log_every_n_steps=10,
                                progress=False)
    logged = [r.getMessage() for r in caplog.records if "loss =" in r.getMessage()]
    assert [m.split(":")[0] for m in logged] == ["global step 10", "global step 20", "global step 30"]
    with slim.Graph().as_default():
        train_op = _logistic_train_op()
        slim.learning.train(train_op, str(tmp_path / "b"), number_of_steps=30, progress=True)
    err = capsys.readouterr().err
    assert "30/30" in err and "loss=" in err


def _nan_model():
    """The logistic model plus mean(log(c)) for a fed placeholder c: c <= 0 makes the loss NaN."""
    c = slim.placeholder(slim.float32, [], name="c")
    total_loss = _logistic_loss()
    slim.losses.add_loss(slim.log(c))
    total_loss = slim.losses.get_total_loss()
    return c, slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0))


def test_nan_loss_stops_with_the_step_and_keeps_a_good_checkpoint(tmp_path):
    logdir = str(tmp_path)
    with slim.Graph().as_default():  # 5 good steps, checkpointed
        slim.set_random_seed(0)
        c, train_op = _nan_model()
        slim.learning.train(train_op, logdir, number_of_steps=5, feed_fn=lambda: {c: np.float32(1.0)})
    with slim.Graph().as_default():  # resumed: 3 more good steps, then log(-1) in the loss
        c, train_op = _nan_model()
        calls = []

        def feed_fn():
            calls.append(1)
            return {c: np.float32(1.0 if len(calls) <= 3 else -1.0)}

        with pytest.raises(NumericsError) as info:
            slim.learning.train(train_op, logdir, number_of_steps=100, feed_fn=feed_fn)
    assert "step 8" in str(info.value)
    assert len(calls) == 4
    assert os.path.isfile(os.path.join(logdir, "model.ckpt-5.safetensors"))  # nothing written before is lost
    values = _restore_all(logdir, lambda: _nan_model())
    assert all(np.all(np.isfinite(v)) for v in values.values())
    step = int(values["global_step"])
    # the last periodic checkpoint, or the state before the failed step (which did not change it)
    assert step in (5, 8)
    # the restored weights are those after `step` good steps: the same run without the NaN gives them
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        c, train_op = _nan_model()
        weights = slim.get_variables_by_name("weights")[0]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for _ in range(step):
                sess.run(train_op, {c: np.float32(1.0)})
            np.testing.assert_allclose(values["fully_connected/weights"], sess.run(weights), rtol=1e-6)


def test_nan_in_a_direct_run_leaves_the_variables_and_check_numerics_false_lets_it_pass():
    with slim.Graph().as_default():
        c, train_op = _nan_model()
        weights = slim.get_variables_by_name("weights")[0]
        step = slim.get_global_step()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(train_op, {c: np.float32(1.0)})
            w1 = np.array(sess.run(weights))
            with pytest.raises(NumericsError):
                sess.run(train_op, {c: np.float32(-1.0)})
            np.testing.assert_array_equal(sess.run(weights), w1)
            assert int(sess.run(step)) == 1
    with slim.Graph().as_default():
        c = slim.placeholder(slim.float32, [], name="c")
        _logistic_loss()
        slim.losses.add_loss(slim.log(c))
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(),
                                                 slim.train.GradientDescentOptimizer(1.0),
                                                 check_numerics=False)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert np.isnan(sess.run(train_op, {c: np.float32(-1.0)}))


def _diverging_model(lr):
    """absolute difference of w * 10 against 0: with lr 1e38 one step sends w to -inf, the loss is finite."""
    w = slim.variable("w", initializer=np.array([1.0], np.float32))
    slim.losses.absolute_difference(w * 10.0, slim.constant(np.zeros(1, np.float32)))
    total_loss = slim.losses.get_total_loss()
    return slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(lr))


def test_huge_learning_rate_keeps_the_last_good_checkpoint(tmp_path):
    """A run that diverges (the update overflows the weights, the next loss is Inf) raises NumericsError
    naming the step and leaves as latest checkpoint one whose values are all finite."""
    logdir = str(tmp_path)
    with slim.Graph().as_default():
        slim.learning.train(_diverging_model(1e-3), logdir, number_of_steps=5)
    with slim.Graph().as_default():
        train_op = _diverging_model(1e38)
        with pytest.raises(NumericsError) as info:
            slim.learning.train(train_op, logdir, number_of_steps=100)
    assert "step" in str(info.value)
    assert os.path.isfile(os.path.join(logdir, "model.ckpt-5.safetensors"))  # nothing written before is lost
    values = _restore_all(logdir, lambda: _diverging_model(1.0))
    bad = {k: v for k, v in values.items() if not np.all(np.isfinite(v))}
    assert not bad, f"latest checkpoint {slim.train.latest_checkpoint(logdir)} holds non-finite {bad}"


def test_input_bindings_feed_the_train_loop_until_the_end_of_data(tmp_path):
    logdir = str(tmp_path)
    n_batches = 40

    def batches():
        for _ in range(n_batches):
            yield INPUTS, LABELS

    with slim.Graph().as_default():
        slim.set_random_seed(0)
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        y = slim.placeholder(slim.float32, [None, 1], name="y")
        slim.inputs.bind([x, y], batches())
        predictions = slim.fully_connected(x, 1, activation_fn=slim.sigmoid)
        slim.losses.log_loss(predictions, y)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(),
                                                 slim.train.GradientDescentOptimizer(1.0))
        loss = slim.learning.train(train_op, logdir, number_of_steps=None)
    assert loss is not None and float(loss) < 0.3
    assert slim.train.latest_checkpoint(logdir).endswith(f"model.ckpt-{n_batches}")
    assert int(slim.train.load_variable(logdir, "global_step")) == n_batches


def test_feed_fn_feeds_each_step(tmp_path):
    rng = np.random.default_rng(0)
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        y = slim.placeholder(slim.float32, [None, 1], name="y")
        predictions = slim.fully_connected(x, 1, activation_fn=slim.sigmoid)
        slim.losses.log_loss(predictions, y)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(),
                                                 slim.train.GradientDescentOptimizer(1.0))
        calls = []

        def feed_fn():
            calls.append(1)
            idx = rng.permutation(16)[:8]
            return {x: INPUTS[idx], y: LABELS[idx]}

        loss = slim.learning.train(train_op, str(tmp_path), number_of_steps=200, feed_fn=feed_fn)
    assert len(calls) == 200
    assert float(loss) < 0.05


def test_wrong_feed_shape_mid_training_names_the_tensor(tmp_path):
    logdir = str(tmp_path)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="images")
        y = slim.placeholder(slim.float32, [None, 1], name="y")
        predictions = slim.fully_connected(x, 1, activation_fn=slim.sigmoid)
        slim.losses.log_loss(predictions, y)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(),
                                                 slim.train.GradientDescentOptimizer(1.0))
        calls = []

        def feed_fn():
            calls.append(1)
            xs = INPUTS if len(calls) <= 3 else INPUTS[:, :3]
            return {x: xs, y: LABELS}

        with pytest.raises(SlimirError) as info:
            slim.learning.train(train_op, logdir, number_of_steps=10, feed_fn=feed_fn)
    assert "images" in str(info.value)
    assert isinstance(info.value, (FeedError, ShapeError))
    ckpt = slim.train.latest_checkpoint(logdir)
    if ckpt is not None:  # whatever was written is readable
        assert dict(slim.train.list_variables(ckpt))


def _dropout_losses(seed, steps=5):
    rng = np.random.default_rng(0)
    x_value = rng.standard_normal((8, 16)).astype(np.float32)
    y_value = rng.integers(0, 4, 8)
    with slim.Graph().as_default():
        slim.set_random_seed(seed)
        net = slim.fully_connected(slim.constant(x_value), 32)
        net = slim.dropout(net, 0.5, is_training=True)
        logits = slim.fully_connected(net, 4, activation_fn=None)
        slim.losses.sparse_softmax_cross_entropy(logits, slim.constant(y_value))
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(),
                                                 slim.train.GradientDescentOptimizer(0.1))
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            return [float(sess.run(train_op)) for _ in range(steps)]


def test_dropout_with_a_seed_gives_the_same_losses():
    a, b = _dropout_losses(7), _dropout_losses(7)
    assert a == b
    assert len(set(a)) > 1
    assert _dropout_losses(8) != a


# -------------------------------------------------------------------------------------------- bad input


def test_loss_that_is_not_a_scalar_is_rejected():
    with slim.Graph().as_default():
        w = slim.variable("w", initializer=np.ones(3, np.float32))
        per_element = w * 2.0
        with pytest.raises(ShapeError) as info:
            slim.learning.create_train_op(per_element, slim.train.GradientDescentOptimizer(0.1))
        assert per_element.name in str(info.value)


def test_integer_variables_to_train_are_rejected():
    with slim.Graph().as_default():
        total_loss = _logistic_loss()
        counter = slim.variable("counter", shape=[], dtype=slim.int64, initializer=slim.zeros_initializer(),
                                trainable=False)
        with pytest.raises(DTypeError) as info:
            slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(0.1),
                                          variables_to_train=slim.trainable_variables() + [counter])
        assert "counter" in str(info.value)


def test_variable_without_path_to_the_loss_is_warned_and_not_updated(caplog):
    with slim.Graph().as_default():
        total_loss = _logistic_loss()
        lonely = slim.variable("lonely", initializer=np.full(3, 2.0, np.float32))
        with caplog.at_level(logging.WARNING, logger="slimir"):
            train_op = slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0))
        assert any("lonely" in r.getMessage() and r.name.startswith("slimir") for r in caplog.records)
        weights = slim.get_variables_by_name("weights")[0]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w0 = sess.run(weights)
            sess.run(train_op)
            np.testing.assert_array_equal(sess.run(lonely), np.full(3, 2.0, np.float32))
            assert np.linalg.norm(sess.run(weights) - w0) > 0


def test_only_unconnected_variables_is_an_error():
    with slim.Graph().as_default():
        total_loss = _logistic_loss()
        lonely = slim.variable("lonely", initializer=np.ones(3, np.float32))
        with pytest.raises(ValueError):
            slim.learning.create_train_op(total_loss, slim.train.GradientDescentOptimizer(1.0),
                                          variables_to_train=[lonely])


def test_hyper_parameter_out_of_range_is_rejected():
    with pytest.raises(InvalidArgumentError):
        slim.train.GradientDescentOptimizer(-1.0)
    with pytest.raises(InvalidArgumentError):
        slim.train.MomentumOptimizer(0.1, momentum=-0.5)


def test_train_rejects_what_is_not_a_train_op(tmp_path):
    with slim.Graph().as_default():
        _logistic_loss()
        with pytest.raises(SlimirError):
            slim.learning.train(None, str(tmp_path), number_of_steps=1)


# ---------------------------------------------------------------------------- one lenet step vs PyTorch


def test_lenet_momentum_steps_match_pytorch():
    torch = pytest.importorskip("torch")
    from slimir.nets import lenet

    rng = np.random.default_rng(0)
    images = rng.random((8, 28, 28, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 8).astype(np.int64)
    lr, momentum, n_steps = 0.05, 0.9, 3
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        x = slim.constant(images)
        logits, _ = lenet.lenet(x, num_classes=10, is_training=True, dropout_keep_prob=1.0)
        slim.losses.sparse_softmax_cross_entropy(logits, slim.constant(labels))
        total_loss = slim.losses.get_total_loss()
        train_op = slim.learning.create_train_op(total_loss, slim.train.MomentumOptimizer(lr, momentum))
        variables = {v.op.name: v for v in slim.trainable_variables()}
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            init = {k: np.array(sess.run(v)) for k, v in variables.items()}
            ours = []
            for _ in range(n_steps):
                loss = float(sess.run(train_op))
                ours.append((loss, {k: np.array(sess.run(v)) for k, v in variables.items()}))

    torch.manual_seed(0)
    conv1 = torch.nn.Conv2d(1, 32, 5, padding=2)
    conv2 = torch.nn.Conv2d(32, 64, 5, padding=2)
    fc3 = torch.nn.Linear(7 * 7 * 64, 1024)
    fc4 = torch.nn.Linear(1024, 10)
    # slimir's flatten is NHWC (row index h*7*64 + w*64 + c); torch flattens NCHW (c*49 + h*7 + w)
    perm = np.arange(7 * 7 * 64).reshape(7, 7, 64).transpose(2, 0, 1).reshape(-1)
    to_torch = {
        "conv1/weights": (conv1.weight, lambda a: a.transpose(3, 2, 0, 1)),
        "conv1/biases": (conv1.bias, lambda a: a),
        "conv2/weights": (conv2.weight, lambda a: a.transpose(3, 2, 0, 1)),
        "conv2/biases": (conv2.bias, lambda a: a),
        "fc3/weights": (fc3.weight, lambda a: a[perm].T),
        "fc3/biases": (fc3.bias, lambda a: a),
        "fc4/weights": (fc4.weight, lambda a: a.T),
        "fc4/biases": (fc4.bias, lambda a: a),
    }
    assert sorted(f"LeNet/{k}" for k in to_torch) == sorted(init)
    with torch.no_grad():
        for k, (param, conv) in to_torch.items():
            param.copy_(torch.from_numpy(np.ascontiguousarray(conv(init["LeNet/" + k]))))
    params = [p for p, _ in to_torch.values()]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    xt = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(labels)
    relu = torch.nn.functional.relu
    pool = torch.nn.functional.max_pool2d
    for step in range(n_steps):
        opt.zero_grad()
        net = pool(relu(conv1(xt)), 2, 2)
        net = pool(relu(conv2(net)), 2, 2)
        net = relu(fc3(net.reshape(8, -1)))
        loss = torch.nn.functional.cross_entropy(fc4(net), yt)
        loss.backward()
        opt.step()
        our_loss, our_vars = ours[step]
        np.testing.assert_allclose(our_loss, loss.item(), rtol=1e-4)
        for k, (param, conv) in to_torch.items():
            ref = param.detach().numpy()
            got = np.ascontiguousarray(conv(our_vars["LeNet/" + k]))
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()),
                                       err_msg=f"step {step + 1}: {k}")
            assert np.abs(got - conv(init["LeNet/" + k])).max() > 0  # it was updated
