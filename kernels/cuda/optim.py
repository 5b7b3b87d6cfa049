"""Fused Adam / AdamW on the GPU: one thread per parameter element, all four arrays updated in one pass.

Same formulas as kernels/reference/optim.py (PyTorch's single-tensor Adam / AdamW):

    thread i:  p = p·decay;  g = grad[i] + l2·p;  m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²
               p -= step_size · m / (sqrt(v) · inv_bc2_sqrt + eps)

Why it is fast: an optimizer step is purely memory-bound (4 reads, 3 writes per element); fusing it into one
launch reads every array once, where the unfused form (8 separate elementwise ops) would read them ~8 times.
The scalar bias corrections are computed once on the host and passed in.

The foreach forms launch the same kernel once per tensor of the lists. sum_of_squares_foreach: a grid-stride
loop per array, each thread summing its squares in float64 and adding them to one float64 total with an atomic add.

Device arrays are updated in place. Host arrays are accepted too (copied over, stepped, copied back into the
same host arrays), so the in-place contract of the other backends holds for them; an engine keeps its optimizer
state on the device and never pays those copies.
"""
import math

import numpy as np
from numba import cuda

from kernels.cuda._device import (
    as_contiguous_device, host_proxy, is_device_array, launch_config, require_cuda, to_device, zeros,
)
from kernels.reference.optim import check_adam_inputs, check_arrays_list, check_foreach_inputs

THREADS = 128


@cuda.jit
def _adam_kernel(param, grad, exp_avg, exp_avg_sq, decay, l2, beta1, beta2, step_size, inv_bc2_sqrt, eps):
    i = cuda.grid(1)  # one element per thread
    if i >= param.size:
        return
    p = param[i] * decay  # AdamW's decoupled decay (decay = 1 for Adam)
    g = grad[i] + l2 * p  # Adam's L2 term (l2 = 0 for AdamW)
    m = beta1 * exp_avg[i] + (1 - beta1) * g
    v = beta2 * exp_avg_sq[i] + (1 - beta2) * g * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    param[i] = p - step_size * m / (math.sqrt(v) * inv_bc2_sqrt + eps)


def _run(kernel_name, param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, decay, l2):
    check_adam_inputs(kernel_name, host_proxy(param), host_proxy(grad), host_proxy(exp_avg),
                      host_proxy(exp_avg_sq), step)
    require_cuda()
    size = int(np.prod(param.shape))
    if size == 0:
        return
    in_place = [param, exp_avg, exp_avg_sq]
    device = [a if is_device_array(a) else to_device(a) for a in in_place]  # host: copy over
    grad_d = as_contiguous_device(grad)
    flat = [a.reshape(size) for a in device]
    step_size = lr / (1.0 - beta1 ** step)
    inv_bc2_sqrt = 1.0 / math.sqrt(1.0 - beta2 ** step)
    _adam_kernel[launch_config(size, THREADS)](flat[0], grad_d.reshape(size), flat[1], flat[2], float(decay),
                                                     float(l2), float(beta1), float(beta2), float(step_size),
                                                     float(inv_bc2_sqrt), float(eps))
    for original, on_device in zip(in_place, device):
        if not is_device_array(original):  # host arrays: write the result back into the caller's array
            on_device.copy_to_host(original)


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adam with L2 weight decay folded into the gradient, in place. Returns None."""
    _run("adam_step", param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, 1.0, weight_decay)


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=1e-2):
    """AdamW: decoupled decay p ← p·(1 - lr·wd), then the Adam update, in place. Returns None."""
    _run("adamw_step", param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, 1.0 - lr * weight_decay, 0.0)


def _device_view(array):
    """A CudaArray in a list (the engine unwraps only top-level arguments) as the numba device array it holds."""
    return getattr(array, "device_array", array) if getattr(array, "is_cuda_array", False) else array


def _run_foreach(kernel_name, params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, decay, l2):
    check_foreach_inputs(kernel_name, params, grads, exp_avgs, exp_avg_sqs, steps)
    for param, grad, exp_avg, exp_avg_sq, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        _run(kernel_name, _device_view(param), _device_view(grad), _device_view(exp_avg), _device_view(exp_avg_sq),
             step, lr, beta1, beta2, eps, decay, l2)


def adam_step_foreach(params, grads, exp_avgs, exp_avg_sqs, steps, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                      weight_decay=0.0):
    """adam_step on each tensor of the lists (steps: each tensor's step count), in place. Returns None."""
    _run_foreach("adam_step_foreach", params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, 1.0,
                 weight_decay)


def adamw_step_foreach(params, grads, exp_avgs, exp_avg_sqs, steps, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=1e-2):
    """adamw_step on each tensor of the lists (steps: each tensor's step count), in place. Returns None."""
    _run_foreach("adamw_step_foreach", params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps,
                 1.0 - lr * weight_decay, 0.0)


@cuda.jit
def _sum_of_squares_kernel(flat, total):
    local = 0.0  # float64
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):  # grid-stride: thread t adds t, t + grid, ...
        value = float(flat[i])
        local += value * value
    cuda.atomic.add(total, 0, local)


def sum_of_squares_foreach(arrays):
    """Σ_arrays Σ x², accumulated in float64 on the device: a Python float (one copy of the total to the host)."""
    if not isinstance(arrays, (list, tuple)):
        check_arrays_list("sum_of_squares_foreach", arrays)  # raises: not a list
    arrays = [_device_view(array) for array in arrays]
    check_arrays_list("sum_of_squares_foreach", [host_proxy(array) for array in arrays])
    require_cuda()
    total = zeros((1,), np.float64)
    for array in arrays:
        size = int(np.prod(array.shape))
        if size:
            flat = as_contiguous_device(array).reshape(size)
            _sum_of_squares_kernel[launch_config(min(size, 64 * THREADS), THREADS)](flat, total)
    return float(total.copy_to_host()[0])
