"""`CudaArray`: a NumPy-compatible array whose data lives on the GPU (the way CuPy does it, in miniature).

The engine's ops are written with NumPy (`np.exp(x)`, `a * b`, `np.where`, `np.sum(x, axis=...)`, `x.reshape`,
`np.broadcast_to`, `np.pad`, `np.add.at`, ...). Rather than write every op twice, device data gets a type that
NumPy itself hands those calls to, through its two dispatch protocols:

    np.exp(x), a * b, a > b, np.add.at(...)   ->  CudaArray.__array_ufunc__     (NEP 13)   array_ufuncs.py
    np.sum, np.where, np.pad, np.moveaxis ... ->  CudaArray.__array_function__  (NEP 18)   array_functions.py
    x[index], x[index] = value                ->  CudaArray.__getitem__ / __setitem__       array_indexing.py

and each of those runs numba.cuda kernels (kernels/cuda/elementwise.py, indexing.py, reduce.py). So
`Mul.forward(ctx, a, b): return a * b` is the same line on the CPU and on the GPU. This file holds the array
itself: its representation, creation, views, copies to the host and reductions.

Representation: one flat C-contiguous device buffer plus a shape and dtype. Reshapes share the buffer (as NumPy
views do); transposes, broadcasts and slices are gathered into a new buffer (one kernel each; CuPy keeps strided
views instead, at the price of strides in every kernel). 0-d arrays hold a buffer of one element. Buffers come from
the caching allocator (kernels/cuda/allocator.py), so the intermediates of a training step reuse device memory.

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
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple
from numpy.lib.mixins import NDArrayOperatorsMixin

from kernels.cuda import allocator, indexing, reduce
from kernels.cuda._device import require_cuda


def unsupported(what):
    """The error for a NumPy feature CudaArray does not implement."""
    return NotImplementedError(f"{what} is not supported on cuda (CudaArray); move the data with .get() / "
                               f"Tensor.to('cpu') if you need it")


def no_out(out, name):
    if out is not None:
        raise unsupported(f"{name}(out=...)")


def contiguous_strides(shape):
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
            raise unsupported(f"reshape(order={order!r})")
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
        strides = contiguous_strides(self.shape)
        return self.gather_view([self.shape[a] for a in axes], [strides[a] for a in axes], 0)

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

    def gather_view(self, shape, strides, base):
        """Materialise the strided view (shape, element strides, base offset) of this buffer: one gather."""
        out = empty(shape, self.dtype)
        indexing.gather(self._flat, base, shape, strides, out._flat)
        return out

    # ----- reductions --------------------------------------------------------------------------------------
    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        no_out(out, "sum")
        result = reduce_axes(self, "sum", axis, keepdims)
        return result if dtype is None else result.astype(dtype, copy=False)

    def max(self, axis=None, out=None, keepdims=False):
        no_out(out, "max")
        return reduce_axes(self, "max", axis, keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        no_out(out, "min")
        return reduce_axes(self, "min", axis, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        no_out(out, "mean")
        axes = tuple(range(self.ndim)) if axis is None else normalize_axis_tuple(axis, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        total = reduce_axes(self, "sum", axes, keepdims)
        if total.dtype.kind != "f":
            total = total.astype(np.float64)
        result = total * (1.0 / count) if count else total * np.nan
        return result if dtype is None else result.astype(dtype, copy=False)

    def argmax(self, axis=None, out=None, keepdims=False):
        no_out(out, "argmax")
        return _arg_reduce(self, "argmax", axis, keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        no_out(out, "argmin")
        return _arg_reduce(self, "argmin", axis, keepdims)

    def any(self, axis=None, out=None, keepdims=False):
        no_out(out, "any")
        return reduce_axes(self, "any", axis, keepdims)

    def all(self, axis=None, out=None, keepdims=False):
        no_out(out, "all")
        return reduce_axes(self, "all", axis, keepdims)

    # ----- indexing and NumPy's dispatch protocols (implemented in the modules imported at the end) -----------
    def __getitem__(self, index):
        return array_indexing.getitem(self, index)

    def __setitem__(self, index, value):
        array_indexing.setitem(self, index, value)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        return array_ufuncs.apply(ufunc, method, inputs, out, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        implementation = array_functions.FUNCTIONS.get(func.__name__)
        if implementation is None:
            raise unsupported(f"np.{func.__name__}")
        return implementation(*args, **kwargs)


# ----- creation -------------------------------------------------------------------------------------------
def empty(shape, dtype):
    """An uninitialised CudaArray (its buffer from the caching allocator)."""
    require_cuda()
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = int(np.prod(shape))
    return CudaArray(allocator.allocate((max(size, 1) if not shape else size,), dtype), shape, dtype)


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
    return CudaArray(allocator.upload(host.reshape(-1)), host.shape, host.dtype)


def is_cuda_array(value):
    return isinstance(value, CudaArray)


def wrap(device_array):
    """A CudaArray around a (C-contiguous) numba device array that a kernel returned."""
    shape = tuple(device_array.shape)
    size = int(np.prod(shape))
    if not device_array.is_c_contiguous():
        raise ValueError("wrap: expected a C-contiguous device array")
    return CudaArray(device_array.reshape(max(size, 1) if not shape else size), shape, device_array.dtype)


def as_operand(value, dtype=None):
    """A CudaArray for `value`: CudaArrays as they are, scalars by a fill kernel, host arrays uploaded."""
    if isinstance(value, CudaArray):
        return value if dtype is None else value.astype(dtype, copy=False)
    if isinstance(value, (bool, int, float, np.generic)) or (isinstance(value, np.ndarray) and value.ndim == 0):
        scalar_dtype = np.dtype(dtype) if dtype is not None else np.asarray(value).dtype
        return full((), np.asarray(value).astype(scalar_dtype).item(), scalar_dtype)
    host = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
    return to_cuda(host)


# ----- broadcasting ---------------------------------------------------------------------------------------
def broadcast_view_strides(value_shape, shape):
    """Element strides that read a C-contiguous array of value_shape broadcast to shape (0 where broadcast)."""
    if len(value_shape) > len(shape) or np.broadcast_shapes(value_shape, shape) != tuple(shape):
        raise ValueError(f"could not broadcast input array from shape {value_shape} into shape {shape}")
    padded = (1,) * (len(shape) - len(value_shape)) + tuple(value_shape)
    strides = contiguous_strides(padded)
    return tuple(0 if n == 1 else s for n, s in zip(padded, strides))


def broadcast_to(array, shape, subok=False):
    """np.broadcast_to: materialised by one gather (CudaArray has no strided views)."""
    array = as_operand(array)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if array.shape == shape:
        return array
    return array.gather_view(shape, broadcast_view_strides(array.shape, shape), 0)


# ----- reductions -----------------------------------------------------------------------------------------
def reduce_axes(a, op, axis, keepdims):
    """op ("sum" or one of reduce.SCANS) over `axis` (None, int or tuple): move the reduced axes last, reduce
    rows."""
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
        result = reduce_axes(a.reshape(-1), op, 0, False)
        return result.reshape((1,) * a.ndim) if keepdims else result
    return reduce_axes(a, op, normalize_axis_index(axis, a.ndim), keepdims)


# The three modules that implement indexing and NumPy's protocols build on CudaArray and the functions above, so
# they are imported last: they import this module, and it calls them only once an array exists.
from kernels.cuda import array_functions, array_indexing, array_ufuncs  # noqa: E402
