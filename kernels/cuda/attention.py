"""Scaled dot-product attention on the GPU: one thread block per query row, softmax fused in between.

Same interface and conventions as kernels/reference/attention.py (B is batch × heads; the scale is split as
√|scale| on q and on k, as PyTorch does; a query row whose scores are all -inf gives probs = 0, out = 0 and zero
gradients; a row holding a NaN or +inf score is NaN).

Forward, grid = (B * Tq,) blocks, block = T threads (power of two), block (b, i):

    for j = t, t+T, ...:  s_j = (q[b,i]·qf)·(k[b,j]·kf) + mask[b,i,j]  (-inf if causal and j > i)
    m = block_max(s);  e_j = exp(s_j - m);  Z = block_sum(e)          # shared-memory tree reductions (NaN wins)
    probs[b,i,j] = e_j / Z   (0 when m = -inf: every score -inf)
    syncthreads()                                                    # every p_j written before it is read
    for d = t, t+T, ...:  out[b,i,d] = Σ_j probs[b,i,j] · v[b,j,d]

Backward, two launches (no atomics, deterministic):

    per query row (b, i):  dP_j = dO[b,i]·v[b,j];  r = block_sum(dP_j · p_j);  dS[b,i,j] = p_j (dP_j - r)
                           grad_q[b,i,d] = scale · Σ_j dS[b,i,j] k[b,j,d]
    per key row (b, j):    grad_k[b,j,d] = scale · Σ_i dS[b,i,j] q[b,i,d];  grad_v[b,j,d] = Σ_i p[b,i,j] dO[b,i,d]

Why it is fast: the score row never leaves the block between the two reductions and the normalisation (one
launch instead of matmul + softmax + matmul), q[b,i] is re-read from L1 for every key, and B * Tq blocks keep the
GPU busy. It still stores the full probs matrix, which the engine saves for backward; a FlashAttention-style
kernel (online softmax over key tiles in shared memory, probs recomputed in backward) is the step after this.
"""
import math

import numpy as np
from numba import cuda

from kernels.cuda._device import (
    MAX_THREADS, as_contiguous_device, empty, host_proxy, per_dtype, require_cuda, row_threads,
)
from kernels.cuda.device_functions import block_max, block_sum
from kernels.reference.attention import check_attention_inputs, default_scale, scale_factors


@per_dtype
def _forward_kernel(dtype):
    """Fused scores -> masked softmax -> probs @ v for one (batch, query row) per block."""

    @cuda.jit
    def attention_forward_kernel(q, k, v, mask, has_mask, causal, q_factor, k_factor, out, probs):
        buffer = cuda.shared.array(MAX_THREADS, dtype)
        t_q, d_size = q.shape[1], q.shape[2]
        t_k, dv_size = k.shape[1], v.shape[2]
        b = cuda.blockIdx.x // t_q  # block -> (batch, query row)
        i = cuda.blockIdx.x % t_q
        t = cuda.threadIdx.x
        step = cuda.blockDim.x
        local_max = dtype(-math.inf)
        for j in range(t, t_k, step):  # thread t scores keys t, t+T, ...
            score = dtype(0)
            for d in range(d_size):
                score += (q[b, i, d] * q_factor) * (k[b, j, d] * k_factor)
            if has_mask:
                score += mask[b, i, j]
            if causal and j > i:
                score += -math.inf  # added, as torch adds its causal mask: a NaN score (0·inf) stays NaN
            probs[b, i, j] = score  # scratch: the raw score, overwritten by the probability below
            if score > local_max or score != score:
                local_max = score
        row_max = block_max(buffer, local_max)
        dead = row_max == -math.inf  # every score -inf: probs and output are 0 (a NaN / +inf row is NaN)
        shift = dtype(0) if dead else row_max
        local_sum = dtype(0)
        for j in range(t, t_k, step):
            e = math.exp(probs[b, i, j] - shift)
            probs[b, i, j] = e
            local_sum += e
        total = block_sum(buffer, local_sum)
        for j in range(t, t_k, step):
            probs[b, i, j] = 0 if dead else probs[b, i, j] / total
        cuda.syncthreads()  # all of probs[b, i, :] is written before any thread reads other threads' entries
        for d in range(t, dv_size, step):
            acc = dtype(0)
            for j in range(t_k):
                acc += probs[b, i, j] * v[b, j, d]
            out[b, i, d] = acc

    return attention_forward_kernel


@per_dtype
def _backward_query_kernel(dtype):
    """dS and grad_q for one (batch, query row) per block."""

    @cuda.jit
    def attention_backward_query_kernel(q, k, v, probs, grad_out, scale, grad_q, grad_s):
        buffer = cuda.shared.array(MAX_THREADS, dtype)
        t_q, d_size = q.shape[1], q.shape[2]
        t_k, dv_size = k.shape[1], v.shape[2]
        b = cuda.blockIdx.x // t_q
        i = cuda.blockIdx.x % t_q
        t = cuda.threadIdx.x
        step = cuda.blockDim.x
        local = dtype(0)
        for j in range(t, t_k, step):
            grad_p = dtype(0)
            for d in range(dv_size):
                grad_p += grad_out[b, i, d] * v[b, j, d]
            grad_s[b, i, j] = grad_p  # scratch: dP, turned into dS below by the same thread
            local += grad_p * probs[b, i, j]
        row_dot = block_sum(buffer, local)
        for j in range(t, t_k, step):
            grad_s[b, i, j] = probs[b, i, j] * (grad_s[b, i, j] - row_dot)
        cuda.syncthreads()  # dS[b, i, :] complete before the product with k
        for d in range(t, d_size, step):
            acc = dtype(0)
            for j in range(t_k):
                acc += grad_s[b, i, j] * k[b, j, d]
            grad_q[b, i, d] = acc * scale

    return attention_backward_query_kernel


@per_dtype
def _backward_key_kernel(dtype):
    """grad_k and grad_v for one (batch, key row) per block: sums over query rows, so no atomics are needed."""

    @cuda.jit
    def attention_backward_key_kernel(q, probs, grad_out, grad_s, scale, grad_k, grad_v):
        t_q, d_size = q.shape[1], q.shape[2]
        t_k, dv_size = grad_s.shape[2], grad_out.shape[2]
        b = cuda.blockIdx.x // t_k  # block -> (batch, key row)
        j = cuda.blockIdx.x % t_k
        for d in range(cuda.threadIdx.x, d_size, cuda.blockDim.x):
            acc = dtype(0)  # typed zero (Tq or D may be 0, so no element of q can stand in for it)
            for i in range(t_q):
                acc += grad_s[b, i, j] * q[b, i, d]
            grad_k[b, j, d] = acc * scale
        for d in range(cuda.threadIdx.x, dv_size, cuda.blockDim.x):
            acc = dtype(0)
            for i in range(t_q):
                acc += probs[b, i, j] * grad_out[b, i, d]
            grad_v[b, j, d] = acc

    return attention_backward_key_kernel


def attention_forward(q, k, v, mask=None, causal=False, scale=None):
    """(out (B, Tq, Dv), probs (B, Tq, Tk)) device arrays; out = softmax(q kᵀ·scale + mask) v."""
    check_attention_inputs("attention_forward", host_proxy(q), host_proxy(k), host_proxy(v), host_proxy(mask))
    require_cuda()
    batch, t_q, d = q.shape
    t_k, dv = k.shape[1], v.shape[2]
    scale = default_scale(d) if scale is None else float(scale)
    q_factor, k_factor = (q.dtype.type(factor) for factor in scale_factors(scale))
    out = empty((batch, t_q, dv), q.dtype)
    probs = empty((batch, t_q, t_k), q.dtype)
    q_d, k_d, v_d = as_contiguous_device(q), as_contiguous_device(k), as_contiguous_device(v)
    mask_d = as_contiguous_device(mask) if mask is not None else probs  # stand-in, never read
    if batch * t_q:
        _forward_kernel(q.dtype)[batch * t_q, row_threads(max(t_k, dv))](
            q_d, k_d, v_d, mask_d, mask is not None, bool(causal), q_factor, k_factor, out, probs)
    return out, probs


def attention_backward(q, k, v, probs, grad_out, scale=None):
    """(grad_q, grad_k, grad_v) device arrays for upstream grad_out, from the probs saved by forward."""
    batch, t_q, d = q.shape
    t_k = k.shape[1]
    check_attention_inputs("attention_backward", host_proxy(q), host_proxy(k), host_proxy(v), None,
                           [("probs", host_proxy(probs), (batch, t_q, t_k)),
                            ("grad_out", host_proxy(grad_out), (batch, t_q, v.shape[2]))])
    require_cuda()
    scale = default_scale(d) if scale is None else float(scale)
    q_d, k_d, v_d = as_contiguous_device(q), as_contiguous_device(k), as_contiguous_device(v)
    probs_d, grad_out_d = as_contiguous_device(probs), as_contiguous_device(grad_out)
    grad_q = empty(q.shape, q.dtype)
    grad_k = empty(k.shape, q.dtype)
    grad_v = empty(v.shape, q.dtype)
    grad_s = empty((batch, t_q, t_k), q.dtype)  # dS, shared between the two launches
    if batch * t_q:
        _backward_query_kernel(q.dtype)[batch * t_q, row_threads(max(t_k, d))](
            q_d, k_d, v_d, probs_d, grad_out_d, scale, grad_q, grad_s)
    if batch * t_k:
        _backward_key_kernel(q.dtype)[batch * t_k, row_threads(max(d, v.shape[2]))](
            q_d, probs_d, grad_out_d, grad_s, scale, grad_k, grad_v)
    return grad_q, grad_k, grad_v
