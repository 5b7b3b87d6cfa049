"""Adam and AdamW updates as Numba kernels: one fused pass over param, grad and both moments, in place.

`adam_step_foreach` / `adamw_step_foreach` take the lists of a whole param group, so the Python work around the
compiled calls (the scalars below, the dispatch to the kernels module) is done once per group, not per tensor.
`sum_of_squares_foreach` (gradient clipping's squared norm) squares and sums each array in one compiled pass with
float64 accumulators, where NumPy makes a float64 copy of each array first.

Same interface and formulas as kernels/reference/optim.py (PyTorch's single-tensor Adam/AdamW). The reference
makes ≈8 full-size temporaries per step; here every element is read once and written once, with the moment
updates in registers. Scalars (bias corrections, step size) are computed once per call in Python, in float64,
and rounded to the parameter's dtype: a float32 parameter is updated in float32 arithmetic, as torch.optim does.

Parallel or serial: a DQN's parameters are 256 … 4096 elements, where waking the second thread costs more than
the whole update, so tensors below _PARALLEL_MIN_SIZE elements use the serial kernel (chosen by measurement).
The serial loop is not vectorised by LLVM (it cannot rule out aliasing between the four arrays; the parallel
gufunc can), so the parallel kernel is several times faster per element on two cores; the cut-over still sits at
8k elements because a parallel launch on a busy machine can stall for milliseconds (see _PARALLEL_MIN_SIZE).
"""
import math

import numpy as np
from numba import njit, prange

from kernels.cpu.softmax import FASTMATH
from kernels.reference.optim import check_adam_inputs, check_arrays_list, check_foreach_inputs

# A parallel call under load can stall for milliseconds (an RNN's 4096-element w_hh did), so tensors with only
# tens of µs of serial work stay serial. Timings: docs/perf.md, "Kernel notes".
_PARALLEL_MIN_SIZE = 8192


@njit(inline="always", fastmath=FASTMATH)
def _adam_element(param, grad, exp_avg, exp_avg_sq, i, decay, l2, beta1, one_minus_beta1, beta2, one_minus_beta2,
                  step_size, inv_bc2_sqrt, eps):
    """One element: p ← p·decay; g ← g + l2·p; m, v moment updates; p ← p - step_size·m / (√v/√bc2 + eps).

    The scalars arrive in the parameter's dtype, so float32 parameters are updated in float32 arithmetic, as
    torch.optim does (16 lanes per vector, a float32 square root and division)."""
    p = param[i] * decay
    g = grad[i] + l2 * p
    m = beta1 * exp_avg[i] + one_minus_beta1 * g
    v = beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    param[i] = p - step_size * m / (np.sqrt(v) * inv_bc2_sqrt + eps)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _adam_kernel_parallel(param, grad, exp_avg, exp_avg_sq, decay, l2, beta1, one_minus_beta1, beta2, one_minus_beta2,
                          step_size, inv_bc2_sqrt, eps):
    """for i in prange(n): _adam_element(i)          all arrays flat (n,), C-contiguous"""
    for i in prange(param.shape[0]):
        _adam_element(param, grad, exp_avg, exp_avg_sq, i, decay, l2, beta1, one_minus_beta1, beta2, one_minus_beta2,
                      step_size, inv_bc2_sqrt, eps)


@njit(cache=True, fastmath=FASTMATH)
def _adam_kernel_serial(param, grad, exp_avg, exp_avg_sq, decay, l2, beta1, one_minus_beta1, beta2, one_minus_beta2,
                        step_size, inv_bc2_sqrt, eps):
    """for i in range(n): _adam_element(i)           the same loop on one thread, for small tensors"""
    for i in range(param.shape[0]):
        _adam_element(param, grad, exp_avg, exp_avg_sq, i, decay, l2, beta1, one_minus_beta1, beta2, one_minus_beta2,
                      step_size, inv_bc2_sqrt, eps)


def _scalars(dtype, step, lr, beta1, beta2, eps, decay, l2):
    """The kernels' scalar arguments for one step count, from float64 values each rounded once to `dtype`, as
    NumPy rounds a Python float: a float32 parameter is updated in float32 arithmetic."""
    bias_correction1 = 1.0 - beta1 ** step
    inv_bc2_sqrt = 1.0 / math.sqrt(1.0 - beta2 ** step)
    step_size = lr / bias_correction1
    scalar = dtype.type
    return (scalar(decay), scalar(l2), scalar(beta1), scalar(1.0 - beta1), scalar(beta2), scalar(1.0 - beta2),
            scalar(step_size), scalar(inv_bc2_sqrt), scalar(eps))


def _run_foreach(kernel, params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, decay, l2):
    """One compiled call per tensor; the scalars are computed once per (dtype, step count), which is once for a
    param group that steps together (PyTorch's foreach form: the Python work per tensor is what it saves)."""
    check_foreach_inputs(kernel, params, grads, exp_avgs, exp_avg_sqs, steps)
    scalars_for = {}  # (dtype, step) -> the kernels' scalar arguments
    for param, grad, exp_avg, exp_avg_sq, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        check_adam_inputs(kernel, param, grad, exp_avg, exp_avg_sq, step)
        key = (param.dtype, step)
        scalars = scalars_for.get(key)
        if scalars is None:
            scalars = scalars_for[key] = _scalars(param.dtype, step, lr, beta1, beta2, eps, decay, l2)
        compiled = _adam_kernel_parallel if param.size >= _PARALLEL_MIN_SIZE else _adam_kernel_serial
        compiled(param.reshape(-1), np.ascontiguousarray(grad).reshape(-1), exp_avg.reshape(-1),
                 exp_avg_sq.reshape(-1), *scalars)


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adam with L2 decay folded into the gradient (g ← g + wd·p), in place. Returns None."""
    _run_foreach("adam_step", [param], [grad], [exp_avg], [exp_avg_sq], [step], lr, beta1, beta2, eps, 1.0,
                 weight_decay)


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=1e-2):
    """AdamW: p ← p·(1 - lr·wd), then Adam with no L2 term, in place. Returns None."""
    _run_foreach("adamw_step", [param], [grad], [exp_avg], [exp_avg_sq], [step], lr, beta1, beta2, eps,
                 1.0 - lr * weight_decay, 0.0)


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


@njit(cache=True, fastmath=FASTMATH)
def _sum_of_squares_kernel(flat):
    """total = Σ_i float64(flat[i])²      flat (n,) C-contiguous; `reassoc` lets the float64 sum vectorise"""
    total = 0.0
    for i in range(flat.shape[0]):
        value = np.float64(flat[i])
        total += value * value
    return total


def sum_of_squares_foreach(arrays):
    """Σ_arrays Σ x², accumulated in float64: a Python float (0.0 for no arrays)."""
    check_arrays_list("sum_of_squares_foreach", arrays)
    total = 0.0
    for array in arrays:
        total += _sum_of_squares_kernel(np.ascontiguousarray(array).reshape(-1))
    return total
