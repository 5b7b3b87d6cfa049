"""Movement ops: they move or select elements without arithmetic, so each backward moves the gradient back.

reshape, permute, expand, pad, concatenate and getitem are primitives; view, transpose, T, squeeze, unsqueeze,
flatten, broadcast_to and stack are built from them.
"""
import numpy as np

from tinygrad_edu import tensor as tensor_module
from tinygrad_edu.autograd import ArrayFunction


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
        grad = np.zeros_like(grad_out, shape=ctx.input_shape)  # zeros on grad_out's device
        if ctx.is_basic:
            # Ints and slices select each element at most once: plain assignment is a scatter.
            grad[ctx.index] = grad_out
        else:
            # Integer arrays may select an element several times; np.add.at adds every copy's gradient.
            np.add.at(grad, ctx.index, grad_out)
        return grad


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
    """Copy x to `device` ("cpu" or "cuda"); the only op whose output lives elsewhere than its input."""
    out = ToDevice.apply(x, device=device, source_device=x.device)
    out.device = device
    return out


def reshape(x, *shape):
    shape = _shape_from_args(shape)
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {shape}")
    known = int(np.prod([n for n in shape if n != -1]))
    if -1 in shape:
        if known == 0 or x.size % known:
            raise ValueError(f"reshape: cannot reshape tensor of shape {x.shape} ({x.size} elements) into {shape}")
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    elif known != x.size:
        raise ValueError(f"reshape: cannot reshape tensor of shape {x.shape} ({x.size} elements) into {shape}")
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=shape)


def permute(x, *axes):
    axes = _shape_from_args(axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: axes {axes} are not a permutation of the {x.ndim} dimensions of shape {x.shape}")
    axes = tuple(a % x.ndim for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, axes=axes)


def transpose(x, dim0, dim1):
    """Swap two axes: a permutation."""
    if x.ndim < 2:
        raise ValueError(f"transpose: needs at least 2 dimensions, got shape {x.shape}")
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
        raise ValueError(f"expand: tensor of shape {x.shape} cannot be broadcast to {shape}") from None
    if shape == x.shape:
        return x
    return Expand.apply(x, shape=shape)


def squeeze(x, axis=None):
    """Drop axes of size 1: a reshape."""
    if axis is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        axes = {a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return reshape(x, shape)


def unsqueeze(x, axis):
    """Insert an axis of size 1 at `axis` (negative counts from the end of the result): a reshape."""
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a tensor with {x.ndim} dimensions")
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one: a reshape."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    merged = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def pad(x, pad_width, value=0.0):
    """Pad with a constant. `pad_width` is NumPy's: one (before, after) pair per dimension."""
    pad_width = tuple((int(before), int(after)) for before, after in pad_width)
    if len(pad_width) != x.ndim or any(before < 0 or after < 0 for before, after in pad_width):
        raise ValueError(f"pad: pad_width {pad_width} must hold one non-negative (before, after) pair for each of the {x.ndim} dimensions of shape {x.shape}")
    return Pad.apply(x, pad_width=pad_width, value=value)


def concatenate(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: expected a non-empty sequence of tensors")
    first = tensors[0]
    axis = axis % max(first.ndim, 1)
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
            shapes = [t.shape for t in tensors]
            raise ValueError(f"concatenate: shapes {shapes} must match except along axis {axis}")
    dtype = np.result_type(*[t.dtype for t in tensors])
    tensors = [t if t.dtype == dtype else t.astype(dtype) for t in tensors]
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    """Join along a new axis: unsqueeze each, then concatenate."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: expects tensors of equal shape, got {[t.shape for t in tensors]}")
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


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
