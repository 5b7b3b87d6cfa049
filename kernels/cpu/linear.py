"""The bias of a Linear layer as Numba kernels: add it to the product's rows, and sum the rows for its gradient.

Same interface as kernels/reference/linear.py. Shapes: y, grad_y (R, N); bias (N,).
Why it is faster than NumPy's `y += bias` and `grad_y.sum(axis=0)`: those call their compiled inner loop once per
row, and with rows of 64–256 values (a Transformer step's Linear layers) those calls cost more than the arithmetic;
here the row loop is compiled too and the loop over a row's N values is vectorised. Both are serial: one
memory-bound pass over an array that the GEMM has just written (or is about to read) is not worth a parallel
launch at these sizes.
bias_grad adds the rows in order (row 0 first, onto zeros), the order of NumPy's sum(axis=0) over C-contiguous
rows of more than one value, so the engine's bias gradients are the same floats as with the NumPy backend.
"""
import numpy as np
from numba import njit

from kernels.reference.linear import check_bias_inputs


@njit(cache=True)
def _add_bias_kernel(y, bias):
    """for r in range(R): for n in range(N): y[r, n] += bias[n]"""
    n_rows, n_features = y.shape
    for r in range(n_rows):
        for n in range(n_features):
            y[r, n] += bias[n]


@njit(cache=True)
def _bias_grad_kernel(grad_y, out):
    """out = 0;  for r in range(R): for n in range(N): out[n] += grad_y[r, n]"""
    n_rows, n_features = grad_y.shape
    for n in range(n_features):
        out[n] = 0
    for r in range(n_rows):
        for n in range(n_features):
            out[n] += grad_y[r, n]


def add_bias(y, bias):
    """y[r, :] += bias for every row, in place. Returns None."""
    check_bias_inputs("add_bias", y, bias, in_place=True)
    _add_bias_kernel(y, np.ascontiguousarray(bias))


def bias_grad(grad_y):
    """Σ_r grad_y[r, :] -> (N,) array of grad_y's dtype."""
    check_bias_inputs("bias_grad", grad_y)
    out = np.empty(grad_y.shape[1], dtype=grad_y.dtype)
    _bias_grad_kernel(np.ascontiguousarray(grad_y), out)
    return out
