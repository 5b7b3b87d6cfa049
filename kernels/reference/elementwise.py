"""Elementwise functions NumPy lacks, in plain Python/NumPy: the oracle.

    erf(x) = 2/√π ∫₀ˣ e^(-t²) dt     (for the exact GELU, x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)))
    relu_backward(y, dy) = 0 where y ≤ 0, else dy      (y = max(x, 0), the saved ReLU output)
"""
import math

import numpy as np

_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


def erf(x):
    """The error function, elementwise, in x's dtype (one Python call per element: clear, slow)."""
    return _erf_scalar(x).astype(x.dtype, copy=False)


def check_relu_backward_inputs(kernel, y, grad_y):
    """Raise TypeError / ValueError naming `kernel` unless y and grad_y are float arrays of one dtype and shape."""
    for name, value in (("y", y), ("grad_y", grad_y)):
        dtype = getattr(value, "dtype", None)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"{kernel}: {name} must be a float32 or float64 array, got {dtype or type(value).__name__}")
    if y.dtype != grad_y.dtype:
        raise TypeError(f"{kernel}: y is {y.dtype} but grad_y is {grad_y.dtype}; both must share one dtype")
    if tuple(y.shape) != tuple(grad_y.shape):
        raise ValueError(f"{kernel}: y has shape {tuple(y.shape)} but grad_y has shape {tuple(grad_y.shape)}")


def relu_backward(y, grad_y):
    """0 where y ≤ 0, else grad_y, in grad_y's dtype. A comparison with NaN is False, so a NaN y passes grad_y."""
    check_relu_backward_inputs("relu_backward", y, grad_y)
    return np.where(y <= 0, np.zeros((), dtype=grad_y.dtype), grad_y)
