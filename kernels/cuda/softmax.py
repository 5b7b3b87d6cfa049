"""Softmax, log-softmax and cross-entropy on the GPU: one thread block per row, block reductions in shared memory.

Same interface as kernels/reference/softmax.py (read that first: it is the math). The last axis is reduced;
leading dims are flattened to rows, so every kernel sees a C-contiguous (R, C) device array.

Thread/block mapping:

    grid = (R,)  block = (T,)   T = next power of two >= C, clamped to [32, 256]
    row = blockIdx.x
    m = block_max( max over c = t, t+T, t+2T, ... of x[row, c] )     # strided loop: coalesced, any C
    s = block_sum( sum over the same c of exp(x[row, c] - m) )
    y[row, c] = exp(x[row, c] - m) / s                              # (log-softmax: x - m - log s)

Why it is fast: a row is read 2-3 times but by one block, so the re-reads hit L1/L2, not DRAM; consecutive
threads read consecutive columns (coalesced); each reduction is log2(T) shared-memory rounds instead of a second
kernel launch. Rows are independent, so thousands of rows fill the GPU. (A row of a few hundred values would
rather be one *warp* per row with shuffle reductions; see device_functions.block_sum.)

Non-finite inputs give PyTorch's answers, as the reference does: -inf logits get probability 0; a row of all
-inf, or one holding +inf or NaN, is NaN throughout (block_max lets NaN win); the label-smoothing term is
skipped when ε = 0, so a -inf logit does not make the loss 0·(-inf) = NaN. Empty inputs give empty outputs.
"""
import math

import numpy as np
from numba import cuda

from kernels.cuda._device import (
    MAX_THREADS, as_contiguous_device, empty, host_proxy, is_device_array, per_dtype, require_cuda, row_threads,
)
from kernels.cuda.device_functions import block_max, block_sum
from kernels.reference.softmax import check_cross_entropy_inputs, check_float_array, check_float_pair


@per_dtype
def _forward_kernel(dtype):
    """softmax (log_mode=False) or log-softmax (log_mode=True) of every row."""

    @cuda.jit
    def forward(x, out, log_mode):
        buffer = cuda.shared.array(MAX_THREADS, dtype)  # one slot per thread for the tree reductions
        row = cuda.blockIdx.x
        t = cuda.threadIdx.x
        n_cols = x.shape[1]
        local_max = dtype(-math.inf)
        for c in range(t, n_cols, cuda.blockDim.x):  # thread t owns columns t, t+T, ...
            value = x[row, c]
            if value > local_max or value != value:
                local_max = value
        row_max = block_max(buffer, local_max)
        local_sum = dtype(0)
        for c in range(t, n_cols, cuda.blockDim.x):
            local_sum += math.exp(x[row, c] - row_max)
        total = block_sum(buffer, local_sum)
        if log_mode:
            log_total = math.log(total)
            for c in range(t, n_cols, cuda.blockDim.x):
                out[row, c] = x[row, c] - row_max - log_total
        else:
            for c in range(t, n_cols, cuda.blockDim.x):
                out[row, c] = math.exp(x[row, c] - row_max) / total

    return forward


@per_dtype
def _backward_kernel(dtype):
    """softmax backward gx = y (g - Σ g y), or log-softmax backward gx = g - exp(y) Σ g (log_mode)."""

    @cuda.jit
    def backward(y, grad_y, grad_x, log_mode):
        buffer = cuda.shared.array(MAX_THREADS, dtype)
        row = cuda.blockIdx.x
        t = cuda.threadIdx.x
        n_cols = y.shape[1]
        local = dtype(0)
        for c in range(t, n_cols, cuda.blockDim.x):
            local += grad_y[row, c] if log_mode else grad_y[row, c] * y[row, c]
        total = block_sum(buffer, local)
        for c in range(t, n_cols, cuda.blockDim.x):
            if log_mode:
                grad_x[row, c] = grad_y[row, c] - math.exp(y[row, c]) * total
            else:
                grad_x[row, c] = y[row, c] * (grad_y[row, c] - total)

    return backward


@per_dtype
def _cross_entropy_forward_kernel(dtype):
    """Per row: log_probs = log_softmax(logits); loss = -(1-ε) logp[t] - ε/C Σ logp (0 when t is ignored)."""

    @cuda.jit
    def cross_entropy_forward(logits, target, ignore_index, smoothing, loss, log_probs):
        buffer = cuda.shared.array(MAX_THREADS, dtype)
        row = cuda.blockIdx.x
        t = cuda.threadIdx.x
        n_cols = logits.shape[1]
        local_max = dtype(-math.inf)
        for c in range(t, n_cols, cuda.blockDim.x):
            value = logits[row, c]
            if value > local_max or value != value:
                local_max = value
        row_max = block_max(buffer, local_max)
        local_sum = dtype(0)
        for c in range(t, n_cols, cuda.blockDim.x):
            local_sum += math.exp(logits[row, c] - row_max)
        log_total = math.log(block_sum(buffer, local_sum))
        local_logp_sum = dtype(0)
        for c in range(t, n_cols, cuda.blockDim.x):
            logp = logits[row, c] - row_max - log_total
            log_probs[row, c] = logp
            local_logp_sum += logp
        logp_sum = block_sum(buffer, local_logp_sum)
        if t == 0:  # one thread writes the row's loss
            label = target[row]
            if label == ignore_index:
                loss[row] = 0
            elif label < 0 or label >= n_cols:  # a device target is not range-checked on the host: flag it
                loss[row] = math.nan
            else:
                picked = logits[row, label] - row_max - log_total
                value = -(1.0 - smoothing) * picked
                if smoothing > 0:  # only then: a -inf logit makes logp_sum -inf, and 0·(-inf) is NaN
                    value -= (smoothing / n_cols) * logp_sum
                loss[row] = value

    return cross_entropy_forward


@cuda.jit
def _cross_entropy_backward_kernel(log_probs, target, grad_loss, ignore_index, smoothing, grad_logits):
    """Per row (one block): grad = grad_loss · (exp(logp) - ε/C - (1-ε)·[c == t]); zero rows when ignored.
    No reduction is needed, so this kernel has no shared memory and compiles once for both dtypes."""
    row = cuda.blockIdx.x
    n_cols = log_probs.shape[1]
    label = target[row]
    scale = grad_loss[row] if label != ignore_index else 0.0
    for c in range(cuda.threadIdx.x, n_cols, cuda.blockDim.x):
        grad = math.exp(log_probs[row, c]) - smoothing / n_cols
        if c == label:
            grad -= 1.0 - smoothing
        grad_logits[row, c] = grad * scale


def _as_rows(x):
    """C-contiguous device (R, C) view of x: the last axis is the row."""
    device = as_contiguous_device(x)
    n_cols = tuple(x.shape)[-1]  # tuple(): the simulator's shape type has no negative indexing
    return device.reshape(device.size // n_cols, n_cols)


def _launch_rowwise(kernel, n_rows, n_cols, *args):
    if n_rows and n_cols:  # an empty input has nothing to compute (and its rows cannot be formed: C = 0)
        kernel[n_rows, row_threads(n_cols)](*args)


def softmax_forward(x):
    """y = exp(x - max) / Σ exp(x - max) over the last axis; returns a device array shaped like x."""
    check_float_array("softmax_forward", "x", host_proxy(x))
    require_cuda()
    if x.size == 0:
        return empty(x.shape, x.dtype)
    rows = _as_rows(x)
    out = empty(rows.shape, x.dtype)
    _launch_rowwise(_forward_kernel(x.dtype), rows.shape[0], rows.shape[1], rows, out, False)
    return out.reshape(x.shape)


def softmax_backward(y, grad_y):
    """gx = y * (g - Σ_c g·y) over the last axis; returns a device array."""
    check_float_pair("softmax_backward", "y", host_proxy(y), "grad_y", host_proxy(grad_y))
    require_cuda()
    if y.size == 0:
        return empty(y.shape, y.dtype)
    y_rows, g_rows = _as_rows(y), _as_rows(grad_y)
    out = empty(y_rows.shape, y.dtype)
    _launch_rowwise(_backward_kernel(y.dtype), y_rows.shape[0], y_rows.shape[1], y_rows, g_rows, out, False)
    return out.reshape(y.shape)


def log_softmax_forward(x):
    """y = (x - max) - log Σ exp(x - max) over the last axis; returns a device array."""
    check_float_array("log_softmax_forward", "x", host_proxy(x))
    require_cuda()
    if x.size == 0:
        return empty(x.shape, x.dtype)
    rows = _as_rows(x)
    out = empty(rows.shape, x.dtype)
    _launch_rowwise(_forward_kernel(x.dtype), rows.shape[0], rows.shape[1], rows, out, True)
    return out.reshape(x.shape)


def log_softmax_backward(y, grad_y):
    """gx = g - exp(y) Σ_c g over the last axis; returns a device array."""
    check_float_pair("log_softmax_backward", "y", host_proxy(y), "grad_y", host_proxy(grad_y))
    require_cuda()
    if y.size == 0:
        return empty(y.shape, y.dtype)
    y_rows, g_rows = _as_rows(y), _as_rows(grad_y)
    out = empty(y_rows.shape, y.dtype)
    _launch_rowwise(_backward_kernel(y.dtype), y_rows.shape[0], y_rows.shape[1], y_rows, g_rows, out, True)
    return out.reshape(y.shape)


def _checked_target(kernel, logits, target, ignore_index):
    """Validate the target. A host target is range-checked here; a device target is not copied back for that
    (it would be a device -> host transfer per step): an out-of-range class gives that row a NaN loss instead."""
    if is_device_array(target):
        check_cross_entropy_inputs(kernel, host_proxy(logits), host_proxy(target), ignore_index, check_range=False)
        return target
    return check_cross_entropy_inputs(kernel, host_proxy(logits), target, ignore_index)


def cross_entropy_forward(logits, target, ignore_index=-100, label_smoothing=0.0):
    """loss_i = -(1-ε)·logp[i, t_i] - (ε/C)·Σ_c logp[i, c] (0 if ignored) -> device (loss (N,), log_probs (N, C))."""
    target = _checked_target("cross_entropy_forward", logits, target, ignore_index)
    require_cuda()
    n_rows, n_classes = logits.shape
    if n_rows and not n_classes:  # (a host target was already refused as out of range; a device one is not read)
        raise ValueError(f"cross_entropy_forward: logits {tuple(logits.shape)} have no classes (C = 0)")
    logits_device = as_contiguous_device(logits)
    loss = empty((n_rows,), logits.dtype)
    log_probs = empty((n_rows, n_classes), logits.dtype)
    _launch_rowwise(_cross_entropy_forward_kernel(logits.dtype), n_rows, n_classes, logits_device,
                    as_contiguous_device(target), int(ignore_index), float(label_smoothing), loss, log_probs)
    return loss, log_probs


def cross_entropy_backward(log_probs, target, grad_loss, ignore_index=-100, label_smoothing=0.0):
    """grad_logits[i] = grad_loss_i · (softmax_i - (1-ε)·onehot(t_i) - ε/C); zero rows where t_i is ignored."""
    kernel = "cross_entropy_backward"
    target = _checked_target(kernel, log_probs, target, ignore_index)
    n_rows, n_classes = log_probs.shape
    check_float_array(kernel, "grad_loss", host_proxy(grad_loss))
    if grad_loss.shape != (n_rows,) or grad_loss.dtype != log_probs.dtype:
        raise ValueError(f"{kernel}: grad_loss {grad_loss.shape} {grad_loss.dtype} must be ({n_rows},) "
                         f"{log_probs.dtype}")
    require_cuda()
    grad_logits = empty((n_rows, n_classes), log_probs.dtype)
    _launch_rowwise(_cross_entropy_backward_kernel, n_rows, n_classes, as_contiguous_device(log_probs),
                    as_contiguous_device(target), as_contiguous_device(grad_loss), int(ignore_index),
                    float(label_smoothing), grad_logits)
    return grad_logits
