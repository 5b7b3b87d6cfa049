"""Layer normalisation over the last axis on the GPU: one thread block per row, block reductions.

Shapes: x (R, D), weight / bias (D,) or None; mean, rstd (R,).

Forward, grid = (R,), block = T threads, block r:
    μ = block_sum(Σ_{d = t, t+T, ...} x[r, d]) / D
    var = block_sum(Σ (x[r, d] - μ)²) / D          # two passes: exact for rows with a large mean
    rstd = 1 / sqrt(var + eps);  y[r, d] = (x[r, d] - μ) · rstd · w[d] + b[d]
Backward:
    per row block:     ĝ = g·w;  a = mean(ĝ), c = mean(ĝ·x̂) (two block sums);  gx = rstd (ĝ - a - x̂ c)
    per column thread: gw[d] = Σ_r g[r, d] x̂[r, d],  gb[d] = Σ_r g[r, d]  (threads along d: coalesced rows)

Why it is fast: one launch per direction reads a row into L1 once and re-reads it from there; the reductions
stay in shared memory; R rows (tokens) give thousands of independent blocks.
"""
import math

from numba import cuda

from kernels.cuda._device import (
    MAX_THREADS, as_contiguous_device, empty, host_proxy, launch_config, per_dtype, require_cuda, row_threads,
    zeros,
)
from kernels.cuda.device_functions import block_sum
from kernels.reference.norm import check_norm_inputs

THREADS = 128


@per_dtype
def _forward_kernel(dtype):

    @cuda.jit
    def layer_norm_forward_kernel(x, weight, bias, has_weight, has_bias, eps, y, mean, rstd):
        buffer = cuda.shared.array(MAX_THREADS, dtype)
        row = cuda.blockIdx.x
        t = cuda.threadIdx.x
        n_features = x.shape[1]
        local = dtype(0)
        for d in range(t, n_features, cuda.blockDim.x):
            local += x[row, d]
        row_mean = block_sum(buffer, local) / n_features
        local = dtype(0)
        for d in range(t, n_features, cuda.blockDim.x):
            centred = x[row, d] - row_mean
            local += centred * centred
        row_rstd = 1 / math.sqrt(block_sum(buffer, local) / n_features + eps)
        for d in range(t, n_features, cuda.blockDim.x):
            value = (x[row, d] - row_mean) * row_rstd
            if has_weight:
                value *= weight[d]
            if has_bias:
                value += bias[d]
            y[row, d] = value
        if t == 0:
            mean[row] = row_mean
            rstd[row] = row_rstd

    return layer_norm_forward_kernel


@per_dtype
def _backward_rows_kernel(dtype):

    @cuda.jit
    def layer_norm_backward_rows_kernel(grad_y, x, weight, has_weight, mean, rstd, grad_x):
        buffer = cuda.shared.array(MAX_THREADS, dtype)
        row = cuda.blockIdx.x
        t = cuda.threadIdx.x
        n_features = x.shape[1]
        row_mean = mean[row]
        row_rstd = rstd[row]
        local_g = dtype(0)
        local_gx = dtype(0)
        for d in range(t, n_features, cuda.blockDim.x):
            g_hat = grad_y[row, d] * weight[d] if has_weight else grad_y[row, d]
            local_g += g_hat
            local_gx += g_hat * (x[row, d] - row_mean) * row_rstd
        mean_g = block_sum(buffer, local_g) / n_features
        mean_gx = block_sum(buffer, local_gx) / n_features
        for d in range(t, n_features, cuda.blockDim.x):
            g_hat = grad_y[row, d] * weight[d] if has_weight else grad_y[row, d]
            x_hat = (x[row, d] - row_mean) * row_rstd
            grad_x[row, d] = row_rstd * (g_hat - mean_g - x_hat * mean_gx)

    return layer_norm_backward_rows_kernel


@cuda.jit
def _backward_columns_kernel(grad_y, x, mean, rstd, grad_weight, grad_bias):
    """gw[d] = Σ_r g[r, d] x̂[r, d], gb[d] = Σ_r g[r, d]: one thread per column d walks down the rows."""
    d = cuda.grid(1)
    if d >= x.shape[1]:
        return
    total_w = x[0, 0] * 0
    total_b = x[0, 0] * 0
    for row in range(x.shape[0]):
        total_w += grad_y[row, d] * (x[row, d] - mean[row]) * rstd[row]
        total_b += grad_y[row, d]
    grad_weight[d] = total_w
    grad_bias[d] = total_b


def layer_norm_forward(x, weight=None, bias=None, eps=1e-5):
    """(y, mean, rstd) device arrays; x̂ = (x - μ)·rstd, rstd = 1/sqrt(var + eps), y = x̂·w + b."""
    shape = tuple(x.shape) if hasattr(x, "shape") else ()
    n_rows, n_features = shape if len(shape) == 2 else (0, 0)
    check_norm_inputs("layer_norm_forward", host_proxy(x),
                      [("weight", host_proxy(weight), n_features), ("bias", host_proxy(bias), n_features)])
    require_cuda()
    y = empty((n_rows, n_features), x.dtype)
    mean = empty((n_rows,), x.dtype)
    rstd = empty((n_rows,), x.dtype)
    if n_rows:
        weight_d = as_contiguous_device(weight) if weight is not None else mean  # stand-ins are never read
        bias_d = as_contiguous_device(bias) if bias is not None else mean
        _forward_kernel(x.dtype)[n_rows, row_threads(n_features)](
            as_contiguous_device(x), weight_d, bias_d, weight is not None, bias is not None, float(eps), y, mean,
            rstd)
    return y, mean, rstd


def layer_norm_backward(grad_y, x, weight, mean, rstd):
    """(grad_x, grad_weight, grad_bias) device arrays; the last two are None when weight is None."""
    shape = tuple(x.shape) if hasattr(x, "shape") else ()
    n_rows, n_features = shape if len(shape) == 2 else (0, 0)
    check_norm_inputs("layer_norm_backward", host_proxy(x),
                      [("weight", host_proxy(weight), n_features), ("mean", host_proxy(mean), n_rows),
                       ("rstd", host_proxy(rstd), n_rows)],
                      [("grad_y", host_proxy(grad_y))])
    require_cuda()
    grad_y_d, x_d = as_contiguous_device(grad_y), as_contiguous_device(x)
    mean_d, rstd_d = as_contiguous_device(mean), as_contiguous_device(rstd)
    grad_x = empty((n_rows, n_features), x.dtype)
    weight_d = as_contiguous_device(weight) if weight is not None else mean_d  # stand-in, never read
    if n_rows:
        _backward_rows_kernel(x.dtype)[n_rows, row_threads(n_features)](
            grad_y_d, x_d, weight_d, weight is not None, mean_d, rstd_d, grad_x)
    if weight is None:
        return grad_x, None, None
    if not n_rows:  # no rows: the column sums are empty sums (and the kernel could not read x[0, 0] for its type)
        return grad_x, zeros((n_features,), x.dtype), zeros((n_features,), x.dtype)
    grad_weight = empty((n_features,), x.dtype)
    grad_bias = empty((n_features,), x.dtype)
    _backward_columns_kernel[launch_config(n_features, THREADS)](grad_y_d, x_d, mean_d, rstd_d, grad_weight,
                                                                       grad_bias)
    return grad_x, grad_weight, grad_bias
