"""Session: fetch structures, feeds, caching, variables, update ops, Print, and the errors users meet."""

import collections

import numpy as np
import pytest

import slimir as slim
from slimir import errors


def _graph_with_fc():
    x = slim.placeholder(slim.float32, [None, 4], name="x")
    y = slim.fully_connected(x, 3, activation_fn=None, scope="fc",
                             weights_initializer=slim.constant_initializer(np.arange(12).reshape(4, 3) / 10.0),
                             biases_initializer=slim.constant_initializer([1.0, 2.0, 3.0]))
    return x, y


def test_fetch_structures_and_values():
    with slim.Graph().as_default():
        x, y = _graph_with_fc()
        z = y * 2.0
        xv = np.arange(8, dtype=np.float32).reshape(2, 4)
        want = xv @ (np.arange(12).reshape(4, 3) / 10.0) + [1.0, 2.0, 3.0]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            np.testing.assert_allclose(sess.run(y, {x: xv}), want, rtol=1e-6)
            a, b = sess.run([y, z], {x: xv})
            np.testing.assert_allclose(b, 2 * want, rtol=1e-6)
            t = sess.run((y, z), {x: xv})
            assert isinstance(t, tuple) and len(t) == 2
            d = sess.run({"y": y, "nested": [z, {"zz": z}]}, {x: xv})
            np.testing.assert_allclose(d["nested"][1]["zz"], 2 * want, rtol=1e-6)
            P = collections.namedtuple("P", "first second")
            p = sess.run(P(y, z), {x: xv})
            assert isinstance(p, P)
            np.testing.assert_allclose(p.first, want, rtol=1e-6)
            by_name = sess.run("fc/BiasAdd:0", {"x:0": xv})
            np.testing.assert_allclose(by_name, want, rtol=1e-6)


def test_compiles_each_fetch_set_once():
    with slim.Graph().as_default():
        x, y = _graph_with_fc()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for _ in range(3):
                sess.run(y, {x: np.zeros((1, 4), np.float32)})
            n = len(sess._cache)
            sess.run(y, {x: np.zeros((5, 4), np.float32)})
            assert len(sess._cache) == n
            sess.run([y, y * 1.0], {x: np.zeros((1, 4), np.float32)})
            assert len(sess._cache) == n + 1


def test_feeding_an_intermediate_tensor_overrides_it():
    with slim.Graph().as_default():
        a = slim.placeholder(slim.float32, [2], name="a")
        b = a * 3.0
        c = b + 1.0
        with slim.Session() as sess:
            np.testing.assert_allclose(sess.run(c, {b: np.array([1.0, 2.0], np.float32)}), [2.0, 3.0])
            np.testing.assert_allclose(sess.run(c, {a: np.array([1.0, 2.0], np.float32)}), [4.0, 7.0])


def test_uninitialized_variable_and_unfed_placeholder_are_clear_errors():
    with slim.Graph().as_default():
        x, y = _graph_with_fc()
        with slim.Session() as sess:
            with pytest.raises(errors.FailedPreconditionError, match="uninitialized value fc/weights"):
                sess.run(y, {x: np.zeros((1, 4), np.float32)})
            sess.run(slim.global_variables_initializer())
            with pytest.raises(errors.FeedError, match=r"must feed a value for placeholder tensor 'x'.*\[None, 4\]"):
                sess.run(y)


def test_feed_shape_and_dtype_errors_name_the_tensor():
    with slim.Graph().as_default():
        x, y = _graph_with_fc()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            with pytest.raises(ValueError, match=r"shape \[2, 5\].*x:0.*\[None, 4\]"):
                sess.run(y, {x: np.zeros((2, 5), np.float32)})
            labels = slim.placeholder(slim.int32, [None], name="labels")
            with pytest.raises(errors.FeedError, match="float.*labels:0"):
                sess.run(labels, {labels: np.array([0.5], np.float32)})


def test_fetching_from_another_graph_is_an_error():
    g1, g2 = slim.Graph(), slim.Graph()
    with g1.as_default():
        c1 = slim.constant(1.0)
    with g2.as_default():
        slim.constant(2.0)
        with slim.Session() as sess:
            with pytest.raises(errors.GraphError, match="another graph"):
                sess.run(c1)


def test_variables_assign_and_initializer_op():
    with slim.Graph().as_default():
        v = slim.Variable(np.array([1.0, 2.0], np.float32), name="v")
        inc = v.assign_add([1.0, 1.0])
        with slim.Session() as sess:
            sess.run(v.initializer)
            np.testing.assert_allclose(sess.run(inc), [2.0, 3.0])
            np.testing.assert_allclose(sess.run(inc), [3.0, 4.0])
            np.testing.assert_allclose(sess.run(v), [3.0, 4.0])
            sess.run(slim.global_variables_initializer())
            np.testing.assert_allclose(sess.run(v), [1.0, 2.0])


def test_variable_initial_value_from_graph_tensor():
    with slim.Graph().as_default():
        slim.set_random_seed(3)
        w = slim.Variable(slim.truncated_normal([200, 50], stddev=0.1), name="w")
        u = slim.Variable(w * 2.0, name="u")
        with slim.Session() as sess:
            sess.run(slim.variables_initializer([w]))
            sess.run(u.initializer)
            wv, uv = sess.run([w, u])
    assert wv.shape == (200, 50) and np.all(np.abs(wv) <= 0.2 + 1e-6)
    assert 0.07 < wv.std() < 0.095  # truncated at 2 sigma: std ~ 0.88 * 0.1


def test_batch_norm_update_ops_move_the_statistics():
    rng = np.random.default_rng(0)
    xv = (rng.standard_normal((64, 4, 4, 3)) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.5]).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 4, 4, 3], name="x")
        slim.batch_norm(x, decay=0.5, is_training=True, scope="bn")
        updates = slim.get_collection(slim.GraphKeys.UPDATE_OPS)
        mean = slim.get_variables("bn/moving_mean")[0]
        var = slim.get_variables("bn/moving_variance")[0]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for _ in range(30):
                sess.run(updates, {x: xv})
            m, v = sess.run([mean, var])
    n = xv.size // 3
    np.testing.assert_allclose(m, xv.reshape(-1, 3).mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(v, xv.reshape(-1, 3).var(0) * n / (n - 1), rtol=1e-4)


def test_batch_norm_without_updates_collection_updates_in_place():
    xv = np.arange(24, dtype=np.float32).reshape(8, 3)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 3], name="x")
        y = slim.batch_norm(x, decay=0.0, is_training=True, updates_collections=None, scope="bn")
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []
        mean = slim.get_variables("bn/moving_mean")[0]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(y, {x: xv})
            np.testing.assert_allclose(sess.run(mean), xv.mean(0), rtol=1e-6)


def test_print_writes_the_message(capsys):
    with slim.Graph().as_default():
        a = slim.constant([1.0, 2.0, 3.0, 4.0])
        p = slim.Print(a * 2.0, [a], "values: ", summarize=2)
        with slim.Session() as sess:
            np.testing.assert_allclose(sess.run(p), [2.0, 4.0, 6.0, 8.0])
    err = capsys.readouterr().err
    assert "values: [1.0 2.0...]" in err


def test_group_and_no_op_return_none():
    with slim.Graph().as_default():
        v = slim.Variable(0.0, name="v")
        g = slim.group(v.assign_add(1.0), v.assign_add(1.0))
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert sess.run(g) is None
            assert sess.run(v) == pytest.approx(1.0)  # both read the pre-run value, as TF's races allow
            assert sess.run(slim.no_op()) is None


def test_default_session_and_eval():
    with slim.Graph().as_default():
        c = slim.constant([[1, 2], [3, 4]])
        with slim.Session():
            np.testing.assert_array_equal(c.eval(), [[1, 2], [3, 4]])
            assert c.dtype == slim.int32


def test_closed_session_refuses_to_run():
    with slim.Graph().as_default():
        c = slim.constant(1.0)
        sess = slim.Session()
        sess.close()
        with pytest.raises(errors.SlimirError, match="closed"):
            sess.run(c)


def test_cuda_request_without_cuda_falls_back_with_a_warning():
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA; the fallback path is not reachable")
    with slim.Graph().as_default():
        with pytest.warns(UserWarning, match="onnxruntime-gpu"):
            sess = slim.Session(device="cuda")
        assert sess.providers == ["CPUExecutionProvider"]
        np.testing.assert_allclose(sess.run(slim.constant(2.0) * 3.0), 6.0)
