"""Adam and AdamW parameter updates in plain NumPy, in place, following PyTorch's single-tensor formulas exactly.

param, grad, exp_avg, exp_avg_sq: same shape and dtype; param / exp_avg / exp_avg_sq must be C-contiguous
(updating a silent copy would lose the step). step is the 1-based step count after this update.
"""
import math

import numpy as np

_FLOATS = (np.float32, np.float64)


def check_adam_inputs(kernel, param, grad, exp_avg, exp_avg_sq, step):
    """Validate the four arrays and the step count; shared with the cpu backend."""
    for name, array in (("param", param), ("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a numpy.ndarray, got {type(array).__name__}")
        if array.dtype not in _FLOATS or array.dtype != param.dtype:
            raise TypeError(f"{kernel}: {name} is {array.dtype}; all must be float32 or float64 like param "
                            f"({param.dtype})")
        if array.shape != param.shape:
            raise ValueError(f"{kernel}: {name} {array.shape} must have param's shape {param.shape}")
    for name, array in (("param", param), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)):
        if not array.flags.c_contiguous or not array.flags.writeable:
            raise ValueError(f"{kernel}: {name} is updated in place and must be a writeable C-contiguous array")
    if int(step) < 1:
        raise ValueError(f"{kernel}: step is 1-based, got {step}")


def check_foreach_inputs(kernel, params, grads, exp_avgs, exp_avg_sqs, steps):
    """The foreach kernels take five lists (or tuples) of one length, one entry per tensor."""
    lists = (("params", params), ("grads", grads), ("exp_avgs", exp_avgs), ("exp_avg_sqs", exp_avg_sqs),
             ("steps", steps))
    for name, value in lists:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{kernel}: {name} must be a list of arrays (steps: of ints), got {type(value).__name__}")
    lengths = {name: len(value) for name, value in lists}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{kernel}: params, grads, exp_avgs, exp_avg_sqs and steps must have one length each, got "
                         f"{lengths}")


def _adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps):
    """m ← β1 m + (1-β1) g; v ← β2 v + (1-β2) g²; p ← p - lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps)."""
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step)
    step_size = lr / bias_correction1
    exp_avg *= beta1
    exp_avg += (1.0 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * grad * grad
    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    param -= step_size * exp_avg / denom


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adam with L2 weight decay folded into the gradient: g ← g + wd·p, then the Adam update. Returns None."""
    check_adam_inputs("adam_step", param, grad, exp_avg, exp_avg_sq, step)
    if weight_decay != 0.0:
        grad = grad + weight_decay * param
    _adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps)


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=1e-2):
    """AdamW: decoupled decay p ← p·(1 - lr·wd) first, then the Adam update with no L2 term. Returns None."""
    check_adam_inputs("adamw_step", param, grad, exp_avg, exp_avg_sq, step)
    param *= 1.0 - lr * weight_decay
    _adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps)


def adam_step_foreach(params, grads, exp_avgs, exp_avg_sqs, steps, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                      weight_decay=0.0):
    """adam_step on each tensor of the lists in turn (steps: each tensor's step count). Returns None."""
    check_foreach_inputs("adam_step_foreach", params, grads, exp_avgs, exp_avg_sqs, steps)
    for param, grad, exp_avg, exp_avg_sq, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        check_adam_inputs("adam_step_foreach", param, grad, exp_avg, exp_avg_sq, step)
        adam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)


def adamw_step_foreach(params, grads, exp_avgs, exp_avg_sqs, steps, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=1e-2):
    """adamw_step on each tensor of the lists in turn (steps: each tensor's step count). Returns None."""
    check_foreach_inputs("adamw_step_foreach", params, grads, exp_avgs, exp_avg_sqs, steps)
    for param, grad, exp_avg, exp_avg_sq, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        check_adam_inputs("adamw_step_foreach", param, grad, exp_avg, exp_avg_sq, step)
        adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)


def check_arrays_list(kernel, arrays):
    """A list (or tuple) of float32/float64 ndarrays."""
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"{kernel}: arrays must be a list of arrays, got {type(arrays).__name__}")
    for index, array in enumerate(arrays):
        if not isinstance(array, np.ndarray) or array.dtype not in _FLOATS:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise TypeError(f"{kernel}: arrays[{index}] must be a float32 or float64 ndarray, got {got}")


def sum_of_squares_foreach(arrays):
    """Σ_arrays Σ x², each square taken and summed in float64: a Python float (0.0 for no arrays)."""
    check_arrays_list("sum_of_squares_foreach", arrays)
    return sum(float(np.square(array, dtype=np.float64).sum()) for array in arrays)
