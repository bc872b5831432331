"""slim.train: optimisers against numpy versions of TF1's update rules, slot names, the global step,
learning-rate schedules, and the errors for bad hyper-parameters and variables."""

import math

import numpy as np
import pytest

import slimir as slim
from slimir import errors, train

RTOL = 1e-5
W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], np.float32)
B0 = np.array([0.1, -0.2, 0.3], np.float32)
STEPS = 6


def _grads(seed=0, steps=STEPS, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=W0.shape).astype(dtype), rng.normal(size=B0.shape).astype(dtype))
            for _ in range(steps)]


def _model(dtype=slim.float32):
    with slim.variable_scope("conv1"):
        w = slim.get_variable("weights", W0.shape, dtype=dtype, initializer=slim.constant_initializer(W0))
        b = slim.get_variable("biases", B0.shape, dtype=dtype, initializer=slim.constant_initializer(B0))
    gw = slim.placeholder(dtype, W0.shape, name="grad_w")
    gb = slim.placeholder(dtype, B0.shape, name="grad_b")
    return w, b, gw, gb


def _run(make_opt, grads, dtype=slim.float32, apply_kwargs=None):
    """Apply `grads` step by step; return the optimiser, the (w, b) values after each step and the session
    state at the end (slot values by name, global step)."""
    with slim.Graph().as_default():
        w, b, gw, gb = _model(dtype)
        step = train.get_or_create_global_step()
        opt = make_opt()
        op = opt.apply_gradients([(gw, w), (gb, b)], global_step=step, **(apply_kwargs or {}))
        history = []
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for g_w, g_b in grads:
                sess.run(op, {gw: g_w, gb: g_b})
                history.append(sess.run([w, b]))
            state = {v.op.name: sess.variable_value(v) for v in slim.global_variables()}
        return opt, history, state


def _check(history, want):
    assert len(history) == len(want)
    for k, ((w, b), (ww, wb)) in enumerate(zip(history, want)):
        np.testing.assert_allclose(w, ww, rtol=RTOL, atol=1e-7, err_msg=f"weights after step {k + 1}")
        np.testing.assert_allclose(b, wb, rtol=RTOL, atol=1e-7, err_msg=f"biases after step {k + 1}")


def _numpy_run(update, grads, state_init, dtype=np.float32):
    """Run `update(t, param, grad, state) -> param` (state: a dict per parameter) in numpy."""
    params = [W0.astype(dtype), B0.astype(dtype)]
    states = [state_init(p) for p in params]
    out = []
    for t, gs in enumerate(grads, start=1):
        params = [update(t, p, g, s) for p, g, s in zip(params, gs, states)]
        out.append([p.copy() for p in params])
    return out


# ------------------------------------------------------------------------------------------
# Update rules (TF1's dense kernels, written from their documented formulas)


def test_gradient_descent_matches_numpy():
    grads = _grads()
    _, hist, state = _run(lambda: train.GradientDescentOptimizer(0.1), grads)

    def upd(t, p, g, s):
        return (p - np.float32(0.1) * g).astype(np.float32)

    _check(hist, _numpy_run(upd, grads, lambda p: {}))
    assert state["global_step"] == STEPS


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_numpy(nesterov):
    grads = _grads(1)
    lr, mu = 0.05, 0.9
    _opt, hist, state = _run(lambda: train.MomentumOptimizer(lr, mu, use_nesterov=nesterov), grads)

    def upd(t, p, g, s):
        s["a"] = mu * s["a"] + g
        step = lr * g + lr * mu * s["a"] if nesterov else lr * s["a"]
        return (p - step).astype(np.float32)

    want = _numpy_run(upd, grads, lambda p: {"a": np.zeros_like(p)})
    _check(hist, want)
    # the accumulator slot holds sum_k mu^(n-k) g_k
    acc = np.zeros_like(B0)
    for _, g_b in grads:
        acc = mu * acc + g_b
    np.testing.assert_allclose(state["conv1/biases/Momentum"], acc, rtol=RTOL)


def _adam_numpy(lr, b1, b2, eps, wd=0.0, decay=lambda i: True):
    def upd(t, p, g, s):
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        new = p - lr_t * s["m"] / (np.sqrt(s["v"]) + eps)
        if decay(s["i"]):
            new = new - wd * p
        return new.astype(p.dtype)

    counter = iter(range(1000))

    def init(p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p), "i": next(counter)}

    return upd, init


def test_adam_matches_numpy():
    grads = _grads(2)
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-7
    _opt, hist, state = _run(lambda: train.AdamOptimizer(lr, b1, b2, eps), grads)
    upd, init = _adam_numpy(lr, b1, b2, eps)
    _check(hist, _numpy_run(upd, grads, init))
    np.testing.assert_allclose(state["beta1_power"], b1 ** (STEPS + 1), rtol=RTOL)
    np.testing.assert_allclose(state["beta2_power"], b2 ** (STEPS + 1), rtol=RTOL)
    assert state["beta1_power"].dtype == np.float32


def test_adam_default_hyper_parameters():
    grads = _grads(3)
    _, hist, _ = _run(lambda: train.AdamOptimizer(), grads)
    upd, init = _adam_numpy(0.001, 0.9, 0.999, 1e-8)
    _check(hist, _numpy_run(upd, grads, init))


def test_adam_float64_variables():
    grads = _grads(4, dtype=np.float64)
    _, hist, state = _run(lambda: train.AdamOptimizer(0.02), grads, dtype=slim.float64)
    assert hist[-1][0].dtype == np.float64
    assert state["conv1/weights/Adam"].dtype == np.float64
    upd, init = _adam_numpy(0.02, 0.9, 0.999, 1e-8)
    _check(hist, _numpy_run(upd, grads, init, dtype=np.float64))


def test_adamw_matches_numpy():
    grads = _grads(5)
    wd, lr = 0.01, 0.01
    _, hist, state = _run(lambda: train.AdamWOptimizer(wd, learning_rate=lr), grads)
    upd, init = _adam_numpy(lr, 0.9, 0.999, 1e-8, wd=wd)
    _check(hist, _numpy_run(upd, grads, init))
    assert "conv1/weights/AdamW" in state and "conv1/weights/AdamW_1" in state


def test_adamw_decay_var_list_limits_the_decay():
    grads = _grads(6)
    wd, lr = 0.05, 0.01
    with slim.Graph().as_default():
        w, b, gw, gb = _model()
        opt = train.AdamWOptimizer(wd, learning_rate=lr)
        op = opt.apply_gradients([(gw, w), (gb, b)], decay_var_list=[w])
        hist = []
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for g_w, g_b in grads:
                sess.run(op, {gw: g_w, gb: g_b})
                hist.append(sess.run([w, b]))
    upd, init = _adam_numpy(lr, 0.9, 0.999, 1e-8, wd=wd, decay=lambda i: i == 0)  # only the weights
    _check(hist, _numpy_run(upd, grads, init))


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_matches_numpy(centered, momentum):
    grads = _grads(7)
    lr, rho, eps = 0.01, 0.9, 1e-10
    _, hist, _state = _run(lambda: train.RMSPropOptimizer(lr, decay=rho, momentum=momentum, epsilon=eps,
                                                         centered=centered), grads)

    def upd(t, p, g, s):
        s["ms"] = rho * s["ms"] + (1 - rho) * g * g
        denom = s["ms"] + eps
        if centered:
            s["mg"] = rho * s["mg"] + (1 - rho) * g
            denom = s["ms"] - s["mg"] ** 2 + eps
        s["mom"] = momentum * s["mom"] + lr * g / np.sqrt(denom)
        return (p - s["mom"]).astype(np.float32)

    # TF1 initialises the mean-square slot to ones
    want = _numpy_run(upd, grads, lambda p: {"ms": np.ones_like(p), "mg": np.zeros_like(p),
                                             "mom": np.zeros_like(p)})
    _check(hist, want)


def test_adagrad_matches_numpy():
    grads = _grads(8)
    lr, init_acc = 0.1, 0.3
    _, hist, state = _run(lambda: train.AdagradOptimizer(lr, initial_accumulator_value=init_acc), grads)

    def upd(t, p, g, s):
        s["acc"] = s["acc"] + g * g
        return (p - lr * g / np.sqrt(s["acc"])).astype(np.float32)

    _check(hist, _numpy_run(upd, grads, lambda p: {"acc": np.full_like(p, init_acc)}))
    acc = init_acc + sum(g_b ** 2 for _, g_b in grads)
    np.testing.assert_allclose(state["conv1/biases/Adagrad"], acc, rtol=RTOL)


def test_learning_rate_tensor_from_a_schedule():
    """A schedule driven by the global step: each step uses the rate of the step count before it."""
    grads = _grads(9)

    with slim.Graph().as_default():
        w, b, gw, gb = _model()
        step = train.get_or_create_global_step()
        lr = train.exponential_decay(0.1, step, decay_steps=2, decay_rate=0.5, staircase=True)
        op = train.GradientDescentOptimizer(lr).apply_gradients([(gw, w), (gb, b)], global_step=step)
        hist = []
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for g_w, g_b in grads:
                sess.run(op, {gw: g_w, gb: g_b})
                hist.append(sess.run([w, b]))

    def upd(t, p, g, s):
        return (p - 0.1 * 0.5 ** ((t - 1) // 2) * g).astype(np.float32)

    _check(hist, _numpy_run(upd, grads, lambda p: {}))


def test_learning_rate_placeholder():
    with slim.Graph().as_default():
        w, b, gw, _gb = _model()
        lr = slim.placeholder(slim.float32, [], name="lr")
        op = train.GradientDescentOptimizer(lr).apply_gradients([(gw, w)])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(op, {gw: np.ones_like(W0), lr: 0.5})
            np.testing.assert_allclose(sess.run(w), W0 - 0.5, rtol=RTOL)
            sess.run(op, {gw: np.ones_like(W0), lr: 0.25})
            np.testing.assert_allclose(sess.run(w), W0 - 0.75, rtol=RTOL)
            np.testing.assert_allclose(sess.run(b), B0)  # no gradient given: untouched


# ------------------------------------------------------------------------------------------
# Slots, non-slot variables, names, the global step


@pytest.mark.parametrize("make_opt, slot_names, var_names", [
    (lambda: train.GradientDescentOptimizer(0.1), [], []),
    (lambda: train.MomentumOptimizer(0.1, 0.9), ["momentum"], ["Momentum"]),
    (lambda: train.AdamOptimizer(), ["m", "v"], ["Adam", "Adam_1"]),
    (lambda: train.AdamWOptimizer(0.01), ["m", "v"], ["AdamW", "AdamW_1"]),
    (lambda: train.RMSPropOptimizer(0.1), ["momentum", "rms"], ["RMSProp", "RMSProp_1"]),
    (lambda: train.RMSPropOptimizer(0.1, centered=True), ["mg", "momentum", "rms"],
     ["RMSProp", "RMSProp_1", "RMSProp_2"]),
    (lambda: train.AdagradOptimizer(0.1), ["accumulator"], ["Adagrad"]),
])
def test_slot_names_as_tf(make_opt, slot_names, var_names):
    with slim.Graph().as_default():
        w, b, gw, gb = _model()
        opt = make_opt()
        with slim.name_scope("outer"), slim.variable_scope("vs"):
            op = opt.apply_gradients([(gw, w), (gb, b)])
        assert op.name == f"outer/vs/{opt.get_name()}"
        assert opt.get_slot_names() == slot_names
        slots = {v.op.name for v in opt.variables()} - {"beta1_power", "beta2_power"}
        want = {f"conv1/{p}/{n}" for p in ("weights", "biases") for n in var_names}
        assert slots == want
        globals_ = {v.op.name for v in slim.global_variables()}
        assert want <= globals_
        assert not (want & {v.op.name for v in slim.trainable_variables()})
        for name in slot_names:
            s = opt.get_slot(w, name)
            assert s.shape == w.shape and s.dtype is w.dtype and not s.trainable
        assert opt.get_slot(w, "no_such_slot") is None
        if isinstance(opt, train.AdamOptimizer):
            # non-slot variables are named as tf.Variable names them (in the current name scope)
            assert {"beta1_power", "beta2_power"} <= {v.op.name.split("/")[-1] for v in opt.variables()}
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for name in slot_names:
                value = sess.run(opt.get_slot(w, name))
                if name == "rms":
                    np.testing.assert_array_equal(value, np.ones_like(W0))  # TF1 starts RMSProp's ms at 1
                elif name == "accumulator":
                    np.testing.assert_allclose(value, np.full_like(W0, 0.1))
                else:
                    np.testing.assert_array_equal(value, np.zeros_like(W0))


def test_adam_beta_powers_at_top_level_and_listed():
    with slim.Graph().as_default():
        w, b, gw, gb = _model()
        opt = train.AdamOptimizer()
        opt.apply_gradients([(gw, w), (gb, b)])
        names = [v.op.name for v in opt.variables()]
        assert names == sorted(names)
        assert names == ["beta1_power", "beta2_power", "conv1/biases/Adam", "conv1/biases/Adam_1",
                         "conv1/weights/Adam", "conv1/weights/Adam_1"]
        # a second Adam on the same variables gets fresh, uniquified slots, as TF names them
        opt2 = train.AdamOptimizer()
        opt2.apply_gradients([(gw, w)])
        assert [v.op.name for v in opt2.variables()] == ["beta1_power_1", "beta2_power_1",
                                                          "conv1/weights/Adam_2", "conv1/weights/Adam_3"]
        # applying again with the same optimiser reuses its slots
        n = len(slim.global_variables())
        opt.apply_gradients([(gw, w)])
        assert len(slim.global_variables()) == n
    with slim.Graph().as_default():
        assert opt.variables() == []  # only the default graph's variables are listed


def test_global_step_increments_after_the_update():
    with slim.Graph().as_default():
        w, b, gw, gb = _model()
        step = train.get_or_create_global_step()
        assert train.get_global_step() is step
        assert step.dtype is slim.int64
        lr = 0.1 * slim.cast(step + 1, slim.float32)  # the update must see the step before the increment
        op = train.GradientDescentOptimizer(lr).apply_gradients([(gw, w)], global_step=step)
        no_step = train.GradientDescentOptimizer(0.1).apply_gradients([(gb, b)], name="no_step")
        assert op in slim.get_collection(train.TRAIN_OP)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert train.global_step(sess, step) == 0
            expect = W0.copy()
            for k in range(3):
                sess.run(op, {gw: np.ones_like(W0)})
                expect = expect - 0.1 * (k + 1)
                assert train.global_step(sess, step) == k + 1
            np.testing.assert_allclose(sess.run(w), expect, rtol=RTOL)
            sess.run(no_step, {gb: np.ones_like(B0)})
            assert train.global_step(sess, step) == 3
            sess.set_variable_value(step, np.int64(41))
            sess.run(op, {gw: np.zeros_like(W0)})
            assert train.global_step(sess, step) == 42


def test_optimizer_names_and_ops():
    with slim.Graph().as_default():
        w, _b, gw, _gb = _model()
        op = train.MomentumOptimizer(0.1, 0.9, name="MyMomentum").apply_gradients([(gw, w)])
        assert op.name == "MyMomentum"
        assert slim.get_default_graph().get_tensor_by_name("conv1/weights/MyMomentum:0") is not None
        op2 = train.GradientDescentOptimizer(0.1).apply_gradients([(gw, w)], name="step_b")
        assert op2.name == "step_b"
    assert repr(train.AdamOptimizer()) == "<slim.train.AdamOptimizer 'Adam'>"


# ------------------------------------------------------------------------------------------
# compute_gradients / minimize (autodiff)


def test_minimize_quadratic_with_gradient_descent():
    target = np.array([0.5, -1.0, 2.0], np.float32)
    w0 = np.array([1.0, 2.0, 3.0], np.float32)
    with slim.Graph().as_default():
        w = slim.get_variable("w", [3], initializer=slim.constant_initializer(w0))
        unused = slim.get_variable("unused", [2], initializer=slim.zeros_initializer())
        loss = slim.reduce_sum(slim.square(w - target))
        step = train.get_or_create_global_step()
        opt = train.GradientDescentOptimizer(0.1)
        gv = opt.compute_gradients(loss)
        assert [v for _, v in gv] == [w, unused]
        assert gv[1][0] is None
        train_op = opt.minimize(loss, global_step=step)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            np.testing.assert_allclose(sess.run(gv[0][0]), 2 * (w0 - target), rtol=RTOL)
            for _ in range(10):
                sess.run(train_op)
            np.testing.assert_allclose(sess.run(w), target + (w0 - target) * 0.8 ** 10, rtol=RTOL)
            assert train.global_step(sess, step) == 10


def test_minimize_quadratic_with_adam_matches_numpy():
    target = np.array([0.5, -1.0, 2.0], np.float32)
    w0 = np.array([1.0, 2.0, 3.0], np.float32)
    with slim.Graph().as_default():
        w = slim.get_variable("w", [3], initializer=slim.constant_initializer(w0))
        loss = slim.reduce_sum(slim.square(w - target))
        train_op = train.AdamOptimizer(0.1).minimize(loss, var_list=[w])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            losses = []
            for _ in range(8):
                losses.append(sess.run(loss))
                sess.run(train_op)
            got = sess.run(w)
    p, m, v = w0.copy(), np.zeros(3), np.zeros(3)
    for t in range(1, 9):
        g = 2 * (p - target)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 0.1 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(got, p, rtol=RTOL)
    assert losses[-1] < losses[0]


def test_minimize_without_a_gradient_path_raises():
    with slim.Graph().as_default():
        w = slim.get_variable("w", [3], initializer=slim.zeros_initializer())
        loss = slim.reduce_sum(slim.constant([1.0, 2.0]))
        with pytest.raises(errors.InvalidArgumentError, match="No gradients provided"):
            train.GradientDescentOptimizer(0.1).minimize(loss, var_list=[w])
        with pytest.raises(errors.InvalidArgumentError, match="No variables to optimize"):
            train.GradientDescentOptimizer(0.1).minimize(loss, var_list=[])


# ------------------------------------------------------------------------------------------
# Learning-rate schedules


def _schedule_values(make, steps):
    with slim.Graph().as_default():
        step = train.get_or_create_global_step()
        lr = make(step)
        assert lr.dtype is slim.float32
        out = []
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for k in steps:
                sess.set_variable_value(step, np.int64(k))
                out.append(sess.run(lr))
        assert all(np.asarray(v).dtype == np.float32 for v in out)
        return np.array(out)


STEP_POINTS = [0, 1, 7, 10, 11, 25, 99, 100, 101, 1000]


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    got = _schedule_values(lambda s: train.exponential_decay(0.1, s, 10, 0.96, staircase=staircase), STEP_POINTS)
    p = np.array(STEP_POINTS, np.float64) / 10
    if staircase:
        p = np.floor(p)
    np.testing.assert_allclose(got, 0.1 * 0.96 ** p, rtol=RTOL)


def test_piecewise_constant():
    boundaries, values = [10, 100], [1.0, 0.5, 0.1]
    got = _schedule_values(lambda s: train.piecewise_constant(s, boundaries, values), STEP_POINTS)
    x = np.array(STEP_POINTS)
    want = np.where(x <= 10, 1.0, np.where(x <= 100, 0.5, 0.1))
    np.testing.assert_allclose(got, want, rtol=RTOL)
    # a single boundary, on a float x
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [], name="x")
        lr = train.piecewise_constant(x, [0.5], [3.0, 4.0])
        with slim.Session() as sess:
            assert [float(sess.run(lr, {x: v})) for v in (0.0, 0.5, 0.75)] == [3.0, 3.0, 4.0]


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_polynomial_decay(cycle, power):
    got = _schedule_values(lambda s: train.polynomial_decay(0.1, s, 10, end_learning_rate=0.001, power=power,
                                                            cycle=cycle), STEP_POINTS)
    want = []
    for k in STEP_POINTS:
        steps = 10.0
        if cycle:
            steps = 10.0 * (1.0 if k == 0 else math.ceil(k / 10))
            kk = k
        else:
            kk = min(k, 10)
        want.append((0.1 - 0.001) * (1 - kk / steps) ** power + 0.001)
    np.testing.assert_allclose(got, want, rtol=RTOL)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_cosine_decay(alpha):
    points = STEP_POINTS + [33, 50, 67, 99]
    got = _schedule_values(lambda s: train.cosine_decay(0.1, s, 100, alpha=alpha), points)
    frac = np.minimum(np.array(points, np.float64), 100) / 100
    want = 0.1 * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * frac)) + alpha)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-9)


def test_schedule_with_a_tensor_learning_rate():
    with slim.Graph().as_default():
        step = train.get_or_create_global_step()
        base = slim.placeholder(slim.float32, [], name="base_lr")
        lr = train.exponential_decay(base, step, 4, 0.5)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.set_variable_value(step, np.int64(8))
            np.testing.assert_allclose(sess.run(lr, {base: 2.0}), 0.5, rtol=RTOL)


def test_schedule_errors():
    with slim.Graph().as_default():
        step = train.get_or_create_global_step()
        with pytest.raises(errors.InvalidArgumentError, match="global_step is required"):
            train.exponential_decay(0.1, None, 10, 0.9)
        with pytest.raises(errors.InvalidArgumentError, match="decay_steps"):
            train.polynomial_decay(0.1, step, 0)
        with pytest.raises(errors.InvalidArgumentError, match="decay_steps"):
            train.cosine_decay(0.1, step, -5)
        with pytest.raises(errors.InvalidArgumentError, match="boundaries"):
            train.piecewise_constant(step, [10, 20], [1.0, 0.5])
        with pytest.raises(errors.InvalidArgumentError, match="non-decreasing"):
            train.piecewise_constant(step, [20, 10], [1.0, 0.5, 0.1])
        with pytest.raises(errors.DTypeError, match="same dtype"):
            train.piecewise_constant(step, [10], [1, 0.5])


# ------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("make, param", [
    (lambda: train.GradientDescentOptimizer(-0.1), "learning_rate"),
    (lambda: train.GradientDescentOptimizer(float("nan")), "learning_rate"),
    (lambda: train.GradientDescentOptimizer(float("inf")), "learning_rate"),
    (lambda: train.GradientDescentOptimizer(slim.constant(-1.0)), "learning_rate"),
    (lambda: train.MomentumOptimizer(-0.1, 0.9), "learning_rate"),
    (lambda: train.MomentumOptimizer(0.1, 1.0), "momentum"),
    (lambda: train.MomentumOptimizer(0.1, -0.5), "momentum"),
    (lambda: train.AdamOptimizer(-1e-3), "learning_rate"),
    (lambda: train.AdamOptimizer(beta1=1.0), "beta1"),
    (lambda: train.AdamOptimizer(beta1=-0.1), "beta1"),
    (lambda: train.AdamOptimizer(beta2=1.5), "beta2"),
    (lambda: train.AdamOptimizer(epsilon=0.0), "epsilon"),
    (lambda: train.AdamOptimizer(epsilon=-1e-8), "epsilon"),
    (lambda: train.AdamWOptimizer(-0.01), "weight_decay"),
    (lambda: train.AdamWOptimizer(0.01, beta2=1.0), "beta2"),
    (lambda: train.RMSPropOptimizer(-0.1), "learning_rate"),
    (lambda: train.RMSPropOptimizer(0.1, decay=1.5), "decay"),
    (lambda: train.RMSPropOptimizer(0.1, momentum=1.0), "momentum"),
    (lambda: train.RMSPropOptimizer(0.1, epsilon=0.0), "epsilon"),
    (lambda: train.AdagradOptimizer(-0.1), "learning_rate"),
    (lambda: train.AdagradOptimizer(0.1, initial_accumulator_value=0.0), "initial_accumulator_value"),
])
def test_bad_hyper_parameters_raise(make, param):
    with slim.Graph().as_default(), pytest.raises(errors.InvalidArgumentError, match=param) as info:
        make()
    assert isinstance(info.value, ValueError)


def test_bad_learning_rate_tensors():
    with slim.Graph().as_default():
        with pytest.raises(errors.DTypeError, match="learning_rate"):
            train.GradientDescentOptimizer(slim.placeholder(slim.int32, [], name="lr_int"))
        with pytest.raises(errors.ShapeError, match="learning_rate"):
            train.GradientDescentOptimizer(slim.placeholder(slim.float32, [2], name="lr_vec"))


def test_integer_variables_raise():
    with slim.Graph().as_default():
        w, _b, gw, _gb = _model()
        counter = slim.get_variable("counter", [3], dtype=slim.int32, initializer=slim.zeros_initializer())
        g_int = slim.placeholder(slim.int32, [3], name="g_int")
        opt = train.MomentumOptimizer(0.1, 0.9)
        with pytest.raises(errors.DTypeError, match="counter") as info:
            opt.apply_gradients([(gw, w), (g_int, counter)])
        assert isinstance(info.value, TypeError)
        loss = slim.reduce_sum(w)
        with pytest.raises(errors.DTypeError, match="counter"):
            opt.compute_gradients(loss, var_list=[w, counter])
        with pytest.raises(errors.DTypeError, match="counter"):
            opt.minimize(loss, var_list=[counter])


def test_bad_grads_and_vars():
    with slim.Graph().as_default():
        w, b, gw, _gb = _model()
        opt = train.GradientDescentOptimizer(0.1)
        with pytest.raises(errors.InvalidArgumentError, match="No variables provided"):
            opt.apply_gradients([])
        with pytest.raises(errors.InvalidArgumentError, match="No gradients provided.*conv1/weights"):
            opt.apply_gradients([(None, w), (None, b)])
        with pytest.raises(errors.ShapeError, match="conv1/biases"):
            opt.apply_gradients([(gw, b)])
        g64 = slim.placeholder(slim.float64, W0.shape, name="g64")
        with pytest.raises(errors.DTypeError, match="conv1/weights"):
            opt.apply_gradients([(g64, w)])
        with pytest.raises(errors.InvalidArgumentError, match="more than once"):
            opt.apply_gradients([(gw, w), (gw, w)])
        with pytest.raises(errors.InvalidArgumentError, match="expected a variable"):
            opt.apply_gradients([(gw, gw)])
        with pytest.raises(errors.InvalidArgumentError, match="global_step"):
            opt.apply_gradients([(gw, w)], global_step=gw)
