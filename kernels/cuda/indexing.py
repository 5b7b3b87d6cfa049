"""Movement and indexing on the GPU: strided gathers and scatters, fills, casts, integer-array take / put.

These are the kernels behind `CudaArray` (kernels/cuda/array.py, array_indexing.py). Every CudaArray owns one flat
C-contiguous device buffer, so a NumPy *view* (a transpose, a broadcast, a basic slice) is described by a shape,
element strides and a base offset into that buffer, and materialised by one gather:

    gather:      thread i -> output element i;  coord = unravel(i, shape)
                 out[i] = src[base + Σ_d coord[d] * strides[d]]          (strides may be 0 or negative)
    scatter:     the same mapping, writing: dst[base + Σ coord[d] * dst_strides[d]] = src at i (broadcast)
    take:        x (D0, ..., Dk-1, R) read with k index arrays idx (k, J):
                 thread (j, r) -> out[j, r] = x[Σ_m idx[m, j] * stride_m + r]
    put:         the reverse of take; accumulate=True adds with cuda.atomic.add (np.add.at: repeated indices
                 add up, and two threads may hit one element, so the add must be atomic)

Why it is fast: all of them are memory-bound, one thread per element with neighbouring threads on neighbouring
output elements, so the writes (and, for contiguous sources, the reads) are coalesced. Views cost one copy
each; a production array library keeps strided views instead (CuPy does) and pays for it in complexity.
"""
import numpy as np
from numba import cuda

from kernels.cuda._device import launch_config
from kernels.cuda.device_functions import NDIM, strided_offset

THREADS = 128


@cuda.jit
def _gather_kernel(src, base, strides, shape, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = src[base + strided_offset(i, shape, strides)]


@cuda.jit
def _scatter_kernel(dst, base, dst_strides, src, src_strides, shape, size):
    i = cuda.grid(1)
    if i < size:
        dst[base + strided_offset(i, shape, dst_strides)] = src[strided_offset(i, shape, src_strides)]


@cuda.jit
def _fill_kernel(out, value):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = value


@cuda.jit
def _cast_kernel(src, out):
    """out[i] = src[i] converted to out's dtype (float -> int truncates toward zero, as NumPy's astype)."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = src[i]


@cuda.jit
def _to_bool_kernel(src, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = src[i] != 0


@cuda.jit
def _take_kernel(src, index, strides, dims, rest, out):
    """out (J * rest,) = src gathered at the k index arrays index (k, J); negative indices count from the end."""
    i = cuda.grid(1)
    if i >= out.size:
        return
    j = i // rest
    r = i % rest
    offset = r
    for m in range(index.shape[0]):
        position = index[m, j]
        if position < 0:
            position += dims[m]
        offset += position * strides[m]
    out[i] = src[offset]


@cuda.jit
def _put_kernel(dst, index, strides, dims, rest, src, accumulate):
    """dst at the indexed positions = (or += with accumulate) src (J * rest,), the inverse of _take_kernel."""
    i = cuda.grid(1)
    if i >= src.size:
        return
    j = i // rest
    r = i % rest
    offset = r
    for m in range(index.shape[0]):
        position = index[m, j]
        if position < 0:
            position += dims[m]
        offset += position * strides[m]
    if accumulate:
        cuda.atomic.add(dst, offset, src[i])
    else:
        dst[offset] = src[i]


def _padded(shape, strides):
    """Shape and strides padded on the left to NDIM dims (what strided_offset expects)."""
    if len(shape) > NDIM:
        raise NotImplementedError(f"views with more than {NDIM} dims are not supported on cuda, got {shape}")
    missing = NDIM - len(shape)
    return (1,) * missing + tuple(int(n) for n in shape), (0,) * missing + tuple(int(s) for s in strides)


def gather(src_flat, base, shape, strides, out_flat):
    """out_flat (prod(shape),) = the strided view (shape, element strides, base offset) of src_flat."""
    if out_flat.size:
        padded_shape, padded_strides = _padded(shape, strides)
        _gather_kernel[launch_config(out_flat.size, THREADS)](src_flat, int(base), padded_strides,
                                                                    padded_shape, out_flat)


def scatter(dst_flat, base, shape, dst_strides, src_flat, src_strides):
    """Write src (read through src_strides, 0 where broadcast) into the strided view of dst_flat."""
    size = int(np.prod(shape))
    if size:
        padded_shape, padded_dst = _padded(shape, dst_strides)
        _, padded_src = _padded(shape, src_strides)
        _scatter_kernel[launch_config(size, THREADS)](dst_flat, int(base), padded_dst, src_flat, padded_src,
                                                            padded_shape, size)


def fill(out_flat, value):
    """out_flat[:] = value (a scalar passed by value: no host-to-device copy)."""
    if out_flat.size:
        _fill_kernel[launch_config(out_flat.size, THREADS)](out_flat, value)


def cast(src_flat, out_flat):
    """out_flat = src_flat converted to out_flat's dtype (nonzero -> True for bool)."""
    if out_flat.size:
        kernel = _to_bool_kernel if out_flat.dtype == np.bool_ else _cast_kernel
        kernel[launch_config(out_flat.size, THREADS)](src_flat, out_flat)


def take(src_flat, index, strides, dims, rest, out_flat):
    """out_flat (J * rest,) = rows of src_flat picked by index (k, J) int64 device array (see module docstring)."""
    if out_flat.size:
        _take_kernel[launch_config(out_flat.size, THREADS)](src_flat, index, tuple(strides), tuple(dims),
                                                                  int(rest), out_flat)


def put(dst_flat, index, strides, dims, rest, src_flat, accumulate):
    """dst_flat[indexed] = src_flat, or += (atomic) with accumulate=True."""
    if src_flat.size:
        _put_kernel[launch_config(src_flat.size, THREADS)](dst_flat, index, tuple(strides), tuple(dims),
                                                                 int(rest), src_flat, bool(accumulate))
