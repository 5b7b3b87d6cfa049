"""The recurrent cells as Numba kernels: one step of tanh RNN, LSTM and GRU, and whole LSTM / GRU sequences
(at the end of the file). Each step's forward is the two small
matmuls (x W_ihᵀ and h W_hhᵀ) as one register-tiled GEMM of [x | h] against the stacked weights, then bias and
activations in vectorised passes; each backward is the gate pass, then two register-tiled GEMMs.

Same interface as kernels/reference/rnn.py (read that first: it is the math). Shapes for the tanh cell: x (N, I),
h (N, H), w_ih (H, I), w_hh (H, H), b_ih / b_hh (H,) or None; the gated cells stack G = 4 (LSTM) or 3 (GRU) gate
blocks of H rows in the weights. NUMBA_DISABLE_JIT=1 runs every kernel here as plain Python, to step through.

Why they are fast: the benchmark shapes are tiny (the tanh cell at N = 64, I = 2, H = 64: 270k multiply-adds
forward; the LSTM at N = 32, I = 16, H = 64: 655k), so what matters is a GEMM that runs near the FMA peak
without set-up (`kernels.cpu.gemm.tile_product`: no packing, no threads, a few µs for the tanh cell's product),
a tanh and a σ that vectorise (`tanh_vectorizable`, `sigmoid_vectorizable`: no libm call; and
`error_model="numpy"`, see the forward kernel), and no BLAS calls (each costs a few µs of set-up, and risks the
stall of an OpenBLAS call right after a `prange` loop, whose threads wait for cores Numba's OpenMP
workers still spin on). The scratch arrays (packed operands, the padded product) are
allocated by the wrappers: np.empty of a few KiB costs a fraction of a µs.
"""
import numpy as np
from numba import carray, config, njit, prange, types
from numba.extending import overload

from kernels.cpu.gemm import NR, ROWS, _stack_row, tile_product, use_512_bit_vectors
from kernels.cpu.softmax import FASTMATH, exp32_vectorizable, exp_vectorizable
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.rnn import check_rnn_inputs, check_sequence_inputs

# Work = N·H·(I + H) multiply-adds of the forward. Below it the wrappers call the serial variant (see
# kernels/cpu/variants.py): up to about a million multiply-adds two threads save little, and under load a parallel
# call can stall for milliseconds (the OpenMP barrier), so work of tens of µs stays serial: the toy RNN (N=64,
# H=64) never launches threads. Timings: docs/perf.md, "Kernel notes".
SERIAL_MAX_WORK = 1 << 20


@njit(inline="always", fastmath=FASTMATH)
def tanh_vectorizable(z):
    """tanh(z) for a float64 z without a libm call, so a loop over it vectorises.

    |z| < 0.0625: odd Taylor series to z^11 (error < 1e-17 relative);  else tanh|z| = (1 - t)/(1 + t),
    t = exp(-2|z|) ≥ 0 (no overflow for any z; t = 0 for |z| > 354 gives exactly ±1).  Sign restored last.
    A loop over it vectorises only in a kernel compiled with error_model="numpy": under Numba's default
    (Python) error model the division carries a ZeroDivisionError check, and the loop stays scalar (several
    times slower).
    """
    a = abs(z)
    z2 = z * z
    series = z * (1.0 + z2 * (-1.0 / 3.0 + z2 * (2.0 / 15.0 + z2 * (-17.0 / 315.0 + z2 * (
        62.0 / 2835.0 + z2 * (-1382.0 / 155925.0))))))
    t = exp_vectorizable(-2.0 * a)
    large = (1.0 - t) / (1.0 + t)
    large = -large if z < 0.0 else large
    return series if a < 0.0625 else large


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
    (`kernels.cpu.gemm.tile_product`), and bias + tanh run as one vectorised pass (`tanh_vectorizable`;
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


def _padded(n_cols):
    """n_cols rounded up to a whole number of NR-wide panels."""
    return (n_cols + NR - 1) // NR * NR


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
    weights_t = np.empty((n_in + n_hidden, _padded(n_hidden)), dtype=dtype)  # [W_ih | W_hh]ᵀ, padded
    z = np.empty((n_batch, _padded(n_hidden)), dtype=dtype)
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
    width = _padded(n_in + n_hidden)
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
def sigmoid_vectorizable(z):
    """σ(z) for a float64 z through e = exp(-|z|) ≤ 1 (no overflow): 1/(1+e) for z ≥ 0, e/(1+e) below."""
    e = exp_vectorizable(-abs(z))
    s = 1.0 / (1.0 + e)
    return s if z >= 0.0 else e * s


@njit(inline="always", fastmath=FASTMATH)
def _activate_block(z, b_ih, b_hh, n, block, use_tanh, gates):
    """gates[n, block·H + j] = act(z[n, block·H + j] + b_ih + b_hh) for j < H; act = tanh or σ."""
    n_hidden = gates.shape[1] // GATE_BLOCKS
    start = block * n_hidden
    for j in range(start, start + n_hidden):
        a = np.float64(z[n, j]) + b_ih[j] + b_hh[j]
        gates[n, j] = tanh_vectorizable(a) if use_tanh else sigmoid_vectorizable(a)


@njit(inline="always")
def _pack_side_by_side(x, h, out):
    """out (N, ≥ I+H) = [x | h | 0 ...]: the [x | h] operand of the GEMMs, zero in any padding columns."""
    n_in = x.shape[1]
    n_hidden = h.shape[1]
    for n in range(x.shape[0]):
        for i in range(n_in):
            out[n, i] = x[n, i]
        for k in range(n_hidden):
            out[n, n_in + k] = h[n, k]
        for col in range(n_in + n_hidden, out.shape[1]):
            out[n, col] = 0


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
    _pack_side_by_side(x, h, inputs)
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
    _pack_side_by_side(x, h, inputs)
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
    _pack_side_by_side(x, h, inputs)
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
    _pack_side_by_side(x, h, inputs)
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


def _bias_or_zeros(bias, size, dtype):
    return np.zeros(size, dtype=dtype) if bias is None else np.ascontiguousarray(bias)


def _gated_scratch(n_batch, n_in, n_hidden, dtype):
    """The forward's packed operands: inputs [x | h] (N, I+H), weights_t (I+H, Gp), z (N, Gp); Gp = 4H padded."""
    gate_width = _padded(GATE_BLOCKS * n_hidden)
    return (np.empty((n_batch, n_in + n_hidden), dtype=dtype), np.empty((n_in + n_hidden, gate_width), dtype=dtype),
            np.empty((n_batch, gate_width), dtype=dtype))


def _gated_backward_scratch(n_batch, n_in, n_hidden, dtype):
    """dz (N, 4H), weights (4H, Pp), inputs (N, Pp), grad_inputs (N, Pp), grad_weights (4H, Pp)."""
    gates, width = GATE_BLOCKS * n_hidden, _padded(n_in + n_hidden)
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
           _bias_or_zeros(b_ih, 4 * n_hidden, dtype), _bias_or_zeros(b_hh, 4 * n_hidden, dtype),
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
           _bias_or_zeros(b_ih, 3 * n_hidden, dtype), _bias_or_zeros(b_hh, 3 * n_hidden, dtype),
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


# ----- whole sequences: one call per layer and direction --------------------------------------------------------
# The loop over time inside one compiled call, so a step costs one register-tiled product and one vectorised gate
# pass, and no Python at all. Every product is `_tile_8_rows` (8 x 32, 512-bit) on weights packed once per call
# into contiguous NR-column panels (`_column_panels`), zero-padded so that every panel is full; the padding columns
# of the products are zero and are cut off by the wrappers.
#   LSTM, gate columns [i | f | g | o]: a step's product is [x_t | h_prev] against [W_ih | W_hh]ᵀ (no input
#   projection of all T·N rows before the loop, whose (T·N, 4H) scratch costs more in fresh pages than it saves);
#   the backward adds the weight gradients up a chunk of steps at a time (CHUNK_ROWS).
#   GRU, gate columns [r | z | n] (3H): the plan of kernels/reference/rnn.py, the input projection of all T steps
#   as one product before the loop, the weight gradients as products over all T·N rows after it; its input and
#   hidden products are kept apart (gi and zh), so W_in x and W_hn h need no zero blocks as in the one-step GRU
#   kernel.


SEQUENCE_ROWS = 8  # rows of `_tile_8_rows`, the register tile of the sequence kernels' products
# Rows of dz the LSTM backward keeps before it adds their product to the weight gradients (whole steps of N rows):
# long enough a sum for the tile to run at speed, short enough for the chunk to stay in L2 (256 KiB of dz at 4H = 256)
CHUNK_ROWS = 256


# The gate activations run in the data's precision: float32 data gets float32 σ and tanh (twice the lanes per vector
# register, a float32 division, a shorter polynomial), float64 data the float64 forms above. In the
# float64 forms the divisions and the 13-term exp polynomial made the activations cost as much as the step's GEMM.
@njit(inline="always", fastmath=FASTMATH)
def _sigmoid32(z):
    """σ(z) for a float32 z, as sigmoid_vectorizable: e = exp(-|z|) ≤ 1, 1/(1+e) or e/(1+e)."""
    e = exp32_vectorizable(-abs(z))
    s = np.float32(1.0) / (np.float32(1.0) + e)
    return s if z >= np.float32(0.0) else e * s


@njit(inline="always", fastmath=FASTMATH)
def _tanh32(z):
    """tanh(z) for a float32 z, as tanh_vectorizable: the odd series to z^7 below |z| = 0.0625 (the next term is
    < 1e-11 relative), else (1 - t)/(1 + t) with t = exp(-2|z|), sign restored."""
    a = abs(z)
    z2 = z * z
    series = z * (np.float32(1.0) + z2 * (np.float32(-1.0 / 3.0) + z2 * (np.float32(2.0 / 15.0)
                                                                         + z2 * np.float32(-17.0 / 315.0))))
    t = exp32_vectorizable(np.float32(-2.0) * a)
    large = (np.float32(1.0) - t) / (np.float32(1.0) + t)
    large = -large if z < np.float32(0.0) else large
    return series if a < np.float32(0.0625) else large


def sigmoid_in_precision(z):
    """σ(z) computed in z's own precision: float32 for float32 values, float64 otherwise (Numba only)."""
    raise NotImplementedError("sigmoid_in_precision is for compiled kernels")


def tanh_in_precision(z):
    """tanh(z) computed in z's own precision: float32 for float32 values, float64 otherwise (Numba only)."""
    raise NotImplementedError("tanh_in_precision is for compiled kernels")


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: plain Python has no LLVM function to mark and no overload to pick
    def use_512_bit_vectors():  # noqa: F811
        """Nothing to ask of LLVM when the kernels run as plain Python."""

    def sigmoid_in_precision(z):  # noqa: F811
        return _sigmoid32(z) if isinstance(z, np.float32) else sigmoid_vectorizable(np.float64(z))

    def tanh_in_precision(z):  # noqa: F811
        return _tanh32(z) if isinstance(z, np.float32) else tanh_vectorizable(np.float64(z))


@overload(sigmoid_in_precision, jit_options={"fastmath": FASTMATH})
def _sigmoid_in_precision(z):
    if z == types.float32:
        return lambda z: _sigmoid32(z)
    return lambda z: sigmoid_vectorizable(np.float64(z))


@overload(tanh_in_precision, jit_options={"fastmath": FASTMATH})
def _tanh_in_precision(z):
    if z == types.float32:
        return lambda z: _tanh32(z)
    return lambda z: tanh_vectorizable(np.float64(z))


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


@njit(inline="always")
def _fill_previous(hs, h0, reverse, previous):
    """previous (T·N, H) = H_prev: row block t holds the h that step t started from (h0 at the first step)."""
    steps, n_batch, n_hidden = hs.shape
    for t in range(steps):
        first = t == (steps - 1 if reverse else 0)
        source = _previous_index(t, reverse)
        for n in range(n_batch):
            for k in range(n_hidden):
                previous[t * n_batch + n, k] = h0[n, k] if first else hs[source, n, k]


@njit(inline="always", fastmath=True)
def _tile_8_rows(a, b, b_col0, out, row0, out_col0, accumulate):
    """out[row0:row0+8, out_col0:out_col0+NR] (+)= a[row0:row0+8, :] @ b[:, b_col0:b_col0+NR]    a (M, K), b (K, ·)

    `kernels.cpu.gemm.tile_product` with twice the rows: eight accumulator rows of NR values on the stack, so per
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


@njit(inline="always")
def _row_blocks(n_rows):
    """How many SEQUENCE_ROWS-row tiles cover n_rows rows."""
    return (n_rows + SEQUENCE_ROWS - 1) // SEQUENCE_ROWS


def _lstm_sequence_forward_body(x, h0, c0, w_panels, bias, reverse, inputs, z, states, gates):
    """x (T, N, I); w_panels (P, I+H, NR) = [W_ih | W_hh]ᵀ cut into P panels of NR gate columns (zero past column
    4H); bias (4H) = b_ih + b_hh; inputs (N, I+H) and z (N, P·NR) scratch; states (2, T, N, H) = [hs ; cs] and
    gates (T, N, 4H) out.

        for t in the direction's order:
            inputs = [x[t] | h_prev]
            for panel in prange(P), row block of 8:  z[rows, panel] = inputs[rows] @ w_panels[panel]
            for n in prange(N):   i, f, o = σ(z[n, ·] + bias), g = tanh(...)      (one vectorised loop per kind)
                                  c = f c_prev + i g;  h = o tanh(c)

    Why it is fast: each step is one product in registers (`_tile_8_rows`, 512-bit) of the step's x and h against
    both weights, packed once for all steps (each panel one contiguous block, read by every row tile of the step
    while it is in L1), and the step loop has no call overhead between steps. The input projection is not one
    product of all T·N rows before the loop (the reference's plan): that needs a (T·N, 4H) scratch whose fresh
    pages cost more to touch, and whose rows come back from L2 one step at a time, than the K = I rows the step
    product gains.
    """
    use_512_bit_vectors()  # for the loops of this function outside the tiles (the serial variant's gate passes)
    steps = states.shape[1]
    n_batch = states.shape[2]
    n_hidden = states.shape[3]
    step_blocks = _row_blocks(n_batch)
    for step in range(steps):
        t = steps - 1 - step if reverse else step
        h_prev = h0 if step == 0 else states[0, _previous_index(t, reverse)]
        c_prev = c0 if step == 0 else states[1, _previous_index(t, reverse)]
        _pack_side_by_side(x[t], h_prev, inputs)
        for panel in prange(w_panels.shape[0]):
            for block in range(step_blocks):
                _tile_8_rows(inputs, w_panels[panel], 0, z, block * SEQUENCE_ROWS, panel * NR, False)
        gates_t = gates[t]
        h_t = states[0, t]
        c_t = states[1, t]
        for n in prange(n_batch):
            use_512_bit_vectors()  # a prange body is compiled as a function of its own in the parallel variant
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


_lstm_sequence_forward_serial, _lstm_sequence_forward_parallel = serial_and_parallel(
    _lstm_sequence_forward_body, fastmath=FASTMATH, error_model="numpy")


def _lstm_sequence_backward_body(x, h0, c0, w_ih_panels, w_hh_panels, states, gates, grad_states, reverse,
                                 need_grad_x, dz, inputs, grad_h, grad_c, grad_x_p, grad_weights_t, grad_bias):
    """x (T, N, I); w_ih_panels (Pi, Gp, NR), w_hh_panels (Ph, Gp, NR): W_ih (4H, I) and W_hh (4H, H) cut into
    panels of NR columns, zero-padded to Gp = 4H padded rows; dz (S·N, Gp) and inputs (S·N, I+H) scratch for a
    chunk of S steps; grad_h (N, Ph·NR) and grad_c (N, H) the gradients carried back to the previous step, zero
    on entry, grad_h0 and grad_c0 on exit; grad_x_p (T·N, Pi·NR) (no rows without need_grad_x), grad_weights_t
    (I+H, Gp) = [grad_w_ih | grad_w_hh]ᵀ and grad_bias (Gp,) out, zero on entry.

        for t newest first (chunk c = steps c·S ... c·S + S - 1, s = t - c·S):
            for n in prange(N), j:  g_h = grad_states[0, t] + grad_h;  tc = tanh(c);  dc = grad_states[1, t] +
                grad_c + g_h o (1 - tc²);  dz[s·N + n, (i f g o)·H + j] = dc g i(1-i), dc c_prev f(1-f),
                dc i (1-g²), g_h tc o(1-o);  grad_c = dc f
            inputs[s·N : s·N + N] = [x[t] | h_prev]
            for panel in prange(Ph), row block:  grad_h[rows, panel] = dz[s·N + rows] @ w_hh_panels[panel]
            after the chunk's last step (rows = its steps' rows, in time order):
                grad_weights_t += inputs[rows]ᵀ @ dz[rows];  grad_bias += Σ_rows dz
                grad_x_p[c·S·N + rows] = dz[rows] @ w_ih_panels                              (if need_grad_x)

    Why it is fast: every product runs in registers (`_tile_8_rows`, 512-bit), and the weight gradients are
    summed a chunk of steps at a time, from rows that are still in L2: the scratch is S·N rows whatever T is
    (no (T·N, 4H) array of all steps' dz, no stack of the previous states), whose fresh pages would cost more to
    touch than the chunks cost to add up, and each sum is long enough (K = S·N) for the tile to run at speed.
    The weight gradient comes out transposed, (I+H, Gp), so that dz is read along its rows by the tile (the
    transposed operand inputsᵀ is the one read eight values at a time); the wrapper transposes the small result.
    """
    use_512_bit_vectors()  # for the loops of this function outside the tiles (the serial variant's gate passes)
    steps = states.shape[1]
    n_batch = states.shape[2]
    n_hidden = states.shape[3]
    gate_width = dz.shape[1]
    chunk_steps = dz.shape[0] // n_batch
    for row in range(dz.shape[0]):
        for col in range(4 * n_hidden, gate_width):
            dz[row, col] = 0
    step_blocks = _row_blocks(n_batch)
    weight_blocks = _row_blocks(inputs.shape[1])
    for step in range(steps):
        t = step if reverse else steps - 1 - step
        first = step == steps - 1  # the step visited first in the forward: it started from h0 and c0
        h_prev = h0 if first else states[0, _previous_index(t, reverse)]
        c_prev = c0 if first else states[1, _previous_index(t, reverse)]
        gates_t = gates[t]
        chunk_start = t // chunk_steps * chunk_steps  # the chunk's first step in time order
        chunk_row = (t - chunk_start) * n_batch
        dz_t = dz[chunk_row:chunk_row + n_batch]
        for n in prange(n_batch):
            use_512_bit_vectors()  # a prange body is compiled as a function of its own in the parallel variant
            # short loops, each vectorised (as in the one-step kernel); grad_c holds dc until the last loop
            for j in range(n_hidden):
                o = gates_t[n, 3 * n_hidden + j]
                tanh_c = tanh_in_precision(states[1, t, n, j])
                d_h = grad_states[0, t, n, j] + grad_h[n, j]
                dz_t[n, 3 * n_hidden + j] = d_h * tanh_c * o * (1.0 - o)
                grad_c[n, j] = grad_states[1, t, n, j] + grad_c[n, j] + d_h * o * (1.0 - tanh_c * tanh_c)
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
        _pack_side_by_side(x[t], h_prev, inputs[chunk_row:chunk_row + n_batch])
        for panel in prange(w_hh_panels.shape[0]):
            for block in range(step_blocks):
                _tile_8_rows(dz_t, w_hh_panels[panel], 0, grad_h, block * SEQUENCE_ROWS, panel * NR, False)
        next_t = t + 1 if reverse else t - 1
        if step == steps - 1 or next_t // chunk_steps != t // chunk_steps:  # the chunk's last step: add it up
            filled = (min(chunk_start + chunk_steps, steps) - chunk_start) * n_batch
            inputs_t = inputs[:filled].T  # (I+H, S·N), a strided view: the tile reads 8 neighbouring values per k
            dz_filled = dz[:filled]
            for panel in prange(gate_width // NR):
                for block in range(weight_blocks):
                    _tile_8_rows(inputs_t, dz_filled, panel * NR, grad_weights_t, block * SEQUENCE_ROWS, panel * NR,
                                 True)
            for row in range(filled):  # serial: a sum over the chunk's rows
                for col in range(gate_width):
                    grad_bias[col] += dz[row, col]
            if need_grad_x:
                grad_x_chunk = grad_x_p[chunk_start * n_batch:chunk_start * n_batch + filled]
                chunk_blocks = _row_blocks(filled)
                for panel in prange(w_ih_panels.shape[0]):
                    for block in range(chunk_blocks):
                        _tile_8_rows(dz_filled, w_ih_panels[panel], 0, grad_x_chunk, block * SEQUENCE_ROWS,
                                     panel * NR, False)


_lstm_sequence_backward_serial, _lstm_sequence_backward_parallel = serial_and_parallel(
    _lstm_sequence_backward_body, fastmath=FASTMATH, error_model="numpy")


def _gru_sequence_forward_body(x2d, h0, w_ih_panels, w_hh_panels, b_ih, b_hh, reverse, gi, zh, hs, gates):
    """As the LSTM's, with w_ih_panels (P, I, NR) and w_hh_panels (P, H, NR) for the 3H columns [r | z | n]; hs
    (T, N, H) and gates (T, N, 4H) = [r | z | n | W_hn h + b_hn] out:

        gi = x2d @ w_ih_panels                                          (all steps, prange over panels)
        for t in order:  zh = h_prev @ w_hh_panels
            for n in prange(N), j:  r = σ(gi_r + b_ir + zh_r + b_hr);  u = σ(gi_z + b_iz + zh_z + b_hz)
                                    a = zh_n + b_hn;  m = tanh(gi_n + b_in + r a);  h = (1 - u) m + u h_prev
    """
    use_512_bit_vectors()  # for the loops of this function outside the tiles (the serial variant's gate passes)
    steps, n_batch, n_hidden = hs.shape
    panels = w_hh_panels.shape[0]
    input_blocks = _row_blocks(x2d.shape[0])
    for panel in prange(panels):
        for block in range(input_blocks):
            _tile_8_rows(x2d, w_ih_panels[panel], 0, gi, block * SEQUENCE_ROWS, panel * NR, False)
    step_blocks = _row_blocks(n_batch)
    for step in range(steps):
        t = steps - 1 - step if reverse else step
        h_prev = h0 if step == 0 else hs[_previous_index(t, reverse)]
        for panel in prange(panels):
            for block in range(step_blocks):
                _tile_8_rows(h_prev, w_hh_panels[panel], 0, zh, block * SEQUENCE_ROWS, panel * NR, False)
        gates_t = gates[t]
        for n in prange(n_batch):
            use_512_bit_vectors()  # a prange body is compiled as a function of its own in the parallel variant
            row = t * n_batch + n
            _sequence_activate(gi, row, zh, n, b_ih, b_hh, 0, 2 * n_hidden, False, gates_t, n)  # r and z (u here)
            for j in range(n_hidden):
                gates_t[n, 3 * n_hidden + j] = zh[n, 2 * n_hidden + j] + b_hh[2 * n_hidden + j]  # a = W_hn h + b_hn
            for j in range(n_hidden):
                pre = gi[row, 2 * n_hidden + j] + b_ih[2 * n_hidden + j] + gates_t[n, j] * gates_t[n, 3 * n_hidden + j]
                gates_t[n, 2 * n_hidden + j] = tanh_in_precision(pre)  # the candidate n (m here)
            for j in range(n_hidden):
                u = gates_t[n, n_hidden + j]
                hs[t, n, j] = (1.0 - u) * gates_t[n, 2 * n_hidden + j] + u * h_prev[n, j]


_gru_sequence_forward_serial, _gru_sequence_forward_parallel = serial_and_parallel(
    _gru_sequence_forward_body, fastmath=FASTMATH, error_model="numpy")


def _gru_sequence_backward_body(x2d, h0, w_ih_panels, w_hh_panels, hs, gates, grad_hs, reverse, need_grad_x, d_gi,
                                d_gh, grad_h, direct, previous, grad_x_p, grad_w_ih_t, grad_w_hh_t, grad_b_ih,
                                grad_b_hh):
    """w_ih_panels (Pi, Gp, NR), w_hh_panels (Ph, Gp, NR) the weights (3H, I), (3H, H) cut into panels of NR
    columns, zero-padded to Gp = 3H padded rows; d_gi, d_gh (T·N, Gp) scratch; grad_h (N, Ph·NR) the gradient
    carried back, zero on entry and grad_h0 on exit; direct (N, H) scratch:

        for t newest first:
            for n in prange(N), j:  g = grad_hs[t] + grad_h;  dm = g (1-u)(1-m²);  dr = dm a r(1-r)
                d_gi[t·N + n] = [dr | g (h_prev - m) u(1-u) | dm];  d_gh likewise with dm r;  direct = g u
            grad_h = d_gh[t·N : t·N + N] @ w_hh_panels + direct
        grad_x_p = d_gi @ w_ih_panels (if need_grad_x);  grad_w_ih_t = x2dᵀ @ d_gi;  grad_w_hh_t = H_prevᵀ @ d_gh;
        biases Σ_rows
    """
    use_512_bit_vectors()  # for the loops of this function outside the tiles (the serial variant's gate passes)
    steps, n_batch, n_hidden = hs.shape
    gate_width = d_gi.shape[1]
    for row in range(d_gi.shape[0]):
        for col in range(3 * n_hidden, gate_width):
            d_gi[row, col] = 0
            d_gh[row, col] = 0
    step_blocks = _row_blocks(n_batch)
    for step in range(steps):
        t = step if reverse else steps - 1 - step
        h_prev = h0 if step == steps - 1 else hs[_previous_index(t, reverse)]
        gates_t = gates[t]
        for n in prange(n_batch):
            use_512_bit_vectors()  # a prange body is compiled as a function of its own in the parallel variant
            row = t * n_batch + n
            for j in range(n_hidden):
                g = grad_hs[t, n, j] + grad_h[n, j]
                u = gates_t[n, n_hidden + j]
                m = gates_t[n, 2 * n_hidden + j]
                d_gi[row, 2 * n_hidden + j] = g * (1.0 - u) * (1.0 - m * m)  # dm
                d_u = g * (h_prev[n, j] - m) * u * (1.0 - u)
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
        d_gh_t = d_gh[t * n_batch:(t + 1) * n_batch]
        for panel in prange(w_hh_panels.shape[0]):
            for block in range(step_blocks):
                _tile_8_rows(d_gh_t, w_hh_panels[panel], 0, grad_h, block * SEQUENCE_ROWS, panel * NR, False)
        for n in range(n_batch):
            for j in range(n_hidden):
                grad_h[n, j] += direct[n, j]
    _fill_previous(hs, h0, reverse, previous)
    row_blocks = _row_blocks(d_gi.shape[0])
    for panel in prange(w_ih_panels.shape[0] if need_grad_x else 0):
        for block in range(row_blocks):
            _tile_8_rows(d_gi, w_ih_panels[panel], 0, grad_x_p, block * SEQUENCE_ROWS, panel * NR, False)
    x_t = x2d.T  # (I, T·N)
    previous_t = previous.T  # (H, T·N)
    in_blocks = _row_blocks(x_t.shape[0])
    hidden_blocks = _row_blocks(n_hidden)
    for panel in prange(gate_width // NR):
        for block in range(in_blocks):
            _tile_8_rows(x_t, d_gi, panel * NR, grad_w_ih_t, block * SEQUENCE_ROWS, panel * NR, False)
        for block in range(hidden_blocks):
            _tile_8_rows(previous_t, d_gh, panel * NR, grad_w_hh_t, block * SEQUENCE_ROWS, panel * NR, False)
    for col in range(gate_width):
        grad_b_ih[col] = 0
        grad_b_hh[col] = 0
    for row in range(d_gi.shape[0]):  # serial: sums over T·N rows
        for col in range(gate_width):
            grad_b_ih[col] += d_gi[row, col]
            grad_b_hh[col] += d_gh[row, col]


_gru_sequence_backward_serial, _gru_sequence_backward_parallel = serial_and_parallel(
    _gru_sequence_backward_body, fastmath=FASTMATH, error_model="numpy")


def _column_panels(matrix, rows, dtype):
    """(P, rows, NR): matrix (R ≤ rows, C) cut into P = ⌈C / NR⌉ panels of NR columns, panel p = matrix[:, p·NR :
    (p+1)·NR], each one contiguous block, zero past row R and column C. The operand layout of `_tile_8_rows`
    for a weight that every step reads: packed once per call, not once per step."""
    n_rows, n_cols = matrix.shape
    padded = np.zeros((rows, _padded(n_cols)), dtype=dtype)
    padded[:n_rows, :n_cols] = matrix
    return np.ascontiguousarray(padded.reshape(rows, padded.shape[1] // NR, NR).transpose(1, 0, 2))  # (P, rows, NR)


# Multiply-adds per step below which a whole sequence runs serially. Higher than the cells' SERIAL_MAX_WORK: the
# step loop launches its threads once per step or more, and a launch pays only for large steps; the parallel
# variant first won at 2^23 (docs/perf.md, Kernel notes).
SEQUENCE_SERIAL_MAX_WORK = 1 << 22


def _sequence_is_small(n_batch, n_in, n_hidden, gate_blocks):
    """Serial below SEQUENCE_SERIAL_MAX_WORK multiply-adds per step (see there)."""
    return n_batch * gate_blocks * n_hidden * (n_in + n_hidden) < SEQUENCE_SERIAL_MAX_WORK


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
    weights_t = np.concatenate([w_ih, w_hh], axis=1).T  # (I+H, 4H) = [W_ih | W_hh]ᵀ
    bias = (_bias_or_zeros(b_ih, 4 * n_hidden, dtype) + _bias_or_zeros(b_hh, 4 * n_hidden, dtype)).astype(
        dtype, copy=False)  # b_ih + b_hh: one add per gate value in the step loop instead of two
    kernel = (_lstm_sequence_forward_serial if _sequence_is_small(n_batch, n_in, n_hidden, 4)
              else _lstm_sequence_forward_parallel)
    kernel(np.ascontiguousarray(x), np.ascontiguousarray(h0), np.ascontiguousarray(c0),
           _column_panels(weights_t, n_in + n_hidden, dtype), bias, bool(reverse),
           np.empty((n_batch, n_in + n_hidden), dtype=dtype), np.empty((n_batch, _padded(4 * n_hidden)), dtype=dtype),
           states, gates)
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
    gate_width = _padded(4 * n_hidden)
    grad_h = np.zeros((n_batch, _padded(n_hidden)), dtype=dtype)
    grad_c = np.zeros((n_batch, n_hidden), dtype=dtype)
    grad_x = np.zeros((steps * n_batch if need_grad_x else 0, _padded(n_in)), dtype=dtype)
    grad_weights_t = np.zeros((n_in + n_hidden, gate_width), dtype=dtype)  # [grad_w_ih | grad_w_hh]ᵀ
    grad_bias = np.zeros(gate_width, dtype=dtype)
    if steps * n_batch and n_hidden:
        kernel = (_lstm_sequence_backward_serial if _sequence_is_small(n_batch, n_in, n_hidden, 4)
                  else _lstm_sequence_backward_parallel)
        chunk_rows = min(steps, max(1, CHUNK_ROWS // n_batch)) * n_batch  # S·N: whole steps, about CHUNK_ROWS rows
        contiguous = np.ascontiguousarray
        kernel(contiguous(x), contiguous(h0), contiguous(c0), _column_panels(w_ih, gate_width, dtype),
               _column_panels(w_hh, gate_width, dtype), contiguous(states), contiguous(gates), contiguous(grad_states),
               bool(reverse), bool(need_grad_x), np.empty((chunk_rows, gate_width), dtype=dtype),
               np.empty((chunk_rows, n_in + n_hidden), dtype=dtype), grad_h, grad_c, grad_x, grad_weights_t, grad_bias)
    gate_rows = 4 * n_hidden
    return (np.ascontiguousarray(grad_x[:, :n_in]).reshape(steps, n_batch, n_in) if need_grad_x else None,
            np.ascontiguousarray(grad_h[:, :n_hidden]), grad_c,
            np.ascontiguousarray(grad_weights_t[:n_in, :gate_rows].T),
            np.ascontiguousarray(grad_weights_t[n_in:, :gate_rows].T), grad_bias[:gate_rows].copy())


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
    gate_width = _padded(3 * n_hidden)
    kernel = (_gru_sequence_forward_serial if _sequence_is_small(n_batch, n_in, n_hidden, 3)
              else _gru_sequence_forward_parallel)
    kernel(np.ascontiguousarray(x).reshape(steps * n_batch, n_in), np.ascontiguousarray(h0),
           _column_panels(w_ih.T, n_in, dtype), _column_panels(w_hh.T, n_hidden, dtype),
           _bias_or_zeros(b_ih, 3 * n_hidden, dtype), _bias_or_zeros(b_hh, 3 * n_hidden, dtype), bool(reverse),
           np.empty((steps * n_batch, gate_width), dtype=dtype), np.empty((n_batch, gate_width), dtype=dtype),
           hs, gates)
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
    rows = steps * n_batch
    gate_width = _padded(3 * n_hidden)
    grad_h = np.zeros((n_batch, _padded(n_hidden)), dtype=dtype)
    grad_x = np.zeros((rows if need_grad_x else 0, _padded(n_in)), dtype=dtype)
    grad_w_ih_t = np.zeros((n_in, gate_width), dtype=dtype)
    grad_w_hh_t = np.zeros((n_hidden, gate_width), dtype=dtype)
    grad_b_ih = np.zeros(gate_width, dtype=dtype)
    grad_b_hh = np.zeros(gate_width, dtype=dtype)
    if rows and n_hidden:
        kernel = (_gru_sequence_backward_serial if _sequence_is_small(n_batch, n_in, n_hidden, 3)
                  else _gru_sequence_backward_parallel)
        contiguous = np.ascontiguousarray
        kernel(contiguous(x).reshape(rows, n_in), contiguous(h0), _column_panels(w_ih, gate_width, dtype),
               _column_panels(w_hh, gate_width, dtype),
               contiguous(hs), contiguous(gates), contiguous(grad_hs), bool(reverse), bool(need_grad_x),
               np.empty((rows, gate_width), dtype=dtype), np.empty((rows, gate_width), dtype=dtype), grad_h,
               np.empty((n_batch, n_hidden), dtype=dtype), np.empty((rows, n_hidden), dtype=dtype), grad_x,
               grad_w_ih_t, grad_w_hh_t, grad_b_ih, grad_b_hh)
    gate_rows = 3 * n_hidden
    return (np.ascontiguousarray(grad_x[:, :n_in]).reshape(steps, n_batch, n_in) if need_grad_x else None,
            np.ascontiguousarray(grad_h[:, :n_hidden]),
            np.ascontiguousarray(grad_w_ih_t[:, :gate_rows].T), np.ascontiguousarray(grad_w_hh_t[:, :gate_rows].T),
            grad_b_ih[:gate_rows].copy(), grad_b_hh[:gate_rows].copy())
