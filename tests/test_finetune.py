"""Fine-tuning helpers with TF-Slim's semantics: get_variables_to_restore (anchored include/exclude),
assign_from_checkpoint(_fn) with lists, dicts and callable name mappings, ignore_missing_vars,
reshape_variables, optimizer slots never required, 1001-class checkpoints, the unmatched-pattern
warning, TF-Slim's own checkpoint, init_fn only without a checkpoint, and examples/finetune_digits.py."""

import importlib.util
import inspect
import logging
import os
from pathlib import Path

import numpy as np
import pytest

import slimir as slim
from slimir.errors import CheckpointError, InvalidArgumentError, ShapeError, SlimirError
from slimir.runtime.checkpoint import assign as A
from slimir import scope_hints
from slimir.variables import Variable_

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURE = SHARED / "fixtures" / "tfslim_tiny"


def _checkpoint(tmp_path, values: dict, name="model.ckpt", global_step=None) -> str:
    """A slimir checkpoint holding `values` ({name: array}) under exactly those names."""
    with slim.Graph().as_default():
        mapping = {}
        for i, (n, v) in enumerate(values.items()):
            arr = np.asarray(v)
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            mapping[n] = Variable_(arr, name=f"v{i}")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            return slim.train.Saver(mapping).save(sess, str(tmp_path / name), global_step=global_step)


def _value(sess, v):
    return np.asarray(sess.run(v))


# ------------------------------------------------------------------- get_variables_to_restore semantics


def _two_scopes():
    with slim.variable_scope("A"):
        a = slim.variable("a", [5])
        b = slim.variable("b", [5])
    with slim.variable_scope("B"):
        c = slim.variable("c", [5])
        d = slim.variable("d", [5])
    return a, b, c, d


def test_variables_to_restore_include_exclude_are_anchored_at_the_start():
    with slim.Graph().as_default():
        a, b, c, d = _two_scopes()
        assert slim.get_variables_to_restore() == [a, b, c, d]
        assert slim.get_variables_to_restore(include=["A"]) == [a, b]
        assert slim.get_variables_to_restore(exclude=["B"]) == [a, b]
        assert slim.get_variables_to_restore(include=["A/a", "B/c"]) == [a, c]
        assert slim.get_variables_to_restore(exclude=["A/a", "B/c"]) == [b, d]
        # TF-Slim: include=['a'] matches nothing for 'A/a' (the scope is matched at the start of the name)
        assert slim.get_variables_to_restore(include=["a"]) == []
        assert slim.get_variables_to_restore(exclude=["a"]) == [a, b, c, d]
        with pytest.raises(TypeError):
            slim.get_variables_to_restore(include="A")


def test_filter_variables_search_and_match():
    with slim.Graph().as_default():
        with slim.variable_scope("conv1"):
            w1, b1 = slim.variable("weights", [1]), slim.variable("biases", [1])
        with slim.variable_scope("conv2"):
            w2, b2 = slim.variable("weights", [1]), slim.variable("biases", [1])
        allv = [w1, b1, w2, b2]
        assert slim.filter_variables(allv) == allv
        assert slim.filter_variables(allv, include_patterns=["biases"]) == [b1, b2]
        assert slim.filter_variables(allv, exclude_patterns=["weights"]) == [b1, b2]
        assert slim.filter_variables(allv, include_patterns=["conv1"], exclude_patterns=["biases"]) == [w1]
        assert slim.filter_variables(allv, include_patterns=["biases"], reg_search=False) == []
        assert slim.filter_variables(allv, include_patterns=[".*biases"], reg_search=False) == [b1, b2]


# ------------------------------------------------------------------- assign_from_checkpoint(_fn)


def test_assign_from_checkpoint_returns_op_and_feed_dict(tmp_path):
    path = _checkpoint(tmp_path, {"v0": 10.0, "v1": 20.0})
    with slim.Graph().as_default():
        var0 = slim.variable("my_var0", shape=[])
        var1 = slim.variable("my_var1", shape=[])
        op, feed_dict = A.assign_from_checkpoint(path, {"v0": var0, "v1": var1})
        assert len(feed_dict) == 2
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(op, feed_dict)
            assert _value(sess, var0) == 10.0 and _value(sess, var1) == 20.0
            sess.run(slim.global_variables_initializer())  # the op can run again, in any session
            sess.run(op, feed_dict)
            assert _value(sess, var1) == 20.0


def test_assign_from_checkpoint_with_scopes_and_one_name_to_several_variables(tmp_path):
    v0 = np.asarray([1.0, 3.0, 9.0], np.float32).reshape((1, 3, 1))
    v1 = np.asarray([2.0, 4.0, 6.0, 8.0], np.float32).reshape((2, 1, 2))
    path = _checkpoint(tmp_path, {"layer0/v0": v0, "layer1/v1": v1})
    with slim.Graph().as_default():
        with slim.variable_scope("my_model/my_layer0"):
            var0 = slim.variable("my_var0", shape=v0.shape)
            var0b = slim.variable("copy", shape=v0.shape)
        with slim.variable_scope("my_model/my_layer1"):
            var1 = slim.variable("my_var1", shape=v1.shape)
        op, fd = A.assign_from_checkpoint(path, {"layer0/v0": [var0, var0b], "layer1/v1": var1})
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(op, fd)
            np.testing.assert_array_equal(_value(sess, var0), v0)
            np.testing.assert_array_equal(_value(sess, var0b), v0)
            np.testing.assert_array_equal(_value(sess, var1), v1)


def test_assign_from_checkpoint_raises_for_a_missing_variable(tmp_path):
    path = _checkpoint(tmp_path, {"v0": 10.0, "v1": 20.0})
    with slim.Graph().as_default():
        var0 = slim.variable("my_var0", shape=[])
        var1 = slim.variable("my_var1", shape=[])
        with pytest.raises(ValueError) as info:
            A.assign_from_checkpoint(path, {"v0_fake": var0, "v1": var1})
        assert isinstance(info.value, CheckpointError)
        assert "v0_fake" in str(info.value) and path in str(info.value)


def test_assign_from_checkpoint_fn_list_uses_variable_names(tmp_path):
    path = _checkpoint(tmp_path, {"net/w": [[1.0, 2.0]], "net/b": [3.0]})
    with slim.Graph().as_default():
        with slim.variable_scope("net"):
            w = slim.variable("w", [1, 2])
            b = slim.variable("b", [1])
        init_fn = A.assign_from_checkpoint_fn(path, [w, b])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert init_fn(sess) is None
            np.testing.assert_array_equal(_value(sess, w), [[1.0, 2.0]])
            np.testing.assert_array_equal(_value(sess, b), [3.0])


def test_assign_from_checkpoint_fn_dict_mapping(tmp_path):
    path = _checkpoint(tmp_path, {"v0": 10.0, "v1": 20.0})
    with slim.Graph().as_default():
        var0 = slim.variable("my_var0", shape=[])
        var1 = slim.variable("my_var1", shape=[])
        init_fn = A.assign_from_checkpoint_fn(path, {"v0": var0, "v1": var1})
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            init_fn(sess)
            assert _value(sess, var0) == 10.0 and _value(sess, var1) == 20.0


def test_assign_from_checkpoint_fn_callable_name_mapping(tmp_path):
    """The README's name_in_checkpoint: 'conv1/weights' restored from 'vgg16/conv1/weights'; None skips."""
    path = _checkpoint(tmp_path, {"vgg16/conv1/weights": [1.0, 2.0], "vgg16/conv1/biases": [5.0]})
    with slim.Graph().as_default():
        with slim.variable_scope("conv1"):
            w = slim.variable("weights", [2])
            b = slim.variable("biases", [1])
        other = slim.variable("other", [1], initializer=slim.constant_initializer(7.0))
        init_fn = A.assign_from_checkpoint_fn(
            path, lambda name: None if name == "other" else "vgg16/" + name)
        assert sorted(init_fn.var_names) == ["vgg16/conv1/biases", "vgg16/conv1/weights"]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            init_fn(sess)
            np.testing.assert_array_equal(_value(sess, w), [1.0, 2.0])
            np.testing.assert_array_equal(_value(sess, b), [5.0])
            np.testing.assert_array_equal(_value(sess, other), [7.0])


def test_missing_variables_are_an_error_naming_all_of_them(tmp_path):
    path = _checkpoint(tmp_path, {"v0": 10.0, "v1": 20.0})
    with slim.Graph().as_default():
        var0 = slim.variable("my_var0", shape=[])
        var1 = slim.variable("my_var1", shape=[])
        var2 = slim.variable("my_var2", shape=[])
        var3 = slim.variable("my_var3", shape=[])
        init_fn = A.assign_from_checkpoint_fn(path, {"v0": var0, "v1": var1, "v2": var2, "v3": var3})
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(CheckpointError) as info:
                init_fn(sess)
            msg = str(info.value)
            assert "v2" in msg and "v3" in msg and "missing 2 variables" in msg and "ignore_missing_vars" in msg


@pytest.mark.parametrize("as_dict", [False, True], ids=["list", "dict"])
def test_ignore_missing_vars_warns_and_restores_the_rest(tmp_path, caplog, as_dict):
    path = _checkpoint(tmp_path, {"v0": 10.0, "v1": 20.0})
    with slim.Graph().as_default():
        if as_dict:
            var0, var1 = slim.variable("my_var0", shape=[]), slim.variable("my_var1", shape=[])
            var2 = slim.variable("my_var2", shape=[], initializer=slim.constant_initializer(3.0))
            var_list = {"v0": var0, "v1": var1, "v2": var2}
        else:
            var0, var1 = slim.variable("v0", shape=[]), slim.variable("v1", shape=[])
            var2 = slim.variable("v2", shape=[], initializer=slim.constant_initializer(3.0))
            var_list = [var0, var1, var2]
        with caplog.at_level(logging.WARNING, logger="slimir"):
            init_fn = A.assign_from_checkpoint_fn(path, var_list, ignore_missing_vars=True)
        assert any("v2" in r.getMessage() and "missing" in r.getMessage() for r in caplog.records)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            init_fn(sess)
            assert _value(sess, var0) == 10.0 and _value(sess, var1) == 20.0 and _value(sess, var2) == 3.0


def test_ignore_missing_vars_with_nothing_to_restore_returns_none(tmp_path, caplog):
    path = _checkpoint(tmp_path, {"v0": 10.0})
    with slim.Graph().as_default():
        var = slim.variable("elsewhere", shape=[])
        with caplog.at_level(logging.WARNING, logger="slimir"):
            assert A.assign_from_checkpoint_fn(path, [var], ignore_missing_vars=True) is None
        assert any("no variables to restore" in r.getMessage() for r in caplog.records)


def test_assign_from_checkpoint_ignore_missing_vars(tmp_path):
    path = _checkpoint(tmp_path, {"v0": 10.0})
    with slim.Graph().as_default():
        var0, var1 = slim.variable("v0", shape=[]), slim.variable("v1", shape=[])
        op, fd = A.assign_from_checkpoint(path, [var0, var1], ignore_missing_vars=True)
        assert len(fd) == 1
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(op, fd)
            assert _value(sess, var0) == 10.0


def test_empty_var_list_is_an_error(tmp_path):
    path = _checkpoint(tmp_path, {"v0": 10.0})
    with slim.Graph().as_default():
        for empty in ([], {}, None):
            with pytest.raises(ValueError):
                A.assign_from_checkpoint_fn(path, empty)


def test_reshape_variables(tmp_path):
    """TF-Slim's test: [[10, 11]] goes into a [2, 1] variable only with reshape_variables=True."""
    path = _checkpoint(tmp_path, {"v0": [[10.0, 11.0]], "v1": 20.0})
    with slim.Graph().as_default():
        var0 = slim.variable("my_var0", shape=[2, 1])
        var1 = slim.variable("my_var1", shape=[])
        strict = A.assign_from_checkpoint_fn(path, {"v0": var0, "v1": var1})
        loose = A.assign_from_checkpoint_fn(path, {"v0": var0, "v1": var1}, reshape_variables=True)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(ShapeError) as info:
                strict(sess)
            assert "[1, 2]" in str(info.value) and "[2, 1]" in str(info.value) and "my_var0" in str(info.value)
            loose(sess)
            np.testing.assert_array_equal(_value(sess, var0), np.transpose(np.array([[10.0, 11.0]])))
            assert _value(sess, var1) == 20.0
    with slim.Graph().as_default():  # a different size is an error even with reshape_variables
        var0 = slim.variable("my_var0", shape=[3, 1])
        fn = A.assign_from_checkpoint_fn(path, {"v0": var0}, reshape_variables=True)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(ShapeError):
                fn(sess)


def _small_net(x, num_classes=3):
    net = slim.fully_connected(x, 4, scope="net/fc1")
    return slim.fully_connected(net, num_classes, activation_fn=None, scope="net/logits")


def test_optimizer_slots_and_global_step_are_never_required(tmp_path, caplog):
    """An inference checkpoint (model variables only) warm-starts a training graph whose
    get_variables_to_restore() also holds Momentum/Adam slots, Adam's beta powers and the global step."""
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 2], name="x")
        _small_net(x)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            path = slim.train.Saver(slim.get_model_variables()).save(sess, str(tmp_path / "inference"))
            saved = {v.op.name: sess.variable_value(v).copy() for v in slim.get_model_variables()}
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 2], name="x")
        y = slim.placeholder(slim.int64, [None], name="y")
        logits = _small_net(x)
        loss = slim.losses.sparse_softmax_cross_entropy(logits, y)
        slim.learning.create_train_op(loss, slim.train.AdamOptimizer(0.1))
        slim.learning.create_train_op(loss, slim.train.MomentumOptimizer(0.1, 0.9))
        slim.learning.create_train_op(loss, slim.train.RMSPropOptimizer(0.1))
        slim.learning.create_train_op(loss, slim.train.AdagradOptimizer(0.1))
        names = [v.op.name for v in slim.get_variables_to_restore()]
        for suffix in ("/Adam", "/Adam_1", "/Momentum", "/RMSProp", "/RMSProp_1", "/Adagrad"):
            assert any(n.endswith(suffix) for n in names), (suffix, names)
        assert "global_step" in names and "beta1_power" in names
        with caplog.at_level(logging.INFO, logger="slimir"):
            init_fn = A.assign_from_checkpoint_fn(path, slim.get_variables_to_restore())
            with slim.Session() as sess:
                sess.run(slim.global_variables_initializer())
                init_fn(sess)
                for name, value in saved.items():
                    np.testing.assert_array_equal(sess.variable_value(slim.get_unique_variable(name)), value)
        skipped = [r.getMessage() for r in caplog.records if "optimizer slots" in r.getMessage()]
        assert skipped and "net/fc1/weights/Adam" in skipped[0] and "global_step" in skipped[0]
    assert A.is_optional_variable("vgg_16/fc8/weights/Momentum")
    assert A.is_optional_variable("a/b/RMSProp_1") and A.is_optional_variable("beta2_power_1")
    assert not A.is_optional_variable("vgg_16/fc8/weights")


def test_a_1001_class_checkpoint_points_to_labels_offset(tmp_path):
    path = _checkpoint(tmp_path, {"net/fc1/weights": np.zeros((2, 4)), "net/fc1/biases": np.zeros(4),
                                  "net/logits/weights": np.zeros((4, 1001)), "net/logits/biases": np.zeros(1001)})
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 2], name="x")
        _small_net(x, num_classes=1000)
        init_fn = A.assign_from_checkpoint_fn(path, slim.get_model_variables())
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(ShapeError) as info:
                init_fn(sess)
            msg = str(info.value)
            assert "1001" in msg and "labels_offset" in msg and "exclude the logits" in msg
            # excluding the logits is the fix
            A.assign_from_checkpoint_fn(path, slim.get_variables_to_restore(exclude=["net/logits"]))(sess)


def test_model_path_forms(tmp_path):
    """A directory (its latest checkpoint), a prefix, the .safetensors file."""
    d = tmp_path / "run"
    d.mkdir()
    with slim.Graph().as_default():
        v = slim.variable("v", shape=[2])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            saver = slim.train.Saver()
            sess.set_variable_value(v, np.array([1.0, 1.0], np.float32))
            saver.save(sess, str(d / "model.ckpt"), global_step=1)
            sess.set_variable_value(v, np.array([2.0, 2.0], np.float32))
            latest = saver.save(sess, str(d / "model.ckpt"), global_step=2)
            for form, want in ((str(d), 2.0), (latest, 2.0), (str(d / "model.ckpt-1"), 1.0),
                               (str(d / "model.ckpt-1.safetensors"), 1.0)):
                sess.set_variable_value(v, np.zeros(2, np.float32))
                A.assign_from_checkpoint_fn(form, [v])(sess)
                assert _value(sess, v)[0] == want, form
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        A.assign_from_checkpoint_fn(str(empty), [v])
    with pytest.raises(CheckpointError, match="None"):
        A.assign_from_checkpoint_fn(None, [v])


# ------------------------------------------------------------------- assign_from_values


def test_assign_from_values_and_fn():
    v0 = np.asarray([1.0, 3.0, 9.0]).reshape((1, 3, 1))
    v1 = np.asarray([2.0, 4.0, 6.0, 8.0]).reshape((2, 1, 2))
    with slim.Graph().as_default():
        with slim.variable_scope("my_model/my_layer0"):
            var0 = slim.variable("my_var0", shape=[1, 3, 1])
        with slim.variable_scope("my_model/my_layer1"):
            var1 = slim.variable("my_var1", shape=[2, 1, 2])
        values = {"my_model/my_layer0/my_var0": v0, "my_model/my_layer1/my_var1": v1}
        op, fd = A.assign_from_values(values)
        init_fn = A.assign_from_values_fn({"my_model/my_layer1/my_var1": v1.reshape(-1)})  # reshaped
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(op, fd)
            np.testing.assert_array_equal(_value(sess, var0), v0)
            np.testing.assert_array_equal(_value(sess, var1), v1)
            sess.run(slim.global_variables_initializer())
            init_fn(sess)
            np.testing.assert_array_equal(_value(sess, var1), v1)
        with pytest.raises(InvalidArgumentError, match="my_model/my_layer0/my_var9"):
            A.assign_from_values({"my_model/my_layer0/my_var9": v0})
        with pytest.raises(InvalidArgumentError, match="shape"):
            A.assign_from_values({"my_model/my_layer0/my_var0": np.zeros(4)})


# ------------------------------------------------------------------- the unmatched-pattern warning


def _vgg_like():
    with slim.variable_scope("vgg_16"):
        for layer in ("conv1/conv1_1", "fc6", "fc7", "fc8"):
            with slim.variable_scope(layer):
                slim.variable("weights", [1])
                slim.variable("biases", [1])


def test_unmatched_pattern_warning_names_the_pattern_and_the_nearest_scope(caplog):
    """The seed's snippet: exclude=['fc6', 'fc7', 'fc8'] excludes nothing under vgg_16/ (TF-Slim's
    matching, kept); slimir says so."""
    with slim.Graph().as_default():
        _vgg_like()
        with caplog.at_level(logging.WARNING, logger="slimir"):
            unmatched = A.warn_unmatched_patterns(exclude=["fc6", "fc7", "vgg_16/fc8"])
        assert unmatched == ["fc6", "fc7"]
        msgs = [r.getMessage() for r in caplog.records]
        assert len(msgs) == 2
        assert "'fc6'" in msgs[0] and "matches no variable" in msgs[0] and "did you mean 'vgg_16/fc6'" in msgs[0]
        assert "did you mean 'vgg_16/fc7'" in msgs[1]
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="slimir"):
            assert A.warn_unmatched_patterns(include=["vgg_16/conv1"], exclude=["vgg_16/fc"]) == []
        assert not caplog.records
    with slim.Graph().as_default():
        with slim.variable_scope("A"):
            slim.variable("a", [1])
        assert scope_hints.suggest_scopes("a", slim.global_variables()) == ["A/a"]
        assert scope_hints.suggest_scopes("lenet/fc4", ["LeNet/fc4/weights", "LeNet/fc3/weights"]) == ["LeNet/fc4"]
        assert "top-level scopes are 'A'" in scope_hints.unmatched_message("include", "zzz", ["A/a"])


_HOOKED = "warn_unmatched_patterns" in inspect.getsource(slim.get_variables_to_restore)


@pytest.mark.skipif(not _HOOKED, reason="the hook in slimir.variables.get_variables_to_restore is not installed")
def test_get_variables_to_restore_warns_about_unmatched_patterns(caplog):
    with slim.Graph().as_default():
        _vgg_like()
        with caplog.at_level(logging.WARNING, logger="slimir"):
            got = slim.get_variables_to_restore(exclude=["fc6", "fc7", "fc8"])
        assert len(got) == 8  # TF-Slim semantics kept: nothing excluded
        msgs = [r.getMessage() for r in caplog.records]
        assert any("'fc8'" in m and "vgg_16/fc8" in m for m in msgs)


# ------------------------------------------------------------------- TF-Slim's own checkpoint


def _tiny_net(x, scope):
    """shared/fixtures/tfslim_tiny's net (see its README)."""
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


@pytest.mark.parametrize("how", ["list-prefix", "list-directory", "list-index-file", "callable", "dict"])
def test_tf_checkpoint_through_assign_from_checkpoint_fn(how):
    if not FIXTURE.is_dir():
        pytest.skip(f"shared fixtures folder {FIXTURE} is absent")
    ref = np.load(FIXTURE / "reference.npz")
    prefix = str(FIXTURE / "model.ckpt")
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 16, 16, 3], name="x")
        scope = "tiny_net" if how.startswith("list") else "student"
        logits = _tiny_net(x, scope)
        slim.get_or_create_global_step()  # not in the TF checkpoint: never required
        if how == "list-prefix":
            init_fn = A.assign_from_checkpoint_fn(prefix, slim.get_variables_to_restore())
        elif how == "list-directory":
            init_fn = A.assign_from_checkpoint_fn(str(FIXTURE), slim.get_variables_to_restore())
        elif how == "list-index-file":
            init_fn = A.assign_from_checkpoint_fn(prefix + ".index", slim.get_model_variables())
        elif how == "callable":
            init_fn = A.assign_from_checkpoint_fn(
                prefix, lambda n: "tiny_net/" + n[len("student/"):] if n.startswith("student/") else None)
        else:
            init_fn = A.assign_from_checkpoint_fn(
                prefix, {"tiny_net/" + v.op.name[len("student/"):]: v for v in slim.get_model_variables()})
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            init_fn(sess)
            out = sess.run(logits, {x: ref["x"]})
    np.testing.assert_allclose(out, ref["endpoint/logits"], rtol=1e-5, atol=1e-5)
    # evaluation reads only: the fixture is untouched (checked by its size and the listing)
    assert sorted(os.listdir(FIXTURE)) == sorted(["README.md", "checkpoint", "make_fixture.py", "reference.npz",
                                                  "variables.txt", "model.ckpt.index",
                                                  "model.ckpt.data-00000-of-00001"])


def test_tf_checkpoint_under_another_scope_suggests_a_mapping():
    if not FIXTURE.is_dir():
        pytest.skip(f"shared fixtures folder {FIXTURE} is absent")
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 16, 16, 3], name="x")
        _tiny_net(x, "student")
        init_fn = A.assign_from_checkpoint_fn(str(FIXTURE / "model.ckpt"), slim.get_model_variables())
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(CheckpointError) as info:
                init_fn(sess)
    msg = str(info.value)
    assert "missing 11 variables" in msg and "'tiny_net/conv1/weights'" in msg and "dict" in msg


# ------------------------------------------------------------------- learning.train(init_fn=...)


def _logistic(seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((64, 4)).astype(np.float32)
    ys = (xs[:, 0] + xs[:, 1] > 0).astype(np.int64)
    x = slim.placeholder(slim.float32, [None, 4], name="x")
    y = slim.placeholder(slim.int64, [None], name="y")
    slim.inputs.bind([x, y], iter(lambda: (xs, ys), None))
    logits = slim.fully_connected(x, 2, activation_fn=None, scope="clf")
    loss = slim.losses.sparse_softmax_cross_entropy(logits, y)
    return slim.learning.create_train_op(loss, slim.train.GradientDescentOptimizer(0.1))


def test_init_fn_runs_only_when_logdir_has_no_checkpoint(tmp_path):
    warm = _checkpoint(tmp_path, {"clf/weights": np.full((4, 2), 0.5, np.float32),
                                  "clf/biases": np.array([0.25, -0.25], np.float32)}, name="warm")
    logdir = str(tmp_path / "train")
    calls = []
    seen = {}

    def run(steps):
        with slim.Graph().as_default():
            train_op = _logistic()
            restore = A.assign_from_checkpoint_fn(warm, slim.get_variables_to_restore(include=["clf"]))

            def init_fn(sess):
                calls.append(steps)
                restore(sess)
                seen["weights"] = sess.variable_value(slim.get_unique_variable("clf/weights")).copy()

            slim.learning.train(train_op, logdir, number_of_steps=steps, init_fn=init_fn, save_interval_secs=1e9)

    run(3)
    assert calls == [3]
    np.testing.assert_array_equal(seen["weights"], np.full((4, 2), 0.5, np.float32))
    step3 = slim.train.latest_checkpoint(logdir)
    assert step3.endswith("-3")
    run(6)  # resumes from logdir's own checkpoint: init_fn is not applied again
    assert calls == [3]
    assert slim.train.latest_checkpoint(logdir).endswith("-6")
    assert not np.array_equal(slim.train.load_variable(logdir, "clf/weights"), np.full((4, 2), 0.5, np.float32))


# ------------------------------------------------------------------- the fine-tuning example


def _load_example():
    spec = importlib.util.spec_from_file_location("finetune_digits", ROOT / "examples" / "finetune_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_finetune_example(tmp_path):
    pytest.importorskip("sklearn")
    ex = _load_example()
    train_set, test_set = ex.load_digits_split()
    base = ex.train_base(str(tmp_path / "digits0-4"), train_set, steps=150)
    assert ex.accuracy(base, test_set, [0, 1, 2, 3, 4]) > 0.9
    rep = ex.finetune(base, str(tmp_path / "digits5-9"), train_set, head_steps=60, all_steps=100,
                      test_set=test_set)
    assert "LeNet/fc4/weights" not in rep["restored"] and "LeNet/conv1/weights" in rep["restored"]
    assert rep["trained_in_head_phase"] == ["LeNet/fc4/weights", "LeNet/fc4/biases"]
    assert max(rep["restored_max_abs_diff"].values()) == 0.0  # restored layers start from the checkpoint
    assert rep["head_differs_from_checkpoint"]
    assert rep["body_unchanged_by_head_phase"] and rep["body_changed_by_full_phase"]
    assert rep["init_fn_calls"] == 1
    assert rep["accuracy_all"] > 0.9, rep
    assert rep["accuracy_head_only"] > 0.5, rep


def test_errors_are_slimir_errors(tmp_path):
    with slim.Graph().as_default():
        v = slim.variable("v", [1])
        with pytest.raises(SlimirError):
            A.assign_from_checkpoint_fn(str(tmp_path / "nothing"), [v])(None)
        with pytest.raises(InvalidArgumentError, match="not a variable"):
            A.assign_from_checkpoint_fn(str(tmp_path / "nothing"), [slim.constant(1.0)])
