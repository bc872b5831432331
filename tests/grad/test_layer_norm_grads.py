"""slim.group_norm and slim.instance_norm: gradients of a weighted sum of their outputs with respect to the input,
gamma and beta, in float64 with the numpy references (slimir.ir.reference), against central differences."""

from __future__ import annotations

import numpy as np
import pytest
from fdcheck import fd_check

import slimir as slim


def _check(layer, shape, seed):
    rng = np.random.default_rng(seed)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, list(shape))
        y = layer(x)
        r = slim.constant(rng.standard_normal(y.shape.as_list()))
        loss = slim.reduce_sum(y * r)
        params = slim.get_model_variables()
        assert sorted(v.op.name.rsplit("/", 1)[1] for v in params) == ["beta", "gamma"]
        values = {v: rng.standard_normal(v.shape.as_list()) * 0.5 + (1.0 if "gamma" in v.op.name else 0.0)
                  for v in params}
        fd_check(loss, [x, *params], {x: rng.standard_normal(shape)}, values, rng, n_coords=5, rtol=1e-5,
                 atol=1e-7)


@pytest.mark.parametrize("shape, groups, channels_axis, reduction_axes", [
    ((2, 3, 3, 4), 2, -1, (-3, -2)),   # NHWC, two groups of two channels
    ((2, 6, 3, 2), 3, 1, (2, 3)),      # NCHW, three groups of two channels
    ((3, 5, 4), 1, -1, (-2,)),         # one group: layer norm over [length, channels]
])
def test_group_norm_gradients(shape, groups, channels_axis, reduction_axes):
    _check(lambda x: slim.group_norm(x, groups=groups, channels_axis=channels_axis, reduction_axes=reduction_axes,
                                     scope="gn"), shape, seed=len(shape) + groups)


@pytest.mark.parametrize("data_format, shape", [("NHWC", (2, 3, 4, 3)), ("NCHW", (2, 3, 4, 3))])
def test_instance_norm_gradients(data_format, shape):
    _check(lambda x: slim.instance_norm(x, data_format=data_format, scope="in"), shape, seed=7)
