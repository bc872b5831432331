"""Finite-difference checks of VJPs: the backward graph (evaluated with numpy references, float64)
against central differences of the forward references."""

from __future__ import annotations

import numpy as np

import slimir as slim
from slimir.passes.gradients import gradients
from slimir.reference import evaluate


def check_grads(build, shapes, rng=None, eps=1e-6, rtol=1e-5, atol=1e-7, n_coords=12, dtype=np.float64,
                positive=False, values=None):
    """`build(*placeholders) -> scalar-able tensor`; compares d(sum(out * r))/d(inputs) with central
    differences on `n_coords` random coordinates of each input. Returns the analytic gradients.

    values: optional input arrays (one per shape, None entries drawn as usual) for ops with a restricted
    domain or inputs that must hold ties."""
    rng = rng or np.random.default_rng(0)
    with slim.Graph().as_default():
        xs = [slim.placeholder(slim.float64, list(s), name=f"x{i}") for i, s in enumerate(shapes)]
        y = build(*xs)
        r = slim.placeholder(slim.float64, list(y.shape), name="r")
        loss = slim.reduce_sum(y * r)
        grads = gradients(loss, xs)
        vals = [rng.standard_normal(s).astype(dtype) for s in shapes]
        if positive:
            vals = [np.abs(v) + 0.5 for v in vals]
        if values is not None:
            vals = [v if u is None else np.asarray(u, dtype).reshape(s) for v, u, s in zip(vals, values, shapes)]
        rv = rng.standard_normal(tuple(y.shape)).astype(dtype)
        feed = {x: v for x, v in zip(xs, vals)}
        feed[r] = rv
        analytic = evaluate([g for g in grads if g is not None], feed)
        it = iter(analytic)
        analytic = [next(it) if g is not None else None for g in grads]

        def f(vs):
            fd = {x: v for x, v in zip(xs, vs)}
            fd[r] = rv
            return float(evaluate([loss], fd)[0])

        for i, (x, v) in enumerate(zip(xs, vals)):
            a = analytic[i]
            assert a is not None, f"no gradient for input {i}"
            assert a.shape == v.shape, f"gradient shape {a.shape} != input shape {v.shape}"
            flat = rng.choice(v.size, size=min(n_coords, v.size), replace=False)
            for k in flat:
                idx = np.unravel_index(k, v.shape)
                vp = [u.copy() for u in vals]
                vm = [u.copy() for u in vals]
                vp[i][idx] += eps
                vm[i][idx] -= eps
                num = (f(vp) - f(vm)) / (2 * eps)
                np.testing.assert_allclose(a[idx], num, rtol=rtol, atol=atol,
                                           err_msg=f"input {i} coordinate {idx}")
        return analytic
