"""The p-norm of a tensor (over all elements or along dims), as `torch.norm` / `torch.linalg.vector_norm`.

    ‖x‖_p = (Σ |x_i|^p)^(1/p)          ∂‖x‖_p/∂x_i = sign(x_i) |x_i|^(p-1) / ‖x‖_p^(p-1)
    ‖x‖_∞ = max |x_i|                  gradient split evenly between the elements of largest |x|

A fused op rather than `(x.abs() ** p).sum() ** (1/p)`: at x = 0 the composite's chain rule multiplies an
infinite derivative of the root by a zero and gives NaN, where PyTorch (and the math, as a subgradient) gives 0.
"""
import math

import numpy as np

from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.reduce import normalize_axis


class VectorNorm(ArrayFunction):
    """y = (Σ_axis |x|^p)^(1/p);  dx = dy · sign(x) |x|^(p-1) / y^(p-1), and 0 where y = 0."""

    @staticmethod
    def forward(ctx, x, p, axis, keepdims):
        ctx.save_for_backward(x)
        ctx.p, ctx.axis, ctx.keepdims = p, axis, keepdims
        magnitude = np.abs(x)
        if math.isinf(p):
            y = np.max(magnitude, axis=axis, keepdims=True) if x.size else np.zeros_like(magnitude, shape=())
        elif p == 0:
            y = np.sum(magnitude != 0, axis=axis, keepdims=True).astype(x.dtype)
        elif p == 2:
            y = np.sqrt(np.sum(magnitude * magnitude, axis=axis, keepdims=True))
        else:
            y = np.sum(magnitude ** p, axis=axis, keepdims=True) ** (1.0 / p)
        ctx.y = y
        return y if keepdims else np.squeeze(y, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        p, y = ctx.p, ctx.y
        grad = grad_out if ctx.keepdims else np.expand_dims(grad_out, ctx.axis)
        if p == 0:
            return np.zeros_like(x)
        if math.isinf(p):
            is_max = np.abs(x) == y
            return grad * np.sign(x) * is_max / np.sum(is_max, axis=ctx.axis, keepdims=True)
        safe_y = np.where(y == 0, 1, y)
        local = np.sign(x) * np.abs(x) ** (p - 1) / safe_y ** (p - 1) if p != 2 else x / safe_y
        return grad * np.where(y == 0, 0, local)


def norm(x, p=2, dim=None, keepdim=False):
    """‖x‖_p over `dim` (None: all elements); p may be a number, inf or 'fro' (= 2)."""
    if p == "fro":
        p = 2
    if isinstance(p, str) or p < 0:
        raise ValueError(f"norm: p must be a non-negative number, inf or 'fro', got {p!r}")
    if x.dtype.kind != "f":
        raise RuntimeError(f"norm: expected a floating point tensor, got {x.dtype}")
    axes = normalize_axis(dim, x.ndim, "norm")
    return VectorNorm.apply(x, p=float(p), axis=axes, keepdims=bool(keepdim))
