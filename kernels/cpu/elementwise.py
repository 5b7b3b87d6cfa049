"""Elementwise functions NumPy lacks, compiled with Numba.

NumPy has no erf, and `np.vectorize(math.erf)` calls Python once per element. A Numba `vectorize` ufunc runs
the C library's erf in a compiled loop instead: same values, about two orders of magnitude faster. Serial on
purpose: the arrays here are small enough that threads would cost more than they save.

ReLU's backward, 0 where y ≤ 0 else dy, is np.where(y <= 0, 0, dy) in NumPy, and NumPy's where takes a branch
per element: about half of a ReLU output is 0, in no pattern, so the branch is mispredicted half the time and
the loop runs an order of magnitude slower than a plain copy. The compiled ufunc below turns the choice into a
vector select (no branch) and reads y and dy once, without a temporary bool mask.
"""
import math

import numpy as np
from numba import vectorize

from kernels.reference.elementwise import check_relu_backward_inputs


@vectorize(["float32(float32)", "float64(float64)"], cache=True)
def _erf_ufunc(x):
    return math.erf(x)


def erf(x):
    """The error function, elementwise, in x's dtype."""
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        raise TypeError(f"erf: expected a float32 or float64 ndarray, got {getattr(x, 'dtype', type(x).__name__)}")
    return _erf_ufunc(x)


@vectorize(["float32(float32, float32)", "float64(float64, float64)"], cache=True)
def _relu_backward_ufunc(y, grad_y):
    # y <= 0 is False for a NaN y, so NaN passes grad_y through, as in PyTorch
    return 0 if y <= 0 else grad_y


def relu_backward(y, grad_y):
    """0 where y ≤ 0, else grad_y: ReLU's input gradient from its output y, a new array of grad_y's dtype.

    >>> relu_backward(np.array([0.0, 2.0, np.nan]), np.array([5.0, 6.0, 7.0])).tolist()
    [0.0, 6.0, 7.0]
    """
    check_relu_backward_inputs("relu_backward", y, grad_y)
    out = np.empty(grad_y.shape, dtype=grad_y.dtype)
    with np.errstate(invalid="ignore"):  # the compiled NaN <= 0 raises the FPU's invalid flag; np.where's does not
        return _relu_backward_ufunc(y, grad_y, out=out)
