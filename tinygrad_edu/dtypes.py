"""Data types and PyTorch's type-promotion rule, written once for every op that mixes dtypes.

The engine stores NumPy arrays, so a dtype is a `numpy.dtype`; `tinygrad_edu.float32`, `.long`, `.bool` ... are
the NumPy types under PyTorch's names.

Type promotion (what `a + b` returns when a and b differ) follows PyTorch, not NumPy. Operands fall into three
classes, and a class of lower rank decides the result only if it is of a higher *category* (bool < integer <
floating):

    1. tensors with at least one dimension            float32 tensor + float64 0-d tensor -> float32
    2. 0-d tensors                                      int64 tensor + float64 0-d tensor   -> float64
    3. Python numbers (bool -> bool, int -> int64,      float32 tensor + 2.5               -> float32
       float -> the default float, float32)           int64 tensor + 2.5                 -> float32

Within a class the usual promotion applies (int32 + int64 -> int64, float32 + float64 -> float64). NumPy, by
contrast, lets a float64 0-d array widen a float32 array, and turns `int tensor + 2.5` into float64.
"""
import numpy as np

# PyTorch's aliases that are also Python builtins (torch.float, torch.int, torch.bool) are set in
# tinygrad_edu/__init__.py only, so no module here shadows a builtin.
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int64 = long = np.dtype(np.int64)
int32 = np.dtype(np.int32)
int16 = short = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

DEFAULT_FLOAT = float32
FLOAT_DTYPES = (float32, float64)

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < floating


def category(dtype):
    """0 for bool, 1 for integers, 2 for floating point."""
    return _CATEGORY[np.dtype(dtype).kind]


def scalar_dtype(value):
    """The dtype a Python (or NumPy) number takes part in promotion with: bool, int64 or the default float."""
    if isinstance(value, (np.bool_, bool)):
        return bool_
    if isinstance(value, (np.integer, int)):
        return int64
    if isinstance(value, (np.floating, float)):
        return DEFAULT_FLOAT
    raise TypeError(f"unsupported scalar {value!r} of type {type(value).__name__}")


def promote_types(a, b):
    """PyTorch's promote_types: the wider of two dtypes of one category, else the one of the higher category.

    Unlike NumPy, a float never widens because of an integer: float32 with int64 is float32 (NumPy: float64).
    """
    a, b = np.dtype(a), np.dtype(b)
    if category(a) != category(b):
        return a if category(a) > category(b) else b
    return np.promote_types(a, b)


def _promote_within(dtypes):
    result = None
    for dtype in dtypes:
        result = dtype if result is None else promote_types(result, dtype)
    return result


def _combine(higher, lower):
    """PyTorch's combine_categories: the result of a class of operands with those of lower rank."""
    if higher is None:
        return lower
    if lower is None or category(higher) == 2:
        return higher
    if category(higher) == 0 or category(lower) == 2:
        return promote_types(higher, lower)
    return higher


def result_type(*operands):
    """The dtype PyTorch gives an op over `operands` (tensors, arrays, Python numbers).

    >>> import tinygrad_edu as tg
    >>> result_type(tg.ones(3), tg.tensor(1.0, dtype=tg.float64))
    dtype('float32')
    >>> result_type(tg.ones(3, dtype=tg.long), 2.5)
    dtype('float32')
    """
    dimensioned, zero_dim, scalars = [], [], []
    for operand in operands:
        dtype = getattr(operand, "dtype", None)
        if dtype is None or isinstance(operand, np.generic):
            scalars.append(scalar_dtype(operand))
        elif len(operand.shape) == 0:
            zero_dim.append(np.dtype(dtype))
        else:
            dimensioned.append(np.dtype(dtype))
    return _combine(_promote_within(dimensioned), _combine(_promote_within(zero_dim), _promote_within(scalars)))
