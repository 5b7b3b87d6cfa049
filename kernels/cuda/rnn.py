"""One step of the recurrent cells on the GPU (tanh RNN, LSTM, GRU): a fused forward kernel, GEMMs for the backward.

Shapes: x (N, I), h (N, H), w_ih (G·H, I), w_hh (G·H, H), b_ih / b_hh (G·H,) or None, G = 1 (tanh), 4 (LSTM:
i, f, g, o) or 3 (GRU: r, z, n); the gate math is in kernels/reference/rnn.py. The tanh cell:

Forward, 2-D grid of 16 x 16 thread blocks, thread (n, j) -> one output:

    h_new[n, j] = tanh( Σ_i x[n, i] w_ih[j, i] + Σ_k h[n, k] w_hh[j, k] + b_ih[j] + b_hh[j] )

    both dot products, the biases and the tanh happen in one pass, so z never goes to memory. threadIdx.x runs
    along j, so a warp reads one x[n, :] row (a broadcast) and 16 rows of the weights. The recurrent matmuls of
    an RNN are small (H ~ 64..1024): one fused launch per step beats GEMM + bias + tanh launches there; for big
    H the tiled GEMM of kernels/cuda/gemm.py is the better engine.

Backward: dz = g (1 - h'²) (one thread per element), then four tiled GEMMs (grad_x = dz W_ih,
grad_h = dz W_hh, grad_w_ih = dzᵀ x, grad_w_hh = dzᵀ h, transposes read in place) and one column sum for grad_b.
"""
import math

from numba import cuda

from kernels.cuda._device import as_contiguous_device, empty, host_proxy, launch_config, require_cuda
from kernels.cuda.gemm import gemm
from kernels.cuda.reduce import sum_axis
from kernels.reference.rnn import check_rnn_inputs

SIDE = 16  # forward blocks are SIDE x SIDE threads
THREADS = 128


@cuda.jit
def _rnn_forward_kernel(x, h, w_ih, w_hh, b_ih, b_hh, has_b_ih, has_b_hh, use_tanh, h_new):
    """h_new[n, j] = act(x[n] · w_ih[j] + h[n] · w_hh[j] + b_ih[j] + b_hh[j]), act = tanh or relu (written
    `z <= 0`, so a NaN passes as in torch.relu), one thread per (n, j)."""
    j, n = cuda.grid(2)  # x of the grid -> hidden unit j, y -> batch row n
    if n >= h_new.shape[0] or j >= h_new.shape[1]:
        return
    z = x[0, 0] * 0 if x.shape[1] else h[0, 0] * 0
    for i in range(x.shape[1]):
        z += x[n, i] * w_ih[j, i]
    for k in range(h.shape[1]):
        z += h[n, k] * w_hh[j, k]
    if has_b_ih:
        z += b_ih[j]
    if has_b_hh:
        z += b_hh[j]
    if use_tanh:
        h_new[n, j] = math.tanh(z)
    else:
        h_new[n, j] = 0 if z <= 0 else z


@cuda.jit
def _tanh_grad_kernel(h_new, grad_h_new, dz):
    """dz = g · (1 - h'²), one thread per element of the flat arrays."""
    i = cuda.grid(1)
    if i < dz.size:
        dz[i] = grad_h_new[i] * (1 - h_new[i] * h_new[i])


def rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) as a device array (N, H)."""
    h_proxy = host_proxy(h)
    n_hidden = h.shape[1] if len(getattr(h, "shape", ())) == 2 else -1
    check_rnn_inputs("rnn_tanh_cell_forward", host_proxy(x), h_proxy, host_proxy(w_ih), host_proxy(w_hh),
                     [("b_ih", host_proxy(b_ih), (n_hidden,)), ("b_hh", host_proxy(b_hh), (n_hidden,))])
    require_cuda()
    n_batch = x.shape[0]
    h_new = empty((n_batch, n_hidden), x.dtype)
    if h_new.size:
        x_d, h_d = as_contiguous_device(x), as_contiguous_device(h)
        b_ih_d = as_contiguous_device(b_ih) if b_ih is not None else h_new  # stand-ins are never read
        b_hh_d = as_contiguous_device(b_hh) if b_hh is not None else h_new
        grid = ((n_hidden + SIDE - 1) // SIDE, (n_batch + SIDE - 1) // SIDE)
        _rnn_forward_kernel[grid, (SIDE, SIDE)](x_d, h_d, as_contiguous_device(w_ih), as_contiguous_device(w_hh),
                                                b_ih_d, b_hh_d, b_ih is not None, b_hh is not None, True, h_new)
    return h_new


def rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, grad_h_new):
    """(grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias) device arrays; grad_bias serves both b_ih and b_hh."""
    shape = tuple(h.shape) if hasattr(h, "shape") else None
    check_rnn_inputs("rnn_tanh_cell_backward", host_proxy(x), host_proxy(h), host_proxy(w_ih), host_proxy(w_hh),
                     [("h_new", host_proxy(h_new), shape), ("grad_h_new", host_proxy(grad_h_new), shape)])
    require_cuda()
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    dz = empty((n_batch, n_hidden), x.dtype)
    if dz.size:
        _tanh_grad_kernel[launch_config(dz.size, THREADS)](
            as_contiguous_device(h_new).reshape(dz.size), as_contiguous_device(grad_h_new).reshape(dz.size),
            dz.reshape(dz.size))
    dz3 = dz.reshape(1, n_batch, n_hidden)  # (1, N, H): the GEMM is batched
    x3 = as_contiguous_device(x).reshape(1, n_batch, n_in)
    h3 = as_contiguous_device(h).reshape(1, n_batch, n_hidden)
    grad_x = gemm(dz3, as_contiguous_device(w_ih).reshape(1, n_hidden, n_in)).reshape(n_batch, n_in)
    grad_h = gemm(dz3, as_contiguous_device(w_hh).reshape(1, n_hidden, n_hidden)).reshape(n_batch, n_hidden)
    grad_w_ih = gemm(dz3, x3, trans_a=True).reshape(n_hidden, n_in)  # dzᵀ x
    grad_w_hh = gemm(dz3, h3, trans_a=True).reshape(n_hidden, n_hidden)  # dzᵀ h
    grad_bias = sum_axis(dz, 0)
    return grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias


# ----- LSTM and GRU ---------------------------------------------------------------------------------------------
# Forward: the tanh cell's plan with G dot products per thread. Thread (n, j) computes the pre-activations of
# unit j in every gate block (4 for the LSTM, 4 for the GRU, whose n gate keeps W_in x and W_hn h apart), the
# activations and the new state, in one launch: the gates never go to memory before they are final.
# Backward: one elementwise launch gives the pre-activation gradients dz, then the tiled GEMMs of
# kernels/cuda/gemm.py (dz W, dzᵀ x, dzᵀ h) and one column sum per bias.


@cuda.jit(device=True)
def _sigmoid(z):
    """σ(z) through e = exp(-|z|) ≤ 1, so no exp overflows."""
    e = math.exp(-abs(z))
    s = 1 / (1 + e)
    return s if z >= 0 else e * s


@cuda.jit
def _lstm_forward_kernel(x, h, c, w_ih, w_hh, b_ih, b_hh, has_b_ih, has_b_hh, h_new, c_new, gates):
    """Thread (n, j): the four gates of unit j for batch row n, then c'[n, j] and h'[n, j]."""
    j, n = cuda.grid(2)  # x of the grid -> hidden unit j, y -> batch row n
    n_hidden = h_new.shape[1]
    if n >= h_new.shape[0] or j >= n_hidden:
        return
    z_i = h[n, 0] * 0  # zeros of the data's dtype (h has a column: this thread's j exists)
    z_f = z_i
    z_g = z_i
    z_o = z_i
    for i in range(x.shape[1]):
        value = x[n, i]
        z_i += value * w_ih[j, i]
        z_f += value * w_ih[n_hidden + j, i]
        z_g += value * w_ih[2 * n_hidden + j, i]
        z_o += value * w_ih[3 * n_hidden + j, i]
    for k in range(n_hidden):
        value = h[n, k]
        z_i += value * w_hh[j, k]
        z_f += value * w_hh[n_hidden + j, k]
        z_g += value * w_hh[2 * n_hidden + j, k]
        z_o += value * w_hh[3 * n_hidden + j, k]
    if has_b_ih:
        z_i += b_ih[j]
        z_f += b_ih[n_hidden + j]
        z_g += b_ih[2 * n_hidden + j]
        z_o += b_ih[3 * n_hidden + j]
    if has_b_hh:
        z_i += b_hh[j]
        z_f += b_hh[n_hidden + j]
        z_g += b_hh[2 * n_hidden + j]
        z_o += b_hh[3 * n_hidden + j]
    gate_i = _sigmoid(z_i)
    gate_f = _sigmoid(z_f)
    gate_g = math.tanh(z_g)
    gate_o = _sigmoid(z_o)
    cell = gate_f * c[n, j] + gate_i * gate_g
    c_new[n, j] = cell
    h_new[n, j] = gate_o * math.tanh(cell)
    gates[n, j] = gate_i
    gates[n, n_hidden + j] = gate_f
    gates[n, 2 * n_hidden + j] = gate_g
    gates[n, 3 * n_hidden + j] = gate_o


@cuda.jit
def _lstm_gate_grad_kernel(c, c_new, gates, grad_h_new, grad_c_new, dz, grad_c):
    """Thread (n, j): dz[n, (i f g o)·H + j] and grad_c[n, j] (see lstm_cell_backward in the reference)."""
    j, n = cuda.grid(2)
    n_hidden = c.shape[1]
    if n >= c.shape[0] or j >= n_hidden:
        return
    gate_i = gates[n, j]
    gate_f = gates[n, n_hidden + j]
    gate_g = gates[n, 2 * n_hidden + j]
    gate_o = gates[n, 3 * n_hidden + j]
    t = math.tanh(c_new[n, j])
    d_h = grad_h_new[n, j]
    d_c = grad_c_new[n, j] + d_h * gate_o * (1 - t * t)
    grad_c[n, j] = d_c * gate_f
    dz[n, j] = d_c * gate_g * gate_i * (1 - gate_i)
    dz[n, n_hidden + j] = d_c * c[n, j] * gate_f * (1 - gate_f)
    dz[n, 2 * n_hidden + j] = d_c * gate_i * (1 - gate_g * gate_g)
    dz[n, 3 * n_hidden + j] = d_h * t * gate_o * (1 - gate_o)


@cuda.jit
def _gru_forward_kernel(x, h, w_ih, w_hh, b_ih, b_hh, has_b_ih, has_b_hh, h_new, gates):
    """Thread (n, j): r, z, n of unit j for batch row n, then h'[n, j]; gates[n, 3H + j] keeps W_hn h + b_hn."""
    j, n = cuda.grid(2)
    n_hidden = h_new.shape[1]
    if n >= h_new.shape[0] or j >= n_hidden:
        return
    z_r = h[n, 0] * 0
    z_z = z_r
    x_n = z_r  # W_in x + b_in
    h_n = z_r  # W_hn h + b_hn: the part the reset gate scales
    for i in range(x.shape[1]):
        value = x[n, i]
        z_r += value * w_ih[j, i]
        z_z += value * w_ih[n_hidden + j, i]
        x_n += value * w_ih[2 * n_hidden + j, i]
    for k in range(n_hidden):
        value = h[n, k]
        z_r += value * w_hh[j, k]
        z_z += value * w_hh[n_hidden + j, k]
        h_n += value * w_hh[2 * n_hidden + j, k]
    if has_b_ih:
        z_r += b_ih[j]
        z_z += b_ih[n_hidden + j]
        x_n += b_ih[2 * n_hidden + j]
    if has_b_hh:
        z_r += b_hh[j]
        z_z += b_hh[n_hidden + j]
        h_n += b_hh[2 * n_hidden + j]
    gate_r = _sigmoid(z_r)
    gate_z = _sigmoid(z_z)
    candidate = math.tanh(x_n + gate_r * h_n)
    h_new[n, j] = (1 - gate_z) * candidate + gate_z * h[n, j]
    gates[n, j] = gate_r
    gates[n, n_hidden + j] = gate_z
    gates[n, 2 * n_hidden + j] = candidate
    gates[n, 3 * n_hidden + j] = h_n


@cuda.jit
def _gru_gate_grad_kernel(h, gates, grad_h_new, d_gi, d_gh, grad_h_direct):
    """Thread (n, j): d_gi = [dr dz dn], d_gh = [dr dz dn·r] at unit j, and the direct term g·z of grad_h."""
    j, n = cuda.grid(2)
    n_hidden = h.shape[1]
    if n >= h.shape[0] or j >= n_hidden:
        return
    gate_r = gates[n, j]
    gate_z = gates[n, n_hidden + j]
    candidate = gates[n, 2 * n_hidden + j]
    h_n = gates[n, 3 * n_hidden + j]
    g = grad_h_new[n, j]
    d_n = g * (1 - gate_z) * (1 - candidate * candidate)
    d_r = d_n * h_n * gate_r * (1 - gate_r)
    d_z = g * (h[n, j] - candidate) * gate_z * (1 - gate_z)
    d_gi[n, j] = d_r
    d_gi[n, n_hidden + j] = d_z
    d_gi[n, 2 * n_hidden + j] = d_n
    d_gh[n, j] = d_r
    d_gh[n, n_hidden + j] = d_z
    d_gh[n, 2 * n_hidden + j] = d_n * gate_r
    grad_h_direct[n, j] = g * gate_z


@cuda.jit
def _add_kernel(out, addend):
    """out += addend, one thread per element of the flat arrays."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] += addend[i]


def _grid(n_batch, n_hidden):
    """(grid, block) covering (hidden unit j, batch row n) with blocks of up to SIDE x SIDE threads: no larger than
    the problem, so a tiny cell launches a few threads, not 256 (that is what the CUDA simulator pays for)."""
    block = (min(SIDE, n_hidden), min(SIDE, n_batch))
    return ((n_hidden + block[0] - 1) // block[0], (n_batch + block[1] - 1) // block[1]), block


def _bias_args(b_ih, b_hh, stand_in):
    """(b_ih, b_hh, has_b_ih, has_b_hh) for a launch; a missing bias is replaced by a stand-in never read."""
    return (as_contiguous_device(b_ih) if b_ih is not None else stand_in,
            as_contiguous_device(b_hh) if b_hh is not None else stand_in, b_ih is not None, b_hh is not None)


def _weight_gradients(dz, x, h, w_ih, w_hh):
    """(grad_x, grad_h, grad_w_ih, grad_w_hh) = (dz W_ih, dz W_hh, dzᵀ x, dzᵀ h) for dz (N, G·H): tiled GEMMs."""
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    rows = dz.shape[1]
    dz3 = dz.reshape(1, n_batch, rows)  # (1, N, G·H): the GEMM is batched
    x3 = as_contiguous_device(x).reshape(1, n_batch, n_in)
    h3 = as_contiguous_device(h).reshape(1, n_batch, n_hidden)
    grad_x = gemm(dz3, as_contiguous_device(w_ih).reshape(1, rows, n_in)).reshape(n_batch, n_in)
    grad_h = gemm(dz3, as_contiguous_device(w_hh).reshape(1, rows, n_hidden)).reshape(n_batch, n_hidden)
    grad_w_ih = gemm(dz3, x3, trans_a=True).reshape(rows, n_in)  # dzᵀ x
    grad_w_hh = gemm(dz3, h3, trans_a=True).reshape(rows, n_hidden)  # dzᵀ h
    return grad_x, grad_h, grad_w_ih, grad_w_hh


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """(h_new, c_new, gates) as device arrays (N, H), (N, H), (N, 4H); gates = the activated [i | f | g | o]."""
    n_hidden = h.shape[1] if len(getattr(h, "shape", ())) == 2 else -1
    shape = tuple(h.shape) if hasattr(h, "shape") else None
    check_rnn_inputs("lstm_cell_forward", host_proxy(x), host_proxy(h), host_proxy(w_ih), host_proxy(w_hh),
                     [("c", host_proxy(c), shape), ("b_ih", host_proxy(b_ih), (4 * n_hidden,)),
                      ("b_hh", host_proxy(b_hh), (4 * n_hidden,))], gates=4)
    if c is None:
        raise TypeError("lstm_cell_forward: c must be a numpy.ndarray, got NoneType")
    require_cuda()
    n_batch = x.shape[0]
    h_new = empty((n_batch, n_hidden), x.dtype)
    c_new = empty((n_batch, n_hidden), x.dtype)
    gates = empty((n_batch, 4 * n_hidden), x.dtype)
    if h_new.size:
        grid, block = _grid(n_batch, n_hidden)
        _lstm_forward_kernel[grid, block](as_contiguous_device(x), as_contiguous_device(h), as_contiguous_device(c),
                                          as_contiguous_device(w_ih), as_contiguous_device(w_hh),
                                          *_bias_args(b_ih, b_hh, h_new), h_new, c_new, gates)
    return h_new, c_new, gates


def lstm_cell_backward(x, h, c, w_ih, w_hh, c_new, gates, grad_h_new, grad_c_new):
    """(grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, grad_bias) device arrays; grad_bias serves both biases."""
    shape = tuple(h.shape) if hasattr(h, "shape") else None
    gates_shape = (shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_rnn_inputs("lstm_cell_backward", host_proxy(x), host_proxy(h), host_proxy(w_ih), host_proxy(w_hh),
                     [("c", host_proxy(c), shape), ("c_new", host_proxy(c_new), shape),
                      ("gates", host_proxy(gates), gates_shape), ("grad_h_new", host_proxy(grad_h_new), shape),
                      ("grad_c_new", host_proxy(grad_c_new), shape)], gates=4)
    require_cuda()
    n_batch, n_hidden = h.shape
    dz = empty((n_batch, 4 * n_hidden), x.dtype)
    grad_c = empty((n_batch, n_hidden), x.dtype)
    if grad_c.size:
        grid, block = _grid(n_batch, n_hidden)
        _lstm_gate_grad_kernel[grid, block](as_contiguous_device(c), as_contiguous_device(c_new),
                                            as_contiguous_device(gates), as_contiguous_device(grad_h_new),
                                            as_contiguous_device(grad_c_new), dz, grad_c)
    grad_x, grad_h, grad_w_ih, grad_w_hh = _weight_gradients(dz, x, h, w_ih, w_hh)
    return grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, sum_axis(dz, 0)


def gru_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """(h_new, gates) as device arrays (N, H), (N, 4H); gates = [r | z | n | W_hn h + b_hn]."""
    n_hidden = h.shape[1] if len(getattr(h, "shape", ())) == 2 else -1
    check_rnn_inputs("gru_cell_forward", host_proxy(x), host_proxy(h), host_proxy(w_ih), host_proxy(w_hh),
                     [("b_ih", host_proxy(b_ih), (3 * n_hidden,)), ("b_hh", host_proxy(b_hh), (3 * n_hidden,))],
                     gates=3)
    require_cuda()
    n_batch = x.shape[0]
    h_new = empty((n_batch, n_hidden), x.dtype)
    gates = empty((n_batch, 4 * n_hidden), x.dtype)
    if h_new.size:
        grid, block = _grid(n_batch, n_hidden)
        _gru_forward_kernel[grid, block](as_contiguous_device(x), as_contiguous_device(h), as_contiguous_device(w_ih),
                                         as_contiguous_device(w_hh), *_bias_args(b_ih, b_hh, h_new), h_new, gates)
    return h_new, gates


def gru_cell_backward(x, h, w_ih, w_hh, gates, grad_h_new):
    """(grad_x, grad_h, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh) device arrays."""
    shape = tuple(h.shape) if hasattr(h, "shape") else None
    gates_shape = (shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_rnn_inputs("gru_cell_backward", host_proxy(x), host_proxy(h), host_proxy(w_ih), host_proxy(w_hh),
                     [("gates", host_proxy(gates), gates_shape), ("grad_h_new", host_proxy(grad_h_new), shape)],
                     gates=3)
    require_cuda()
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    d_gi = empty((n_batch, 3 * n_hidden), x.dtype)
    d_gh = empty((n_batch, 3 * n_hidden), x.dtype)
    grad_h_direct = empty((n_batch, n_hidden), x.dtype)
    if grad_h_direct.size:
        grid, block = _grid(n_batch, n_hidden)
        _gru_gate_grad_kernel[grid, block](as_contiguous_device(h), as_contiguous_device(gates),
                                           as_contiguous_device(grad_h_new), d_gi, d_gh, grad_h_direct)
    d_gi3 = d_gi.reshape(1, n_batch, 3 * n_hidden)  # (1, N, 3H)
    d_gh3 = d_gh.reshape(1, n_batch, 3 * n_hidden)
    grad_x = gemm(d_gi3, as_contiguous_device(w_ih).reshape(1, 3 * n_hidden, n_in)).reshape(n_batch, n_in)
    grad_h = gemm(d_gh3, as_contiguous_device(w_hh).reshape(1, 3 * n_hidden, n_hidden)).reshape(n_batch, n_hidden)
    if grad_h.size:
        _add_kernel[launch_config(grad_h.size, THREADS)](grad_h.reshape(grad_h.size),
                                                         grad_h_direct.reshape(grad_h.size))
    x3 = as_contiguous_device(x).reshape(1, n_batch, n_in)
    h3 = as_contiguous_device(h).reshape(1, n_batch, n_hidden)
    grad_w_ih = gemm(d_gi3, x3, trans_a=True).reshape(3 * n_hidden, n_in)  # d_giᵀ x
    grad_w_hh = gemm(d_gh3, h3, trans_a=True).reshape(3 * n_hidden, n_hidden)  # d_ghᵀ h
    return grad_x, grad_h, grad_w_ih, grad_w_hh, sum_axis(d_gi, 0), sum_axis(d_gh, 0)


# ----- whole sequences: one call per layer and direction --------------------------------------------------------
# Composed from the cell kernels above: each step's forward is the fused cell launch on slices of one (T, N, ·)
# output; the backward runs the cells' gate-gradient launches step by step (newest first), carrying the gradient
# at h back with one GEMM per step (dz W_hh), then forms grad_x and the weight gradients as GEMMs over all T·N rows
# at once (dZ W_ih, dZᵀ X, dZᵀ H_prev), as kernels/reference/rnn.py.
from kernels.cuda._device import zeros  # noqa: E402 -- this section's own imports
from kernels.reference.rnn import (  # noqa: E402
    check_nonlinearity, check_rnn_sequence_backward_inputs, check_sequence_inputs)


def _sequence_order(steps, reverse):
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _device_copy(source):
    """A new contiguous device array holding the values of the contiguous device array `source`."""
    out = empty(source.shape, source.dtype)
    if out.size:
        out.copy_to_device(source)
    return out


def _add_into(out, addend):
    """out += addend for contiguous device arrays of one shape."""
    if out.size:
        _add_kernel[launch_config(out.size, THREADS)](out.reshape(out.size), addend.reshape(out.size))


def _previous_states_device(hs, h0, reverse):
    """H_prev (T·N, H): row block t holds the h that step t started from (h0 at the first step visited)."""
    steps, n_batch, n_hidden = hs.shape
    previous = empty((steps, n_batch, n_hidden), hs.dtype)
    for t in range(steps):
        first = t == (steps - 1 if reverse else 0)
        if n_batch * n_hidden:
            previous[t].copy_to_device(h0 if first else hs[t + 1 if reverse else t - 1])
    return previous.reshape(steps * n_batch, n_hidden)


def _sequence_gradients(x, previous, w_ih, d_gi, d_gh, need_grad_x):
    """(grad_x (T, N, I) or None, grad_w_ih, grad_w_hh) = (dGI W_ih, dGIᵀ X, dGHᵀ H_prev): GEMMs over all T·N rows."""
    steps, n_batch, n_in = x.shape
    rows, gate_rows = steps * n_batch, d_gi.shape[2]
    d_gi3 = d_gi.reshape(1, rows, gate_rows)  # (1, T·N, G·H): the GEMM is batched
    d_gh3 = d_gh.reshape(1, rows, gate_rows)
    x3 = as_contiguous_device(x).reshape(1, rows, n_in)
    grad_x = None
    if need_grad_x:
        grad_x = gemm(d_gi3, as_contiguous_device(w_ih).reshape(1, gate_rows, n_in)).reshape(steps, n_batch, n_in)
    grad_w_ih = gemm(d_gi3, x3, trans_a=True).reshape(gate_rows, n_in)  # dGIᵀ X
    grad_w_hh = gemm(d_gh3, previous.reshape(1, rows, previous.shape[1]), trans_a=True).reshape(
        gate_rows, previous.shape[1])  # dGHᵀ H_prev
    return grad_x, grad_w_ih, grad_w_hh


@cuda.jit
def _rnn_activation_grad_kernel(hs, grad_hs, carried, has_carried, use_tanh, dz):
    """dz = act'(g), g = grad_hs + carried (when has_carried): g (1 - h²) for tanh, g where h > 0 for relu; one
    thread per element of the flat arrays."""
    i = cuda.grid(1)
    if i < dz.size:
        g = grad_hs[i] + carried[i] if has_carried else grad_hs[i]
        h = hs[i]
        if use_tanh:
            dz[i] = g * (1 - h * h)
        else:
            dz[i] = 0 if h <= 0 else g


def rnn_sequence_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, nonlinearity="tanh"):
    """hs (T, N, H) as a device array, one fused cell launch per step t (in the direction's order), each thread
    (n, j) computing h[n, j] = act(x[t, n] · w_ih[j] + h_prev[n] · w_hh[j] + b_ih[j] + b_hh[j])."""
    n_hidden = h0.shape[1] if len(getattr(h0, "shape", ())) == 2 else -1
    check_sequence_inputs("rnn_sequence_forward", host_proxy(x), host_proxy(h0), host_proxy(w_ih), host_proxy(w_hh),
                          [("b_ih", host_proxy(b_ih), (n_hidden,)), ("b_hh", host_proxy(b_hh), (n_hidden,))])
    check_nonlinearity("rnn_sequence_forward", nonlinearity)
    require_cuda()
    steps, n_batch, _ = x.shape
    hs = empty((steps, n_batch, n_hidden), x.dtype)
    if hs.size == 0:
        return hs
    x_d, w_ih_d, w_hh_d = as_contiguous_device(x), as_contiguous_device(w_ih), as_contiguous_device(w_hh)
    h = as_contiguous_device(h0)
    grid, block = _grid(n_batch, n_hidden)
    biases = _bias_args(b_ih, b_hh, hs)
    for t in _sequence_order(steps, reverse):
        _rnn_forward_kernel[grid, block](x_d[t], h, w_ih_d, w_hh_d, *biases, nonlinearity == "tanh", hs[t])
        h = hs[t]
    return hs


def rnn_sequence_backward(x, h0, w_ih, w_hh, hs, grad_hs, reverse=False, need_grad_x=True, nonlinearity="tanh"):
    """(grad_x (T, N, I) or None, grad_h0, grad_w_ih, grad_w_hh, grad_bias) as device arrays:

        for t newest first:  dz[t] = act'(grad_hs[t] + g);  g = dz[t] W_hh        (one launch, one GEMM)
        grad_x = dZ W_ih;  grad_w_ih = dZᵀ X;  grad_w_hh = dZᵀ H_prev;  grad_bias = Σ dZ     (T·N rows at once)
    """
    check_rnn_sequence_backward_inputs("rnn_sequence_backward", *map(host_proxy, (x, h0, w_ih, w_hh, hs, grad_hs)),
                                       nonlinearity)
    require_cuda()
    steps, n_batch, _ = x.shape
    n_hidden = h0.shape[1]
    hs, h0 = as_contiguous_device(hs), as_contiguous_device(h0)
    grad_hs, w_hh_d = as_contiguous_device(grad_hs), as_contiguous_device(w_hh)
    dz = empty((steps, n_batch, n_hidden), x.dtype)
    grad_h = None  # what flows back from the step after (nothing yet)
    size = n_batch * n_hidden
    order = list(_sequence_order(steps, reverse))
    for index in range(steps - 1, -1, -1):  # newest first
        t = order[index]
        if size:
            carried = grad_h if grad_h is not None else grad_hs[t]  # a stand-in, never read, at the newest step
            _rnn_activation_grad_kernel[launch_config(size, THREADS)](
                hs[t].reshape(size), grad_hs[t].reshape(size), carried.reshape(size), grad_h is not None,
                nonlinearity == "tanh", dz[t].reshape(size))
        grad_h = gemm(dz[t].reshape(1, n_batch, n_hidden),
                      w_hh_d.reshape(1, n_hidden, n_hidden)).reshape(n_batch, n_hidden)  # dz W_hh
    if grad_h is None:  # no steps: nothing flows back to the initial state
        grad_h = zeros((n_batch, n_hidden), x.dtype)
    previous = _previous_states_device(hs, h0, reverse)
    grad_x, grad_w_ih, grad_w_hh = _sequence_gradients(x, previous, w_ih, dz, dz, need_grad_x)
    return grad_x, grad_h, grad_w_ih, grad_w_hh, sum_axis(dz.reshape(steps * n_batch, n_hidden), 0)


def lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """(states (2, T, N, H) = [hs ; cs], gates (T, N, 4H)) as device arrays, one fused cell launch per step t (in
    the direction's order), each thread (n, j) computing

        [i f g o] = σ σ tanh σ(x[t] W_ihᵀ + b_ih + h W_hhᵀ + b_hh);  c = f c + i g;  h = o tanh(c)
    """
    n_hidden = h0.shape[1] if len(getattr(h0, "shape", ())) == 2 else -1
    shape = tuple(h0.shape) if hasattr(h0, "shape") else None
    check_sequence_inputs("lstm_sequence_forward", host_proxy(x), host_proxy(h0), host_proxy(w_ih), host_proxy(w_hh),
                          [("c0", host_proxy(c0), shape), ("b_ih", host_proxy(b_ih), (4 * n_hidden,)),
                           ("b_hh", host_proxy(b_hh), (4 * n_hidden,))], gates=4)
    if c0 is None:
        raise TypeError("lstm_sequence_forward: c0 must be a numpy.ndarray, got NoneType")
    require_cuda()
    steps, n_batch, _ = x.shape
    states = empty((2, steps, n_batch, n_hidden), x.dtype)
    gates = empty((steps, n_batch, 4 * n_hidden), x.dtype)
    if states.size == 0:
        return states, gates
    x_d, w_ih_d, w_hh_d = as_contiguous_device(x), as_contiguous_device(w_ih), as_contiguous_device(w_hh)
    h, c = as_contiguous_device(h0), as_contiguous_device(c0)
    grid, block = _grid(n_batch, n_hidden)
    biases = _bias_args(b_ih, b_hh, states)
    for t in _sequence_order(steps, reverse):
        _lstm_forward_kernel[grid, block](x_d[t], h, c, w_ih_d, w_hh_d, *biases, states[0, t], states[1, t], gates[t])
        h, c = states[0, t], states[1, t]
    return states, gates


def lstm_sequence_backward(x, h0, c0, w_ih, w_hh, states, gates, grad_states, reverse=False, need_grad_x=True):
    """(grad_x (T, N, I) or None, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_bias) as device arrays:

        for t newest first:  g_h += grad_states[0, t];  g_c += grad_states[1, t]
            dc = g_c + g_h o (1 - tanh²c);  dz[t] = [dc g i(1-i) | dc c_prev f(1-f) | dc i (1-g²) | g_h tanh(c) o(1-o)]
            g_c = dc f;  g_h = dz[t] W_hh                                   (the gate launch, then one GEMM)
        grad_x = dZ W_ih;  grad_w_ih = dZᵀ X;  grad_w_hh = dZᵀ H_prev;  grad_bias = Σ dZ     (T·N rows at once)
    """
    shape = tuple(h0.shape) if hasattr(h0, "shape") else None
    steps = x.shape[0] if len(getattr(x, "shape", ())) == 3 else -1
    state_shape = (2, steps) + shape if shape is not None else None
    gates_shape = (steps, shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_sequence_inputs("lstm_sequence_backward", host_proxy(x), host_proxy(h0), host_proxy(w_ih),
                          host_proxy(w_hh), [("c0", host_proxy(c0), shape), ("states", host_proxy(states), state_shape),
                                             ("gates", host_proxy(gates), gates_shape),
                                             ("grad_states", host_proxy(grad_states), state_shape)], gates=4)
    require_cuda()
    steps, n_batch, _ = x.shape
    n_hidden = h0.shape[1]
    states, gates = as_contiguous_device(states), as_contiguous_device(gates)
    grad_states, w_hh_d = as_contiguous_device(grad_states), as_contiguous_device(w_hh)
    c0 = as_contiguous_device(c0)
    dz = empty((steps, n_batch, 4 * n_hidden), x.dtype)
    grad_h = grad_c = None  # what flows back from the step after (nothing yet)
    grid, block = _grid(n_batch, n_hidden)
    order = list(_sequence_order(steps, reverse))
    for index in range(steps - 1, -1, -1):  # newest first
        t = order[index]
        grad_h_new, grad_c_new = _device_copy(grad_states[0, t]), _device_copy(grad_states[1, t])
        if grad_h is not None:
            _add_into(grad_h_new, grad_h)
            _add_into(grad_c_new, grad_c)
        c_prev = c0 if index == 0 else states[1, order[index - 1]]
        grad_c = empty((n_batch, n_hidden), x.dtype)
        if grad_c.size:
            _lstm_gate_grad_kernel[grid, block](c_prev, states[1, t], gates[t], grad_h_new, grad_c_new, dz[t], grad_c)
        grad_h = gemm(dz[t].reshape(1, n_batch, 4 * n_hidden),
                      w_hh_d.reshape(1, 4 * n_hidden, n_hidden)).reshape(n_batch, n_hidden)  # dz W_hh
    if grad_h is None:  # no steps: nothing flows back to the initial state
        grad_h, grad_c = zeros((n_batch, n_hidden), x.dtype), zeros((n_batch, n_hidden), x.dtype)
    previous = _previous_states_device(states[0], as_contiguous_device(h0), reverse)
    grad_x, grad_w_ih, grad_w_hh = _sequence_gradients(x, previous, w_ih, dz, dz, need_grad_x)
    return grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, sum_axis(dz.reshape(steps * n_batch, 4 * n_hidden), 0)


def gru_sequence_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """(hs (T, N, H), gates (T, N, 4H) = [r | z | n | W_hn h + b_hn]) as device arrays, one fused cell launch per
    step t (in the direction's order), each thread (n, j) computing

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr);  z likewise;  n = tanh(x W_inᵀ + b_in + r (h W_hnᵀ + b_hn))
        h = (1 - z) n + z h
    """
    n_hidden = h0.shape[1] if len(getattr(h0, "shape", ())) == 2 else -1
    check_sequence_inputs("gru_sequence_forward", host_proxy(x), host_proxy(h0), host_proxy(w_ih), host_proxy(w_hh),
                          [("b_ih", host_proxy(b_ih), (3 * n_hidden,)), ("b_hh", host_proxy(b_hh), (3 * n_hidden,))],
                          gates=3)
    require_cuda()
    steps, n_batch, _ = x.shape
    hs = empty((steps, n_batch, n_hidden), x.dtype)
    gates = empty((steps, n_batch, 4 * n_hidden), x.dtype)
    if hs.size == 0:
        return hs, gates
    x_d, w_ih_d, w_hh_d = as_contiguous_device(x), as_contiguous_device(w_ih), as_contiguous_device(w_hh)
    h = as_contiguous_device(h0)
    grid, block = _grid(n_batch, n_hidden)
    biases = _bias_args(b_ih, b_hh, hs)
    for t in _sequence_order(steps, reverse):
        _gru_forward_kernel[grid, block](x_d[t], h, w_ih_d, w_hh_d, *biases, hs[t], gates[t])
        h = hs[t]
    return hs, gates


def gru_sequence_backward(x, h0, w_ih, w_hh, hs, gates, grad_hs, reverse=False, need_grad_x=True):
    """(grad_x (T, N, I) or None, grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh) as device arrays:

        for t newest first:  g += grad_hs[t];  dn = g (1-z)(1-n²);  dr = dn (W_hn h + b_hn) r(1-r)
            d_gi[t] = [dr | g (h_prev - n) z(1-z) | dn];  d_gh[t] = [dr | dz | dn r]   (the gate launch)
            g = d_gh[t] W_hh + g z                                                      (one GEMM, one add)
        grad_x = dGI W_ih;  grad_w_ih = dGIᵀ X;  grad_w_hh = dGHᵀ H_prev;  biases Σ dGI, Σ dGH  (T·N rows at once)
    """
    shape = tuple(h0.shape) if hasattr(h0, "shape") else None
    steps = x.shape[0] if len(getattr(x, "shape", ())) == 3 else -1
    hs_shape = (steps,) + shape if shape is not None else None
    gates_shape = (steps, shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_sequence_inputs("gru_sequence_backward", host_proxy(x), host_proxy(h0), host_proxy(w_ih), host_proxy(w_hh),
                          [("hs", host_proxy(hs), hs_shape), ("gates", host_proxy(gates), gates_shape),
                           ("grad_hs", host_proxy(grad_hs), hs_shape)], gates=3)
    require_cuda()
    steps, n_batch, _ = x.shape
    n_hidden = h0.shape[1]
    hs, gates, h0 = as_contiguous_device(hs), as_contiguous_device(gates), as_contiguous_device(h0)
    grad_hs, w_hh_d = as_contiguous_device(grad_hs), as_contiguous_device(w_hh)
    d_gi = empty((steps, n_batch, 3 * n_hidden), x.dtype)
    d_gh = empty((steps, n_batch, 3 * n_hidden), x.dtype)
    grad_h = None  # what flows back from the step after (nothing yet)
    grid, block = _grid(n_batch, n_hidden)
    order = list(_sequence_order(steps, reverse))
    for index in range(steps - 1, -1, -1):  # newest first
        t = order[index]
        grad_h_new = _device_copy(grad_hs[t])
        if grad_h is not None:
            _add_into(grad_h_new, grad_h)
        h_prev = h0 if index == 0 else hs[order[index - 1]]
        grad_h_direct = empty((n_batch, n_hidden), x.dtype)
        if grad_h_direct.size:
            _gru_gate_grad_kernel[grid, block](h_prev, gates[t], grad_h_new, d_gi[t], d_gh[t], grad_h_direct)
        grad_h = gemm(d_gh[t].reshape(1, n_batch, 3 * n_hidden),
                      w_hh_d.reshape(1, 3 * n_hidden, n_hidden)).reshape(n_batch, n_hidden)  # d_gh W_hh
        _add_into(grad_h, grad_h_direct)  # + g ∘ z
    if grad_h is None:  # no steps: nothing flows back to the initial state
        grad_h = zeros((n_batch, n_hidden), x.dtype)
    previous = _previous_states_device(hs, h0, reverse)
    grad_x, grad_w_ih, grad_w_hh = _sequence_gradients(x, previous, w_ih, d_gi, d_gh, need_grad_x)
    rows = steps * n_batch
    return (grad_x, grad_h, grad_w_ih, grad_w_hh, sum_axis(d_gi.reshape(rows, 3 * n_hidden), 0),
            sum_axis(d_gh.reshape(rows, 3 * n_hidden), 0))
