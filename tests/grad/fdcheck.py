"""Finite-difference checks of `slim.gradients` for graphs that read variables (layers, whole nets).

`fd_check(loss, wrt, feed, variables)` evaluates d(loss)/d(wrt) with the numpy references
(slimir.reference.evaluate) and compares a few random coordinates of each gradient with central
differences of the loss, perturbing the value in `feed` (placeholders) or `variables` (variables).
"""

from __future__ import annotations

import numpy as np

from slimir.passes.gradients import gradients
from slimir.reference import evaluate


def fd_check(loss, wrt, feed, variables=None, rng=None, n_coords=3, eps=1e-6, rtol=1e-5, atol=1e-8,
             grads=None):
    """Returns the analytic gradients (numpy arrays, in the order of `wrt`)."""
    rng = rng or np.random.default_rng(0)
    variables = dict(variables or {})
    feed = dict(feed)
    if grads is None:
        grads = gradients(loss, wrt)
    for t, g in zip(wrt, grads):
        assert g is not None, f"no gradient for {t.name}"
    analytic = evaluate(grads, feed, variables)

    def f(fd, vs):
        return float(evaluate([loss], fd, vs)[0])

    for t, a in zip(wrt, analytic):
        in_vars = any(t is v for v in variables)
        base = variables[t] if in_vars else feed[t]
        base = np.asarray(base)
        assert a.shape == base.shape, f"{t.name}: gradient shape {a.shape} != value shape {base.shape}"
        for k in rng.choice(base.size, size=min(n_coords, base.size), replace=False):
            idx = np.unravel_index(k, base.shape)
            vals = []
            for sign in (1, -1):
                v = base.copy()
                v[idx] += sign * eps
                if in_vars:
                    vals.append(f(feed, {**variables, t: v}))
                else:
                    vals.append(f({**feed, t: v}, variables))
            num = (vals[0] - vals[1]) / (2 * eps)
            np.testing.assert_allclose(a[idx], num, rtol=rtol, atol=atol, err_msg=f"{t.name} coordinate {idx}")
    return analytic
