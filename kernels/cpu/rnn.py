"""One step of an Elman RNN (tanh) as Numba kernels: the two small matmuls, the biases and tanh in one pass.

Same interface as kernels/reference/rnn.py. Shapes: x (N, I), h (N, H), w_ih (H, I), w_hh (H, H),
b_ih / b_hh (H,) or None. The benchmark shape is tiny (N = 32, I = 16, H = 64: 164k multiply-adds forward),
so the cost that matters is the fixed cost per call, not the flops: no BLAS calls (each costs a few µs of
set-up, and risks the OpenBLAS-after-prange stall of PERF.md), no temporaries beyond the outputs, and
`tanh_vectorizable` instead of np.tanh (a scalar libm call per element without SVML).
"""
import numpy as np
from numba import njit, prange

from kernels.cpu.softmax import FASTMATH, exp_vectorizable
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.rnn import check_rnn_inputs

# Work = N·H·(I + H) multiply-adds of the forward. Below it the wrappers call the serial variant (see
# kernels/cpu/variants.py). Measured, float32, median µs serial / parallel (2 threads, quiet moments):
#   N=64 I=2 H=64 (270k): fwd 50, bwd 54 serial;  N=64 I=64 H=64 (524k): fwd 59, bwd 66 serial;
#   N=128 I=64 H=64 (1M): fwd 130, bwd 176 serial;  N=512 (4M): fwd 438, bwd 555 serial.
# Under load every parallel call here took 16–32 ms (the OpenMP barrier stall), so everything under ≈100 µs of
# serial work stays serial: the toy RNN (N=64, H=64) never launches threads.
SERIAL_MAX_WORK = 1 << 20


@njit(inline="always", fastmath=FASTMATH)
def tanh_vectorizable(z):
    """tanh(z) for a float64 z without a libm call, so a loop over it vectorises.

    |z| < 0.0625: odd Taylor series to z^11 (error < 1e-17 relative);  else tanh|z| = (1 - t)/(1 + t),
    t = exp(-2|z|) ≥ 0 (no overflow for any z; t = 0 for |z| > 354 gives exactly ±1).  Sign restored last.
    """
    a = abs(z)
    z2 = z * z
    series = z * (1.0 + z2 * (-1.0 / 3.0 + z2 * (2.0 / 15.0 + z2 * (-17.0 / 315.0 + z2 * (
        62.0 / 2835.0 + z2 * (-1382.0 / 155925.0))))))
    t = exp_vectorizable(-2.0 * a)
    large = (1.0 - t) / (1.0 + t)
    large = -large if z < 0.0 else large
    return series if a < 0.0625 else large


def _rnn_tanh_forward_body(x, h, w_ih_t, w_hh_t, b_ih, b_hh, h_new):
    """for n in prange(N):                      w_ih_t (I, H), w_hh_t (H, H): the weights transposed
           h_new[n, :] = b_ih + b_hh
           for i < I:  h_new[n, :] += x[n, i] · w_ih_t[i, :]
           for k < H:  h_new[n, :] += h[n, k] · w_hh_t[k, :]
           h_new[n, :] = tanh(h_new[n, :])
    Every inner loop is an axpy over a contiguous row of H values: no horizontal sums, the row of h_new
    (256 B at H = 64, float32) stays in registers / L1, and the transposed weights stay in L1/L2 for all rows.
    """
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    for n in prange(n_batch):
        for j in range(n_hidden):
            h_new[n, j] = b_ih[j] + b_hh[j]
        for i in range(n_in):
            x_value = x[n, i]
            for j in range(n_hidden):
                h_new[n, j] += x_value * w_ih_t[i, j]
        for k in range(n_hidden):
            h_value = h[n, k]
            for j in range(n_hidden):
                h_new[n, j] += h_value * w_hh_t[k, j]
        for j in range(n_hidden):
            h_new[n, j] = tanh_vectorizable(np.float64(h_new[n, j]))


_rnn_tanh_forward_serial, _rnn_tanh_forward_parallel = serial_and_parallel(_rnn_tanh_forward_body, fastmath=FASTMATH)


def _rnn_tanh_backward_body(x, h, w_ih, w_hh, h_new, grad_h_new, grad_x, grad_h, grad_w_ih, grad_w_hh,
                            grad_bias, dz):
    """dz[n, j] = g[n, j]·(1 - h_new[n, j]²)                                 dz: (N, H) scratch
       for n in prange(N):  grad_x[n, :] = Σ_j dz[n, j] w_ih[j, :];  grad_h[n, :] = Σ_j dz[n, j] w_hh[j, :]
       for j in prange(H):  grad_w_ih[j, :] = Σ_n dz[n, j] x[n, :];  grad_w_hh[j, :] = Σ_n dz[n, j] h[n, :]
                            grad_bias[j] = Σ_n dz[n, j]
    Every inner loop is an axpy over a contiguous row (vectorised); each output row has one owner thread.
    All outputs must arrive zero-filled.
    """
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    for n in prange(n_batch):
        for j in range(n_hidden):
            dz[n, j] = grad_h_new[n, j] * (1.0 - h_new[n, j] * h_new[n, j])
        for j in range(n_hidden):
            d = dz[n, j]
            for i in range(n_in):
                grad_x[n, i] += d * w_ih[j, i]
            for k in range(n_hidden):
                grad_h[n, k] += d * w_hh[j, k]
    for j in prange(n_hidden):
        for n in range(n_batch):
            d = dz[n, j]
            grad_bias[j] += d
            for i in range(n_in):
                grad_w_ih[j, i] += d * x[n, i]
            for k in range(n_hidden):
                grad_w_hh[j, k] += d * h[n, k]


_rnn_tanh_backward_serial, _rnn_tanh_backward_parallel = serial_and_parallel(_rnn_tanh_backward_body, fastmath=FASTMATH)


def rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) -> (N, H)."""
    n_hidden = h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1
    check_rnn_inputs("rnn_tanh_cell_forward", x, h, w_ih, w_hh,
                     [("b_ih", b_ih, (n_hidden,)), ("b_hh", b_hh, (n_hidden,))])
    zeros = np.zeros(n_hidden, dtype=x.dtype)
    b_ih = zeros if b_ih is None else np.ascontiguousarray(b_ih)
    b_hh = zeros if b_hh is None else np.ascontiguousarray(b_hh)
    h_new = np.empty((x.shape[0], n_hidden), dtype=x.dtype)
    w_ih_t = np.ascontiguousarray(w_ih.T)  # (I, H): a 4 KiB copy that makes every inner loop contiguous
    w_hh_t = np.ascontiguousarray(w_hh.T)  # (H, H)
    small = x.shape[0] * n_hidden * (x.shape[1] + n_hidden) < SERIAL_MAX_WORK
    kernel = _rnn_tanh_forward_serial if small else _rnn_tanh_forward_parallel
    kernel(np.ascontiguousarray(x), np.ascontiguousarray(h), w_ih_t, w_hh_t, b_ih, b_hh, h_new)
    return h_new


def rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, grad_h_new):
    """-> (grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves both b_ih and b_hh."""
    shape = h.shape if isinstance(h, np.ndarray) else None
    check_rnn_inputs("rnn_tanh_cell_backward", x, h, w_ih, w_hh,
                     [("h_new", h_new, shape), ("grad_h_new", grad_h_new, shape)])
    x, h = np.ascontiguousarray(x), np.ascontiguousarray(h)
    w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    grad_x = np.zeros_like(x)
    grad_h = np.zeros_like(h)
    grad_w_ih = np.zeros_like(w_ih)
    grad_w_hh = np.zeros_like(w_hh)
    grad_bias = np.zeros(h.shape[1], dtype=x.dtype)
    dz = np.empty_like(h)
    small = x.shape[0] * h.shape[1] * (x.shape[1] + h.shape[1]) < SERIAL_MAX_WORK
    kernel = _rnn_tanh_backward_serial if small else _rnn_tanh_backward_parallel
    kernel(x, h, w_ih, w_hh, np.ascontiguousarray(h_new), np.ascontiguousarray(grad_h_new),
           grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias, dz)
    return grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias
