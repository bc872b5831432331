"""Tests for slim variables, collections, variable look-up helpers and initializers.

Reference semantics: tf_slim/ops/variables.py (TF-Slim 1.1.0), TF1 get_variable,
tf_slim/layers/initializers.py. Look-ups by scope are regular-expression matches
anchored at the start of the variable's full name (TF's get_collection(key, scope)).
"""

import math

import numpy as np
import pytest

import slimir as slim
from slimir.errors import SlimirError

# Standard deviation of a unit normal truncated to [-2, 2].
TRUNC_STD_FACTOR = 0.8796256610342398


@pytest.fixture(autouse=True)
def _fresh_graph():
    with slim.Graph().as_default() as g:
        yield g


def _names(variables):
    return [v.op.name for v in variables]


def _canon_device(device):
    d = device.lower().replace("/device:", "/")
    return d if d.startswith("/") else "/" + d


def _initial_values(*variables, local=False):
    with slim.Session() as sess:
        sess.run(slim.global_variables_initializer())
        if local:
            sess.run(slim.local_variables_initializer())
        return sess.run(list(variables))


# --------------------------------------------------------------------------
# slim.variable / slim.model_variable / local and global variables.
# --------------------------------------------------------------------------


def test_variable_name_shape_dtype_and_collections():
    with slim.variable_scope("A"):
        a = slim.variable("a", [5])
    assert a.op.name == "A/a"
    assert a.name == "A/a:0"
    assert a.shape.as_list() == [5]
    assert a.dtype == slim.float32
    assert a in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)
    assert a in slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES)
    assert a not in slim.get_collection(slim.GraphKeys.MODEL_VARIABLES)
    assert a not in slim.get_collection(slim.GraphKeys.LOCAL_VARIABLES)


def test_variable_initial_values():
    z = slim.variable("z", [2, 3], dtype=slim.int64, initializer=slim.zeros_initializer())
    o = slim.variable("o", [4], initializer=slim.ones_initializer())
    c = slim.variable("c", [2, 2], initializer=slim.constant_initializer(3.5))
    lst = slim.variable("lst", [2, 2], initializer=slim.constant_initializer([[1.0, 2.0], [3.0, 4.0]]))
    z_v, o_v, c_v, l_v = _initial_values(z, o, c, lst)
    assert isinstance(z_v, np.ndarray)
    assert z_v.dtype == np.int64
    np.testing.assert_array_equal(z_v, np.zeros((2, 3), np.int64))
    assert o_v.dtype == np.float32
    np.testing.assert_array_equal(o_v, np.ones(4, np.float32))
    np.testing.assert_array_equal(c_v, np.full((2, 2), 3.5, np.float32))
    np.testing.assert_array_equal(l_v, np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))


def test_variable_initialized_from_tensor_or_array():
    t = slim.variable("t", initializer=slim.constant(np.array([1.0, 2.0, 3.0], np.float32)))
    arr = slim.variable("arr", initializer=np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    assert t.shape.as_list() == [3]
    assert arr.shape.as_list() == [2, 2]
    t_v, a_v = _initial_values(t, arr)
    np.testing.assert_array_equal(t_v, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(a_v, [[1.0, 2.0], [3.0, 4.0]])


def test_constant_initializer_value_with_shape_raises():
    # TF1 get_variable: "If initializer is a constant, do not specify shape."
    with pytest.raises(ValueError):
        slim.variable("t", [3], initializer=slim.constant(np.array([1.0, 2.0, 3.0], np.float32)))


def test_variable_default_initializer_is_glorot_uniform():
    v = slim.variable("v", [200, 300])
    (val,) = _initial_values(v)
    limit = math.sqrt(6.0 / (200 + 300))
    assert np.abs(val).max() <= limit + 1e-6
    assert val.max() > 0.99 * limit
    assert val.min() < -0.99 * limit
    np.testing.assert_allclose(val.std(), limit / math.sqrt(3.0), rtol=0.03)


def test_model_variable_collections_and_value():
    with slim.variable_scope("A"):
        a = slim.model_variable("a", [5], initializer=slim.ones_initializer())
    assert a.op.name == "A/a"
    assert a.shape.as_list() == [5]
    assert a.dtype == slim.float32
    assert a in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)
    assert a in slim.get_collection(slim.GraphKeys.MODEL_VARIABLES)
    assert a in slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES)
    assert a not in slim.get_collection(slim.GraphKeys.LOCAL_VARIABLES)
    assert slim.get_model_variables("A") == [a]
    (val,) = _initial_values(a)
    np.testing.assert_array_equal(val, np.ones(5, np.float32))


def test_model_variable_extra_collections_are_added_not_replacing():
    m = slim.model_variable("m", [2], collections=["extra"])
    assert slim.get_collection("extra") == [m]
    assert slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) == [m]
    assert slim.get_collection(slim.GraphKeys.MODEL_VARIABLES) == [m]


def test_variable_collections_replace_global_collection():
    a = slim.variable("a", [], collections=["A", "C"])
    b = slim.variable("b", [], collections=["B", "C"])
    assert slim.get_collection("A") == [a]
    assert slim.get_collection("B") == [b]
    assert slim.get_collection("C") == [a, b]
    # Explicit collections replace GLOBAL_VARIABLES; trainable is still honoured.
    assert slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) == []
    assert slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES) == [a, b]


def test_variable_trainable_false():
    t = slim.variable("t", [1])
    n = slim.variable("n", [1], trainable=False)
    assert slim.get_trainable_variables() == [t]
    assert slim.get_variables() == [t, n]


def test_arg_scope_sets_trainable_and_collections_of_variable():
    a = slim.variable("a", [])
    with slim.arg_scope([slim.variable], trainable=False, collections=["A", "B"]):
        b = slim.variable("b", [])
    c = slim.variable("c", [], trainable=False)
    assert slim.get_variables_to_restore() == [a, c]
    assert slim.get_trainable_variables() == [a]
    assert slim.get_collection("A") == [b]
    assert slim.get_collection("B") == [b]


def test_arg_scope_collections_nested_and_sequential():
    with slim.arg_scope([slim.variable], collections=["A"]):
        a = slim.variable("a", [])
        with slim.arg_scope([slim.variable], collections=["B"]):
            b = slim.variable("b", [])
    with slim.arg_scope([slim.variable], collections=["C"]):
        c = slim.variable("c", [])
    d = slim.variable("d", [])
    assert slim.get_collection("A") == [a]
    assert slim.get_collection("B") == [b]
    assert slim.get_collection("C") == [c]
    assert slim.get_variables() == [d]


def test_arg_scope_on_model_variable():
    with slim.arg_scope([slim.model_variable], trainable=False, device="/CPU:0"):
        m = slim.model_variable("m", [3])
    assert m in slim.get_model_variables()
    assert m not in slim.get_trainable_variables()
    assert _canon_device(m.device) == "/cpu:0"


def test_device_is_recorded():
    a = slim.variable("a", [], device="/CPU:0")
    b = slim.variable("b", [], device="/device:CPU:0")
    m = slim.model_variable("m", [], device="/CPU:0")
    assert _canon_device(a.device) == "/cpu:0"
    assert _canon_device(b.device) == "/cpu:0"
    assert _canon_device(m.device) == "/cpu:0"
    with slim.arg_scope([slim.variable], device="/CPU:0"):
        c = slim.variable("c", [])
        d = slim.variable("d", [], device="/GPU:0")
    assert _canon_device(c.device) == "/cpu:0"
    assert _canon_device(d.device) == "/gpu:0"


def test_local_variable():
    with slim.variable_scope("A"):
        a = slim.local_variable([1.0, 1.0, 1.0, 1.0, 1.0], name="a")
        anon = slim.local_variable(0.0)
    assert a.op.name == "A/a"
    assert a.shape.as_list() == [5]
    assert anon.op.name == "A/Variable"
    assert slim.get_local_variables() == [a, anon]
    assert slim.get_local_variables("A") == [a, anon]
    assert slim.get_variables("A") == []
    assert slim.get_trainable_variables() == []
    assert a not in slim.get_variables_to_restore()
    (val,) = _initial_values(a, local=True)
    np.testing.assert_array_equal(val, np.ones(5, np.float32))


def test_global_variable():
    with slim.variable_scope("A"):
        g = slim.global_variable(7.0, name="g")
    assert g.op.name == "A/g"
    assert slim.get_variables() == [g]
    assert slim.get_trainable_variables() == []
    assert slim.get_local_variables() == []
    (val,) = _initial_values(g)
    assert float(val) == 7.0


def test_add_model_variable():
    v = slim.variable("v", [2])
    assert slim.get_model_variables() == []
    slim.add_model_variable(v)
    slim.add_model_variable(v)
    assert slim.get_model_variables() == [v]


# --------------------------------------------------------------------------
# Look-up helpers.
# --------------------------------------------------------------------------


def test_get_variables_by_scope():
    with slim.variable_scope("A") as scope_a:
        a = slim.variable("a", [5])
        a2 = slim.variable("b", [5])
    with slim.variable_scope("B"):
        b = slim.variable("a", [5])
    assert slim.get_variables() == [a, a2, b]
    assert slim.get_variables("A") == [a, a2]
    assert slim.get_variables("B") == [b]
    assert slim.get_variables(scope_a) == [a, a2]
    assert slim.get_variables("A/b") == [a2]
    assert slim.get_variables("C") == []


def test_get_variables_scope_is_anchored_regex_prefix():
    with slim.variable_scope("conv1"):
        w1 = slim.variable("w", [1])
    with slim.variable_scope("conv10"):
        w10 = slim.variable("w", [1])
    with slim.variable_scope("A"):
        upper = slim.variable("a", [1])
    with slim.variable_scope("b"):
        nested = slim.variable("conv1", [1])
    # A plain prefix match: "conv1" also matches "conv10/..." but never "b/conv1".
    assert slim.get_variables("conv1") == [w1, w10]
    assert slim.get_variables("conv1/") == [w1]
    assert slim.get_variables("conv1[0-9]") == [w10]
    # Case-sensitive and anchored at the start of the name.
    assert slim.get_variables("a") == []
    assert slim.get_variables("A") == [upper]
    assert slim.get_variables_to_restore(include=["a"]) == []
    assert slim.get_variables_to_restore(include=["conv1/"]) == [w1]
    assert nested not in slim.get_variables("conv1")


def test_get_variables_by_suffix_argument():
    with slim.variable_scope("A"):
        a = slim.variable("a", [5])
    with slim.variable_scope("A"):
        b = slim.variable("b", [5])
    assert slim.get_variables(suffix="a") == [a]
    assert slim.get_variables(suffix="b") == [b]
    assert slim.get_variables(scope="A", suffix="b") == [b]


def test_get_variables_collection_argument():
    with slim.variable_scope("A"):
        plain = slim.variable("plain", [1])
        model = slim.model_variable("model", [1])
        frozen = slim.variable("frozen", [1], trainable=False)
    assert slim.get_variables("A", collection=slim.GraphKeys.MODEL_VARIABLES) == [model]
    assert slim.get_variables(collection=slim.GraphKeys.TRAINABLE_VARIABLES) == [plain, model]
    assert slim.get_variables("A") == [plain, model, frozen]


def test_get_model_trainable_local_variables_by_scope():
    with slim.variable_scope("A"):
        slim.local_variable([5.0])
        a = slim.model_variable("a", [5])
    with slim.variable_scope("B"):
        slim.local_variable([5.0])
        b = slim.model_variable("a", [5])
    assert slim.get_model_variables("A") == [a]
    assert slim.get_model_variables("B") == [b]
    assert slim.get_trainable_variables("A") == [a]
    assert slim.get_trainable_variables("B") == [b]
    assert _names(slim.get_local_variables("A")) == ["A/Variable"]
    assert slim.get_model_variables() == [a, b]


def test_get_variables_by_suffix():
    with slim.variable_scope("A"):
        a = slim.variable("a", [5])
        fooa = slim.variable("fooa", [5])
    with slim.variable_scope("B"):
        a2 = slim.variable("a", [5])
    assert slim.get_variables_by_suffix("a") == [a, fooa, a2]
    assert slim.get_variables_by_suffix("/a") == [a, a2]
    assert slim.get_variables_by_suffix("a", scope="A") == [a, fooa]
    assert slim.get_variables_by_suffix("fooa") == [fooa]


def test_get_variables_by_name():
    with slim.variable_scope("A"):
        a = slim.variable("a", [5])
        fooa = slim.variable("fooa", [5])
    with slim.variable_scope("B"):
        a2 = slim.variable("a", [5])
    assert slim.get_variables_by_name("a", scope="B") == [a2]
    # (With a top-level "a" present, TF-Slim's pattern '<scope>.*/a:|^a:' would
    # also return it for any scope, so the scoped query is checked before.)
    top = slim.variable("a", [5])
    assert slim.get_variables_by_name("a") == [a, a2, top]
    assert slim.get_variables_by_name("fooa") == [fooa]
    assert slim.get_variables_by_name("/a") == []


def test_get_unique_variable():
    with slim.variable_scope("parent"):
        child = slim.variable("child", [5])
        with slim.variable_scope("child"):
            slim.variable("grandchild1", [7])
            slim.variable("grandchild2", [9])
    assert slim.get_unique_variable("parent/child") is child


def test_get_unique_variable_missing_raises():
    slim.variable("present", [1])
    with pytest.raises(ValueError) as excinfo:
        slim.get_unique_variable("cant_find_me")
    assert isinstance(excinfo.value, SlimirError)
    assert "cant_find_me" in str(excinfo.value)


def test_get_unique_variable_with_only_children_raises():
    with slim.variable_scope("parent/child"):
        slim.variable("grandchild1", [7])
        slim.variable("grandchild2", [9])
    with pytest.raises(ValueError) as excinfo:
        slim.get_unique_variable("parent/child")
    assert isinstance(excinfo.value, SlimirError)


def test_get_variables_to_restore_include_exclude():
    with slim.variable_scope("A"):
        a = slim.variable("a", [5])
        b = slim.variable("b", [5])
    with slim.variable_scope("B"):
        c = slim.variable("c", [5])
        d = slim.variable("d", [5])
    assert slim.get_variables_to_restore() == [a, b, c, d]
    assert slim.get_variables_to_restore(include=["A"]) == [a, b]
    assert slim.get_variables_to_restore(exclude=["B"]) == [a, b]
    assert slim.get_variables_to_restore(include=["A/a", "B/c"]) == [a, c]
    assert slim.get_variables_to_restore(exclude=["A/a", "B/c"]) == [b, d]
    assert slim.get_variables_to_restore(include=["A", "B"], exclude=["A/b", "B/d"]) == [a, c]
    # Order follows the include list.
    assert slim.get_variables_to_restore(include=["B", "A"]) == [c, d, a, b]
    assert slim.get_variables_to_restore(include=("A",)) == [a, b]


def test_get_variables_to_restore_rejects_non_list():
    slim.variable("a", [1])
    with pytest.raises(TypeError):
        slim.get_variables_to_restore(include="a")
    with pytest.raises(TypeError):
        slim.get_variables_to_restore(exclude="a")


def test_get_variables_to_restore_readme_example():
    v1 = slim.variable("v1", [1])
    v2 = slim.variable("nested/v2", [1])
    assert v2.op.name == "nested/v2"
    assert slim.get_variables_by_name("v2") == [v2]
    assert slim.get_variables_by_suffix("2") == [v2]
    assert slim.get_variables(scope="nested") == [v2]
    assert slim.get_variables_to_restore(include=["nested"]) == [v2]
    assert slim.get_variables_to_restore(exclude=["v1"]) == [v2]
    assert slim.get_variables_to_restore(exclude=["nested"]) == [v1]


def test_get_variables_to_restore_excludes_layers_by_scope():
    x = slim.placeholder(slim.float32, [None, 6], name="x")
    net = slim.fully_connected(x, 5, scope="fc6")
    net = slim.fully_connected(net, 4, scope="fc7")
    slim.fully_connected(net, 3, scope="fc8")
    restore = slim.get_variables_to_restore(exclude=["fc8"])
    assert _names(restore) == ["fc6/weights", "fc6/biases", "fc7/weights", "fc7/biases"]


@pytest.mark.parametrize(
    "include, exclude, reg_search, expected",
    [
        (
            None,
            None,
            True,
            ["conv1/weights", "conv1/biases", "conv2/weights", "conv2/biases", "clfs/weights", "clfs/biases"],
        ),
        (["biases"], None, True, ["conv1/biases", "conv2/biases", "clfs/biases"]),
        (None, ["weights"], True, ["conv1/biases", "conv2/biases", "clfs/biases"]),
        (None, ["weights", "conv1"], True, ["conv2/biases", "clfs/biases"]),
        (
            ["conv1", "weights"],
            None,
            True,
            ["conv1/weights", "conv1/biases", "conv2/weights", "clfs/weights"],
        ),
        (["conv1"], ["biases"], True, ["conv1/weights"]),
        ([".*biases"], None, False, ["conv1/biases", "conv2/biases", "clfs/biases"]),
        (["biases"], None, False, []),
        (["conv[12]/w"], None, False, ["conv1/weights", "conv2/weights"]),
    ],
)
def test_filter_variables(include, exclude, reg_search, expected):
    var_list = []
    for scope in ("conv1", "conv2", "clfs"):
        with slim.variable_scope(scope):
            var_list.append(slim.variable("weights", [1]))
            var_list.append(slim.variable("biases", [1]))
    filtered = slim.filter_variables(
        var_list, include_patterns=include, exclude_patterns=exclude, reg_search=reg_search
    )
    # Order of var_list is kept and no variable appears twice.
    assert _names(filtered) == expected


# --------------------------------------------------------------------------
# Global step and GraphKeys collections.
# --------------------------------------------------------------------------


def test_get_or_create_global_step(_fresh_graph):
    assert slim.get_global_step() is None
    gs = slim.get_or_create_global_step()
    assert gs.name == "global_step:0"
    assert gs.op.name == "global_step"
    assert gs.dtype == slim.int64
    assert gs.shape.as_list() == []
    assert slim.get_or_create_global_step() is gs
    assert slim.get_or_create_global_step(_fresh_graph) is gs
    assert slim.get_global_step() is gs
    assert slim.get_collection(slim.GraphKeys.GLOBAL_STEP) == [gs]
    assert gs in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)
    assert gs not in slim.get_trainable_variables()
    assert gs not in slim.get_model_variables()
    with pytest.raises(ValueError):
        slim.create_global_step()
    (val,) = _initial_values(gs)
    assert val.dtype == np.int64
    assert val.shape == ()
    assert int(val) == 0


def test_global_step_is_per_graph():
    gs = slim.get_or_create_global_step()
    other = slim.Graph()
    with other.as_default():
        assert slim.get_global_step() is None
        gs_other = slim.get_or_create_global_step()
    assert gs_other is not gs
    assert gs_other.graph is other
    assert gs_other.name == "global_step:0"
    assert slim.get_or_create_global_step(other) is gs_other


def test_graph_keys_names():
    keys = slim.GraphKeys
    assert keys.GLOBAL_VARIABLES == "variables"
    assert keys.LOCAL_VARIABLES == "local_variables"
    assert keys.MODEL_VARIABLES == "model_variables"
    assert keys.TRAINABLE_VARIABLES == "trainable_variables"
    assert keys.REGULARIZATION_LOSSES == "regularization_losses"
    assert keys.LOSSES == "losses"
    assert keys.UPDATE_OPS == "update_ops"
    assert keys.SUMMARIES == "summaries"
    assert keys.GLOBAL_STEP == "global_step"


def test_graph_keys_collections_after_building_a_model():
    x = slim.placeholder(slim.float32, [None, 8, 8, 1], name="x")
    net = slim.conv2d(x, 2, [3, 3], scope="conv1")
    net = slim.flatten(net)
    slim.fully_connected(net, 3, scope="fc")
    gs = slim.get_or_create_global_step()
    local = slim.local_variable(0.0, name="counter")
    layer_vars = ["conv1/weights", "conv1/biases", "fc/weights", "fc/biases"]
    assert _names(slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)) == layer_vars + ["global_step"]
    assert _names(slim.get_collection(slim.GraphKeys.MODEL_VARIABLES)) == layer_vars
    assert _names(slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES)) == layer_vars
    assert slim.get_collection(slim.GraphKeys.LOCAL_VARIABLES) == [local]
    assert slim.get_collection(slim.GraphKeys.GLOBAL_STEP) == [gs]
    assert slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES) == []
    assert _names(slim.get_model_variables()) == layer_vars
    assert _names(slim.get_variables_to_restore()) == layer_vars + ["global_step"]


def test_get_collection_returns_a_copy_and_filters_by_scope():
    with slim.variable_scope("s"):
        a = slim.variable("a", [1])
    b = slim.variable("b", [1])
    got = slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)
    got.append("junk")
    assert slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) == [a, b]
    assert slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES, "s") == [a]
    slim.add_to_collection("mine", b)
    assert slim.get_collection("mine") == [b]
    assert slim.get_collection("never_used") == []


# --------------------------------------------------------------------------
# Initializers: distributions, formulas, seeds.
# --------------------------------------------------------------------------


def test_truncated_normal_initializer():
    v = slim.variable("v", [300, 400], initializer=slim.truncated_normal_initializer(mean=1.0, stddev=0.5))
    (val,) = _initial_values(v)
    assert val.dtype == np.float32
    assert val.min() >= 0.0 and val.max() <= 2.0  # within 2 stddev of the mean
    assert val.min() < 0.05 and val.max() > 1.95
    assert abs(val.mean() - 1.0) < 0.01
    np.testing.assert_allclose(val.std(), 0.5 * TRUNC_STD_FACTOR, rtol=0.02)


def test_random_normal_initializer():
    v = slim.variable("v", [300, 400], initializer=slim.random_normal_initializer(mean=-2.0, stddev=3.0))
    (val,) = _initial_values(v)
    assert abs(val.mean() + 2.0) < 0.06
    np.testing.assert_allclose(val.std(), 3.0, rtol=0.02)
    # Not truncated: about 4.55% of the samples lie beyond 2 stddev.
    beyond = np.mean(np.abs(val + 2.0) > 6.0)
    assert 0.040 < beyond < 0.051


def test_random_uniform_initializer():
    v = slim.variable("v", [300, 400], initializer=slim.random_uniform_initializer(minval=-0.5, maxval=1.5))
    (val,) = _initial_values(v)
    assert val.min() >= -0.5 and val.max() < 1.5
    assert val.min() < -0.49 and val.max() > 1.49
    assert abs(val.mean() - 0.5) < 0.01
    np.testing.assert_allclose(val.std(), 2.0 / math.sqrt(12.0), rtol=0.02)


def test_xavier_initializer_uniform_matrix():
    v = slim.variable("v", [300, 500], initializer=slim.xavier_initializer())
    (val,) = _initial_values(v)
    limit = math.sqrt(6.0 / (300 + 500))
    assert np.abs(val).max() <= limit + 1e-6
    assert val.max() > 0.99 * limit and val.min() < -0.99 * limit
    assert abs(val.mean()) < 0.01 * limit
    np.testing.assert_allclose(val.std(), limit / math.sqrt(3.0), rtol=0.02)


def test_xavier_initializer_uniform_conv_kernel():
    # fan_in = kh*kw*in, fan_out = kh*kw*out.
    v = slim.variable("v", [3, 3, 64, 128], initializer=slim.xavier_initializer(uniform=True))
    (val,) = _initial_values(v)
    limit = math.sqrt(6.0 / (9 * 64 + 9 * 128))
    assert np.abs(val).max() <= limit + 1e-6
    assert val.max() > 0.99 * limit
    np.testing.assert_allclose(val.std(), limit / math.sqrt(3.0), rtol=0.03)


def test_xavier_initializer_normal():
    v = slim.variable("v", [300, 500], initializer=slim.xavier_initializer(uniform=False))
    (val,) = _initial_values(v)
    # TF-Slim: truncated normal with stddev sqrt(1.3 * factor / n), n = (in + out) / 2.
    trunc_std = math.sqrt(1.3 * 2.0 / (300 + 500))
    assert np.abs(val).max() <= 2.0 * trunc_std + 1e-6
    assert np.abs(val).max() > 1.95 * trunc_std
    np.testing.assert_allclose(val.std(), trunc_std * TRUNC_STD_FACTOR, rtol=0.02)
    # ... which is (almost exactly) the Glorot stddev sqrt(2 / (in + out)).
    np.testing.assert_allclose(val.std(), math.sqrt(2.0 / 800), rtol=0.03)


def test_variance_scaling_initializer_defaults():
    # factor=2.0, mode='FAN_IN', uniform=False (MSRA / He init).
    v = slim.variable("v", [512, 256], initializer=slim.variance_scaling_initializer())
    (val,) = _initial_values(v)
    trunc_std = math.sqrt(1.3 * 2.0 / 512)
    assert np.abs(val).max() <= 2.0 * trunc_std + 1e-6
    assert np.abs(val).max() > 1.95 * trunc_std
    np.testing.assert_allclose(val.std(), trunc_std * TRUNC_STD_FACTOR, rtol=0.02)
    np.testing.assert_allclose(val.std(), math.sqrt(2.0 / 512), rtol=0.03)


def test_variance_scaling_initializer_fan_out_uniform_conv():
    init = slim.variance_scaling_initializer(factor=1.0, mode="FAN_OUT", uniform=True)
    v = slim.variable("v", [3, 3, 32, 64], initializer=init)
    (val,) = _initial_values(v)
    limit = math.sqrt(3.0 * 1.0 / (3 * 3 * 64))
    assert np.abs(val).max() <= limit + 1e-6
    assert val.max() > 0.98 * limit and val.min() < -0.98 * limit
    np.testing.assert_allclose(val.std(), limit / math.sqrt(3.0), rtol=0.03)


def test_variance_scaling_initializer_fan_avg_normal():
    init = slim.variance_scaling_initializer(factor=3.0, mode="FAN_AVG", uniform=False)
    v = slim.variable("v", [200, 600], initializer=init)
    (val,) = _initial_values(v)
    trunc_std = math.sqrt(1.3 * 3.0 / 400.0)
    assert np.abs(val).max() <= 2.0 * trunc_std + 1e-6
    assert np.abs(val).max() > 1.95 * trunc_std
    np.testing.assert_allclose(val.std(), trunc_std * TRUNC_STD_FACTOR, rtol=0.02)


def test_variance_scaling_initializer_rejects_bad_arguments():
    with pytest.raises(TypeError):
        slim.variance_scaling_initializer(mode="FAN_SUM")
    with pytest.raises(TypeError):
        slim.variance_scaling_initializer(dtype=slim.int32)
    with pytest.raises(TypeError):
        slim.xavier_initializer(dtype=slim.int32)


@pytest.mark.parametrize(
    "make_init",
    [
        lambda: slim.truncated_normal_initializer(stddev=0.1),
        lambda: slim.random_normal_initializer(stddev=0.1),
        lambda: slim.variance_scaling_initializer(),
        lambda: slim.xavier_initializer(),
    ],
)
def test_integer_variable_with_float_initializer_raises_type_error(make_init):
    with pytest.raises(TypeError):
        slim.variable("i", [3, 3], dtype=slim.int32, initializer=make_init())


def _seeded_values(graph_seed, op_seed=None):
    with slim.Graph().as_default():
        if graph_seed is not None:
            slim.set_random_seed(graph_seed)
        a = slim.variable(
            "a", [20, 30], initializer=slim.truncated_normal_initializer(stddev=0.1, seed=op_seed)
        )
        b = slim.variable(
            "b", [20, 30], initializer=slim.truncated_normal_initializer(stddev=0.1, seed=op_seed)
        )
        c = slim.variable("c", [20, 30], initializer=slim.xavier_initializer(seed=op_seed))
        return _initial_values(a, b, c)


def test_set_random_seed_makes_initial_values_reproducible():
    first = _seeded_values(1234)
    second = _seeded_values(1234)
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
    # Different ops in one graph draw different sequences.
    assert not np.array_equal(first[0], first[1])
    # A different graph seed gives different values.
    other = _seeded_values(4321)
    assert not np.array_equal(first[0], other[0])


def test_op_level_seed_alone_is_reproducible():
    first = _seeded_values(None, op_seed=7)
    second = _seeded_values(None, op_seed=7)
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
