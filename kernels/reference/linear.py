"""The bias of a Linear layer, y = x Wᵀ + b, in plain NumPy: the oracle for the cpu and cuda kernels.

    add_bias(y, bias):   y[r, :] += bias for every row r, in place      y (R, N), bias (N,)
    bias_grad(grad_y):   Σ_r grad_y[r, :] -> (N,)                        the bias's gradient

bias_grad is NumPy's grad_y.sum(axis=0): for C-contiguous rows of more than one value NumPy adds the rows in
order onto a zero start, which the other kernel sets do for every layout (so +0.0, not -0.0, for a column of
-0.0); for one column or a transposed view NumPy sums pairwise along memory, which differs in the last bits.
"""
import numpy as np

_FLOATS = (np.float32, np.float64)


def check_bias_inputs(kernel, y, bias=None, in_place=False):
    """Validate y (R, N) (writeable and C-contiguous when updated in place) and, when given, bias (N,)."""
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{kernel}: y must be a numpy.ndarray, got {type(y).__name__}")
    if y.dtype not in _FLOATS:
        raise TypeError(f"{kernel}: y must be float32 or float64, got {y.dtype}")
    if y.ndim != 2:
        raise ValueError(f"{kernel}: y must be 2-D (rows, features), got shape {y.shape}")
    if in_place and not (y.flags.c_contiguous and y.flags.writeable):
        raise ValueError(f"{kernel}: y is updated in place and must be a writeable C-contiguous array")
    if bias is None:
        return
    if not isinstance(bias, np.ndarray) or bias.dtype != y.dtype:
        got = bias.dtype if isinstance(bias, np.ndarray) else type(bias).__name__
        raise TypeError(f"{kernel}: bias must be a {y.dtype} ndarray like y, got {got}")
    if bias.shape != (y.shape[1],):
        raise ValueError(f"{kernel}: bias {bias.shape} must be ({y.shape[1]},) for y {y.shape}")


def add_bias(y, bias):
    """y[r, :] += bias for every row, in place. Returns None."""
    check_bias_inputs("add_bias", y, bias, in_place=True)
    y += bias


def bias_grad(grad_y):
    """Σ_r grad_y[r, :]: an (N,) array of grad_y's dtype."""
    check_bias_inputs("bias_grad", grad_y)
    return grad_y.sum(axis=0)
