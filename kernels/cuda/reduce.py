"""Reductions on the GPU: sums over an axis (block trees) and max/min/argmax/argmin/any/all over rows (scans).

CudaArray moves the reduced axes to the end first (one gather), so `reduce_rows` sees x as (rows, n):

    float sum:  one block per row, threads t, t+T, ... add x[row, t::T], a shared-memory tree adds the partial sums
                (device_functions.block_sum); sum_axis runs the same kernel on x viewed as (outer, n, inner)
    the others: one thread per row walks the row, keeping the element that `wins` against the best so far;
                scan_kernel(wins, result) makes each of them from two scalar device functions, as
                elementwise.zip_kernel does for binary ops

Why: a float sum is what training does all the time (losses, un-broadcasting gradients over a batch), so it gets
the parallel tree. max/argmax/any/all are rarer (logsumexp, accuracy) and the one-thread scan is the version a
reader can check at a glance; on a GPU it is fast while rows >> n, slow for a full reduction of a big array
(a block tree like the sum's is the fix).
"""
import numpy as np
from numba import cuda

from kernels.cuda._device import (
    MAX_THREADS, as_contiguous_device, empty, is_device_array, launch_config, per_dtype, require_cuda, row_threads,
    zeros,
)
from kernels.cuda.device_functions import block_sum

THREADS = 128


# ----- float sums: a block tree per output ----------------------------------------------------------------------
@per_dtype
def _sum_kernel(dtype):
    """x3 (outer, n, inner) -> out (outer * inner,): one block per output, block tree reduction over n."""

    @cuda.jit
    def sum_kernel(x3, out):
        buffer = cuda.shared.array(MAX_THREADS, dtype)
        n_inner = x3.shape[2]
        o = cuda.blockIdx.x // n_inner  # which output this block owns
        i = cuda.blockIdx.x % n_inner
        local = dtype(0)
        for k in range(cuda.threadIdx.x, x3.shape[1], cuda.blockDim.x):  # thread t adds k = t, t+T, ...
            local += x3[o, k, i]
        total = block_sum(buffer, local)
        if cuda.threadIdx.x == 0:
            out[cuda.blockIdx.x] = total

    return sum_kernel


def sum_axis(x, axis, keepdims=False):
    """Sum of x over one axis (host or device float array); returns a device array.

    >>> sum_axis(np.ones((2, 3), np.float32), 1).copy_to_host()   # doctest: +SKIP
    array([3., 3.], dtype=float32)
    """
    is_array = isinstance(x, np.ndarray) or is_device_array(x)
    if not is_array or x.dtype not in (np.float32, np.float64):
        raise TypeError(f"sum_axis: inputs must be float32 or float64 arrays, got "
                        f"{x.dtype if is_array else type(x).__name__}")
    ndim = len(x.shape)
    if not -ndim <= axis < ndim:
        raise ValueError(f"sum_axis: axis {axis} is out of range for shape {tuple(x.shape)}")
    require_cuda()
    axis %= ndim
    shape = tuple(x.shape)
    outer = int(np.prod(shape[:axis]))
    inner = int(np.prod(shape[axis + 1:]))
    out_shape = shape[:axis] + ((1,) if keepdims else ()) + shape[axis + 1:]
    out = empty(out_shape, x.dtype)
    if out.size:
        if shape[axis] == 0:  # an empty sum is 0
            return zeros(out_shape, x.dtype)
        x3 = as_contiguous_device(x).reshape(outer, shape[axis], inner)  # (outer, n, inner)
        _sum_kernel(x.dtype)[outer * inner, row_threads(shape[axis])](x3, out.reshape(out.size))
    return out


# ----- scans: one thread walks a row ----------------------------------------------------------------------------
def scan_kernel(wins, result):
    """Compile out[row] = result(best, its index) for x (rows, n), n >= 1, where best starts at x[row, 0] and is
    replaced by every later element for which wins(element, best) holds (`wins`, `result`: device functions)."""

    @cuda.jit
    def scan(x, out):
        row = cuda.grid(1)
        if row >= x.shape[0]:
            return
        best = x[row, 0]
        best_index = 0
        for k in range(1, x.shape[1]):
            if wins(x[row, k], best):
                best = x[row, k]
                best_index = k
        out[row] = result(best, best_index)

    return scan


@cuda.jit(device=True)
def _greater_or_nan(value, best):
    """max's rule: a larger value or a NaN wins, and once a NaN has won nothing replaces it (as NumPy)."""
    return best == best and (value > best or value != value)


@cuda.jit(device=True)
def _less_or_nan(value, best):
    return best == best and (value < best or value != value)


@cuda.jit(device=True)
def _is_nonzero(value, best):
    return value != 0


@cuda.jit(device=True)
def _is_zero(value, best):
    return value == 0


@cuda.jit(device=True)
def _the_value(best, best_index):
    return best


@cuda.jit(device=True)
def _the_index(best, best_index):
    return best_index


@cuda.jit(device=True)
def _value_is_nonzero(best, best_index):
    return best != 0


SCANS = {
    "max": scan_kernel(_greater_or_nan, _the_value),
    "min": scan_kernel(_less_or_nan, _the_value),
    "argmax": scan_kernel(_greater_or_nan, _the_index),
    "argmin": scan_kernel(_less_or_nan, _the_index),
    "any": scan_kernel(_is_nonzero, _value_is_nonzero),  # a nonzero element, if there is one, ends up as best
    "all": scan_kernel(_is_zero, _value_is_nonzero),  # a zero element, if there is one, ends up as best
}


@cuda.jit
def _integer_sum_kernel(x, out):
    """out[row] = Σ x[row, :] for integer rows (exact, so no tree is needed for accuracy)."""
    row = cuda.grid(1)
    if row >= x.shape[0]:
        return
    total = x[row, 0]
    for k in range(1, x.shape[1]):
        total += x[row, k]
    out[row] = total


def reduce_rows(op, x2, out):
    """out (rows,) = op over the last axis of the contiguous device array x2 (rows, n), n >= 1; op is "sum" or a
    name in SCANS."""
    rows, n = x2.shape
    if rows == 0:
        return
    if op == "sum" and x2.dtype in (np.float32, np.float64):
        _sum_kernel(x2.dtype)[rows, row_threads(n)](x2.reshape(rows, n, 1), out)
    elif op == "sum":
        _integer_sum_kernel[launch_config(rows, THREADS)](x2, out)
    else:
        SCANS[op][launch_config(rows, THREADS)](x2, out)
