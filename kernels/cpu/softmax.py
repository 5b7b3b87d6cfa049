"""Softmax, log-softmax and cross-entropy as Numba kernels: one parallel pass per row, no temporaries.

Same interface as kernels/reference/softmax.py (read that first: it is the math). The last axis is reduced;
leading dims are flattened to rows, so every kernel sees a C-contiguous (R, C) array.

Why these are fast:
  * `prange` over rows: each row is independent, the two cores split the rows, and a row (≤ a few KiB) stays in L1
    across the 2–3 sweeps over it.
  * `exp_vectorizable` below replaces `np.exp`: this Numba has no SVML, so `np.exp` in a loop is a scalar libm
    call per element. Our exp is only multiplies, adds, a floor and a bit shift, so LLVM turns the row loop
    into AVX-512 code, several times faster than the np.exp loop for float32.
  * fastmath without `nnan`/`ninf` (so -inf logits and NaN still behave): `reassoc` lets the row sums
    vectorise, `contract` makes the polynomial fused multiply-adds.
Sums are accumulated in float64 for both dtypes. Set NUMBA_DISABLE_JIT=1 to step through a kernel as Python.

Non-finite inputs give PyTorch's answers, as the reference does: -inf logits get probability 0, a row of all
-inf or one holding +inf or NaN is NaN throughout (the NaN comes from -inf - -inf, inf - inf or the NaN itself
and spreads through the row sum), and the label-smoothing term is skipped when ε = 0 so a -inf logit does not
make the loss 0·(-inf) = NaN.
"""
import numpy as np
from numba import njit, prange

from kernels.cpu.variants import serial_and_parallel
from kernels.reference.softmax import check_cross_entropy_inputs, check_float_array, check_float_pair
from kernels.reference.softmax import raise_bad_target

# Elements R·C below which the wrappers call the serial variant (kernels/cpu/variants.py): below it the second
# thread saves a few µs at best, and on a busy machine a parallel launch can stall for milliseconds. The backward
# kernels are cheaper but share the cut-over: one number per family. Timings: docs/perf.md, "Kernel notes".
SERIAL_MAX_SIZE = 1 << 16

# Every fast-math flag except nnan / ninf: those would let LLVM assume no -inf logits and no NaN.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (fdlibm): n·_LN2_HI is exact for |n| < 2048
_LN2_LO = 1.90821492927058770002e-10


@njit(inline="always", fastmath=FASTMATH)
def exp_vectorizable(x):
    """exp(x) for a float64 x, written so that a loop calling it vectorises (no libm call).

        n = round(x / ln2);  r = x - n·ln2  (|r| ≤ ln2/2)
        exp(x) = 2^n · exp(r),  exp(r) by its Taylor series to r^13 (error < 1e-17 on |r| ≤ 0.35),
        2^n built directly as the float64 bit pattern (n + 1023) << 52.
    Below -708 the result is 0 (exact for -inf; exp(-708) ≈ 3e-308 anyway), above 709 it saturates at
    exp(709). NaN stays NaN. Accuracy: ≈1e-15 relative near 0, up to ≈3e-14 near ±700 because `reassoc`
    may fold the two-part ln2 (irrelevant for float32, where it is correctly rounded to ±1 ulp).
    Note: Numba's on-disk cache does not notice edits here from kernels in other files that inline it.
    """
    clamped = -708.0 if x < -708.0 else x
    clamped = 709.0 if clamped > 709.0 else clamped
    n = np.floor(clamped * _LOG2E + 0.5)
    r = (clamped - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    two_to_n = np.int64((np.int64(n) + 1023) << 52).view(np.float64)
    result = p * two_to_n
    return 0.0 if x < -708.0 else result


_LOG2E_32 = np.float32(1.4426950408889634)
_LN2_HI_32 = np.float32(0.693145751953125)  # ln 2 in two parts: n·_LN2_HI_32 is exact for |n| < 256
_LN2_LO_32 = np.float32(1.4286068203094172e-06)


@njit(inline="always", fastmath=FASTMATH)
def exp32_vectorizable(x):
    """exp(x) for a float32 x in float32 arithmetic, so that a loop over it vectorises 16 lanes wide:

        n = round(x / ln2);  r = x - n·ln2  (|r| ≤ ln2/2, ln2 in two parts)
        exp(r) by its Taylor series to r^7 (remainder < 5e-9 relative: below float32's rounding)
        2^n built as the float32 bit pattern (n + 127) << 23.
    Below -87.3 the result is 0 (where float32 turns subnormal), above 88.7 it saturates at exp(88.7). NaN stays NaN.
    """
    clamped = np.float32(-87.3) if x < np.float32(-87.3) else x
    clamped = np.float32(88.7) if clamped > np.float32(88.7) else clamped
    n = np.floor(clamped * _LOG2E_32 + np.float32(0.5))
    r = (clamped - n * _LN2_HI_32) - n * _LN2_LO_32
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    two_to_n = np.int32((np.int32(n) + 127) << 23).view(np.float32)
    result = p * two_to_n
    return np.float32(0.0) if x < np.float32(-87.3) else result


@njit(inline="always", fastmath=FASTMATH)
def row_max(x, i):
    """max_j x[i, j], skipping NaN (a NaN in the row makes its sum NaN anyway, so the row still ends up NaN)."""
    best = -np.inf
    for j in range(x.shape[1]):
        value = np.float64(x[i, j])
        best = value if value > best else best
    return best


def _softmax_forward_body(x, out):
    """for i in prange(R):                    x, out: (R, C)
           m = max_j x[i, j]
           for j: out[i, j] = exp(x[i, j] - m); s += out[i, j]
           for j: out[i, j] *= 1 / s
    """
    for i in prange(x.shape[0]):
        shift = row_max(x, i)
        total = 0.0
        for j in range(x.shape[1]):
            e = exp_vectorizable(np.float64(x[i, j]) - shift)
            out[i, j] = e
            total += e
        inv_total = 1.0 / total
        for j in range(x.shape[1]):
            out[i, j] = out[i, j] * inv_total


_softmax_forward_serial, _softmax_forward_parallel = serial_and_parallel(_softmax_forward_body, fastmath=FASTMATH)


def _softmax_backward_body(y, grad_y, grad_x):
    """for i in prange(R): d = Σ_j g[i, j]·y[i, j];  gx[i, j] = y[i, j]·(g[i, j] - d)      all (R, C)"""
    for i in prange(y.shape[0]):
        dot = 0.0
        for j in range(y.shape[1]):
            dot += np.float64(grad_y[i, j]) * np.float64(y[i, j])
        for j in range(y.shape[1]):
            grad_x[i, j] = y[i, j] * (grad_y[i, j] - dot)


_softmax_backward_serial, _softmax_backward_parallel = serial_and_parallel(_softmax_backward_body, fastmath=FASTMATH)


def _log_softmax_forward_body(x, out):
    """for i in prange(R): m = max_j x;  s = Σ_j exp(x - m);  out[i, j] = (x[i, j] - m) - log s     (R, C)"""
    for i in prange(x.shape[0]):
        shift = row_max(x, i)
        total = 0.0
        for j in range(x.shape[1]):
            total += exp_vectorizable(np.float64(x[i, j]) - shift)
        log_total = np.log(total)
        for j in range(x.shape[1]):
            out[i, j] = (np.float64(x[i, j]) - shift) - log_total


_log_softmax_forward_serial, _log_softmax_forward_parallel = serial_and_parallel(
    _log_softmax_forward_body, fastmath=FASTMATH)


def _log_softmax_backward_body(y, grad_y, grad_x):
    """for i in prange(R): s = Σ_j g[i, j];  gx[i, j] = g[i, j] - exp(y[i, j])·s                 (R, C)"""
    for i in prange(y.shape[0]):
        total = 0.0
        for j in range(y.shape[1]):
            total += np.float64(grad_y[i, j])
        for j in range(y.shape[1]):
            grad_x[i, j] = grad_y[i, j] - exp_vectorizable(np.float64(y[i, j])) * total


_log_softmax_backward_serial, _log_softmax_backward_parallel = serial_and_parallel(
    _log_softmax_backward_body, fastmath=FASTMATH)


@njit(cache=True)
def _first_bad_target(target, n_classes, ignore_index):
    """Index of the first target outside [0, C) that is not ignore_index, or -1. Serial: N reads."""
    for i in range(target.shape[0]):
        t = target[i]
        if t != ignore_index and (t < 0 or t >= n_classes):
            return i
    return -1


def _cross_entropy_forward_body(logits, target, ignore_index, smoothing, loss, log_probs):
    """for i in prange(N):                        logits, log_probs: (N, C); target, loss: (N,)
           m = max_j x;  lse = m + log Σ_j exp(x - m)
           log_probs[i, j] = x[i, j] - lse;  s = Σ_j log_probs[i, j]
           loss[i] = -(1-ε)·log_probs[i, t_i] - (ε/C)·s   (0 if t_i == ignore_index)
    The log-softmax and the loss share one visit of the row. Targets were range-checked before the call.
    """
    n_classes = logits.shape[1]
    for i in prange(logits.shape[0]):
        shift = row_max(logits, i)
        total = 0.0
        for j in range(n_classes):
            total += exp_vectorizable(np.float64(logits[i, j]) - shift)
        log_total = np.log(total)
        sum_log_probs = 0.0
        for j in range(n_classes):
            value = (np.float64(logits[i, j]) - shift) - log_total
            log_probs[i, j] = value
            sum_log_probs += value
        t = target[i]
        if t == ignore_index:
            loss[i] = 0.0
        else:
            picked = (np.float64(logits[i, t]) - shift) - log_total
            value = -(1.0 - smoothing) * picked
            if smoothing > 0.0:  # only then: a -inf logit makes sum_log_probs -inf, and 0·(-inf) is NaN
                value -= (smoothing / n_classes) * sum_log_probs
            loss[i] = value


_cross_entropy_forward_serial, _cross_entropy_forward_parallel = serial_and_parallel(
    _cross_entropy_forward_body, fastmath=FASTMATH)


def _cross_entropy_backward_body(log_probs, target, grad_loss, ignore_index, smoothing, grad_logits):
    """for i in prange(N): gl[i, j] = g_i·(exp(lp[i, j]) - ε/C) ;  gl[i, t_i] -= g_i·(1-ε)   (zero row if ignored)"""
    n_classes = log_probs.shape[1]
    uniform = smoothing / n_classes if n_classes > 0 else 0.0
    for i in prange(log_probs.shape[0]):
        t = target[i]
        ignored = t == ignore_index
        g = 0.0 if ignored else np.float64(grad_loss[i])  # an ignored row becomes g = 0: no branch in the loop
        for j in range(n_classes):
            grad_logits[i, j] = g * (exp_vectorizable(np.float64(log_probs[i, j])) - uniform)
        if not ignored:
            grad_logits[i, t] = grad_logits[i, t] - g * (1.0 - smoothing)


_cross_entropy_backward_serial, _cross_entropy_backward_parallel = serial_and_parallel(
    _cross_entropy_backward_body, fastmath=FASTMATH)


def _pick(rows, serial, parallel):
    """The serial variant for arrays under SERIAL_MAX_SIZE elements, else the parallel one."""
    return serial if rows.size < SERIAL_MAX_SIZE else parallel


def _as_rows(x):
    """(..., C) array -> C-contiguous (R, C) array (a view when x is already contiguous). Empty x is never
    passed: the wrappers return early, and reshape(-1, 0) would be ambiguous."""
    return np.ascontiguousarray(x).reshape(-1, x.shape[-1])


def softmax_forward(x):
    """y = exp(x - max) / Σ exp(x - max) over the last axis (a row of all -inf gives NaN, like PyTorch)."""
    check_float_array("softmax_forward", "x", x)
    if x.size == 0:
        return np.empty_like(x)
    rows = _as_rows(x)
    out = np.empty_like(rows)
    _pick(rows, _softmax_forward_serial, _softmax_forward_parallel)(rows, out)
    return out.reshape(x.shape)


def softmax_backward(y, grad_y):
    """gx = y * (g - Σ g·y)."""
    check_float_pair("softmax_backward", "y", y, "grad_y", grad_y)
    if y.size == 0:
        return np.empty_like(y)
    y_rows = _as_rows(y)
    grad_x = np.empty_like(y_rows)
    _pick(y_rows, _softmax_backward_serial, _softmax_backward_parallel)(y_rows, _as_rows(grad_y), grad_x)
    return grad_x.reshape(y.shape)


def log_softmax_forward(x):
    """y = (x - max) - log Σ exp(x - max)."""
    check_float_array("log_softmax_forward", "x", x)
    if x.size == 0:
        return np.empty_like(x)
    rows = _as_rows(x)
    out = np.empty_like(rows)
    _pick(rows, _log_softmax_forward_serial, _log_softmax_forward_parallel)(rows, out)
    return out.reshape(x.shape)


def log_softmax_backward(y, grad_y):
    """gx = g - exp(y) Σ g."""
    check_float_pair("log_softmax_backward", "y", y, "grad_y", grad_y)
    if y.size == 0:
        return np.empty_like(y)
    y_rows = _as_rows(y)
    grad_x = np.empty_like(y_rows)
    _pick(y_rows, _log_softmax_backward_serial, _log_softmax_backward_parallel)(y_rows, _as_rows(grad_y), grad_x)
    return grad_x.reshape(y.shape)


def cross_entropy_forward(logits, target, ignore_index=-100, label_smoothing=0.0):
    """loss_i = -(1-ε)·logp[i, t_i] - (ε/C)·Σ_c logp[i, c] (0 if ignored) -> (loss (N,), log_probs (N, C))."""
    target = check_cross_entropy_inputs("cross_entropy_forward", logits, target, ignore_index, check_range=False)
    target = np.ascontiguousarray(target)
    n_classes = logits.shape[1]
    bad_row = _first_bad_target(target, n_classes, int(ignore_index))
    if bad_row >= 0:
        raise_bad_target("cross_entropy_forward", int(target[bad_row]), n_classes, ignore_index)
    logits = np.ascontiguousarray(logits)
    loss = np.empty(logits.shape[0], dtype=logits.dtype)
    log_probs = np.empty_like(logits)
    kernel = _pick(logits, _cross_entropy_forward_serial, _cross_entropy_forward_parallel)
    kernel(logits, target, int(ignore_index), float(label_smoothing), loss, log_probs)
    return loss, log_probs


def cross_entropy_backward(log_probs, target, grad_loss, ignore_index=-100, label_smoothing=0.0):
    """grad_logits[i] = grad_loss_i · (softmax_i - (1-ε)·onehot(t_i) - ε/C); zero rows where t_i is ignored."""
    kernel = "cross_entropy_backward"
    target = check_cross_entropy_inputs(kernel, log_probs, target, ignore_index, check_range=False)
    n_rows, n_classes = log_probs.shape
    check_float_array(kernel, "grad_loss", grad_loss)
    if grad_loss.shape != (n_rows,) or grad_loss.dtype != log_probs.dtype:
        raise ValueError(f"{kernel}: grad_loss {grad_loss.shape} {grad_loss.dtype} must be ({n_rows},) "
                         f"{log_probs.dtype}")
    target = np.ascontiguousarray(target)
    bad_row = _first_bad_target(target, n_classes, int(ignore_index))
    if bad_row >= 0:
        raise_bad_target(kernel, int(target[bad_row]), n_classes, ignore_index)
    log_probs = np.ascontiguousarray(log_probs)
    grad_logits = np.empty_like(log_probs)
    kernel = _pick(log_probs, _cross_entropy_backward_serial, _cross_entropy_backward_parallel)
    kernel(log_probs, target, np.ascontiguousarray(grad_loss), int(ignore_index), float(label_smoothing), grad_logits)
    return grad_logits
