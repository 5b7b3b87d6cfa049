"""A Linear layer's bias kernels (add_bias, bias_grad): cpu and cuda against the reference, zero sizes, errors.

The reference is NumPy's `y += bias` and `grad_y.sum(axis=0)`; the cpu kernels add in the order NumPy uses for
C-contiguous rows (row by row), so those are compared for equality; where NumPy picks another order (one column,
or a transposed view: pairwise along memory), within the bound of two orders of one float sum. CUDA runs under the simulator (tiny shapes) where there is no
GPU; its column sums are in the same order too, compared within float rounding of the device's arithmetic.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import kernels.cuda as cuda_kernels
from kernels.cpu import linear as cpu
from kernels.reference import linear as ref

SIZES = st.sampled_from([0, 1, 2, 7, 13, 64])


@given(rows=SIZES, features=SIZES, dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_cpu_bias_kernels_equal_numpy_add_and_row_sum(rows, features, dtype, seed):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((rows, features)).astype(dtype)
    bias = rng.standard_normal(features).astype(dtype)
    expected = y.copy()
    ref.add_bias(expected, bias)
    before = y
    cpu.add_bias(y, bias)
    assert y is before
    np.testing.assert_array_equal(y, expected)
    grad = rng.standard_normal((rows, features)).astype(dtype)
    summed = cpu.bias_grad(grad)
    assert summed.dtype == dtype and summed.shape == (features,)
    if features > 1:  # NumPy adds C-contiguous rows in order too (one column: pairwise, along memory)
        np.testing.assert_array_equal(summed, ref.bias_grad(grad))
    transposed = np.ascontiguousarray(grad.T).T  # the same values, non-contiguous: NumPy sums them pairwise
    bound = 2 * max(rows, 1) * np.finfo(dtype).eps * np.abs(grad).sum(axis=0)  # two orders of one float sum
    assert np.all(np.abs(cpu.bias_grad(transposed) - ref.bias_grad(transposed)) <= bound)
    np.testing.assert_array_equal(cpu.bias_grad(transposed), summed)


def test_bias_grad_of_negative_zeros_is_positive_zero_as_numpy_sums():
    grad = np.full((3, 2), -0.0, np.float32)
    for module in (ref, cpu):
        assert not np.signbit(module.bias_grad(grad)).any()


def test_bias_grad_of_no_rows_is_zeros():
    for module in (ref, cpu):
        np.testing.assert_array_equal(module.bias_grad(np.ones((0, 3))), np.zeros(3))


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_bias_kernel_errors_name_the_kernel_and_argument(module):
    y = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"add_bias: bias \(4,\) must be \(3,\)"):
        module.add_bias(y, np.ones(4, np.float32))
    with pytest.raises(TypeError, match="add_bias: bias must be a float32"):
        module.add_bias(y, np.ones(3))
    with pytest.raises(ValueError, match="add_bias: y is updated in place"):
        module.add_bias(np.ones((3, 2), np.float32).T, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="bias_grad: y must be float32 or float64"):
        module.bias_grad(np.ones((2, 3), np.int64))
    with pytest.raises(ValueError, match="bias_grad: y must be 2-D"):
        module.bias_grad(np.ones(3))


@pytest.mark.skipif(not cuda_kernels.is_available(), reason="no CUDA GPU and no simulator")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, features", [(3, 5), (1, 1), (0, 2)])
def test_cuda_bias_kernels_match_reference_on_device_and_host_arrays(rows, features, dtype):
    rng = np.random.default_rng(rows + features)
    y = rng.standard_normal((rows, features)).astype(dtype)
    bias = rng.standard_normal(features).astype(dtype)
    expected = y.copy()
    ref.add_bias(expected, bias)
    on_device = cuda_kernels.to_device(y)
    cuda_kernels.add_bias(on_device, bias)
    np.testing.assert_allclose(cuda_kernels.to_host(on_device), expected, rtol=1e-6, atol=1e-6)
    on_host = y.copy()
    cuda_kernels.add_bias(on_host, bias)
    np.testing.assert_allclose(on_host, expected, rtol=1e-6, atol=1e-6)
    grad = rng.standard_normal((features, rows)).astype(dtype).T  # non-contiguous
    np.testing.assert_allclose(cuda_kernels.to_host(cuda_kernels.bias_grad(grad)), ref.bias_grad(grad),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="bias_grad: y must be 2-D"):
        cuda_kernels.bias_grad(np.ones(3, dtype))
