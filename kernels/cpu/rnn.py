"""One step of an Elman RNN (tanh) as Numba kernels: the two small matmuls as one register-tiled GEMM, then
bias and tanh in one vectorised pass.

Same interface as kernels/reference/rnn.py. Shapes: x (N, I), h (N, H), w_ih (H, I), w_hh (H, H),
b_ih / b_hh (H,) or None. The benchmark shapes are tiny (N = 64, I = 2, H = 64: 270k multiply-adds forward),
so what matters is a GEMM that runs near the FMA peak without set-up (`kernels.cpu.matmul.tile_product`: no
packing, no threads, ≈3 µs for this product), a tanh that vectorises (`tanh_vectorizable`, no libm call; and
`error_model="numpy"`, see the forward kernel), and no BLAS calls (each costs a few µs of set-up, and risks
the OpenBLAS-after-prange stall of PERF.md). The scratch arrays (packed operands, the padded product) are
allocated by the wrappers: np.empty of a few KiB costs ≈0.2 µs.
"""
import numpy as np
from numba import njit, prange

from kernels.cpu.matmul import NR, ROWS, tile_product
from kernels.cpu.softmax import FASTMATH, exp_vectorizable
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.rnn import check_rnn_inputs

# Work = N·H·(I + H) multiply-adds of the forward. Below it the wrappers call the serial variant (see
# kernels/cpu/variants.py). Measured, float32, median µs serial / parallel (2 threads, quiet machine), since the
# register-tile rewrite: N=64 I=2 H=64 (270k): fwd 15 / 15, bwd 23 / 23 (NumPy reference 14 and 20);
#   N=64 I=64 H=64 (524k): fwd 17 / 16, bwd 26 / 25;  N=128 I=64 H=64 (1M): fwd 28 / 22, bwd 43 / 40;
#   N=512 I=64 H=64 (4M): fwd 92 / 56, bwd 163 / 124.
# Under load every parallel call here took 16–32 ms (the OpenMP barrier stall), so everything under ≈30 µs of
# serial work stays serial: the toy RNN (N=64, H=64) never launches threads.
SERIAL_MAX_WORK = 1 << 20


@njit(inline="always", fastmath=FASTMATH)
def tanh_vectorizable(z):
    """tanh(z) for a float64 z without a libm call, so a loop over it vectorises.

    |z| < 0.0625: odd Taylor series to z^11 (error < 1e-17 relative);  else tanh|z| = (1 - t)/(1 + t),
    t = exp(-2|z|) ≥ 0 (no overflow for any z; t = 0 for |z| > 354 gives exactly ±1).  Sign restored last.
    A loop over it vectorises only in a kernel compiled with error_model="numpy": under Numba's default
    (Python) error model the division carries a ZeroDivisionError check, and the loop stays scalar (≈6 ns a
    value instead of ≈0.9, measured on 4096 values).
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
    (`kernels.cpu.matmul.tile_product`), and bias + tanh run as one vectorised pass (`tanh_vectorizable`;
    it vectorises only because the kernels use error_model="numpy": Python's error model puts a
    ZeroDivisionError check on every float division, which kept the loop scalar: 25 µs instead of 4).
    The old loop nest (an axpy per input column into the output row in memory, then a scalar tanh) took
    44 µs at N=64 I=2 H=64 against NumPy/BLAS's 14; this kernel ≈11 (pack 2, tiles 3, bias + tanh 4).
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
        for panel in range(panels):  # nested, not one task index split by // and %: that ran 5x slower
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
    # column by column inside the loop above strides N values per write, which thrashed the cache (measured
    # 170 µs at N = 512, H = 64, against ≈15 blocked)
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
