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


@njit(fastmath={"reassoc"})
def _plane_has_nan(x, plane):
    """Whether x[plane] holds a NaN (or an inf: then too the careful path runs, which is merely slower).

    Σ value·0 is NaN iff some value is NaN or ±inf. `reassoc` (and nothing else: no `nnan`) lets LLVM vectorise
    the sum, so the scan costs a fraction of a compare-and-branch per read in the pooling loop.
    """
    total = 0.0
    for i in range(x.shape[1]):
        total += x[plane, i] * 0.0
    return total != total


@njit(inline="always")
def _window_max(x, plane, start, rows, cols, width, nan_aware):
    """(max, flat index of the first max) of the rows x cols window of x[plane] whose top-left is `start`.

    nan_aware=False: `take = value > best`, one compare and a select per read;
    nan_aware=True:  also take every NaN (PyTorch: NaN propagates, and the last NaN of the window is the argmax),
                     as the reference does.
    Either way a strict `>` keeps the first maximum of the window, in row-major order.
    """
    best = x[plane, start]
    best_index = start
    for i in range(rows):
        row = start + i * width
        for j in range(cols):
            value = x[plane, row + j]
            take = value > best
            if nan_aware:
                take = take | (value != value)
            if take:
                best = value
                best_index = row + j
    return best, best_index


@njit(inline="always")
def _max_pool_plane(x, y, argmax, plane, height, width, kh, kw, sh, sw, ph, pw, nan_aware):
    """Max-pool plane x[plane] (H*W values, row-major) into y[plane], argmax[plane].

    Without padding every window lies inside the image (floor mode), so the window loop runs KH x KW with
    trip counts that are the same for every output; with padding each window clips its bounds first (clipping
    every window, padded or not, made the loop about twice as slow).
    """
    h_out, w_out = y.shape[1], y.shape[2]
    for p in range(h_out):
        h0 = p * sh - ph
        h_lo = max(h0, 0)
        h_hi = min(h0 + kh, height)
        for q in range(w_out):
            w0 = q * sw - pw
            if ph == 0 and pw == 0:
                start, rows, cols = h0 * width + w0, kh, kw
            else:
                w_lo = max(w0, 0)
                start, rows, cols = h_lo * width + w_lo, h_hi - h_lo, min(w0 + kw, width) - w_lo
            best, best_index = _window_max(x, plane, start, rows, cols, width, nan_aware)
            y[plane, p, q] = best
            argmax[plane, p, q] = best_index


def _max_forward_body(x, y, argmax, height, width, kh, kw, sh, sw, ph, pw):
    """y[plane, p, q] = max of the window, argmax = its flat index ih*W + iw (first maximum; the last NaN wins).

    x (N*C, H*W), y and argmax (N*C, H_out, W_out): reshaped by the wrapper (free views). A flat plane makes
    a window row one base offset plus iw, instead of a 3-D index per read.

        for plane in prange(N*C):
            nan_aware = plane holds a NaN                       # one vectorised scan (_plane_has_nan)
            for every output: window max with take = value > best [or value is NaN]

    Why it is fast: the running (best, best_index) pair is a loop-carried chain per output, so its length is
    what the loop costs. A NaN-aware compare in that chain (two more float compares, mask-register logic,
    then the selects) makes it several times longer; with the plain `>` the chain is a compare and a select,
    and the NaN question is asked once per plane, so planes without NaN (nearly all) take the short chain.
    """
    for plane in prange(x.shape[0]):
        nan_aware = _plane_has_nan(x, plane)  # a run-time flag, not two inlined copies: it ran faster
        _max_pool_plane(x, y, argmax, plane, height, width, kh, kw, sh, sw, ph, pw, nan_aware)


_max_forward_serial, _max_forward_parallel = serial_and_parallel(_max_forward_body)


def _max_backward_body(grad_y, argmax, grad_x):
    """grad_x[n, c].flat[argmax[n, c, p, q]] += grad_y[n, c, p, q]; grad_x (N, C, H*W) must be zeroed."""
    n_batch, channels, h_out, w_out = grad_y.shape
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
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
    grad_x = np.zeros((n_batch, channels, height * width), dtype=grad_y.dtype)
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
