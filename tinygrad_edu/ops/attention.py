"""Scaled dot-product attention, fused: softmax(Q Kᵀ · scale + mask) V in one kernel, forward and backward."""
import math

import numpy as np

from tinygrad_edu import backend
from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.tensor import as_array


class ScaledDotProductAttention(ArrayFunction):
    """O = P V with P = softmax(S), S = Q Kᵀ·scale + mask.

    Backward: dV = Pᵀ dO;  dP = dO Vᵀ;  dS = P ∘ (dP - rowsum(dP ∘ P));  dQ = dS K·scale;  dK = dSᵀ Q·scale.
    The probabilities P are saved, so the backward needs no second softmax.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale):
        out, probs = backend.kernels(q).attention_forward(q, k, v, mask, causal, scale)
        ctx.save_for_backward(q, k, v, probs)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, probs = ctx.saved_tensors
        return backend.kernels(q).attention_backward(q, k, v, probs, grad_out, ctx.scale)


def _additive_mask(mask, shape, dtype):
    """PyTorch's convention: a bool mask is True where attention is allowed; a float mask is added to the scores."""
    mask = as_array(mask)
    if mask.dtype == np.bool_:
        mask = np.where(mask, 0.0, -np.inf)
    try:
        return np.broadcast_to(mask.astype(dtype, copy=False), shape)
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: mask of shape {mask.shape} cannot be broadcast to the scores' shape {shape}") from None


def scaled_dot_product_attention(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q kᵀ / √d + mask) v over the last two dims; leading dims (batch, heads) are carried along.

    q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) -> (..., Tq, Dv). A query row with every key masked gives 0
    (PyTorch gives NaN there).
    """
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"scaled_dot_product_attention: q, k, v need the same number (>= 2) of dims, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2] or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: expected q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv), got {q.shape}, {k.shape}, {v.shape}")
    if not (q.dtype == k.dtype == v.dtype) or q.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: q, k, v must share one float dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    leading, (t_q, d), t_k = q.shape[:-2], q.shape[-2:], k.shape[-2]
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    q3, k3, v3 = (t.reshape(-1, *t.shape[-2:]) for t in (q, k, v))  # (B·heads, T, D)
    mask3 = None
    if mask is not None:
        mask3 = _additive_mask(mask, leading + (t_q, t_k), q.dtype).reshape(-1, t_q, t_k)
    out = ScaledDotProductAttention.apply(q3, k3, v3, mask=mask3, causal=bool(causal), scale=scale)
    return out.reshape(*leading, t_q, v.shape[-1])
