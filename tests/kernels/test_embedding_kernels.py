"""The embedding lookup's gradient kernel (embedding_backward): every set against np.add.at, the reference against
torch, the same bits on every thread count, errors.

All sets add the positions in order onto zeros, in the array's dtype, as np.add.at does, so cpu and cuda are
compared with the reference for equality. CUDA runs under the simulator (tiny shapes) where there is no GPU.
"""
import numba
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import kernels.cuda as cuda_kernels
from kernels.cpu import embedding as cpu
from kernels.reference import embedding as ref

KERNEL_SETS = [ref, cpu]


def _case(rng, num_rows, ids_shape, dim, dtype):
    ids = rng.integers(0, max(num_rows, 1), ids_shape) if num_rows else np.zeros(ids_shape, np.int64)
    grad_out = rng.standard_normal(ids_shape + (dim,)).astype(dtype)
    return ids, grad_out


@given(num_rows=st.sampled_from([1, 2, 5, 11]), ids_shape=st.sampled_from([(0,), (1,), (7,), (3, 4), (2, 3, 2)]),
       dim=st.sampled_from([0, 1, 3, 32, 33, 70]), dtype=st.sampled_from([np.float32, np.float64]),
       padding=st.booleans(), seed=st.integers(0, 2**16))
def test_cpu_embedding_backward_equals_numpy_add_at_with_repeated_ids_and_padding(num_rows, ids_shape, dim, dtype,
                                                                                   padding, seed):
    rng = np.random.default_rng(seed)
    ids, grad_out = _case(rng, num_rows, ids_shape, dim, dtype)
    padding_idx = int(rng.integers(0, num_rows)) if padding else None
    expected = np.zeros((num_rows, dim), dtype)
    np.add.at(expected, ids.reshape(ids.size), grad_out.reshape(ids.size, dim))
    if padding_idx is not None:
        expected[padding_idx] = 0
    for module in KERNEL_SETS:
        got = module.embedding_backward(ids, grad_out, num_rows, padding_idx)
        assert got.dtype == dtype and got.shape == (num_rows, dim)
        np.testing.assert_array_equal(got, expected)


def test_cpu_embedding_backward_takes_int32_ids_and_non_contiguous_gradients():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 6, (5, 4)).astype(np.int32)
    grad_out = np.ascontiguousarray(rng.standard_normal((8, 4, 5)).astype(np.float32).transpose(2, 1, 0))[..., :3]
    np.testing.assert_array_equal(cpu.embedding_backward(ids, grad_out, 6), ref.embedding_backward(ids, grad_out, 6))


def test_embedding_backward_gives_the_same_bits_serially_and_on_every_thread_count():
    """Threads split the columns, never the positions: each element's sum runs over the positions in order."""
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50, 3000)
    grad_out = rng.standard_normal((3000, 70)).astype(np.float32) * np.float32(1e3)  # big values: order shows
    expected = ref.embedding_backward(ids, grad_out, 50)
    grad = np.zeros((50, 70), np.float32)
    cpu._embedding_backward_serial(ids, grad_out, grad)
    np.testing.assert_array_equal(grad, expected)
    previous = numba.get_num_threads()
    try:
        for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            numba.set_num_threads(threads)
            grad = np.zeros((50, 70), np.float32)
            cpu._embedding_backward_parallel(ids, grad_out, grad)
            np.testing.assert_array_equal(grad, expected)
    finally:
        numba.set_num_threads(previous)


def test_large_embedding_backward_runs_the_parallel_variant_and_matches_the_reference():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 300, 27000)
    grad_out = rng.standard_normal((27000, 40))
    assert ids.size * 40 >= cpu.SERIAL_MAX_SIZE
    np.testing.assert_array_equal(cpu.embedding_backward(ids, grad_out, 300, padding_idx=7),
                                  ref.embedding_backward(ids, grad_out, 300, padding_idx=7))


def test_reference_embedding_backward_matches_torch_in_float64_and_float32():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 9, (6, 5))
    grad_out = rng.standard_normal((6, 5, 4))
    for padding_idx in (None, 2):
        weight = torch.zeros(9, 4, dtype=torch.float64, requires_grad=True)
        torch.nn.functional.embedding(torch.from_numpy(ids), weight, padding_idx=padding_idx).backward(
            torch.from_numpy(grad_out))
        np.testing.assert_allclose(ref.embedding_backward(ids, grad_out, 9, padding_idx), weight.grad.numpy(),
                                   rtol=1e-14, atol=1e-14)
        # float32: at most 30 float32 additions per element of values ~N(0, 1)
        np.testing.assert_allclose(cpu.embedding_backward(ids, grad_out.astype(np.float32), 9, padding_idx),
                                   weight.grad.numpy(), rtol=0, atol=30 * 4 * np.finfo(np.float32).eps)


def test_embedding_backward_of_negative_zeros_is_positive_zero_as_add_at():
    grad_out = np.full((3, 2), -0.0, np.float32)
    for module in KERNEL_SETS:
        assert not np.signbit(module.embedding_backward(np.array([0, 0, 1]), grad_out, 3)).any()


def test_embedding_backward_propagates_nan_and_inf_only_into_the_rows_that_picked_them():
    grad_out = np.array([[np.nan, 1.0], [np.inf, 2.0], [3.0, 4.0]], np.float32)
    for module in KERNEL_SETS:
        got = module.embedding_backward(np.array([2, 0, 2]), grad_out, 4)
        np.testing.assert_array_equal(got, [[np.inf, 2], [0, 0], [np.nan, 5], [0, 0]])


@pytest.mark.parametrize("module", KERNEL_SETS, ids=lambda m: m.__name__)
def test_embedding_backward_refuses_bad_arguments_naming_the_kernel(module):
    grad_out = np.ones((3, 2), np.float32)
    with pytest.raises(IndexError, match="embedding_backward: index 4 is out of range for a table of 4 rows"):
        module.embedding_backward(np.array([0, 4, 1]), grad_out, 4)
    with pytest.raises(IndexError, match="embedding_backward: index -1 is out of range"):
        module.embedding_backward(np.array([0, -1, 1]), grad_out, 4)
    with pytest.raises(TypeError, match="embedding_backward: ids must be an integer"):
        module.embedding_backward(np.array([0.0, 1.0, 1.0]), grad_out, 4)
    with pytest.raises(TypeError, match="embedding_backward: grad_out must be a float32 or float64"):
        module.embedding_backward(np.array([0, 1, 1]), np.ones((3, 2), np.int64), 4)
    with pytest.raises(ValueError, match=r"embedding_backward: grad_out \(2, 2\) must be \(\*ids.shape, embedding_dim\)"):
        module.embedding_backward(np.array([0, 1, 1]), np.ones((2, 2), np.float32), 4)
    with pytest.raises(ValueError, match=r"embedding_backward: padding_idx must be None or in \[0, 4\)"):
        module.embedding_backward(np.array([0, 1, 1]), grad_out, 4, padding_idx=4)


@pytest.mark.skipif(not cuda_kernels.is_available(),
                    reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_embedding_backward_equals_the_reference_on_host_and_device_ids(dtype):
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 5, (3, 4))
    grad_out = rng.standard_normal((3, 4, 3)).astype(dtype)
    for padding_idx in (None, 1):
        expected = ref.embedding_backward(ids, grad_out, 5, padding_idx)
        for given_ids in (ids, cuda_kernels.to_device(ids)):
            got = cuda_kernels.to_host(cuda_kernels.embedding_backward(given_ids, grad_out, 5, padding_idx))
            np.testing.assert_array_equal(got, expected)
    with pytest.raises(IndexError, match="embedding_backward: index 5 is out of range"):
        cuda_kernels.embedding_backward(np.array([5]), np.ones((1, 2), dtype), 5)
    empty = cuda_kernels.embedding_backward(np.zeros((0,), np.int64), np.ones((0, 2), dtype), 3)
    np.testing.assert_array_equal(cuda_kernels.to_host(empty), np.zeros((3, 2), dtype))
