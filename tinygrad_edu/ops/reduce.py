"""Reductions: sum, max and logsumexp are primitives; mean, min and var are built from them."""
import numpy as np

from tinygrad_edu.autograd import ArrayFunction


def normalize_axis(axis, ndim, op_name):
    """Turn `axis` (None, an int or a sequence; negative allowed) into a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op_name}: axis must be an int or a tuple of ints, got {axis!r}")
    normalized = []
    for a in axes:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op_name}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op_name}: axis {a} is out of range for a tensor with {ndim} dimensions")
        normalized.append(int(a) % max(ndim, 1))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op_name}: repeated axis in {axis!r}")
    return tuple(sorted(normalized))


def _keepdims_shape(grad_out, input_shape, axis, keepdims):
    """Reshape an output-shaped array so it broadcasts against the input (re-insert the reduced axes)."""
    if keepdims:
        return grad_out
    shape = [1 if i in axis else n for i, n in enumerate(input_shape)]
    return grad_out.reshape(shape)


class Sum(ArrayFunction):
    """y = Σ_axis x;  dx = dy broadcast back over the reduced axes (every element contributes once)."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.input_shape, ctx.axis, ctx.keepdims = x.shape, axis, keepdims
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        grad = _keepdims_shape(grad_out, ctx.input_shape, ctx.axis, ctx.keepdims)
        return np.broadcast_to(grad, ctx.input_shape)


class Max(ArrayFunction):
    """y = max_axis x;  dx = dy at the position of the maximum, split evenly when several elements tie."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        if x.size == 0:
            raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
        y = np.max(x, axis=axis, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.axis, ctx.keepdims = axis, keepdims
        return y if keepdims else np.squeeze(y, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved_tensors
        is_max = x == y
        ties = np.sum(is_max, axis=ctx.axis, keepdims=True)
        grad = _keepdims_shape(grad_out, x.shape, ctx.axis, ctx.keepdims)
        return is_max * (grad / ties)


class LogSumExp(ArrayFunction):
    """y = log Σ eˣ computed as m + log Σ e^(x-m) with m = max x (no overflow);  dx = dy · e^(x - y) = dy · softmax(x)."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        y = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        ctx.save_for_backward(x, y)
        ctx.axis, ctx.keepdims = axis, keepdims
        return y if keepdims else np.squeeze(y, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved_tensors
        grad = _keepdims_shape(grad_out, x.shape, ctx.axis, ctx.keepdims)
        return grad * np.exp(x - y)


def mean(x, axis=None, keepdims=False):
    """mean = sum / count (no backward of its own)."""
    axes = normalize_axis(axis, x.ndim, "mean")
    count = int(np.prod([x.shape[a] for a in axes]))
    if count == 0:
        raise ValueError(f"mean: cannot average over an empty selection of a tensor of shape {x.shape}")
    return Sum.apply(x, axis=axes, keepdims=keepdims) * (1.0 / count)


def min(x, axis=None, keepdims=False):
    """min x = -max(-x)."""
    return -Max.apply(-x, axis=normalize_axis(axis, x.ndim, "min"), keepdims=keepdims)


def var(x, axis=None, keepdims=False, correction=1):
    """var = Σ (x - mean)² / (count - correction); correction=1 is the unbiased estimate (PyTorch's default)."""
    axes = normalize_axis(axis, x.ndim, "var")
    count = int(np.prod([x.shape[a] for a in axes]))
    if count - correction <= 0:
        raise ValueError(f"var: {count} elements with correction={correction} leave no degrees of freedom")
    centered = x - mean(x, axis=axes, keepdims=True)
    return (centered * centered).sum(axis=axes, keepdims=keepdims) * (1.0 / (count - correction))
