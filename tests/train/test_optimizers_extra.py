"""slim.train.AdadeltaOptimizer, FtrlOptimizer and ExponentialMovingAverage: updates over several steps
against numpy versions of TF1's kernels (ApplyAdadelta, ApplyFtrl, ApplyFtrlV2, assign_moving_average),
against torch.optim.Adadelta where torch is installed, slot and shadow names as TF names them, and the
checkpoint names an evaluation restores the averages from."""

import math

import numpy as np
import pytest

import slimir as slim
from slimir import errors, train

W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], np.float32)
B0 = np.array([0.1, -0.2, 0.3], np.float32)
STEPS = 6


def _grads(seed=0, steps=STEPS, dtype=np.float32, scale=1.0):
    rng = np.random.default_rng(seed)
    return [((scale * rng.normal(size=W0.shape)).astype(dtype), (scale * rng.normal(size=B0.shape)).astype(dtype))
            for _ in range(steps)]


def _model(dtype=slim.float32):
    with slim.variable_scope("conv1"):
        w = slim.get_variable("weights", W0.shape, dtype=dtype, initializer=slim.constant_initializer(W0))
        b = slim.get_variable("biases", B0.shape, dtype=dtype, initializer=slim.constant_initializer(B0))
    gw = slim.placeholder(dtype, W0.shape, name="grad_w")
    gb = slim.placeholder(dtype, B0.shape, name="grad_b")
    return w, b, gw, gb


def _run(make_opt, grads, dtype=slim.float32):
    """Apply `grads` step by step: (optimiser, [(w, b) after each step], {variable op name: final value})."""
    with slim.Graph().as_default():
        w, b, gw, gb = _model(dtype)
        step = train.get_or_create_global_step()
        opt = make_opt()
        op = opt.apply_gradients([(gw, w), (gb, b)], global_step=step)
        history = []
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for g_w, g_b in grads:
                sess.run(op, {gw: g_w, gb: g_b})
                history.append(sess.run([w, b]))
            state = {v.op.name: sess.variable_value(v) for v in slim.global_variables()}
        return opt, history, state


def _numpy_run(update, grads, state_init, dtype=np.float32):
    """`update(param, grad, state) -> param` in numpy, step by step; returns the params after each step and the
    per-parameter states."""
    params = [W0.astype(dtype), B0.astype(dtype)]
    states = [state_init(p) for p in params]
    out = []
    for gs in grads:
        params = [update(p, g.astype(dtype), s) for p, g, s in zip(params, gs, states)]
        out.append([p.copy() for p in params])
    return out, states


def _check(history, want, rtol, atol):
    assert len(history) == len(want)
    for k, ((w, b), (ww, wb)) in enumerate(zip(history, want)):
        np.testing.assert_allclose(w, ww, rtol=rtol, atol=atol, err_msg=f"weights after step {k + 1}")
        np.testing.assert_allclose(b, wb, rtol=rtol, atol=atol, err_msg=f"biases after step {k + 1}")


TOL = {np.float32: (2e-5, 1e-6), np.float64: (1e-12, 1e-14)}


def _f32(x):
    """A hyper-parameter as TF passes it to a kernel: a float32 tensor, cast to the variable's dtype."""
    return float(np.float32(x))


# ------------------------------------------------------------------------------------------
# Adadelta (ApplyAdadelta)


def _adadelta_numpy(lr, rho, eps):
    lr, rho, eps = _f32(lr), _f32(rho), _f32(eps)

    def upd(p, g, s):
        s["accum"] = rho * s["accum"] + (1 - rho) * g * g
        update = np.sqrt(s["accum_update"] + eps) / np.sqrt(s["accum"] + eps) * g
        s["accum_update"] = rho * s["accum_update"] + (1 - rho) * update * update
        return (p - lr * update).astype(p.dtype)

    return upd, lambda p: {"accum": np.zeros_like(p), "accum_update": np.zeros_like(p)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adadelta_matches_numpy(dtype):
    grads = _grads(11, dtype=dtype)
    lr, rho, eps = 0.5, 0.9, 1e-6
    _, hist, state = _run(lambda: train.AdadeltaOptimizer(lr, rho=rho, epsilon=eps), grads,
                          dtype=slim.as_dtype(dtype))
    upd, init = _adadelta_numpy(lr, rho, eps)
    want, states = _numpy_run(upd, grads, init, dtype)
    _check(hist, want, *TOL[dtype])
    assert hist[-1][0].dtype == dtype
    # the slots hold TF's accumulators: accum (mean square gradient), accum_update (mean square update)
    np.testing.assert_allclose(state["conv1/weights/Adadelta"], states[0]["accum"], rtol=TOL[dtype][0])
    np.testing.assert_allclose(state["conv1/weights/Adadelta_1"], states[0]["accum_update"], rtol=TOL[dtype][0])
    np.testing.assert_allclose(state["conv1/biases/Adadelta_1"], states[1]["accum_update"], rtol=TOL[dtype][0])
    assert state["global_step"] == STEPS
    assert not np.allclose(hist[-1][0], W0)


def test_adadelta_default_hyper_parameters():
    """TF's defaults: learning_rate=0.001, rho=0.95, epsilon=1e-8 (steps of ~lr * sqrt(eps / ...) are tiny:
    compare the change of the weights, not only the weights)."""
    grads = _grads(12, dtype=np.float64)
    _, hist, _ = _run(lambda: train.AdadeltaOptimizer(), grads, dtype=slim.float64)
    upd, init = _adadelta_numpy(0.001, 0.95, 1e-8)
    want, _ = _numpy_run(upd, grads, init, np.float64)
    _check(hist, want, 1e-12, 1e-16)
    np.testing.assert_allclose(hist[-1][0] - W0, want[-1][0] - W0, rtol=1e-9)
    assert np.abs(hist[-1][0] - W0).max() > 0


def test_adadelta_matches_torch():
    """torch.optim.Adadelta computes the same rule (lr on the step only, not in accum_update). Hyper-parameters
    exact in float32, as slimir (and TF) hand them to the kernel as float32 tensors cast to the variable's dtype."""
    torch = pytest.importorskip("torch")
    grads = _grads(13, dtype=np.float64, steps=8)
    lr, rho, eps = 0.5, 0.875, 2.0 ** -20
    _, hist, _ = _run(lambda: train.AdadeltaOptimizer(lr, rho=rho, epsilon=eps), grads, dtype=slim.float64)
    params = [torch.tensor(W0.astype(np.float64), requires_grad=True),
              torch.tensor(B0.astype(np.float64), requires_grad=True)]
    opt = torch.optim.Adadelta(params, lr=lr, rho=rho, eps=eps, weight_decay=0.0)
    for k, gs in enumerate(grads):
        for p, g in zip(params, gs):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        for p, got in zip(params, hist[k]):
            np.testing.assert_allclose(got, p.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}")


# ------------------------------------------------------------------------------------------
# FTRL (ApplyFtrl / ApplyFtrlV2)


def _ftrl_numpy(lr, power=-0.5, init_acc=0.1, l1=0.0, l2=0.0, shrink=0.0, beta=0.0):
    # TF adds beta to l2 in float32 (the learning rate's dtype), then casts
    l2_adj = float(np.float32(l2) + np.float32(beta) / (np.float32(2) * np.float32(lr))) if beta else _f32(l2)
    lr, power, l1, shrink = _f32(lr), _f32(power), _f32(l1), _f32(shrink)  # (accum starts at init_acc exactly)

    def upd(p, g, s):
        g_s = g + 2 * shrink * p
        new_acc = s["accum"] + g * g
        new_p, old_p = new_acc ** (-power), s["accum"] ** (-power)
        s["linear"] = s["linear"] + g_s - (new_p - old_p) / lr * p
        lin = s["linear"]
        pre = (l1 * np.sign(lin) - lin) / (new_p / lr + 2 * l2_adj)
        s["accum"] = new_acc
        return np.where(np.abs(lin) > l1, pre, 0.0).astype(p.dtype)

    return upd, lambda p: {"accum": np.full_like(p, init_acc), "linear": np.zeros_like(p)}


FTRL_CASES = {
    "defaults": {"lr": 0.2},
    "l1_l2": {"lr": 0.3, "l1": 0.05, "l2": 0.1},
    "strong_l1": {"lr": 0.3, "l1": 1.5, "l2": 0.0},  # most weights are exactly 0
    "power": {"lr": 0.1, "power": -0.7, "init_acc": 0.5, "l1": 0.01, "l2": 0.02},
    "power_zero": {"lr": 0.05, "power": 0.0, "l2": 0.3},  # a fixed learning rate
    "shrinkage": {"lr": 0.2, "l1": 0.02, "l2": 0.05, "shrink": 0.3},  # ApplyFtrlV2
    "beta": {"lr": 0.2, "l2": 0.05, "beta": 0.5},
}


def _ftrl_opt(c):
    return train.FtrlOptimizer(c["lr"], learning_rate_power=c.get("power", -0.5),
                               initial_accumulator_value=c.get("init_acc", 0.1),
                               l1_regularization_strength=c.get("l1", 0.0),
                               l2_regularization_strength=c.get("l2", 0.0),
                               l2_shrinkage_regularization_strength=c.get("shrink", 0.0), beta=c.get("beta"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(FTRL_CASES))
def test_ftrl_matches_numpy(case, dtype):
    c = FTRL_CASES[case]
    grads = _grads(20 + len(case), dtype=dtype)
    _, hist, state = _run(lambda: _ftrl_opt(c), grads, dtype=slim.as_dtype(dtype))
    upd, init = _ftrl_numpy(c["lr"], c.get("power", -0.5), c.get("init_acc", 0.1), c.get("l1", 0.0),
                            c.get("l2", 0.0), c.get("shrink", 0.0), c.get("beta", 0.0))
    want, states = _numpy_run(upd, grads, init, np.float64)  # the reference in float64
    rtol, atol = (3e-5, 1e-6) if dtype == np.float32 else (1e-11, 1e-13)
    _check(hist, want, rtol, atol)
    np.testing.assert_allclose(state["conv1/weights/Ftrl"], states[0]["accum"], rtol=rtol)
    np.testing.assert_allclose(state["conv1/weights/Ftrl_1"], states[0]["linear"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(state["conv1/biases/Ftrl_1"], states[1]["linear"], rtol=rtol, atol=atol)
    if case == "strong_l1":
        zeros = int(np.sum(hist[-1][0] == 0) + np.sum(hist[-1][1] == 0))
        assert zeros == int(np.sum(want[-1][0] == 0) + np.sum(want[-1][1] == 0)) and zeros >= 3


def test_ftrl_first_step_closed_form():
    """One step from accum0 with l1 = l2 = 0 and power -1/2: linear = g - (sqrt(a0 + g^2) - sqrt(a0)) / lr * w0,
    w1 = -linear * lr / sqrt(a0 + g^2); checked on numbers worked out by hand."""
    with slim.Graph().as_default():
        w = slim.get_variable("w", [2], initializer=slim.constant_initializer([1.0, -2.0]))
        g = slim.constant(np.array([0.3, 0.4], np.float32))
        op = train.FtrlOptimizer(0.5, initial_accumulator_value=0.16).apply_gradients([(g, w)])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.run(op)
            got = sess.run(w)
    # a0 = 0.16: sqrt(a0 + g^2) = 0.5 and sqrt(0.32) for the two entries
    lin0 = 0.3 - (0.5 - 0.4) / 0.5 * 1.0  # 0.1
    lin1 = 0.4 - (math.sqrt(0.32) - 0.4) / 0.5 * -2.0
    np.testing.assert_allclose(got, [-lin0 * 0.5 / 0.5, -lin1 * 0.5 / math.sqrt(0.32)], rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Slots, names, hyper-parameters


@pytest.mark.parametrize("make_opt, slot_names, var_names, inits", [
    (lambda: train.AdadeltaOptimizer(), ["accum", "accum_update"], ["Adadelta", "Adadelta_1"], (0.0, 0.0)),
    (lambda: train.FtrlOptimizer(0.1), ["accum", "linear"], ["Ftrl", "Ftrl_1"], (0.1, 0.0)),
    (lambda: train.FtrlOptimizer(0.1, initial_accumulator_value=0.25, accum_name="acc", linear_name="lin"),
     ["accum", "linear"], ["acc", "lin"], (0.25, 0.0)),
])
def test_slot_names_as_tf(make_opt, slot_names, var_names, inits):
    with slim.Graph().as_default():
        w, b, gw, gb = _model()
        opt = make_opt()
        op = opt.apply_gradients([(gw, w), (gb, b)])
        assert op.name == opt.get_name()
        assert opt.get_slot_names() == slot_names
        want = {f"conv1/{p}/{n}" for p in ("weights", "biases") for n in var_names}
        assert {v.op.name for v in opt.variables()} == want
        assert want <= {v.op.name for v in slim.global_variables()}
        assert not (want & {v.op.name for v in slim.trainable_variables()})
        # created per variable in TF's order: the first slot, then the second
        assert opt.get_slot(w, slot_names[0]).op.name == f"conv1/weights/{var_names[0]}"
        assert opt.get_slot(w, slot_names[1]).op.name == f"conv1/weights/{var_names[1]}"
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for name, init in zip(slot_names, inits):
                s = opt.get_slot(w, name)
                assert s.shape == w.shape and s.dtype is w.dtype and not s.trainable
                np.testing.assert_allclose(sess.run(s), np.full_like(W0, init))


@pytest.mark.parametrize("make, param", [
    (lambda: train.AdadeltaOptimizer(-0.1), "learning_rate"),
    (lambda: train.AdadeltaOptimizer(rho=1.5), "rho"),
    (lambda: train.AdadeltaOptimizer(rho=-0.1), "rho"),
    (lambda: train.AdadeltaOptimizer(epsilon=0.0), "epsilon"),
    (lambda: train.FtrlOptimizer(0.0), "learning_rate"),
    (lambda: train.FtrlOptimizer(0.1, learning_rate_power=0.5), "learning_rate_power"),
    (lambda: train.FtrlOptimizer(0.1, initial_accumulator_value=-0.1), "initial_accumulator_value"),
    (lambda: train.FtrlOptimizer(0.1, l1_regularization_strength=-1.0), "l1_regularization_strength"),
    (lambda: train.FtrlOptimizer(0.1, l2_regularization_strength=-1.0), "l2_regularization_strength"),
    (lambda: train.FtrlOptimizer(0.1, l2_shrinkage_regularization_strength=-1.0),
     "l2_shrinkage_regularization_strength"),
    (lambda: train.FtrlOptimizer(0.1, beta=-1.0), "beta"),
    (lambda: train.ExponentialMovingAverage(1.5), "decay"),
    (lambda: train.ExponentialMovingAverage(-0.1), "decay"),
    (lambda: train.ExponentialMovingAverage(0.9, num_updates="7"), "num_updates"),
])
def test_bad_hyper_parameters_raise(make, param):
    with slim.Graph().as_default(), pytest.raises(errors.InvalidArgumentError, match=param) as info:
        make()
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("make_opt, reference", [
    (lambda: train.AdadeltaOptimizer(2.0, rho=0.9, epsilon=1e-4), lambda: _adadelta_numpy(2.0, 0.9, 1e-4)),
    (lambda: train.FtrlOptimizer(0.5, l1_regularization_strength=0.01, l2_regularization_strength=0.1),
     lambda: _ftrl_numpy(0.5, l1=0.01, l2=0.1)),
])
def test_minimize_quadratic_matches_numpy(make_opt, reference):
    """minimize: autodiff, then the update inside the compiled training graph, step after step."""
    target = np.array([0.5, -1.0, 2.0], np.float32)
    w0 = np.array([1.0, 2.0, 3.0], np.float32)
    with slim.Graph().as_default():
        w = slim.get_variable("w", [3], initializer=slim.constant_initializer(w0))
        loss = slim.reduce_sum(slim.square(w - target))
        train_op = make_opt().minimize(loss, var_list=[w])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            losses = []
            for _ in range(10):
                losses.append(sess.run(loss))
                sess.run(train_op)
            got = sess.run(w)
    upd, init = reference()
    p = w0.astype(np.float64)
    s = init(p)
    for _ in range(10):
        p = upd(p, 2 * (p - target), s)
    np.testing.assert_allclose(got, p, rtol=2e-5, atol=1e-6)
    assert losses[-1] < losses[0]


# ------------------------------------------------------------------------------------------
# ExponentialMovingAverage


def test_ema_names_collections_and_initial_value():
    with slim.Graph().as_default():
        slim.set_random_seed(3)
        with slim.variable_scope("net"):
            w = slim.get_variable("w", [4, 3], initializer=slim.truncated_normal_initializer(stddev=1.0))
            b = slim.get_variable("b", [3], initializer=slim.zeros_initializer())
        ema = train.ExponentialMovingAverage(0.99)
        assert ema.name == "ExponentialMovingAverage"
        assert ema.average_name(w) == "net/w/ExponentialMovingAverage"  # before apply: the name it will have
        assert ema.average(w) is None
        with slim.name_scope("outer"):
            op = ema.apply([w, b])
        assert op.name == "outer/ExponentialMovingAverage"
        avg_w = ema.average(w)
        assert avg_w.op.name == "net/w/ExponentialMovingAverage" == ema.average_name(w)
        assert ema.average(b).op.name == "net/b/ExponentialMovingAverage"
        assert avg_w.shape == w.shape and avg_w.dtype is w.dtype and not avg_w.trainable
        assert avg_w in slim.global_variables() and avg_w not in slim.trainable_variables()
        assert slim.get_collection(slim.GraphKeys.MOVING_AVERAGE_VARIABLES) == [w, b]
        # a second average of the same variables gets its own, uniquified shadow (as TF's slot creator)
        ema2 = train.ExponentialMovingAverage(0.5)
        ema2.apply([w])
        assert ema2.average(w).op.name == "net/w/ExponentialMovingAverage_1"
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w_init = sess.run(w)
            assert np.abs(w_init).max() > 0
            np.testing.assert_array_equal(sess.run(avg_w), w_init)  # the shadow starts at the variable's value
            np.testing.assert_array_equal(sess.run(ema2.average(w)), w_init)


@pytest.mark.parametrize("num_updates", [None, 0, "step"])
def test_ema_updates_match_numpy(num_updates):
    """shadow -= (1 - d) * (shadow - var), d = min(decay, (1 + n) / (10 + n)) with num_updates n."""
    decay = 0.9
    rng = np.random.default_rng(5)
    values = [rng.normal(size=(2, 3)).astype(np.float32) for _ in range(8)]
    with slim.Graph().as_default():
        v = slim.get_variable("v", [2, 3], initializer=slim.constant_initializer(W0))
        step = train.get_or_create_global_step()
        n = step if num_updates == "step" else num_updates
        ema = train.ExponentialMovingAverage(decay, num_updates=n)
        op = ema.apply([v])
        inc = step.assign_add(1)
        got = []
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for x in values:
                sess.set_variable_value(v, x)
                sess.run(op)
                sess.run(inc)
                got.append(sess.run(ema.average(v)))
    avg = W0.astype(np.float64)
    for k, (x, g) in enumerate(zip(values, got)):
        d = decay
        if num_updates is not None:
            nn = k if num_updates == "step" else num_updates
            d = min(decay, (1.0 + nn) / (10.0 + nn))
        avg = avg - (1 - d) * (avg - x)
        np.testing.assert_allclose(g, avg, rtol=1e-5, atol=1e-6, err_msg=f"update {k + 1}")


def test_ema_of_tensors_zero_debias():
    """Tensors (not variables) start at zero; zero_debias divides by 1 - d^t (shadows biased, local_step)."""
    decay = 0.8
    values = [1.0, 3.0, -2.0, 0.5]
    for debias in (False, True):
        with slim.Graph().as_default():
            x = slim.placeholder(slim.float32, [], name="x")
            loss = slim.identity(x * 2.0, name="loss")
            ema = train.ExponentialMovingAverage(decay, zero_debias=debias)
            op = ema.apply([loss])
            avg = ema.average(loss)
            assert avg.op.name == "loss/ExponentialMovingAverage"
            names = {v.op.name for v in slim.global_variables()}
            assert ({"loss/ExponentialMovingAverage/biased", "loss/ExponentialMovingAverage/local_step"} <= names) \
                == debias
            assert slim.get_collection(slim.GraphKeys.MOVING_AVERAGE_VARIABLES) == []
            got = []
            with slim.Session() as sess:
                sess.run(slim.global_variables_initializer())
                assert sess.run(avg) == 0.0
                for val in values:
                    sess.run(op, {x: val})
                    got.append(float(sess.run(avg)))
        biased, want = 0.0, []
        for t, val in enumerate(values, start=1):
            biased = biased - (1 - decay) * (biased - 2 * val)
            want.append(biased / (1 - decay ** t) if debias else biased)
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_ema_bad_input():
    with slim.Graph().as_default():
        w = slim.get_variable("w", [3], initializer=slim.zeros_initializer())
        counter = slim.get_variable("counter", [3], dtype=slim.int32, initializer=slim.zeros_initializer())
        ema = train.ExponentialMovingAverage(0.9)
        with pytest.raises(errors.DTypeError, match="counter") as info:
            ema.apply([w, counter])
        assert isinstance(info.value, TypeError)
        with pytest.raises(errors.InvalidArgumentError, match="more than once"):
            ema.apply([w, w])
        with pytest.raises(errors.ShapeError, match="num_updates"):
            train.ExponentialMovingAverage(0.9, num_updates=slim.placeholder(slim.int64, [2], name="n"))


def test_ema_variables_to_restore_puts_the_averages_into_the_variables(tmp_path):
    """Train-side: the shadows are saved as `<var>/ExponentialMovingAverage`; eval-side (a fresh graph, no
    apply): variables_to_restore maps those names to the plain variables, and a Saver restores them."""
    rng = np.random.default_rng(9)
    values = [rng.normal(size=(2, 3)).astype(np.float32) for _ in range(5)]
    with slim.Graph().as_default():
        with slim.variable_scope("net"):
            w = slim.get_variable("w", [2, 3], initializer=slim.constant_initializer(W0))
            frozen = slim.get_variable("frozen", [3], initializer=slim.constant_initializer(B0), trainable=False)
        step = train.get_or_create_global_step()
        ema = train.ExponentialMovingAverage(0.7, num_updates=step)
        op = ema.apply([w])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for x in values:
                sess.set_variable_value(w, x)
                sess.run(op)
            sess.set_variable_value(step, np.int64(123))
            avg_value = sess.run(ema.average(w))
            path = train.Saver().save(sess, str(tmp_path / "model.ckpt"), global_step=step)
    assert ("net/w/ExponentialMovingAverage", [2, 3]) in [(n, list(s)) for n, s in slim.train.list_variables(path)]
    np.testing.assert_allclose(slim.train.load_variable(path, "net/w/ExponentialMovingAverage"), avg_value)
    assert not np.allclose(avg_value, values[-1])

    with slim.Graph().as_default():
        with slim.variable_scope("net"):
            w = slim.get_variable("w", [2, 3], initializer=slim.zeros_initializer())
            frozen = slim.get_variable("frozen", [3], initializer=slim.zeros_initializer(), trainable=False)
        step = train.get_or_create_global_step()
        ema = train.ExponentialMovingAverage(0.7, num_updates=step)
        to_restore = ema.variables_to_restore()
        # the trainable w under its average's name; every other global variable under its own
        assert to_restore == {"net/w/ExponentialMovingAverage": w, "net/frozen": frozen, "global_step": step}
        assert ema.variables_to_restore([frozen]) == {"net/frozen/ExponentialMovingAverage": frozen, "net/w": w,
                                                      "global_step": step}
        with slim.Session() as sess:
            train.Saver(to_restore).restore(sess, path)
            np.testing.assert_allclose(sess.run(w), avg_value)
            np.testing.assert_allclose(sess.run(frozen), B0)
            assert train.global_step(sess, step) == 123


def test_ema_in_the_train_op_averages_the_weights_before_each_update():
    """As research/slim: ema.apply(model variables) among create_train_op's update ops, num_updates the global
    step. Every update of a step reads the values from before the step, so the shadow follows the weights one
    step behind: avg_k = avg_{k-1} - (1 - d_k) * (avg_{k-1} - w_{k-1}), d_k = min(decay, (1 + k-1) / (10 + k-1))."""
    target = np.array([0.5, -1.0, 2.0], np.float32)
    w0 = np.array([1.0, 2.0, 3.0], np.float32)
    decay, lr, steps = 0.5, 0.1, 6
    with slim.Graph().as_default():
        w = slim.model_variable("w", [3], initializer=slim.constant_initializer(w0))
        step = train.get_or_create_global_step()
        loss = slim.reduce_sum(slim.square(w - target))
        ema = train.ExponentialMovingAverage(decay, num_updates=step)
        update_ops = slim.get_collection(slim.GraphKeys.UPDATE_OPS) + [ema.apply(slim.get_model_variables())]
        train_op = slim.learning.create_train_op(loss, train.GradientDescentOptimizer(lr), update_ops=update_ops)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for _ in range(steps):
                sess.run(train_op)
            got_w, got_avg = sess.run([w, ema.average(w)])
            assert train.global_step(sess, step) == steps
    p, avg = w0.astype(np.float64), w0.astype(np.float64)
    for k in range(steps):
        d = min(decay, (1.0 + k) / (10.0 + k))
        avg = avg - (1 - d) * (avg - p)
        p = p - lr * 2 * (p - target)
    np.testing.assert_allclose(got_w, p, rtol=1e-5)
    np.testing.assert_allclose(got_avg, avg, rtol=1e-5)


@pytest.mark.parametrize("make_opt, reference", [
    (lambda lr: train.AdadeltaOptimizer(lr, rho=0.9, epsilon=1e-3), lambda lr: _adadelta_numpy(lr, 0.9, 1e-3)),
    (lambda lr: train.FtrlOptimizer(lr, l1_regularization_strength=0.02, beta=0.1),
     lambda lr: _ftrl_numpy(lr, l1=0.02, beta=0.1)),
])
def test_learning_rate_from_a_schedule(make_opt, reference):
    """A learning-rate tensor driven by the global step (as `slimir train`'s decays): each step uses the rate of
    the step count before it (FTRL's beta term then follows the rate too)."""
    grads = _grads(31)
    with slim.Graph().as_default():
        w, b, gw, gb = _model()
        step = train.get_or_create_global_step()
        lr = train.exponential_decay(0.5, step, decay_steps=2, decay_rate=0.5, staircase=True)
        op = make_opt(lr).apply_gradients([(gw, w), (gb, b)], global_step=step)
        hist = []
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for g_w, g_b in grads:
                sess.run(op, {gw: g_w, gb: g_b})
                hist.append(sess.run([w, b]))
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    states = None
    for t, gs in enumerate(grads):
        upd, init = reference(0.5 * 0.5 ** (t // 2))
        states = states or [init(p) for p in params]
        params = [upd(p, g.astype(np.float64), s) for p, g, s in zip(params, gs, states)]
        np.testing.assert_allclose(hist[t][0], params[0], rtol=3e-5, atol=1e-6, err_msg=f"step {t + 1}")
        np.testing.assert_allclose(hist[t][1], params[1], rtol=3e-5, atol=1e-6, err_msg=f"step {t + 1}")


def test_ema_of_float64_and_float16_variables():
    """The decay is a float32 tensor, cast to each shadow's dtype (as TF)."""
    with slim.Graph().as_default():
        v64 = slim.get_variable("v64", [3], dtype=slim.float64, initializer=slim.constant_initializer([1.0, 2.0, 3.0]))
        v16 = slim.get_variable("v16", [3], dtype=slim.float16, initializer=slim.constant_initializer([1.0, 2.0, 3.0]))
        ema = train.ExponentialMovingAverage(0.75)
        op = ema.apply([v64, v16])
        assert ema.average(v64).dtype is slim.float64 and ema.average(v16).dtype is slim.float16
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for x in ([0.0, 0.0, 0.0], [4.0, 4.0, 4.0]):
                sess.set_variable_value(v64, np.array(x, np.float64))
                sess.set_variable_value(v16, np.array(x, np.float16))
                sess.run(op)
            got64, got16 = sess.run([ema.average(v64), ema.average(v16)])
    want = np.array([1.0, 2.0, 3.0]) * 0.75 * 0.75 + 4.0 * 0.25
    np.testing.assert_allclose(got64, want, rtol=1e-12)
    np.testing.assert_allclose(got16.astype(np.float64), want, rtol=2e-3)
