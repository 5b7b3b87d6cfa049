"""Gradient clipping: rescale all gradients together by their total norm, or clamp each element.

    total_norm = ‖(‖g_1‖_p, ‖g_2‖_p, ...)‖_p = (Σ_i Σ_j |g_ij|^p)^(1/p)      (max_ij |g_ij| when p = inf)
    g ← g · min(1, max_norm / (total_norm + 1e-6))

The 1e-6 keeps the division finite when every gradient is zero (PyTorch adds the same constant).
"""
import math

import numpy as np

from tinygrad_edu import backend
from tinygrad_edu.tensor import Tensor, is_device_array


def _grads(parameters):
    """The parameters (a Tensor or an iterable of them) that have a gradient."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [param for param in parameters if param.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients in place so their total `norm_type`-norm is at most `max_norm`; return the norm.

    The norm is taken over all gradients as if they were one vector, and returned as a 0-d Tensor (the norm
    before clipping) with the first gradient's dtype, accumulated in float64. With no gradients it is 0.
    `foreach` (PyTorch's choice of a multi-tensor kernel) is accepted and changes nothing here.

    >>> import tinygrad_edu as tg
    >>> w = tg.tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()            # g = [6, 8], ‖g‖ = 10
    >>> clip_grad_norm_([w], max_norm=5.0).item()
    10.0
    >>> w.grad.data.round(4)                # halved, to norm 5 (up to the 1e-6)
    array([3., 4.], dtype=float32)
    """
    params = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not norm_type > 0.0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    if not params:
        return Tensor(0.0)
    dtype = params[0].grad.dtype
    # float64 accumulation: a float32 sum of squares of many small gradients loses digits.
    if is_device_array(params[0].grad.data):
        return _clip_grad_norm_on_device(params, max_norm, norm_type, error_if_nonfinite)
    if math.isinf(norm_type):
        grads = [np.asarray(param.grad.data, dtype=np.float64) for param in params]
        total_norm = max(float(np.max(np.abs(grad))) if grad.size else 0.0 for grad in grads)
    elif norm_type == 2.0:
        # Σ g² by the kernel set, not np.linalg.norm: its BLAS dot stalls right after a parallel Numba kernel
        # (OpenBLAS's threads wait for cores Numba's OpenMP workers still spin on), and the sum is all a norm needs.
        total = backend.kernels().sum_of_squares_foreach([param.grad.data for param in params])
        total_norm = total ** 0.5
    else:
        grads = [np.asarray(param.grad.data, dtype=np.float64) for param in params]
        total = sum(float(np.sum(np.abs(grad) ** norm_type, dtype=np.float64)) for grad in grads)
        total_norm = total ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total_norm}; "
                           f"pass error_if_nonfinite=False to clip anyway")
    # np.minimum, not min(): a NaN norm must give NaN gradients (as in PyTorch), not silently skip clipping.
    clip_coef = float(np.minimum(max_norm / (total_norm + 1e-6), 1.0))
    if clip_coef == 1.0:
        return Tensor(np.array(total_norm, dtype=dtype))  # g · 1.0 is g, bit for bit: nothing to rescale
    for param in params:
        # Multiply (not divide) so a coefficient of exactly 1.0 leaves the gradient bit-for-bit unchanged.
        param.grad.data = param.grad.data * clip_coef
    return Tensor(np.array(total_norm, dtype=dtype))


def _clip_grad_norm_on_device(params, max_norm, norm_type, error_if_nonfinite):
    """clip_grad_norm_ for gradients on the GPU: the same math with NumPy calls on CudaArrays, so the norm and the
    scale stay on the device (no copy to the host) unless error_if_nonfinite asks to look at the norm."""
    dtype = params[0].grad.dtype
    total = None
    for param in params:
        grad = param.grad.data.astype(np.float64)
        if math.isinf(norm_type):
            part = np.max(np.abs(grad)) if grad.size else np.zeros_like(grad, shape=())
            total = part if total is None else np.maximum(total, part)
        else:
            part = np.sum(np.abs(grad) ** norm_type)
            total = part if total is None else total + part
    if not math.isinf(norm_type):
        total = total ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):  # .item(): the one copy to the host
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{total.item()}; pass error_if_nonfinite=False to clip anyway")
    clip_coef = np.minimum(max_norm / (total + 1e-6), 1.0)
    for param in params:
        param.grad.data = param.grad.data * clip_coef.astype(param.grad.dtype)
    return Tensor._from_array(total.astype(dtype), device=params[0].device)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [-clip_value, clip_value], in place. Returns None (`foreach` as above).

    >>> import tinygrad_edu as tg
    >>> w = tg.tensor([1.0, -1.0], requires_grad=True)
    >>> (w * tg.tensor([5.0, 0.5])).sum().backward()
    >>> clip_grad_value_([w], 1.0)
    >>> w.grad.data
    array([1. , 0.5], dtype=float32)
    """
    clip_value = float(clip_value)
    if clip_value < 0.0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for param in _grads(parameters):
        param.grad.data = np.clip(param.grad.data, -clip_value, clip_value)
