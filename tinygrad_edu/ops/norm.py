"""Layer normalization as one fused op over the trailing `normalized_shape` dims."""
import math

import numpy as np

from tinygrad_edu import backend
from tinygrad_edu.autograd import ArrayFunction


class LayerNorm(ArrayFunction):
    """y = x̂ w + b with x̂ = (x - μ) / √(σ² + eps) per row.

    Backward with ĝ = dy w: dx = rstd (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)), dw = Σ_rows dy x̂, db = Σ_rows dy.
    An empty normalized_shape (D = 0) gives an empty output and zero gradients, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, normalized_size, eps):
        ctx.input_shape = x.shape
        ctx.param_shape = None if weight is None else weight.shape
        ctx.has_params = (weight is not None, bias is not None)
        ctx.no_features = normalized_size == 0
        if ctx.no_features:  # nothing to normalise; the kernels' rows (R, 0) could not even be formed by reshape
            return np.zeros_like(x)
        rows = x.reshape(-1, normalized_size)
        w = None if weight is None else weight.reshape(-1)
        b = None if bias is None else bias.reshape(-1)
        y, mean, rstd = backend.kernels(rows).layer_norm_forward(rows, w, b, eps)
        ctx.save_for_backward(rows, w, mean, rstd)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.no_features:
            grads = [np.zeros_like(grad_out)]
            grads += [np.zeros_like(grad_out, shape=ctx.param_shape) for present in ctx.has_params if present]
            return tuple(grads)
        rows, w, mean, rstd = ctx.saved_tensors
        grad_rows = backend.contiguous(grad_out).reshape(rows.shape)
        grad_x, grad_w, grad_b = backend.kernels(rows).layer_norm_backward(grad_rows, rows, w, mean, rstd)
        grads = [grad_x.reshape(ctx.input_shape)]
        if ctx.has_params[0]:
            grads.append(grad_w.reshape(ctx.param_shape))
        if ctx.has_params[1]:
            grads.append(grad_rows.sum(axis=0).reshape(ctx.param_shape) if grad_b is None else grad_b.reshape(ctx.param_shape))
        return tuple(grads)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """PyTorch's `F.layer_norm`: normalise over the last len(normalized_shape) dims."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise RuntimeError(f"layer_norm: input {x.shape} does not end with normalized_shape {normalized_shape}")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != normalized_shape:
            raise RuntimeError(f"layer_norm: {name} must have shape {normalized_shape}, got {param.shape}")
    if weight is None and bias is not None:
        raise ValueError("layer_norm: a bias without a weight is not supported; pass weight=ones")
    return LayerNorm.apply(x, weight, bias, normalized_size=int(math.prod(normalized_shape)), eps=float(eps))
