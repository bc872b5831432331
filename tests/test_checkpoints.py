"""slim.train.Saver and the checkpoint helpers: safetensors files written atomically, TF's `checkpoint` state
file, max_to_keep, var_list as list or {name_in_checkpoint: variable}, clear errors, TF V2 checkpoints."""

import os
from pathlib import Path

import numpy as np
import pytest

import slimir as slim
from slimir.errors import CheckpointError, SlimirError

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURE = SHARED / "fixtures" / "tfslim_tiny"


def _model():
    """Variables of every dtype a training graph holds: float32 weights, a float64 and an int32 variable,
    the int64 global step."""
    w = slim.variable("net/w", shape=[3, 4], initializer=slim.random_normal_initializer(seed=1))
    b = slim.variable("net/b", shape=[4], initializer=slim.zeros_initializer())
    d = slim.variable("net/d", shape=[2], dtype=slim.float64, initializer=slim.constant_initializer(0.5),
                      trainable=False)
    n = slim.variable("net/n", shape=[2, 2], dtype=slim.int32, initializer=slim.zeros_initializer(),
                      trainable=False)
    step = slim.get_or_create_global_step()
    return [w, b, d, n, step]


def _set_random(sess, variables, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for v in variables:
        shape = tuple(v.shape)
        if v.dtype.is_floating:
            value = rng.standard_normal(shape).astype(v.dtype.np)
        else:
            value = rng.integers(-1000, 1000, shape).astype(v.dtype.np)
        sess.set_variable_value(v, value)
        out[v.op.name] = value
    return out


def _tmp_files(d):
    return [f for f in os.listdir(d) if f.startswith(".tmp") or f.endswith(".tmp")]


def test_round_trip_keeps_values_and_dtypes(tmp_path):
    prefix = str(tmp_path / "model.ckpt")
    with slim.Graph().as_default():
        variables = _model()
        saver = slim.train.Saver()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            saved = _set_random(sess, variables, 0)
            sess.set_variable_value(variables[-1], np.int64(2**40 + 7))  # beyond int32
            saved["global_step"] = np.int64(2**40 + 7)
            path = saver.save(sess, prefix, global_step=variables[-1])
            assert path == prefix + f"-{2**40 + 7}"
            assert os.path.isfile(path + ".safetensors")
            _set_random(sess, variables, 1)
            saver.restore(sess, path)
            for v in variables:
                got = np.asarray(sess.run(v))
                assert got.dtype == v.dtype.np
                np.testing.assert_array_equal(got, saved[v.op.name])
    with slim.Graph().as_default():  # a fresh graph and session
        variables = _model()
        with slim.Session() as sess:
            slim.train.Saver().restore(sess, path)
            for v in variables:
                np.testing.assert_array_equal(np.asarray(sess.run(v)), saved[v.op.name])
    listed = dict(slim.train.list_variables(path))
    assert listed == {"net/w": [3, 4], "net/b": [4], "net/d": [2], "net/n": [2, 2], "global_step": []}
    for name, value in saved.items():
        got = slim.train.load_variable(path, name)
        assert got.dtype == np.asarray(value).dtype
        np.testing.assert_array_equal(got, value)
    assert _tmp_files(tmp_path) == []


def test_save_with_integer_step_and_without_step(tmp_path):
    with slim.Graph().as_default():
        variables = _model()
        saver = slim.train.Saver(variables)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert saver.save(sess, str(tmp_path / "a.ckpt"), global_step=12) == str(tmp_path / "a.ckpt-12")
            assert saver.save(sess, str(tmp_path / "plain")) == str(tmp_path / "plain")
    assert os.path.isfile(tmp_path / "a.ckpt-12.safetensors")
    assert os.path.isfile(tmp_path / "plain.safetensors")
    assert slim.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "plain")


def test_var_list_as_list_saves_only_those(tmp_path):
    with slim.Graph().as_default():
        w, b, d, n, step = _model()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            path = slim.train.Saver([w, step]).save(sess, str(tmp_path / "m"), global_step=step)
            assert sorted(dict(slim.train.list_variables(path))) == ["global_step", "net/w"]
            w_value = np.array(sess.run(w))
            b_value = np.array(sess.run(b))
            sess.set_variable_value(w, np.zeros((3, 4), np.float32))
            sess.set_variable_value(b, np.ones(4, np.float32))
            slim.train.Saver([w]).restore(sess, path)
            np.testing.assert_array_equal(sess.run(w), w_value)
            np.testing.assert_array_equal(sess.run(b), np.ones(4, np.float32))  # not in the list: untouched
            assert np.all(b_value == 0)
        with pytest.raises(CheckpointError):
            slim.train.Saver([w, w.op])  # not a variable


def test_var_list_as_dict_renames(tmp_path):
    with slim.Graph().as_default():
        w, b, *_ = _model()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            saver = slim.train.Saver({"teacher/weights": w, "teacher/biases": b})
            path = saver.save(sess, str(tmp_path / "m"))
            w_value = np.array(sess.run(w))
    assert dict(slim.train.list_variables(path)) == {"teacher/weights": [3, 4], "teacher/biases": [4]}
    with slim.Graph().as_default():
        student_w = slim.variable("student/kernel", shape=[3, 4], initializer=slim.zeros_initializer())
        student_b = slim.variable("student/bias", shape=[4], initializer=slim.ones_initializer())
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            slim.train.Saver({"teacher/weights": student_w}).restore(sess, path)
            np.testing.assert_array_equal(sess.run(student_w), w_value)
            np.testing.assert_array_equal(sess.run(student_b), np.ones(4, np.float32))


def test_max_to_keep_deletes_old_checkpoints(tmp_path):
    d = str(tmp_path)
    with slim.Graph().as_default():
        variables = _model()
        saver = slim.train.Saver(max_to_keep=2)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for step in range(1, 5):
                sess.set_variable_value(variables[-1], np.int64(step))
                saver.save(sess, os.path.join(d, "model.ckpt"), global_step=variables[-1])
            assert saver.last_checkpoints == [os.path.join(d, f"model.ckpt-{i}") for i in (3, 4)]
    assert sorted(f for f in os.listdir(d) if f.endswith(".safetensors")) == \
        ["model.ckpt-3.safetensors", "model.ckpt-4.safetensors"]
    lines = [ln.strip() for ln in open(os.path.join(d, "checkpoint")).read().splitlines() if ln.strip()]
    assert lines == ['model_checkpoint_path: "model.ckpt-4"',
                     'all_model_checkpoint_paths: "model.ckpt-3"',
                     'all_model_checkpoint_paths: "model.ckpt-4"']
    st = slim.train.get_checkpoint_state(d)
    assert st.model_checkpoint_path == os.path.join(d, "model.ckpt-4")
    assert st.all_model_checkpoint_paths == [os.path.join(d, "model.ckpt-3"), os.path.join(d, "model.ckpt-4")]
    assert slim.train.latest_checkpoint(d) == os.path.join(d, "model.ckpt-4")
    assert int(slim.train.load_variable(d, "global_step")) == 4  # a directory resolves to its latest


def test_max_to_keep_none_keeps_everything(tmp_path):
    with slim.Graph().as_default():
        _model()
        saver = slim.train.Saver(max_to_keep=None)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for step in range(1, 8):
                saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step)
    assert len([f for f in os.listdir(tmp_path) if f.endswith(".safetensors")]) == 7


def test_latest_checkpoint(tmp_path):
    d = str(tmp_path)
    assert slim.train.latest_checkpoint(d) is None
    assert slim.train.get_checkpoint_state(d) is None
    with slim.Graph().as_default():
        _model()
        saver = slim.train.Saver()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            saver.save(sess, os.path.join(d, "model.ckpt"), global_step=1)
            saver.save(sess, os.path.join(d, "model.ckpt"), global_step=2)
    assert slim.train.latest_checkpoint(d) == os.path.join(d, "model.ckpt-2")
    assert slim.train.checkpoint_exists(os.path.join(d, "model.ckpt-2"))
    os.unlink(os.path.join(d, "model.ckpt-2.safetensors"))
    assert slim.train.latest_checkpoint(d) is None  # the state file names a file that is gone
    assert not slim.train.checkpoint_exists(os.path.join(d, "model.ckpt-2"))


def test_list_and_load_accept_prefix_file_and_directory(tmp_path):
    with slim.Graph().as_default():
        w, *_ = _model()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            prefix = slim.train.Saver().save(sess, str(tmp_path / "model.ckpt"), global_step=3)
            w_value = np.array(sess.run(w))
    for where in (prefix, prefix + ".safetensors", str(tmp_path)):
        assert ("net/w", [3, 4]) in slim.train.list_variables(where)
        np.testing.assert_array_equal(slim.train.load_variable(where, "net/w"), w_value)
    reader = slim.train.NewCheckpointReader(prefix)
    assert reader.has_tensor("net/w") and not reader.has_tensor("net/zzz")
    with pytest.raises(CheckpointError) as info:
        slim.train.load_variable(prefix, "net/zzz")
    assert "net/zzz" in str(info.value)
    with pytest.raises(CheckpointError):
        slim.train.list_variables(str(tmp_path / "nothing"))


def test_restoring_a_different_shape_names_both_shapes_and_the_variable(tmp_path):
    with slim.Graph().as_default():
        _model()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            path = slim.train.Saver().save(sess, str(tmp_path / "m"))
    with slim.Graph().as_default():
        slim.variable("net/w", shape=[3, 5], initializer=slim.zeros_initializer())
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(SlimirError) as info:
                slim.train.Saver().restore(sess, path)
    msg = str(info.value)
    assert "net/w" in msg
    assert "[3, 4]" in msg and "[3, 5]" in msg


def test_restoring_a_different_dtype_is_an_error(tmp_path):
    """TF's RestoreV2 refuses a dtype that differs from the variable's; a silent cast would truncate 2.7 to 2."""
    with slim.Graph().as_default():
        slim.variable("v", shape=[2], initializer=slim.constant_initializer(2.7))
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            path = slim.train.Saver().save(sess, str(tmp_path / "m"))
    with slim.Graph().as_default():
        v = slim.variable("v", shape=[2], dtype=slim.int32, initializer=slim.zeros_initializer(), trainable=False)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(SlimirError) as info:
                slim.train.Saver().restore(sess, path)
            msg = str(info.value)
            assert "v" in msg and "float32" in msg and "int32" in msg
            np.testing.assert_array_equal(sess.run(v), [0, 0])


def test_restoring_a_missing_variable_names_it(tmp_path):
    with slim.Graph().as_default():
        _model()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            path = slim.train.Saver().save(sess, str(tmp_path / "m"))
    with slim.Graph().as_default():
        _model()
        slim.variable("extra/gamma", shape=[4], initializer=slim.ones_initializer())
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(CheckpointError) as info:
                slim.train.Saver().restore(sess, path)
            assert "extra/gamma" in str(info.value)
            with pytest.raises(CheckpointError):
                slim.train.Saver().restore(sess, str(tmp_path / "no_such_checkpoint"))
            with pytest.raises(CheckpointError):
                slim.train.Saver().restore(sess, None)


def test_saver_without_variables_is_an_error():
    with slim.Graph().as_default():
        with pytest.raises(CheckpointError):
            slim.train.Saver()
        slim.train.Saver(allow_empty=True)


def _saved_twice(tmp_path, fail_on, max_to_keep=5, monkeypatch=None):
    """Save checkpoint 1, then checkpoint 2 with os.replace failing on its `fail_on`-th call."""
    d = str(tmp_path)
    with slim.Graph().as_default():
        w, *_ = _model()
        saver = slim.train.Saver(max_to_keep=max_to_keep)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.set_variable_value(w, np.full((3, 4), 1.0, np.float32))
            saver.save(sess, os.path.join(d, "model.ckpt"), global_step=1)
            state_before = open(os.path.join(d, "checkpoint")).read()
            sess.set_variable_value(w, np.full((3, 4), 2.0, np.float32))
            real_replace = os.replace
            calls = []

            def failing_replace(src, dst, *args, **kwargs):
                calls.append(dst)
                if len(calls) == fail_on:
                    raise OSError(28, "No space left on device (simulated)")
                return real_replace(src, dst, *args, **kwargs)

            monkeypatch.setattr(os, "replace", failing_replace)
            with pytest.raises(OSError):
                saver.save(sess, os.path.join(d, "model.ckpt"), global_step=2)
            monkeypatch.setattr(os, "replace", real_replace)
    return d, state_before


@pytest.mark.parametrize("fail_on", [1, 2], ids=["data-file", "state-file"])
def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch, fail_on):
    d, state_before = _saved_twice(tmp_path, fail_on, monkeypatch=monkeypatch)
    assert _tmp_files(d) == []
    assert open(os.path.join(d, "checkpoint")).read() == state_before
    latest = slim.train.latest_checkpoint(d)
    assert latest == os.path.join(d, "model.ckpt-1")
    np.testing.assert_array_equal(slim.train.load_variable(latest, "net/w"), np.full((3, 4), 1.0, np.float32))
    if fail_on == 1:
        assert not os.path.exists(os.path.join(d, "model.ckpt-2.safetensors"))


def test_a_failed_state_write_does_not_delete_the_checkpoint_it_names(tmp_path, monkeypatch):
    """max_to_keep=1: the save of checkpoint 2 fails while renaming the state file into place. The state file
    still names checkpoint 1, so checkpoint 1 must still be on disk (old files go only once the new state
    is in place); otherwise logdir has no readable latest checkpoint."""
    d, state_before = _saved_twice(tmp_path, 2, max_to_keep=1, monkeypatch=monkeypatch)
    assert open(os.path.join(d, "checkpoint")).read() == state_before
    latest = slim.train.latest_checkpoint(d)
    assert latest is not None, f"no readable checkpoint left in {d}: {sorted(os.listdir(d))}"
    slim.train.load_variable(latest, "net/w")


def test_a_torn_file_is_a_checkpoint_error(tmp_path):
    with slim.Graph().as_default():
        _model()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            path = slim.train.Saver().save(sess, str(tmp_path / "m"))
            data = Path(path + ".safetensors").read_bytes()
            Path(path + ".safetensors").write_bytes(data[:len(data) // 3])
            with pytest.raises(CheckpointError) as info:
                slim.train.Saver().restore(sess, path)
            assert "m.safetensors" in str(info.value)


# ----------------------------------------------------------------------------- a TF-Slim checkpoint (V2)


def _tiny_net(x, scope):
    """shared/fixtures/tfslim_tiny's net (see its README), under another scope than the checkpoint's."""
    with slim.variable_scope(scope):
        with slim.arg_scope([slim.conv2d, slim.separable_conv2d, slim.conv2d_transpose, slim.fully_connected],
                            activation_fn=slim.nn.relu,
                            biases_initializer=slim.truncated_normal_initializer(stddev=0.1)):
            net = slim.conv2d(x, 8, [5, 5], stride=2, padding="VALID", scope="conv1")
            net = slim.max_pool2d(net, [3, 3], stride=1, padding="SAME", scope="pool1")
            net = slim.separable_conv2d(net, 16, [3, 3], depth_multiplier=2, scope="sep2")
            net = slim.conv2d_transpose(net, 8, [3, 3], stride=2, padding="SAME", scope="up3")
            net = slim.avg_pool2d(net, [2, 2], scope="pool3")
            net = slim.flatten(net, scope="flatten")
            net = slim.fully_connected(net, 32, scope="fc4")
            return slim.fully_connected(net, 10, activation_fn=None, scope="logits")


def test_tf_checkpoint_restores_through_a_dict_mapping(tmp_path):
    if not FIXTURE.is_dir():
        pytest.skip(f"shared fixtures folder {FIXTURE} is absent")
    ref = np.load(FIXTURE / "reference.npz")
    prefix = str(FIXTURE / "model.ckpt")
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 16, 16, 3], name="x")
        logits = _tiny_net(x, "student")
        mapping = {"tiny_net/" + v.op.name[len("student/"):]: v for v in slim.global_variables()}
        assert sorted(mapping) == sorted(name for name, _ in slim.train.list_variables(prefix))
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            slim.train.Saver(mapping).restore(sess, prefix)
            out = sess.run(logits, {x: ref["x"]})
            np.testing.assert_allclose(out, ref["endpoint/logits"], rtol=1e-5, atol=1e-5)
            # and it round-trips through slimir's own format under the TF names
            path = slim.train.Saver(mapping).save(sess, str(tmp_path / "converted"))
    for name, shape in slim.train.list_variables(prefix):
        assert list(slim.train.load_variable(path, name).shape) == shape
        np.testing.assert_array_equal(slim.train.load_variable(path, name),
                                      slim.train.load_variable(prefix, name))
    assert slim.train.latest_checkpoint(str(FIXTURE)) == prefix
