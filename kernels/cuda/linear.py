"""The bias of a Linear layer on the GPU: add it to every row of y, and sum the rows of grad_y for its gradient.

Same interface as kernels/reference/linear.py. Shapes: y, grad_y (R, N); bias (N,).

    add_bias:   grid over the R·N elements, thread i:  y[i // N, i % N] += bias[i % N]
    bias_grad:  one thread per column n walks down the rows:  out[n] = Σ_r grad_y[r, n]   (row order, from 0)

Why it is fast: add_bias is one coalesced pass; in bias_grad neighbouring threads read neighbouring columns of a
row, so each step down the rows is one coalesced read.

y is updated in place on the device. A host y is accepted too (copied over, updated, copied back into the same
array), so the in-place contract of the other kernel sets holds for it.
"""
from numba import cuda

from kernels.cuda._device import (
    as_contiguous_device, host_proxy, is_device_array, launch_config, require_cuda, to_device, zeros,
)
from kernels.reference.linear import check_bias_inputs

THREADS = 128


@cuda.jit
def _add_bias_kernel(y, bias):
    i = cuda.grid(1)  # one element per thread
    n_features = y.shape[1]
    if i >= y.shape[0] * n_features:
        return
    y[i // n_features, i % n_features] += bias[i % n_features]


@cuda.jit
def _bias_grad_kernel(grad_y, out):
    n = cuda.grid(1)  # one column per thread
    if n >= grad_y.shape[1]:
        return
    total = out[n]  # zero, in out's dtype
    for r in range(grad_y.shape[0]):
        total += grad_y[r, n]
    out[n] = total


def add_bias(y, bias):
    """y[r, :] += bias for every row, in place. Returns None."""
    check_bias_inputs("add_bias", host_proxy(y), host_proxy(bias), in_place=True)
    require_cuda()
    size = y.shape[0] * y.shape[1]
    if size == 0:
        return
    y_d = y if is_device_array(y) else to_device(y)
    _add_bias_kernel[launch_config(size, THREADS)](y_d, as_contiguous_device(bias))
    if not is_device_array(y):  # a host y: write the result back into the caller's array
        y_d.copy_to_host(y)


def bias_grad(grad_y):
    """Σ_r grad_y[r, :] -> (N,) device array of grad_y's dtype."""
    check_bias_inputs("bias_grad", host_proxy(grad_y))
    require_cuda()
    out = zeros((grad_y.shape[1],), grad_y.dtype)
    if grad_y.shape[0] and grad_y.shape[1]:
        _bias_grad_kernel[launch_config(grad_y.shape[1], THREADS)](as_contiguous_device(grad_y), out)
    return out
