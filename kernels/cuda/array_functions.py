"""NumPy functions on CudaArray (NEP 18): `np.sum`, `np.where`, `np.pad`, `np.concatenate`, `np.moveaxis`, ...

NumPy calls `CudaArray.__array_function__(func, ...)` for any function one of whose arguments is a CudaArray; it
looks `func.__name__` up in FUNCTIONS below. Most entries are a line or two on top of CudaArray's own methods
(reshape, transpose, reductions, indexing); `where` launches its own kernel. A function not listed raises
NotImplementedError naming it, rather than silently copying the data to the host.
"""
import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from kernels.cuda import elementwise
from kernels.cuda.array import CudaArray, as_operand, broadcast_to, empty, full, no_out, unsupported

FUNCTIONS = {}  # NumPy function name -> its implementation for CudaArray


def _implements(*names):
    def register(function):
        for name in names:
            FUNCTIONS[name] = function
        return function
    return register


@_implements("sum")
def _sum(a, axis=None, dtype=None, out=None, keepdims=False, **ignored):
    return a.sum(axis=axis, dtype=dtype, out=out, keepdims=keepdims)


@_implements("max", "amax")
def _max(a, axis=None, out=None, keepdims=False, **ignored):
    return a.max(axis=axis, out=out, keepdims=keepdims)


@_implements("min", "amin")
def _min(a, axis=None, out=None, keepdims=False, **ignored):
    return a.min(axis=axis, out=out, keepdims=keepdims)


@_implements("mean")
def _mean(a, axis=None, dtype=None, out=None, keepdims=False, **ignored):
    return a.mean(axis=axis, dtype=dtype, out=out, keepdims=keepdims)


@_implements("argmax")
def _argmax(a, axis=None, out=None, keepdims=False):
    return a.argmax(axis=axis, out=out, keepdims=keepdims)


@_implements("argmin")
def _argmin(a, axis=None, out=None, keepdims=False):
    return a.argmin(axis=axis, out=out, keepdims=keepdims)


@_implements("any")
def _any(a, axis=None, out=None, keepdims=False, **ignored):
    return a.any(axis=axis, out=out, keepdims=keepdims)


@_implements("all")
def _all(a, axis=None, out=None, keepdims=False, **ignored):
    return a.all(axis=axis, out=out, keepdims=keepdims)


@_implements("where")
def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise unsupported("np.where(condition) with one argument (its shape depends on the data)")
    condition = as_operand(condition, np.bool_)
    dtype = np.result_type(*[v.dtype if isinstance(v, CudaArray) else v for v in (x, y)])
    a, b = as_operand(x, dtype), as_operand(y, dtype)
    out = empty(np.broadcast_shapes(condition.shape, a.shape, b.shape), dtype)
    elementwise.broadcast_launch(elementwise.where_kernel, out._flat,
                                 [(condition._flat, condition.shape), (a._flat, a.shape), (b._flat, b.shape)])
    return out


_implements("broadcast_to")(broadcast_to)


@_implements("transpose")
def _transpose(a, axes=None):
    return a.transpose(axes)


@_implements("swapaxes")
def _swapaxes(a, axis1, axis2):
    return a.swapaxes(axis1, axis2)


@_implements("moveaxis")
def _moveaxis(a, source, destination):
    source = normalize_axis_tuple(source, a.ndim, "source")
    destination = normalize_axis_tuple(destination, a.ndim, "destination")
    order = [n for n in range(a.ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return a.transpose(order)


@_implements("reshape")
def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    return a.reshape(shape if shape is not None else newshape, order=order)


@_implements("ravel")
def _ravel(a, order="C"):
    return a.reshape(-1)


@_implements("squeeze")
def _squeeze(a, axis=None):
    return a.squeeze(axis)


@_implements("expand_dims")
def _expand_dims(a, axis):
    axes = normalize_axis_tuple(axis, a.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1))
    shape = iter(a.shape)
    return a.reshape([1 if d in axes else next(shape) for d in range(a.ndim + len(axes))])


@_implements("copy")
def _copy(a, order="K", subok=False):
    return a.copy()


@_implements("pad")
def _pad(array, pad_width, mode="constant", constant_values=0, **options):
    if mode != "constant" or options or np.ndim(constant_values) != 0:
        raise unsupported(f"np.pad(mode={mode!r}) with non-scalar constants or options {sorted(options)}")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    shape = tuple(int(n + before + after) for n, (before, after) in zip(array.shape, widths))
    out = full(shape, constant_values, array.dtype)
    out[tuple(slice(int(before), int(before) + n) for n, (before, _) in zip(array.shape, widths))] = array
    return out


@_implements("concatenate")
def _concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    no_out(out, "concatenate")
    arrays = [as_operand(a) for a in arrays]
    if axis is None:
        arrays, axis = [a.reshape(-1) for a in arrays], 0
    first = arrays[0]
    axis = normalize_axis_index(axis, first.ndim)
    dtype = np.dtype(dtype) if dtype is not None else np.result_type(*[a.dtype for a in arrays])
    shape = list(first.shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    result = empty(shape, dtype)
    start = 0
    for a in arrays:
        window = [slice(None)] * first.ndim
        window[axis] = slice(start, start + a.shape[axis])
        result[tuple(window)] = a.astype(dtype, copy=False)
        start += a.shape[axis]
    return result


@_implements("stack")
def _stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = [as_operand(a) for a in arrays]
    axis = normalize_axis_index(axis, arrays[0].ndim + 1)
    return _concatenate([_expand_dims(a, axis) for a in arrays], axis=axis, out=out, dtype=dtype)


@_implements("split", "array_split")
def _split(ary, indices_or_sections, axis=0):
    axis = normalize_axis_index(axis, ary.ndim)
    n = ary.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        step = n // indices_or_sections
        points = list(range(step, n, step))
    else:
        points = [int(p) for p in indices_or_sections]
    bounds = [0] + points + [n]
    pieces = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        window = [slice(None)] * ary.ndim
        window[axis] = slice(start, stop)
        pieces.append(ary[tuple(window)])
    return pieces


@_implements("zeros_like")
def _zeros_like(a, dtype=None, order="K", subok=True, shape=None, **ignored):
    return full(a.shape if shape is None else shape, 0, a.dtype if dtype is None else dtype)


@_implements("ones_like")
def _ones_like(a, dtype=None, order="K", subok=True, shape=None, **ignored):
    return full(a.shape if shape is None else shape, 1, a.dtype if dtype is None else dtype)


@_implements("full_like")
def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **ignored):
    return full(a.shape if shape is None else shape, fill_value, a.dtype if dtype is None else dtype)


@_implements("empty_like")
def _empty_like(a, dtype=None, order="K", subok=True, shape=None, **ignored):
    return empty(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


@_implements("clip")
def _clip(a, a_min=None, a_max=None, out=None, **bounds):
    a_min = bounds.pop("min", a_min)
    a_max = bounds.pop("max", a_max)
    result = a
    if a_min is not None:
        result = np.maximum(result, a_min)
    if a_max is not None:
        result = np.minimum(result, a_max)
    if out is not None:
        out[...] = result
        return out
    return result if result is not a else a.copy()


@_implements("result_type")
def _result_type(*arrays_and_dtypes):
    return np.result_type(*[v.dtype if isinstance(v, CudaArray) else v for v in arrays_and_dtypes])


@_implements("shape")
def _shape(a):
    return a.shape


@_implements("ndim")
def _ndim(a):
    return a.ndim


@_implements("size")
def _size(a, axis=None):
    return a.size if axis is None else a.shape[axis]
