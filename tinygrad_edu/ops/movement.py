"""Movement ops: they move or select elements without arithmetic, so each backward moves the gradient back.

reshape, permute, expand, pad, concatenate and getitem are primitives; view, transpose, T, squeeze, unsqueeze,
flatten, broadcast_to and stack are built from them.
"""
import math

import numpy as np

from tinygrad_edu import dtypes
from tinygrad_edu import tensor as tensor_module
from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.reduce import normalize_dim


def _shape_from_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(n) for n in shape)


class Reshape(ArrayFunction):
    """y = x with a new shape (same elements, row-major order);  dx = dy reshaped to x's shape."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.input_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.reshape(ctx.input_shape)


class Permute(ArrayFunction):
    """y = x with axes reordered;  dx = dy with the inverse permutation."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, grad_out):
        return np.transpose(grad_out, np.argsort(ctx.axes))


class Expand(ArrayFunction):
    """y = x broadcast to `shape`;  dx = dy summed over the broadcast axes (the engine's `unbroadcast`)."""

    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out  # the engine sums it back to x's shape: that is exactly this op's derivative


class Pad(ArrayFunction):
    """y = x surrounded by a constant;  dx = the slice of dy where x sits."""

    @staticmethod
    def forward(ctx, x, pad_width, value):
        ctx.window = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, x.shape))
        if x.ndim == 0:
            return x.copy()  # nothing to pad (np.pad rejects 0-d arrays)
        return np.pad(x, pad_width, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out[ctx.window]


class Concatenate(ArrayFunction):
    """y = [x₁, x₂, ...] joined along `axis`;  dxᵢ = the slice of dy that came from xᵢ."""

    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        ctx.split_points = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        return tuple(np.split(grad_out, ctx.split_points, axis=ctx.axis))


class GetItem(ArrayFunction):
    """y = x[index];  dx = zeros with dy scatter-added at the indexed positions (repeated indices accumulate)."""

    @staticmethod
    def forward(ctx, x, index, is_basic):
        ctx.input_shape, ctx.index, ctx.is_basic = x.shape, index, is_basic
        return x[index]

    @staticmethod
    def backward(ctx, grad_out):
        index = ctx.index
        if type(index) is np.ndarray and index.dtype.kind in "iu" and type(grad_out) is np.ndarray:
            return scatter_add_rows(ctx.input_shape, index, grad_out)  # x[rows]: an embedding lookup
        grad = np.zeros_like(grad_out, shape=ctx.input_shape)  # zeros on grad_out's device
        if ctx.is_basic:
            # Ints and slices select each element at most once: plain assignment is a scatter.
            grad[index] = grad_out
        else:
            # Integer arrays may select an element several times; np.add.at adds every copy's gradient.
            np.add.at(grad, index, grad_out)
        return grad


def scatter_add_rows(input_shape, rows, grad_out):
    """dx for y = x[rows] with `rows` an integer array: dx[r] = Σ of dy over the positions that picked row r.

    The sums np.add.at would make (up to the order of the float additions), grouped instead of one row at a
    time: sort the positions by row (stably), then one np.add.reduceat sums each run of equal rows, giving
    (distinct rows, row size) values that are added into the zero gradient. Several times faster than np.add.at
    when rows repeat (a token embedding).
    """
    n_rows = input_shape[0]
    row_size = math.prod(input_shape[1:])
    picked = rows.reshape(rows.size)
    picked = np.where(picked < 0, picked + n_rows, picked)  # NumPy's negative indices count from the end
    grad = np.zeros(input_shape, dtype=grad_out.dtype)
    if picked.size == 0:
        return grad
    order = np.argsort(picked, kind="stable")
    sorted_rows = picked[order]
    run_starts = np.flatnonzero(np.concatenate(([True], sorted_rows[1:] != sorted_rows[:-1])))
    values = grad_out.reshape(picked.size, row_size)[order]  # (positions, row size), grouped by row
    # += on zeros, not =, so a sum of -0.0 gives 0.0, as adding into zeros does.
    grad.reshape(n_rows, row_size)[sorted_rows[run_starts]] += np.add.reduceat(values, run_starts, axis=0)
    return grad


class Clone(ArrayFunction):
    """y = a copy of x with its own memory;  dx = dy."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out


class ToDevice(ArrayFunction):
    """y = x copied to another device;  dx = dy copied back to x's device."""

    @staticmethod
    def forward(ctx, x, device, source_device):
        ctx.source_device = source_device
        return tensor_module.array_to_device(x, device)

    @staticmethod
    def backward(ctx, grad_out):
        return tensor_module.array_to_device(grad_out, ctx.source_device)


# ----- functions the Tensor methods call ----------------------------------------------------------------------
def to_device(x, device):
    """Copy x to `device` ("cpu" or "cuda"); the only op whose output lives elsewhere than its input (its
    tensor is on the device of the array forward returns, as every op's)."""
    return ToDevice.apply(x, device=device, source_device=x.device)


def infer_size(shape, numel, op_name="reshape", source=None):
    """`shape` with its one -1 filled in so that it holds `numel` elements, as PyTorch's `infer_size`:

        -1 = numel / Π(other sizes), refused when that is not a whole number, and when Π(other sizes) = 0
        (then -1 could be anything: `zeros(0, 3).reshape(-1, 0)` is ambiguous, `reshape(-1, 3)` gives (0, 3)).

    `source` describes what is reshaped, for the error message (default: "tensor of `numel` elements").

    >>> infer_size((2, -1), 6), infer_size((-1, 3), 0)
    ((2, 3), (0, 3))
    """
    source = source or f"tensor of {numel} elements"
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op_name}: only one dimension can be inferred (-1), got {shape}")
    for position, n in enumerate(shape):
        if n < -1:
            raise RuntimeError(f"{op_name}: invalid shape dimension {n} at index {position} of shape {shape}")
    known = math.prod(n for n in shape if n != -1)
    if -1 not in shape:
        if known != numel:
            raise RuntimeError(f"{op_name}: cannot reshape {source} into {shape}")
        return shape
    if known == 0 and numel == 0:
        raise RuntimeError(f"{op_name}: cannot reshape {source} into {shape} because the unspecified dimension "
                           f"size -1 can be any value and is ambiguous")
    if known == 0 or numel % known:
        raise RuntimeError(f"{op_name}: cannot reshape {source} into {shape}")
    return tuple(numel // known if n == -1 else n for n in shape)


def reshape(x, *shape):
    """The same elements in a new shape; one -1 is inferred (see infer_size)."""
    shape = _shape_from_args(shape)
    numel = x.numel()
    if -1 in shape or min(shape, default=0) < 0 or math.prod(shape) != numel:  # to infer, or to refuse
        shape = infer_size(shape, numel, "reshape", f"tensor of shape {x.shape} ({numel} elements)")
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=shape)


def permute(x, *axes):
    axes = _shape_from_args(axes)
    if len(axes) != x.ndim:
        raise RuntimeError(f"permute: number of dims don't match: input has shape {x.shape} ({x.ndim} dims) but "
                           f"dims {axes} has {len(axes)}")
    axes = tuple(normalize_dim(a, x.ndim, "permute") for a in axes)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"permute: repeated dim in {axes} (tensor of shape {x.shape})")
    if axes == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, axes=axes)


def transpose(x, dim0, dim1):
    """Swap two axes: a permutation (a 0-d or 1-d tensor is returned as is, as in PyTorch)."""
    dim0 = normalize_dim(dim0, x.ndim, "transpose")
    dim1 = normalize_dim(dim1, x.ndim, "transpose")
    if x.ndim < 2:
        return x
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return permute(x, *axes)


def expand(x, *shape):
    shape = _shape_from_args(shape)
    # As PyTorch, -1 keeps the size of that dimension.
    offset = len(shape) - x.ndim
    shape = tuple(x.shape[i - offset] if n == -1 and i >= offset else n for i, n in enumerate(shape))
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"expand: tensor of shape {x.shape} cannot be broadcast to {shape}") from None
    if shape == x.shape:
        return x
    return Expand.apply(x, shape=shape)


def squeeze(x, axis=None):
    """Drop axes of size 1 (all of them, or those in `axis`; a named axis of another size is kept): a reshape."""
    if axis is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        named = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        axes = {normalize_dim(a, x.ndim, "squeeze") for a in named}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return reshape(x, shape)


def unsqueeze(x, axis):
    """Insert an axis of size 1 at `axis` (negative counts from the end of the result): a reshape."""
    if axis is None:
        raise TypeError("unsqueeze: missing required argument 'dim'")
    axis = normalize_dim(axis, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one: a reshape."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start = normalize_dim(start_dim, x.ndim, "flatten")
    end = normalize_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise RuntimeError(f"flatten() has invalid args: start_dim {start_dim} cannot come after end_dim {end_dim}")
    merged = math.prod(x.shape[start:end + 1])
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def clone(x):
    return Clone.apply(x)


def repeat(x, *repeats):
    """Tile x: `repeats[i]` copies along dim i (as torch.Tensor.repeat), as unsqueeze + expand + reshape.

    Each dim of size n becomes a pair (r, n) broadcast from (1, n), then merged into r·n: the copies are laid one
    after the other, and the gradient of each element is the sum over its copies (Expand's backward).
    """
    repeats = _shape_from_args(repeats)
    if len(repeats) < x.ndim:
        raise RuntimeError(f"repeat: number of dimensions of repeat dims ({len(repeats)}) can not be smaller than "
                           f"number of dimensions of tensor ({x.ndim})")
    shape = (1,) * (len(repeats) - x.ndim) + x.shape
    paired = reshape(x, tuple(v for n in shape for v in (1, n)))
    expanded = expand(paired, tuple(v for r, n in zip(repeats, shape) for v in (r, n)))
    return reshape(expanded, tuple(r * n for r, n in zip(repeats, shape)))


def split(x, split_size_or_sections, dim=0):
    """Pieces along `dim`: of `split_size` each (the last may be shorter), or of the listed sizes; slices of x."""
    axis = normalize_dim(dim, x.ndim, "split")
    length = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and length:
            raise RuntimeError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, length - start) for start in range(0, length, size)] if length else [0]
    else:
        sizes = [int(n) for n in split_size_or_sections]
        if sum(sizes) != length:
            raise RuntimeError(f"split: split_with_sizes expects split_sizes to sum exactly to {length} (input "
                               f"tensor's size at dimension {axis}), but got split_sizes={sizes}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(x, (slice(None),) * axis + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    """`chunks` pieces of (almost) equal size along `dim`, as torch.chunk: each ceil(n / chunks) long."""
    if chunks <= 0:
        raise RuntimeError(f"chunk: number of chunks must be greater than 0, got {chunks}")
    axis = normalize_dim(dim, x.ndim, "chunk")
    size = max(-(-x.shape[axis] // chunks), 1)
    return split(x, size, axis)


def pad(x, pad_width, value=0.0):
    """Pad with a constant. `pad_width` is NumPy's: one (before, after) pair per dimension."""
    pad_width = tuple((int(before), int(after)) for before, after in pad_width)
    if len(pad_width) != x.ndim or any(before < 0 or after < 0 for before, after in pad_width):
        raise ValueError(f"pad: pad_width {pad_width} must hold one non-negative (before, after) pair for each of the {x.ndim} dimensions of shape {x.shape}")
    return Pad.apply(x, pad_width=pad_width, value=value)


def concatenate(tensors, dim=0, *, axis=None):
    """Join along an existing dim (`torch.cat`); dtypes promote as PyTorch's (float32 with int64 -> float32)."""
    if axis is not None:
        dim = axis
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of Tensors")  # ValueError, as torch.cat
    Tensor = tensor_module.Tensor
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"cat: expected a sequence of Tensors, got an element of type {type(t).__name__}")
    first = tensors[0]
    if first.ndim == 0:
        raise RuntimeError("cat: zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = normalize_dim(dim, first.ndim, "cat")
    for position, t in enumerate(tensors[1:], start=1):
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise RuntimeError(f"cat: sizes of tensors must match except in dimension {axis}; got {first.shape} "
                               f"and {t.shape} (tensor at position {position})")
    dtype = dtypes.result_type(*tensors)
    tensors = [t if t.dtype == dtype else t.astype(dtype) for t in tensors]
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, dim=0, *, axis=None):
    """Join along a new dim: unsqueeze each, then concatenate."""
    if axis is not None:
        dim = axis
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of Tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack: expects each tensor to be equal size, got {[t.shape for t in tensors]}")
    dim = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return concatenate([unsqueeze(t, dim) for t in tensors], dim)


def to_numpy_index(index, shape, op_name):
    """Convert an index holding tensors into a NumPy index, rejecting float indices with a clear error."""
    Tensor = tensor_module.Tensor
    parts = index if isinstance(index, tuple) else (index,)
    converted = []
    for part in parts:
        if isinstance(part, Tensor):
            part = part.data
        if isinstance(part, list):
            part = np.asarray(part)
        if isinstance(part, np.ndarray) and part.dtype.kind not in "iub":
            raise TypeError(
                f"{op_name}: tensors used as indices must be integer or bool, got dtype {part.dtype} "
                f"(indexing a tensor of shape {shape})"
            )
        if isinstance(part, (float, np.floating)):
            raise TypeError(f"{op_name}: index {part!r} is a float; indices must be integers (tensor of shape {shape})")
        converted.append(part)
    return tuple(converted) if isinstance(index, tuple) else converted[0]


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


def getitem(x, index):
    index = to_numpy_index(index, x.shape, "getitem")
    try:
        return GetItem.apply(x, index=index, is_basic=_is_basic_index(index))
    except IndexError as error:
        raise IndexError(f"getitem: {error} (indexing a tensor of shape {x.shape} with {index!r})") from None
