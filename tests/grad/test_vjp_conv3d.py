"""VJPs of conv3d, max_pool3d and avg_pool3d (slimir/ops/conv3d_ops.py) against central differences of the
forward references (float64)."""

import pytest
from gradcheck import check_grads

from slimir.ops import conv3d_ops

GEOMETRIES = [  # (input NDHWC, kernel, strides, dilations, padding)
    ((2, 5, 7, 6, 3), (3, 2, 3), (1, 2, 2), (1, 1, 1), "SAME"),
    ((1, 6, 5, 7, 2), (2, 3, 3), (2, 1, 2), (1, 1, 1), "VALID"),
    ((1, 5, 6, 7, 2), (3, 2, 2), (1, 1, 1), (2, 1, 2), "SAME"),
]


@pytest.mark.parametrize("shape, k, s, d, padding", GEOMETRIES)
def test_conv3d_vjp_by_finite_differences(shape, k, s, d, padding):
    check_grads(lambda a, b: conv3d_ops.conv3d(a, b, s, padding, dilations=d), [shape, (*k, shape[-1], 2)],
                n_coords=6)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k, s, padding", [((2, 3, 2), (1, 2, 2), "SAME"), ((3, 3, 3), (2, 2, 2), "VALID")])
def test_pool3d_vjp_by_finite_differences(kind, k, s, padding):
    fn = conv3d_ops.max_pool3d if kind == "max" else conv3d_ops.avg_pool3d
    check_grads(lambda a: fn(a, k, s, padding), [(2, 5, 6, 7, 2)], n_coords=8)


