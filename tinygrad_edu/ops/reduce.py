"""Reductions: sum, max and logsumexp are primitives; mean, min and var are built from them."""
import math
import warnings

import numpy as np

from tinygrad_edu.autograd import ArrayFunction


def normalize_dim(dim, ndim, op_name, argument="dim"):
    """One dim (negative counts from the end) as a non-negative int; IndexError as PyTorch's when out of range.

    A 0-d tensor accepts dim 0 and -1, as in PyTorch. This is the one place the engine validates a dim: every op
    that takes one calls it, so `cat(..., dim=2)` on 2-D tensors raises rather than wrapping around.
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op_name}: {argument} must be an int, got {dim!r}")
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not low <= dim <= high:
        raise IndexError(f"{op_name}: Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})")
    return int(dim) % max(ndim, 1)


def normalize_axis(axis, ndim, op_name):
    """Turn `axis` (None, an int or a sequence; negative allowed) into a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op_name}: dim must be an int or a tuple of ints, got {axis!r}")
    normalized = [normalize_dim(a, ndim, op_name) for a in axes]
    if len(set(normalized)) != len(normalized):
        raise RuntimeError(f"{op_name}: dim {axis!r} appears multiple times in the list of dims")
    if ndim == 0:
        return ()  # a 0-d tensor has no axis to reduce: dim 0 / -1 name the tensor itself, as in PyTorch
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


def _check_reduced_dims_not_empty(x, axis, op_name):
    """Raise as PyTorch does for a max/min over a dim of size 0 (there is no identity element to return)."""
    if x.size != 0:
        return
    if len(axis) == x.ndim:
        raise RuntimeError(f"{op_name}(): Expected reduction dim to be specified for input.numel() == 0. "
                           f"Specify the reduction dim with the 'dim' argument.")
    for a in axis:
        if x.shape[a] == 0:
            raise IndexError(f"{op_name}(): Expected reduction dim {a} to have non-zero size.")


class Max(ArrayFunction):
    """y = max_axis x (NaN if the slice holds a NaN);  dx = dy at the position of the maximum, split evenly when
    several elements tie.

    Where y is NaN the two PyTorch ops differ, and `op_name` picks which one this is: x.max() / x.min() count
    the NaN elements as the maxima and split dy between them; torch.amax / amin divide dy by the number of
    elements equal to y, which is 0 for NaN, so the whole slice gets NaN.
    """

    @staticmethod
    def forward(ctx, x, axis, keepdims, op_name="max"):
        _check_reduced_dims_not_empty(x, axis, op_name)
        ctx.nan_is_max = op_name in ("max", "min")
        if x.size == 0:  # only kept dims are empty: the result is empty too (NumPy's max has no identity for it)
            shape = tuple(1 if i in axis else n for i, n in enumerate(x.shape))
            y = np.zeros_like(x, shape=shape)
        else:
            y = np.max(x, axis=axis, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.axis, ctx.keepdims = axis, keepdims
        return y if keepdims else np.squeeze(y, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved_tensors
        is_max = x == y
        if ctx.nan_is_max:
            is_max = is_max | (np.isnan(x) & np.isnan(y))
        ties = np.sum(is_max, axis=ctx.axis, keepdims=True)
        grad = _keepdims_shape(grad_out, x.shape, ctx.axis, ctx.keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = grad / ties
            if not ctx.nan_is_max:
                return share * is_max  # amax: a slice with no match (y is NaN) has share ±inf or NaN, times 0: NaN
        # where(), not is_max * share: a NaN or inf dy must not leak into the non-maxima as 0 · NaN.
        return np.where(is_max, share, np.zeros((), dtype=grad_out.dtype))


class LogSumExp(ArrayFunction):
    """y = log Σ eˣ computed as m + log Σ e^(x-m) with m = max x (no overflow);  dx = dy · e^(x - y) = dy · softmax(x).

    m is replaced by 0 where it is ±inf (a slice of -inf gives log 0 = -inf, one holding +inf gives +inf, as in
    PyTorch), and an empty slice gives log 0 = -inf.
    """

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        if x.size == 0:
            m = np.zeros_like(x, shape=tuple(1 if i in axis else n for i, n in enumerate(x.shape)))
        else:
            m = np.max(x, axis=axis, keepdims=True)
            m = np.where(np.isfinite(m), m, np.zeros((), dtype=x.dtype))
        with np.errstate(divide="ignore", invalid="ignore"):  # log 0 = -inf and inf - inf = NaN are the answers
            y = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        ctx.save_for_backward(x, y)
        ctx.axis, ctx.keepdims = axis, keepdims
        return y if keepdims else np.squeeze(y, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved_tensors
        grad = _keepdims_shape(grad_out, x.shape, ctx.axis, ctx.keepdims)
        with np.errstate(invalid="ignore"):
            return grad * np.exp(x - y)


def mean(x, axis=None, keepdims=False):
    """mean = sum / count (no backward of its own); the mean of no elements is NaN, as in PyTorch."""
    axes = normalize_axis(axis, x.ndim, "mean")
    count = int(np.prod([x.shape[a] for a in axes]))
    return Sum.apply(x, axis=axes, keepdims=keepdims) * (1.0 / count if count else math.nan)


def min_of(x, axis=None, keepdims=False, op_name="min"):
    """min x = -max(-x) over `axis`; op_name "min" (x.min()) or "amin" (torch.amin) picks the gradient rule at NaN
    (see Max). Not named `min`, which would hide Python's builtin in this module."""
    return -Max.apply(-x, axis=normalize_axis(axis, x.ndim, op_name), keepdims=keepdims, op_name=op_name)


class _VarianceBackward:
    """dx = dvar · 2(x - x̄) / (n - correction), PyTorch's var_backward, shared by Var and Std.

    With no degrees of freedom left (n ≤ correction) PyTorch distinguishes how the dims were given: reducing
    the whole tensor (dim=None) it returns dvar · (NaN where x = x̄, else +inf); with explicit dims it keeps
    the factor 2 / (n - correction) (+inf at 0, negative below).
    """

    def __init__(self, x, centered, mean, count, correction, whole_tensor):
        degrees_of_freedom = count - correction
        self.centered = centered
        self.x_is_mean = None
        if whole_tensor and degrees_of_freedom <= 0:
            self.x_is_mean = x == mean
        self.factor = 2.0 / degrees_of_freedom if degrees_of_freedom else math.inf

    def __call__(self, grad_var):
        with np.errstate(invalid="ignore"):
            if self.x_is_mean is not None:
                return grad_var * np.where(self.x_is_mean, np.nan, np.inf).astype(grad_var.dtype)
            return grad_var.dtype.type(self.factor) * grad_var * self.centered


def _variance(x, axis, correction, whole_tensor):
    """Σ (x - x̄)² / max(0, n - correction) over `axis` (kept as size-1 dims), and its backward (see above)."""
    count = int(np.prod([x.shape[a] for a in axis]))
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty slice has mean 0/0 = NaN, as in PyTorch
        mean = np.sum(x, axis=axis, keepdims=True) / x.dtype.type(count)
        centered = x - mean
        y = np.sum(centered * centered, axis=axis, keepdims=True) / x.dtype.type(max(0, count - correction))
    return y, _VarianceBackward(x, centered, mean, count, correction, whole_tensor)


def _warn_no_degrees_of_freedom(op_name, degrees_of_freedom):
    if degrees_of_freedom <= 0:
        warnings.warn(f"{op_name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
                      f"reduction factor (input numel divided by output numel).", UserWarning, stacklevel=4)


class Var(ArrayFunction):
    """y = Σ (x - x̄)² / max(0, n - correction);  dx = dy · 2(x - x̄) / (n - correction)  (PyTorch's var_backward).

    Fused rather than composed, so the gradient is that formula even at inf: var([0, inf]) has the gradient
    [-inf·dy, NaN] as in PyTorch (a composed (x - x̄)² backward gives NaN everywhere). With no degrees of freedom
    left (n ≤ correction) y is 0/0 = NaN or x/0 = inf (see _VarianceBackward for the gradient there).
    """

    @staticmethod
    def forward(ctx, x, axis, keepdims, correction, whole_tensor):
        y, ctx.variance_backward = _variance(x, axis, correction, whole_tensor)
        ctx.axis, ctx.keepdims, ctx.input_shape = axis, keepdims, x.shape
        return y if keepdims else np.squeeze(y, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        return ctx.variance_backward(_keepdims_shape(grad_out, ctx.input_shape, ctx.axis, ctx.keepdims))


class Std(ArrayFunction):
    """y = √var(x);  dx = dvar · 2(x - x̄) / (n - correction) with dvar = dy / (2y), taken as 0 where y = 0.

    That masking is PyTorch's std_backward: the std of a constant slice is 0 and so is its gradient, where the
    composed √var would give dy/0 · 0 = NaN.
    """

    @staticmethod
    def forward(ctx, x, axis, keepdims, correction, whole_tensor):
        variance, ctx.variance_backward = _variance(x, axis, correction, whole_tensor)
        y = np.sqrt(variance)
        ctx.save_for_backward(y)
        ctx.axis, ctx.keepdims, ctx.input_shape = axis, keepdims, x.shape
        return y if keepdims else np.squeeze(y, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        grad = _keepdims_shape(grad_out, ctx.input_shape, ctx.axis, ctx.keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            grad_var = np.where(y == 0, np.zeros((), dtype=grad_out.dtype), grad / (2 * y))
        return ctx.variance_backward(grad_var)


def _check_float(op_name, x):
    if x.dtype.kind != "f":
        raise RuntimeError(f"{op_name}: std and var only support floating point and complex dtypes, got {x.dtype}")


def var(x, axis=None, keepdims=False, correction=1):
    """var = Σ (x - mean)² / max(0, count - correction); correction=1 is the unbiased estimate (PyTorch's default).

    With no degrees of freedom left (count ≤ correction) the divisor is 0, so the result is NaN (or inf), with
    PyTorch's warning.
    """
    _check_float("var", x)
    axes = normalize_axis(axis, x.ndim, "var")
    count = int(np.prod([x.shape[a] for a in axes]))
    _warn_no_degrees_of_freedom("var", count - correction)
    return Var.apply(x, axis=axes, keepdims=keepdims, correction=correction, whole_tensor=axis is None or x.ndim == 0)


def std(x, axis=None, keepdims=False, correction=1):
    """std = √var with its own backward (see Std): the gradient at a constant slice is 0, as in PyTorch."""
    _check_float("std", x)
    axes = normalize_axis(axis, x.ndim, "std")
    count = int(np.prod([x.shape[a] for a in axes]))
    _warn_no_degrees_of_freedom("std", count - correction)
    return Std.apply(x, axis=axes, keepdims=keepdims, correction=correction, whole_tensor=axis is None or x.ndim == 0)
