"""Tests for graph naming: name_scope, variable_scope, reuse, default layer scopes.

Names must come out exactly as TF1 + TF-Slim 1.1.0 produce them, since checkpoint
compatibility depends on them (TF's ops.Graph.unique_name, variable_scope.py and
tf_slim/layers/layers.py are the reference).
"""

import numpy as np
import pytest

import slimir as slim
from slimir.errors import SlimirError


def _names(variables):
    return [v.op.name for v in variables]


# --------------------------------------------------------------------------
# Default graph handling.
# --------------------------------------------------------------------------


def test_graph_as_default_stacks():
    g1 = slim.Graph()
    g2 = slim.Graph()
    assert g1 is not g2
    with g1.as_default() as entered:
        assert entered is g1
        assert slim.get_default_graph() is g1
        with g2.as_default():
            assert slim.get_default_graph() is g2
            c2 = slim.constant(1.0, name="c")
        assert slim.get_default_graph() is g1
        c1 = slim.constant(1.0, name="c")
    assert c1.graph is g1
    assert c2.graph is g2
    # Names are unique per graph, not per process.
    assert c1.name == "c:0"
    assert c2.name == "c:0"
    assert slim.get_default_graph() is not g1
    assert slim.get_default_graph() is not g2


def test_reset_default_graph():
    slim.reset_default_graph()
    g0 = slim.get_default_graph()
    assert slim.get_default_graph() is g0
    c = slim.constant(1.0, name="c")
    assert c.graph is g0
    assert c.name == "c:0"
    slim.variable("v", [1])
    slim.reset_default_graph()
    g1 = slim.get_default_graph()
    assert g1 is not g0
    c_again = slim.constant(1.0, name="c")
    assert c_again.graph is g1
    assert c_again.name == "c:0"
    # The variable store went with the old graph: no "already exists" error.
    v = slim.variable("v", [1])
    assert v.name == "v:0"
    assert slim.get_variables() == [v]
    slim.reset_default_graph()


def test_variable_store_and_scope_counters_are_per_graph():
    x_shape = [None, 8, 8, 1]
    with slim.Graph().as_default():
        v1 = slim.variable("w", [2])
        y1 = slim.conv2d(slim.placeholder(slim.float32, x_shape), 2, [3, 3])
    with slim.Graph().as_default():
        assert slim.get_variables() == []
        v2 = slim.variable("w", [2])
        y2 = slim.conv2d(slim.placeholder(slim.float32, x_shape), 2, [3, 3])
    assert v1 is not v2
    assert v1.name == v2.name == "w:0"
    assert y1.name == y2.name == "Conv/Relu:0"


# --------------------------------------------------------------------------
# Op and tensor names.
# --------------------------------------------------------------------------


def test_tensor_and_op_names():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 28, 28, 1], name="x")
        assert x.name == "x:0"
        assert x.op.name == "x"
        assert x.graph is g
        assert x.dtype == slim.float32
        assert x.shape.as_list() == [None, 28, 28, 1]


def test_op_names_are_uniquified_with_suffixes():
    with slim.Graph().as_default():
        a0 = slim.constant(1.0, name="a")
        a1 = slim.constant(2.0, name="a")
        a2 = slim.constant(3.0, name="a")
        assert [a0.name, a1.name, a2.name] == ["a:0", "a_1:0", "a_2:0"]
        assert [a0.op.name, a1.op.name, a2.op.name] == ["a", "a_1", "a_2"]


def test_default_op_names():
    with slim.Graph().as_default():
        p0 = slim.placeholder(slim.float32, [2])
        p1 = slim.placeholder(slim.float32, [2])
        c0 = slim.constant(1.0)
        c1 = slim.constant(1.0)
        r0 = slim.nn.relu(p0)
        r1 = slim.nn.relu(p1)
        r2 = slim.nn.relu(p1, name="act")
        assert [p0.name, p1.name] == ["Placeholder:0", "Placeholder_1:0"]
        assert [c0.name, c1.name] == ["Const:0", "Const_1:0"]
        assert [r0.name, r1.name, r2.name] == ["Relu:0", "Relu_1:0", "act:0"]


def test_explicitly_suffixed_name_is_skipped_by_uniquifier():
    # TF's unique_name marks "a_1" used, so the second "a" becomes "a_2".
    with slim.Graph().as_default():
        first = slim.constant(1.0, name="a_1")
        second = slim.constant(1.0, name="a")
        third = slim.constant(1.0, name="a")
        assert [first.op.name, second.op.name, third.op.name] == ["a_1", "a", "a_2"]


# --------------------------------------------------------------------------
# name_scope.
# --------------------------------------------------------------------------


def test_name_scope_nesting_and_uniquifying():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2], name="x")
        with slim.name_scope("blk") as scope:
            assert scope == "blk/"
            r0 = slim.nn.relu(x)
            r1 = slim.nn.relu(x)
            with slim.name_scope("inner") as inner:
                assert inner == "blk/inner/"
                r2 = slim.nn.relu(x)
        with slim.name_scope("blk") as scope2:
            assert scope2 == "blk_1/"
            r3 = slim.nn.relu(x)
        assert r0.name == "blk/Relu:0"
        assert r1.name == "blk/Relu_1:0"
        assert r2.name == "blk/inner/Relu:0"
        assert r3.name == "blk_1/Relu:0"


def test_name_scope_reentered_by_its_absolute_name():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2], name="x")
        with slim.name_scope("blk") as scope:
            first = slim.nn.relu(x)
        with slim.name_scope(scope):
            again = slim.nn.relu(x)
        assert first.op.name == "blk/Relu"
        assert again.op.name == "blk/Relu_1"


def test_name_scopes_and_op_names_share_one_namespace():
    with slim.Graph().as_default():
        c = slim.constant(1.0, name="net")
        with slim.name_scope("net") as scope:
            r = slim.nn.relu(c)
        assert scope == "net_1/"
        assert r.op.name == "net_1/Relu"


def test_slim_variable_ignores_name_scope():
    with slim.Graph().as_default():
        with slim.name_scope("ns"):
            v = slim.variable("v", [1])
            r = slim.nn.relu(v)
        assert v.name == "v:0"
        assert v.op.name == "v"
        assert r.op.name == "ns/Relu"


def test_native_variable_follows_name_scope_and_is_uniquified():
    with slim.Graph().as_default():
        with slim.name_scope("ns"):
            v0 = slim.Variable(1.0, name="v")
            v1 = slim.Variable(2.0, name="v")
        assert v0.name == "ns/v:0"
        assert v1.name == "ns/v_1:0"
        assert v1.op.name == "ns/v_1"


# --------------------------------------------------------------------------
# variable_scope.
# --------------------------------------------------------------------------


def test_variable_scope_names_variables_and_ops():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2], name="x")
        with slim.variable_scope("foo") as vs:
            assert vs.name == "foo"
            assert vs.original_name_scope == "foo/"
            w = slim.variable("w", [1])
            r = slim.nn.relu(x)
            with slim.variable_scope("bar") as inner:
                assert inner.name == "foo/bar"
                w2 = slim.variable("w", [1])
                r2 = slim.nn.relu(x)
        assert w.name == "foo/w:0"
        assert w.op.name == "foo/w"
        assert r.name == "foo/Relu:0"
        assert w2.name == "foo/bar/w:0"
        assert r2.name == "foo/bar/Relu:0"


def test_reentering_variable_scope_uniquifies_name_scope_only():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2], name="x")
        with slim.variable_scope("foo"):
            w = slim.variable("w", [1])
            r0 = slim.nn.relu(x)
        with slim.variable_scope("foo", reuse=True) as vs:
            assert vs.name == "foo"
            w_again = slim.variable("w", [1])
            r1 = slim.nn.relu(x)
        with slim.variable_scope("foo"):
            v = slim.variable("v", [1])
            r2 = slim.nn.relu(x)
        assert w_again is w
        assert r0.name == "foo/Relu:0"
        assert r1.name == "foo_1/Relu:0"
        assert r2.name == "foo_2/Relu:0"
        assert v.name == "foo/v:0"


def test_variable_scope_inside_name_scope():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2], name="x")
        with slim.name_scope("ns"), slim.variable_scope("vs"):
            w = slim.variable("w", [1])
            r = slim.nn.relu(x)
        assert w.op.name == "vs/w"
        assert r.op.name == "ns/vs/Relu"


def test_reentering_with_scope_object_jumps_out_of_current_scope():
    with slim.Graph().as_default():
        with slim.variable_scope("model") as model_scope:
            w = slim.variable("w", [2])
        with slim.variable_scope("other"):
            with slim.variable_scope(model_scope, reuse=True) as vs:
                assert vs.name == "model"
                w_again = slim.variable("w", [2])
            with slim.variable_scope(model_scope):
                fresh = slim.variable("fresh", [2])
        assert w_again is w
        assert fresh.op.name == "model/fresh"


def test_reuse_true_returns_same_variable_object():
    with slim.Graph().as_default():
        with slim.variable_scope("A"):
            a = slim.variable("a", [])
        with slim.variable_scope("A", reuse=True):
            b = slim.variable("a", [])
        assert a is b
        assert slim.get_variables() == [a]


def test_reuse_is_inherited_by_sub_scopes():
    with slim.Graph().as_default():
        with slim.variable_scope("a"), slim.variable_scope("b"):
            v = slim.variable("v", [3])
        with slim.variable_scope("a", reuse=True), slim.variable_scope("b") as inner:
            assert inner.reuse
            v_again = slim.variable("v", [3])
        assert v_again is v


def test_reuse_variables_method():
    with slim.Graph().as_default():
        with slim.variable_scope("foo") as scope:
            v = slim.variable("v", [1])
            scope.reuse_variables()
            v1 = slim.variable("v", [1])
        assert v1 is v
        assert len(slim.get_variables()) == 1


def test_reuse_of_missing_variable_raises_naming_it():
    with slim.Graph().as_default():
        with slim.variable_scope("foo"):
            slim.variable("present", [1])
        with slim.variable_scope("foo", reuse=True), pytest.raises(ValueError) as excinfo:
            slim.variable("missing", [1])
        assert isinstance(excinfo.value, SlimirError)
        assert "foo/missing" in str(excinfo.value)
        assert _names(slim.get_variables()) == ["foo/present"]


def test_creating_existing_variable_without_reuse_raises():
    with slim.Graph().as_default():
        with slim.variable_scope("foo"):
            slim.variable("w", [1])
        with slim.variable_scope("foo"), pytest.raises(ValueError) as excinfo:
            slim.variable("w", [1])
        assert isinstance(excinfo.value, SlimirError)
        assert "foo/w" in str(excinfo.value)


def test_reuse_with_different_shape_raises():
    with slim.Graph().as_default():
        with slim.variable_scope("foo"):
            slim.variable("w", [2, 3])
        with slim.variable_scope("foo", reuse=True), pytest.raises(ValueError) as excinfo:
            slim.variable("w", [3, 2])
        assert isinstance(excinfo.value, SlimirError)
        assert "foo/w" in str(excinfo.value)


def test_auto_reuse_creates_then_reuses():
    with slim.Graph().as_default():

        def get():
            with slim.variable_scope("shared", reuse=slim.AUTO_REUSE):
                return slim.variable("v", [2])

        v1 = get()
        v2 = get()
        assert v1 is v2
        assert v1.name == "shared/v:0"
        with slim.variable_scope("shared", reuse=slim.AUTO_REUSE):
            other = slim.variable("other", [2])
        assert other.name == "shared/other:0"
        assert _names(slim.get_variables()) == ["shared/v", "shared/other"]


def test_default_name_variable_scopes_are_uniquified():
    with slim.Graph().as_default():
        with slim.variable_scope(None, default_name="blk") as s0:
            v0 = slim.variable("v", [1])
        with slim.variable_scope(None, default_name="blk") as s1:
            v1 = slim.variable("v", [1])
        assert s0.name == "blk"
        assert s1.name == "blk_1"
        assert v0.name == "blk/v:0"
        assert v1.name == "blk_1/v:0"


def test_reuse_without_a_name_raises():
    with slim.Graph().as_default():
        with pytest.raises(ValueError), slim.variable_scope(None, default_name="blk", reuse=True):
            pass
        x = slim.placeholder(slim.float32, [None, 8, 8, 1], name="x")
        # TF-Slim: "To be able to reuse the layer scope must be given."
        with pytest.raises(ValueError):
            slim.conv2d(x, 2, [3, 3], reuse=True)


def test_variable_scope_default_initializer():
    with slim.Graph().as_default():
        with slim.variable_scope("init", initializer=slim.constant_initializer(0.25)):
            v = slim.variable("v", [2, 2])
            w = slim.variable("w", [2], initializer=slim.constant_initializer(-1.0))
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            v_val, w_val = sess.run([v, w])
        np.testing.assert_array_equal(v_val, np.full((2, 2), 0.25, np.float32))
        np.testing.assert_array_equal(w_val, np.full((2,), -1.0, np.float32))


# --------------------------------------------------------------------------
# Layer scopes (TF-Slim defaults, explicit scopes, reuse).
# --------------------------------------------------------------------------


def test_conv2d_default_scope_names():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        y0 = slim.conv2d(x, 4, [3, 3])
        y1 = slim.conv2d(y0, 4, [3, 3])
        y2 = slim.conv2d(y1, 4, [3, 3], activation_fn=None)
        assert y0.name == "Conv/Relu:0"
        assert y1.name == "Conv_1/Relu:0"
        assert y2.name == "Conv_2/BiasAdd:0"
        assert _names(slim.get_variables()) == [
            "Conv/weights",
            "Conv/biases",
            "Conv_1/weights",
            "Conv_1/biases",
            "Conv_2/weights",
            "Conv_2/biases",
        ]


def test_explicit_scope_counts_towards_default_names():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        slim.conv2d(x, 4, [3, 3], scope="Conv")
        y = slim.conv2d(x, 4, [3, 3])
        assert y.op.name == "Conv_1/Relu"


def test_fully_connected_default_scope_names():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 5], name="x")
        y0 = slim.fully_connected(x, 3)
        y1 = slim.fully_connected(y0, 2)
        assert y0.name == "fully_connected/Relu:0"
        assert y1.name == "fully_connected_1/Relu:0"
        assert _names(slim.get_variables()) == [
            "fully_connected/weights",
            "fully_connected/biases",
            "fully_connected_1/weights",
            "fully_connected_1/biases",
        ]
        assert slim.get_variables("fully_connected/weights")[0].shape.as_list() == [5, 3]


def test_pool_and_batch_norm_default_scope_names():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        mp = slim.max_pool2d(x, [2, 2])
        ap = slim.avg_pool2d(x, [2, 2])
        mp_named = slim.max_pool2d(x, [2, 2], scope="pool1")
        slim.batch_norm(x)
        assert mp.op.name == "MaxPool2D/MaxPool"
        assert ap.op.name == "AvgPool2D/AvgPool"
        assert mp_named.op.name == "pool1/MaxPool"
        assert mp.shape.as_list() == [None, 4, 4, 3]
        # batch_norm defaults: center=True, scale=False -> beta but no gamma.
        assert sorted(_names(slim.get_variables())) == [
            "BatchNorm/beta",
            "BatchNorm/moving_mean",
            "BatchNorm/moving_variance",
        ]


def test_layer_with_explicit_scope_names():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        y = slim.conv2d(x, 4, [3, 3], scope="conv1")
        weights, biases = slim.get_variables("conv1")
        assert y.name == "conv1/Relu:0"
        assert y.op.name == "conv1/Relu"
        assert weights.name == "conv1/weights:0"
        assert weights.op.name == "conv1/weights"
        assert biases.name == "conv1/biases:0"
        assert weights.shape.as_list() == [3, 3, 3, 4]
        assert biases.shape.as_list() == [4]
        assert weights.dtype == slim.float32


def test_layer_reuse_shares_variables_and_uniquifies_ops():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        y0 = slim.conv2d(x, 4, [3, 3], scope="conv1")
        n_vars = len(slim.get_variables())
        y1 = slim.conv2d(x, 4, [3, 3], scope="conv1", reuse=True)
        assert len(slim.get_variables()) == n_vars == 2
        assert y0.name == "conv1/Relu:0"
        assert y1.name == "conv1_1/Relu:0"
        # Same weights -> same output.
        feed = {x: np.random.RandomState(0).rand(2, 8, 8, 3).astype(np.float32)}
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            a, b = sess.run([y0, y1], feed_dict=feed)
        np.testing.assert_array_equal(a, b)


def test_layer_auto_reuse():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        slim.fully_connected(x, 3, scope="fc", reuse=slim.AUTO_REUSE)
        slim.fully_connected(x, 3, scope="fc", reuse=slim.AUTO_REUSE)
        assert _names(slim.get_variables()) == ["fc/weights", "fc/biases"]


def test_layer_same_scope_without_reuse_raises():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        slim.conv2d(x, 4, [3, 3], scope="conv1")
        with pytest.raises(ValueError) as excinfo:
            slim.conv2d(x, 4, [3, 3], scope="conv1")
        assert isinstance(excinfo.value, SlimirError)
        assert "conv1/weights" in str(excinfo.value)


def test_layer_reuse_of_missing_scope_raises():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        with pytest.raises(ValueError) as excinfo:
            slim.conv2d(x, 4, [3, 3], scope="nope", reuse=True)
        assert isinstance(excinfo.value, SlimirError)
        assert "nope/weights" in str(excinfo.value)
        assert slim.get_variables() == []


def test_default_named_layers_reuse_inside_reentered_scope():
    # Leaving variable_scope("outer") resets its sub-scope counters, so the
    # unnamed layer inside the re-entered scope is "outer/fully_connected" again.
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        with slim.variable_scope("outer"):
            y0 = slim.fully_connected(x, 3)
        with slim.variable_scope("outer", reuse=True):
            y1 = slim.fully_connected(x, 3)
        assert _names(slim.get_variables()) == [
            "outer/fully_connected/weights",
            "outer/fully_connected/biases",
        ]
        assert y0.name == "outer/fully_connected/Relu:0"
        assert y1.name == "outer_1/fully_connected/Relu:0"


def test_default_named_layers_in_reentered_scope_without_reuse_collide():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        with slim.variable_scope("outer"):
            slim.fully_connected(x, 3)
        with slim.variable_scope("outer"), pytest.raises(ValueError) as excinfo:
            slim.fully_connected(x, 3)
        assert "outer/fully_connected/weights" in str(excinfo.value)


# --------------------------------------------------------------------------
# repeat / stack.
# --------------------------------------------------------------------------


def test_repeat_unrolls_scopes():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        y = slim.repeat(x, 3, slim.conv2d, 5, [3, 3], scope="conv3")
        assert y.name == "conv3/conv3_3/Relu:0"
        assert y.shape.as_list() == [None, 8, 8, 5]
        variables = slim.get_variables()
        assert _names(variables) == [
            "conv3/conv3_1/weights",
            "conv3/conv3_1/biases",
            "conv3/conv3_2/weights",
            "conv3/conv3_2/biases",
            "conv3/conv3_3/weights",
            "conv3/conv3_3/biases",
        ]
        assert variables[0].shape.as_list() == [3, 3, 3, 5]
        assert variables[2].shape.as_list() == [3, 3, 5, 5]


def test_repeat_without_scope_uses_layer_function_name():
    # slim.conv2d is convolution2d, so its __name__ is "convolution2d".
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        v = slim.placeholder(slim.float32, [None, 6], name="v")
        y = slim.repeat(x, 3, slim.conv2d, 4, [3, 3])
        y2 = slim.repeat(v, 2, slim.fully_connected, 4)
        assert y.op.name == "Repeat/convolution2d_3/Relu"
        assert y2.op.name == "Repeat_1/fully_connected_2/Relu"
        assert "Repeat/convolution2d_1/weights" in _names(slim.get_variables())


def test_stack_unrolls_scopes():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 16], name="x")
        y = slim.stack(x, slim.fully_connected, [32, 64, 128], scope="fc")
        assert y.name == "fc/fc_3/Relu:0"
        assert y.shape.as_list() == [None, 128]
        weights = slim.get_variables_by_name("weights")
        assert _names(weights) == ["fc/fc_1/weights", "fc/fc_2/weights", "fc/fc_3/weights"]
        assert [w.shape.as_list() for w in weights] == [[16, 32], [32, 64], [64, 128]]


def test_stack_with_tuple_arguments():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        y = slim.stack(x, slim.conv2d, [(32, [3, 3]), (32, [1, 1]), (64, [3, 3]), (64, [1, 1])], scope="core")
        assert y.name == "core/core_4/Relu:0"
        weights = slim.get_variables_by_name("weights")
        assert _names(weights) == [
            "core/core_1/weights",
            "core/core_2/weights",
            "core/core_3/weights",
            "core/core_4/weights",
        ]
        assert [w.shape.as_list() for w in weights] == [
            [3, 3, 3, 32],
            [1, 1, 32, 32],
            [3, 3, 32, 64],
            [1, 1, 64, 64],
        ]


def test_stack_without_scope():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 27], name="x")
        y = slim.stack(x, slim.fully_connected, [10, 20, 30])
        assert y.op.name == "Stack/fully_connected_3/Relu"
        assert y.shape.as_list() == [None, 30]


def test_stack_requires_list_or_tuple():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 27], name="x")
        with pytest.raises(ValueError):
            slim.stack(x, slim.fully_connected, 10)


def test_stack_inside_reuse_scope_without_variables_fails():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 27], name="x")
        with slim.variable_scope("test", reuse=True), pytest.raises(ValueError):
            slim.stack(x, slim.fully_connected, [10, 20, 30])
