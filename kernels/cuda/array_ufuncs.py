"""NumPy ufuncs on CudaArray (NEP 13): how `np.exp(x)`, `a * b`, `a > b` and `np.add.at` become kernel launches.

NumPy calls `CudaArray.__array_ufunc__(ufunc, method, *inputs)` whenever an input is a CudaArray, and that lands in
`apply` below:

    method "__call__":  np.exp(x), a * b      the dtypes NumPy would use (ufunc.resolve_dtypes, so Python scalars
                                              stay "weak" as in NumPy 2), operands uploaded or cast to them, then
                                              the op's kernel from kernels/cuda/elementwise.py (UNARY or BINARY)
    method "reduce":    np.add.reduce(x)      the reductions of kernels/cuda/array.py
    method "at":        np.add.at(x, i, v)    an atomic scatter-add (kernels/cuda/array_indexing.py)
"""
import numpy as np

from kernels.cuda import elementwise
from kernels.cuda.array import CudaArray, as_operand, empty, reduce_axes, unsupported, wrap
from kernels.cuda.array_indexing import add_at
from kernels.cuda.gemm import matmul as matmul_kernel

# ufuncs that run as another op: NumPy names an op differently, or bool bitwise ops are logic.
_SAME_AS = {"divide": "true_divide", "fmax": "maximum", "fmin": "minimum", "fabs": "absolute"}
_BITWISE_ON_BOOL = {"bitwise_and": "logical_and", "bitwise_or": "logical_or", "bitwise_xor": "logical_xor"}
_REDUCTIONS = {"add": "sum", "maximum": "max", "minimum": "min", "logical_and": "all", "logical_or": "any"}


def apply(ufunc, method, inputs, out, kwargs):
    """What CudaArray.__array_ufunc__ returns for `ufunc.method(*inputs, out=out, **kwargs)`."""
    if method == "reduce" and ufunc.__name__ in _REDUCTIONS and len(inputs) == 1 and out is None:
        axis = kwargs.pop("axis", 0)
        keepdims = kwargs.pop("keepdims", False)
        if not kwargs:
            return reduce_axes(inputs[0], _REDUCTIONS[ufunc.__name__], axis, keepdims)
    if kwargs:
        raise unsupported(f"np.{ufunc.__name__}(..., {', '.join(kwargs)}=...)")
    if method == "__call__":
        result = call(ufunc, inputs)
    elif method == "at" and ufunc.__name__ == "add":
        target, index, values = inputs
        if not isinstance(target, CudaArray):
            raise TypeError("np.add.at on cuda: the target must be a CudaArray")
        add_at(target, index, values)
        return None
    else:
        raise unsupported(f"np.{ufunc.__name__}.{method}")
    if out is None:
        return result
    (target,) = out
    if not isinstance(target, CudaArray):
        raise TypeError(f"np.{ufunc.__name__}: out= must be a CudaArray when an input is on cuda, got "
                        f"{type(target).__name__}")
    target[...] = result
    return target


def _resolve_type(value):
    """What ufunc.resolve_dtypes takes: a dtype, or the Python type of a 'weak' Python scalar (NEP 50)."""
    if isinstance(value, CudaArray):
        return value.dtype
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return type(value)
    return np.asarray(value).dtype


def call(ufunc, inputs):
    """ufunc(*inputs) with at least one CudaArray input: a new CudaArray of NumPy's result dtype."""
    name = ufunc.__name__
    try:
        loop_dtypes = ufunc.resolve_dtypes(tuple(_resolve_type(v) for v in inputs) + (None,) * ufunc.nout)
    except Exception as error:
        raise TypeError(f"np.{name} on cuda: no loop for {[_resolve_type(v) for v in inputs]}: {error}") from None
    operands = [as_operand(v, dtype) for v, dtype in zip(inputs, loop_dtypes)]
    out_dtype = loop_dtypes[-1]
    if name in _BITWISE_ON_BOOL and loop_dtypes[0] == np.bool_:
        name = _BITWISE_ON_BOOL[name]
    name = _SAME_AS.get(name, name)
    if name == "square":
        return call(np.multiply, (operands[0], operands[0]))
    if name == "reciprocal":
        return call(np.true_divide, (1, operands[0]))
    if name == "matmul":
        return _matmul(*operands)
    if ufunc.nin == 2 and name in elementwise.BINARY:
        a, b = operands
        out = empty(np.broadcast_shapes(a.shape, b.shape), out_dtype)
        elementwise.broadcast_launch(elementwise.BINARY[name], out._flat, [(a._flat, a.shape), (b._flat, b.shape)])
        return out
    if ufunc.nin == 1 and name in elementwise.UNARY:
        (a,) = operands
        out = empty(a.shape, out_dtype)
        elementwise.flat_launch(elementwise.UNARY[name], a._flat, out._flat)
        return out
    raise unsupported(f"np.{ufunc.__name__}")


def _matmul(a, b):
    """a @ b for 2-D or 3-D (batch) operands of one float dtype, through kernels/cuda/gemm.py."""
    if a.ndim not in (2, 3) or b.ndim != a.ndim:
        raise unsupported(f"matmul of shapes {a.shape} and {b.shape} (only 2-D @ 2-D and 3-D @ 3-D)")
    a3 = a.reshape((1,) + a.shape) if a.ndim == 2 else a
    b3 = b.reshape((1,) + b.shape) if b.ndim == 2 else b
    result = wrap(matmul_kernel(a3.device_array, b3.device_array))
    return result.reshape(result.shape[1:]) if a.ndim == 2 else result
