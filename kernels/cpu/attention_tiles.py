"""The tiles of the log-sum-exp attention kernels in kernels/cpu/attention.py: small compiled functions that each
do one step for a tile of ROWS query rows and a block of up to BLOCK keys, with their sums held in registers.

    dot_block            S[r, j] = rows[i0 + r] · columns[:, j0 + j]        (Q Kᵀ; dO Vᵀ in the backward)
    mask_block           S += mask;  S += -inf where the key is in the future (causal)
    softmax_step         m' = max(m, max_j S);  P = exp(S - m');  l = l·e^(m - m') + Σ_j P     (online softmax)
    add_weighted_rows    acc[i0 + r] = f_r·acc[i0 + r] + Σ_j W[r, j] · values[j0 + j]         (P V; dS K)
    add_outer_products   target_t[:, j0 + j] += Σ_r rows[i0 + r] · W[r, j]                    (Qᵀ dS; dOᵀ P)
    row_dots, probabilities_and_score_grads: δ = rowsum(dO ∘ O);  P = exp(S - lse), dS = P ∘ (dP - δ)·scale

Why they are fast: each keeps ROWS accumulator rows of KEYS (or LANES) values in stack arrays (`new_row`, an
LLVM alloca) that LLVM holds in vector registers for the whole inner loop, as kernels/cpu/register_tiles.py's
micro-kernel does: per feature d, `dot_block` does ROWS broadcasts, two vector loads of K and 2·ROWS fused
multiply-adds for float32. Rows and columns are read through 1-D slices (`column = columns[b, d, j0:j0 + KEYS]`,
then column[j]): an index computed as `j0 + j` could be negative as far as Numba knows, so Numba wraps it on
every load and LLVM falls back to gathers. The exp runs in the data's precision (`exp_shifted`: float32 data
gets a float32 polynomial, 16 lanes per register instead of 8).

They are ordinary (not inlined) Numba functions: inlining them at Numba's level into both compiled variants of
each kernel made the parallel compile twice as long, and one call per block of keys costs little next to the
block's work. Each asks LLVM for 512-bit vectors (`use_512_bit_vectors`, see kernels/cpu/register_tiles.py).
Set NUMBA_DISABLE_JIT=1 to step through them as Python (the stack arrays are then NumPy arrays).
"""
import numpy as np
from numba import carray, config, njit, types
from numba.extending import overload

from kernels.cpu.register_tiles import stack_array, use_512_bit_vectors
from kernels.cpu.softmax import FASTMATH, exp32_vectorizable, exp_vectorizable

ROWS = 4      # query rows per tile
KEYS = 32     # keys per dot-product tile: two 512-bit registers of float32 per row
BLOCK = 128   # keys per block, the step of the online softmax (four dot-product tiles)
LANES = 16    # values per chunk of the head dimension in the accumulator rows: one register of float32

OPTIONS = dict(fastmath=FASTMATH, error_model="numpy", cache=True)


def exp_shifted(x, shift):
    """exp(x - shift) in the precision of x: float32 arithmetic for float32 x, float64 otherwise (Numba only)."""
    raise NotImplementedError("exp_shifted is for compiled kernels")


@overload(exp_shifted, jit_options={"fastmath": FASTMATH})
def _exp_shifted(x, shift):
    if x == types.float32:
        return lambda x, shift: exp32_vectorizable(x - np.float32(shift))
    return lambda x, shift: exp_vectorizable(np.float64(x) - np.float64(shift))


_stack_row = stack_array(KEYS)
_stack_block = stack_array(ROWS * BLOCK)


@njit(inline="always")
def new_row(like):
    """KEYS uninitialised values of like's dtype on the caller's stack (private to the thread, no heap)."""
    return carray(_stack_row(like), KEYS)


@njit(inline="always")
def new_block(like):
    """An uninitialised (ROWS, BLOCK) array of like's dtype on the caller's stack."""
    return carray(_stack_block(like), (ROWS, BLOCK))


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the stack arrays, the vector hint and the overload need the JIT
    def new_row(like):  # noqa: F811
        return np.empty(KEYS, like.dtype)

    def new_block(like):  # noqa: F811
        return np.empty((ROWS, BLOCK), like.dtype)

    def use_512_bit_vectors():  # noqa: F811
        pass

    def exp_shifted(x, shift):  # noqa: F811
        with np.errstate(invalid="ignore", over="ignore"):
            return type(x)(np.exp(np.float64(x) - np.float64(shift)))


@njit(**OPTIONS)
def dot_block(rows, b, i0, columns, j0, width, block):
    """block[r, j] = Σ_d rows[b, min(i0 + r, R - 1), d] · columns[b, d, j0 + j]     r < ROWS, j < width

    rows (B, R, D), columns (B, D, ≥ j0 + width rounded up to KEYS): zero-padded, so that every tile is whole.
    Rows past R repeat the last row (their results are ignored by the caller).
    """
    use_512_bit_vectors()
    n_rows, n_features = rows.shape[1], rows.shape[2]
    r0 = min(i0, n_rows - 1)
    r1 = min(i0 + 1, n_rows - 1)
    r2 = min(i0 + 2, n_rows - 1)
    r3 = min(i0 + 3, n_rows - 1)
    for t0 in range(0, width, KEYS):
        c0 = new_row(block)
        c1 = new_row(block)
        c2 = new_row(block)
        c3 = new_row(block)
        for j in range(KEYS):
            c0[j] = 0
            c1[j] = 0
            c2[j] = 0
            c3[j] = 0
        for d in range(n_features):
            a0 = rows[b, r0, d]
            a1 = rows[b, r1, d]
            a2 = rows[b, r2, d]
            a3 = rows[b, r3, d]
            column = columns[b, d, j0 + t0:j0 + t0 + KEYS]
            for j in range(KEYS):
                x = column[j]
                c0[j] += a0 * x
                c1[j] += a1 * x
                c2[j] += a2 * x
                c3[j] += a3 * x
        out0 = block[0, t0:t0 + KEYS]
        out1 = block[1, t0:t0 + KEYS]
        out2 = block[2, t0:t0 + KEYS]
        out3 = block[3, t0:t0 + KEYS]
        for j in range(KEYS):
            out0[j] = c0[j]
            out1[j] = c1[j]
            out2[j] = c2[j]
            out3[j] = c3[j]


@njit(**OPTIONS)
def mask_block(block, mask, has_mask, causal, b, i0, n_queries, j0, width):
    """block[r, j] += mask[b, i, j0 + j], and += -inf where the key is in the future (j0 + j > i, causal), for
    i = min(i0 + r, n_queries - 1). -inf is added, as torch adds its causal mask: a NaN score stays NaN."""
    use_512_bit_vectors()
    for r in range(ROWS):
        i = min(i0 + r, n_queries - 1)
        row = block[r]
        if has_mask:
            mask_row = mask[b, i, j0:j0 + width]
            for j in range(width):
                row[j] += mask_row[j]
        if causal:
            future = row[min(max(i + 1 - j0, 0), width):width]
            for j in range(future.shape[0]):
                future[j] += -np.inf


@njit(**OPTIONS)
def softmax_step(block, width, running_max, running_sum, factors):
    """One online-softmax step on each row r of block[:, :width] (scores in, probabilities out):

        m' = max(m, max_j S[r, j]);  P[r, j] = exp(S[r, j] - m');  l' = l·exp(m - m') + Σ_j P[r, j]
    with m = running_max[r], l = running_sum[r]; factors[r] = exp(m - m') rescales what was summed with m.
    A row whose scores are all -inf so far keeps m = -inf and gets P = 0 (shifted by 0, not by -inf). The max
    skips NaN: a NaN score makes its P, l and so the row NaN anyway. The columns from width up to the next
    multiple of KEYS get P = 0, so that every loop runs on whole tiles of KEYS values: one running max over a
    row is a chain that LLVM may not reorder (NaN), KEYS running maxima, one per lane, vectorise.
    """
    use_512_bit_vectors()
    padded_width = (width + KEYS - 1) // KEYS * KEYS
    for r in range(ROWS):
        row = block[r]
        past_width = row[width:padded_width]
        for j in range(padded_width - width):
            past_width[j] = -np.inf
        lanes = new_row(block)
        first_tile = row[0:KEYS]
        for j in range(KEYS):
            lanes[j] = first_tile[j]
        for t0 in range(KEYS, padded_width, KEYS):
            tile = row[t0:t0 + KEYS]
            for j in range(KEYS):
                lanes[j] = tile[j] if tile[j] > lanes[j] else lanes[j]
        half = KEYS // 2
        while half > 0:  # a tree, 5 steps deep, not a chain of KEYS compares (the same for the sums below)
            for j in range(half):
                lanes[j] = lanes[j + half] if lanes[j + half] > lanes[j] else lanes[j]
            half //= 2
        new_max = lanes[0] if lanes[0] > running_max[r] else running_max[r]
        shift = new_max if new_max > -np.inf else 0.0
        factor = 0.0 if running_max[r] == -np.inf else exp_shifted(running_max[r], shift)  # e^-inf: no scalar exp
        sums = new_row(block)  # KEYS partial sums in the data's precision: the exp loop stays 16 lanes wide
        for j in range(KEYS):
            sums[j] = 0
        for t0 in range(0, padded_width, KEYS):
            tile = row[t0:t0 + KEYS]
            for j in range(KEYS):
                p = exp_shifted(tile[j], shift)
                tile[j] = p
                sums[j] += p
        half = KEYS // 2
        while half > 0:
            for j in range(half):
                sums[j] += sums[j + half]
            half //= 2
        running_sum[r] = running_sum[r] * factor + sums[0]
        running_max[r] = new_max
        factors[r] = factor


@njit(fastmath={"contract"}, error_model="numpy", cache=True)
def row_dots(a, b, i0, n_rows, deltas):
    """deltas[r] = Σ_e a[i, e]·b[i, e] for i = min(i0 + r, R - 1), r < ROWS, a and b (R, E) (one head).

    δ_i = dO_i · O_i, summed as dot_block sums dP_ij = dO_i · v_j: one fused multiply-add after another in the
    input precision (no reassociation here). Where P_i is one-hot, O_i = v_j exactly, so δ_i = dP_ij to the
    last bit and dS_i = P_i ∘ (dP_i - δ_i) is exactly 0, as torch's rowsum(dP ∘ P) makes it; a δ rounded
    differently would leave a remainder that a huge key turns into a huge gradient.
    """
    for r in range(ROWS):
        i = min(i0 + r, n_rows - 1)
        deltas[r] = 0  # deltas has a's dtype: the sum runs in the input precision
        for e in range(a.shape[1]):
            deltas[r] += a[i, e] * b[i, e]


@njit(**OPTIONS)
def probabilities_and_score_grads(probs, grad_scores, width, n_rows, shifts, deltas, scale):
    """For the backward, on rows r < n_rows and columns j < width:
        P[r, j] = exp(S[r, j] - lse_r)  (in probs, which holds S);   dS[r, j] = P[r, j]·(dP[r, j] - δ_r)·scale
    (in grad_scores, which holds dP). shifts[r] is lse_r, or +inf for a row with no unmasked key (P = 0). Rows
    past n_rows (past the last query) and columns from width to the next multiple of KEYS get 0, so that the
    products that follow run on whole tiles and add nothing from them."""
    use_512_bit_vectors()
    padded_width = (width + KEYS - 1) // KEYS * KEYS
    for r in range(ROWS):
        probs_row = probs[r]
        grad_row = grad_scores[r]
        end = width if r < n_rows else 0
        shift = shifts[r]
        delta = deltas[r]
        for j in range(end):
            p = exp_shifted(probs_row[j], shift)
            probs_row[j] = p
            grad_row[j] = p * (grad_row[j] - delta) * scale
        probs_past_end = probs_row[end:padded_width]
        grad_past_end = grad_row[end:padded_width]
        for j in range(padded_width - end):
            probs_past_end[j] = 0
            grad_past_end[j] = 0


@njit(**OPTIONS)
def add_weighted_rows(acc, b, i0, factors, weights, width, values, j0):
    """acc[b, i0 + r, :] = factors[r] · acc[b, i0 + r, :] + Σ_{j < width} weights[r, j] · values[b, j0 + j, :]

    acc (B, ≥ i0 + ROWS, E) and values (B, ≥ j0 + width, E) with E a multiple of LANES. One LANES-wide chunk of
    the ROWS accumulator rows at a time, held in registers for the whole j loop.
    """
    use_512_bit_vectors()
    for e0 in range(0, acc.shape[2], LANES):
        c0 = new_row(acc)
        c1 = new_row(acc)
        c2 = new_row(acc)
        c3 = new_row(acc)
        f0 = factors[0]
        f1 = factors[1]
        f2 = factors[2]
        f3 = factors[3]
        acc0 = acc[b, i0, e0:e0 + LANES]
        acc1 = acc[b, i0 + 1, e0:e0 + LANES]
        acc2 = acc[b, i0 + 2, e0:e0 + LANES]
        acc3 = acc[b, i0 + 3, e0:e0 + LANES]
        for e in range(LANES):
            c0[e] = acc0[e] * f0
            c1[e] = acc1[e] * f1
            c2[e] = acc2[e] * f2
            c3[e] = acc3[e] * f3
        for j in range(width):
            w0 = weights[0, j]
            w1 = weights[1, j]
            w2 = weights[2, j]
            w3 = weights[3, j]
            value = values[b, j0 + j, e0:e0 + LANES]
            for e in range(LANES):
                x = value[e]
                c0[e] += w0 * x
                c1[e] += w1 * x
                c2[e] += w2 * x
                c3[e] += w3 * x
        for e in range(LANES):
            acc0[e] = c0[e]
            acc1[e] = c1[e]
            acc2[e] = c2[e]
            acc3[e] = c3[e]


@njit(**OPTIONS)
def add_outer_products(target_t, b, j0, width, weights, rows, i0):
    """target_t[b, e, j0 + j] += Σ_r rows[b, min(i0 + r, R - 1), e] · weights[r, j]    e < E, j < width

    The transposed form of target[j0 + j] += Σ_r weights[r, j]·rows[i0 + r] (dK += dSᵀ Q, dV += Pᵀ dO): with
    the keys along the rows of target_t (B, E, ≥ j0 + width rounded up to KEYS), each tile of KEYS keys is
    one vectorised loop, and its ROWS weight rows stay in registers across the e loop. weights must be 0 from
    width up to the next multiple of KEYS.
    """
    use_512_bit_vectors()
    n_rows, n_features = rows.shape[1], rows.shape[2]
    r0 = min(i0, n_rows - 1)
    r1 = min(i0 + 1, n_rows - 1)
    r2 = min(i0 + 2, n_rows - 1)
    r3 = min(i0 + 3, n_rows - 1)
    for t0 in range(0, width, KEYS):
        w0 = weights[0, t0:t0 + KEYS]
        w1 = weights[1, t0:t0 + KEYS]
        w2 = weights[2, t0:t0 + KEYS]
        w3 = weights[3, t0:t0 + KEYS]
        for e in range(n_features):
            x0 = rows[b, r0, e]
            x1 = rows[b, r1, e]
            x2 = rows[b, r2, e]
            x3 = rows[b, r3, e]
            target_row = target_t[b, e, j0 + t0:j0 + t0 + KEYS]
            for j in range(KEYS):
                target_row[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]


@njit(**OPTIONS)
def pack_scaled(b, q, k, q_factor, k_factor, q_scaled, k_t):
    """q_scaled[b] = q[b]·q_factor and k_t[b] = (k[b]·k_factor)ᵀ, zero-padded to k_t's width. Returns
    Σ_i ‖q_scaled[b, i]‖² · Σ_j ‖k_t[b, :, j]‖² in float64: it bounds every squared score of the head
    (Cauchy-Schwarz), and it is NaN or inf if any value is.
    The scaled values go through memory to dot_block, another compiled function, so fastmath's reassociation
    cannot fold the two factors into one scale applied after a product that overflowed (why it is split)."""
    n_queries, n_features = q.shape[1], q.shape[2]
    n_keys = k.shape[1]
    q_norms = 0.0
    for i in range(n_queries):
        for d in range(n_features):
            x = q[b, i, d] * q_factor
            q_scaled[b, i, d] = x
            q_norms += np.float64(x) * np.float64(x)
    k_norms = 0.0
    for j in range(n_keys):
        for d in range(n_features):
            x = k[b, j, d] * k_factor
            k_t[b, d, j] = x
            k_norms += np.float64(x) * np.float64(x)
    for d in range(n_features):
        for j in range(n_keys, k_t.shape[2]):
            k_t[b, d, j] = 0
    return q_norms * k_norms


@njit(**OPTIONS)
def copy_padded(source, b, target):
    """target[b] = source[b] with zero columns appended; returns whether every value is finite."""
    finite = True
    for i in range(source.shape[1]):
        for e in range(source.shape[2]):
            x = source[b, i, e]
            target[b, i, e] = x
            finite = finite and abs(x) < np.inf
        for e in range(source.shape[2], target.shape[2]):
            target[b, i, e] = 0
    return finite


@njit(**OPTIONS)
def copy_transposed(source, b, target):
    """target[b] = source[b]ᵀ with zero columns appended; returns whether every value is finite."""
    finite = True
    for i in range(source.shape[1]):
        for e in range(source.shape[2]):
            x = source[b, i, e]
            target[b, e, i] = x
            finite = finite and abs(x) < np.inf
    for e in range(source.shape[2]):
        for i in range(source.shape[1], target.shape[2]):
            target[b, e, i] = 0
    return finite


@njit(**OPTIONS)
def all_finite(source, b):
    """Whether every value of source[b] is finite."""
    finite = True
    for i in range(source.shape[1]):
        for e in range(source.shape[2]):
            finite = finite and abs(source[b, i, e]) < np.inf
    return finite
