"""conv2d's placing of an image in zeros (`_place_plane`, which the tile kernels run on each image they work on,
for x and for grad_y spread by the stride) against the same placement written in NumPy slices; grad_x through it
with spread and cropped grad_y; and grad_b from the sums taken while grad_y is placed."""
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

cpu_conv = importlib.import_module("kernels.cpu.conv")
ref_conv = importlib.import_module("kernels.reference.conv")


def _numpy_padded(x, shape, step, offset):
    """zeros of `shape` with x[n, c, p, q] at (p·step_h + top, q·step_w + left) where that lies inside."""
    padded = np.zeros(shape, x.dtype)
    for p in range(x.shape[2]):
        for q in range(x.shape[3]):
            row, col = p * step[0] + offset[0], q * step[1] + offset[1]
            if 0 <= row < shape[2] and 0 <= col < shape[3]:
                padded[:, :, row, col] = x[:, :, p, q]
    return padded


@given(st.integers(1, 3), st.integers(1, 3), st.integers(-2, 3), st.integers(-2, 3), st.integers(0, 4),
       st.integers(0, 4), st.sampled_from([np.float32, np.float64]))
def test_conv2d_cpu_placing_places_drops_and_zero_fills_as_numpy(step_h, step_w, top, left, extra_h, extra_w,
                                                                  dtype):
    """Strides spread the values, negative offsets drop the first rows/columns, everything else is zero (the
    target starts as NaN, as scratch reused from another image holds old values)."""
    x = np.random.default_rng(step_h * 7 + left).standard_normal((2, 3, 4, 5)).astype(dtype)
    shape = (2, 3, 4 * step_h + extra_h, 5 * step_w + extra_w)
    placement = cpu_conv._placement(x.shape, shape, (step_h, step_w), (top, left))
    plane_size = shape[2] * shape[3]
    placed = np.full(x.shape[0] * x.shape[1] * plane_size, np.nan, dtype)
    x_flat = x.reshape(-1)
    for plane in range(x.shape[0] * x.shape[1]):
        cpu_conv._place_plane(x_flat, np.uint64(plane * 20), 5, placement, placed, np.uint64(plane * plane_size),
                              np.uint64(plane_size), shape[3])
    np.testing.assert_array_equal(placed.reshape(shape), _numpy_padded(x, shape, (step_h, step_w), (top, left)))


@pytest.mark.parametrize("store_cost", [0.0, 1e9], ids=["channel-tiles", "row-tiles"])
def test_conv2d_cpu_grad_x_matches_reference_with_spread_and_cropped_grad_y(monkeypatch, store_cost):
    """grad_x correlates grad_y spread by the stride and placed at dilation·(K - 1) - padding, which is negative
    when the padding exceeds the kernel's reach (the first rows and columns of grad_y fall outside)."""
    monkeypatch.setattr(cpu_conv, "CHANNEL_TILES_STORE_COST", store_cost)
    rng = np.random.default_rng(12)
    for x_shape, w_shape, geometry in [((2, 3, 7, 8), (4, 3, 3, 3), ((2, 3), (1, 1), (1, 1), 1)),
                                       ((2, 2, 5, 6), (3, 2, 2, 3), ((1, 1), (3, 2), (1, 1), 1)),
                                       ((3, 4, 6, 5), (4, 2, 3, 2), ((1, 1), (2, 2), (1, 1), 2))]:
        x = rng.standard_normal(x_shape)
        w = rng.standard_normal(w_shape)
        grad_y = rng.standard_normal(ref_conv.conv2d_forward(x, w, None, *geometry).shape)
        got = cpu_conv.conv2d_backward(x, w, grad_y, *geometry, True, False, True)
        want = ref_conv.conv2d_backward(x, w, grad_y, *geometry, True, False, True)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-12)


def test_conv2d_cpu_grad_b_from_the_placed_grad_y_matches_the_sum_of_grad_y():
    """With grad_x asked for, grad_b comes from the sums taken while grad_x's tiles place grad_y; alone, from
    NumPy."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 7))
    w = rng.standard_normal((6, 4, 3, 3))
    grad_y = rng.standard_normal((3, 6, 5, 7))
    with_input = cpu_conv.conv2d_backward(x, w, grad_y, (1, 1), (1, 1), (1, 1), 1, True, False, True)
    alone = cpu_conv.conv2d_backward(x, w, grad_y, (1, 1), (1, 1), (1, 1), 1, False, False, True)
    np.testing.assert_allclose(with_input[2], grad_y.sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(alone[2], grad_y.sum(axis=(0, 2, 3)), rtol=1e-12)
