"""Batched matrix multiply in plain NumPy: the oracle for every compiled backend.

    out[b, i, j] = sum_k a[b, i, k] * b[b, k, j]        a (B, M, K), b (B, K, N) -> out (B, M, N)

The engine always hands kernels three-dimensional operands (B may be 1), so there is no broadcasting here.

>>> import numpy as np
>>> a = np.ones((1, 2, 3)); b = np.ones((1, 3, 4))
>>> matmul(a, b)[0, 0, 0]
3.0
"""
import numpy as np

_FLOATS = (np.float32, np.float64)


def check_float_array(kernel, name, array, ndim):
    """Raise TypeError/ValueError naming `kernel` unless `array` is a float32/float64 ndarray with `ndim` dims."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{kernel}: {name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in _FLOATS:
        raise TypeError(f"{kernel}: {name} must be float32 or float64, got {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{kernel}: {name} must be {ndim}-D, got shape {array.shape}")


def check_same_dtype(kernel, named_arrays):
    """Raise TypeError unless every array in the (name, array) list has the dtype of the first."""
    first_name, first = named_arrays[0]
    for name, array in named_arrays[1:]:
        if array.dtype != first.dtype:
            raise TypeError(f"{kernel}: {name} is {array.dtype} but {first_name} is {first.dtype}; "
                            f"all float inputs must share one dtype")


def check_matmul_inputs(kernel, a, b):
    """Validate a (B, M, K) and b (B, K, N); shared with the cpu backend so both raise the same errors."""
    check_float_array(kernel, "a", a, 3)
    check_float_array(kernel, "b", b, 3)
    check_same_dtype(kernel, [("a", a), ("b", b)])
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"{kernel}: shapes a {a.shape} and b {b.shape} do not match; "
                         f"need a (B, M, K) and b (B, K, N)")


def matmul(a, b):
    """Batched a @ b for a (B, M, K) and b (B, K, N); returns a new (B, M, N) array of a's dtype."""
    check_matmul_inputs("matmul", a, b)
    return np.matmul(a, b)
