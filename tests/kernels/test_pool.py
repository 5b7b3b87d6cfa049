"""max/avg pooling: reference against naive loops and finite differences; cpu against the reference.

Pooling does no long sums, so cpu and reference agree to rtol 1e-6 in float32 and 1e-12 in float64, and the
max-pool argmax must match exactly (inputs are continuous random values, so ties have probability zero).
"""
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finite_differences import numerical_gradients

cpu_pool = importlib.import_module("kernels.cpu.pool")
ref_pool = importlib.import_module("kernels.reference.pool")


def naive_pool(x, kernel_size, stride, padding, mode):
    n_batch, channels, height, width = x.shape
    h_out = (height + 2 * padding[0] - kernel_size[0]) // stride[0] + 1
    w_out = (width + 2 * padding[1] - kernel_size[1]) // stride[1] + 1
    y = np.zeros((n_batch, channels, h_out, w_out))
    for n, c, p, q in np.ndindex(y.shape):
        window = []
        for i in range(kernel_size[0]):
            for j in range(kernel_size[1]):
                ih = p * stride[0] - padding[0] + i
                iw = q * stride[1] - padding[1] + j
                inside = 0 <= ih < height and 0 <= iw < width
                window.append(x[n, c, ih, iw] if inside else (-np.inf if mode == "max" else 0.0))
        y[n, c, p, q] = max(window) if mode == "max" else sum(window) / len(window)
    return y


@st.composite
def pool_cases(draw):
    kernel_size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, kernel_size[0] // 2)), draw(st.integers(0, kernel_size[1] // 2)))
    height = draw(st.integers(max(1, kernel_size[0] - 2 * padding[0]), 9))
    width = draw(st.integers(max(1, kernel_size[1] - 2 * padding[1]), 7))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), height, width)
    return shape, kernel_size, stride, padding, draw(st.integers(0, 2**16))


def finite_difference_check(forward, backward, x, grad_y):
    (numeric,) = numerical_gradients(lambda a: (forward(a) * grad_y).sum(), [x])
    np.testing.assert_allclose(backward, numeric, rtol=1e-5, atol=1e-6)


@given(pool_cases())
def test_pool_reference_matches_naive_loops_and_finite_differences(case):
    shape, kernel_size, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    y, argmax = ref_pool.max_pool2d_forward(x, kernel_size, stride, padding)
    np.testing.assert_array_equal(y, naive_pool(x, kernel_size, stride, padding, "max"))
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(shape[0], shape[1], -1),
                                                     argmax.reshape(shape[0], shape[1], -1), 2).reshape(y.shape), y)
    y_avg = ref_pool.avg_pool2d_forward(x, kernel_size, stride, padding)
    np.testing.assert_allclose(y_avg, naive_pool(x, kernel_size, stride, padding, "avg"), rtol=1e-12)
    grad_y = rng.standard_normal(y.shape)
    finite_difference_check(lambda a: ref_pool.max_pool2d_forward(a, kernel_size, stride, padding)[0],
                            ref_pool.max_pool2d_backward(grad_y, argmax, shape), x, grad_y)
    finite_difference_check(lambda a: ref_pool.avg_pool2d_forward(a, kernel_size, stride, padding),
                            ref_pool.avg_pool2d_backward(grad_y, shape, kernel_size, stride, padding), x, grad_y)


@given(pool_cases(), st.sampled_from([np.float32, np.float64]), st.booleans())
def test_pool_cpu_matches_reference(case, dtype, transposed):
    shape, kernel_size, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if transposed:  # same shape, but a non-contiguous view
        x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    tolerances = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y, argmax = cpu_pool.max_pool2d_forward(x, kernel_size, stride, padding)
    y_ref, argmax_ref = ref_pool.max_pool2d_forward(x, kernel_size, stride, padding)
    assert y.dtype == dtype and argmax.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    grad_y = rng.standard_normal(y.shape).astype(dtype)[..., ::-1]
    np.testing.assert_allclose(cpu_pool.max_pool2d_backward(grad_y, argmax, shape),
                               ref_pool.max_pool2d_backward(grad_y, argmax_ref, shape), **tolerances)
    np.testing.assert_allclose(cpu_pool.avg_pool2d_forward(x, kernel_size, stride, padding),
                               ref_pool.avg_pool2d_forward(x, kernel_size, stride, padding), **tolerances)
    np.testing.assert_allclose(cpu_pool.avg_pool2d_backward(grad_y, shape, kernel_size, stride, padding),
                               ref_pool.avg_pool2d_backward(grad_y, shape, kernel_size, stride, padding),
                               **tolerances)


@pytest.mark.parametrize("module", [cpu_pool, ref_pool], ids=["cpu", "reference"])
def test_max_pool_picks_nan_and_first_maximum_like_pytorch(module):
    x = np.array([[[[1.0, 3.0], [3.0, np.nan]]]])
    y, argmax = module.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 3
    y, argmax = module.max_pool2d_forward(x[..., :1, :], (1, 2), (1, 2), (0, 0))
    assert y[0, 0, 0, 0] == 3.0 and argmax[0, 0, 0, 0] == 1
    y, argmax = module.max_pool2d_forward(np.full((1, 1, 2, 2), -np.inf), (3, 3), (1, 1), (1, 1))
    assert (argmax >= 0).all()


@pytest.mark.parametrize("padding", [(0, 0), (1, 1)])
def test_cpu_max_pool_matches_reference_on_planes_with_nan_and_inf(padding):
    """Planes holding NaN, ±inf or only -inf, in the written-out 2x2 path and in the window loop."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 6, 7))
    x[0, 0, 1, 2] = np.nan
    x[0, 1, 3, 3] = np.inf
    x[1, 2, 0, 0] = -np.inf
    x[1, 3] = -np.inf
    x[1, 3, 5, 6] = np.nan
    for geometry in (((2, 2), (2, 2), padding), ((3, 3), (2, 1), padding)):
        y, argmax = cpu_pool.max_pool2d_forward(x, *geometry)
        y_ref, argmax_ref = ref_pool.max_pool2d_forward(x, *geometry)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(argmax, argmax_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_max_pool_keeps_first_maximum_and_last_nan_on_ties_in_every_window_shape(dtype):
    """Values drawn from {-inf, 0, 1, NaN} make ties and several NaNs per window common. 2x2 windows of stride 2
    (the written-out path; the odd last row and column are left out), 2x2 windows of stride 1, 3x3 ones clipped
    at the padded edges, and 3x2 / 1x3 windows (the loop) must all pick the same value and index as the
    reference and PyTorch's CPU kernel."""
    rng = np.random.default_rng(11)
    x = rng.choice(np.array([-np.inf, 0.0, 1.0, np.nan]), size=(3, 4, 7, 6), p=[0.2, 0.35, 0.35, 0.1]).astype(dtype)
    for geometry in (((2, 2), (2, 2), (0, 0)), ((2, 2), (1, 1), (0, 0)), ((3, 3), (2, 2), (1, 1)),
                     ((3, 2), (1, 2), (1, 0)), ((1, 3), (1, 1), (0, 1))):
        y, argmax = cpu_pool.max_pool2d_forward(x, *geometry)
        y_ref, argmax_ref = ref_pool.max_pool2d_forward(x, *geometry)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(argmax, argmax_ref)
        torch = pytest.importorskip("torch")
        y_torch, argmax_torch = torch.nn.functional.max_pool2d(torch.from_numpy(x), *geometry, return_indices=True)
        np.testing.assert_array_equal(y, y_torch.numpy())
        np.testing.assert_array_equal(argmax, argmax_torch.numpy())


@pytest.mark.parametrize("module", [cpu_pool, ref_pool], ids=["cpu", "reference"])
def test_pool_rejects_bad_inputs_with_the_kernel_name(module):
    x = np.ones((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="max_pool2d_forward"):
        module.max_pool2d_forward(x, (2, 2), (2, 2), (2, 0))  # padding above kernel // 2
    with pytest.raises(TypeError, match="max_pool2d_forward"):
        module.max_pool2d_forward(x.astype(np.int64), (2, 2), (2, 2), (0, 0))
    with pytest.raises(TypeError, match="avg_pool2d_forward"):
        module.avg_pool2d_forward(x, 2, (2, 2), (0, 0))
    with pytest.raises(ValueError, match="avg_pool2d_forward"):
        module.avg_pool2d_forward(x, (5, 5), (1, 1), (0, 0))
    with pytest.raises(ValueError, match="avg_pool2d_backward"):
        module.avg_pool2d_backward(np.ones((1, 1, 3, 3), np.float32), x.shape, (2, 2), (2, 2), (0, 0))
    with pytest.raises(TypeError, match="max_pool2d_backward"):
        module.max_pool2d_backward(np.ones((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.int32), x.shape)
