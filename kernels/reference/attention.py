"""Scaled dot-product attention in plain NumPy: the oracle for the fused compiled kernels.

Shapes: q (B, Tq, D), k (B, Tk, D), v (B, Tk, Dv), where B is batch × heads flattened by the engine.
`mask` is None or an additive float array of shape (B, Tq, Tk) (a broadcast view with zero strides is fine).
`causal=True` masks key j > query i (PyTorch's top-left aligned tril, also when Tq != Tk).

Fully-masked query rows (every score -inf): we return probs = 0 and out = 0 for that row, and its gradients are 0.
PyTorch returns NaN there; zeros keep a padded batch from poisoning the loss, and the row contributes nothing.
"""
import numpy as np

_FLOATS = (np.float32, np.float64)


def check_attention_inputs(kernel, q, k, v, mask=None, grads=()):
    """Validate dtypes and shapes of q, k, v (and mask / extra (name, array, shape) triples). Shared with cpu."""
    arrays = [("q", q), ("k", k), ("v", v)] + ([("mask", mask)] if mask is not None else [])
    arrays += [(name, array) for name, array, _ in grads]
    for name, array in arrays:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a numpy.ndarray, got {type(array).__name__}")
        if array.dtype not in _FLOATS:
            raise TypeError(f"{kernel}: {name} must be float32 or float64, got {array.dtype}")
        if array.dtype != q.dtype:
            raise TypeError(f"{kernel}: {name} is {array.dtype} but q is {q.dtype}; all must share one dtype")
        if array.ndim != 3:
            raise ValueError(f"{kernel}: {name} must be 3-D, got shape {array.shape}")
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


def attention_forward(q, k, v, mask=None, causal=False, scale=None):
    """out = softmax(q kᵀ·scale + mask) v ; probs (B, Tq, Tk) is returned for backward.

    scale defaults to 1/sqrt(D) when None.
    """
    check_attention_inputs("attention_forward", q, k, v, mask)
    batch, t_q, d = q.shape
    t_k = k.shape[1]
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    scores = (q @ k.transpose(0, 2, 1)) * q.dtype.type(scale)  # (B, Tq, Tk)
    if mask is not None:
        scores = scores + mask
    if causal:
        future = np.triu(np.ones((t_q, t_k), dtype=bool), k=1)  # (Tq, Tk): j > i
        scores = np.where(future, -np.inf, scores)
    row_max = scores.max(axis=-1, keepdims=True)
    dead = ~np.isfinite(row_max)  # every key masked (or the batch has Tk = 0)
    e = np.exp(scores - np.where(dead, 0.0, row_max))
    total = e.sum(axis=-1, keepdims=True)
    probs = np.where(dead, 0.0, e / np.where(dead, 1.0, total)).astype(q.dtype, copy=False)
    out = probs @ v  # (B, Tq, Dv)
    return out, probs


def attention_backward(q, k, v, probs, grad_out, scale=None):
    """dV = Pᵀ dO; dP = dO Vᵀ; dS = P ∘ (dP - rowsum(dP ∘ P)); dQ = dS K·scale; dK = dSᵀ Q·scale."""
    batch, t_q, d = q.shape
    t_k = k.shape[1]
    check_attention_inputs("attention_backward", q, k, v, None,
                           [("probs", probs, (batch, t_q, t_k)), ("grad_out", grad_out, (batch, t_q, v.shape[2]))])
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    scale = q.dtype.type(scale)
    grad_v = probs.transpose(0, 2, 1) @ grad_out  # (B, Tk, Dv)
    grad_p = grad_out @ v.transpose(0, 2, 1)  # (B, Tq, Tk)
    grad_s = probs * (grad_p - (grad_p * probs).sum(axis=-1, keepdims=True))
    grad_q = (grad_s @ k) * scale  # (B, Tq, D)
    grad_k = (grad_s.transpose(0, 2, 1) @ q) * scale  # (B, Tk, D)
    return grad_q, grad_k, grad_v
