"""Max and average 2-D pooling on the CPU in Numba. Same contract as kernels/reference/pool.py.

Every kernel is one prange over the N*C planes of (N, C, H, W):

    for plane in prange(N*C):                       # planes are independent: no races in the scatter-adds
        for p, q in output positions:
            for i, j in the KH x KW window:           # forward: running max (+ its flat index) or running sum
                ...                                   # backward: grad_x[plane, ih, iw] += share of grad_y[p, q]

Pooling is memory-bound (KH*KW reads per output), so the lesson here is the parallel plane loop and keeping the
window bounds out of the inner loop, not FLOPs.
"""
import numpy as np
from numba import njit, prange

from kernels.cpu.variants import serial_and_parallel
from kernels.reference.gemm import check_float_array
from kernels.reference.pool import check_max_pool_backward_args, check_pool_args, check_pool_grad

# Work = output elements·KH·KW (forward) or input elements (max backward) below which the wrappers call the
# serial variant (kernels/cpu/variants.py): below it a parallel launch saves little on a quiet machine and, on a
# busy one, can stall for milliseconds, far longer than the work. The toy CNN's two pools (65k and 32k) run serial.
# The timings behind the cut-over are in docs/perf.md, "Kernel notes".
SERIAL_MAX_WORK = 1 << 17


@njit(inline="always")
def _running_max(values, index, best, where):
    """(best, where) after reading values[index]: take it if it is larger or NaN (PyTorch's
    `val > max || isnan(val)`), without a branch: `where` moves by arithmetic, `best` by a select."""
    value = values[index]
    take = (value > best) | (value != value)
    return (value if take else best), where + (index - where) * take


def _max_forward_body(x, y, argmax, height, width, kh, kw, sh, sw, ph, pw):
    """y[plane, p, q] = max of the window, argmax = its flat index ih*W + iw (first maximum; the last NaN wins).

    x (N*C, H*W), y and argmax (N*C, H_out, W_out): the wrapper's free reshapes. A flat plane makes a window
    row one base offset plus j, instead of a 3-D index per read.

        for plane in prange(N*C):
            for p, q in output positions:
                clip the window to the image: its first inside value is at `start`, rows x cols of it lie inside
                best, where = x[start], start
                for i, j in the rows x cols inside (row-major):
                    take  = x[index] > best or x[index] is NaN
                    best, where = (x[index], index) if take else (best, where)        # _running_max

    Why it is fast: on random data `take` is true about half the time, so a branch on it mispredicts about
    once per window and costs several times the window's reads; `_running_max` has no branch, and its NaN
    test is one more compare in the select, so planes with and without NaN take the same path. The usual
    2x2 window of stride 2 is written out: with its trip counts and offsets known, LLVM drops the window
    loops' unrolling and remainder code (about 2x faster on the MNIST-sized CNN's pools).

    Semantics: a strict `>` keeps the first maximum in row-major order; every NaN is taken, so the last NaN
    wins and NaN propagates; padding is left out by clipping, so it never wins (an all -inf window points at
    its first inside value, as in PyTorch).
    """
    h_out, w_out = y.shape[1], y.shape[2]
    halving = kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0
    for plane in prange(x.shape[0]):
        values = x[plane]
        for p in range(h_out):
            h0 = p * sh - ph
            h_lo = max(h0, 0)
            rows = min(h0 + kh, height) - h_lo
            for q in range(w_out):
                if halving:  # the usual 2x2 window, stride 2, no padding: written out
                    start = 2 * p * width + 2 * q
                    best, where = values[start], start
                    best, where = _running_max(values, start + 1, best, where)
                    best, where = _running_max(values, start + width, best, where)
                    best, where = _running_max(values, start + width + 1, best, where)
                else:
                    w0 = q * sw - pw
                    w_lo = max(w0, 0)
                    cols = min(w0 + kw, width) - w_lo
                    start = h_lo * width + w_lo
                    best, where = values[start], start
                    for i in range(rows):
                        for j in range(cols):
                            best, where = _running_max(values, start + i * width + j, best, where)
                y[plane, p, q] = best
                argmax[plane, p, q] = where


_max_forward_serial, _max_forward_parallel = serial_and_parallel(_max_forward_body)


def _max_backward_body(grad_y, argmax, grad_x):
    """grad_x[n, c].flat[argmax[n, c, p, q]] += grad_y[n, c, p, q], every other element 0; grad_x (N, C, H*W).

    Each task zeroes its plane of grad_x and then adds into it while the plane is still in L1: one pass over
    grad_x's memory, where zeroing it all first (np.zeros) and then adding made two."""
    n_batch, channels, h_out, w_out = grad_y.shape
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for i in range(grad_x.shape[2]):
            grad_x[n, c, i] = 0
        for p in range(h_out):
            for q in range(w_out):
                grad_x[n, c, argmax[n, c, p, q]] += grad_y[n, c, p, q]


_max_backward_serial, _max_backward_parallel = serial_and_parallel(_max_backward_body)


def _avg_forward_body(x, y, kh, kw, sh, sw, ph, pw):
    """y[n, c, p, q] = (sum of the window's inside values) / (KH*KW): padding counts as zeros."""
    n_batch, channels, height, width = x.shape
    h_out, w_out = y.shape[2], y.shape[3]
    scale = 1.0 / (kh * kw)
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for p in range(h_out):
            h0 = p * sh - ph
            for q in range(w_out):
                w0 = q * sw - pw
                total = 0.0
                for ih in range(max(h0, 0), min(h0 + kh, height)):
                    for iw in range(max(w0, 0), min(w0 + kw, width)):
                        total += x[n, c, ih, iw]
                y[n, c, p, q] = total * scale


_avg_forward_serial, _avg_forward_parallel = serial_and_parallel(_avg_forward_body)


def _avg_backward_body(grad_y, grad_x, kh, kw, sh, sw, ph, pw):
    """grad_x[n, c, ih, iw] += grad_y[n, c, p, q] / (KH*KW) for every window holding (ih, iw); grad_x zeroed."""
    n_batch, channels, height, width = grad_x.shape
    h_out, w_out = grad_y.shape[2], grad_y.shape[3]
    scale = 1.0 / (kh * kw)
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for p in range(h_out):
            h0 = p * sh - ph
            for q in range(w_out):
                w0 = q * sw - pw
                share = grad_y[n, c, p, q] * scale
                for ih in range(max(h0, 0), min(h0 + kh, height)):
                    for iw in range(max(w0, 0), min(w0 + kw, width)):
                        grad_x[n, c, ih, iw] += share


_avg_backward_serial, _avg_backward_parallel = serial_and_parallel(_avg_backward_body)


def max_pool2d_forward(x, kernel_size, stride, padding):
    """(y, argmax) of max pooling over x (N, C, H, W); argmax holds int64 flat indices ih*W + iw per plane.

    >>> import numpy as np
    >>> max_pool2d_forward(np.arange(16.).reshape(1, 1, 4, 4), (2, 2), (2, 2), (0, 0))[0][0, 0, 1]
    array([13., 15.])
    """
    check_float_array("max_pool2d_forward", "x", x, 4)
    h_out, w_out = check_pool_args("max_pool2d_forward", x.shape, kernel_size, stride, padding)
    y = np.empty(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    argmax = np.empty(y.shape, dtype=np.int64)
    small = y.size * kernel_size[0] * kernel_size[1] < SERIAL_MAX_WORK
    kernel = _max_forward_serial if small else _max_forward_parallel
    n_batch, channels, height, width = x.shape
    planes = np.ascontiguousarray(x).reshape(n_batch * channels, height * width)  # (N*C, H*W)
    kernel(planes, y.reshape(n_batch * channels, h_out, w_out), argmax.reshape(n_batch * channels, h_out, w_out),
           height, width, *kernel_size, *stride, *padding)
    return y, argmax


def max_pool2d_backward(grad_y, argmax, input_shape):
    """grad_x (input_shape): grad_y added at the argmax of every window."""
    n_batch, channels, height, width = check_max_pool_backward_args(grad_y, argmax, input_shape)
    grad_x = np.empty((n_batch, channels, height * width), dtype=grad_y.dtype)  # zeroed plane by plane
    kernel = _max_backward_serial if grad_x.size < SERIAL_MAX_WORK else _max_backward_parallel
    kernel(np.ascontiguousarray(grad_y), np.ascontiguousarray(argmax), grad_x)
    return grad_x.reshape(input_shape)


def avg_pool2d_forward(x, kernel_size, stride, padding):
    """Average pooling of x (N, C, H, W), zero padding counted in the divisor (count_include_pad=True)."""
    check_float_array("avg_pool2d_forward", "x", x, 4)
    h_out, w_out = check_pool_args("avg_pool2d_forward", x.shape, kernel_size, stride, padding)
    y = np.empty(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    small = y.size * kernel_size[0] * kernel_size[1] < SERIAL_MAX_WORK
    kernel = _avg_forward_serial if small else _avg_forward_parallel
    kernel(np.ascontiguousarray(x), y, *kernel_size, *stride, *padding)
    return y


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding):
    """grad_x (input_shape) of average pooling; overlapping windows add."""
    check_float_array("avg_pool2d_backward", "grad_y", grad_y, 4)
    input_shape = tuple(int(v) for v in input_shape)
    h_out, w_out = check_pool_args("avg_pool2d_backward", input_shape, kernel_size, stride, padding)
    check_pool_grad("avg_pool2d_backward", grad_y, input_shape, h_out, w_out)
    grad_x = np.zeros(input_shape, dtype=grad_y.dtype)
    small = grad_y.size * kernel_size[0] * kernel_size[1] < SERIAL_MAX_WORK
    kernel = _avg_backward_serial if small else _avg_backward_parallel
    kernel(np.ascontiguousarray(grad_y), grad_x, *kernel_size, *stride, *padding)
    return grad_x
