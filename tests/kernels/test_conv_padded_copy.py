"""conv2d's padded copies (`_padded`, the Numba loop that places x or grad_y in a zeroed array and can sum its
planes for grad_b) against the same placement written in NumPy slices, serial and parallel."""
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

cpu_conv = importlib.import_module("kernels.cpu.conv")


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
       st.integers(0, 4), st.booleans(), st.sampled_from([np.float32, np.float64]))
def test_conv2d_cpu_padded_copy_places_drops_and_zero_fills_as_numpy(step_h, step_w, top, left, extra_h, extra_w,
                                                                      parallel, dtype):
    """Strides spread the values, negative offsets drop the first rows/columns, everything else is zero, the
    flat array's tail (read past the last image by the row tiles) is zero, and the plane sums are x's."""
    x = np.random.default_rng(step_h * 7 + left).standard_normal((2, 3, 4, 5)).astype(dtype)
    shape = (2, 3, 4 * step_h + extra_h, 5 * step_w + extra_w)
    sums = np.empty((2, 3), dtype)
    with pytest.MonkeyPatch.context() as patch:  # a context, not the fixture: Hypothesis calls the test many times
        patch.setattr(cpu_conv, "PARALLEL_COPY_MIN_SIZE", 1)
        flat, padded = cpu_conv._padded(x, shape, (step_h, step_w), (top, left), parallel, sums)
    np.testing.assert_array_equal(padded, _numpy_padded(x, shape, (step_h, step_w), (top, left)))
    assert not flat[padded.size:].any()
    np.testing.assert_allclose(sums, x.sum(axis=(2, 3)), rtol=1e-6)


def test_conv2d_cpu_grad_b_from_the_padded_copy_matches_the_sum_of_grad_y():
    """With grad_x asked for, grad_b comes from the sums taken while grad_y is copied; alone, from NumPy."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 7))
    w = rng.standard_normal((6, 4, 3, 3))
    grad_y = rng.standard_normal((3, 6, 5, 7))
    with_input = cpu_conv.conv2d_backward(x, w, grad_y, (1, 1), (1, 1), (1, 1), 1, True, False, True)
    alone = cpu_conv.conv2d_backward(x, w, grad_y, (1, 1), (1, 1), (1, 1), 1, False, False, True)
    np.testing.assert_allclose(with_input[2], grad_y.sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(alone[2], grad_y.sum(axis=(0, 2, 3)), rtol=1e-12)
