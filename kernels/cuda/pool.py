"""Max and average 2-D pooling on the GPU: one thread per output (forward), scatter or gather (backward).

Same interface as kernels/reference/pool.py (floor mode; avg counts padding in the divisor).

Thread mapping (flat 1-D grid over every element, 128 threads per block; device_functions.unravel4 turns the
thread's index into the coordinates of its element):

    forward:        thread -> (n, c, p, q) of y;  loops over the KH x KW window of x (clipped to the image)
    max backward:   thread -> (n, c, p, q) of grad_y;  cuda.atomic.add(grad_x[n, c, argmax], grad_y)
                    windows overlap when stride < kernel, so two threads may hit one input: the add must be atomic
    avg backward:   thread -> (n, c, h, w) of grad_x;  gathers grad_y / (KH*KW) from every window that covers
                    (h, w): each thread owns its output, so no atomics and a deterministic sum

Why it is fast: pooling is memory-bound (a few FLOPs per load); one thread per output keeps thousands of loads in
flight, neighbouring threads read neighbouring q (coalesced), and the overlap between windows is served by L1/L2.
Atomics are cheap here because collisions are rare (only where windows overlap).
"""
import numpy as np
from numba import cuda

from kernels.cuda._device import as_contiguous_device, empty, host_proxy, launch_config, require_cuda, zeros
from kernels.cuda.device_functions import unravel4
from kernels.reference.gemm import check_float_array
from kernels.reference.pool import check_pool_args, check_pool_grad

THREADS = 128


@cuda.jit
def _max_forward(x, y, argmax, kh, kw, sh, sw, ph, pw):
    """y = max of the window (first maximum; the last NaN wins, as PyTorch), argmax = its flat index ih*W + iw."""
    height, width = x.shape[2], x.shape[3]
    index = cuda.grid(1)  # blockIdx.x * blockDim.x + threadIdx.x: one output per thread
    if index >= y.size:
        return
    n, c, p, q = unravel4(index, y.shape)  # the output this thread owns
    h_lo = max(p * sh - ph, 0)
    h_hi = min(p * sh - ph + kh, height)
    w_lo = max(q * sw - pw, 0)
    w_hi = min(q * sw - pw + kw, width)
    best = x[n, c, h_lo, w_lo]
    best_index = h_lo * width + w_lo
    for ih in range(h_lo, h_hi):
        for iw in range(w_lo, w_hi):
            value = x[n, c, ih, iw]
            if value > best or value != value:
                best = value
                best_index = ih * width + iw
    y[n, c, p, q] = best
    argmax[n, c, p, q] = best_index


@cuda.jit
def _max_backward(grad_y, argmax, grad_x):
    """grad_x[n, c, argmax[n, c, p, q]] += grad_y[n, c, p, q] (atomic); grad_x (N, C, H*W) starts at zero."""
    index = cuda.grid(1)
    if index >= grad_y.size:
        return
    n, c, p, q = unravel4(index, grad_y.shape)
    cuda.atomic.add(grad_x, (n, c, argmax[n, c, p, q]), grad_y[n, c, p, q])


@cuda.jit
def _avg_forward(x, y, kh, kw, sh, sw, ph, pw):
    """y = sum of the window (padding counts as 0) / (KH*KW)."""
    height, width = x.shape[2], x.shape[3]
    index = cuda.grid(1)
    if index >= y.size:
        return
    n, c, p, q = unravel4(index, y.shape)
    total = x[n, c, 0, 0] * 0  # a zero of x's dtype
    for ih in range(max(p * sh - ph, 0), min(p * sh - ph + kh, height)):
        for iw in range(max(q * sw - pw, 0), min(q * sw - pw + kw, width)):
            total += x[n, c, ih, iw]
    y[n, c, p, q] = total / (kh * kw)


@cuda.jit
def _avg_backward(grad_y, grad_x, kh, kw, sh, sw, ph, pw):
    """Gather: grad_x[n, c, h, w] = Σ over windows (p, q) that contain (h, w) of grad_y[n, c, p, q] / (KH*KW).

    (h, w) sits at tap i = h + ph - p*sh of window p, so p runs over ceil((h + ph - kh + 1) / sh) ..
    floor((h + ph) / sh), clipped to [0, H_out)."""
    h_out, w_out = grad_y.shape[2], grad_y.shape[3]
    index = cuda.grid(1)
    if index >= grad_x.size:
        return
    n, c, h, w = unravel4(index, grad_x.shape)
    p_lo = max(0, (h + ph - kh + sh) // sh)  # ceil((h + ph - kh + 1) / sh) for the non-negative numerator
    p_hi = min(h_out - 1, (h + ph) // sh)
    q_lo = max(0, (w + pw - kw + sw) // sw)
    q_hi = min(w_out - 1, (w + pw) // sw)
    total = grad_y[n, c, 0, 0] * 0
    for p in range(p_lo, p_hi + 1):
        for q in range(q_lo, q_hi + 1):
            total += grad_y[n, c, p, q]
    grad_x[n, c, h, w] = total / (kh * kw)


def max_pool2d_forward(x, kernel_size, stride, padding):
    """(y, argmax) device arrays of max pooling over x (N, C, H, W); argmax holds int64 flat indices ih*W + iw."""
    check_float_array("max_pool2d_forward", "x", host_proxy(x), 4)
    h_out, w_out = check_pool_args("max_pool2d_forward", x.shape, kernel_size, stride, padding)
    require_cuda()
    y = empty(x.shape[:2] + (h_out, w_out), x.dtype)
    argmax = empty(y.shape, np.int64)
    if y.size:
        _max_forward[launch_config(y.size, THREADS)](as_contiguous_device(x), y, argmax, *kernel_size,
                                                           *stride, *padding)
    return y, argmax


def max_pool2d_backward(grad_y, argmax, input_shape):
    """grad_x (input_shape) device array: grad_y added at the argmax of every window."""
    check_float_array("max_pool2d_backward", "grad_y", host_proxy(grad_y), 4)
    argmax_proxy = host_proxy(argmax)
    if (not isinstance(argmax_proxy, np.ndarray) or argmax_proxy.dtype != np.int64
            or argmax_proxy.shape != grad_y.shape):
        raise TypeError(f"max_pool2d_backward: argmax must be an int64 array shaped like grad_y {grad_y.shape}")
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 4 or input_shape[:2] != tuple(grad_y.shape[:2]):
        raise ValueError(f"max_pool2d_backward: input_shape {input_shape} does not fit grad_y {grad_y.shape}")
    require_cuda()
    n_batch, channels, height, width = input_shape
    grad_x = zeros((n_batch, channels, height * width), grad_y.dtype)
    if grad_y.size:
        _max_backward[launch_config(grad_y.size, THREADS)](as_contiguous_device(grad_y),
                                                                 as_contiguous_device(argmax), grad_x)
    return grad_x.reshape(input_shape)


def avg_pool2d_forward(x, kernel_size, stride, padding):
    """Average pooling of x (N, C, H, W) (count_include_pad=True); returns a device array."""
    check_float_array("avg_pool2d_forward", "x", host_proxy(x), 4)
    h_out, w_out = check_pool_args("avg_pool2d_forward", x.shape, kernel_size, stride, padding)
    require_cuda()
    y = empty(x.shape[:2] + (h_out, w_out), x.dtype)
    if y.size:
        _avg_forward[launch_config(y.size, THREADS)](as_contiguous_device(x), y, *kernel_size, *stride,
                                                           *padding)
    return y


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding):
    """grad_x (input_shape) device array of average pooling; overlapping windows add."""
    check_float_array("avg_pool2d_backward", "grad_y", host_proxy(grad_y), 4)
    input_shape = tuple(int(v) for v in input_shape)
    h_out, w_out = check_pool_args("avg_pool2d_backward", input_shape, kernel_size, stride, padding)
    check_pool_grad("avg_pool2d_backward", host_proxy(grad_y), input_shape, h_out, w_out)
    require_cuda()
    grad_x = empty(input_shape, grad_y.dtype)
    if grad_x.size:
        _avg_backward[launch_config(grad_x.size, THREADS)](as_contiguous_device(grad_y), grad_x,
                                                                 *kernel_size, *stride, *padding)
    return grad_x
