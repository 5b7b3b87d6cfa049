"""Scaled dot-product attention, fused: softmax(Q Kᵀ · scale + mask) V in one kernel, forward and backward.

`scaled_dot_product_attention` has PyTorch's signature and conventions (torch.nn.functional, math path), checked
against torch by the tests: a bool `attn_mask` is True where a query may attend, a float one is added to the
scores; `is_causal` masks key j > query i (top-left aligned) and may not be combined with `attn_mask`; a query
row whose keys are all masked gives 0 (torch ≥ 2.5); NaN and inf propagate as in torch (kernels/reference/
attention.py lists the cases). `packed_self_attention` is the same op for MultiheadAttention's self-attention,
taking the packed q/k/v in-projection and returning the heads merged, so the split and merge are no graph nodes.
"""
import math

import numpy as np

from tinygrad_edu import backend
from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.linalg import batched_matmul
from tinygrad_edu.tensor import Tensor, as_array, default_generator


class ScaledDotProductAttention(ArrayFunction):
    """O = P̃ V with P̃ = P ∘ M (M = dropout's keep mask / (1 - p), or 1), P = softmax(S), S = Q Kᵀ·scale + mask.

    Backward: dV = P̃ᵀ dO;  dP = (dO Vᵀ) ∘ M;  dS = P ∘ (dP - δ),  δ = rowsum(dP ∘ P);
              dQ = dS K·scale;  dK = dSᵀ Q·scale.
    What the backward keeps, two ways:
      * without dropout, where the kernel set offers the log-sum-exp pair (attention_forward_lse and
        attention_backward_lse: kernels/reference and kernels/cpu have it), O and lse_i = log Σ_j exp(S_ij),
        (B, Tq) values instead of (B, Tq, Tk): the backward recomputes P = exp(S - lse) one block of keys at a
        time, with δ = rowsum(dO ∘ O), equal to rowsum(dP ∘ P) without dropout (flash attention's bookkeeping);
      * otherwise the probabilities P: the forward's fused kernel returns them, the backward is the fused
        kernel (M = 1) or the formulas above on the backend's matmul (dropout).
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale, dropout_keep):
        kernels = backend.kernels(q)
        ctx.scale, ctx.dropout_keep, ctx.mask, ctx.causal = scale, dropout_keep, mask, causal
        ctx.keeps_lse = dropout_keep is None and _has_lse_kernels(kernels)
        if ctx.keeps_lse:
            out, lse = kernels.attention_forward_lse(q, k, v, mask, causal, scale)
            ctx.save_for_backward(q, k, v, out, lse)
            return out
        out, probs = kernels.attention_forward(q, k, v, mask, causal, scale)
        if dropout_keep is not None:
            out = batched_matmul(probs * dropout_keep, v)  # (B, Tq, Dv)
        ctx.save_for_backward(q, k, v, probs)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.keeps_lse:
            q, k, v, out, lse = ctx.saved_tensors
            return backend.kernels(q).attention_backward_lse(q, k, v, ctx.mask, ctx.causal, out, lse, grad_out,
                                                             ctx.scale)
        q, k, v, probs = ctx.saved_tensors
        keep = ctx.dropout_keep
        if keep is None:
            return backend.kernels(q).attention_backward(q, k, v, probs, grad_out, ctx.scale)
        scale = q.dtype.type(ctx.scale)
        grad_v = batched_matmul(np.swapaxes(probs * keep, -1, -2), grad_out)  # (B, Tk, Dv)
        grad_p = batched_matmul(grad_out, np.swapaxes(v, -1, -2)) * keep  # (B, Tq, Tk)
        grad_s = probs * (grad_p - np.sum(grad_p * probs, axis=-1, keepdims=True))
        grad_q = batched_matmul(grad_s, k) * scale  # (B, Tq, D)
        grad_k = batched_matmul(np.swapaxes(grad_s, -1, -2), q) * scale  # (B, Tk, D)
        return grad_q, grad_k, grad_v


class PackedSelfAttention(ArrayFunction):
    """Self-attention on MultiheadAttention's packed in-projection: packed (N, L, 3E) -> (N, L, E), heads merged.

    q, k, v = the three E-wide thirds of `packed`, each split into heads, (N·heads, L, head_dim); O as in
    ScaledDotProductAttention, with the heads merged back. Backward: dQ, dK, dV of ScaledDotProductAttention,
    each written into one (N, L, 3E) gradient at the columns its third came from.
    One op instead of slice ×3 → reshape ×3 → transpose ×3 → attention → transpose → reshape: in that chain each
    slice's backward fills a zero (N, L, 3E) array and the engine then adds the three, and every movement op is
    a graph node of its own on both passes.
    Without dropout, where the kernel set offers packed_attention_forward / packed_attention_backward (reference
    and cpu), the kernels read the heads from `packed` in place and write the heads merged, and the backward
    keeps (packed, O, lse); otherwise the heads are copied out and ScaledDotProductAttention does the rest.
    """

    @staticmethod
    def forward(ctx, packed, heads, mask, causal, scale, dropout_keep):
        batch, length, width = packed.shape
        embed = width // 3
        head_dim = embed // heads
        ctx.heads = heads
        kernels = backend.kernels(packed)
        ctx.in_place = dropout_keep is None and _has_packed_kernels(kernels)
        if ctx.in_place:
            ctx.scale, ctx.mask, ctx.causal = scale, mask, causal
            out, lse = kernels.packed_attention_forward(packed, heads, mask, causal, scale)  # (N, L, E), (N·heads, L)
            ctx.save_for_backward(packed, out, lse)
            return out
        qkv = packed.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)  # (3, N, heads, L, head_dim)
        q, k, v = (np.ascontiguousarray(qkv[part]).reshape(batch * heads, length, head_dim) for part in range(3))
        out = ScaledDotProductAttention.forward(ctx, q, k, v, mask, causal, scale, dropout_keep)  # (N·heads, L, hd)
        out = out.reshape(batch, heads, length, head_dim).transpose(0, 2, 1, 3)  # (N, L, heads, head_dim)
        return out.reshape(batch, length, embed)  # (N, L, E)

    @staticmethod
    def backward(ctx, grad_out):
        batch, length, embed = grad_out.shape
        heads = ctx.heads
        if ctx.in_place:
            packed, out, lse = ctx.saved_tensors
            return backend.kernels(packed).packed_attention_backward(packed, heads, ctx.mask, ctx.causal, out, lse,
                                                                     grad_out, ctx.scale)  # (N, L, 3E)
        head_dim = embed // heads
        grad_heads = grad_out.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)  # (N, heads, L, hd)
        grad_heads = np.ascontiguousarray(grad_heads).reshape(batch * heads, length, head_dim)
        grads = ScaledDotProductAttention.backward(ctx, grad_heads)  # dQ, dK, dV, each (N·heads, L, head_dim)
        grad_packed = np.empty((batch, length, 3, heads, head_dim), dtype=grad_out.dtype)
        for part, grad in enumerate(grads):
            grad_packed[:, :, part] = grad.reshape(batch, heads, length, head_dim).transpose(0, 2, 1, 3)
        return grad_packed.reshape(batch, length, 3 * embed)  # (N, L, 3E): q's, k's and v's columns


def _has_lse_kernels(kernels):
    """Whether the kernel set offers the log-sum-exp pair (the CUDA set does not: it keeps the probabilities)."""
    return hasattr(kernels, "attention_forward_lse") and hasattr(kernels, "attention_backward_lse")


def _has_packed_kernels(kernels):
    """Whether the kernel set reads attention heads in place from a packed in-projection (reference and cpu)."""
    return hasattr(kernels, "packed_attention_forward") and hasattr(kernels, "packed_attention_backward")


def _additive_mask(attn_mask, shape, dtype):
    """PyTorch's convention: a bool mask is True where attention is allowed; a float mask is added to the scores."""
    if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
        raise NotImplementedError(
            "scaled_dot_product_attention: a float attn_mask that requires grad is not supported: the fused kernels "
            "treat the mask as a constant (torch differentiates it); pass attn_mask.detach() or add the bias to "
            "the scores yourself")
    mask = as_array(attn_mask)
    if mask.dtype == np.bool_:
        mask = np.where(mask, 0.0, -np.inf)
    elif mask.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: attn_mask must be a bool or float tensor, got dtype "
                        f"{mask.dtype}")
    try:
        return np.broadcast_to(mask.astype(dtype, copy=False), shape)
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} cannot be broadcast to the "
                           f"attention weights' shape {shape} (..., L, S)") from None


def _dropout_keep(dropout_p, shape, dtype):
    """Dropout's scaled keep mask: 1/(1-p) with probability 1-p, else 0 (all 0 for p = 1), from manual_seed's
    generator, as F.dropout draws it."""
    if dropout_p == 1.0:
        return np.zeros(shape, dtype=dtype)
    keep = default_generator().random(shape) >= dropout_p
    return dropout_scale(keep, dropout_p, dtype)


def dropout_scale(keep, dropout_p, dtype):
    """Dropout's multiplier from its bool keep mask: 1/(1-p) where kept, else 0, as `dtype`.

    The same values as (keep / (1 - p)).astype(dtype), the scale rounded once to `dtype`, without the float64
    intermediate array.
    """
    scale = keep.astype(dtype)
    scale *= np.dtype(dtype).type(1.0 / (1.0 - dropout_p))
    return scale


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(query keyᵀ · scale + attn_mask) value over the last two dims, as torch.nn.functional's.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); leading dims (batch, heads) must match.
    scale defaults to 1/√E. `dropout_p` > 0 drops attention weights (and rescales the rest by 1/(1-p)) on every
    call, as torch's function does: pass `dropout_p=p if self.training else 0.0` from a module.

    >>> q = k = v = Tensor(np.ones((1, 2, 4)))
    >>> scaled_dot_product_attention(q, k, v, is_causal=True).shape
    (1, 2, 4)
    """
    q, k, v = query, key, value
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"scaled_dot_product_attention: query, key, value need the same number (>= 2) of dims, "
                         f"got {q.shape}, {k.shape}, {v.shape}")
    if (q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2] or q.shape[-1] != k.shape[-1]
            or k.shape[-2] != v.shape[-2]):
        raise RuntimeError(f"scaled_dot_product_attention: expected query (..., L, E), key (..., S, E), value "
                           f"(..., S, Ev), got {q.shape}, {k.shape}, {v.shape}")
    if not (q.dtype == k.dtype == v.dtype) or q.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: query, key, value must share one float dtype, got "
                        f"{q.dtype}, {k.dtype}, {v.dtype}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True "
                           "(as in torch: fold the causal mask into attn_mask instead)")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout probability has to be between 0 and 1, but got "
                         f"{dropout_p}")
    leading, (t_q, d), t_k = q.shape[:-2], q.shape[-2:], k.shape[-2]
    if t_k == 0:
        # No keys: PyTorch returns zeros that still depend on every input, zeros + (Σq + Σk + Σv)·0, so a
        # non-finite value anywhere in the query makes the whole output NaN, and each input's gradient is 0.
        return q.new_zeros(*leading, t_q, v.shape[-1]) + (q.sum() + k.sum() + v.sum()) * 0.0
    scale = (1.0 / math.sqrt(d) if d else math.inf) if scale is None else float(scale)
    batch = math.prod(leading)  # explicit, not -1: a reshape of an empty tensor cannot infer a dim
    q3 = q.reshape(batch, t_q, d)  # (B·heads, L, E)
    k3 = k.reshape(batch, t_k, d)  # (B·heads, S, E)
    v3 = v.reshape(batch, t_k, v.shape[-1])  # (B·heads, S, Ev)
    mask3 = None
    if attn_mask is not None:
        mask3 = _additive_mask(attn_mask, leading + (t_q, t_k), q.dtype).reshape(batch, t_q, t_k)
        mask3 = backend.contiguous(mask3)  # once here, not in each of the forward and backward kernels
    keep = _dropout_keep(float(dropout_p), (batch, t_q, t_k), q.dtype) if dropout_p > 0 else None
    out = ScaledDotProductAttention.apply(q3, k3, v3, mask=mask3, causal=bool(is_causal), scale=scale,
                                          dropout_keep=keep)
    return out.reshape(*leading, t_q, v.shape[-1])


def packed_self_attention(packed, num_heads, attn_mask=None, dropout_p=0.0, is_causal=False):
    """The attention of MultiheadAttention(x, x, x) from its packed in-projection x W_inᵀ + b_in, (N, L, 3E):
    split into q, k, v and heads, scaled-dot-product attention, heads merged back, (N, L, E).

    attn_mask: an additive float mask that broadcasts to (N, heads, L, L), or None. The same function as
    splitting `packed` with tensor ops and calling scaled_dot_product_attention (the tests compare the two),
    as one graph node. For NumPy data with L ≥ 1; `packed_self_attention_applies` says when.
    """
    batch, length, width = packed.shape
    head_dim = width // 3 // num_heads
    scale = 1.0 / math.sqrt(head_dim)
    attention_shape = (batch * num_heads, length, length)
    mask = None
    if attn_mask is not None:
        mask = _additive_mask(attn_mask, (batch, num_heads, length, length), packed.dtype)
        mask = np.ascontiguousarray(mask.reshape(attention_shape))  # once here, not in each kernel call
    keep = _dropout_keep(float(dropout_p), attention_shape, packed.dtype) if dropout_p > 0 else None
    return PackedSelfAttention.apply(packed, heads=num_heads, mask=mask, causal=bool(is_causal), scale=scale,
                                     dropout_keep=keep)


def packed_self_attention_applies(packed, num_heads):
    """Whether packed_self_attention takes `packed`: NumPy data (the split is NumPy slicing), at least one
    position and a head size of at least 1 (scaled_dot_product_attention handles the empty cases)."""
    batch, length, width = packed.shape
    return type(packed.data) is np.ndarray and length > 0 and width // 3 // num_heads > 0
