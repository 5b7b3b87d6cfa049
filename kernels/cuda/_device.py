"""Host-side glue shared by every CUDA kernel module: availability, host <-> device transfers, device memory
(from the caching allocator, kernels/cuda/allocator.py), validation proxies and launch sizes.

The device functions that kernels share (block reductions, index arithmetic) are in kernels/cuda/device_functions.py.
Importing `kernels.cuda` works on a machine with no GPU and no simulator: `@cuda.jit` only records the Python
function, compilation happens at the first launch, and every public kernel calls `require_cuda()` before it
launches anything.

Run the kernels without a GPU under Numba's CUDA simulator (pure Python threads, slow, exact semantics):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/kernels/test_cuda_matmul.py

The variable is read once, when `numba` is first imported, so it must be set before that import (in the shell or
CI environment, not from a test module that runs after numba was imported).
"""
import numba
import numpy as np
from numba import cuda

from kernels.cuda import allocator

MAX_THREADS = 256  # threads per block for row-wise kernels; shared reduction buffers have this many slots
WARP = 32  # the smallest block we launch: one warp


def is_available():
    """True when kernels can run: a CUDA GPU with a working driver, or the simulator (NUMBA_ENABLE_CUDASIM=1)."""
    if numba.config.ENABLE_CUDASIM:
        return True
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver install reports itself by raising; treat it as "no GPU"
        return False


def require_cuda():
    """Raise a clear RuntimeError before any launch when there is nothing to run on."""
    if not is_available():
        raise RuntimeError("CUDA requested but no GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1)")


def is_device_array(value):
    """True for numba device arrays (real `DeviceNDArray` or the simulator's `FakeCUDAArray`)."""
    return not isinstance(value, np.ndarray) and hasattr(value, "copy_to_host") and hasattr(value, "shape")


def to_device(array):
    """Copy a host array to the GPU (made C-contiguous first); device arrays are returned unchanged.

    >>> d = to_device(np.ones((2, 3), np.float32))   # doctest: +SKIP
    >>> to_host(d).sum()                              # doctest: +SKIP
    6.0
    """
    require_cuda()
    if is_device_array(array):
        return array
    return allocator.upload(array)


def to_host(device_array):
    """Copy a device array back to a new NumPy array (host arrays pass through unchanged)."""
    if isinstance(device_array, np.ndarray):
        return device_array
    return device_array.copy_to_host()


def as_contiguous_device(array):
    """A C-contiguous device array holding `array`: host arrays are copied over, contiguous device arrays are
    used as they are, and strided device views take a (rare, slow) round trip through the host."""
    if is_device_array(array):
        if array.is_c_contiguous():
            return array
        return allocator.upload(array.copy_to_host())
    return allocator.upload(array)


def host_proxy(value):
    """Something the shared `kernels.reference` check_* functions accept in place of a device array.

    The checks look at isinstance(ndarray), dtype, shape and contiguity only, so a device array is stood in for by
    an *uninitialised* host array of the same shape and dtype (np.empty maps pages lazily: no copy, no touch).
    Non-contiguous device views get a non-contiguous proxy. Anything else is returned unchanged, so a wrong type
    gets exactly the error the other backends raise.
    """
    if not is_device_array(value):
        return value
    if value.is_c_contiguous() or value.size <= 1:
        return np.empty(value.shape, value.dtype)
    return np.empty(tuple(value.shape) + (2,), value.dtype)[..., 0]


def empty(shape, dtype):
    """An uninitialised device array (device-resident output), from the caching allocator."""
    return allocator.allocate(shape, dtype)


def zeros(shape, dtype):
    """A zero-filled device array (for scatter-add targets)."""
    out = empty(shape, dtype)
    if out.size:
        _fill_zero[blocks_for(out.size), WARP * 4](out.reshape(out.size))
    return out


@cuda.jit
def _fill_zero(flat):
    """One thread per element: flat[i] = 0."""
    i = cuda.grid(1)
    if i < flat.size:
        flat[i] = 0


def blocks_for(count, threads=WARP * 4):
    """Number of blocks of `threads` threads that cover `count` elements (at least one)."""
    return max(1, (int(count) + threads - 1) // threads)


def threads_for(count, threads=WARP * 4):
    """Threads per block for a one-thread-per-element launch over `count` elements: `threads` on a GPU.

    Under the simulator every thread is a Python thread, so a 6-element op launched with 128 threads would
    simulate 122 idle ones; there the block is shrunk to the element count (at most a warp).
    """
    if numba.config.ENABLE_CUDASIM:
        return max(1, min(int(count), WARP))
    return threads


def launch_config(count, threads=WARP * 4):
    """(blocks, threads) covering `count` elements with one thread each."""
    threads = threads_for(count, threads)
    return blocks_for(count, threads), threads


def row_threads(length):
    """Threads per block for a one-block-per-row kernel: the next power of two >= length, clamped to
    [WARP, MAX_THREADS]. The tree reductions (device_functions.block_sum) need a power of two; a short row
    wastes at most a warp.

    Under the simulator every thread is a Python thread (~0.1 ms each, more per barrier), so there the clamp is
    [1, 8]: the kernels are correct for any power-of-two block, and rows longer than 8 still exercise the
    strided "thread t owns columns t, t+T, ..." loops that long rows take on a GPU.
    """
    floor, ceiling = (1, 8) if numba.config.ENABLE_CUDASIM else (WARP, MAX_THREADS)
    threads = floor
    while threads < length and threads < ceiling:
        threads *= 2
    return threads


_NUMBA_TYPES = {np.dtype(np.float32): numba.float32, np.dtype(np.float64): numba.float64}


def numba_type(dtype):
    """numba.float32 / numba.float64 for a NumPy float dtype: the compile-time type of shared arrays."""
    return _NUMBA_TYPES[np.dtype(dtype)]


def per_dtype(factory):
    """Memoise a kernel factory `factory(numba_type) -> kernel` by dtype: one compiled kernel per dtype, because
    `cuda.shared.array` needs its dtype at compile time."""
    compiled = {}

    def get(dtype):
        key = np.dtype(dtype)
        if key not in compiled:
            compiled[key] = factory(numba_type(key))
        return compiled[key]

    return get
