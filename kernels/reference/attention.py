"""Scaled dot-product attention in plain NumPy: the oracle for the fused compiled kernels.

Shapes: q (B, Tq, D), k (B, Tk, D), v (B, Tk, Dv), where B is batch × heads flattened by the engine.
`mask` is None or an additive float array of shape (B, Tq, Tk) (a broadcast view with zero strides is fine).
`causal=True` masks key j > query i (PyTorch's top-left aligned tril, also when Tq != Tk).

The conventions are PyTorch's (its math path, `torch.nn.attention.SDPBackend.MATH`), checked against torch:
  * The scale is applied as PyTorch applies it: √|scale| on each side, S = (q·√|s|·sign s)(k·√|s|)ᵀ, so a
    product q·k that `scale` would bring back into range does not overflow first. It defaults to 1/√D
    (inf for D = 0, where every score is the empty sum 0 and each query averages v).
  * A query row whose scores are all -inf (every key masked, or scores that overflowed to -inf) gets
    probs = 0, out = 0 and zero gradients, as torch's `_safe_softmax` (torch < 2.5 returned NaN there).
  * Any other non-finite row is NaN, as softmax makes it: a NaN in q (or a NaN mask entry) makes its row NaN, a
    NaN in k makes every row NaN, a score of +inf (overflow) makes its row NaN (inf - inf). NaN then spreads
    through the backward as the formulas spread it (a NaN row of P reaches every dK and dV row).
"""
import math

import numpy as np

_FLOATS = (np.float32, np.float64)


def check_attention_inputs(kernel, q, k, v, mask=None, grads=()):
    """Validate dtypes and shapes of q, k, v (and mask / extra (name, array, shape) triples). Shared with cpu."""
    arrays = [("q", q, 3), ("k", k, 3), ("v", v, 3)] + ([("mask", mask, 3)] if mask is not None else [])
    arrays += [(name, array, len(shape)) for name, array, shape in grads]
    for name, array, n_dims in arrays:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a numpy.ndarray, got {type(array).__name__}")
        if array.dtype not in _FLOATS:
            raise TypeError(f"{kernel}: {name} must be float32 or float64, got {array.dtype}")
        if array.dtype != q.dtype:
            raise TypeError(f"{kernel}: {name} is {array.dtype} but q is {q.dtype}; all must share one dtype")
        if array.ndim != n_dims:
            raise ValueError(f"{kernel}: {name} must be {n_dims}-D, got shape {array.shape}")
    batch, t_q, d = q.shape
    if k.shape[0] != batch or k.shape[2] != d:
        raise ValueError(f"{kernel}: k {k.shape} does not match q {q.shape}; expected (B, Tk, D)=({batch}, Tk, {d})")
    t_k = k.shape[1]
    if v.shape[:2] != (batch, t_k):
        raise ValueError(f"{kernel}: v {v.shape} does not match k {k.shape}; expected (B, Tk, Dv)=({batch}, {t_k}, Dv)")
    if mask is not None and mask.shape != (batch, t_q, t_k):
        raise ValueError(f"{kernel}: mask {mask.shape} must be (B, Tq, Tk)=({batch}, {t_q}, {t_k})")
    for name, array, shape in grads:
        if array.shape != shape:
            raise ValueError(f"{kernel}: {name} {array.shape} must have shape {shape}")


def default_scale(head_dim):
    """PyTorch's default scale 1/√D (inf for D = 0, as its double arithmetic gives)."""
    return 1.0 / math.sqrt(head_dim) if head_dim else math.inf


def scale_factors(scale):
    """(q_factor, k_factor) with q_factor·k_factor = scale: √|scale| on each side, the sign on the query side."""
    root = math.sqrt(abs(scale))
    return (-root if scale < 0 else root), root


def safe_softmax(scores):
    """Softmax over the last axis, except that a row of all -inf gives 0 (torch's `_safe_softmax`)."""
    if scores.shape[-1] == 0:
        return scores.copy()
    row_max = scores.max(axis=-1, keepdims=True)  # NaN if the row holds a NaN (np.max propagates it)
    masked_row = row_max == -np.inf
    with np.errstate(invalid="ignore"):  # inf - inf and NaN rows are NaN, as in torch
        e = np.exp(scores - np.where(masked_row, 0.0, row_max))
        total = e.sum(axis=-1, keepdims=True)
        return np.where(masked_row, 0.0, e / np.where(masked_row, 1.0, total)).astype(scores.dtype, copy=False)


def _scores(q, k, mask, causal, scale):
    """S = (q·√s)(k·√s)ᵀ + mask, and -inf added where the key is in the future (causal): (B, Tq, Tk)."""
    t_q, t_k = q.shape[1], k.shape[1]
    q_factor, k_factor = scale_factors(scale)
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing scores are inf, as in torch
        scores = (q * q.dtype.type(q_factor)) @ (k * k.dtype.type(k_factor)).transpose(0, 2, 1)  # (B, Tq, Tk)
        if mask is not None:
            scores = scores + mask
        if causal:  # added, as torch adds its causal mask: a NaN score (0·inf) stays NaN
            future = np.triu(np.ones((t_q, t_k), dtype=bool), k=1)  # (Tq, Tk): j > i
            scores = scores + np.where(future, -np.inf, 0.0).astype(scores.dtype)
    return scores


def attention_forward(q, k, v, mask=None, causal=False, scale=None):
    """out = P v with P = safe_softmax(S), S = (q·√s)(k·√s)ᵀ + mask; P (B, Tq, Tk) is returned for backward.

    scale s defaults to 1/sqrt(D) when None.
    """
    check_attention_inputs("attention_forward", q, k, v, mask)
    if scale is None:
        scale = default_scale(q.shape[2])
    probs = safe_softmax(_scores(q, k, mask, causal, scale))
    out = probs @ v  # (B, Tq, Dv)
    return out, probs


def attention_backward(q, k, v, probs, grad_out, scale=None):
    """dV = Pᵀ dO; dP = dO Vᵀ; dS = P ∘ (dP - rowsum(dP ∘ P)); dQ = dS K·scale; dK = dSᵀ Q·scale."""
    batch, t_q, d = q.shape
    t_k = k.shape[1]
    check_attention_inputs("attention_backward", q, k, v, None,
                           [("probs", probs, (batch, t_q, t_k)), ("grad_out", grad_out, (batch, t_q, v.shape[2]))])
    if scale is None:
        scale = default_scale(d)
    scale = q.dtype.type(scale)
    grad_v = probs.transpose(0, 2, 1) @ grad_out  # (B, Tk, Dv)
    grad_p = grad_out @ v.transpose(0, 2, 1)  # (B, Tq, Tk)
    grad_s = probs * (grad_p - (grad_p * probs).sum(axis=-1, keepdims=True))
    grad_q = (grad_s @ k) * scale  # (B, Tq, D)
    grad_k = (grad_s.transpose(0, 2, 1) @ q) * scale  # (B, Tk, D)
    return grad_q, grad_k, grad_v


# ----- the same, keeping the log-sum-exp instead of P --------------------------------------------------------------
# Flash attention's bookkeeping: the forward returns lse_i = log Σ_j exp(S_ij) per query row, (B, Tq) instead of
# the (B, Tq, Tk) probabilities, and the backward recomputes P = exp(S - lse) from q, k and the mask;
# kernels/cpu/attention.py does it one block of keys at a time. Here it is plain NumPy on whole (B, Tq, Tk)
# arrays, and the backward recomputes P as the softmax itself (attention_backward_lse says why).

def _lse_shift(lse):
    """lse with -inf (a row with every key masked) replaced by +inf, so that exp(S - shift) = exp(-inf) = 0 there."""
    return np.where(lse == -np.inf, np.inf, lse)[..., None]


def attention_forward_lse(q, k, v, mask=None, causal=False, scale=None):
    """(out (B, Tq, Dv), lse (B, Tq)): out as attention_forward; lse[b, i] = log Σ_j exp(S[b, i, j]) (-inf for
    a row whose keys are all masked, NaN for a NaN row), from which the backward recomputes P = exp(S - lse)."""
    check_attention_inputs("attention_forward_lse", q, k, v, mask)
    if scale is None:
        scale = default_scale(q.shape[2])
    scores = _scores(q, k, mask, causal, scale)
    probs = safe_softmax(scores)
    out = probs @ v  # (B, Tq, Dv)
    if scores.shape[-1] == 0:
        return out, np.full(scores.shape[:-1], -np.inf, dtype=q.dtype)
    row_max = scores.max(axis=-1, keepdims=True)  # NaN for a row holding NaN
    shift = np.where(row_max == -np.inf, 0.0, row_max)  # a fully masked row: log Σ exp(-inf) = -inf
    with np.errstate(invalid="ignore", divide="ignore"):
        lse = (shift + np.log(np.exp(scores - shift).sum(axis=-1, keepdims=True)))[..., 0]
    return out, lse.astype(q.dtype, copy=False)


def attention_backward_lse(q, k, v, mask, causal, out, lse, grad_out, scale=None):
    """(grad_q, grad_k, grad_v) from the out and lse of attention_forward_lse (same q, k, v, mask, causal, scale):
    P recomputed, then attention_backward's formulas. (The compiled kernels recompute P = exp(S - lse) and take
    rowsum(dP ∘ P) as rowsum(dO ∘ O), equal in exact arithmetic: Σ_j dP_ij P_ij = dO_i · Σ_j P_ij v_j = dO_i · O_i.
    The oracle keeps torch's math-path form and recomputes P as attention_forward does, softmax(S), so that a
    gradient torch gives as exactly 0 is exactly 0 here too: with two equal scores lse = m + log 2 rounds, and
    exp(S - lse) gives 0.49999997, not 0.5; dP - rowsum(dP ∘ P) is then not 0 but ~1e-7·dP, which large scores
    (inputs of 1e4) multiply into gradients of 1e5 where torch has 0. `lse` is checked, not used.)"""
    batch, t_q, d = q.shape
    d_v = v.shape[2]
    check_attention_inputs("attention_backward_lse", q, k, v, mask,
                           [("out", out, (batch, t_q, d_v)), ("lse", lse, (batch, t_q)),
                            ("grad_out", grad_out, (batch, t_q, d_v))])
    if scale is None:
        scale = default_scale(d)
    probs = safe_softmax(_scores(q, k, mask, causal, scale))  # (B, Tq, Tk), as attention_forward computed them
    return attention_backward(q, k, v, probs, grad_out, scale)


# ----- the same on MultiheadAttention's packed in-projection -----------------------------------------------------
# packed (N, L, 3E): row (n, i) holds q_i, k_i and v_i of every head side by side, [q | k | v], each E = heads·hd
# wide with head h in columns h·hd:(h+1)·hd of its third. The compiled kernels read the heads in place and write
# the heads merged; here it is the split, attention_forward_lse / attention_backward_lse, and the merge.

def check_packed_inputs(kernel, packed, heads, mask=None, grads=()):
    """Validate packed (N, L, 3E), heads dividing E, mask (N·heads, L, L) and extra (name, array, shape) triples.
    Shared with cpu."""
    if not isinstance(packed, np.ndarray):
        raise TypeError(f"{kernel}: packed must be a numpy.ndarray, got {type(packed).__name__}")
    if packed.dtype not in _FLOATS:
        raise TypeError(f"{kernel}: packed must be float32 or float64, got {packed.dtype}")
    if packed.ndim != 3 or packed.shape[2] % 3:
        raise ValueError(f"{kernel}: packed must be (N, L, 3E), got shape {packed.shape}")
    embed = packed.shape[2] // 3
    if not isinstance(heads, (int, np.integer)) or heads <= 0 or embed % heads:
        raise ValueError(f"{kernel}: heads must be a positive int dividing E = {embed} (packed {packed.shape}), "
                         f"got {heads!r}")
    batch, length = packed.shape[:2]
    named = ([("mask", mask, (batch * heads, length, length))] if mask is not None else []) + list(grads)
    for name, array, shape in named:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a numpy.ndarray, got {type(array).__name__}")
        if array.dtype != packed.dtype:
            raise TypeError(f"{kernel}: {name} is {array.dtype} but packed is {packed.dtype}; all must share one "
                            f"dtype")
        if array.shape != shape:
            raise ValueError(f"{kernel}: {name} {array.shape} must have shape {shape}")


def split_heads(x, heads):
    """(N, L, heads·hd) -> (N·heads, L, hd), contiguous: head h from columns h·hd:(h+1)·hd."""
    batch, length, embed = x.shape
    head_dim = embed // heads
    per_head = x.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)  # (N, heads, L, hd)
    return np.ascontiguousarray(per_head).reshape(batch * heads, length, head_dim)


def merge_heads(per_head, batch, heads):
    """(N·heads, L, hd) -> (N, L, heads·hd), head h in columns h·hd:(h+1)·hd: split_heads undone."""
    _, length, head_dim = per_head.shape
    merged = per_head.reshape(batch, heads, length, head_dim).transpose(0, 2, 1, 3)  # (N, L, heads, hd)
    return np.ascontiguousarray(merged).reshape(batch, length, heads * head_dim)


def split_packed_heads(packed, heads):
    """packed (N, L, 3E) -> q, k, v, each (N·heads, L, hd)."""
    embed = packed.shape[2] // 3
    return tuple(split_heads(packed[..., part * embed:(part + 1) * embed], heads) for part in range(3))


def packed_attention_forward(packed, heads, mask=None, causal=False, scale=None):
    """(out (N, L, E), lse (N·heads, L)): attention_forward_lse on the heads of packed (N, L, 3E), merged.
    scale None is 1/√hd."""
    check_packed_inputs("packed_attention_forward", packed, heads, mask)
    out, lse = attention_forward_lse(*split_packed_heads(packed, heads), mask, causal, scale)
    return merge_heads(out, packed.shape[0], heads), lse


def packed_attention_backward(packed, heads, mask, causal, out, lse, grad_out, scale=None):
    """grad_packed (N, L, 3E): attention_backward_lse's dQ, dK, dV, each at the columns its third came from."""
    check_packed_inputs("packed_attention_backward", packed, heads)
    batch, length, width = packed.shape
    check_packed_inputs("packed_attention_backward", packed, heads, mask,
                        [("out", out, (batch, length, width // 3)), ("lse", lse, (batch * heads, length)),
                         ("grad_out", grad_out, (batch, length, width // 3))])
    q, k, v = split_packed_heads(packed, heads)
    grads = attention_backward_lse(q, k, v, mask, causal, split_heads(out, heads), lse, split_heads(grad_out, heads),
                                   scale)
    return np.concatenate([merge_heads(grad, batch, heads) for grad in grads], axis=2)
