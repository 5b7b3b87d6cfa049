"""Fused scaled dot-product attention as Numba kernels, two pairs with the same math.

Same interface as kernels/reference/attention.py (read that first: it is the math and PyTorch's conventions:
the scale split as √|scale| on q and on k, probs = out = 0 for a query row whose scores are all -inf, NaN for
a row holding a NaN or +inf score).

Shapes: q (B, Tq, D), k (B, Tk, D), v (B, Tk, Dv), mask (B, Tq, Tk) additive or None, probs (B, Tq, Tk),
lse (B, Tq).

attention_forward / attention_backward keep the probabilities: one `prange` walks all B·Tq query rows, a row's
scores live in its probs row, the backward runs over the B heads. Simple, and right for short sequences, but
the (B, Tq, Tk) probabilities grow with T², and each score is a dot product summed across one vector (the
head dim), which vectorises poorly.

attention_forward_lse / attention_backward_lse (what the op uses when there is no dropout) are tiled the way
flash attention is: per tile of ROWS = 4 query rows, the keys go by in blocks of BLOCK = 128 with an online
softmax (running max m, running sum l, the sums of p·v rescaled by e^(m_old - m_new) when the max grows), so a
tile needs ROWS·BLOCK scores whatever Tk is, and the forward keeps only lse = m + log l per row. The backward
recomputes P = exp(S - lse) block by block. Why it is fast (kernels/cpu/attention_tiles.py has the tiles):
  * every product is a register tile: 4 rows × 32 keys (Q Kᵀ, dO Vᵀ) or 4 rows × 16 head-dim values (P V,
    dS K) of sums held in 512-bit registers, K transposed once per head so that 32 keys are one contiguous
    load; dKᵀ and dVᵀ are summed with the keys along the rows for the same reason;
  * exp in the data's precision (float32: 16 lanes, a degree-7 polynomial), the row max as 32 lane maxima;
  * causal: key blocks wholly in a row tile's future are skipped, where the head's values are finite and
    ‖q‖·‖k‖ bounds every score below overflow (elsewhere a hidden NaN or +inf score must still poison its
    row, as in torch);
  * one head per thread (`prange` over B): K and V of the head stay in L1/L2, dK and dV need no atomics.

packed_attention_forward / packed_attention_backward take MultiheadAttention's packed in-projection (N, L, 3E)
and return the heads merged: up to L = SHORT_MAX the kernels of kernels/cpu/attention_packed.py read the heads
in place; beyond, the heads are split, go through the log-sum-exp pair and are merged.
Set NUMBA_DISABLE_JIT=1 to step through any of these kernels as plain Python.
"""
import numba
import numpy as np
from numba import prange

from kernels.cpu.attention_tiles import (BLOCK, KEYS, LANES, ROWS, add_outer_products, add_weighted_rows, all_finite,
                                        copy_padded, copy_transposed, dot_block, mask_block, new_block, new_row,
                                        pack_scaled, probabilities_and_score_grads, row_dots, softmax_step)
from kernels.cpu.softmax import FASTMATH, exp_vectorizable
from kernels.cpu.variants import serial_and_parallel
from kernels.cpu.attention_packed import (SHORT_MAX, packed_backward_parallel, packed_backward_serial,
                                         packed_forward_parallel, packed_forward_serial)
from kernels.reference.attention import (check_attention_inputs, check_packed_inputs, default_scale, merge_heads,
                                         scale_factors, split_heads, split_packed_heads)

# Work = B·Tq·Tk·(D + Dv). Below it the wrappers call the serial variant (kernels/cpu/variants.py).
# Measured, float32, D=16, median µs serial / parallel when the machine was quiet:
#   probabilities: B=64 T=8 (131k): fwd 47 / 33, bwd 39 / -;   B=64 T=16 (524k): fwd 140, bwd 147 serial;
#                  B=64 T=32 (2.1M): fwd 498, bwd 552 / 294.   Loaded, the parallel calls took 11–16 ms.
#   lse, causal:   B=64 T=8 (131k): fwd 103 / 84, bwd 152 / 102;  B=64 T=16 (524k): fwd 180 / 104, bwd 253 / 144;
#                  B=128 T=32 (4.2M): fwd 683 / 596, bwd 1337 / 1307.
# So ≈100 µs of serial work and below (T ≤ 8 at 64 heads, T ≤ 11 at D=16) runs serial, for both pairs.
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
    has_mask, mask = _mask_argument(mask, q.dtype)
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


# ----- the log-sum-exp pair: tiles of query rows, blocks of keys, online softmax -------------------------------

def _flash_forward_body(q, k, v, mask, has_mask, causal, skip_future, q_factor, k_factor, causal_limit,
                        q_scaled, k_t, v_padded, acc, out, lse):
    """for b in prange(B), one head per thread at a time:

        pack q·√s, (k·√s)ᵀ and v (zero-padded to whole tiles); may_skip: no score of the head can be NaN or +inf
        for i0 in range(0, Tq, ROWS):                       a tile of ROWS query rows
            m = -inf, l = 0, acc = 0                        per row: running max, running sum, Σ p·v
            for j0 in range(0, key_end, BLOCK):             key_end = Tk, or the tile's last row + 1 (causal, may_skip)
                S = Q[i0:i0+ROWS] K[j0:j0+BLOCK]ᵀ (+ mask, -inf in the future)          dot_block, mask_block
                m' = max(m, rowmax S);  P = exp(S - m');  l = l·e^(m-m') + rowsum P      softmax_step
                acc = acc·e^(m-m') + P V[j0:j0+BLOCK]                                    add_weighted_rows
            out = acc / l;  lse = m + log l            (l = 0: every key masked, out = acc = 0, lse = -inf)
    Memory per tile: ROWS·BLOCK scores and ROWS·Dv sums, whatever Tk is; K and V of the head (2·Tk·D values)
    are read from L1/L2 once per tile of rows.
    """
    for head in prange(q.shape[0]):
        b = np.int64(head)  # the parallel variant counts in uint64: one signature for the tiles in both variants
        n_queries, n_keys, n_values = q.shape[1], k.shape[1], v.shape[2]
        bound = pack_scaled(b, q, k, q_factor, k_factor, q_scaled, k_t)
        v_finite = copy_padded(v, b, v_padded)
        may_skip = skip_future and v_finite and bound < causal_limit
        block = new_block(acc)
        running_max = new_row(acc)
        running_sum = new_row(lse)
        factors = new_row(acc)
        for i0 in range(0, n_queries, ROWS):
            n_rows = min(ROWS, n_queries - i0)
            key_end = min(n_keys, i0 + n_rows) if may_skip else n_keys
            for r in range(ROWS):
                running_max[r] = -np.inf
                running_sum[r] = 0.0
                for e in range(acc.shape[2]):
                    acc[b, i0 + r, e] = 0
            for j0 in range(0, key_end, BLOCK):
                width = min(BLOCK, key_end - j0)
                dot_block(q_scaled, b, i0, k_t, j0, width, block)
                if has_mask or causal:
                    mask_block(block, mask, has_mask, causal, b, i0, n_queries, j0, width)
                softmax_step(block, width, running_max, running_sum, factors)
                add_weighted_rows(acc, b, i0, factors, block, width, v_padded, j0)
            for r in range(n_rows):
                total = running_sum[r]
                inv_total = 1.0 / total if total != 0.0 else 1.0
                for e in range(n_values):
                    out[b, i0 + r, e] = acc[b, i0 + r, e] * inv_total
                lse[b, i0 + r] = running_max[r] + np.log(total)


_flash_forward_serial, _flash_forward_parallel = serial_and_parallel(
    _flash_forward_body, fastmath=FASTMATH, error_model="numpy")


def _mask_argument(mask, dtype):
    """(has_mask, mask as the compiled kernels take it): C-contiguous, or a (1, 1, 1) placeholder of dtype when
    there is none, so that one compiled signature serves both."""
    if mask is None:
        return False, np.zeros((1, 1, 1), dtype=dtype)
    return True, np.ascontiguousarray(mask)


def _padded(n, multiple):
    return (n + multiple - 1) // multiple * multiple


def _causal_limit(dtype):
    """Bound on ‖q_i‖²·‖k_j‖² under which no score can overflow (Cauchy-Schwarz, with room for rounding)."""
    with np.errstate(over="ignore"):  # inf for float64: then only a product that overflows float64 is refused
        return float(np.square(np.float64(np.finfo(dtype).max) / 4))


def attention_forward_lse(q, k, v, mask=None, causal=False, scale=None):
    """(out (B, Tq, Dv), lse (B, Tq)): out as attention_forward, lse[b, i] = log Σ_j exp(S[b, i, j])."""
    check_attention_inputs("attention_forward_lse", q, k, v, mask)
    n_batch, n_queries, n_features = q.shape
    n_keys, n_values = k.shape[1], v.shape[2]
    if scale is None:
        scale = default_scale(n_features)
    q_factor, k_factor = scale_factors(scale)
    dtype = q.dtype
    has_mask, mask = _mask_argument(mask, dtype)
    q, k, v = np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v)  # one compiled layout
    q_scaled = np.empty((n_batch, n_queries, n_features), dtype)
    k_t = np.empty((n_batch, n_features, _padded(n_keys, KEYS)), dtype)
    v_padded = np.empty((n_batch, n_keys, _padded(n_values, LANES)), dtype)
    acc = np.empty((n_batch, _padded(n_queries, ROWS), v_padded.shape[2]), dtype)
    out = np.empty((n_batch, n_queries, n_values), dtype)
    lse = np.empty((n_batch, n_queries), dtype)
    small = n_batch * n_queries * n_keys * (n_features + n_values) < SERIAL_MAX_WORK
    kernel = _flash_forward_serial if small else _flash_forward_parallel
    with np.errstate(over="ignore", invalid="ignore"):
        kernel(q, k, v, mask, has_mask, bool(causal), bool(causal) and not has_mask, dtype.type(q_factor),
               dtype.type(k_factor), _causal_limit(dtype), q_scaled, k_t, v_padded, acc, out, lse)
    return out, lse


def _flash_backward_body(q, k, v, mask, has_mask, causal, skip_future, out, lse, grad_out, scale, q_factor, k_factor,
                         causal_limit, q_scaled, k_t, v_t, k_padded, grad_q, grad_k_t, grad_v_t, grad_k, grad_v):
    """for b in prange(B), one head per thread (so dK and dV need no atomics):

        pack q·√s, (k·√s)ᵀ, vᵀ and k (zero-padded); may_skip as in the forward (and dO finite)
        for i0 in range(0, Tq, ROWS):                        a tile of ROWS query rows
            δ = rowsum(dO ∘ O)                               row_dots
            for j0 in range(0, key_end, BLOCK):
                S = Q Kᵀ (+ mask);  P = exp(S - lse);  dP = dO Vᵀ;  dS = P ∘ (dP - δ)·scale
                dQ[rows] += dS K;   dKᵀ[:, keys] += Qᵀ dS;   dVᵀ[:, keys] += dOᵀ P
        dK = (dKᵀ)ᵀ, dV = (dVᵀ)ᵀ
    dK and dV are summed transposed (keys along the rows, see add_outer_products) and transposed back at the end.
    """
    for head in prange(q.shape[0]):
        b = np.int64(head)  # the parallel variant counts in uint64: one signature for the tiles in both variants
        n_queries, n_features = q.shape[1], q.shape[2]
        n_keys, n_values = k.shape[1], v.shape[2]
        bound = pack_scaled(b, q, k, q_factor, k_factor, q_scaled, k_t)
        v_finite = copy_transposed(v, b, v_t)
        grad_out_finite = all_finite(grad_out, b)
        copy_padded(k, b, k_padded)
        may_skip = skip_future and v_finite and grad_out_finite and bound < causal_limit
        grad_q[b] = 0
        grad_k_t[b] = 0
        grad_v_t[b] = 0
        probs = new_block(grad_q)
        grad_scores = new_block(grad_q)
        ones = new_row(grad_q)
        shifts = new_row(lse)
        deltas = new_row(lse)
        for r in range(ROWS):
            ones[r] = 1.0
        for i0 in range(0, n_queries, ROWS):
            n_rows = min(ROWS, n_queries - i0)
            key_end = min(n_keys, i0 + n_rows) if may_skip else n_keys
            row_dots(grad_out[b], out[b], i0, n_queries, deltas)
            for r in range(ROWS):
                row_lse = lse[b, min(i0 + r, n_queries - 1)]
                shifts[r] = np.inf if row_lse == -np.inf else row_lse  # no unmasked key: exp(-inf - inf) = 0
            for j0 in range(0, key_end, BLOCK):
                width = min(BLOCK, key_end - j0)
                dot_block(q_scaled, b, i0, k_t, j0, width, probs)
                if has_mask or causal:
                    mask_block(probs, mask, has_mask, causal, b, i0, n_queries, j0, width)
                dot_block(grad_out, b, i0, v_t, j0, width, grad_scores)
                probabilities_and_score_grads(probs, grad_scores, width, n_rows, shifts, deltas, scale)
                add_weighted_rows(grad_q, b, i0, ones, grad_scores, width, k_padded, j0)
                add_outer_products(grad_k_t, b, j0, width, grad_scores, q, i0)
                add_outer_products(grad_v_t, b, j0, width, probs, grad_out, i0)
        for j in range(n_keys):
            for d in range(n_features):
                grad_k[b, j, d] = grad_k_t[b, d, j]
            for e in range(n_values):
                grad_v[b, j, e] = grad_v_t[b, e, j]


_flash_backward_serial, _flash_backward_parallel = serial_and_parallel(
    _flash_backward_body, fastmath=FASTMATH, error_model="numpy")


def attention_backward_lse(q, k, v, mask, causal, out, lse, grad_out, scale=None):
    """(grad_q, grad_k, grad_v) from the out and lse of attention_forward_lse (same q, k, v, mask, causal, scale):
    the probabilities are recomputed block by block, P = exp(S - lse), never stored whole."""
    n_batch, n_queries, n_features = q.shape
    n_keys, n_values = k.shape[1], v.shape[2]
    check_attention_inputs("attention_backward_lse", q, k, v, mask,
                           [("out", out, (n_batch, n_queries, n_values)), ("lse", lse, (n_batch, n_queries)),
                            ("grad_out", grad_out, (n_batch, n_queries, n_values))])
    if scale is None:
        scale = default_scale(n_features)
    q_factor, k_factor = scale_factors(scale)
    dtype = q.dtype
    has_mask, mask = _mask_argument(mask, dtype)
    q, k, v = np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v)  # one compiled layout
    out, lse, grad_out = np.ascontiguousarray(out), np.ascontiguousarray(lse), np.ascontiguousarray(grad_out)
    keys = _padded(n_keys, KEYS)
    q_scaled = np.empty((n_batch, n_queries, n_features), dtype)
    k_t = np.empty((n_batch, n_features, keys), dtype)
    v_t = np.empty((n_batch, n_values, keys), dtype)
    k_padded = np.empty((n_batch, n_keys, _padded(n_features, LANES)), dtype)
    grad_q = np.empty((n_batch, _padded(n_queries, ROWS), k_padded.shape[2]), dtype)
    grad_k_t = np.empty((n_batch, n_features, keys), dtype)
    grad_v_t = np.empty((n_batch, n_values, keys), dtype)
    grad_k = np.empty((n_batch, n_keys, n_features), dtype)
    grad_v = np.empty((n_batch, n_keys, n_values), dtype)
    small = n_batch * n_queries * n_keys * (n_features + n_values) < SERIAL_MAX_WORK
    kernel = _flash_backward_serial if small else _flash_backward_parallel
    with np.errstate(over="ignore", invalid="ignore"):
        kernel(q, k, v, mask, has_mask, bool(causal), bool(causal) and not has_mask, out, lse,
               grad_out, dtype.type(scale), dtype.type(q_factor), dtype.type(k_factor), _causal_limit(dtype),
               q_scaled, k_t, v_t, k_padded, grad_q, grad_k_t, grad_v_t, grad_k, grad_v)
    return np.ascontiguousarray(grad_q[:, :n_queries, :n_features]), grad_k, grad_v


# ----- on MultiheadAttention's packed in-projection: kernels/cpu/attention_packed.py for short sequences -----------

def packed_attention_forward(packed, heads, mask=None, causal=False, scale=None):
    """(out (N, L, E), lse (N·heads, L)): attention_forward_lse on the heads of packed (N, L, 3E), merged."""
    check_packed_inputs("packed_attention_forward", packed, heads, mask)
    n_batch, length, width = packed.shape
    head_dim = width // 3 // heads
    if not _short_and_nonempty(packed, heads):
        out, lse = attention_forward_lse(*split_packed_heads(packed, heads), mask, causal, scale)
        return merge_heads(out, n_batch, heads), lse
    if scale is None:
        scale = default_scale(head_dim)
    q_factor, k_factor = scale_factors(scale)
    dtype = packed.dtype
    has_mask, mask = _mask_argument(mask, dtype)
    packed = np.ascontiguousarray(packed)  # one compiled layout
    n_heads = n_batch * heads
    small = _work(n_heads, length, head_dim) < SERIAL_MAX_WORK
    kernel = packed_forward_serial if small else packed_forward_parallel
    threads = _scratch_slots(small)
    keys = _padded(length, LANES)
    q_scaled = np.empty((threads, length, head_dim), dtype)
    k_t = np.empty((threads, head_dim, keys), dtype)
    in_place = head_dim % LANES == 0  # v read straight from packed; else a zero-padded copy per head
    v_padded = np.empty((threads, length, _padded(head_dim, LANES) if not in_place else 0), dtype)
    out = np.empty((n_batch, length, width // 3), dtype)
    lse = np.empty((n_heads, length), dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        _call_serial_first(packed_forward_serial, kernel,
                           (packed, heads, mask, has_mask, bool(causal), dtype.type(q_factor), dtype.type(k_factor),
                            in_place, q_scaled, k_t, v_padded, out, lse))
    return out, lse


def packed_attention_backward(packed, heads, mask, causal, out, lse, grad_out, scale=None):
    """grad_packed (N, L, 3E) from the out and lse of packed_attention_forward: dQ, dK, dV of each head at the
    columns its q, k and v came from."""
    check_packed_inputs("packed_attention_backward", packed, heads)
    n_batch, length, width = packed.shape
    embed = width // 3
    head_dim = embed // heads
    n_heads = n_batch * heads
    check_packed_inputs("packed_attention_backward", packed, heads, mask,
                        [("out", out, (n_batch, length, embed)), ("lse", lse, (n_heads, length)),
                         ("grad_out", grad_out, (n_batch, length, embed))])
    if not _short_and_nonempty(packed, heads):
        grads = attention_backward_lse(*split_packed_heads(packed, heads), mask, causal, split_heads(out, heads), lse,
                                       split_heads(grad_out, heads), scale)
        return np.concatenate([merge_heads(grad, n_batch, heads) for grad in grads], axis=2)
    if scale is None:
        scale = default_scale(head_dim)
    q_factor, k_factor = scale_factors(scale)
    dtype = packed.dtype
    has_mask, mask = _mask_argument(mask, dtype)
    packed, out, lse, grad_out = (np.ascontiguousarray(a) for a in (packed, out, lse, grad_out))  # one layout
    small = _work(n_heads, length, head_dim) < SERIAL_MAX_WORK
    kernel = packed_backward_serial if small else packed_backward_parallel
    threads = _scratch_slots(small)
    keys = _padded(length, LANES)
    features = _padded(head_dim, LANES)
    q_scaled = np.empty((threads, length, head_dim), dtype)
    k_t = np.empty((threads, head_dim, keys), dtype)
    v_t = np.empty((threads, head_dim, keys), dtype)
    in_place = head_dim % LANES == 0  # q, k and dO read straight from packed and grad_out; else padded copies
    copies = (threads, length, features if not in_place else 0)
    q_padded, k_padded, grad_out_padded = (np.empty(copies, dtype) for _ in range(3))
    deltas = np.empty((threads, length), dtype)
    grad_packed = np.empty((n_batch, length, width), dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        _call_serial_first(packed_backward_serial, kernel,
                           (packed, heads, mask, has_mask, bool(causal), out, lse, grad_out, dtype.type(scale),
                            dtype.type(q_factor), dtype.type(k_factor), in_place, q_scaled, k_t, v_t, q_padded,
                            k_padded, grad_out_padded, deltas, grad_packed))
    return grad_packed


_SERIAL_LOADED = set()  # (serial variant, dtype) whose machine code this process loaded before any parallel call


def _call_serial_first(serial, kernel, arguments):
    """kernel(*arguments), where kernel is `serial` or its parallel twin; before the parallel twin first runs for a
    dtype, the serial variant is loaded (from Numba's cache, or compiled) for the same argument types.

    Why: both variants call the share functions of kernels/cpu/attention_packed.py, and each compiled library
    carries its own copy of them; the process runs the copy loaded first. The copy inside a parallel variant loaded
    from the cache rounds a few float32 values differently (≤ 2.4e-7) from the one compiled on its own, so a run on
    a warm cache ended apart from the same run on a cold one (docs/perf.md). With the serial variant loaded first,
    every run uses the copy a cold run uses: the same bits cold or warm, serial or parallel
    (tests/kernels/test_packed_attention_kernels.py checks them in fresh processes)."""
    if kernel is not serial:
        key = (serial, next(a.dtype for a in arguments if isinstance(a, np.ndarray)))
        if key not in _SERIAL_LOADED:
            serial.compile(tuple(numba.typeof(argument) for argument in arguments))
            _SERIAL_LOADED.add(key)
    kernel(*arguments)


def _short_and_nonempty(packed, heads):
    """Whether these kernels take packed: 1 ≤ L ≤ SHORT_MAX and a head size of at least 1 (else the tiled kernels)."""
    n_batch, length, width = packed.shape
    return n_batch > 0 and 0 < length <= SHORT_MAX and width // 3 // heads > 0


def _scratch_slots(serial):
    """How many copies of the packed kernels' scratch to make: one per thread that runs a share of the heads
    (each small, so it stays in cache)."""
    return 1 if serial else numba.get_num_threads()


def _work(n_heads, length, head_dim):
    """Multiply-adds of the forward, B·L·L·2hd, as kernels/cpu/attention.py counts them for SERIAL_MAX_WORK."""
    return n_heads * length * length * 2 * head_dim
