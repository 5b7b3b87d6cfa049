"""Layer normalisation over the last axis as Numba kernels: one pass per row, row statistics in float64.

Same interface as kernels/reference/norm.py. Shapes: x (R, D), weight / bias (D,) or None, mean / rstd (R,).
Why it is fast: `prange` over rows; a row (D ≤ a few thousand) stays in L1 for its 2–3 sweeps, and the sweeps are
contiguous, so they vectorise (`reassoc` lets the sums vectorise). The row sums are taken in float64 and rounded
once to x's dtype; the sweeps that write y and grad_x, and the weight/bias gradient sums, run in x's dtype, as
PyTorch's CPU kernels do: float64 column accumulators would convert every float32 element and halve the vector
lanes of the backward's second sweep. The weight/bias gradients are column sums over rows, which would race under a
row-parallel loop: each thread sums its own block of rows into a private partial row, and the few partial rows
are added at the end.
"""
import numpy as np
from numba import prange

from kernels.cpu.softmax import FASTMATH
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.norm import check_norm_inputs

# Elements R·D below which the wrappers call the serial variant (kernels/cpu/variants.py): below it the second
# thread saves a few µs at best, and on a busy machine a parallel launch can stall for milliseconds.
# Timings: docs/perf.md, "Kernel notes".
SERIAL_MAX_SIZE = 1 << 18

_GRAD_CHUNKS = 8  # row blocks for the weight/bias gradient partial sums (≥ threads, small enough to add up)


def _layer_norm_forward_body(x, weight, bias, has_weight, has_bias, eps, y, mean, rstd):
    """for r in prange(R):                                     x, y: (R, D); weight, bias: (D,) or (1,) dummies
           μ = Σ_d x[r, d] / D;  σ² = Σ_d (x[r, d] - μ)² / D;  rstd = 1/sqrt(σ² + eps)   (float64, then rounded)
           y[r, d] = (x[r, d] - μ)·rstd·w[d] + b[d]                                        (in x's dtype)

    y is computed from the rounded μ and rstd that backward reads, so both see the same x̂.
    """
    n_rows, n_features = x.shape
    for r in prange(n_rows):
        total = 0.0
        for d in range(n_features):
            total += x[r, d]
        row_mean = total / n_features
        squares = 0.0
        for d in range(n_features):
            centred = x[r, d] - row_mean
            squares += centred * centred
        mean[r] = row_mean
        rstd[r] = 1.0 / np.sqrt(squares / n_features + eps)
        rounded_mean = mean[r]
        rounded_rstd = rstd[r]
        if has_weight and has_bias:
            for d in range(n_features):
                y[r, d] = (x[r, d] - rounded_mean) * rounded_rstd * weight[d] + bias[d]
        elif has_weight:
            for d in range(n_features):
                y[r, d] = (x[r, d] - rounded_mean) * rounded_rstd * weight[d]
        elif has_bias:
            for d in range(n_features):
                y[r, d] = (x[r, d] - rounded_mean) * rounded_rstd + bias[d]
        else:
            for d in range(n_features):
                y[r, d] = (x[r, d] - rounded_mean) * rounded_rstd


_layer_norm_forward_serial, _layer_norm_forward_parallel = serial_and_parallel(
    _layer_norm_forward_body, fastmath=FASTMATH)


def _layer_norm_backward_body(grad_y, x, weight, has_weight, mean, rstd, grad_x, partial_w, partial_b):
    """for c in prange(chunks):  for r in rows of block c:           partial_w, partial_b: (chunks, D), x's dtype
           x̂ = (x[r] - μ_r)·rstd_r;  ĝ = g[r]·w
           grad_x[r] = rstd_r·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))        (the two means summed in float64)
           partial_w[c] += g[r]·x̂;  partial_b[c] += g[r]
    """
    n_rows, n_features = x.shape
    n_chunks = partial_w.shape[0]
    rows_per_chunk = (n_rows + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        for r in range(c * rows_per_chunk, min(n_rows, (c + 1) * rows_per_chunk)):
            row_mean = mean[r]
            row_rstd = rstd[r]
            sum_g = 0.0
            sum_gx = 0.0
            for d in range(n_features):
                g = grad_y[r, d] * weight[d] if has_weight else grad_y[r, d]
                x_hat = (x[r, d] - row_mean) * row_rstd
                sum_g += g
                sum_gx += g * x_hat
            mean_g = rstd.dtype.type(sum_g / n_features)
            mean_gx = rstd.dtype.type(sum_gx / n_features)
            if has_weight:
                for d in range(n_features):
                    x_hat = (x[r, d] - row_mean) * row_rstd
                    grad_x[r, d] = row_rstd * (grad_y[r, d] * weight[d] - mean_g - x_hat * mean_gx)
                    partial_w[c, d] += grad_y[r, d] * x_hat
                    partial_b[c, d] += grad_y[r, d]
            else:
                for d in range(n_features):
                    x_hat = (x[r, d] - row_mean) * row_rstd
                    grad_x[r, d] = row_rstd * (grad_y[r, d] - mean_g - x_hat * mean_gx)


_layer_norm_backward_serial, _layer_norm_backward_parallel = serial_and_parallel(
    _layer_norm_backward_body, fastmath=FASTMATH)


def layer_norm_forward(x, weight=None, bias=None, eps=1e-5):
    """x̂ = (x - μ)·rstd; y = x̂·w + b -> (y (R, D), mean (R,), rstd (R,))."""
    n_rows, n_features = (x.shape if isinstance(x, np.ndarray) and x.ndim == 2 else (0, 0))
    check_norm_inputs("layer_norm_forward", x, [("weight", weight, n_features), ("bias", bias, n_features)])
    dummy = np.ones(1, dtype=x.dtype)
    has_weight = weight is not None
    has_bias = bias is not None
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    mean = np.empty(n_rows, dtype=x.dtype)
    rstd = np.empty(n_rows, dtype=x.dtype)
    kernel = _layer_norm_forward_serial if x.size < SERIAL_MAX_SIZE else _layer_norm_forward_parallel
    kernel(x, np.ascontiguousarray(weight) if has_weight else dummy,
           np.ascontiguousarray(bias) if has_bias else dummy,
           has_weight, has_bias, float(eps), y, mean, rstd)
    return y, mean, rstd


def layer_norm_backward(grad_y, x, weight, mean, rstd):
    """gx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)), ĝ = g·w; gw = Σ_r g·x̂; gb = Σ_r g (None, None if no weight)."""
    n_rows, n_features = (x.shape if isinstance(x, np.ndarray) and x.ndim == 2 else (0, 0))
    check_norm_inputs("layer_norm_backward", x,
                      [("weight", weight, n_features), ("mean", mean, n_rows), ("rstd", rstd, n_rows)],
                      [("grad_y", grad_y)])
    has_weight = weight is not None
    x = np.ascontiguousarray(x)
    grad_x = np.empty_like(x)
    serial = x.size < SERIAL_MAX_SIZE
    if has_weight:  # one block of rows per thread, each summing its own partial row (a single one when serial)
        n_chunks = 1 if serial else max(1, min(_GRAD_CHUNKS, n_rows))
        partial_w = np.zeros((n_chunks, n_features), dtype=x.dtype)
        partial_b = np.zeros_like(partial_w)
    else:  # no column sums to take: one block per row keeps all threads busy
        partial_w = np.zeros((max(n_rows, 1), 1), dtype=x.dtype)
        partial_b = partial_w
    kernel = _layer_norm_backward_serial if serial else _layer_norm_backward_parallel
    kernel(np.ascontiguousarray(grad_y), x,
           np.ascontiguousarray(weight) if has_weight else np.ones(1, dtype=x.dtype),
           has_weight, np.ascontiguousarray(mean), np.ascontiguousarray(rstd), grad_x, partial_w, partial_b)
    if not has_weight:
        return grad_x, None, None
    if partial_w.shape[0] == 1:
        return grad_x, partial_w[0], partial_b[0]
    return grad_x, partial_w.sum(axis=0), partial_b.sum(axis=0)
