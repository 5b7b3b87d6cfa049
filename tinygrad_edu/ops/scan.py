"""Running sums and products along a dim: cumsum, and prod (whose backward needs the running products).

prod's derivative ∂(Π x)/∂x_i = Π_{j≠i} x_j is written as (product of the elements before i) · (product of the
elements after i), two exclusive running products, so it is exact when some x_j are 0 (dividing the product by
x_i, the textbook shortcut, gives 0/0 there).
"""
import numpy as np

from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.reduce import normalize_dim


class CumSum(ArrayFunction):
    """y_i = Σ_{j≤i} x_j along `axis`;  dx_j = Σ_{i≥j} dy_i (a cumulative sum from the other end)."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return np.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        reversed_grad = np.flip(grad_out, ctx.axis)
        return np.flip(np.cumsum(reversed_grad, axis=ctx.axis), ctx.axis)


def _exclusive_cumprod(x, axis):
    """[1, x_0, x_0 x_1, ...] along `axis`: the product of the elements strictly before each one."""
    ones = np.ones_like(np.take(x, [0], axis=axis))
    before = np.cumprod(np.take(x, np.arange(x.shape[axis] - 1), axis=axis), axis=axis)
    return np.concatenate([ones, before], axis=axis)


class Prod(ArrayFunction):
    """y = Π x along `axis`;  dx_i = dy · Π_{j<i} x_j · Π_{j>i} x_j (exact at zeros, see the module docstring)."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.save_for_backward(x)
        ctx.axis, ctx.keepdims = axis, keepdims
        return np.prod(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        axis = ctx.axis
        if x.shape[axis] == 0:
            return np.zeros_like(x)
        before = _exclusive_cumprod(x, axis)
        after = np.flip(_exclusive_cumprod(np.flip(x, axis), axis), axis)
        grad = grad_out if ctx.keepdims else np.expand_dims(grad_out, axis)
        return grad * before * after


def cumsum(x, dim):
    axis = normalize_dim(dim, x.ndim, "cumsum")
    if x.ndim == 0:
        return x
    if x.dtype.kind in "bui":
        x = x.astype(np.int64)  # as PyTorch: integer cumsum is int64
    return CumSum.apply(x, axis=axis)


def prod(x, dim=None, keepdim=False):
    """Π x over all elements (dim=None) or along one dim."""
    if dim is None:
        flat = x.reshape(-1)
        return Prod.apply(flat, axis=0, keepdims=False).reshape((1,) * x.ndim if keepdim else ())
    axis = normalize_dim(dim, x.ndim, "prod")
    if x.ndim == 0:
        return x
    return Prod.apply(x, axis=axis, keepdims=keepdim)
