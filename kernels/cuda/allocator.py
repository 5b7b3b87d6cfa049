"""A caching device allocator: device memory that is no longer used is kept and handed out again.

Asking the driver for memory (cudaMalloc) is slow, and giving it back (cudaFree) waits for the whole device to
finish its work. A training step allocates the same intermediates, of the same sizes, every step, so, as PyTorch's
CUDA caching allocator does, a block nobody uses any more goes onto a free list for its size, and the next request
of that size takes it from there:

    allocate(shape, dtype):
        size = bucket(nbytes)                          # the next power of two, at least 512 bytes
        block = free[size].pop() if free[size] else the driver's new block of `size` bytes
        return a (shape, dtype) view of block          # once it, and every view made from it, is gone,
                                                       # block goes back onto free[size]

Power-of-two buckets waste at most half a block and let requests of similar sizes share blocks; after the first
training step the free lists hold every block a step needs, so the driver is not called again (tests/
test_cuda_device.py counts the calls). Reusing a block needs no synchronisation because every kernel runs on the
one default stream: a kernel that writes the block's new contents is queued after every kernel that read the old.

`empty_cache()` hands the free blocks back to the driver (PyTorch's torch.cuda.empty_cache); `stats()` counts.
"""
import collections
import weakref

import numba
import numpy as np
from numba import cuda

MIN_BLOCK = 512  # bytes; the smallest bucket (PyTorch's smallest block size too)

_free = collections.defaultdict(list)  # bucket size in bytes -> blocks (flat uint8 device arrays) nobody uses
_counts = collections.Counter()


def bucket(nbytes):
    """The block size that serves a request of `nbytes`: the next power of two, at least MIN_BLOCK."""
    size = MIN_BLOCK
    while size < nbytes:
        size *= 2
    return size


def allocate(shape, dtype):
    """An uninitialised C-contiguous device array of `shape` and `dtype`, from a cached block when one is free."""
    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    size = bucket(int(np.prod(shape)) * dtype.itemsize)
    try:
        block = _free[size].pop()
        _counts["reused"] += 1
    except IndexError:
        block = _driver_allocate(size)
        _counts["driver_allocations"] += 1
        _counts["driver_bytes"] += size
    return _view_of_block(block, shape, dtype, lambda: _free[size].append(block))


def upload(host):
    """A device copy of the host array `host` (made C-contiguous), in a cached block."""
    host = np.asarray(host, order="C")
    device = allocate(host.shape, host.dtype)
    if host.size:
        device.copy_to_device(host)
    return device


def empty_cache():
    """Give every free block back to the driver (blocks in use stay cached until they are freed)."""
    _free.clear()


def stats():
    """Counts so far: driver_allocations, driver_bytes, reused (requests served from a free list), free_blocks,
    free_bytes (held in free lists now)."""
    free_blocks = sum(len(blocks) for blocks in _free.values())
    free_bytes = sum(size * len(blocks) for size, blocks in _free.items())
    return dict(_counts, free_blocks=free_blocks, free_bytes=free_bytes)


def _driver_allocate(nbytes):
    """A new block from the driver; when it is out of memory, free the cached blocks and ask once more."""
    try:
        return cuda.device_array(nbytes, dtype=np.uint8)
    except Exception:  # numba reports out-of-memory as CudaAPIError, the simulator as MemoryError
        empty_cache()
        return cuda.device_array(nbytes, dtype=np.uint8)


class _BlockOwner:
    """Stands for one use of a block: every view of the array made from it holds a reference to it."""


def _view_of_block(block, shape, dtype, release):
    """A C-contiguous (shape, dtype) device array at the start of `block`; `release()` runs once that array and
    every view made from it are gone (a finaliser on an object all of them keep alive)."""
    count = int(np.prod(shape))
    if numba.config.ENABLE_CUDASIM:
        # The simulator's device memory is the NumPy array in `block._ary`. An array made by np.frombuffer has the
        # memoryview as its base, and every NumPy view of it refers to it: it lives exactly as long as they do.
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        owner = np.frombuffer(memoryview(block._ary), dtype=dtype, count=count)
        weakref.finalize(owner, release).atexit = False
        return FakeCUDAArray(owner.reshape(shape))
    # On a GPU: numba keeps the `owner` of an array made from a CUDA array interface alive in every view of it.
    owner = _BlockOwner()
    weakref.finalize(owner, release).atexit = False
    address = block.__cuda_array_interface__["data"][0]
    interface = {"shape": shape, "strides": None, "typestr": dtype.str, "data": (address, False), "version": 3}
    return cuda.from_cuda_array_interface(interface, owner=owner, sync=False)
