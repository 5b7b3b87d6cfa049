"""relu_backward on every kernel set: the reference against PyTorch's relu backward, the CPU and CUDA kernels
(CUDA on a GPU or under NUMBA_ENABLE_CUDASIM=1) against the reference, bit for bit, NaN and ±inf included."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kernels.cuda as cuda_kernels
from kernels.cpu import elementwise as cpu
from kernels.reference import elementwise as ref

FLOATS = [np.float32, np.float64]
SPECIALS = np.array([np.nan, -np.inf, -1.0, -0.0, 0.0, 1e-30, 2.0, np.inf])


def _all_pairs(dtype):
    """Every (y, grad_y) pair of special values, as two flat arrays."""
    y, grad_y = np.meshgrid(SPECIALS, SPECIALS, indexing="ij")
    return y.ravel().astype(dtype), grad_y.ravel().astype(dtype)


def _arrays(dtype):
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
                      elements=st.floats(allow_nan=True, allow_infinity=True, width=32))


@pytest.mark.parametrize("dtype", FLOATS)
def test_reference_relu_backward_matches_torch_at_nan_inf_and_signed_zero(dtype):
    y, grad_y = _all_pairs(dtype)
    x = torch.tensor(y, requires_grad=True)  # relu(y) = y for every y here (y ≤ 0 maps to 0, and 0 ≤ 0 too)
    torch.relu(x).backward(torch.tensor(grad_y))
    np.testing.assert_array_equal(ref.relu_backward(y, grad_y), x.grad.numpy())


@pytest.mark.parametrize("dtype", FLOATS)
@given(data=st.data())
def test_cpu_relu_backward_equals_reference_bit_for_bit(dtype, data):
    y = data.draw(_arrays(dtype))
    grad_y = data.draw(hnp.arrays(dtype, y.shape, elements=st.floats(allow_nan=True, width=32)))
    got = cpu.relu_backward(y, grad_y)
    assert got.dtype == dtype and got.shape == y.shape
    np.testing.assert_array_equal(got, ref.relu_backward(y, grad_y))


@pytest.mark.parametrize("dtype", FLOATS)
def test_cpu_relu_backward_on_special_values_and_noncontiguous_inputs(dtype):
    y, grad_y = _all_pairs(dtype)
    np.testing.assert_array_equal(cpu.relu_backward(y, grad_y), ref.relu_backward(y, grad_y))
    y_t, grad_t = y.reshape(8, 8).T, grad_y.reshape(8, 8)[:, ::-1]  # strided views
    np.testing.assert_array_equal(cpu.relu_backward(y_t, grad_t), ref.relu_backward(y_t, grad_t))


@pytest.mark.skipif(not cuda_kernels.is_available(),
                    reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")
@pytest.mark.parametrize("dtype", FLOATS)
def test_cuda_relu_backward_equals_reference(dtype):
    y, grad_y = _all_pairs(dtype)
    y, grad_y = y.reshape(8, 8).T, grad_y.reshape(8, 8)
    got = cuda_kernels.to_host(cuda_kernels.relu_backward(y, grad_y))
    np.testing.assert_array_equal(got, ref.relu_backward(y, grad_y))
    empty = np.zeros((0, 3), dtype)
    assert cuda_kernels.to_host(cuda_kernels.relu_backward(empty, empty)).shape == (0, 3)


@pytest.mark.parametrize("kernel", [ref.relu_backward, cpu.relu_backward], ids=["reference", "cpu"])
def test_relu_backward_rejects_mismatched_or_non_float_inputs(kernel):
    with pytest.raises(TypeError, match="relu_backward: y is float32 but grad_y is float64"):
        kernel(np.zeros(3, np.float32), np.zeros(3))
    with pytest.raises(ValueError, match=r"relu_backward: y has shape \(3,\) but grad_y has shape \(2,\)"):
        kernel(np.zeros(3), np.zeros(2))
    with pytest.raises(TypeError, match="relu_backward: y must be a float32 or float64 array, got int64"):
        kernel(np.arange(3), np.zeros(3))
