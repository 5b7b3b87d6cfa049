"""`CudaArray`: a NumPy-compatible array whose data lives on the GPU (the way CuPy does it, in miniature).

The engine's ops are written with NumPy (`np.exp(x)`, `a * b`, `np.where`, `np.sum(x, axis=...)`, `x.reshape`,
`np.broadcast_to`, `np.pad`, `np.add.at`, ...). Rather than write every op twice, device data gets a type that
NumPy itself hands those calls to, through its two dispatch protocols:

    np.exp(x), a * b, a > b, np.add.at(...)   ->  CudaArray.__array_ufunc__     (NEP 13)
    np.sum, np.where, np.pad, np.moveaxis ... ->  CudaArray.__array_function__  (NEP 18)

and each of those runs numba.cuda kernels (kernels/cuda/elementwise.py, indexing.py, reduce.py). So
`Mul.forward(ctx, a, b): return a * b` is the same line on the CPU and on the GPU.

Representation: one flat C-contiguous device buffer plus a shape and dtype. Reshapes share the buffer (as NumPy
views do); transposes, broadcasts and slices are gathered into a new buffer (one kernel each; CuPy keeps strided
views instead, at the price of strides in every kernel). 0-d arrays hold a buffer of one element.

Rules that keep data on the device:
  * nothing converts to NumPy implicitly: `np.asarray(cuda_array)` raises TypeError; copy explicitly with
    `.get()` (the one device -> host copy, also behind `item()`, `tolist()`, `float()`, `bool()` and `repr`);
  * host operands (NumPy arrays of masks, indices, constants) are *uploaded*, never the other way round;
    Python and NumPy scalars are passed to a fill kernel by value (no copy at all);
  * anything not implemented raises NotImplementedError naming the NumPy function and "on cuda".

Run it without a GPU under the simulator: NUMBA_ENABLE_CUDASIM=1 (set before numba is imported).

>>> x = to_cuda(np.arange(6, dtype=np.float32).reshape(2, 3))    # doctest: +SKIP
>>> (np.exp(x) * 2).sum(axis=1).get()                              # doctest: +SKIP
"""
import numpy as np
from numba import cuda
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple
from numpy.lib.mixins import NDArrayOperatorsMixin

from kernels.cuda import elementwise, indexing, reduce
from kernels.cuda._device import require_cuda

_BINARY = {"add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div", "divide": "div",
           "maximum": "maximum", "minimum": "minimum", "power": "pow", "fmax": "maximum", "fmin": "minimum"}
_COMPARE = {"greater": "greater", "greater_equal": "greater_equal", "less": "less", "less_equal": "less_equal",
            "equal": "equal", "not_equal": "not_equal", "logical_and": "logical_and", "logical_or": "logical_or",
            "logical_xor": "logical_xor"}
_BITWISE_ON_BOOL = {"bitwise_and": "logical_and", "bitwise_or": "logical_or", "bitwise_xor": "logical_xor"}
_UNARY = {"negative": "neg", "exp": "exp", "log": "log", "tanh": "tanh", "sqrt": "sqrt", "absolute": "abs",
          "fabs": "abs", "sign": "sign", "log1p": "log1p", "expm1": "expm1", "positive": "copy"}
_PREDICATE = {"isfinite": "isfinite", "isnan": "isnan", "isinf": "isinf", "logical_not": "logical_not"}
_REDUCE_UFUNC = {"add": "sum", "maximum": "max", "minimum": "min", "logical_and": "all", "logical_or": "any"}


def _unsupported(what):
    return NotImplementedError(f"{what} is not supported on cuda (CudaArray); move the data with .get() / "
                               f"Tensor.to('cpu') if you need it")


def _contiguous_strides(shape):
    """Element strides of a C-contiguous array of `shape`."""
    strides = []
    step = 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


class CudaArray(NDArrayOperatorsMixin):
    """An n-d array on the GPU: a flat device buffer, a shape and a dtype. Use it like a NumPy array."""

    is_cuda_array = True  # the duck-typed marker the engine checks (it never imports numba on the CPU path)
    __slots__ = ("_buffer", "shape", "dtype")

    def __init__(self, buffer, shape, dtype):
        self._buffer = buffer  # 1-D C-contiguous numba device array with max(1, size) or size elements
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)

    # ----- attributes --------------------------------------------------------------------------------------
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def T(self):
        return self.transpose()

    @property
    def device_array(self):
        """The numba device array (shaped, sharing this buffer) that the kernels in kernels/cuda take."""
        return self._buffer.reshape(self.shape)

    @property
    def _flat(self):
        return self._buffer

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    # ----- explicit copies to the host ---------------------------------------------------------------------
    def get(self):
        """Copy to a new NumPy array: the only device -> host transfer (as CuPy's `get`)."""
        return self._buffer.copy_to_host().reshape(self.shape)

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.get().item()

    def tolist(self):
        return self.get().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __repr__(self):
        return f"CudaArray({np.array2string(self.get(), separator=', ')}, dtype={self.dtype})"

    def __array__(self, dtype=None, copy=None):
        raise TypeError("implicit conversion of a CudaArray to a NumPy array is not allowed (it would copy from the "
                        "GPU); call .get() (or Tensor.numpy() / Tensor.to('cpu')) to copy explicitly")

    # ----- shape and dtype ---------------------------------------------------------------------------------
    def reshape(self, *shape, order="C"):
        if order != "C":
            raise _unsupported(f"reshape(order={order!r})")
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(int(n) for n in shape)
        if -1 in shape:
            known = int(np.prod([n for n in shape if n != -1]))
            shape = tuple(self.size // max(known, 1) if n == -1 else n for n in shape)
        if int(np.prod(shape)) != self.size:
            raise ValueError(f"cannot reshape array of size {self.size} into shape {shape}")
        return CudaArray(self._buffer, shape, self.dtype)  # a view: same buffer

    def ravel(self):
        return self.reshape(-1)

    def flatten(self):
        return self.copy().reshape(-1)

    def astype(self, dtype, copy=True, order="K", casting="unsafe"):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.copy() if copy else self
        out = empty(self.shape, dtype)
        indexing.cast(self._flat, out._flat)
        return out

    def copy(self, order="C"):
        out = empty(self.shape, self.dtype)
        indexing.cast(self._flat, out._flat)  # a same-dtype cast is a copy
        return out

    def fill(self, value):
        indexing.fill(self._flat, self.dtype.type(value))

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list, np.ndarray))):
            axes = axes[0]
        if axes is None or len(axes) == 0:
            axes = tuple(reversed(range(self.ndim)))
        else:
            axes = normalize_axis_tuple([int(a) for a in axes], self.ndim)
        if axes == tuple(range(self.ndim)):
            return self
        strides = _contiguous_strides(self.shape)
        return self._view([self.shape[a] for a in axes], [strides[a] for a in axes], 0)

    def swapaxes(self, axis1, axis2):
        axes = list(range(self.ndim))
        axis1, axis2 = normalize_axis_index(axis1, self.ndim), normalize_axis_index(axis2, self.ndim)
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return self.transpose(axes)

    def squeeze(self, axis=None):
        if axis is None:
            return self.reshape([n for n in self.shape if n != 1])
        axes = normalize_axis_tuple(axis, self.ndim)
        if any(self.shape[a] != 1 for a in axes):
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
        return self.reshape([n for i, n in enumerate(self.shape) if i not in axes])

    def _view(self, shape, strides, base):
        """Materialise the strided view (shape, element strides, base offset) of this buffer: one gather."""
        out = empty(shape, self.dtype)
        indexing.gather(self._flat, base, shape, strides, out._flat)
        return out

    # ----- reductions --------------------------------------------------------------------------------------
    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        _no_out(out, "sum")
        result = _reduce(self, "sum", axis, keepdims)
        return result if dtype is None else result.astype(dtype, copy=False)

    def max(self, axis=None, out=None, keepdims=False):
        _no_out(out, "max")
        return _reduce(self, "max", axis, keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        _no_out(out, "min")
        return _reduce(self, "min", axis, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        _no_out(out, "mean")
        axes = tuple(range(self.ndim)) if axis is None else normalize_axis_tuple(axis, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        total = _reduce(self, "sum", axes, keepdims)
        if total.dtype.kind != "f":
            total = total.astype(np.float64)
        result = total * (1.0 / count) if count else total * np.nan
        return result if dtype is None else result.astype(dtype, copy=False)

    def argmax(self, axis=None, out=None, keepdims=False):
        _no_out(out, "argmax")
        return _arg_reduce(self, "argmax", axis, keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        _no_out(out, "argmin")
        return _arg_reduce(self, "argmin", axis, keepdims)

    def any(self, axis=None, out=None, keepdims=False):
        _no_out(out, "any")
        return _reduce(self, "any", axis, keepdims)

    def all(self, axis=None, out=None, keepdims=False):
        _no_out(out, "all")
        return _reduce(self, "all", axis, keepdims)

    # ----- indexing ----------------------------------------------------------------------------------------
    def __getitem__(self, index):
        index = _expand_index(index, self.shape)
        if _is_basic(index):
            shape, strides, base = _basic_view(index, self.shape)
            return self._view(shape, strides, base)
        plan = _advanced_plan(self, index, "getitem")
        source = plan.source()
        out = empty(plan.out_shape, self.dtype)
        indexing.take(source._flat, plan.index._flat.reshape(plan.index.shape), plan.strides, plan.dims, plan.rest,
                      out._flat)
        return plan.to_numpy_order(out)

    def __setitem__(self, index, value):
        index = _expand_index(index, self.shape)
        if _is_basic(index):
            shape, strides, base = _basic_view(index, self.shape)
            value = _operand(value, self.dtype)
            if value._buffer is self._buffer:  # overlapping source and target: copy the source first
                value = value.copy()
            indexing.scatter(self._flat, base, shape, strides, value._flat, _broadcast_view_strides(value.shape, shape))
            return
        _put(self, index, value, accumulate=False, what="__setitem__")

    # ----- NumPy's dispatch protocols ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if method == "reduce" and ufunc.__name__ in _REDUCE_UFUNC and len(inputs) == 1 and out is None:
            axis = kwargs.pop("axis", 0)
            keepdims = kwargs.pop("keepdims", False)
            if not kwargs:
                return _reduce(inputs[0], _REDUCE_UFUNC[ufunc.__name__], axis, keepdims)
        if kwargs:
            raise _unsupported(f"np.{ufunc.__name__}(..., {', '.join(kwargs)}=...)")
        if method == "__call__":
            result = _call_ufunc(ufunc, inputs)
        elif method == "at" and ufunc.__name__ == "add":
            target, index = inputs[0], inputs[1]
            if not isinstance(target, CudaArray):
                raise TypeError("np.add.at on cuda: the target must be a CudaArray")
            _put(target, _expand_index(index, target.shape), inputs[2], accumulate=True, what="np.add.at")
            return None
        else:
            raise _unsupported(f"np.{ufunc.__name__}.{method}")
        if out is None:
            return result
        (target,) = out
        if not isinstance(target, CudaArray):
            raise TypeError(f"np.{ufunc.__name__}: out= must be a CudaArray when an input is on cuda, got "
                            f"{type(target).__name__}")
        target[...] = result
        return target

    def __array_function__(self, func, types, args, kwargs):
        implementation = _FUNCTIONS.get(func.__name__)
        if implementation is None:
            raise _unsupported(f"np.{func.__name__}")
        return implementation(*args, **kwargs)


# ----- creation -------------------------------------------------------------------------------------------
def empty(shape, dtype):
    """An uninitialised CudaArray."""
    require_cuda()
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = int(np.prod(shape))
    return CudaArray(cuda.device_array(max(size, 1) if not shape else size, dtype=np.dtype(dtype)), shape, dtype)


def full(shape, value, dtype):
    """A CudaArray filled with `value` (passed to a kernel by value: no host-to-device copy)."""
    out = empty(shape, dtype)
    out.fill(value)
    return out


def zeros(shape, dtype):
    return full(shape, 0, dtype)


def to_cuda(array):
    """Copy a host array (anything np.asarray takes) to the GPU: the one host -> device transfer."""
    require_cuda()
    host = np.ascontiguousarray(np.asarray(array))
    return CudaArray(cuda.to_device(host.reshape(-1)), host.shape, host.dtype)


def is_cuda_array(value):
    return isinstance(value, CudaArray)


def _operand(value, dtype=None):
    """A CudaArray for `value`: CudaArrays as they are, scalars by a fill kernel, host arrays uploaded."""
    if isinstance(value, CudaArray):
        return value if dtype is None else value.astype(dtype, copy=False)
    if isinstance(value, (bool, int, float, np.generic)) or (isinstance(value, np.ndarray) and value.ndim == 0):
        scalar_dtype = np.dtype(dtype) if dtype is not None else np.asarray(value).dtype
        return full((), np.asarray(value).astype(scalar_dtype).item(), scalar_dtype)
    host = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
    return to_cuda(host)


def _no_out(out, name):
    if out is not None:
        raise _unsupported(f"{name}(out=...)")


# ----- ufuncs ---------------------------------------------------------------------------------------------
def _resolve_type(value):
    """What ufunc.resolve_dtypes takes: a dtype, or the Python type of a 'weak' Python scalar (NEP 50)."""
    if isinstance(value, CudaArray):
        return value.dtype
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return type(value)
    return np.asarray(value).dtype


def _call_ufunc(ufunc, inputs):
    name = ufunc.__name__
    try:
        loop_dtypes = ufunc.resolve_dtypes(tuple(_resolve_type(v) for v in inputs) + (None,) * ufunc.nout)
    except Exception as error:
        raise TypeError(f"np.{name} on cuda: no loop for {[_resolve_type(v) for v in inputs]}: {error}") from None
    operands = [_operand(v, dtype) for v, dtype in zip(inputs, loop_dtypes)]
    out_dtype = loop_dtypes[-1]
    if name in _BITWISE_ON_BOOL and loop_dtypes[0] == np.bool_:
        name = _BITWISE_ON_BOOL[name]
    if name == "square":
        return _call_ufunc(np.multiply, (operands[0], operands[0]))
    if name == "reciprocal":
        return _call_ufunc(np.true_divide, (1, operands[0]))
    if ufunc.nin == 2 and (name in _BINARY or name in _COMPARE):
        a, b = operands
        out = empty(np.broadcast_shapes(a.shape, b.shape), out_dtype)
        if name in _BINARY:
            kernel, op = elementwise._binary_kernel, elementwise.BINARY_OPS[_BINARY[name]]
        else:
            kernel, op = elementwise._compare_kernel, elementwise.COMPARE_OPS[_COMPARE[name]]
        elementwise.broadcast_launch(kernel, out._flat, [(a._flat, a.shape), (b._flat, b.shape)], op)
        return out
    if ufunc.nin == 1 and (name in _UNARY or name in _PREDICATE):
        (a,) = operands
        out = empty(a.shape, out_dtype)
        if name in _UNARY:
            elementwise.flat_launch(elementwise._unary_kernel, out._flat, a._flat, elementwise.UNARY_OPS[_UNARY[name]])
        else:
            elementwise.flat_launch(elementwise._predicate_kernel, out._flat, a._flat,
                                    elementwise.PREDICATE_OPS[_PREDICATE[name]])
        return out
    if name == "matmul":
        return _matmul(*operands)
    raise _unsupported(f"np.{name}")


def _matmul(a, b):
    """a @ b for 2-D or 3-D (batch) operands of one float dtype, through kernels/cuda/matmul.py."""
    from kernels.cuda.matmul import matmul

    if a.ndim not in (2, 3) or b.ndim != a.ndim:
        raise _unsupported(f"matmul of shapes {a.shape} and {b.shape} (only 2-D @ 2-D and 3-D @ 3-D)")
    a3 = a.reshape((1,) + a.shape) if a.ndim == 2 else a
    b3 = b.reshape((1,) + b.shape) if b.ndim == 2 else b
    result = wrap(matmul(a3.device_array, b3.device_array))
    return result.reshape(result.shape[1:]) if a.ndim == 2 else result


def wrap(device_array):
    """A CudaArray around a (C-contiguous) numba device array that a kernel returned."""
    shape = tuple(device_array.shape)
    size = int(np.prod(shape))
    if not device_array.is_c_contiguous():
        raise ValueError("wrap: expected a C-contiguous device array")
    return CudaArray(device_array.reshape(max(size, 1) if not shape else size), shape, device_array.dtype)


# ----- reductions -----------------------------------------------------------------------------------------
def _reduce(a, op, axis, keepdims):
    """op in reduce.ROW_OPS over `axis` (None, int or tuple): move the reduced axes last, reduce rows."""
    axes = tuple(range(a.ndim)) if axis is None else normalize_axis_tuple(axis, a.ndim)
    kept = [d for d in range(a.ndim) if d not in axes]
    kept_shape = tuple(a.shape[d] for d in kept)
    n = int(np.prod([a.shape[d] for d in axes]))
    work = a.astype(np.int64) if a.dtype == np.bool_ else a  # the kernels do arithmetic, not logic
    if op == "sum" and work.dtype.kind in "iu":
        work = work.astype(np.uint64 if work.dtype.kind == "u" else np.int64, copy=False)  # NumPy's sum dtype
    if op in ("argmax", "argmin"):
        out_dtype = np.dtype(np.int64)
    elif op in ("any", "all"):
        out_dtype = np.dtype(np.bool_)
    else:
        out_dtype = work.dtype
    out = empty(kept_shape, out_dtype)
    if n == 0:
        if op not in ("sum", "any", "all"):
            raise ValueError(f"zero-size array to reduction operation {op} which has no identity")
        out.fill(1 if op == "all" else 0)
    elif out.size:
        moved = work.transpose(kept + list(axes))  # (kept..., reduced...): one gather unless already in place
        reduce.reduce_rows(op, moved._flat.reshape(out.size, n), out._flat)
    if op in ("max", "min") and a.dtype == np.bool_:
        out = out.astype(np.bool_)
    if keepdims:
        out = out.reshape([1 if d in axes else a.shape[d] for d in range(a.ndim)])
    return out


def _arg_reduce(a, op, axis, keepdims):
    if axis is None:
        result = _reduce(a.reshape(-1), op, 0, False)
        return result.reshape((1,) * a.ndim) if keepdims else result
    return _reduce(a, op, normalize_axis_index(axis, a.ndim), keepdims)


# ----- indexing -------------------------------------------------------------------------------------------
def _expand_index(index, shape):
    """The index as a tuple with Ellipsis replaced by full slices; lists become arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    parts = tuple(np.asarray(p) if isinstance(p, list) else p for p in parts)
    consumed = sum(0 if (p is None or p is Ellipsis) else (p.ndim if _is_bool_array(p) else 1) for p in parts)
    if consumed > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but {consumed} were indexed")
    expanded = []
    for p in parts:
        if p is Ellipsis:
            expanded += [slice(None)] * (len(shape) - consumed)
            consumed = len(shape)
        else:
            expanded.append(p)
    return tuple(expanded) + (slice(None),) * (len(shape) - consumed)


def _is_bool_array(p):
    return isinstance(p, (np.ndarray, CudaArray)) and p.dtype == np.bool_


def _is_basic(index):
    return all(isinstance(p, (int, np.integer, slice)) or p is None for p in index)


def _basic_view(index, shape):
    """(shape, element strides, base offset) of x[index] for ints, slices and None (as NumPy's basic indexing)."""
    strides = _contiguous_strides(shape)
    out_shape, out_strides, base, dim = [], [], 0, 0
    for p in index:
        if p is None:
            out_shape.append(1)
            out_strides.append(0)
        elif isinstance(p, slice):
            start, stop, step = p.indices(shape[dim])
            out_shape.append(len(range(start, stop, step)))
            out_strides.append(step * strides[dim])
            base += start * strides[dim] if out_shape[-1] else 0
            dim += 1
        else:
            n = shape[dim]
            if not -n <= p < n:
                raise IndexError(f"index {p} is out of bounds for axis {dim} with size {n}")
            base += (int(p) % n) * strides[dim]
            dim += 1
    return tuple(out_shape), tuple(out_strides), base


def _broadcast_view_strides(value_shape, shape):
    """Element strides that read a C-contiguous array of value_shape broadcast to shape (0 where broadcast)."""
    if len(value_shape) > len(shape) or np.broadcast_shapes(value_shape, shape) != tuple(shape):
        raise ValueError(f"could not broadcast input array from shape {value_shape} into shape {shape}")
    padded = (1,) * (len(shape) - len(value_shape)) + tuple(value_shape)
    strides = _contiguous_strides(padded)
    return tuple(0 if n == 1 else s for n, s in zip(padded, strides))


class _AdvancedPlan:
    """How x[index] with integer arrays maps onto indexing.take / put (see kernels/cuda/indexing.py).

    The advanced axes are moved to the front of x (a gather, unless they already are), the index arrays are
    broadcast together into one (k, J) int64 device array, and the result (J..., rest...) is moved back to where
    NumPy puts the J dims (at the first advanced axis when the advanced axes are adjacent, else first).
    """

    def __init__(self, x, axes, arrays):
        self.x, self.axes = x, axes
        rest_axes = [d for d in range(x.ndim) if d not in axes]
        self.order = list(axes) + rest_axes
        self.index_shape = np.broadcast_shapes(*[a.shape for a in arrays])
        count = int(np.prod(self.index_shape))
        self.index = empty((len(arrays), count), np.int64)
        for m, array in enumerate(arrays):
            self.index[m] = broadcast_to(_operand(array, np.int64), self.index_shape).reshape(-1)  # row m
        self.dims = tuple(x.shape[a] for a in axes)
        self.rest_shape = tuple(x.shape[d] for d in rest_axes)
        self.rest = int(np.prod(self.rest_shape))
        self.strides = tuple(int(np.prod(self.dims[m + 1:])) * self.rest for m in range(len(axes)))
        self.out_shape = self.index_shape + self.rest_shape
        adjacent = list(axes) == list(range(axes[0], axes[0] + len(axes)))
        self.position = axes[0] if adjacent else 0

    def source(self):
        return self.x.transpose(self.order)

    def to_numpy_order(self, out):
        if self.position == 0:
            return out
        n_index = len(self.index_shape)
        axes = list(range(n_index, n_index + self.position)) + list(range(n_index)) + \
            list(range(n_index + self.position, out.ndim))
        return out.transpose(axes)


def _advanced_plan(x, index, what):
    axes, arrays = [], []
    dim = 0
    for p in index:
        if p is None:
            raise _unsupported(f"{what} mixing None with integer-array indices")
        if _is_bool_array(p):
            if isinstance(p, CudaArray):
                raise _unsupported(f"{what} with a boolean mask that lives on the GPU (the result's shape depends "
                                   "on the mask's values); index with a host mask")
            for positions in np.nonzero(p):  # a host mask: its positions are uploaded as integer indices
                axes.append(dim)
                arrays.append(positions)
                dim += 1
            continue
        if isinstance(p, slice):
            if p.indices(x.shape[dim]) != (0, x.shape[dim], 1):
                raise _unsupported(f"{what} mixing integer-array indices with partial slices ({p})")
        else:
            if isinstance(p, np.ndarray) and p.size:
                n = x.shape[dim]
                if p.dtype.kind not in "iu":
                    raise IndexError(f"arrays used as indices must be of integer (or boolean) type, got {p.dtype}")
                if p.min() < -n or p.max() >= n:
                    raise IndexError(f"index {int(p.max() if p.max() >= n else p.min())} is out of bounds for axis "
                                     f"{dim} with size {n}")
            axes.append(dim)
            arrays.append(p if isinstance(p, (np.ndarray, CudaArray)) else np.asarray(p))
        dim += 1
    return _AdvancedPlan(x, axes, arrays)


def _put(x, index, value, accumulate, what):
    """x[index] = value, or np.add.at(x, index, value), for integer-array indices on the leading axes."""
    plan = _advanced_plan(x, index, what)
    if plan.order != list(range(x.ndim)):
        raise _unsupported(f"{what} with integer-array indices that are not on the leading axes")
    values = _operand(value, x.dtype)
    if values.shape != plan.out_shape:
        values = broadcast_to(values, plan.out_shape)
    indexing.put(x._flat, plan.index._flat.reshape(plan.index.shape), plan.strides, plan.dims, plan.rest,
                 values._flat, accumulate)


# ----- array functions (NEP 18) ----------------------------------------------------------------------------
_FUNCTIONS = {}


def _implements(*names):
    def register(function):
        for name in names:
            _FUNCTIONS[name] = function
        return function
    return register


@_implements("sum")
def _sum(a, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
    return a.sum(axis=axis, dtype=dtype, out=out, keepdims=keepdims)


@_implements("max", "amax")
def _max(a, axis=None, out=None, keepdims=False, **unsupported):
    return a.max(axis=axis, out=out, keepdims=keepdims)


@_implements("min", "amin")
def _min(a, axis=None, out=None, keepdims=False, **unsupported):
    return a.min(axis=axis, out=out, keepdims=keepdims)


@_implements("mean")
def _mean(a, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
    return a.mean(axis=axis, dtype=dtype, out=out, keepdims=keepdims)


@_implements("argmax")
def _argmax(a, axis=None, out=None, keepdims=False):
    return a.argmax(axis=axis, out=out, keepdims=keepdims)


@_implements("argmin")
def _argmin(a, axis=None, out=None, keepdims=False):
    return a.argmin(axis=axis, out=out, keepdims=keepdims)


@_implements("any")
def _any(a, axis=None, out=None, keepdims=False, **unsupported):
    return a.any(axis=axis, out=out, keepdims=keepdims)


@_implements("all")
def _all(a, axis=None, out=None, keepdims=False, **unsupported):
    return a.all(axis=axis, out=out, keepdims=keepdims)


@_implements("where")
def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise _unsupported("np.where(condition) with one argument (its shape depends on the data)")
    condition = _operand(condition, np.bool_)
    dtype = np.result_type(*[v.dtype if isinstance(v, CudaArray) else v for v in (x, y)])
    a, b = _operand(x, dtype), _operand(y, dtype)
    out = empty(np.broadcast_shapes(condition.shape, a.shape, b.shape), dtype)
    elementwise.broadcast_launch(elementwise._where_kernel, out._flat,
                                 [(condition._flat, condition.shape), (a._flat, a.shape), (b._flat, b.shape)])
    return out


@_implements("broadcast_to")
def broadcast_to(array, shape, subok=False):
    array = _operand(array)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if array.shape == shape:
        return array
    return array._view(shape, _broadcast_view_strides(array.shape, shape), 0)


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
def _pad(array, pad_width, mode="constant", constant_values=0, **unsupported):
    if mode != "constant" or unsupported or np.ndim(constant_values) != 0:
        raise _unsupported(f"np.pad(mode={mode!r}) with non-scalar constants or options {sorted(unsupported)}")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    shape = tuple(int(n + before + after) for n, (before, after) in zip(array.shape, widths))
    out = full(shape, constant_values, array.dtype)
    out[tuple(slice(int(before), int(before) + n) for n, (before, _) in zip(array.shape, widths))] = array
    return out


@_implements("concatenate")
def _concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    _no_out(out, "concatenate")
    arrays = [_operand(a) for a in arrays]
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
    arrays = [_operand(a) for a in arrays]
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
def _zeros_like(a, dtype=None, order="K", subok=True, shape=None, **unsupported):
    return full(a.shape if shape is None else shape, 0, a.dtype if dtype is None else dtype)


@_implements("ones_like")
def _ones_like(a, dtype=None, order="K", subok=True, shape=None, **unsupported):
    return full(a.shape if shape is None else shape, 1, a.dtype if dtype is None else dtype)


@_implements("full_like")
def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **unsupported):
    return full(a.shape if shape is None else shape, fill_value, a.dtype if dtype is None else dtype)


@_implements("empty_like")
def _empty_like(a, dtype=None, order="K", subok=True, shape=None, **unsupported):
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
