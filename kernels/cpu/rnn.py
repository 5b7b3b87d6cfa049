"""The recurrent cells as Numba kernels: one step of tanh RNN, LSTM and GRU. The whole LSTM / GRU sequences of
the same family are in kernels/cpu/rnn_sequences.py (exported from here too), the activations and the [x | h]
packing both use in kernels/cpu/recurrent_common.py. Each step's forward is the two small matmuls (x W_ihᵀ and
h W_hhᵀ) as one register-tiled GEMM of [x | h] against the stacked weights, then bias and activations in
vectorised passes; each backward is the gate pass, then two register-tiled GEMMs.

Same interface as kernels/reference/rnn.py (read that first: it is the math). Shapes for the tanh cell: x (N, I),
h (N, H), w_ih (H, I), w_hh (H, H), b_ih / b_hh (H,) or None; the gated cells stack G = 4 (LSTM) or 3 (GRU) gate
blocks of H rows in the weights. NUMBA_DISABLE_JIT=1 runs every kernel here as plain Python, to step through.

Why they are fast: the benchmark shapes are tiny (the tanh cell at N = 64, I = 2, H = 64: 270k multiply-adds
forward; the LSTM at N = 32, I = 16, H = 64: 655k), so what matters is a GEMM that runs near the FMA peak
without set-up (`kernels.cpu.register_tiles.tile_product`: no packing, no threads, a few µs for the tanh cell's product),
a tanh and a σ that vectorise (`tanh_vectorizable`, `sigmoid_vectorizable` in recurrent_common.py: no libm
call; and `error_model="numpy"`, see the forward kernel), and no BLAS calls (each costs a few µs of set-up, and
risks the stall of an OpenBLAS call right after a `prange` loop, whose threads wait for cores Numba's OpenMP
workers still spin on). The scratch arrays (packed operands, the padded product) are allocated by the wrappers:
np.empty of a few KiB costs a fraction of a µs.
"""
import numpy as np
from numba import njit, prange

from kernels.cpu.register_tiles import NR, ROWS, tile_product
from kernels.cpu.recurrent_common import (bias_or_zeros, pack_side_by_side, padded_to_panels, sigmoid_vectorizable,
                                          tanh_vectorizable)
from kernels.cpu.rnn_sequences import (  # noqa: F401 -- the sequence kernels of this family (kernels/interface.py)
    gru_sequence_backward, gru_sequence_forward, lstm_sequence_backward, lstm_sequence_forward, rnn_sequence_backward,
    rnn_sequence_forward)
from kernels.cpu.softmax import FASTMATH
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.rnn import check_rnn_inputs

# Work = N·H·(I + H) multiply-adds of the forward. Below it the wrappers call the serial variant (see
# kernels/cpu/variants.py): up to about a million multiply-adds two threads save little, and under load a parallel
# call can stall for milliseconds (the OpenMP barrier), so work of tens of µs stays serial: the toy RNN (N=64,
# H=64) never launches threads. Timings: docs/perf.md, "Kernel notes".
SERIAL_MAX_WORK = 1 << 20


@njit(inline="always")
def _tile_count(n_rows, n_cols):
    """(row blocks, column panels) of an (n_rows, n_cols) product cut into ROWS x NR tiles."""
    return (n_rows + ROWS - 1) // ROWS, (n_cols + NR - 1) // NR


def _rnn_tanh_forward_body(x, h, w_ih, w_hh, b_ih, b_hh, inputs, weights_t, z, h_new):
    """inputs (N, I+H) = [x | h];  weights_t (I+H, Hp) = [W_ih | W_hh]ᵀ, zero past column H;  z (N, Hp) scratch

        pack inputs and weights_t                              (≈5k copies: the weights transposed once)
        for n0 in prange(row blocks), j0 in column panels:     # one ROWS x NR register tile each
            z[n0:n0+4, j0:j0+NR] = inputs[n0:n0+4] @ weights_t[:, j0:j0+NR]
        for n in prange(N):  h_new[n, :] = tanh(z[n, :H] + b_ih + b_hh)

    Why it is fast: the two small GEMMs are one GEMM over K = I + H, computed in register tiles
    (`kernels.cpu.register_tiles.tile_product`), and bias + tanh run as one vectorised pass (`tanh_vectorizable`;
    it vectorises only because the kernels use error_model="numpy": Python's error model puts a
    ZeroDivisionError check on every float division, which would keep the loop scalar). Accumulating in
    registers matters: an axpy per input column into the output row in memory, then a scalar tanh, is
    several times slower, slower even than NumPy calling BLAS.
    """
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    for n in range(n_batch):
        for i in range(n_in):
            inputs[n, i] = x[n, i]
        for k in range(n_hidden):
            inputs[n, n_in + k] = h[n, k]
    for k in range(n_in + n_hidden):
        for j in range(weights_t.shape[1]):
            weights_t[k, j] = 0
    for j in range(n_hidden):
        for i in range(n_in):
            weights_t[i, j] = w_ih[j, i]
        for k in range(n_hidden):
            weights_t[n_in + k, j] = w_hh[j, k]
    row_blocks, panels = _tile_count(n_batch, n_hidden)
    for block in prange(row_blocks):
        for panel in range(panels):  # nested, not one task index split by // and %: the divisions ran slower
            tile_product(inputs, weights_t, z, block * ROWS, panel * NR)
    for n in prange(n_batch):
        for j in range(n_hidden):
            h_new[n, j] = tanh_vectorizable(np.float64(z[n, j]) + b_ih[j] + b_hh[j])


_rnn_tanh_forward_serial, _rnn_tanh_forward_parallel = serial_and_parallel(
    _rnn_tanh_forward_body, fastmath=FASTMATH, error_model="numpy")


def _rnn_tanh_backward_body(x, h, w_ih, w_hh, h_new, grad_h_new, grad_x, grad_h, grad_w_ih, grad_w_hh,
                            grad_bias, dz, dz_t, weights, inputs, grad_inputs, grad_weights):
    """Two register-tiled GEMMs (as the forward), with P = I + H and Pp = P rounded up to NR:

        dz = g·(1 - h_new²) (N, H), dz_t its transpose (H, N);  grad_bias = Σ_n dz
        weights (H, Pp) = [W_ih | W_hh],  inputs (N, Pp) = [x | h], both zero past column P
        grad_inputs  (N, Pp) = dz   @ weights     -> [grad_x | grad_h]        # prange over row blocks
        grad_weights (H, Pp) = dz_t @ inputs      -> [grad_w_ih | grad_w_hh]  # prange over row blocks
    The split copies and packs are O(N·P + H·P); the GEMMs are O(N·H·P) in registers.
    """
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    width = n_in + n_hidden
    for j in range(n_hidden):
        grad_bias[j] = 0
    for n in range(n_batch):
        for j in range(n_hidden):
            d = grad_h_new[n, j] * (1.0 - h_new[n, j] * h_new[n, j])
            dz[n, j] = d
            grad_bias[j] += d
    # dz_t = dzᵀ in blocks of 16 rows of dz (4 KiB at H = 64, they stay in L1 while j sweeps): writing dz_t
    # column by column inside the loop above strides N values per write, which thrashes the cache (an order of
    # magnitude slower at N = 512)
    for n0 in range(0, n_batch, 16):
        for j in range(n_hidden):
            for n in range(n0, min(n0 + 16, n_batch)):
                dz_t[j, n] = dz[n, j]
    for j in range(n_hidden):
        for c in range(weights.shape[1]):
            weights[j, c] = 0
        for i in range(n_in):
            weights[j, i] = w_ih[j, i]
        for k in range(n_hidden):
            weights[j, n_in + k] = w_hh[j, k]
    for n in range(n_batch):
        for c in range(inputs.shape[1]):
            inputs[n, c] = 0
        for i in range(n_in):
            inputs[n, i] = x[n, i]
        for k in range(n_hidden):
            inputs[n, n_in + k] = h[n, k]
    input_blocks, panels = _tile_count(n_batch, width)
    for block in prange(input_blocks):
        for panel in range(panels):
            tile_product(dz, weights, grad_inputs, block * ROWS, panel * NR)
    weight_blocks, panels = _tile_count(n_hidden, width)
    for block in prange(weight_blocks):
        for panel in range(panels):
            tile_product(dz_t, inputs, grad_weights, block * ROWS, panel * NR)
    for n in range(n_batch):
        for i in range(n_in):
            grad_x[n, i] = grad_inputs[n, i]
        for k in range(n_hidden):
            grad_h[n, k] = grad_inputs[n, n_in + k]
    for j in range(n_hidden):
        for i in range(n_in):
            grad_w_ih[j, i] = grad_weights[j, i]
        for k in range(n_hidden):
            grad_w_hh[j, k] = grad_weights[j, n_in + k]


_rnn_tanh_backward_serial, _rnn_tanh_backward_parallel = serial_and_parallel(
    _rnn_tanh_backward_body, fastmath=FASTMATH, error_model="numpy")


def rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) -> (N, H)."""
    n_hidden = h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1
    check_rnn_inputs("rnn_tanh_cell_forward", x, h, w_ih, w_hh,
                     [("b_ih", b_ih, (n_hidden,)), ("b_hh", b_hh, (n_hidden,))])
    zeros = np.zeros(n_hidden, dtype=x.dtype)
    b_ih = zeros if b_ih is None else b_ih
    b_hh = zeros if b_hh is None else b_hh
    n_batch, n_in = x.shape
    dtype = x.dtype
    h_new = np.empty((n_batch, n_hidden), dtype=dtype)
    inputs = np.empty((n_batch, n_in + n_hidden), dtype=dtype)          # [x | h]
    weights_t = np.empty((n_in + n_hidden, padded_to_panels(n_hidden)), dtype=dtype)  # [W_ih | W_hh]ᵀ, padded
    z = np.empty((n_batch, padded_to_panels(n_hidden)), dtype=dtype)
    small = n_batch * n_hidden * (n_in + n_hidden) < SERIAL_MAX_WORK
    kernel = _rnn_tanh_forward_serial if small else _rnn_tanh_forward_parallel
    # C-contiguous operands: one compiled specialisation per dtype (a view, e.g. x[:, t] of a sequence, is
    # copied here for a fraction of a µs instead of compiling the kernel again for strided layouts)
    contiguous = np.ascontiguousarray
    kernel(contiguous(x), contiguous(h), contiguous(w_ih), contiguous(w_hh), contiguous(b_ih), contiguous(b_hh),
           inputs, weights_t, z, h_new)
    return h_new


def rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, grad_h_new):
    """-> (grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves both b_ih and b_hh."""
    shape = h.shape if isinstance(h, np.ndarray) else None
    check_rnn_inputs("rnn_tanh_cell_backward", x, h, w_ih, w_hh,
                     [("h_new", h_new, shape), ("grad_h_new", grad_h_new, shape)])
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    dtype = x.dtype
    width = padded_to_panels(n_in + n_hidden)
    grad_x = np.empty((n_batch, n_in), dtype=dtype)
    grad_h = np.empty((n_batch, n_hidden), dtype=dtype)
    grad_w_ih = np.empty((n_hidden, n_in), dtype=dtype)
    grad_w_hh = np.empty((n_hidden, n_hidden), dtype=dtype)
    grad_bias = np.empty(n_hidden, dtype=dtype)
    dz = np.empty((n_batch, n_hidden), dtype=dtype)
    dz_t = np.empty((n_hidden, n_batch), dtype=dtype)
    weights = np.empty((n_hidden, width), dtype=dtype)
    inputs = np.empty((n_batch, width), dtype=dtype)
    grad_inputs = np.empty((n_batch, width), dtype=dtype)
    grad_weights = np.empty((n_hidden, width), dtype=dtype)
    small = n_batch * n_hidden * (n_in + n_hidden) < SERIAL_MAX_WORK
    kernel = _rnn_tanh_backward_serial if small else _rnn_tanh_backward_parallel
    contiguous = np.ascontiguousarray  # one compiled specialisation per dtype, as in the forward
    kernel(contiguous(x), contiguous(h), contiguous(w_ih), contiguous(w_hh), contiguous(h_new),
           contiguous(grad_h_new), grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias,
           dz, dz_t, weights, inputs, grad_inputs, grad_weights)
    return grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias


# ----- the gated cells: LSTM and GRU ---------------------------------------------------------------------------
# Both are the tanh cell's plan with more columns: one register-tiled GEMM of [x | h] against the gate weights
# stacked side by side (4 blocks of H columns), then short vectorised passes of gate math per row; the backward
# is the same two GEMMs as the tanh cell's after an elementwise pass that gives the pre-activation gradients dz.
# At the benchmark shape the GEMM and the gate passes cost about the same, and the backward's dzᵀ GEMM is the
# slowest part (only N terms per output). Timings: docs/perf.md, "Kernel notes".
#
# Which weight block feeds which block of the product. LSTM: block b of [i f g o] is W_ih block b on x and
# W_hh block b on h. GRU: r and z likewise, but n needs W_in x and W_hn h apart (r multiplies the second only),
# so its product has a fourth block: block 2 = W_in x (zeros against h), block 3 = W_hn h (zeros against x).
# The zeros cost 1/3 more multiply-adds than two separate products, and buy one GEMM instead of two.
LSTM_X_BLOCKS = (0, 1, 2, 3)  # LSTM: W_ih block feeding product block b (-1: none)
LSTM_H_BLOCKS = (0, 1, 2, 3)  # LSTM: W_hh block feeding product block b
GRU_X_BLOCKS = (0, 1, 2, -1)  # GRU product blocks: [r | z | W_in x + b_in | W_hn h + b_hn]
GRU_H_BLOCKS = (0, 1, -1, 2)
GATE_BLOCKS = 4


@njit(inline="always", fastmath=FASTMATH)
def _activate_block(z, b_ih, b_hh, n, block, use_tanh, gates):
    """gates[n, block·H + j] = act(z[n, block·H + j] + b_ih + b_hh) for j < H; act = tanh or σ."""
    n_hidden = gates.shape[1] // GATE_BLOCKS
    start = block * n_hidden
    for j in range(start, start + n_hidden):
        a = np.float64(z[n, j]) + b_ih[j] + b_hh[j]
        gates[n, j] = tanh_vectorizable(a) if use_tanh else sigmoid_vectorizable(a)


@njit(inline="always")
def _copy_block(w, source, out, row0, col0, n_hidden):
    """out[row0:row0+H, col0:col0+w.shape[1]] = gate block `source` of w (its rows source·H ...), or zeros."""
    for j in range(n_hidden):
        if source >= 0:  # the branch sits outside the copy loop, which then vectorises
            for k in range(w.shape[1]):
                out[row0 + j, col0 + k] = w[source * n_hidden + j, k]
        else:
            for k in range(w.shape[1]):
                out[row0 + j, col0 + k] = 0


@njit(inline="always")
def _copy_block_transposed(w, source, out, row0, col0, n_hidden):
    """out[row0:row0+w.shape[1], col0:col0+H] = (gate block `source` of w)ᵀ, or zeros. Reads w down its columns
    and writes out along its rows (a sequential write stream: the faster order of the two, measured)."""
    for k in range(w.shape[1]):
        if source >= 0:
            for j in range(n_hidden):
                out[row0 + k, col0 + j] = w[source * n_hidden + j, k]
        else:
            for j in range(n_hidden):
                out[row0 + k, col0 + j] = 0


@njit(inline="always")
def _pack_gate_weights_t(w_ih, w_hh, x_blocks, h_blocks, out):
    """out (I+H, ≥ 4H) = the gate weights transposed: product block b = [W_ih block x_blocks[b] | W_hh block
    h_blocks[b]]ᵀ, zeros for -1 and past column 4H."""
    n_in = w_ih.shape[1]
    n_hidden = w_hh.shape[1]
    for k in range(n_in + n_hidden):
        for col in range(GATE_BLOCKS * n_hidden, out.shape[1]):
            out[k, col] = 0
    for b in range(GATE_BLOCKS):
        _copy_block_transposed(w_ih, x_blocks[b], out, 0, b * n_hidden, n_hidden)
        _copy_block_transposed(w_hh, h_blocks[b], out, n_in, b * n_hidden, n_hidden)


@njit(inline="always")
def _pack_gate_weights(w_ih, w_hh, x_blocks, h_blocks, out):
    """out (4H, ≥ I+H): row block b = [W_ih block x_blocks[b] | W_hh block h_blocks[b] | 0 ...] (row copies)."""
    n_in = w_ih.shape[1]
    n_hidden = w_hh.shape[1]
    for b in range(GATE_BLOCKS):
        _copy_block(w_ih, x_blocks[b], out, b * n_hidden, 0, n_hidden)
        _copy_block(w_hh, h_blocks[b], out, b * n_hidden, n_in, n_hidden)
    for row in range(GATE_BLOCKS * n_hidden):
        for col in range(n_in + n_hidden, out.shape[1]):
            out[row, col] = 0


@njit(inline="always")
def _unpack_gradients(grad_inputs, grad_weights, x_blocks, h_blocks, grad_x, grad_h, grad_w_ih, grad_w_hh):
    """Split [grad_x | grad_h] (N, ≥ I+H) and the block-stacked weight gradient (4H, ≥ I+H) back into the
    caller's arrays: product block b's columns :I go to W_ih block x_blocks[b], the next H to W_hh's."""
    n_in = grad_x.shape[1]
    n_hidden = grad_h.shape[1]
    for n in range(grad_x.shape[0]):
        for i in range(n_in):
            grad_x[n, i] = grad_inputs[n, i]
        for k in range(n_hidden):
            grad_h[n, k] = grad_inputs[n, n_in + k]
    for b in range(GATE_BLOCKS):
        for j in range(n_hidden):
            row = b * n_hidden + j
            target = x_blocks[b]
            if target >= 0:
                for i in range(n_in):
                    grad_w_ih[target * n_hidden + j, i] = grad_weights[row, i]
            target = h_blocks[b]
            if target >= 0:
                for k in range(n_hidden):
                    grad_w_hh[target * n_hidden + j, k] = grad_weights[row, n_in + k]


def _lstm_forward_body(x, h, c, w_ih, w_hh, b_ih, b_hh, inputs, weights_t, z, h_new, c_new, gates):
    """inputs (N, I+H) = [x | h];  weights_t (I+H, Gp) = [W_ih | W_hh]ᵀ, zero past column 4H;  z (N, Gp)

        pack inputs and weights_t                                  (the weights transposed once per call)
        for n0 in prange(row blocks), j0 in column panels:         # one ROWS x NR register tile each
            z[n0:n0+4, j0:j0+NR] = inputs[n0:n0+4] @ weights_t[:, j0:j0+NR]
        for n in prange(N), j in range(H):                         # vectorised along j: no libm calls
            i, f, o = σ(z[n, j·] + b_ih + b_hh), g = tanh(...)      (the four blocks of z's row n)
            c'[n, j] = f c[n, j] + i g;  h'[n, j] = o tanh(c'[n, j]);  gates[n, (i f g o)·H + j] = i, f, g, o
    """
    n_batch = x.shape[0]
    n_hidden = h.shape[1]
    pack_side_by_side(x, h, inputs)
    _pack_gate_weights_t(w_ih, w_hh, LSTM_X_BLOCKS, LSTM_H_BLOCKS, weights_t)
    row_blocks, panels = _tile_count(n_batch, GATE_BLOCKS * n_hidden)
    for block in prange(row_blocks):
        for panel in range(panels):
            tile_product(inputs, weights_t, z, block * ROWS, panel * NR)
    for n in prange(n_batch):
        # one loop per gate block: LLVM vectorises each of these, but not one loop writing all four (the fused
        # loop ran about four times slower)
        _activate_block(z, b_ih, b_hh, n, 0, False, gates)  # i
        _activate_block(z, b_ih, b_hh, n, 1, False, gates)  # f
        _activate_block(z, b_ih, b_hh, n, 2, True, gates)  # g
        _activate_block(z, b_ih, b_hh, n, 3, False, gates)  # o
        for j in range(n_hidden):
            c_new[n, j] = gates[n, n_hidden + j] * c[n, j] + gates[n, j] * gates[n, 2 * n_hidden + j]
        for j in range(n_hidden):
            h_new[n, j] = gates[n, 3 * n_hidden + j] * tanh_vectorizable(np.float64(c_new[n, j]))


_lstm_forward_serial, _lstm_forward_parallel = serial_and_parallel(
    _lstm_forward_body, fastmath=FASTMATH, error_model="numpy")


def _lstm_backward_body(x, h, c, w_ih, w_hh, c_new, gates, grad_h_new, grad_c_new, grad_x, grad_h, grad_c,
                        grad_w_ih, grad_w_hh, grad_bias, dz, weights, inputs, grad_inputs, grad_weights):
    """The gate pass, then the tanh cell's two register-tiled GEMMs with 4H gate columns (P = I + H, Pp padded):

        for n in prange(N), j:  t = tanh(c'), dc = g_c + g_h o (1 - t²), grad_c = dc f,
            dz[n, (i f g o)·H + j] = dc g i(1-i), dc c f(1-f), dc i (1-g²), g_h t o(1-o);    grad_bias = Σ_n dz
        weights (4H, Pp) = [W_ih | W_hh];  inputs (N, Pp) = [x | h]
        grad_inputs  (N, Pp)  = dz  @ weights     -> [grad_x | grad_h]        # prange over row blocks
        grad_weights (4H, Pp) = dzᵀ @ inputs      -> [grad_w_ih | grad_w_hh]  # prange over row blocks
    """
    n_batch = x.shape[0]
    n_hidden = h.shape[1]
    width = x.shape[1] + n_hidden
    for n in prange(n_batch):
        # short loops, each vectorised (one loop writing all of dz stayed scalar, as in the forward)
        for j in range(n_hidden):
            o = np.float64(gates[n, 3 * n_hidden + j])
            t = tanh_vectorizable(np.float64(c_new[n, j]))
            d_h = np.float64(grad_h_new[n, j])
            dz[n, 3 * n_hidden + j] = d_h * t * o * (1.0 - o)
            grad_c[n, j] = grad_c_new[n, j] + d_h * o * (1.0 - t * t)  # dc, all of c's gradient, for now
        for j in range(n_hidden):
            i = gates[n, j]
            dz[n, j] = grad_c[n, j] * gates[n, 2 * n_hidden + j] * i * (1.0 - i)
        for j in range(n_hidden):
            f = gates[n, n_hidden + j]
            dz[n, n_hidden + j] = grad_c[n, j] * c[n, j] * f * (1.0 - f)
        for j in range(n_hidden):
            g = gates[n, 2 * n_hidden + j]
            dz[n, 2 * n_hidden + j] = grad_c[n, j] * gates[n, j] * (1.0 - g * g)
        for j in range(n_hidden):
            grad_c[n, j] = grad_c[n, j] * gates[n, n_hidden + j]  # dc · f: the gradient of the previous c
    for j in range(GATE_BLOCKS * n_hidden):
        grad_bias[j] = 0
    for n in range(n_batch):  # serial: a sum over n
        for j in range(GATE_BLOCKS * n_hidden):
            grad_bias[j] += dz[n, j]
    _pack_gate_weights(w_ih, w_hh, LSTM_X_BLOCKS, LSTM_H_BLOCKS, weights)
    pack_side_by_side(x, h, inputs)
    input_blocks, panels = _tile_count(n_batch, width)
    for block in prange(input_blocks):
        for panel in range(panels):
            tile_product(dz, weights, grad_inputs, block * ROWS, panel * NR)
    dz_t = dz.T  # (4H, N), a strided view: the tile reads 4 neighbouring values of a row of dz per k (a copy
    # cost more than it saved, measured)
    weight_blocks, panels = _tile_count(GATE_BLOCKS * n_hidden, width)
    for block in prange(weight_blocks):
        for panel in range(panels):
            tile_product(dz_t, inputs, grad_weights, block * ROWS, panel * NR)
    _unpack_gradients(grad_inputs, grad_weights, LSTM_X_BLOCKS, LSTM_H_BLOCKS, grad_x, grad_h, grad_w_ih, grad_w_hh)


_lstm_backward_serial, _lstm_backward_parallel = serial_and_parallel(
    _lstm_backward_body, fastmath=FASTMATH, error_model="numpy")


def _gru_forward_body(x, h, w_ih, w_hh, b_ih, b_hh, inputs, weights_t, z, h_new, gates):
    """As the LSTM's forward, with the GRU's four product blocks [r | z | W_in x | W_hn h] (see GRU_X_BLOCKS):

        for n in prange(N), j in range(H):
            r = σ(z[n, j] + b_ir + b_hr);  u = σ(z[n, H+j] + b_iz + b_hz)        (u is the update gate z)
            a = z[n, 3H+j] + b_hn;  m = tanh(z[n, 2H+j] + b_in + r a)           (m is the candidate n)
            h'[n, j] = (1 - u) m + u h[n, j];  gates[n, (r z n gh_n)·H + j] = r, u, m, a
    """
    n_batch = x.shape[0]
    n_hidden = h.shape[1]
    pack_side_by_side(x, h, inputs)
    _pack_gate_weights_t(w_ih, w_hh, GRU_X_BLOCKS, GRU_H_BLOCKS, weights_t)
    row_blocks, panels = _tile_count(n_batch, GATE_BLOCKS * n_hidden)
    for block in prange(row_blocks):
        for panel in range(panels):
            tile_product(inputs, weights_t, z, block * ROWS, panel * NR)
    for n in prange(n_batch):
        _activate_block(z, b_ih, b_hh, n, 0, False, gates)  # r
        _activate_block(z, b_ih, b_hh, n, 1, False, gates)  # z (u here)
        for j in range(n_hidden):
            gates[n, 3 * n_hidden + j] = z[n, 3 * n_hidden + j] + b_hh[2 * n_hidden + j]  # a = W_hn h + b_hn
        for j in range(n_hidden):
            pre = np.float64(z[n, 2 * n_hidden + j]) + b_ih[2 * n_hidden + j] + gates[n, j] * gates[n, 3 * n_hidden + j]
            gates[n, 2 * n_hidden + j] = tanh_vectorizable(pre)  # the candidate n (m here)
        for j in range(n_hidden):
            u = gates[n, n_hidden + j]
            h_new[n, j] = (1.0 - u) * gates[n, 2 * n_hidden + j] + u * h[n, j]


_gru_forward_serial, _gru_forward_parallel = serial_and_parallel(
    _gru_forward_body, fastmath=FASTMATH, error_model="numpy")


def _gru_backward_body(x, h, w_ih, w_hh, gates, grad_h_new, grad_x, grad_h, grad_w_ih, grad_w_hh, grad_b_ih,
                       grad_b_hh, dz, weights, inputs, grad_inputs, grad_weights):
    """The gate pass gives dz (N, 4H) for the four product blocks, then the LSTM's two GEMMs and unpacking:

        for n, j:  dm = g (1-u)(1-m²);  dz[n, (r z nx nh)·H + j] = dm a r(1-r), g (h-m) u(1-u), dm, dm r
        grad_b_ih = Σ_n dz blocks (r, z, nx);  grad_b_hh = Σ_n dz blocks (r, z, nh)
        grad_inputs (N, Pp) = dz @ weights, plus g u on the h columns (h' = ... + u h);  grad_weights = dz_t @ inputs
    """
    n_batch = x.shape[0]
    n_in = x.shape[1]
    n_hidden = h.shape[1]
    width = n_in + n_hidden
    for n in prange(n_batch):
        for j in range(n_hidden):
            u = gates[n, n_hidden + j]
            m = gates[n, 2 * n_hidden + j]
            dz[n, 2 * n_hidden + j] = grad_h_new[n, j] * (1.0 - u) * (1.0 - m * m)  # dm
            dz[n, n_hidden + j] = grad_h_new[n, j] * (h[n, j] - m) * u * (1.0 - u)
        for j in range(n_hidden):
            r = gates[n, j]
            dz[n, j] = dz[n, 2 * n_hidden + j] * gates[n, 3 * n_hidden + j] * r * (1.0 - r)
            dz[n, 3 * n_hidden + j] = dz[n, 2 * n_hidden + j] * r
    for j in range(3 * n_hidden):
        grad_b_ih[j] = 0
        grad_b_hh[j] = 0
    for n in range(n_batch):  # serial: sums over n
        for j in range(3 * n_hidden):
            grad_b_ih[j] += dz[n, j]
        for j in range(2 * n_hidden):
            grad_b_hh[j] += dz[n, j]
        for j in range(n_hidden):
            grad_b_hh[2 * n_hidden + j] += dz[n, 3 * n_hidden + j]
    _pack_gate_weights(w_ih, w_hh, GRU_X_BLOCKS, GRU_H_BLOCKS, weights)
    pack_side_by_side(x, h, inputs)
    input_blocks, panels = _tile_count(n_batch, width)
    for block in prange(input_blocks):
        for panel in range(panels):
            tile_product(dz, weights, grad_inputs, block * ROWS, panel * NR)
    dz_t = dz.T  # (4H, N), a strided view: the tile reads 4 neighbouring values of a row of dz per k (a copy
    # cost more than it saved, measured)
    weight_blocks, panels = _tile_count(GATE_BLOCKS * n_hidden, width)
    for block in prange(weight_blocks):
        for panel in range(panels):
            tile_product(dz_t, inputs, grad_weights, block * ROWS, panel * NR)
    _unpack_gradients(grad_inputs, grad_weights, GRU_X_BLOCKS, GRU_H_BLOCKS, grad_x, grad_h, grad_w_ih, grad_w_hh)
    for n in range(n_batch):
        for k in range(n_hidden):
            grad_h[n, k] += grad_h_new[n, k] * gates[n, n_hidden + k]


_gru_backward_serial, _gru_backward_parallel = serial_and_parallel(
    _gru_backward_body, fastmath=FASTMATH, error_model="numpy")


def _gated_scratch(n_batch, n_in, n_hidden, dtype):
    """The forward's packed operands: inputs [x | h] (N, I+H), weights_t (I+H, Gp), z (N, Gp); Gp = 4H padded."""
    gate_width = padded_to_panels(GATE_BLOCKS * n_hidden)
    return (np.empty((n_batch, n_in + n_hidden), dtype=dtype), np.empty((n_in + n_hidden, gate_width), dtype=dtype),
            np.empty((n_batch, gate_width), dtype=dtype))


def _gated_backward_scratch(n_batch, n_in, n_hidden, dtype):
    """dz (N, 4H), weights (4H, Pp), inputs (N, Pp), grad_inputs (N, Pp), grad_weights (4H, Pp)."""
    gates, width = GATE_BLOCKS * n_hidden, padded_to_panels(n_in + n_hidden)
    return (np.empty((n_batch, gates), dtype=dtype),
            np.empty((gates, width), dtype=dtype), np.empty((n_batch, width), dtype=dtype),
            np.empty((n_batch, width), dtype=dtype), np.empty((gates, width), dtype=dtype))


def _is_small(n_batch, n_in, n_hidden):
    """Serial below SERIAL_MAX_WORK multiply-adds of the gate GEMM (the tanh cell's measured cut-over)."""
    return n_batch * GATE_BLOCKS * n_hidden * (n_in + n_hidden) < SERIAL_MAX_WORK


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """-> (h_new, c_new, gates): (N, H), (N, H) and the activated [i | f | g | o] (N, 4H). See the reference."""
    n_hidden = h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1
    shape = h.shape if isinstance(h, np.ndarray) else None
    check_rnn_inputs("lstm_cell_forward", x, h, w_ih, w_hh,
                     [("c", c, shape), ("b_ih", b_ih, (4 * n_hidden,)), ("b_hh", b_hh, (4 * n_hidden,))], gates=4)
    if c is None:
        raise TypeError("lstm_cell_forward: c must be a numpy.ndarray, got NoneType")
    n_batch, n_in = x.shape
    dtype = x.dtype
    h_new = np.empty((n_batch, n_hidden), dtype=dtype)
    c_new = np.empty((n_batch, n_hidden), dtype=dtype)
    gates = np.empty((n_batch, 4 * n_hidden), dtype=dtype)
    kernel = _lstm_forward_serial if _is_small(n_batch, n_in, n_hidden) else _lstm_forward_parallel
    contiguous = np.ascontiguousarray  # one compiled specialisation per dtype, as the tanh cell
    kernel(contiguous(x), contiguous(h), contiguous(c), contiguous(w_ih), contiguous(w_hh),
           bias_or_zeros(b_ih, 4 * n_hidden, dtype), bias_or_zeros(b_hh, 4 * n_hidden, dtype),
           *_gated_scratch(n_batch, n_in, n_hidden, dtype), h_new, c_new, gates)
    return h_new, c_new, gates


def lstm_cell_backward(x, h, c, w_ih, w_hh, c_new, gates, grad_h_new, grad_c_new):
    """-> (grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves both b_ih and b_hh."""
    shape = h.shape if isinstance(h, np.ndarray) else None
    gates_shape = (shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_rnn_inputs("lstm_cell_backward", x, h, w_ih, w_hh,
                     [("c", c, shape), ("c_new", c_new, shape), ("gates", gates, gates_shape),
                      ("grad_h_new", grad_h_new, shape), ("grad_c_new", grad_c_new, shape)], gates=4)
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    dtype = x.dtype
    grad_x = np.empty((n_batch, n_in), dtype=dtype)
    grad_h = np.empty((n_batch, n_hidden), dtype=dtype)
    grad_c = np.empty((n_batch, n_hidden), dtype=dtype)
    grad_w_ih = np.empty((4 * n_hidden, n_in), dtype=dtype)
    grad_w_hh = np.empty((4 * n_hidden, n_hidden), dtype=dtype)
    grad_bias = np.empty(4 * n_hidden, dtype=dtype)
    kernel = _lstm_backward_serial if _is_small(n_batch, n_in, n_hidden) else _lstm_backward_parallel
    contiguous = np.ascontiguousarray
    kernel(contiguous(x), contiguous(h), contiguous(c), contiguous(w_ih), contiguous(w_hh), contiguous(c_new),
           contiguous(gates), contiguous(grad_h_new), contiguous(grad_c_new), grad_x, grad_h, grad_c, grad_w_ih,
           grad_w_hh, grad_bias, *_gated_backward_scratch(n_batch, n_in, n_hidden, dtype))
    return grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, grad_bias


def gru_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """-> (h_new, gates): (N, H) and [r | z | n | W_hn h + b_hn] (N, 4H). See the reference."""
    n_hidden = h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1
    check_rnn_inputs("gru_cell_forward", x, h, w_ih, w_hh,
                     [("b_ih", b_ih, (3 * n_hidden,)), ("b_hh", b_hh, (3 * n_hidden,))], gates=3)
    n_batch, n_in = x.shape
    dtype = x.dtype
    h_new = np.empty((n_batch, n_hidden), dtype=dtype)
    gates = np.empty((n_batch, 4 * n_hidden), dtype=dtype)
    kernel = _gru_forward_serial if _is_small(n_batch, n_in, n_hidden) else _gru_forward_parallel
    contiguous = np.ascontiguousarray
    kernel(contiguous(x), contiguous(h), contiguous(w_ih), contiguous(w_hh),
           bias_or_zeros(b_ih, 3 * n_hidden, dtype), bias_or_zeros(b_hh, 3 * n_hidden, dtype),
           *_gated_scratch(n_batch, n_in, n_hidden, dtype), h_new, gates)
    return h_new, gates


def gru_cell_backward(x, h, w_ih, w_hh, gates, grad_h_new):
    """-> (grad_x, grad_h, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh)."""
    shape = h.shape if isinstance(h, np.ndarray) else None
    gates_shape = (shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_rnn_inputs("gru_cell_backward", x, h, w_ih, w_hh,
                     [("gates", gates, gates_shape), ("grad_h_new", grad_h_new, shape)], gates=3)
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    dtype = x.dtype
    grad_x = np.empty((n_batch, n_in), dtype=dtype)
    grad_h = np.empty((n_batch, n_hidden), dtype=dtype)
    grad_w_ih = np.empty((3 * n_hidden, n_in), dtype=dtype)
    grad_w_hh = np.empty((3 * n_hidden, n_hidden), dtype=dtype)
    grad_b_ih = np.empty(3 * n_hidden, dtype=dtype)
    grad_b_hh = np.empty(3 * n_hidden, dtype=dtype)
    kernel = _gru_backward_serial if _is_small(n_batch, n_in, n_hidden) else _gru_backward_parallel
    contiguous = np.ascontiguousarray
    kernel(contiguous(x), contiguous(h), contiguous(w_ih), contiguous(w_hh), contiguous(gates),
           contiguous(grad_h_new), grad_x, grad_h, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh,
           *_gated_backward_scratch(n_batch, n_in, n_hidden, dtype))
    return grad_x, grad_h, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh
