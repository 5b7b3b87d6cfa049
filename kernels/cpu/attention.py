"""Fused scaled dot-product attention as Numba kernels: scores, softmax and the weighted sum of V per query row.

Same interface as kernels/reference/attention.py (read that first: it is the math and PyTorch's conventions:
the scale split as √|scale| on q and on k, probs = out = 0 for a query row whose scores are all -inf, NaN for
a row holding a NaN or +inf score).

Shapes: q (B, Tq, D), k (B, Tk, D), v (B, Tk, Dv), mask (B, Tq, Tk) additive or None, probs (B, Tq, Tk).
Why it is fast: the engine's attention is many tiny matmuls (T = 32, D = 32), where a BLAS call per head
spends more time starting than computing. Here one `prange` walks all B·Tq query rows; a row's scores live
in its probs row (L1), K and V of one head (8 KiB each at T = D = 32, float32) stay in L1/L2 for all Tq rows,
and the softmax uses the vectorisable exp from kernels/cpu/softmax.py. The backward runs `prange` over the
B heads, so dK and dV are accumulated by one thread each: no races and no atomics.
"""
import numpy as np
from numba import prange

from kernels.cpu.softmax import FASTMATH, exp_vectorizable
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.attention import check_attention_inputs, default_scale, scale_factors

# Work = B·Tq·Tk·(D + Dv). Below it the wrappers call the serial variant (kernels/cpu/variants.py).
# Measured, float32, D=16, median µs serial / parallel when the machine was quiet:
#   B=64 T=8 (131k): fwd 47 / 33, bwd 39 / -;   B=64 T=16 (524k): fwd 140, bwd 147 serial;
#   B=64 T=32 (2.1M): fwd 498, bwd 552 / 294.   Loaded, the parallel calls took 11–16 ms.
# So ≈100 µs of serial work and below (T ≤ 8 at 64 heads, T ≤ 11 at D=16) runs serial.
SERIAL_MAX_WORK = 1 << 19


def _attention_forward_body(q, k, v, mask, has_mask, causal, out, probs):
    """for row in prange(B·Tq):  b, i = divmod(row, Tq)
           for j < Tk:  s[j] = q[b, i, :] · k[b, j, :] + mask[b, i, j]   (-inf if causal and j > i)
           m = max s (NaN if any s is NaN);  p = exp(s - m) / Σ exp(s - m)   (p = 0 when m = -inf: all masked)
           out[b, i, :] = Σ_j p[j] · v[b, j, :]
    q and k arrive already multiplied by √|scale| each (the wrapper does it with NumPy: fastmath's `reassoc`
    could fold factors inside the loop into one scale applied after an overflowing product). s and p are written
    straight into probs[b, i, :]; out must arrive zero-filled.
    """
    n_batch, n_queries, n_features = q.shape
    n_keys = k.shape[1]
    zero = np.zeros(1, dtype=q.dtype)[0]  # accumulate dot products in the input dtype: full vector width
    for row in prange(n_batch * n_queries):
        b = row // n_queries
        i = row - b * n_queries
        best = -np.inf
        for j in range(n_keys):
            dot = zero
            for d in range(n_features):
                dot += q[b, i, d] * k[b, j, d]
            score = dot
            if has_mask:
                score += mask[b, i, j]
            if causal and j > i:
                score += -np.inf  # added, as torch adds its causal mask: a NaN score (0·inf) stays NaN
            probs[b, i, j] = score
            if score > best or score != score:  # a NaN wins and stays (nothing compares greater than NaN)
                best = score
        if best == -np.inf:  # every score -inf: probs are 0, out = Σ 0·v (NaN where v holds NaN or inf, as torch)
            for j in range(n_keys):
                probs[b, i, j] = 0.0
                for e_index in range(v.shape[2]):
                    out[b, i, e_index] += 0.0 * v[b, j, e_index]
            continue
        total = 0.0
        for j in range(n_keys):
            e = exp_vectorizable(np.float64(probs[b, i, j]) - best)
            probs[b, i, j] = e
            total += e
        inv_total = 1.0 / total
        for j in range(n_keys):
            p = probs[b, i, j] * inv_total
            probs[b, i, j] = p
            for e_index in range(v.shape[2]):
                out[b, i, e_index] += p * v[b, j, e_index]


_attention_forward_serial, _attention_forward_parallel = serial_and_parallel(_attention_forward_body, fastmath=FASTMATH)


def _attention_backward_body(q, k, v, probs, grad_out, scale, grad_q, grad_k, grad_v, grad_s):
    """for b in prange(B):                      grad_s: (B, Tk) scratch, one row per head, made before the loop
           for i < Tq:
               dP[j]  = dO[b, i, :] · v[b, j, :]
               dS[j]  = P[b, i, j] · (dP[j] - Σ_j' dP[j'] P[b, i, j'])
               dQ[b, i, :] = scale · Σ_j dS[j] k[b, j, :]
               dK[b, j, :] += scale · dS[j] q[b, i, :];   dV[b, j, :] += P[b, i, j] dO[b, i, :]
    grad_q, grad_k, grad_v must arrive zero-filled. One head per thread, so the += never race.
    """
    n_batch, n_queries, n_features = q.shape
    n_keys = k.shape[1]
    n_values = v.shape[2]
    zero = np.zeros(1, dtype=q.dtype)[0]  # accumulate dot products in the input dtype: full vector width
    for b in prange(n_batch):
        for i in range(n_queries):
            row_dot = 0.0
            for j in range(n_keys):
                dp = zero
                for e in range(n_values):
                    dp += grad_out[b, i, e] * v[b, j, e]
                grad_s[b, j] = dp
                row_dot += dp * probs[b, i, j]
            for j in range(n_keys):
                p = probs[b, i, j]
                ds = p * (grad_s[b, j] - row_dot) * scale
                for d in range(n_features):
                    grad_q[b, i, d] += ds * k[b, j, d]
                    grad_k[b, j, d] += ds * q[b, i, d]
                for e in range(n_values):
                    grad_v[b, j, e] += p * grad_out[b, i, e]


_attention_backward_serial, _attention_backward_parallel = serial_and_parallel(
    _attention_backward_body, fastmath=FASTMATH)


def attention_forward(q, k, v, mask=None, causal=False, scale=None):
    """out = softmax(q kᵀ·scale + mask) v -> (out (B, Tq, Dv), probs (B, Tq, Tk)); scale defaults to 1/sqrt(D).

    A broadcast (zero-stride) mask is copied to a contiguous (B, Tq, Tk) array first: one compiled kernel per
    dtype instead of one per stride pattern, at the cost of B·Tq·Tk copies.
    """
    check_attention_inputs("attention_forward", q, k, v, mask)
    n_batch, n_queries, n_features = q.shape
    if scale is None:
        scale = default_scale(n_features)
    q_factor, k_factor = scale_factors(scale)
    with np.errstate(over="ignore", invalid="ignore"):  # huge inputs overflow to inf, as in torch
        q = np.ascontiguousarray(q * q.dtype.type(q_factor))  # the scale split over both sides, as torch
        k = np.ascontiguousarray(k * k.dtype.type(k_factor))
    v = np.ascontiguousarray(v)
    has_mask = mask is not None
    mask = np.ascontiguousarray(mask) if has_mask else np.zeros((1, 1, 1), dtype=q.dtype)
    out = np.zeros((n_batch, n_queries, v.shape[2]), dtype=q.dtype)
    probs = np.empty((n_batch, n_queries, k.shape[1]), dtype=q.dtype)
    small = n_batch * n_queries * k.shape[1] * (n_features + v.shape[2]) < SERIAL_MAX_WORK
    kernel = _attention_forward_serial if small else _attention_forward_parallel
    kernel(q, k, v, mask, has_mask, bool(causal), out, probs)
    return out, probs


def attention_backward(q, k, v, probs, grad_out, scale=None):
    """dV = Pᵀ dO; dP = dO Vᵀ; dS = P ∘ (dP - rowsum(dP ∘ P)); dQ = dS K·scale; dK = dSᵀ Q·scale."""
    n_batch, n_queries, n_features = q.shape
    n_keys = k.shape[1]
    check_attention_inputs("attention_backward", q, k, v, None,
                           [("probs", probs, (n_batch, n_queries, n_keys)),
                            ("grad_out", grad_out, (n_batch, n_queries, v.shape[2]))])
    if scale is None:
        scale = default_scale(n_features)
    q, k, v = np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v)
    probs, grad_out = np.ascontiguousarray(probs), np.ascontiguousarray(grad_out)
    grad_q = np.zeros_like(q)
    grad_k = np.zeros_like(k)
    grad_v = np.zeros_like(v)
    grad_s = np.empty((n_batch, n_keys), dtype=q.dtype)
    small = n_batch * n_queries * n_keys * (n_features + v.shape[2]) < SERIAL_MAX_WORK
    kernel = _attention_backward_serial if small else _attention_backward_parallel
    kernel(q, k, v, probs, grad_out, float(scale), grad_q, grad_k, grad_v, grad_s)
    return grad_q, grad_k, grad_v
