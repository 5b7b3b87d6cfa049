"""Row reductions on the GPU for CudaArray: sum, max, min, argmax, argmin, any, all over the last axis.

CudaArray moves the reduced axes to the end first (one gather), so every reduction here sees x as (rows, n):

    float sum:    one block per row, threads t, t+T, ... add x[row, t::T], a shared-memory tree adds the partial
                  sums (elementwise._sum_kernel, the kernel behind elementwise.sum_axis)
    the others:   one thread per row, a plain loop over n

Why: a float sum is what training does all the time (losses, un-broadcasting gradients over a batch), so it gets
the parallel tree. max/argmax/any/all are rarer (logsumexp, accuracy) and the one-thread loop is the version a
reader can check at a glance; on a GPU it is fast while rows >> n, slow for a full reduction of a big array
(a block tree like the sum's is the fix).
"""
import numpy as np
from numba import cuda

from kernels.cuda._device import launch_config, row_threads
from kernels.cuda.elementwise import _sum_kernel

THREADS = 128
ROW_OPS = {"sum": 0, "max": 1, "min": 2, "argmax": 3, "argmin": 4, "any": 5, "all": 6}


@cuda.jit
def _rows_kernel(x, out, op):
    """out[row] = op(x[row, :]) for x (rows, n), n >= 1; NaN wins max/min and argmax/argmin (as NumPy)."""
    row = cuda.grid(1)
    if row >= x.shape[0]:
        return
    best = x[row, 0]
    best_index = 0
    total = x[row, 0]
    for k in range(1, x.shape[1]):
        value = x[row, k]
        total += value
        if best != best:  # a NaN already won
            continue
        if op == 1 or op == 3 or op == 5:
            if value > best or value != value:
                best = value
                best_index = k
        elif value < best or value != value:
            best = value
            best_index = k
    if op == 0:
        out[row] = total
    elif op == 1 or op == 2:
        out[row] = best
    elif op == 3 or op == 4:
        out[row] = best_index
    else:  # any = max != 0, all = min != 0
        out[row] = best != 0


def reduce_rows(op, x2, out):
    """out (rows,) = op over the last axis of the contiguous device array x2 (rows, n), n >= 1."""
    rows, n = x2.shape
    if rows == 0:
        return
    if op == "sum" and x2.dtype in (np.float32, np.float64):
        _sum_kernel(x2.dtype)[rows, row_threads(n)](x2.reshape(rows, n, 1), out)
        return
    _rows_kernel[launch_config(rows, THREADS)](x2, out, ROW_OPS[op])
