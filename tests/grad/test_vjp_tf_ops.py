"""Finite-difference checks of the VJPs of the TF-core ops added for the `tf` namespace: "resize" (every method
and pixel-center rule: the gradient is the transpose of TF's sampling map) and "gather" (every axis)."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_grads

import slimir as slim
from slimir.errors import ShapeError
from slimir.ir.registry import apply_op
from slimir.ops import index
from slimir.passes.gradients import gradients


@pytest.mark.parametrize("method", ["bilinear", "nearest", "bicubic", "area"])
@pytest.mark.parametrize("ac,hp", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("size", [(7, 3), (2, 5)])
def test_resize(method, ac, hp, size):
    if method == "area" and hp:
        pytest.skip("resize_area has no half_pixel_centers")
    check_grads(lambda x: apply_op("resize", [x], method=method, size=size, align_corners=ac, half_pixel_centers=hp),
                [(2, 4, 6, 3)], n_coords=20)


def test_resize_gradient_needs_static_sizes():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [1, None, 4, 1])
        y = apply_op("resize", [x], method="bilinear", size=(2, 2), align_corners=False, half_pixel_centers=False)
        with pytest.raises(ShapeError, match="static"):
            gradients(slim.reduce_sum(y), [x])


def test_resize_nearest_gradient_is_the_adjoint():
    """Each output's gradient lands on the one input it copies (TF's own ResizeNearestNeighborGrad maps input
    pixels to outputs with the inverse scale instead, which is not the transpose for every size)."""
    from slimir.ir.reference import evaluate
    from slimir.ops import image

    with slim.Graph().as_default():
        x = slim.placeholder(slim.float64, [1, 14, 1, 1])
        y = apply_op("resize", [x], method="nearest", size=(2, 1), align_corners=False, half_pixel_centers=False)
        (g,) = gradients(slim.reduce_sum(y * slim.constant(np.array([1.0, 10.0]).reshape(1, 2, 1, 1))), [x])
        (gv,) = evaluate([g], {x: np.zeros((1, 14, 1, 1))})
    want = np.zeros(14)
    want[image.nearest_indices(14, 2, False, False)] = [1.0, 10.0]
    np.testing.assert_array_equal(gv.reshape(-1), want)


@pytest.mark.parametrize("axis,pshape,ishape", [(0, (5, 3), (4,)), (1, (2, 6, 3), (2, 3)), (-1, (3, 4), (5,))])
def test_gather(axis, pshape, ishape):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, pshape[axis], ishape)  # repeats included: their gradients add up
    check_grads(lambda p: index.gather(p, slim.constant(idx.astype(np.int32)), axis=axis), [pshape], n_coords=8)


@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
def test_mirror_pad(mode):
    """REFLECT / SYMMETRIC padding (cyclegan's and pix2pix's tf.pad(..., mode='REFLECT')): borders fold back."""
    check_grads(lambda x: slim.pad(x, [[0, 0], [2, 1], [1, 3], [0, 0]], mode=mode), [(2, 4, 5, 2)], n_coords=20)
    check_grads(lambda x: slim.pad(x, [[3, 3], [0, 2]], mode=mode), [(4, 3)], n_coords=12)
