"""Matrix multiplication for 1-D, 2-D and batched N-D operands, with NumPy's broadcasting of batch dims."""
import math

import numpy as np

from tinygrad_edu import backend
from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.elementwise import as_operands


def batched_matmul(a, b):
    """a (..., M, K) @ b (..., K, N) -> (..., M, N) through the backend's 3-D kernel.

    Any of the sizes may be 0 (K = 0 gives zeros, as an empty sum). Reshapes spell every size out instead of
    using -1, which cannot be inferred when the array is empty.
    """
    matmul_kernel = backend.kernels(a).matmul
    M, K = a.shape[-2:]
    N = b.shape[-1]
    if b.ndim == 2:
        # A shared right operand (a Linear layer on (B, T, K) input): fold a's batch into its rows, so the
        # kernel runs one large GEMM rather than many small ones.
        rows = math.prod(a.shape[:-1])
        out = matmul_kernel(a.reshape(1, rows, K), b[None])
        return out.reshape(a.shape[:-1] + (N,))
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    count = math.prod(batch)
    a3 = np.broadcast_to(a, batch + (M, K)).reshape(count, M, K)
    b3 = np.broadcast_to(b, batch + (K, N)).reshape(count, K, N)
    return matmul_kernel(a3, b3).reshape(batch + (M, N))


class MatMul(ArrayFunction):
    """C = A B;  dA = dC Bᵀ, dB = Aᵀ dC  (batch dims broadcast; the engine sums gradients over broadcast dims).

    A 1-D left operand is treated as a row (1, K) and a 1-D right operand as a column (K, 1), and the added
    dimension is removed from the result, as in NumPy.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        out = batched_matmul(a2, b2)
        if b.ndim == 1:
            out = out[..., 0]
        if a.ndim == 1:
            out = out[..., 0, :] if b.ndim > 1 else out[..., 0]
        return out

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # Restore the dims the forward removed, so grad_out is (..., M, N).
        grad = grad_out
        if b.ndim == 1:
            grad = grad[..., None]
        if a.ndim == 1:
            grad = grad[..., None, :]
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = batched_matmul(grad, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                grad_a = grad_a[..., 0, :]
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # Shared weight: Aᵀ dC summed over the batch is one GEMM over the folded rows.
                K, N = b2.shape
                rows = math.prod(a2.shape[:-1])
                grad_b = batched_matmul(a2.reshape(rows, K).T, grad.reshape(rows, N))
            else:
                grad_b = batched_matmul(np.swapaxes(a2, -1, -2), grad)
            if b.ndim == 1:
                grad_b = grad_b[..., 0]
        return grad_a, grad_b


class Linear(ArrayFunction):
    """y = x Wᵀ + b for x (..., K), W (N, K), b (N,);  dx = dy W, dW = dyᵀ x (summed over all rows), db = Σ_rows dy.

    One fused op instead of transpose + matmul + add: a Linear layer is the most common op in every model here,
    and three graph nodes cost three times the Python overhead of one (it matters for the DQN's tiny MLP).
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        rows = x.reshape(math.prod(x.shape[:-1]), weight.shape[1])  # (all rows, K): leading dims in one GEMM
        out = batched_matmul(rows, weight.T)  # (all rows, N), a new array of our own
        if bias is not None:
            backend.kernels(out).add_bias(out, bias)  # in place: no second (rows, N) array
        return out.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        out_features, in_features = weight.shape
        n_rows = math.prod(x.shape[:-1])
        grad_rows = grad_out.reshape(n_rows, out_features)  # (all rows, N)
        grad_x = batched_matmul(grad_rows, weight).reshape(x.shape) if need[0] else None
        grad_w = batched_matmul(grad_rows.T, x.reshape(n_rows, in_features)) if need[1] else None
        if not ctx.has_bias:
            return grad_x, grad_w
        grad_b = backend.kernels(grad_rows).bias_grad(grad_rows) if need[2] else None
        return grad_x, grad_w, grad_b


def linear(x, weight, bias=None):
    """PyTorch's `F.linear`: y = x Wᵀ + b with W stored as (out_features, in_features)."""
    if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"linear: input {x.shape} has {x.shape[-1] if x.ndim else 0} features but weight {weight.shape} expects {weight.shape[-1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RuntimeError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype) or x.dtype.kind != "f":
        raise TypeError(f"linear: input, weight and bias must share one float dtype, got {x.dtype} and {weight.dtype}")
    return Linear.apply(x, weight, bias)


def matmul(a, b):
    a, b = as_operands(a, b, "matmul")
    if a.dtype.kind != "f":
        raise TypeError(f"matmul: expected floating point tensors, got {a.dtype} with shapes {a.shape} and {b.shape}")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: {k_a} (last dim of the first) != "
            f"{k_b} ({'dim 0' if b.ndim == 1 else 'second-to-last dim'} of the second)"
        )
    if a.ndim > 2 and b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise RuntimeError(f"matmul: batch dims of shapes {a.shape} and {b.shape} cannot be broadcast together") from None
    return MatMul.apply(a, b)
