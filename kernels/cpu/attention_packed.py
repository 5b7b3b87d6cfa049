"""Attention read straight from MultiheadAttention's packed in-projection, for short sequences (L ≤ SHORT_MAX).

packed (N, L, 3E) holds, in row (n, i), the q_i, k_i and v_i of every head side by side, [q | k | v], head h at
columns h·hd:(h+1)·hd of each E-wide third. These kernels read each head from packed where it lies and write
out (N, L, E) with the heads merged, and in the backward grad_packed (N, L, 3E): neither pass copies the split
into (N·heads, L, hd) or the merge back. The math and PyTorch's conventions are those of kernels/cpu/attention.py's
log-sum-exp pair (kernels/reference/attention.py is the oracle): the forward keeps lse_i = log Σ_j exp(S_ij) per
query row, the backward recomputes P = exp(S - lse) and takes δ_i = dO_i · O_i.

    for share in prange(threads):  for head in the share:          a contiguous share of heads per thread
        pack q·√s (L, hd) and (k·√s)ᵀ (hd, L↑16) of the head        (↑16: zero-padded to whole LANES tiles)
        for i0 in range(0, L, ROWS):                                 a tile of ROWS = 4 query rows
            S = Q[i0:i0+4] Kᵀ (+ mask, -inf in the future; -inf in the padding)          whole row: ≤ SHORT_MAX keys
            P = exp(S - max);  l = Σ P;  out[n, rows, head's columns] = P V / l;  lse = max + log l
    backward, per head:  for each tile of rows: P, dP = dO Vᵀ, dS = P ∘ (dP - δ)·scale (the head's P and dS kept
                         on the stack), dQ[rows] = dS K;  then for each tile of 4 keys: dK = dSᵀ Q, dV = Pᵀ dO

Why this and not the tiles of kernels/cpu/attention_tiles.py: at the toy Transformer's L = 12, hd = 16 those
tiles are mostly padding (32-key tiles, 128-key blocks, online rescaling) and calls, for a few hundred vector
operations per head. Here, in one compiled function per pass:
  * every product is 4 accumulator rows × 16 lanes in registers (S = Q Kᵀ over hd, P V and dS K over the keys,
    dSᵀ Q and Pᵀ dO over the queries); with a single accumulator row LLVM unrolls the 16 lanes and vectorises
    the outer loop instead, with gathers;
  * with hd a multiple of 16, v (and q, k, dO in the backward) are read from packed in place; else each head is
    copied zero-padded first;
  * loops index heap arrays with unsigned offsets, not slices: in Numba a slice of a heap array is an atomic
    increment and decrement of its reference count, which in these loops took a quarter of the time; stack
    arrays (tiles, P, dS) have no count;
  * every key is scored, also a causal row's future ones: a NaN or +inf score there must still make the row NaN
    (torch adds -inf to it), and at these lengths that is a tile or two.
Longer sequences go to the tiled kernels (split, attention_*_lse, merge), which reuse each load for 4 rows and
keep O(L) memory per row. Set NUMBA_DISABLE_JIT=1 to step through these kernels as plain Python.
"""
import numpy as np
from numba import carray, config, njit, prange

from kernels.cpu.attention_tiles import LANES, OPTIONS, ROWS, exp_shifted
from kernels.cpu.register_tiles import stack_array, use_512_bit_vectors
from kernels.cpu.softmax import FASTMATH
from kernels.cpu.variants import serial_and_parallel

# Longest sequence these kernels take (a head's P and dS, SHORT_MAX² values each, live on the stack). Measured on
# one thread, float32, hd = 16, 4 heads, causal, forward + backward against split → tiled lse kernels → merge:
# 256 heads at L = 12: 634 µs vs 1589;  64 at L = 32: 590 vs 970;  32 at L = 48: 602 vs 801;  16 at L = 64: 495 vs 550.
SHORT_MAX = 64

assert LANES == 16 and ROWS == 4  # the helpers name four accumulator rows; the lane trees are written for 16

LANES_UNSIGNED = np.uint64(LANES)  # lane loops count in uint64, so `base + j` indexes need no wrap-around

_stack_lanes = stack_array(LANES)
_stack_block = stack_array(ROWS * SHORT_MAX)
_stack_square = stack_array(SHORT_MAX * SHORT_MAX)


@njit(inline="always")
def _new_lanes(like):
    """LANES uninitialised values of like's dtype on the caller's stack (private to the thread, no heap)."""
    return carray(_stack_lanes(like), LANES)


@njit(inline="always")
def _new_block(like):
    """An uninitialised (ROWS, SHORT_MAX) array of like's dtype on the caller's stack: a tile's rows of scores."""
    return carray(_stack_block(like), (ROWS, SHORT_MAX))


@njit(inline="always")
def _new_square(like):
    """An uninitialised (SHORT_MAX, SHORT_MAX) array of like's dtype on the caller's stack: a head's P or dS."""
    return carray(_stack_square(like), (SHORT_MAX, SHORT_MAX))


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the stack arrays need the JIT
    def _new_lanes(like):  # noqa: F811
        return np.empty(LANES, like.dtype)

    def _new_block(like):  # noqa: F811
        return np.empty((ROWS, SHORT_MAX), like.dtype)

    def _new_square(like):  # noqa: F811
        return np.empty((SHORT_MAX, SHORT_MAX), like.dtype)


# The packing loops index with unsigned offsets instead of slicing a row out of packed (no reference counting, see
# the module docstring); an unsigned index needs no negative-index wrap-around either, so the loops still vectorise.

@njit(**OPTIONS)
def _pack_head(packed, n, q_column, k_column, head_dim, q_factor, k_factor, q_scaled, k_t):
    """q_scaled[i, d] = packed[n, i, q_column + d]·q_factor;  k_t[d, j] = packed[n, j, k_column + d]·k_factor,
    zero for j ≥ L. A function of its own so that the scaled values go through memory: fastmath's reassociation
    cannot fold the two factors into one scale applied after a product that overflowed."""
    length = packed.shape[1]
    q_base = np.uint64(q_column)
    k_base = np.uint64(k_column)
    for i in range(length):
        for d in range(np.uint64(head_dim)):
            q_scaled[i, d] = packed[n, i, q_base + d] * q_factor
        for d in range(np.uint64(head_dim)):
            k_t[d, i] = packed[n, i, k_base + d] * k_factor
    for d in range(head_dim):
        for j in range(length, k_t.shape[1]):
            k_t[d, j] = 0


@njit(inline="always")
def _copy_head_padded(source, n, column, count, target):
    """target[i, :count] = source[n, i, column:column + count], zero up to target's width."""
    base = np.uint64(column)
    for i in range(source.shape[1]):
        for e in range(np.uint64(count)):
            target[i, e] = source[n, i, base + e]
        for e in range(count, target.shape[1]):
            target[i, e] = 0


@njit(inline="always")
def _copy_head_transposed(source, n, column, count, target):
    """target[e, i] = source[n, i, column + e], zero for i ≥ L up to target's width."""
    base = np.uint64(column)
    for i in range(source.shape[1]):
        for e in range(np.uint64(count)):
            target[e, i] = source[n, i, base + e]
    for e in range(count):
        for i in range(source.shape[1], target.shape[1]):
            target[e, i] = 0


@njit(fastmath={"contract"}, error_model="numpy", cache=True)
def _row_dots(a, b, n, column, count, deltas):
    """deltas[i] = Σ_e a[n, i, column + e]·b[n, i, column + e] for every row i, one fused multiply-add after
    another in the input precision (no reassociation here).

    δ_i = dO_i · O_i of the backward, summed in the order the backward sums dP_ij = dO_i · v_j: where P_i is
    one-hot, O_i = v_j exactly, so δ_i = dP_ij to the last bit and dS_i is exactly 0, as torch's rowsum(dP ∘ P)
    makes it (row_dots in kernels/cpu/attention_tiles.py says more).
    Four rows at a time: each row's sum is a chain of dependent multiply-adds (its order is the point), and four
    independent chains keep the multiply-add units busy where one waits out each latency."""
    n_rows = a.shape[1]
    for i0 in range(0, n_rows, 4):
        i1 = min(i0 + 1, n_rows - 1)  # past the last row: repeat it (written once more, the same value)
        i2 = min(i0 + 2, n_rows - 1)
        i3 = min(i0 + 3, n_rows - 1)
        deltas[i0] = 0
        total0 = deltas[i0]  # zeros of the input's dtype, summed in registers (deltas may alias a or b)
        total1 = total0
        total2 = total0
        total3 = total0
        for e in range(column, column + count):
            total0 += a[n, i0, e] * b[n, i0, e]
            total1 += a[n, i1, e] * b[n, i1, e]
            total2 += a[n, i2, e] * b[n, i2, e]
            total3 += a[n, i3, e] * b[n, i3, e]
        deltas[i0] = total0
        deltas[i1] = total1
        deltas[i2] = total2
        deltas[i3] = total3


@njit(inline="always")
def _dot_rows(rows, n, column, i0, columns_t, n_tiles, block):
    """block[r, j] = Σ_d rows[n, min(i0 + r, R - 1), column + d] · columns_t[d, j]    r < ROWS, j < n_tiles·LANES, d < D

    rows (≥ n + 1, R, ≥ column + D), columns_t (D, ≥ n_tiles·LANES). Per feature d: ROWS broadcasts, one vector load, ROWS fused
    multiply-adds. Four accumulator rows, not one: with one, LLVM unrolls the 16-lane loop and vectorises the
    loop over d instead, with gathers."""
    last = rows.shape[1] - 1
    r0 = min(i0, last)
    r1 = min(i0 + 1, last)
    r2 = min(i0 + 2, last)
    r3 = min(i0 + 3, last)
    for t in range(n_tiles):
        base = np.uint64(t * LANES)
        c0 = _new_lanes(block)
        c1 = _new_lanes(block)
        c2 = _new_lanes(block)
        c3 = _new_lanes(block)
        for j in range(LANES):
            c0[j] = 0
            c1[j] = 0
            c2[j] = 0
            c3[j] = 0
        for d in range(columns_t.shape[0]):
            a0 = rows[n, r0, column + d]
            a1 = rows[n, r1, column + d]
            a2 = rows[n, r2, column + d]
            a3 = rows[n, r3, column + d]
            for j in range(LANES_UNSIGNED):
                x = columns_t[d, base + j]
                c0[j] += a0 * x
                c1[j] += a1 * x
                c2[j] += a2 * x
                c3[j] += a3 * x
        out0 = block[0, t * LANES:(t + 1) * LANES]
        out1 = block[1, t * LANES:(t + 1) * LANES]
        out2 = block[2, t * LANES:(t + 1) * LANES]
        out3 = block[3, t * LANES:(t + 1) * LANES]
        for j in range(LANES):
            out0[j] = c0[j]
            out1[j] = c1[j]
            out2[j] = c2[j]
            out3[j] = c3[j]


@njit(inline="always")
def _mask_rows(block, mask, has_mask, causal, head, i0, n_queries, n_keys, width):
    """block[r, j] += mask[head, i, j], and += -inf for j > i (causal, added as torch adds its causal mask: a NaN
    score stays NaN), for j < n_keys, i = min(i0 + r, Tq - 1); block[r, j] = -inf for n_keys ≤ j < width (the
    padding: the softmax gives it P = 0)."""
    for r in range(ROWS):
        i = min(i0 + r, n_queries - 1)
        row = block[r]
        if has_mask:
            mask_row = mask[head, i, 0:n_keys]
            for j in range(n_keys):
                row[j] += mask_row[j]
        for t0 in range(0, width, LANES):  # causal and padding in whole tiles: compares and selects, no branches
            tile = row[t0:t0 + LANES]
            for j in range(LANES):
                key = t0 + j
                future = causal and key > i
                tile[j] = -np.inf if key >= n_keys else (tile[j] + -np.inf if future else tile[j])


@njit(inline="always")
def _lanes_max(lanes):
    """max of 16 lanes as a tree (4 steps, not a chain of 15 compares). NaN lanes lose, as in the row max."""
    for j in range(8):
        lanes[j] = lanes[j + 8] if lanes[j + 8] > lanes[j] else lanes[j]
    for j in range(4):
        lanes[j] = lanes[j + 4] if lanes[j + 4] > lanes[j] else lanes[j]
    for j in range(2):
        lanes[j] = lanes[j + 2] if lanes[j + 2] > lanes[j] else lanes[j]
    return lanes[1] if lanes[1] > lanes[0] else lanes[0]


@njit(inline="always")
def _lanes_sum(lanes):
    """Σ of 16 lanes as a tree."""
    for j in range(8):
        lanes[j] += lanes[j + 8]
    for j in range(4):
        lanes[j] += lanes[j + 4]
    for j in range(2):
        lanes[j] += lanes[j + 2]
    return lanes[0] + lanes[1]


@njit(inline="always")
def _softmax_rows(block, width, maxima, totals):
    """Per row r of block[:, :width] (width a multiple of LANES): m_r = max_j S[r, j] (NaN skipped: a NaN score
    makes its row NaN through the exp anyway), S[r, j] <- exp(S[r, j] - m_r), l_r = Σ_j of those; maxima[r] = m_r,
    totals[r] = l_r. A row whose scores are all -inf keeps m_r = -inf and gets P = 0 (shifted by 0, not -inf).
    The four rows go through each loop together, for the reason _dot_rows gives."""
    m0 = _new_lanes(block)
    m1 = _new_lanes(block)
    m2 = _new_lanes(block)
    m3 = _new_lanes(block)
    for j in range(LANES):
        m0[j] = block[0, j]
        m1[j] = block[1, j]
        m2[j] = block[2, j]
        m3[j] = block[3, j]
    for t0 in range(LANES, width, LANES):
        tile0 = block[0, t0:t0 + LANES]
        tile1 = block[1, t0:t0 + LANES]
        tile2 = block[2, t0:t0 + LANES]
        tile3 = block[3, t0:t0 + LANES]
        for j in range(LANES):
            m0[j] = tile0[j] if tile0[j] > m0[j] else m0[j]
            m1[j] = tile1[j] if tile1[j] > m1[j] else m1[j]
            m2[j] = tile2[j] if tile2[j] > m2[j] else m2[j]
            m3[j] = tile3[j] if tile3[j] > m3[j] else m3[j]
    maxima[0] = _lanes_max(m0)
    maxima[1] = _lanes_max(m1)
    maxima[2] = _lanes_max(m2)
    maxima[3] = _lanes_max(m3)
    shift0 = maxima[0] if maxima[0] > -np.inf else 0.0
    shift1 = maxima[1] if maxima[1] > -np.inf else 0.0
    shift2 = maxima[2] if maxima[2] > -np.inf else 0.0
    shift3 = maxima[3] if maxima[3] > -np.inf else 0.0
    for j in range(LANES):
        m0[j] = 0
        m1[j] = 0
        m2[j] = 0
        m3[j] = 0
    for t0 in range(0, width, LANES):
        tile0 = block[0, t0:t0 + LANES]
        tile1 = block[1, t0:t0 + LANES]
        tile2 = block[2, t0:t0 + LANES]
        tile3 = block[3, t0:t0 + LANES]
        for j in range(LANES):
            p0 = exp_shifted(tile0[j], shift0)
            p1 = exp_shifted(tile1[j], shift1)
            p2 = exp_shifted(tile2[j], shift2)
            p3 = exp_shifted(tile3[j], shift3)
            tile0[j] = p0
            tile1[j] = p1
            tile2[j] = p2
            tile3[j] = p3
            m0[j] += p0
            m1[j] += p1
            m2[j] += p2
            m3[j] += p3
    totals[0] = _lanes_sum(m0)
    totals[1] = _lanes_sum(m1)
    totals[2] = _lanes_sum(m2)
    totals[3] = _lanes_sum(m3)


@njit(inline="always")
def _weighted_rows(weights, n_keys, values, n, column, e0, result):
    """result[r, e] = Σ_{j < n_keys} weights[r, j] · values[n, j, column + e0 + e]    r < ROWS, e < LANES (P V; dS K;
    with weights the transposed columns of P or dS: Pᵀ dO, dSᵀ Q)

    values (≥ n + 1, ≥ n_keys, ≥ column + e0 + LANES): packed itself, or a zero-padded copy of a head. The ROWS accumulator rows stay in registers for the whole j loop."""
    c0 = _new_lanes(result)
    c1 = _new_lanes(result)
    c2 = _new_lanes(result)
    c3 = _new_lanes(result)
    for e in range(LANES):
        c0[e] = 0
        c1[e] = 0
        c2[e] = 0
        c3[e] = 0
    base = np.uint64(column + e0)
    for j in range(n_keys):
        w0 = weights[0, j]
        w1 = weights[1, j]
        w2 = weights[2, j]
        w3 = weights[3, j]
        for e in range(LANES_UNSIGNED):
            x = values[n, j, base + e]
            c0[e] += w0 * x
            c1[e] += w1 * x
            c2[e] += w2 * x
            c3[e] += w3 * x
    for e in range(LANES):
        result[0, e] = c0[e]
        result[1, e] = c1[e]
        result[2, e] = c2[e]
        result[3, e] = c3[e]


@njit(inline="always")
def _probabilities_and_score_grads(probs, grad_scores, width, shifts, deltas, scale):
    """P[r, j] = exp(S[r, j] - lse_r) (in probs, which holds S);  dS[r, j] = P[r, j]·(dP[r, j] - δ_r)·scale (in
    grad_scores, which holds dP), for j < width; shifts[r] = lse_r (+inf for a row with no unmasked key)."""
    for t0 in range(0, width, LANES):
        for r in range(ROWS):
            shift = shifts[r]
            delta = deltas[r]
            probs_tile = probs[r, t0:t0 + LANES]
            grad_tile = grad_scores[r, t0:t0 + LANES]
            for j in range(LANES):
                p = exp_shifted(probs_tile[j], shift)
                probs_tile[j] = p
                grad_tile[j] = p * (grad_tile[j] - delta) * scale


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _packed_forward_share(slot, n_slots, packed, heads, mask, has_mask, causal, q_factor, k_factor, in_place,
                          q_scaled, k_t, v_padded, out, lse):
    """The forward of share `slot` of n_slots: its contiguous run of the N·heads heads, with its slot's scratch.
    One compiled function that both variants of `packed_forward_body` call: its loops are compiled once, not once
    more inside a parallel variant."""
    use_512_bit_vectors()
    n_batch, length, width = packed.shape
    embed = width // 3
    head_dim = embed // heads
    n_heads = n_batch * heads
    queries = q_scaled[slot]  # views made once per share: each view of a heap array costs two atomics
    keys_t = k_t[slot]
    padded_values = v_padded[slot:slot + 1]
    block = _new_block(out)
    result = _new_block(out)
    maxima = _new_lanes(out)
    totals = _new_lanes(out)
    for head in range(slot * n_heads // n_slots, (slot + 1) * n_heads // n_slots):
        n = head // heads
        q_column = (head - n * heads) * head_dim
        _pack_head(packed, n, q_column, embed + q_column, head_dim, q_factor, k_factor, queries, keys_t)
        if in_place:  # whole LANES-wide chunks of v read straight from packed
            values, values_n, values_column = packed, n, 2 * embed + q_column
        else:
            values, values_n, values_column = padded_values, 0, 0
            _copy_head_padded(packed, n, 2 * embed + q_column, head_dim, padded_values[0])
        n_tiles = (length + LANES - 1) // LANES
        for i0 in range(0, length, ROWS):
            n_rows = min(ROWS, length - i0)
            _dot_rows(q_scaled, slot, 0, i0, keys_t, n_tiles, block)
            _mask_rows(block, mask, has_mask, causal, head, i0, length, length, n_tiles * LANES)
            _softmax_rows(block, n_tiles * LANES, maxima, totals)
            for e0 in range(0, head_dim, LANES):
                _weighted_rows(block, length, values, values_n, values_column, e0, result)
                e_end = min(e0 + LANES, head_dim)
                for r in range(n_rows):
                    total = totals[r]
                    inv_total = 1.0 / total if total != 0.0 else 1.0  # l = 0: out = Σ 0·v, 0 or NaN (as torch)
                    for e in range(e_end - e0):  # indexed, not sliced: a slice of a heap array costs two atomics
                        out[n, i0 + r, q_column + e0 + e] = result[r, e] * inv_total
            for r in range(n_rows):
                lse[head, i0 + r] = maxima[r] + np.log(totals[r])


def packed_forward_body(packed, heads, mask, has_mask, causal, q_factor, k_factor, in_place, q_scaled, k_t, v_padded,
                        out, lse):
    """for head in prange(N·heads), a contiguous share of the heads per thread:
           pack q·√s (L, hd), (k·√s)ᵀ (hd, L↑16), and v (L, hd↑16) unless in_place (hd a multiple of 16)
           for i0 in range(0, L, ROWS):                               a tile of ROWS query rows
               S = Q[i0:i0+ROWS] Kᵀ (+ mask, -inf in the future);  P = exp(S - m);  l = Σ_j P
               out[n, rows, head's columns] = P V / l;  lse = m + log l      (l = 0: every key masked, out = 0)
    Every key is scored, also a causal row's future ones: a NaN or +inf score there still makes the row NaN, as
    in torch (-inf is added to it); at these lengths that is a tile or two of keys."""
    n_slots = q_scaled.shape[0]
    for share in prange(n_slots):  # a contiguous share of the heads per thread, with its own scratch
        _packed_forward_share(np.int64(share), n_slots, packed, heads, mask, has_mask, causal, q_factor, k_factor,
                              in_place, q_scaled, k_t, v_padded, out, lse)  # np.int64: prange counts in uint64


packed_forward_serial, packed_forward_parallel = serial_and_parallel(
    packed_forward_body, fastmath=FASTMATH, error_model="numpy")


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _packed_backward_share(slot, n_slots, packed, heads, mask, has_mask, causal, out, lse, grad_out, scale, q_factor,
                           k_factor, in_place, q_scaled, k_t, v_t, q_padded, k_padded, grad_out_padded, deltas,
                           grad_packed):
    """The backward of share `slot` of n_slots: its contiguous run of the N·heads heads, with its slot's scratch
    (compiled once for both variants of `packed_backward_body`, as the forward's share)."""
    use_512_bit_vectors()
    n_batch, length, width = packed.shape
    embed = width // 3
    head_dim = embed // heads
    n_heads = n_batch * heads
    queries = q_scaled[slot]  # views made once per share, as in the forward
    keys_t = k_t[slot]
    values_t = v_t[slot]
    head_probs = _new_square(out)  # P and dS of the head, on the stack (L ≤ SHORT_MAX)
    head_grad_scores = _new_square(out)
    row_deltas_all = deltas[slot]
    padded_queries = q_padded[slot:slot + 1]
    padded_keys = k_padded[slot:slot + 1]
    padded_grads = grad_out_padded[slot:slot + 1]
    result = _new_block(out)
    shifts = _new_lanes(out)
    row_deltas = _new_lanes(out)
    for head in range(slot * n_heads // n_slots, (slot + 1) * n_heads // n_slots):
        n = head // heads
        q_column = (head - n * heads) * head_dim
        k_column = embed + q_column
        v_column = 2 * embed + q_column
        _pack_head(packed, n, q_column, k_column, head_dim, q_factor, k_factor, queries, keys_t)
        _copy_head_transposed(packed, n, v_column, head_dim, values_t)
        if in_place:  # whole LANES-wide chunks of q, k and dO read straight from packed and grad_out
            query_n, key_n, grad_n, query_at, key_at, grad_at = n, n, n, q_column, k_column, q_column  # [n, :, at:]
            query_source, key_source, grad_source = packed, packed, grad_out
        else:  # zero-padded copies of the head
            query_n, key_n, grad_n, query_at, key_at, grad_at = 0, 0, 0, 0, 0, 0
            query_source, key_source, grad_source = padded_queries, padded_keys, padded_grads
            _copy_head_padded(packed, n, q_column, head_dim, padded_queries[0])
            _copy_head_padded(packed, n, k_column, head_dim, padded_keys[0])
            _copy_head_padded(grad_out, n, q_column, head_dim, padded_grads[0])
        _row_dots(grad_out, out, n, q_column, head_dim, row_deltas_all)
        n_tiles = (length + LANES - 1) // LANES
        for i0 in range(0, length, ROWS):
            n_rows = min(ROWS, length - i0)
            for r in range(ROWS):
                i = min(i0 + r, length - 1)
                row_lse = lse[head, i]
                shifts[r] = np.inf if row_lse == -np.inf else row_lse  # no unmasked key: exp(S - inf) = 0
                row_deltas[r] = row_deltas_all[i]
            tile_probs = head_probs[i0:i0 + ROWS]
            tile_grad_scores = head_grad_scores[i0:i0 + ROWS]
            _dot_rows(q_scaled, slot, 0, i0, keys_t, n_tiles, tile_probs)
            _mask_rows(tile_probs, mask, has_mask, causal, head, i0, length, length, n_tiles * LANES)
            _dot_rows(grad_out, n, q_column, i0, values_t, n_tiles, tile_grad_scores)
            _probabilities_and_score_grads(tile_probs, tile_grad_scores, n_tiles * LANES, shifts, row_deltas, scale)
            for r in range(n_rows, ROWS):  # rows past the last query add nothing to dK and dV
                for j in range(head_probs.shape[1]):
                    tile_probs[r, j] = 0
                    tile_grad_scores[r, j] = 0
            for e0 in range(0, head_dim, LANES):
                _weighted_rows(tile_grad_scores, length, key_source, key_n, key_at, e0, result)
                e_end = min(e0 + LANES, head_dim)
                for r in range(n_rows):
                    for e in range(e_end - e0):  # indexed, not sliced (see the forward)
                        grad_packed[n, i0 + r, q_column + e0 + e] = result[r, e]
        for k0 in range(0, length, ROWS):
            n_keys = min(ROWS, length - k0)
            for e0 in range(0, head_dim, LANES):
                e_end = min(e0 + LANES, head_dim)
                # dK = dSᵀ Q and dV = Pᵀ dO for keys k0..k0+3: _weighted_rows on the transposed columns, so the sums
                # stay in registers across the queries (adding each query's outer product to dK rows in memory
                # instead made LLVM vectorise across the keys, with gathers and scatters)
                _weighted_rows(head_grad_scores[:, k0:k0 + ROWS].T, length, query_source, query_n, query_at, e0,
                               result)
                for r in range(n_keys):
                    for e in range(e_end - e0):
                        grad_packed[n, k0 + r, k_column + e0 + e] = result[r, e]
                _weighted_rows(head_probs[:, k0:k0 + ROWS].T, length, grad_source, grad_n, grad_at, e0, result)
                for r in range(n_keys):
                    for e in range(e_end - e0):
                        grad_packed[n, k0 + r, v_column + e0 + e] = result[r, e]


def packed_backward_body(packed, heads, mask, has_mask, causal, out, lse, grad_out, scale, q_factor, k_factor,
                         in_place, q_scaled, k_t, v_t, q_padded, k_padded, grad_out_padded, deltas, grad_packed):
    """for head in prange(N·heads), a contiguous share of the heads per thread (dK, dV of a head in one thread):
           pack q·√s, (k·√s)ᵀ, vᵀ (and q, k, dO zero-padded unless in_place);  δ_i = dO_i · O_i
           for i0 in range(0, L, ROWS):                                  a tile of query rows
               S = Q Kᵀ (+ mask);  P = exp(S - lse);  dP = dO Vᵀ;  dS = P ∘ (dP - δ)·scale     kept for the head
               dQ[rows] = dS K
           for k0 in range(0, L, ROWS):                                  a tile of keys
               dK[keys] = dSᵀ[keys] Q;   dV[keys] = Pᵀ[keys] dO
    Scratch, one per thread: q_scaled, k_t, v_t as in the forward, q_padded, k_padded, grad_out_padded (L, hd↑16)
    (unused when in_place), deltas (threads, L) for δ; the head's P and dS live on the stack (SHORT_MAX² values
    each). dQ, dK and dV go straight to the head's columns of grad_packed."""
    n_slots = q_scaled.shape[0]
    for share in prange(n_slots):  # a contiguous share of the heads per thread, with its own scratch
        _packed_backward_share(np.int64(share), n_slots, packed, heads, mask, has_mask, causal, out, lse, grad_out,
                               scale, q_factor, k_factor, in_place, q_scaled, k_t, v_t, q_padded, k_padded,
                               grad_out_padded, deltas, grad_packed)  # np.int64: prange counts in uint64


packed_backward_serial, packed_backward_parallel = serial_and_parallel(
    packed_backward_body, fastmath=FASTMATH, error_model="numpy")

