"""Indexing a CudaArray: `x[index]`, `x[index] = value` and `np.add.at(x, index, values)` as NumPy does them.

Two cases, as in NumPy:

    basic      ints, slices, None, Ellipsis:  the result is a strided view of x (shape, element strides, base
               offset), materialised by one gather (CudaArray.gather_view); assignment scatters into that view
    advanced   integer arrays (or host boolean masks, turned into integer arrays): an _AdvancedPlan moves the
               indexed axes to the front and runs indexing.take (read) or indexing.put (write, or add with
               atomics for np.add.at, where repeated indices must add up)

The kernels are in kernels/cuda/indexing.py; this file only works out shapes, strides and offsets on the host.
"""
import numpy as np

from kernels.cuda import indexing
from kernels.cuda.array import (
    CudaArray, as_operand, broadcast_to, broadcast_view_strides, contiguous_strides, empty, unsupported,
)


def getitem(x, index):
    """x[index]: a new CudaArray."""
    index = _expand_index(index, x.shape)
    if _is_basic(index):
        shape, strides, base = _basic_view(index, x.shape)
        return x.gather_view(shape, strides, base)
    plan = _advanced_plan(x, index, "getitem")
    source = plan.source()
    out = empty(plan.out_shape, x.dtype)
    indexing.take(source._flat, plan.index._flat.reshape(plan.index.shape), plan.strides, plan.dims, plan.rest,
                  out._flat)
    return plan.to_numpy_order(out)


def setitem(x, index, value):
    """x[index] = value, broadcasting value as NumPy does."""
    index = _expand_index(index, x.shape)
    if _is_basic(index):
        shape, strides, base = _basic_view(index, x.shape)
        value = as_operand(value, x.dtype)
        if value._buffer is x._buffer:  # overlapping source and target: copy the source first
            value = value.copy()
        indexing.scatter(x._flat, base, shape, strides, value._flat, broadcast_view_strides(value.shape, shape))
        return
    _put(x, index, value, accumulate=False, what="__setitem__")


def add_at(x, index, values):
    """np.add.at(x, index, values): repeated indices add up."""
    _put(x, _expand_index(index, x.shape), values, accumulate=True, what="np.add.at")


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
    strides = contiguous_strides(shape)
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
            self.index[m] = broadcast_to(as_operand(array, np.int64), self.index_shape).reshape(-1)  # row m
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
            raise unsupported(f"{what} mixing None with integer-array indices")
        if _is_bool_array(p):
            if isinstance(p, CudaArray):
                raise unsupported(f"{what} with a boolean mask that lives on the GPU (the result's shape depends "
                                  "on the mask's values); index with a host mask")
            for positions in np.nonzero(p):  # a host mask: its positions are uploaded as integer indices
                axes.append(dim)
                arrays.append(positions)
                dim += 1
            continue
        if isinstance(p, slice):
            if p.indices(x.shape[dim]) != (0, x.shape[dim], 1):
                raise unsupported(f"{what} mixing integer-array indices with partial slices ({p})")
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
        raise unsupported(f"{what} with integer-array indices that are not on the leading axes")
    values = as_operand(value, x.dtype)
    if values.shape != plan.out_shape:
        values = broadcast_to(values, plan.out_shape)
    indexing.put(x._flat, plan.index._flat.reshape(plan.index.shape), plan.strides, plan.dims, plan.rest,
                 values._flat, accumulate)
