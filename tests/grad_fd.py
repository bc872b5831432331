"""Finite-difference check of a layer's input gradient (slim.gradients evaluated by ONNX Runtime, float32)."""

from __future__ import annotations

import numpy as np

import slimir as slim


def fd_check_graph(build, shape, seed=0, eps=1e-2, rtol=2e-2, atol=2e-3, n_coords=6):
    """d sum(build(x) * r) / dx from slim.gradients against central differences of the Session's forward."""
    rng = np.random.default_rng(seed)
    xv = rng.normal(size=shape).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, list(shape))
        y = build(x)
        r = rng.normal(size=y.shape.as_list()).astype(np.float32)
        loss = slim.reduce_sum(y * r)
        (g,) = slim.gradients(loss, [x])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            gv = sess.run(g, {x: xv})
            for k in rng.choice(xv.size, n_coords, replace=False):
                idx = np.unravel_index(k, shape)
                vals = []
                for sign in (1, -1):
                    xp = xv.copy()
                    xp[idx] += sign * eps
                    vals.append(float(sess.run(loss, {x: xp})))
                np.testing.assert_allclose(gv[idx], (vals[0] - vals[1]) / (2 * eps), rtol=rtol, atol=atol)
