"""Adam and AdamW updates as Numba kernels: one fused pass over param, grad and both moments, in place.

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
from kernels.reference.optim import check_adam_inputs

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


def _run(kernel, param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, decay, l2):
    check_adam_inputs(kernel, param, grad, exp_avg, exp_avg_sq, step)
    bias_correction1 = 1.0 - beta1 ** step
    inv_bc2_sqrt = 1.0 / math.sqrt(1.0 - beta2 ** step)
    step_size = lr / bias_correction1
    flat = (param.reshape(-1), np.ascontiguousarray(grad).reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1))
    compiled = _adam_kernel_parallel if param.size >= _PARALLEL_MIN_SIZE else _adam_kernel_serial
    scalar = param.dtype.type  # each rounded once from its float64 value, as NumPy rounds a Python float
    compiled(*flat, scalar(decay), scalar(l2), scalar(beta1), scalar(1.0 - beta1), scalar(beta2), scalar(1.0 - beta2),
             scalar(step_size), scalar(inv_bc2_sqrt), scalar(eps))


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adam with L2 decay folded into the gradient (g ← g + wd·p), in place. Returns None."""
    _run("adam_step", param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, 1.0, weight_decay)


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=1e-2):
    """AdamW: p ← p·(1 - lr·wd), then Adam with no L2 term, in place. Returns None."""
    _run("adamw_step", param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, 1.0 - lr * weight_decay, 0.0)
