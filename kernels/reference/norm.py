"""Layer normalisation over the last axis in plain NumPy: the oracle for the cpu kernel.

Shapes: x (R, D) (the engine flattens leading dims), weight / bias (D,) or None; mean, rstd (R,).
"""
import numpy as np

_FLOATS = (np.float32, np.float64)


def check_norm_inputs(kernel, x, named_vectors, named_matrices=()):
    """Validate x (R, D), the (name, array-or-None, length) vectors and (name, array) matrices shaped like x."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{kernel}: x must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"{kernel}: x must be float32 or float64, got {x.dtype}")
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{kernel}: x must be 2-D (R, D) with D > 0, got shape {x.shape}")
    for name, array, length in named_vectors:
        if array is None:
            continue
        if not isinstance(array, np.ndarray) or array.dtype != x.dtype:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise TypeError(f"{kernel}: {name} must be a {x.dtype} ndarray like x, got {got}")
        if array.shape != (length,):
            raise ValueError(f"{kernel}: {name} {array.shape} must be ({length},) for x {x.shape}")
    for name, array in named_matrices:
        if not isinstance(array, np.ndarray) or array.dtype != x.dtype:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise TypeError(f"{kernel}: {name} must be a {x.dtype} ndarray like x, got {got}")
        if array.shape != x.shape:
            raise ValueError(f"{kernel}: {name} {array.shape} must match x {x.shape}")


def layer_norm_forward(x, weight=None, bias=None, eps=1e-5):
    """x̂ = (x - μ)·rstd, rstd = 1/sqrt(var + eps) (biased var); y = x̂·w + b.  Returns (y, mean, rstd)."""
    n_rows, n_features = (x.shape if isinstance(x, np.ndarray) and x.ndim == 2 else (0, 0))
    check_norm_inputs("layer_norm_forward", x, [("weight", weight, n_features), ("bias", bias, n_features)])
    mean = x.mean(axis=1)
    centred = x - mean[:, None]
    var = (centred * centred).mean(axis=1)
    rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    y = centred * rstd[:, None]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y, mean, rstd


def layer_norm_backward(grad_y, x, weight, mean, rstd):
    """gx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)), ĝ = g·w;  gw = Σ_r g·x̂;  gb = Σ_r g.

    Returns (grad_x, grad_weight, grad_bias); the last two are None when weight is None.
    """
    n_rows, n_features = (x.shape if isinstance(x, np.ndarray) and x.ndim == 2 else (0, 0))
    check_norm_inputs("layer_norm_backward", x,
                      [("weight", weight, n_features), ("mean", mean, n_rows), ("rstd", rstd, n_rows)],
                      [("grad_y", grad_y)])
    x_hat = (x - mean[:, None]) * rstd[:, None]
    g_hat = grad_y * weight if weight is not None else grad_y
    mean_g = g_hat.mean(axis=1, keepdims=True)
    mean_gx = (g_hat * x_hat).mean(axis=1, keepdims=True)
    grad_x = rstd[:, None] * (g_hat - mean_g - x_hat * mean_gx)
    if weight is None:
        return grad_x, None, None
    return grad_x, (grad_y * x_hat).sum(axis=0), grad_y.sum(axis=0)
