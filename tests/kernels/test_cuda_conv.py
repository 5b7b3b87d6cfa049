"""CUDA conv2d and pooling against the NumPy reference (GPU, or NUMBA_ENABLE_CUDASIM=1).

Tolerances: float64 rtol/atol 1e-12; float32 rtol/atol 1e-5 against the float64 reference. Shapes are tiny
(simulated threads cost ~0.1 ms each) but cover stride, padding, dilation, groups, size-1 dims, a non-contiguous
input and overlapping pooling windows.
"""
import numpy as np
import pytest

import kernels.cuda as cuda_kernels
from kernels.reference import conv as ref_conv
from kernels.reference import pool as ref_pool

pytestmark = pytest.mark.skipif(not cuda_kernels.is_available(),
                                reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")

FLOATS = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)


def _host(value):
    return None if value is None else cuda_kernels.to_host(value)


CONV_CASES = [  # (N, C_in, H, W, C_out, K, stride, padding, dilation, groups)
    (1, 1, 3, 3, 1, 3, 1, 1, 1, 1),
    (2, 4, 5, 4, 2, 2, 2, 1, 1, 2),
    (1, 2, 6, 5, 3, 3, 1, 2, 2, 1),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_and_backward_match_reference(case, dtype):
    n, c_in, h, w, c_out, k, stride, pad, dil, groups = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, c_in, w, h)).astype(dtype).transpose(0, 1, 3, 2)  # non-contiguous (n, c, h, w)
    weight = rng.standard_normal((c_out, c_in // groups, k, k)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    args = ((stride, stride), (pad, pad), (dil, dil), groups)
    x64, w64, b64 = x.astype(np.float64), weight.astype(np.float64), bias.astype(np.float64)
    y_ref = ref_conv.conv2d_forward(x64, w64, b64, *args)
    y = _host(cuda_kernels.conv2d_forward(x, weight, bias, *args))
    assert y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **_tol(dtype))
    grad_y = rng.standard_normal(y_ref.shape)
    expected = ref_conv.conv2d_backward(x64, w64, grad_y, *args, True, True, True)
    got = cuda_kernels.conv2d_backward(x, weight, grad_y.astype(dtype), *args, True, True, True)
    for name, value, want in zip(("grad_x", "grad_w", "grad_b"), got, expected):
        np.testing.assert_allclose(_host(value), want, **_tol(dtype), err_msg=name)


def test_conv2d_backward_returns_none_for_unrequested_grads_and_bias_free_forward():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 3, 3))
    w = rng.standard_normal((2, 2, 2, 2))
    args = ((1, 1), (0, 0), (1, 1), 1)
    np.testing.assert_allclose(_host(cuda_kernels.conv2d_forward(x, w, None, *args)),
                               ref_conv.conv2d_forward(x, w, None, *args), rtol=1e-12)
    grad_y = rng.standard_normal((1, 2, 2, 2))
    grad_x, grad_w, grad_b = cuda_kernels.conv2d_backward(x, w, grad_y, *args, False, True, False)
    assert grad_x is None and grad_b is None
    np.testing.assert_allclose(_host(grad_w), ref_conv.conv2d_backward(x, w, grad_y, *args, False, True, False)[1],
                               rtol=1e-12)
    with pytest.raises(ValueError, match="groups"):
        cuda_kernels.conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 3)


POOL_CASES = [((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1)), ((3, 2), (2, 1), (1, 0))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kernel_size, stride, padding", POOL_CASES)
def test_pooling_forward_and_backward_match_reference_with_overlapping_windows(kernel_size, stride, padding, dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 5, 4)).astype(dtype)
    y_ref, argmax_ref = ref_pool.max_pool2d_forward(x, kernel_size, stride, padding)
    y, argmax = cuda_kernels.max_pool2d_forward(x, kernel_size, stride, padding)
    np.testing.assert_array_equal(_host(y), y_ref)
    np.testing.assert_array_equal(_host(argmax), argmax_ref)
    grad_y = rng.standard_normal(y_ref.shape).astype(dtype)
    np.testing.assert_allclose(_host(cuda_kernels.max_pool2d_backward(grad_y, argmax, x.shape)),
                               ref_pool.max_pool2d_backward(grad_y, argmax_ref, x.shape), **_tol(dtype))
    np.testing.assert_allclose(_host(cuda_kernels.avg_pool2d_forward(x, kernel_size, stride, padding)),
                               ref_pool.avg_pool2d_forward(x, kernel_size, stride, padding), **_tol(dtype))
    np.testing.assert_allclose(
        _host(cuda_kernels.avg_pool2d_backward(grad_y, x.shape, kernel_size, stride, padding)),
        ref_pool.avg_pool2d_backward(grad_y, x.shape, kernel_size, stride, padding), **_tol(dtype))


def test_max_pool_propagates_nan_and_rejects_bad_argmax():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 1, 0] = np.nan
    y, argmax = cuda_kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert np.isnan(_host(y)[0, 0, 0, 0]) and _host(argmax)[0, 0, 0, 0] == 2
    with pytest.raises(TypeError, match="int64"):
        cuda_kernels.max_pool2d_backward(np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), np.int32), (1, 1, 2, 2))
