"""One step of an Elman RNN with tanh on the GPU: a fused forward kernel, GEMMs for the backward.

Shapes: x (N, I), h (N, H), w_ih (H, I), w_hh (H, H), b_ih / b_hh (H,) or None  ->  h_new (N, H).

Forward, 2-D grid of 16 x 16 thread blocks, thread (n, j) -> one output:

    h_new[n, j] = tanh( Σ_i x[n, i] w_ih[j, i] + Σ_k h[n, k] w_hh[j, k] + b_ih[j] + b_hh[j] )

    both dot products, the biases and the tanh happen in one pass, so z never goes to memory. threadIdx.x runs
    along j, so a warp reads one x[n, :] row (a broadcast) and 16 rows of the weights. The recurrent matmuls of
    an RNN are small (H ~ 64..1024): one fused launch per step beats GEMM + bias + tanh launches there; for big
    H the tiled GEMM of kernels/cuda/matmul.py is the better engine.

Backward: dz = g (1 - h'²) (one thread per element), then four tiled GEMMs (grad_x = dz W_ih,
grad_h = dz W_hh, grad_w_ih = dzᵀ x, grad_w_hh = dzᵀ h, transposes read in place) and one column sum for grad_b.
"""
import math

from numba import cuda

from kernels.cuda._device import as_contiguous_device, empty, host_proxy, launch_config, require_cuda
from kernels.cuda.elementwise import sum_axis
from kernels.cuda.matmul import gemm
from kernels.reference.rnn import check_rnn_inputs

SIDE = 16  # forward blocks are SIDE x SIDE threads
THREADS = 128


@cuda.jit
def _rnn_tanh_forward_kernel(x, h, w_ih, w_hh, b_ih, b_hh, has_b_ih, has_b_hh, h_new):
    """h_new[n, j] = tanh(x[n] · w_ih[j] + h[n] · w_hh[j] + b_ih[j] + b_hh[j]), one thread per (n, j)."""
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
    h_new[n, j] = math.tanh(z)


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
        _rnn_tanh_forward_kernel[grid, (SIDE, SIDE)](x_d, h_d, as_contiguous_device(w_ih),
                                                    as_contiguous_device(w_hh), b_ih_d, b_hh_d,
                                                    b_ih is not None, b_hh is not None, h_new)
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
