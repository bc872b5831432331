"""Tests for slim.arg_scope / slim.add_arg_scope.

Semantics follow TF-Slim 1.1.0 (tf_slim/ops/arg_scope.py): scopes stack, inner
scopes override per key, explicit keyword arguments always win, a saved scope
dict can be re-entered and then *replaces* the current scope.
"""

import numpy as np
import pytest

import slimir as slim
from slimir.errors import SlimirError

# --------------------------------------------------------------------------
# Decorated helper functions (module level, like layers are).
# --------------------------------------------------------------------------


@slim.add_arg_scope
def echo(*args, **kwargs):
    return args, kwargs


@slim.add_arg_scope
def echo_other(*args, **kwargs):
    return args, kwargs


@slim.add_arg_scope
def with_defaults(x, a=None, b=1, c=2):
    """Hands back what it was called with."""
    return x, a, b, c


def undecorated(x, a=None):
    return x, a


def key(fn):
    return slim.arg_scope_func_key(fn)


@pytest.fixture(autouse=True)
def _fresh_graph():
    with slim.Graph().as_default() as g:
        yield g


# --------------------------------------------------------------------------
# Pure arg_scope mechanics.
# --------------------------------------------------------------------------


def test_no_scope_means_no_defaults():
    assert slim.current_arg_scope() == {}
    assert echo(0) == ((0,), {})
    assert with_defaults(5) == (5, None, 1, 2)


def test_empty_list_scope_yields_empty_dict():
    with slim.arg_scope([]) as sc:
        assert sc == {}
        assert slim.current_arg_scope() == {}


def test_scope_supplies_kwargs():
    with slim.arg_scope([echo], a=1, b=None, c=[1]):
        args, kwargs = echo(0)
    assert args == (0,)
    assert kwargs == {"a": 1, "b": None, "c": [1]}
    # Gone once the scope is left.
    assert echo(0) == ((0,), {})


def test_scope_supplies_named_parameters_of_real_signature():
    with slim.arg_scope([with_defaults], a=3, c=9):
        assert with_defaults(5) == (5, 3, 1, 9)
        assert with_defaults(5, b=7) == (5, 3, 7, 9)


def test_scope_with_tuple_of_ops():
    with slim.arg_scope((echo, echo_other), a=1, b=None):
        assert echo(0) == ((0,), {"a": 1, "b": None})
        assert echo_other(1) == ((1,), {"a": 1, "b": None})


def test_scope_only_touches_listed_ops():
    with slim.arg_scope([echo], a=1):
        assert echo_other(0) == ((0,), {})
        assert with_defaults(0) == (0, None, 1, 2)


def test_explicit_kwargs_win_over_scope():
    with slim.arg_scope([echo], a=1, b=None, c=[1]):
        _, kwargs = echo(0, b=2)
        assert kwargs == {"a": 1, "b": 2, "c": [1]}
    with slim.arg_scope([with_defaults], a=3, b=4):
        # An explicit None is still explicit.
        assert with_defaults(0, a=None) == (0, None, 4, 2)


def test_nested_scope_overrides_per_key():
    with slim.arg_scope([echo], a=1, b=None, c=[1]):
        assert echo(0)[1] == {"a": 1, "b": None, "c": [1]}
        with slim.arg_scope([echo], b=2):
            assert echo(0)[1] == {"a": 1, "b": 2, "c": [1]}
            with slim.arg_scope([echo], c=3, d=4):
                assert echo(0)[1] == {"a": 1, "b": 2, "c": 3, "d": 4}
            assert echo(0)[1] == {"a": 1, "b": 2, "c": [1]}
        # Inner scope left: the outer values are back.
        assert echo(0)[1] == {"a": 1, "b": None, "c": [1]}


def test_partially_shared_scopes():
    with (
        slim.arg_scope([echo, echo_other], a=1, b=None),
        slim.arg_scope([echo], c=[1]),
        slim.arg_scope([echo_other], d=[2]),
    ):
        assert echo(0) == ((0,), {"a": 1, "b": None, "c": [1]})
        assert echo_other(1) == ((1,), {"a": 1, "b": None, "d": [2]})


def test_yielded_scope_is_dict_keyed_by_func_key():
    with slim.arg_scope([echo], a=1, b=None, c=[1]) as sc:
        assert sc == {key(echo): {"a": 1, "b": None, "c": [1]}}
        assert slim.current_arg_scope() == sc
        with slim.arg_scope([echo_other], b=2, d=[2]) as sc2:
            assert sc2 == {
                key(echo): {"a": 1, "b": None, "c": [1]},
                key(echo_other): {"b": 2, "d": [2]},
            }
            assert slim.current_arg_scope() == sc2
        assert slim.current_arg_scope() == sc
    assert slim.current_arg_scope() == {}


def test_reenter_saved_scope():
    with slim.arg_scope([echo], a=1, b=None, c=[1]) as saved:
        pass
    assert echo(0) == ((0,), {})
    with slim.arg_scope(saved) as sc:
        assert sc == {key(echo): {"a": 1, "b": None, "c": [1]}}
        assert echo(0) == ((0,), {"a": 1, "b": None, "c": [1]})
        # Further scopes nest on top of a re-entered one.
        with slim.arg_scope([echo], b=5):
            assert echo(0)[1] == {"a": 1, "b": 5, "c": [1]}
    assert echo(0) == ((0,), {})


def test_reenter_saved_nested_scopes():
    with (
        slim.arg_scope([echo], a=1, b=None, c=[1]) as scope1,
        slim.arg_scope([echo_other], b=2, d=[2]) as scope2,
    ):
        pass
    with slim.arg_scope(scope1):
        with slim.arg_scope([]) as current:
            assert current == {key(echo): {"a": 1, "b": None, "c": [1]}}
        assert echo_other(0) == ((0,), {})
    with slim.arg_scope(scope2):
        with slim.arg_scope([]) as current:
            assert current == {
                key(echo): {"a": 1, "b": None, "c": [1]},
                key(echo_other): {"b": 2, "d": [2]},
            }
        assert echo_other(0) == ((0,), {"b": 2, "d": [2]})


def test_saved_scope_replaces_current_scope():
    # A scope object built outside the current scope does not merge with it.
    def make_scope():
        with slim.arg_scope([echo], a=1, b=None, c=[1]) as sc:
            return sc

    saved = make_scope()
    with slim.arg_scope([echo], b=2, d=10):
        with slim.arg_scope(saved):
            assert echo(0) == ((0,), {"a": 1, "b": None, "c": [1]})
        assert echo(0) == ((0,), {"b": 2, "d": 10})


def test_scope_built_inside_another_scope_inherits_it():
    def make_scope():
        with slim.arg_scope([echo], a=1, b=None, c=[1]) as sc:
            return sc

    with slim.arg_scope([echo], b=2, d=10):
        built_here = make_scope()
        with slim.arg_scope(built_here):
            assert echo(0) == ((0,), {"a": 1, "b": None, "c": [1], "d": 10})


def test_empty_dict_clears_scope():
    with slim.arg_scope([echo], a=1, b=None, c=[1]) as sc1:
        with slim.arg_scope({}) as sc2:
            assert sc2 == {}
            assert slim.current_arg_scope() == {}
            assert echo(0) == ((0,), {})
        with slim.arg_scope([]) as current:
            assert current == sc1
        assert echo(0) == ((0,), {"a": 1, "b": None, "c": [1]})


def test_reentering_dict_with_kwargs_raises_value_error():
    with pytest.raises(ValueError), slim.arg_scope({}, a=1):
        pass


def test_non_list_ops_raises_type_error():
    with pytest.raises(TypeError), slim.arg_scope(echo, a=1):
        pass


def test_undecorated_function_raises_value_error():
    with pytest.raises(ValueError) as excinfo, slim.arg_scope([undecorated], a=1):
        pass
    assert isinstance(excinfo.value, SlimirError)
    # The scope stack is intact afterwards.
    assert slim.current_arg_scope() == {}


def test_undecorated_function_among_decorated_ones_raises():
    with pytest.raises(ValueError), slim.arg_scope([echo, undecorated], a=1):
        pass
    assert slim.current_arg_scope() == {}


def test_unexpected_kwarg_raises_type_error():
    # TF-Slim raises when the op is called with a kwarg it does not take.
    with pytest.raises(TypeError), slim.arg_scope([with_defaults], d=1):
        with_defaults(1)


def test_scope_is_popped_when_body_raises():
    with pytest.raises(RuntimeError), slim.arg_scope([echo], a=1):
        raise RuntimeError("boom")
    assert slim.current_arg_scope() == {}
    assert echo(0) == ((0,), {})


def test_arg_scoped_arguments():
    assert tuple(slim.arg_scoped_arguments(with_defaults)) == ("a", "b", "c")
    assert tuple(slim.arg_scoped_arguments(echo)) == ()


def test_arg_scoped_arguments_of_slim_layers():
    conv_args = set(slim.arg_scoped_arguments(slim.conv2d))
    assert {
        "stride",
        "padding",
        "data_format",
        "rate",
        "activation_fn",
        "normalizer_fn",
        "normalizer_params",
        "weights_initializer",
        "weights_regularizer",
        "biases_initializer",
        "biases_regularizer",
        "reuse",
        "variables_collections",
        "outputs_collections",
        "trainable",
        "scope",
    } <= conv_args
    # Positional parameters without a default are not arg-scopable.
    assert not {"inputs", "num_outputs", "kernel_size"} & conv_args

    fc_args = set(slim.arg_scoped_arguments(slim.fully_connected))
    assert {"activation_fn", "weights_initializer", "scope", "reuse"} <= fc_args
    assert not {"inputs", "num_outputs"} & fc_args


def test_arg_scoped_arguments_stable_under_redefinition():
    for _ in range(4):

        @slim.add_arg_scope
        def redefined(a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8):
            return None

        assert tuple(slim.arg_scoped_arguments(redefined)) == tuple("abcdefgh")


def test_has_arg_scope():
    assert slim.has_arg_scope(echo)
    assert slim.has_arg_scope(with_defaults)
    assert not slim.has_arg_scope(undecorated)
    for layer in (slim.conv2d, slim.fully_connected, slim.max_pool2d, slim.variable, slim.model_variable):
        assert slim.has_arg_scope(layer)


def test_decorator_preserves_name_and_docstring():
    assert with_defaults.__name__ == "with_defaults"
    assert with_defaults.__doc__ == "Hands back what it was called with."


def test_keys_are_function_identity_not_name():
    def make():
        @slim.add_arg_scope
        def fn(x, a=0):
            return x, a

        return fn

    f1, f2 = make(), make()
    assert f1.__name__ == f2.__name__ == "fn"
    assert key(f1) != key(f2)
    with slim.arg_scope([f1], a=5):
        assert f1(0) == (0, 5)
        assert f2(0) == (0, 0)
    with slim.arg_scope([f2], a=7):
        assert f1(0) == (0, 0)
        assert f2(0) == (0, 7)


def test_func_key_is_shared_by_decorated_function_and_its_alias():
    # slim.conv2d is an alias of slim.convolution2d in TF-Slim.
    assert key(slim.conv2d) == key(slim.convolution2d)
    with slim.arg_scope([slim.convolution2d], padding="VALID"):
        x = slim.placeholder(slim.float32, [None, 10, 10, 1], name="x")
        y = slim.conv2d(x, 2, [3, 3])
    assert y.shape.as_list() == [None, 8, 8, 2]


def test_user_function_decorated_with_add_arg_scope_builds_graph():
    @slim.add_arg_scope
    def scaled(x, factor=1.0, offset=0.0):
        return x * factor + offset

    x = slim.placeholder(slim.float32, [3], name="x")
    with slim.arg_scope([scaled], factor=3.0, offset=1.0):
        y = scaled(x)
        z = scaled(x, offset=-1.0)
    w = scaled(x)
    feed = {x: np.array([1.0, 2.0, -4.0], np.float32)}
    with slim.Session() as sess:
        y_v, z_v, w_v = sess.run([y, z, w], feed_dict=feed)
    np.testing.assert_allclose(y_v, [4.0, 7.0, -11.0])
    np.testing.assert_allclose(z_v, [2.0, 5.0, -13.0])
    np.testing.assert_allclose(w_v, [1.0, 2.0, -4.0])


# --------------------------------------------------------------------------
# arg_scope on slim layers.
# --------------------------------------------------------------------------


def test_conv2d_padding_from_arg_scope_changes_output_shape():
    x = slim.placeholder(slim.float32, [None, 28, 28, 1], name="x")
    with slim.arg_scope([slim.conv2d], padding="VALID"):
        valid = slim.conv2d(x, 4, [5, 5], scope="conv1")
        same = slim.conv2d(x, 4, [5, 5], padding="SAME", scope="conv2")
    default = slim.conv2d(x, 4, [5, 5], scope="conv3")
    assert valid.shape.as_list() == [None, 24, 24, 4]
    assert same.shape.as_list() == [None, 28, 28, 4]
    assert default.shape.as_list() == [None, 28, 28, 4]


def test_arg_scope_shared_by_conv_and_pool():
    x = slim.placeholder(slim.float32, [None, 28, 28, 3], name="x")
    with slim.arg_scope([slim.conv2d, slim.max_pool2d], stride=1, padding="SAME"):
        pooled = slim.max_pool2d(x, [3, 3])
        conv = slim.conv2d(x, 8, [3, 3])
    # Outside: max_pool2d defaults to stride 2, VALID.
    pooled_default = slim.max_pool2d(x, [3, 3])
    assert pooled.shape.as_list() == [None, 28, 28, 3]
    assert conv.shape.as_list() == [None, 28, 28, 8]
    assert pooled_default.shape.as_list() == [None, 13, 13, 3]


def test_nested_arg_scopes_on_layers_readme_example():
    x = slim.placeholder(slim.float32, [None, 28, 28, 3], name="x")
    with (
        slim.arg_scope([slim.conv2d, slim.fully_connected], activation_fn=None),
        slim.arg_scope([slim.conv2d], stride=2, padding="SAME"),
    ):
        net = slim.conv2d(x, 8, [3, 3], scope="conv1")
        net2 = slim.conv2d(net, 8, [3, 3], padding="VALID", scope="conv2")
        flat = slim.flatten(net2)
        logits = slim.fully_connected(flat, 10, scope="fc")
    relu_out = slim.fully_connected(flat, 10, scope="fc_relu")
    assert net.shape.as_list() == [None, 14, 14, 8]
    assert net2.shape.as_list() == [None, 6, 6, 8]
    assert logits.shape.as_list() == [None, 10]
    # activation_fn=None from the scope: the outputs are the bias adds.
    assert net.op.name == "conv1/BiasAdd"
    assert logits.op.name == "fc/BiasAdd"
    assert relu_out.op.name == "fc_relu/Relu"


def test_arg_scope_initializers_reach_the_computation():
    x = slim.placeholder(slim.float32, [1, 4, 4, 1], name="x")
    with slim.arg_scope(
        [slim.conv2d],
        weights_initializer=slim.constant_initializer(0.5),
        biases_initializer=slim.constant_initializer(1.0),
        activation_fn=None,
        padding="VALID",
    ):
        y = slim.conv2d(x, 1, [3, 3], scope="conv")
    assert y.shape.as_list() == [1, 2, 2, 1]
    with slim.Session() as sess:
        sess.run(slim.global_variables_initializer())
        out = sess.run(y, feed_dict={x: np.ones((1, 4, 4, 1), np.float32)})
    np.testing.assert_allclose(out, np.full((1, 2, 2, 1), 9 * 0.5 + 1.0), rtol=1e-6)


def test_saved_layer_arg_scope_pattern():
    # The nets' `xxx_arg_scope()` idiom: build a scope in a function, enter it later.
    def my_arg_scope():
        with slim.arg_scope([slim.conv2d], padding="VALID", activation_fn=None) as sc:
            return sc

    x = slim.placeholder(slim.float32, [None, 28, 28, 1], name="x")
    with slim.arg_scope(my_arg_scope()):
        y = slim.conv2d(x, 4, [3, 3])
    z = slim.conv2d(x, 4, [3, 3])
    assert y.shape.as_list() == [None, 26, 26, 4]
    assert y.op.name == "Conv/BiasAdd"
    assert z.shape.as_list() == [None, 28, 28, 4]
    assert z.op.name == "Conv_1/Relu"


def test_arg_scope_passes_through_repeat_and_stack():
    x = slim.placeholder(slim.float32, [None, 28, 28, 1], name="x")
    with slim.arg_scope([slim.conv2d], padding="VALID"):
        r = slim.repeat(x, 2, slim.conv2d, 4, [3, 3], scope="conv3")
        s = slim.stack(x, slim.conv2d, [(4, [3, 3]), (6, [5, 5])], scope="core")
    assert r.shape.as_list() == [None, 24, 24, 4]
    assert s.shape.as_list() == [None, 22, 22, 6]
