"""The caching device allocator (kernels/cuda/allocator.py): freed blocks are reused, never while a view of them
is alive, and the driver is asked only when no free block fits.

Runs on a GPU, or under NUMBA_ENABLE_CUDASIM=1 (tests/conftest.py sets it when there is no NVIDIA driver).
"""
import numpy as np
import pytest
from numba import cuda

import kernels.cuda as cuda_kernels
from kernels.cuda import allocator, engine
from kernels.cuda.array import to_cuda

pytestmark = pytest.mark.skipif(not cuda_kernels.is_available(),
                                reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")


@pytest.fixture
def driver_calls(monkeypatch):
    """A list that gets one entry per device allocation the driver makes, from now on."""
    calls = []
    original = cuda.device_array

    def counting_device_array(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(cuda, "device_array", counting_device_array)
    allocator.empty_cache()  # start from empty free lists, so every count below is this test's own
    return calls


def test_buckets_are_powers_of_two_from_512_bytes():
    assert [allocator.bucket(n) for n in (0, 1, 512, 513, 1024, 5000)] == [512, 512, 512, 1024, 1024, 8192]


def test_a_freed_array_gives_its_block_to_the_next_request_of_its_bucket(driver_calls):
    first = allocator.allocate((10,), np.float32)
    assert len(driver_calls) == 1
    del first
    second = allocator.allocate((3, 4), np.float64)  # 96 bytes: the same 512-byte bucket
    third = allocator.allocate((200,), np.float64)  # 1600 bytes: a new 2048-byte block
    assert len(driver_calls) == 2
    assert second.shape == (3, 4) and second.dtype == np.float64 and third.shape == (200,)
    assert allocator.stats()["free_blocks"] == 0


def test_a_block_stays_in_use_while_any_view_of_it_lives(driver_calls):
    original = allocator.allocate((2, 3), np.float64)
    original.copy_to_device(np.arange(6.0).reshape(2, 3))
    view = original.reshape(6)[2:]  # a reshaped slice: the last object left that points into the block
    del original
    other = allocator.allocate((6,), np.float64)  # must get a block of its own
    other.copy_to_device(np.full(6, -1.0))
    assert len(driver_calls) == 2
    np.testing.assert_array_equal(view.copy_to_host(), [2.0, 3.0, 4.0, 5.0])
    del view
    assert allocator.stats()["free_blocks"] == 1
    allocator.allocate((1,), np.float64)
    assert len(driver_calls) == 2


def test_kernel_results_returned_as_reshaped_views_keep_their_data(driver_calls):
    """max_pool2d_backward returns a reshape of the array it allocated: the block must outlive that array."""
    x = np.random.default_rng(0).standard_normal((1, 1, 2, 4))
    y, argmax = engine.max_pool2d_forward(to_cuda(x), (2, 2), (2, 2), (0, 0))
    grad_x = engine.max_pool2d_backward(to_cuda(np.ones((1, 1, 1, 2))), argmax, x.shape)
    scratch = [to_cuda(np.full(8, 7.0)) for _ in range(4)]  # would land in grad_x's block if it were free
    expected = np.zeros_like(x)
    for q in range(2):
        window = x[0, 0, :, 2 * q:2 * q + 2]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        expected[0, 0, i, 2 * q + j] = 1.0
    np.testing.assert_array_equal(grad_x.get(), expected)
    assert all(s.get()[0] == 7.0 for s in scratch)


def test_empty_cache_hands_the_free_blocks_back(driver_calls):
    block = allocator.allocate((4,), np.float32)
    del block
    assert allocator.stats()["free_blocks"] == 1
    allocator.empty_cache()
    assert allocator.stats()["free_blocks"] == 0
    allocator.allocate((4,), np.float32)
    assert len(driver_calls) == 2


def test_uploads_round_trip_including_empty_and_zero_dimensional_arrays():
    for host in (np.arange(5, dtype=np.int64), np.zeros((0, 3), np.float32), np.array(2.5), np.array([True, False])):
        device = allocator.upload(host)
        assert device.shape == host.shape and device.dtype == host.dtype
        np.testing.assert_array_equal(device.copy_to_host(), host)
