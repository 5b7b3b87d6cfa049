"""Elementwise functions NumPy lacks, in plain Python/NumPy: the oracle.

    erf(x) = 2/√π ∫₀ˣ e^(-t²) dt
    relu_backward(y, dy) = 0 where y ≤ 0, else dy      (y = max(x, 0), the saved ReLU output)
    gelu_forward(x) = x·Φ(x),   Φ(x) = ½(1 + erf(x/√2)) = ½·erfc(-x/√2)   (the normal CDF)
    gelu_backward(x, dy) = dy·(Φ(x) + x·φ(x)),   φ(x) = e^(-x²/2)/√(2π)   (the normal density)
    approximate="tanh":  y = ½x(1 + tanh u),  u = √(2/π)(x + 0.044715x³)
                         dy/dx = ½(1 + tanh u) + ½x(1 - tanh²u)·u',  u' = √(2/π)(1 + 3·0.044715x²)
                         (and ½(1 + tanh u) = σ(2u), ½(1 - tanh²u) = 2σ(2u)σ(-2u), σ(w) = 1/(1 + e^-w))

GELU's two precisions. float64 inputs take PyTorch's own formulas, ½(1 + erf(x/√2)) and ½(1 + tanh u), with the
C library's erf/tanh/exp, so float64 results agree with torch to the last bits, including its 0 in the far left
tail (1 + erf(-6) = 1 - (1 - 2e-17) is 0 in float64, so gelu(x) = -0.0 for x < -8.3 where x·Φ(x) is -5e-16).
float32 inputs are evaluated in float64 in the forms that keep that tail, ½·erfc(-x/√2) and σ(2u) from e^-|2u|,
and rounded once: the float32 result is then right to float32 precision for every x, the oracle the float32 CPU
kernel is held to (PyTorch's float32 GELU is coarser there: gelu(-5) = -1.19e-6 against -1.43e-6).
"""
import math

import numpy as np

_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])
_erfc_scalar = np.vectorize(math.erfc, otypes=[np.float64])

GELU_APPROXIMATIONS = ("none", "tanh")  # torch.nn.functional.gelu's `approximate`
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
SQRT_HALF = 1.0 / math.sqrt(2.0)  # Φ's argument is -x·SQRT_HALF in every kernel set, rounded alike
GELU_TANH_CUBIC = 0.044715


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


def check_gelu_inputs(kernel, x, grad_y=None, approximate="none"):
    """Raise TypeError / ValueError naming `kernel` unless x (and grad_y) are float arrays of one dtype and shape
    and `approximate` is "none" or "tanh"."""
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"{kernel}: approximate must be 'none' or 'tanh', got {approximate!r}")
    operands = (("x", x),) if grad_y is None else (("x", x), ("grad_y", grad_y))
    for name, value in operands:
        dtype = getattr(value, "dtype", None)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"{kernel}: {name} must be a float32 or float64 array, got {dtype or type(value).__name__}")
    if grad_y is None:
        return
    if x.dtype != grad_y.dtype:
        raise TypeError(f"{kernel}: x is {x.dtype} but grad_y is {grad_y.dtype}; both must share one dtype")
    if tuple(x.shape) != tuple(grad_y.shape):
        raise ValueError(f"{kernel}: x has shape {tuple(x.shape)} but grad_y has shape {tuple(grad_y.shape)}")


def _sigmoid(w):
    """σ(w) = 1/(1 + e^-w), as e^-|w| ≤ 1 over 1 + e^-|w| on each side, so it never overflows."""
    e = np.exp(-np.abs(w))
    return np.where(w >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gelu_factor_and_slope(x, approximate, float32_input):
    """(f, dy/dx) in float64 with y = x·f: f = Φ(x), or ½(1 + tanh u); the tail-keeping forms for float32 input."""
    with np.errstate(invalid="ignore", over="ignore"):  # ±inf give inf·0 = NaN and x³ = ±inf, as in torch
        if approximate == "none":
            if float32_input:
                cdf = 0.5 * _erfc_scalar(-x * SQRT_HALF)
            else:
                cdf = 0.5 * (1.0 + _erf_scalar(x * SQRT_HALF))
            density = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
            return cdf, cdf + x * density
        u = SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x ** 3)
        du_dx = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_CUBIC * x * x)
        if float32_input:
            half_one_plus_tanh = _sigmoid(2.0 * u)
            half_one_minus_tanh_squared = 2.0 * half_one_plus_tanh * _sigmoid(-2.0 * u)
        else:
            t = np.tanh(u)
            half_one_plus_tanh = 0.5 * (1.0 + t)
            half_one_minus_tanh_squared = 0.5 * (1.0 - t * t)
        return half_one_plus_tanh, half_one_plus_tanh + x * half_one_minus_tanh_squared * du_dx


def gelu_forward(x, approximate="none"):
    """y = x·Φ(x) (or the tanh form), a new array of x's dtype.

    >>> gelu_forward(np.array([-1.0, 0.0, 1.0])).round(6).tolist()
    [-0.158655, 0.0, 0.841345]
    """
    check_gelu_inputs("gelu_forward", x, approximate=approximate)
    x64 = x.astype(np.float64)
    factor, _ = _gelu_factor_and_slope(x64, approximate, x.dtype == np.float32)
    with np.errstate(invalid="ignore"):
        y = x64 * factor
    return np.asarray(y).astype(x.dtype, copy=False)  # asarray: NumPy gives a scalar for 0-d arithmetic


def gelu_backward(x, grad_y, approximate="none"):
    """grad_x = grad_y·dy/dx of gelu_forward at x, a new array of x's dtype (±inf gives NaN, as in PyTorch)."""
    check_gelu_inputs("gelu_backward", x, grad_y, approximate)
    x64 = x.astype(np.float64)
    _, slope = _gelu_factor_and_slope(x64, approximate, x.dtype == np.float32)
    with np.errstate(invalid="ignore"):
        grad_x = grad_y.astype(np.float64) * slope
    return np.asarray(grad_x).astype(x.dtype, copy=False)
