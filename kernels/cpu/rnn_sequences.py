"""Whole Elman RNN, LSTM and GRU sequences as Numba kernels: one call per layer and direction, the loop over time
inside it. The one-step cells are in kernels/cpu/rnn.py, which exports these kernels too (the "rnn" family of
kernels/interface.py); the activations and the [x | h] packing both use are in kernels/cpu/recurrent_common.py.

Same interface as kernels/reference/rnn.py (read that first: it is the math). NUMBA_DISABLE_JIT=1 runs every kernel
here as plain Python, to step through.
"""
import numpy as np
from numba import carray, config, njit, prange

from kernels.cpu.register_tiles import NR, _stack_row, use_512_bit_vectors
from kernels.cpu.recurrent_common import (bias_or_zeros, pack_side_by_side, padded_to_panels, sigmoid_in_precision,
                                          tanh_in_precision)
from kernels.cpu.softmax import FASTMATH
from kernels.reference.rnn import check_nonlinearity, check_rnn_sequence_backward_inputs, check_sequence_inputs


# ----- whole sequences: one call per layer and direction --------------------------------------------------------
# The loop over time inside one compiled call, so a step costs one register-tiled product and one vectorised gate
# pass, and no Python at all. Every product is `_tile_8_rows` (8 x 32, 512-bit) on weights packed once per call
# into contiguous NR-column panels (`_column_panels`), zero-padded so that every panel is full; the padding columns
# of the products are zero and are cut off by the wrappers.
#   LSTM, gate columns [i | f | g | o]: a step's product is [x_t | h_prev] against [W_ih | W_hh]ᵀ (an input
#   projection of all T·N rows before the loop ran no faster: docs/perf.md); the backward adds the weight
#   gradients up a chunk of steps at a time (CHUNK_ROWS).
#   Elman RNN (nn.RNN's layer, tanh or relu), H columns: the GRU's plan below with one gate block.
#   GRU, gate columns [r | z | n] (3H): the plan of kernels/reference/rnn.py, the input projection of all T steps
#   as one product before the loop, the weight gradients as products over all T·N rows after it; its input and
#   hidden products are kept apart (gi and zh), so W_in x and W_hn h need no zero blocks as in the one-step GRU
#   kernel.
# Rows of the batch never meet but in the weight gradients, so each kernel is written for a part of the batch
# (`*_rows`: rows row0 ... row0 + R - 1 through every step, with its own scratch and its own weight-gradient sums)
# and a parallel driver (`*_parts`) hands the parts to the threads; one part runs without the driver.


SEQUENCE_ROWS = 8  # rows of `_tile_8_rows`, the register tile of the sequence kernels' products
# Rows of dz the LSTM backward keeps before it adds their product to the weight gradients (whole steps of R rows):
# long enough a sum for the tile to run at speed, short enough for the chunk to stay in L2 (256 KiB of dz at 4H = 256)
CHUNK_ROWS = 256


@njit(inline="always", fastmath=FASTMATH)
def _sequence_activate(gi, row, zh, n, b_ih, b_hh, start, count, use_tanh, out, out_row):
    """out[out_row, start + j] = act(gi[row, start + j] + zh[n, start + j] + b_ih + b_hh) for j < count, in the
    data's precision."""
    for j in range(start, start + count):
        a = gi[row, j] + zh[n, j] + b_ih[j] + b_hh[j]
        out[out_row, j] = tanh_in_precision(a) if use_tanh else sigmoid_in_precision(a)


@njit(inline="always")
def _previous_index(t, reverse):
    """The step visited just before step t (the first step visited has none: its state is the initial one)."""
    return t + 1 if reverse else t - 1


@njit(inline="always", fastmath=True)
def _tile_8_rows(a, b, b_col0, out, row0, out_col0, accumulate):
    """out[row0:row0+8, out_col0:out_col0+NR] (+)= a[row0:row0+8, :] @ b[:, b_col0:b_col0+NR]    a (M, K), b (K, ·)

    `kernels.cpu.register_tiles.tile_product` with twice the rows: eight accumulator rows of NR values on the stack, so per
    k eight broadcasts of a share each load of b's row (16 vector FMAs of 512 bits in float32); the rows start
    from out's values when accumulate, else from zero. Rows past M are clamped to M - 1 (they recompute and
    rewrite the last row), so the k loop has no branch.

    Why 512-bit vectors: LLVM's tuning for Intel server cores prefers 256-bit vectors (older parts lowered their
    clock for 512-bit code). With 256-bit code each k takes twice the FMAs, and eight float32 rows of NR
    accumulators need 32 ymm registers where the CPU has 16, so they spill and the 8-row tile runs slower than
    gemm's 4-row one. With 512-bit code they take 16 of the 32 zmm registers, and the tile does half the
    instructions per multiply-add. `use_512_bit_vectors()` marks whatever function this is inlined into, so the
    other loops there (the gate passes beside the products) are vectorised 512 bits wide too; on a CPU without
    AVX-512 it changes nothing.
    """
    use_512_bit_vectors()
    last = a.shape[0] - 1
    r0 = row0
    r1 = min(row0 + 1, last)
    r2 = min(row0 + 2, last)
    r3 = min(row0 + 3, last)
    r4 = min(row0 + 4, last)
    r5 = min(row0 + 5, last)
    r6 = min(row0 + 6, last)
    r7 = min(row0 + 7, last)
    c0 = carray(_stack_row(out), NR)
    c1 = carray(_stack_row(out), NR)
    c2 = carray(_stack_row(out), NR)
    c3 = carray(_stack_row(out), NR)
    c4 = carray(_stack_row(out), NR)
    c5 = carray(_stack_row(out), NR)
    c6 = carray(_stack_row(out), NR)
    c7 = carray(_stack_row(out), NR)
    for j in range(NR):  # adds to out when accumulate (every row is read before any is written: clamped rows agree)
        c0[j] = out[r0, out_col0 + j] if accumulate else 0
        c1[j] = out[r1, out_col0 + j] if accumulate else 0
        c2[j] = out[r2, out_col0 + j] if accumulate else 0
        c3[j] = out[r3, out_col0 + j] if accumulate else 0
        c4[j] = out[r4, out_col0 + j] if accumulate else 0
        c5[j] = out[r5, out_col0 + j] if accumulate else 0
        c6[j] = out[r6, out_col0 + j] if accumulate else 0
        c7[j] = out[r7, out_col0 + j] if accumulate else 0
    for k in range(a.shape[1]):
        a0 = a[r0, k]
        a1 = a[r1, k]
        a2 = a[r2, k]
        a3 = a[r3, k]
        a4 = a[r4, k]
        a5 = a[r5, k]
        a6 = a[r6, k]
        a7 = a[r7, k]
        for j in range(NR):
            b_kj = b[k, b_col0 + j]
            c0[j] += a0 * b_kj
            c1[j] += a1 * b_kj
            c2[j] += a2 * b_kj
            c3[j] += a3 * b_kj
            c4[j] += a4 * b_kj
            c5[j] += a5 * b_kj
            c6[j] += a6 * b_kj
            c7[j] += a7 * b_kj
    for j in range(NR):
        out[r0, out_col0 + j] = c0[j]
        out[r1, out_col0 + j] = c1[j]
        out[r2, out_col0 + j] = c2[j]
        out[r3, out_col0 + j] = c3[j]
        out[r4, out_col0 + j] = c4[j]
        out[r5, out_col0 + j] = c5[j]
        out[r6, out_col0 + j] = c6[j]
        out[r7, out_col0 + j] = c7[j]


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: `_stack_row` needs the JIT, so the tile is one NumPy product
    def _tile_8_rows(a, b, b_col0, out, row0, out_col0, accumulate):  # noqa: F811 -- the compiled tile's contract
        rows = sorted({min(row0 + r, a.shape[0] - 1) for r in range(SEQUENCE_ROWS)})
        product = a[rows] @ b[:, b_col0:b_col0 + NR]
        out[rows, out_col0:out_col0 + NR] = (out[rows, out_col0:out_col0 + NR] if accumulate else 0) + product


# The two products below are called (compiled once per operand layout), not inlined into each kernel: the sequence
# kernels compile about a quarter faster that way and run no slower (docs/perf.md).
@njit(fastmath=True)
def _times_panels(a, panels, out):
    """out[:, :P·NR] = a @ [panels[0] | ... | panels[P-1]]: every 8-row tile of a (M, K) against every packed
    weight panel (P, K, NR), as `_column_panels` lays them out."""
    blocks = _row_blocks(a.shape[0])
    for panel in range(panels.shape[0]):
        for block in range(blocks):
            _tile_8_rows(a, panels[panel], 0, out, block * SEQUENCE_ROWS, panel * NR, False)


@njit(fastmath=True)
def _times_columns(a, b, out, accumulate):
    """out[:, :W] (+)= a @ b for b (K, W), W a multiple of NR, read in place NR columns at a time: the weight
    gradients' products (a = a transposed view of the inputs, b = the pre-activation gradients)."""
    blocks = _row_blocks(a.shape[0])
    for panel in range(b.shape[1] // NR):
        for block in range(blocks):
            _tile_8_rows(a, b, panel * NR, out, block * SEQUENCE_ROWS, panel * NR, accumulate)


@njit(inline="always")
def _gather_part_inputs(x, rows, x_part):
    """x_part[t·R + r] = x[t, rows][r]: a part's inputs of every step as contiguous (t, r) rows, the operand of its
    whole-sequence products (R = the rows of the part)."""
    n_rows = rows.stop - rows.start
    for t in range(x.shape[0]):
        x_t = x[t, rows]
        for r in range(n_rows):
            for i in range(x.shape[2]):
                x_part[t * n_rows + r, i] = x_t[r, i]


@njit(inline="always")
def _gather_part_previous(h0, hs, rows, reverse, previous):
    """previous[t·R + r] = the state step t started from, for the part's rows: h0 at the first step visited, else
    the state of the step visited before (the H_prev of the weight gradient dZᵀ H_prev)."""
    n_rows = rows.stop - rows.start
    steps = hs.shape[0]
    for t in range(steps):
        first = t == (steps - 1 if reverse else 0)
        h_prev = h0[rows] if first else hs[_previous_index(t, reverse), rows]
        for r in range(n_rows):
            for k in range(hs.shape[2]):
                previous[t * n_rows + r, k] = h_prev[r, k]


@njit(inline="always")
def _row_blocks(n_rows):
    """How many SEQUENCE_ROWS-row tiles cover n_rows rows."""
    return (n_rows + SEQUENCE_ROWS - 1) // SEQUENCE_ROWS


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _lstm_sequence_forward_rows(x, h0, c0, w_panels, bias, reverse, row0, inputs, z, states, gates):
    """The forward of batch rows row0 ... row0 + R - 1 over all T steps. x (T, N, I); w_panels (P, I+H, NR) =
    [W_ih | W_hh]ᵀ cut into P panels of NR gate columns (zero past column 4H); bias (4H) = b_ih + b_hh; inputs
    (R, I+H) and z (R, P·NR) scratch of this part; states (2, T, N, H) = [hs ; cs] and gates (T, N, 4H) out, rows
    row0 ... row0 + R - 1 written.

        for t in the direction's order:
            inputs = [x[t, rows] | h_prev[rows]]
            for panel in range(P), row block of 8:  z[block, panel] = inputs[block] @ w_panels[panel]
            for each row n:   i, f, o = σ(z[n, ·] + bias), g = tanh(...)      (one vectorised loop per kind)
                              c = f c_prev + i g;  h = o tanh(c)

    Why it is fast: each step is one product in registers (`_tile_8_rows`, 512-bit) of the step's x and h against
    both weights, packed once for all steps (each panel one contiguous block, read by every row tile of the step
    while it is in L1), and the step loop has no call overhead between steps. The input projection is not one
    product of all T·N rows before the loop (the reference's plan): that needs a (T·N, 4H) scratch whose fresh
    pages cost more to touch, and whose rows come back from L2 one step at a time, than the K = I rows the step
    product gains. Rows of the batch never meet in the forward, so a part of them runs the whole sequence alone:
    `_lstm_sequence_forward_parts` gives each thread its parts, one launch per sequence instead of one per step.
    """
    use_512_bit_vectors()  # for the gate passes beside the tiles
    steps = states.shape[1]
    n_rows = inputs.shape[0]
    n_hidden = states.shape[3]
    rows = slice(row0, row0 + n_rows)
    for step in range(steps):
        t = steps - 1 - step if reverse else step
        h_prev = h0[rows] if step == 0 else states[0, _previous_index(t, reverse), rows]
        c_prev = c0[rows] if step == 0 else states[1, _previous_index(t, reverse), rows]
        pack_side_by_side(x[t, rows], h_prev, inputs)
        _times_panels(inputs, w_panels, z)
        gates_t = gates[t, rows]
        h_t = states[0, t, rows]
        c_t = states[1, t, rows]
        for n in range(n_rows):
            for j in range(2 * n_hidden):  # i and f
                gates_t[n, j] = sigmoid_in_precision(z[n, j] + bias[j])
            for j in range(2 * n_hidden, 3 * n_hidden):  # g
                gates_t[n, j] = tanh_in_precision(z[n, j] + bias[j])
            for j in range(3 * n_hidden, 4 * n_hidden):  # o
                gates_t[n, j] = sigmoid_in_precision(z[n, j] + bias[j])
            for j in range(n_hidden):
                c = gates_t[n, n_hidden + j] * c_prev[n, j] + gates_t[n, j] * gates_t[n, 2 * n_hidden + j]
                c_t[n, j] = c
                h_t[n, j] = gates_t[n, 3 * n_hidden + j] * tanh_in_precision(c)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def _lstm_sequence_forward_parts(x, h0, c0, w_panels, bias, reverse, inputs, z, states, gates):
    """`_lstm_sequence_forward_rows` for each part of the batch, the parts shared among the threads: inputs
    (parts, R, I+H) and z (parts, R, P·NR) hold each part's scratch; part p is rows p·R ... (the last may be
    shorter)."""
    part_rows = inputs.shape[1]
    n_batch = states.shape[2]
    for part in prange(inputs.shape[0]):
        use_512_bit_vectors()  # the prange body is a function of its own, into which LLVM may inline the rows' code
        rows = min(part_rows, n_batch - part * part_rows)
        _lstm_sequence_forward_rows(x, h0, c0, w_panels, bias, reverse, part * part_rows, inputs[part, :rows],
                                    z[part, :rows], states, gates)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _lstm_sequence_backward_rows(x, h0, c0, w_ih_panels, w_hh_panels, states, gates, grad_states, reverse,
                                 need_grad_x, row0, dz, inputs, grad_h, grad_c, grad_x_p, grad_weights_t, grad_bias):
    """The backward of batch rows row0 ... row0 + R - 1 (R = grad_c.shape[0]) over all T steps. x (T, N, I);
    w_ih_panels (Pi, Gp, NR), w_hh_panels (Ph, Gp, NR): W_ih (4H, I) and W_hh (4H, H) cut into panels of NR
    columns, zero-padded to Gp = 4H padded rows; states, gates and grad_states as the forward's, rows row0 ... read;
    dz (S·R, Gp) and inputs (S·R, I+H) scratch for a chunk of S steps; grad_h (R, Ph·NR) and grad_c (R, H) the
    gradients carried back to the previous step, zero on entry, this part's grad_h0 and grad_c0 on exit; grad_x_p
    (T·R, Pi·NR) (no rows without need_grad_x), grad_weights_t (I+H, Gp) = this part's [grad_w_ih | grad_w_hh]ᵀ
    and grad_bias (Gp,) out, zero on entry.

        for t newest first (chunk c = steps c·S ... c·S + S - 1, s = t - c·S):
            for each row n, j:  g_h = grad_states[0, t] + grad_h;  tc = tanh(c);  dc = grad_states[1, t] +
                grad_c + g_h o (1 - tc²);  dz[s·R + n, (i f g o)·H + j] = dc g i(1-i), dc c_prev f(1-f),
                dc i (1-g²), g_h tc o(1-o);  grad_c = dc f
            inputs[s·R : s·R + R] = [x[t] | h_prev]
            for panel in range(Ph), row block:  grad_h[block, panel] = dz[s·R + block] @ w_hh_panels[panel]
            after the chunk's last step (rows = its steps' rows, in time order):
                grad_weights_t += inputs[rows]ᵀ @ dz[rows];  grad_bias += Σ_rows dz
                grad_x_p[c·S·R + rows] = dz[rows] @ w_ih_panels                              (if need_grad_x)

    Why it is fast: every product runs in registers (`_tile_8_rows`, 512-bit), and the weight gradients are
    summed a chunk of steps at a time, from rows that are still in L2: the scratch is S·R rows whatever T is
    (no (T·N, 4H) array of all steps' dz, no stack of the previous states), and each sum is long enough (K = S·R)
    for the tile to run at speed. Keeping all steps' dz and then one two-thread GEMM for the weight gradients ran
    slower (docs/perf.md). Rows of the batch meet only in the weight gradients, so a part of them runs alone with
    weight gradients of its own, which `lstm_sequence_backward` adds up (`_lstm_sequence_backward_parts`).
    The weight gradient comes out transposed, (I+H, Gp), so that dz is read along its rows by the tile (the
    transposed operand inputsᵀ is the one read eight values at a time); the wrapper transposes the small result.
    """
    use_512_bit_vectors()  # for the gate passes beside the tiles
    steps = states.shape[1]
    n_rows = grad_c.shape[0]
    n_hidden = states.shape[3]
    rows = slice(row0, row0 + n_rows)
    gate_width = dz.shape[1]
    chunk_steps = dz.shape[0] // n_rows
    for row in range(dz.shape[0]):
        for col in range(4 * n_hidden, gate_width):
            dz[row, col] = 0
    for step in range(steps):
        t = step if reverse else steps - 1 - step
        first = step == steps - 1  # the step visited first in the forward: it started from h0 and c0
        h_prev = h0[rows] if first else states[0, _previous_index(t, reverse), rows]
        c_prev = c0[rows] if first else states[1, _previous_index(t, reverse), rows]
        gates_t = gates[t, rows]
        c_t = states[1, t, rows]
        grad_h_t = grad_states[0, t, rows]
        grad_c_t = grad_states[1, t, rows]
        chunk_start = t // chunk_steps * chunk_steps  # the chunk's first step in time order
        chunk_row = (t - chunk_start) * n_rows
        dz_t = dz[chunk_row:chunk_row + n_rows]
        for n in range(n_rows):
            # short loops, each vectorised (as in the one-step kernel); grad_c holds dc until the last loop
            for j in range(n_hidden):
                o = gates_t[n, 3 * n_hidden + j]
                tanh_c = tanh_in_precision(c_t[n, j])
                d_h = grad_h_t[n, j] + grad_h[n, j]
                dz_t[n, 3 * n_hidden + j] = d_h * tanh_c * o * (1.0 - o)
                grad_c[n, j] = grad_c_t[n, j] + grad_c[n, j] + d_h * o * (1.0 - tanh_c * tanh_c)
            for j in range(n_hidden):
                i = gates_t[n, j]
                dz_t[n, j] = grad_c[n, j] * gates_t[n, 2 * n_hidden + j] * i * (1.0 - i)
            for j in range(n_hidden):
                f = gates_t[n, n_hidden + j]
                dz_t[n, n_hidden + j] = grad_c[n, j] * c_prev[n, j] * f * (1.0 - f)
            for j in range(n_hidden):
                g = gates_t[n, 2 * n_hidden + j]
                dz_t[n, 2 * n_hidden + j] = grad_c[n, j] * gates_t[n, j] * (1.0 - g * g)
            for j in range(n_hidden):
                grad_c[n, j] = grad_c[n, j] * gates_t[n, n_hidden + j]  # dc · f: the gradient of the previous c
        pack_side_by_side(x[t, rows], h_prev, inputs[chunk_row:chunk_row + n_rows])
        _times_panels(dz_t, w_hh_panels, grad_h)
        next_t = t + 1 if reverse else t - 1
        if step == steps - 1 or next_t // chunk_steps != t // chunk_steps:  # the chunk's last step: add it up
            filled = (min(chunk_start + chunk_steps, steps) - chunk_start) * n_rows
            inputs_t = inputs[:filled].T  # (I+H, S·R), a strided view: the tile reads 8 neighbouring values per k
            dz_filled = dz[:filled]
            _times_columns(inputs_t, dz_filled, grad_weights_t, True)
            for row in range(filled):
                for col in range(gate_width):
                    grad_bias[col] += dz[row, col]
            if need_grad_x:
                _times_panels(dz_filled, w_ih_panels, grad_x_p[chunk_start * n_rows:chunk_start * n_rows + filled])


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def _lstm_sequence_backward_parts(x, h0, c0, w_ih_panels, w_hh_panels, states, gates, grad_states, reverse,
                                  need_grad_x, dz, inputs, grad_h, grad_c, grad_x_p, grad_weights_t, grad_bias):
    """`_lstm_sequence_backward_rows` for each part of the batch, the parts shared among the threads: every
    scratch and output has a leading parts axis (part p is rows p·R ..., R = grad_c.shape[1], the last part maybe
    shorter)."""
    part_rows = grad_c.shape[1]
    n_batch = states.shape[2]
    for part in prange(grad_c.shape[0]):
        use_512_bit_vectors()  # the prange body is a function of its own, into which LLVM may inline the rows' code
        rows = min(part_rows, n_batch - part * part_rows)
        chunk_rows = dz.shape[1] // part_rows * rows  # the same S steps of this part's rows
        _lstm_sequence_backward_rows(x, h0, c0, w_ih_panels, w_hh_panels, states, gates, grad_states, reverse,
                                     need_grad_x, part * part_rows, dz[part, :chunk_rows], inputs[part, :chunk_rows],
                                     grad_h[part, :rows], grad_c[part, :rows],
                                     grad_x_p[part, :grad_x_p.shape[1] // part_rows * rows], grad_weights_t[part],
                                     grad_bias[part])


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _gru_sequence_forward_rows(x, h0, w_ih_panels, w_hh_panels, b_ih, b_hh, reverse, row0, x_part, gi, zh, hs,
                               gates):
    """The forward of batch rows row0 ... row0 + R - 1 (R = zh.shape[0]) over all T steps, as the LSTM's, with
    w_ih_panels (P, I, NR) and w_hh_panels (P, H, NR) for the 3H columns [r | z | n]; x_part (T·R, I), gi (T·R,
    P·NR) and zh (R, P·NR) this part's scratch; hs (T, N, H) and gates (T, N, 4H) = [r | z | n | W_hn h + b_hn]
    out, rows row0 ... written:

        x_part = x[:, rows];  gi = x_part @ w_ih_panels                  (the input projection of all steps at once)
        for t in order:  zh = h_prev[rows] @ w_hh_panels
            for each row n, j:  r = σ(gi_r + b_ir + zh_r + b_hr);  u = σ(gi_z + b_iz + zh_z + b_hz)
                                a = zh_n + b_hn;  m = tanh(gi_n + b_in + r a);  h = (1 - u) m + u h_prev
    """
    use_512_bit_vectors()  # for the gate passes beside the tiles
    steps = hs.shape[0]
    n_rows = zh.shape[0]
    n_hidden = hs.shape[2]
    rows = slice(row0, row0 + n_rows)
    _gather_part_inputs(x, rows, x_part)
    _times_panels(x_part, w_ih_panels, gi)
    for step in range(steps):
        t = steps - 1 - step if reverse else step
        h_prev = h0[rows] if step == 0 else hs[_previous_index(t, reverse), rows]
        _times_panels(h_prev, w_hh_panels, zh)
        gates_t = gates[t, rows]
        h_t = hs[t, rows]
        for n in range(n_rows):
            row = t * n_rows + n
            _sequence_activate(gi, row, zh, n, b_ih, b_hh, 0, 2 * n_hidden, False, gates_t, n)  # r and z (u here)
            for j in range(n_hidden):
                gates_t[n, 3 * n_hidden + j] = zh[n, 2 * n_hidden + j] + b_hh[2 * n_hidden + j]  # a = W_hn h + b_hn
            for j in range(n_hidden):
                pre = gi[row, 2 * n_hidden + j] + b_ih[2 * n_hidden + j] + gates_t[n, j] * gates_t[n, 3 * n_hidden + j]
                gates_t[n, 2 * n_hidden + j] = tanh_in_precision(pre)  # the candidate n (m here)
            for j in range(n_hidden):
                u = gates_t[n, n_hidden + j]
                h_t[n, j] = (1.0 - u) * gates_t[n, 2 * n_hidden + j] + u * h_prev[n, j]


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def _gru_sequence_forward_parts(x, h0, w_ih_panels, w_hh_panels, b_ih, b_hh, reverse, x_part, gi, zh, hs, gates):
    """`_gru_sequence_forward_rows` for each part of the batch (see `_batch_parts`), the parts shared among the
    threads: x_part, gi and zh have a leading parts axis; part p is rows p·R ... (the last may be shorter)."""
    part_rows = zh.shape[1]
    n_batch = hs.shape[1]
    steps = hs.shape[0]
    for part in prange(zh.shape[0]):
        use_512_bit_vectors()  # the prange body is a function of its own, into which LLVM may inline the rows' code
        rows = min(part_rows, n_batch - part * part_rows)
        _gru_sequence_forward_rows(x, h0, w_ih_panels, w_hh_panels, b_ih, b_hh, reverse, part * part_rows,
                                   x_part[part, :steps * rows], gi[part, :steps * rows], zh[part, :rows], hs, gates)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _gru_sequence_backward_rows(x, h0, w_ih_panels, w_hh_panels, hs, gates, grad_hs, reverse, need_grad_x, row0,
                                x_part, d_gi, d_gh, grad_h, direct, previous, grad_x_p, grad_w_ih_t, grad_w_hh_t,
                                grad_b_ih, grad_b_hh):
    """The backward of batch rows row0 ... row0 + R - 1 (R = direct.shape[0]). w_ih_panels (Pi, Gp, NR),
    w_hh_panels (Ph, Gp, NR) the weights (3H, I), (3H, H) cut into panels of NR columns, zero-padded to Gp = 3H
    padded rows; x_part (T·R, I), d_gi, d_gh (T·R, Gp), direct (R, H) and previous (T·R, H) this part's scratch;
    grad_h (R, Ph·NR) the gradient carried back, zero on entry and this part's grad_h0 on exit; grad_x_p (T·R,
    Pi·NR) (no rows without need_grad_x), grad_w_ih_t (I, Gp), grad_w_hh_t (H, Gp), grad_b_ih, grad_b_hh (Gp,)
    this part's sums, out:

        for t newest first:
            for each row n, j:  g = grad_hs[t] + grad_h;  dm = g (1-u)(1-m²);  dr = dm a r(1-r)
                d_gi[t·R + n] = [dr | g (h_prev - m) u(1-u) | dm];  d_gh likewise with dm r;  direct = g u
            grad_h = d_gh[t·R : t·R + R] @ w_hh_panels + direct
        grad_x_p = d_gi @ w_ih_panels (if need_grad_x);  grad_w_ih_t = x_partᵀ @ d_gi;
        grad_w_hh_t = H_prevᵀ @ d_gh;  biases Σ_rows
    """
    use_512_bit_vectors()  # for the gate passes beside the tiles
    steps = hs.shape[0]
    n_rows = direct.shape[0]
    n_hidden = hs.shape[2]
    rows = slice(row0, row0 + n_rows)
    gate_width = d_gi.shape[1]
    for row in range(d_gi.shape[0]):
        for col in range(3 * n_hidden, gate_width):
            d_gi[row, col] = 0
            d_gh[row, col] = 0
    _gather_part_inputs(x, rows, x_part)
    _gather_part_previous(h0, hs, rows, reverse, previous)
    for step in range(steps):
        t = step if reverse else steps - 1 - step
        gates_t = gates[t, rows]
        grad_t = grad_hs[t, rows]
        for n in range(n_rows):
            row = t * n_rows + n
            for j in range(n_hidden):
                g = grad_t[n, j] + grad_h[n, j]
                u = gates_t[n, n_hidden + j]
                m = gates_t[n, 2 * n_hidden + j]
                d_gi[row, 2 * n_hidden + j] = g * (1.0 - u) * (1.0 - m * m)  # dm
                d_u = g * (previous[row, j] - m) * u * (1.0 - u)
                d_gi[row, n_hidden + j] = d_u
                d_gh[row, n_hidden + j] = d_u
                direct[n, j] = g * u
            for j in range(n_hidden):
                r = gates_t[n, j]
                d_m = d_gi[row, 2 * n_hidden + j]
                d_r = d_m * gates_t[n, 3 * n_hidden + j] * r * (1.0 - r)
                d_gi[row, j] = d_r
                d_gh[row, j] = d_r
                d_gh[row, 2 * n_hidden + j] = d_m * r
        _times_panels(d_gh[t * n_rows:(t + 1) * n_rows], w_hh_panels, grad_h)
        for n in range(n_rows):
            for j in range(n_hidden):
                grad_h[n, j] += direct[n, j]
    if need_grad_x:
        _times_panels(d_gi, w_ih_panels, grad_x_p)
    _times_columns(x_part.T, d_gi, grad_w_ih_t, False)  # (I, T·R) @ (T·R, Gp)
    _times_columns(previous.T, d_gh, grad_w_hh_t, False)  # (H, T·R) @ (T·R, Gp)
    for row in range(d_gi.shape[0]):  # sums over this part's T·R rows
        for col in range(gate_width):
            grad_b_ih[col] += d_gi[row, col]
            grad_b_hh[col] += d_gh[row, col]


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def _gru_sequence_backward_parts(x, h0, w_ih_panels, w_hh_panels, hs, gates, grad_hs, reverse, need_grad_x, x_part,
                                 d_gi, d_gh, grad_h, direct, previous, grad_x_p, grad_w_ih_t, grad_w_hh_t, grad_b_ih,
                                 grad_b_hh):
    """`_gru_sequence_backward_rows` for each part of the batch, the parts shared among the threads: every scratch
    and output has a leading parts axis (part p is rows p·R ..., R = direct.shape[1], the last maybe shorter)."""
    part_rows = direct.shape[1]
    n_batch = hs.shape[1]
    steps = hs.shape[0]
    for part in prange(direct.shape[0]):
        use_512_bit_vectors()  # the prange body is a function of its own, into which LLVM may inline the rows' code
        rows = min(part_rows, n_batch - part * part_rows)
        _gru_sequence_backward_rows(x, h0, w_ih_panels, w_hh_panels, hs, gates, grad_hs, reverse, need_grad_x,
                                    part * part_rows, x_part[part, :steps * rows], d_gi[part, :steps * rows],
                                    d_gh[part, :steps * rows], grad_h[part, :rows], direct[part, :rows],
                                    previous[part, :steps * rows], grad_x_p[part, :grad_x_p.shape[1] // part_rows * rows],
                                    grad_w_ih_t[part], grad_w_hh_t[part], grad_b_ih[part], grad_b_hh[part])


@njit(inline="always")
def _rnn_activate(pre, use_tanh):
    """tanh(pre), or relu(pre) written `pre <= 0`, so that a NaN passes (as torch.relu), in the data's precision."""
    if use_tanh:
        return tanh_in_precision(pre)
    return 0 if pre <= 0 else pre


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _rnn_sequence_forward_rows(x, h0, w_ih_panels, w_hh_panels, b_ih, b_hh, reverse, use_tanh, row0, x_part, zi, zh,
                               hs):
    """The forward of batch rows row0 ... row0 + R - 1 (R = zh.shape[0]) over all T steps, as the GRU's with one
    gate block: w_ih_panels (P, I, NR) and w_hh_panels (P, H, NR) the weights' H columns in panels; x_part
    (T·R, I), zi (T·R, P·NR) and zh (R, P·NR) this part's scratch; hs (T, N, H) out, rows row0 ... written:

        x_part = x[:, rows];  zi = x_part @ w_ih_panels                  (the input projection of all steps at once)
        for t in order:  zh = h_prev[rows] @ w_hh_panels;  h = act(zi + b_ih + zh + b_hh)
    """
    use_512_bit_vectors()  # for the activation pass beside the tiles
    steps = hs.shape[0]
    n_rows = zh.shape[0]
    n_hidden = hs.shape[2]
    rows = slice(row0, row0 + n_rows)
    _gather_part_inputs(x, rows, x_part)
    _times_panels(x_part, w_ih_panels, zi)
    for step in range(steps):
        t = steps - 1 - step if reverse else step
        h_prev = h0[rows] if step == 0 else hs[_previous_index(t, reverse), rows]
        _times_panels(h_prev, w_hh_panels, zh)
        h_t = hs[t, rows]
        for n in range(n_rows):
            row = t * n_rows + n
            for j in range(n_hidden):
                h_t[n, j] = _rnn_activate(zi[row, j] + b_ih[j] + zh[n, j] + b_hh[j], use_tanh)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def _rnn_sequence_forward_parts(x, h0, w_ih_panels, w_hh_panels, b_ih, b_hh, reverse, use_tanh, x_part, zi, zh, hs):
    """`_rnn_sequence_forward_rows` for each part of the batch (see `_batch_parts`), the parts shared among the
    threads: x_part, zi and zh have a leading parts axis; part p is rows p·R ... (the last may be shorter)."""
    part_rows = zh.shape[1]
    n_batch = hs.shape[1]
    steps = hs.shape[0]
    for part in prange(zh.shape[0]):
        use_512_bit_vectors()  # the prange body is a function of its own, into which LLVM may inline the rows' code
        rows = min(part_rows, n_batch - part * part_rows)
        _rnn_sequence_forward_rows(x, h0, w_ih_panels, w_hh_panels, b_ih, b_hh, reverse, use_tanh, part * part_rows,
                                   x_part[part, :steps * rows], zi[part, :steps * rows], zh[part, :rows], hs)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _rnn_sequence_backward_rows(x, h0, w_ih_panels, w_hh_panels, hs, grad_hs, reverse, use_tanh, need_grad_x, row0,
                                x_part, dz, grad_h, previous, grad_x_p, grad_w_ih_t, grad_w_hh_t, grad_bias):
    """The backward of batch rows row0 ... row0 + R - 1 (R = grad_h.shape[0]). w_ih_panels (Pi, Hp, NR),
    w_hh_panels (Ph, Hp, NR) the weights (H, I), (H, H) cut into panels of NR columns, zero-padded to Hp padded
    rows; x_part (T·R, I), dz (T·R, Hp) and previous (T·R, H) this part's scratch; grad_h (R, Ph·NR) the gradient
    carried back, zero on entry and this part's grad_h0 on exit; grad_x_p (T·R, Pi·NR) (no rows without
    need_grad_x), grad_w_ih_t (I, Hp), grad_w_hh_t (H, Hp), grad_bias (Hp,) this part's sums, out:

        for t newest first:
            dz[t·R + n, j] = act'(grad_hs[t] + grad_h)   (tanh: g (1 - h²); relu: g where h > 0)
            grad_h = dz[t·R : t·R + R] @ w_hh_panels
        grad_x_p = dz @ w_ih_panels (if need_grad_x);  grad_w_ih_t = x_partᵀ @ dz;  grad_w_hh_t = H_prevᵀ @ dz;
        grad_bias = Σ_rows dz
    """
    use_512_bit_vectors()  # for the activation-gradient pass beside the tiles
    steps = hs.shape[0]
    n_rows = grad_h.shape[0]
    n_hidden = hs.shape[2]
    rows = slice(row0, row0 + n_rows)
    width = dz.shape[1]
    for row in range(dz.shape[0]):  # the padding columns multiply the zero rows of the panels: keep them finite
        for col in range(n_hidden, width):
            dz[row, col] = 0
    _gather_part_inputs(x, rows, x_part)
    _gather_part_previous(h0, hs, rows, reverse, previous)
    for step in range(steps):
        t = step if reverse else steps - 1 - step
        h_t = hs[t, rows]
        grad_t = grad_hs[t, rows]
        for n in range(n_rows):
            row = t * n_rows + n
            for j in range(n_hidden):
                g = grad_t[n, j] + grad_h[n, j]
                h = h_t[n, j]
                if use_tanh:
                    dz[row, j] = g * (1.0 - h * h)
                else:
                    dz[row, j] = 0 if h <= 0 else g
        _times_panels(dz[t * n_rows:(t + 1) * n_rows], w_hh_panels, grad_h)
    if need_grad_x:
        _times_panels(dz, w_ih_panels, grad_x_p)
    _times_columns(x_part.T, dz, grad_w_ih_t, False)  # (I, T·R) @ (T·R, Hp)
    _times_columns(previous.T, dz, grad_w_hh_t, False)  # (H, T·R) @ (T·R, Hp)
    for row in range(dz.shape[0]):  # sums over this part's T·R rows
        for col in range(width):
            grad_bias[col] += dz[row, col]


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def _rnn_sequence_backward_parts(x, h0, w_ih_panels, w_hh_panels, hs, grad_hs, reverse, use_tanh, need_grad_x,
                                 x_part, dz, grad_h, previous, grad_x_p, grad_w_ih_t, grad_w_hh_t, grad_bias):
    """`_rnn_sequence_backward_rows` for each part of the batch, the parts shared among the threads: every scratch
    and output has a leading parts axis (part p is rows p·R ..., R = grad_h.shape[1], the last maybe shorter)."""
    part_rows = grad_h.shape[1]
    n_batch = hs.shape[1]
    steps = hs.shape[0]
    for part in prange(grad_h.shape[0]):
        use_512_bit_vectors()  # the prange body is a function of its own, into which LLVM may inline the rows' code
        rows = min(part_rows, n_batch - part * part_rows)
        _rnn_sequence_backward_rows(x, h0, w_ih_panels, w_hh_panels, hs, grad_hs, reverse, use_tanh, need_grad_x,
                                    part * part_rows, x_part[part, :steps * rows], dz[part, :steps * rows],
                                    grad_h[part, :rows], previous[part, :steps * rows],
                                    grad_x_p[part, :grad_x_p.shape[1] // part_rows * rows], grad_w_ih_t[part],
                                    grad_w_hh_t[part], grad_bias[part])


@njit(cache=True)
def _fill_panels(matrix, transposed, panels):
    """panels[p, r, j] = M[r, p·NR + j] (0 outside M), M = matrix.T if transposed else matrix: one pass, in place."""
    n_panels, n_rows, width = panels.shape
    source_rows = matrix.shape[1] if transposed else matrix.shape[0]
    source_cols = matrix.shape[0] if transposed else matrix.shape[1]
    for p in range(n_panels):
        for r in range(n_rows):
            for j in range(width):
                col = p * width + j
                inside = r < source_rows and col < source_cols
                value = (matrix[col, r] if transposed else matrix[r, col]) if inside else 0
                panels[p, r, j] = value


def _column_panels(matrix, rows, dtype, transposed=False):
    """(P, rows, NR): M = matrix.T if transposed else matrix (R ≤ rows, C) cut into P = ⌈C / NR⌉ panels of NR
    columns, panel p = M[:, p·NR : (p+1)·NR], each one contiguous block, zero past row R and column C. The operand
    layout of `_tile_8_rows` for a weight that every step reads: packed once per call, not once per step, in one
    compiled pass (NumPy's zero fill, copy and transposing copy took several times as long, a few % of an
    nn.LSTM step)."""
    matrix = np.ascontiguousarray(matrix, dtype=dtype)
    n_cols = matrix.shape[0] if transposed else matrix.shape[1]
    panels = np.empty((padded_to_panels(n_cols) // NR, rows, NR), dtype=dtype)
    _fill_panels(matrix, transposed, panels)
    return panels


# The sequence kernels cut the batch into parts that each run the whole sequence on one thread: one launch per
# call, where a prange inside the step loop launched the threads once per step or more and paid only for steps of
# 2^23 multiply-adds and up (docs/perf.md, Kernel notes).
# A part has at least PART_MIN_ROWS rows, two 8-row tiles, so that every weight panel a step brings from L2 serves
# two tiles; there are at most MAX_PARTS parts. The cut depends on N alone, never on the thread count: the weight
# gradients are summed part by part, and a result must not change when the engine changes its thread count
# (tinygrad_edu/threads.py).
PART_MIN_ROWS = 16
MAX_PARTS = 8


def _batch_parts(n_batch):
    """(parts, rows per part): one part of all N rows, or parts of a multiple of SEQUENCE_ROWS rows, the last
    holding what is left."""
    parts = min(MAX_PARTS, n_batch // PART_MIN_ROWS)
    if parts <= 1:
        return 1, n_batch
    part_rows = _row_blocks(-(-n_batch // parts)) * SEQUENCE_ROWS
    return -(-n_batch // part_rows), part_rows


def _lstm_sequence_arguments(kernel, x, h0, c0, w_ih, w_hh, extras=()):
    n_hidden = h0.shape[1] if isinstance(h0, np.ndarray) and h0.ndim == 2 else -1
    shape = h0.shape if isinstance(h0, np.ndarray) else None
    check_sequence_inputs(kernel, x, h0, w_ih, w_hh, [("c0", c0, shape)] + list(extras), gates=4)
    if c0 is None:
        raise TypeError(f"{kernel}: c0 must be a numpy.ndarray, got NoneType")
    return n_hidden


def lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """-> (states (2, T, N, H) = [hs ; cs], gates (T, N, 4H)). See the reference."""
    n_hidden = h0.shape[1] if isinstance(h0, np.ndarray) and h0.ndim == 2 else -1
    _lstm_sequence_arguments("lstm_sequence_forward", x, h0, c0, w_ih, w_hh,
                             [("b_ih", b_ih, (4 * n_hidden,)), ("b_hh", b_hh, (4 * n_hidden,))])
    steps, n_batch, n_in = x.shape
    dtype = x.dtype
    states = np.empty((2, steps, n_batch, n_hidden), dtype=dtype)
    gates = np.empty((steps, n_batch, 4 * n_hidden), dtype=dtype)
    if states.size == 0:
        return states, gates
    weights = np.concatenate([w_ih, w_hh], axis=1)  # (4H, I+H) = [W_ih | W_hh]; its panels are of the transpose
    bias = (bias_or_zeros(b_ih, 4 * n_hidden, dtype) + bias_or_zeros(b_hh, 4 * n_hidden, dtype)).astype(
        dtype, copy=False)  # b_ih + b_hh: one add per gate value in the step loop instead of two
    parts, part_rows = _batch_parts(n_batch)
    inputs = np.empty((parts, part_rows, n_in + n_hidden), dtype=dtype)
    z = np.empty((parts, part_rows, padded_to_panels(4 * n_hidden)), dtype=dtype)
    arguments = (np.ascontiguousarray(x), np.ascontiguousarray(h0), np.ascontiguousarray(c0),
                 _column_panels(weights, n_in + n_hidden, dtype, transposed=True), bias, bool(reverse))
    if parts == 1:
        _lstm_sequence_forward_rows(*arguments, 0, inputs[0], z[0], states, gates)
    else:
        _lstm_sequence_forward_parts(*arguments, inputs, z, states, gates)
    return states, gates


def lstm_sequence_backward(x, h0, c0, w_ih, w_hh, states, gates, grad_states, reverse=False, need_grad_x=True):
    """-> (grad_x (T, N, I) or None, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_bias). See the reference."""
    shape = h0.shape if isinstance(h0, np.ndarray) else None
    steps = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 3 else -1
    state_shape = (2, steps) + shape if shape is not None else None
    gates_shape = (steps, shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    n_hidden = _lstm_sequence_arguments("lstm_sequence_backward", x, h0, c0, w_ih, w_hh,
                                        [("states", states, state_shape), ("gates", gates, gates_shape),
                                         ("grad_states", grad_states, state_shape)])
    steps, n_batch, n_in = x.shape
    dtype = x.dtype
    gate_width = padded_to_panels(4 * n_hidden)
    gate_rows = 4 * n_hidden
    if not (steps * n_batch and n_hidden):
        return (np.zeros((steps, n_batch, n_in), dtype=dtype) if need_grad_x else None,
                np.zeros((n_batch, n_hidden), dtype=dtype), np.zeros((n_batch, n_hidden), dtype=dtype),
                np.zeros((gate_rows, n_in), dtype=dtype), np.zeros((gate_rows, n_hidden), dtype=dtype),
                np.zeros(gate_rows, dtype=dtype))
    parts, part_rows = _batch_parts(n_batch)
    chunk_rows = min(steps, max(1, CHUNK_ROWS // part_rows)) * part_rows  # S·R: whole steps, about CHUNK_ROWS rows
    # each part's gradients: the carried h and c (its grad_h0, grad_c0 at the end), grad_x, the weights' and bias'
    grad_h = np.zeros((parts, part_rows, padded_to_panels(n_hidden)), dtype=dtype)
    grad_c = np.zeros((parts, part_rows, n_hidden), dtype=dtype)
    grad_x = np.zeros((parts, steps * part_rows if need_grad_x else 0, padded_to_panels(n_in)), dtype=dtype)
    grad_weights_t = np.zeros((parts, n_in + n_hidden, gate_width), dtype=dtype)  # [grad_w_ih | grad_w_hh]ᵀ
    grad_bias = np.zeros((parts, gate_width), dtype=dtype)
    contiguous = np.ascontiguousarray
    arguments = (contiguous(x), contiguous(h0), contiguous(c0), _column_panels(w_ih, gate_width, dtype),
                 _column_panels(w_hh, gate_width, dtype), contiguous(states), contiguous(gates),
                 contiguous(grad_states), bool(reverse), bool(need_grad_x))
    dz = np.empty((parts, chunk_rows, gate_width), dtype=dtype)
    inputs = np.empty((parts, chunk_rows, n_in + n_hidden), dtype=dtype)
    if parts == 1:
        _lstm_sequence_backward_rows(*arguments, 0, dz[0], inputs[0], grad_h[0], grad_c[0], grad_x[0],
                                     grad_weights_t[0], grad_bias[0])
    else:
        _lstm_sequence_backward_parts(*arguments, dz, inputs, grad_h, grad_c, grad_x, grad_weights_t, grad_bias)
    weights_t = _sum_of_parts(grad_weights_t)
    return (_rows_of_parts(grad_x, steps, n_batch, part_rows, n_in) if need_grad_x else None,
            np.ascontiguousarray(grad_h.reshape(-1, grad_h.shape[2])[:n_batch, :n_hidden]),
            np.ascontiguousarray(grad_c.reshape(-1, n_hidden)[:n_batch]),
            np.ascontiguousarray(weights_t[:n_in, :gate_rows].T),
            np.ascontiguousarray(weights_t[n_in:, :gate_rows].T), _sum_of_parts(grad_bias)[:gate_rows].copy())


def gru_sequence_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """-> (hs (T, N, H), gates (T, N, 4H) = [r | z | n | W_hn h + b_hn]). See the reference."""
    n_hidden = h0.shape[1] if isinstance(h0, np.ndarray) and h0.ndim == 2 else -1
    check_sequence_inputs("gru_sequence_forward", x, h0, w_ih, w_hh,
                          [("b_ih", b_ih, (3 * n_hidden,)), ("b_hh", b_hh, (3 * n_hidden,))], gates=3)
    steps, n_batch, n_in = x.shape
    dtype = x.dtype
    hs = np.empty((steps, n_batch, n_hidden), dtype=dtype)
    gates = np.empty((steps, n_batch, 4 * n_hidden), dtype=dtype)
    if hs.size == 0:
        return hs, gates
    gate_width = padded_to_panels(3 * n_hidden)
    parts, part_rows = _batch_parts(n_batch)
    x_part = np.empty((parts, steps * part_rows, n_in), dtype=dtype)
    gi = np.empty((parts, steps * part_rows, gate_width), dtype=dtype)
    zh = np.empty((parts, part_rows, gate_width), dtype=dtype)
    arguments = (np.ascontiguousarray(x), np.ascontiguousarray(h0), _column_panels(w_ih, n_in, dtype, transposed=True),
                 _column_panels(w_hh, n_hidden, dtype, transposed=True), bias_or_zeros(b_ih, 3 * n_hidden, dtype),
                 bias_or_zeros(b_hh, 3 * n_hidden, dtype), bool(reverse))
    if parts == 1:
        _gru_sequence_forward_rows(*arguments, 0, x_part[0], gi[0], zh[0], hs, gates)
    else:
        _gru_sequence_forward_parts(*arguments, x_part, gi, zh, hs, gates)
    return hs, gates


def gru_sequence_backward(x, h0, w_ih, w_hh, hs, gates, grad_hs, reverse=False, need_grad_x=True):
    """-> (grad_x (T, N, I) or None, grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh). See the reference."""
    shape = h0.shape if isinstance(h0, np.ndarray) else None
    steps = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 3 else -1
    hs_shape = (steps,) + shape if shape is not None else None
    gates_shape = (steps, shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_sequence_inputs("gru_sequence_backward", x, h0, w_ih, w_hh,
                          [("hs", hs, hs_shape), ("gates", gates, gates_shape), ("grad_hs", grad_hs, hs_shape)],
                          gates=3)
    steps, n_batch, n_in = x.shape
    n_hidden = h0.shape[1]
    dtype = x.dtype
    gate_rows = 3 * n_hidden
    if not (steps * n_batch and n_hidden):
        return (np.zeros((steps, n_batch, n_in), dtype=dtype) if need_grad_x else None,
                np.zeros((n_batch, n_hidden), dtype=dtype), np.zeros((gate_rows, n_in), dtype=dtype),
                np.zeros((gate_rows, n_hidden), dtype=dtype), np.zeros(gate_rows, dtype=dtype),
                np.zeros(gate_rows, dtype=dtype))
    gate_width = padded_to_panels(gate_rows)
    parts, part_rows = _batch_parts(n_batch)
    rows = steps * part_rows
    # each part's gradients: the carried h (its grad_h0 at the end), grad_x, the weights' and biases' sums
    grad_h = np.zeros((parts, part_rows, padded_to_panels(n_hidden)), dtype=dtype)
    grad_x = np.zeros((parts, rows if need_grad_x else 0, padded_to_panels(n_in)), dtype=dtype)
    grad_w_ih_t = np.zeros((parts, n_in, gate_width), dtype=dtype)
    grad_w_hh_t = np.zeros((parts, n_hidden, gate_width), dtype=dtype)
    grad_b_ih = np.zeros((parts, gate_width), dtype=dtype)
    grad_b_hh = np.zeros((parts, gate_width), dtype=dtype)
    contiguous = np.ascontiguousarray
    arguments = (contiguous(x), contiguous(h0), _column_panels(w_ih, gate_width, dtype),
                 _column_panels(w_hh, gate_width, dtype), contiguous(hs), contiguous(gates), contiguous(grad_hs),
                 bool(reverse), bool(need_grad_x))
    scratch = (np.empty((parts, rows, n_in), dtype=dtype), np.empty((parts, rows, gate_width), dtype=dtype),
               np.empty((parts, rows, gate_width), dtype=dtype))  # x_part, d_gi, d_gh
    direct = np.empty((parts, part_rows, n_hidden), dtype=dtype)
    previous = np.empty((parts, rows, n_hidden), dtype=dtype)
    sums = (grad_x, grad_w_ih_t, grad_w_hh_t, grad_b_ih, grad_b_hh)
    if parts == 1:
        _gru_sequence_backward_rows(*arguments, 0, *(a[0] for a in scratch), grad_h[0], direct[0], previous[0],
                                    *(a[0] for a in sums))
    else:
        _gru_sequence_backward_parts(*arguments, *scratch, grad_h, direct, previous, *sums)
    if need_grad_x:
        grad_x = _rows_of_parts(grad_x, steps, n_batch, part_rows, n_in)
    return (grad_x if need_grad_x else None,
            np.ascontiguousarray(grad_h.reshape(-1, grad_h.shape[2])[:n_batch, :n_hidden]),
            np.ascontiguousarray(_sum_of_parts(grad_w_ih_t)[:, :gate_rows].T),
            np.ascontiguousarray(_sum_of_parts(grad_w_hh_t)[:, :gate_rows].T),
            _sum_of_parts(grad_b_ih)[:gate_rows].copy(), _sum_of_parts(grad_b_hh)[:gate_rows].copy())


def rnn_sequence_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, nonlinearity="tanh"):
    """-> hs (T, N, H). See the reference."""
    n_hidden = h0.shape[1] if isinstance(h0, np.ndarray) and h0.ndim == 2 else -1
    check_sequence_inputs("rnn_sequence_forward", x, h0, w_ih, w_hh,
                          [("b_ih", b_ih, (n_hidden,)), ("b_hh", b_hh, (n_hidden,))])
    check_nonlinearity("rnn_sequence_forward", nonlinearity)
    steps, n_batch, n_in = x.shape
    dtype = x.dtype
    hs = np.empty((steps, n_batch, n_hidden), dtype=dtype)
    if hs.size == 0:
        return hs
    width = padded_to_panels(n_hidden)
    parts, part_rows = _batch_parts(n_batch)
    x_part = np.empty((parts, steps * part_rows, n_in), dtype=dtype)
    zi = np.empty((parts, steps * part_rows, width), dtype=dtype)
    zh = np.empty((parts, part_rows, width), dtype=dtype)
    arguments = (np.ascontiguousarray(x), np.ascontiguousarray(h0), _column_panels(w_ih, n_in, dtype, transposed=True),
                 _column_panels(w_hh, n_hidden, dtype, transposed=True), bias_or_zeros(b_ih, n_hidden, dtype),
                 bias_or_zeros(b_hh, n_hidden, dtype), bool(reverse), nonlinearity == "tanh")
    if parts == 1:
        _rnn_sequence_forward_rows(*arguments, 0, x_part[0], zi[0], zh[0], hs)
    else:
        _rnn_sequence_forward_parts(*arguments, x_part, zi, zh, hs)
    return hs


def rnn_sequence_backward(x, h0, w_ih, w_hh, hs, grad_hs, reverse=False, need_grad_x=True, nonlinearity="tanh"):
    """-> (grad_x (T, N, I) or None, grad_h0, grad_w_ih, grad_w_hh, grad_bias). See the reference."""
    check_rnn_sequence_backward_inputs("rnn_sequence_backward", x, h0, w_ih, w_hh, hs, grad_hs, nonlinearity)
    steps, n_batch, n_in = x.shape
    n_hidden = h0.shape[1]
    dtype = x.dtype
    if not (steps * n_batch and n_hidden):
        return (np.zeros((steps, n_batch, n_in), dtype=dtype) if need_grad_x else None,
                np.zeros((n_batch, n_hidden), dtype=dtype), np.zeros((n_hidden, n_in), dtype=dtype),
                np.zeros((n_hidden, n_hidden), dtype=dtype), np.zeros(n_hidden, dtype=dtype))
    width = padded_to_panels(n_hidden)
    parts, part_rows = _batch_parts(n_batch)
    rows = steps * part_rows
    # each part's gradients: the carried h (its grad_h0 at the end), grad_x, the weights' and bias' sums
    grad_h = np.zeros((parts, part_rows, width), dtype=dtype)
    grad_x = np.zeros((parts, rows if need_grad_x else 0, padded_to_panels(n_in)), dtype=dtype)
    grad_w_ih_t = np.zeros((parts, n_in, width), dtype=dtype)
    grad_w_hh_t = np.zeros((parts, n_hidden, width), dtype=dtype)
    grad_bias = np.zeros((parts, width), dtype=dtype)
    contiguous = np.ascontiguousarray
    arguments = (contiguous(x), contiguous(h0), _column_panels(w_ih, width, dtype), _column_panels(w_hh, width, dtype),
                 contiguous(hs), contiguous(grad_hs), bool(reverse), nonlinearity == "tanh", bool(need_grad_x))
    scratch = (np.empty((parts, rows, n_in), dtype=dtype), np.empty((parts, rows, width), dtype=dtype))  # x_part, dz
    previous = np.empty((parts, rows, n_hidden), dtype=dtype)
    sums = (grad_x, grad_w_ih_t, grad_w_hh_t, grad_bias)
    if parts == 1:
        _rnn_sequence_backward_rows(*arguments, 0, *(a[0] for a in scratch), grad_h[0], previous[0],
                                    *(a[0] for a in sums))
    else:
        _rnn_sequence_backward_parts(*arguments, *scratch, grad_h, previous, *sums)
    return (_rows_of_parts(grad_x, steps, n_batch, part_rows, n_in) if need_grad_x else None,
            np.ascontiguousarray(grad_h.reshape(-1, width)[:n_batch, :n_hidden]),
            np.ascontiguousarray(_sum_of_parts(grad_w_ih_t)[:, :n_hidden].T),
            np.ascontiguousarray(_sum_of_parts(grad_w_hh_t)[:, :n_hidden].T),
            _sum_of_parts(grad_bias)[:n_hidden].copy())


def _sum_of_parts(per_part):
    """The parts' sums (parts, ...) added in part order (a fixed order: the same bits for any thread count)."""
    return per_part.sum(axis=0) if per_part.shape[0] > 1 else per_part[0]


def _rows_of_parts(per_part, steps, n_batch, part_rows, width):
    """(T, N, width) from each part's (t, r) rows (parts, T·R, ≥ width): part p holds rows p·R ... of every step."""
    joined = np.empty((steps, n_batch, width), dtype=per_part.dtype)
    for part in range(per_part.shape[0]):
        row0 = part * part_rows
        rows = min(part_rows, n_batch - row0)
        joined[:, row0:row0 + rows] = per_part[part, :steps * rows].reshape(steps, rows, -1)[:, :, :width]
    return joined
