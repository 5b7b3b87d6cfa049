"""Functional forms of the layers and losses, as `torch.nn.functional` (same names, argument names and defaults).

Fused ops (conv2d, pooling, softmax, cross-entropy, attention, RNN cell, layer norm) come from `tinygrad_edu.ops`;
the rest are a few lines of composite tensor code here, differentiated by the engine. The losses live in
`loss_functions.py` and are re-exported here, so `F.cross_entropy` works as in PyTorch.

Arguments PyTorch has but this engine does not implement (max_norm, ceil_mode that changes the output, padding
modes other than 'zeros'/'constant', ...) raise NotImplementedError naming the argument; `inplace=True` is accepted
and computed out of place (the result is the same; the input tensor is left unchanged).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from tinygrad_edu.autograd import no_grad
from tinygrad_edu.nn.loss_functions import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from tinygrad_edu.ops import conv as conv_ops
from tinygrad_edu.ops import elementwise, movement
from tinygrad_edu.ops import softmax as softmax_ops
from tinygrad_edu.ops.attention import dropout_scale, scaled_dot_product_attention
from tinygrad_edu.ops.elementwise import where
from tinygrad_edu.ops.indexing import embedding_lookup
from tinygrad_edu.ops.linalg import linear
from tinygrad_edu.ops.norm import layer_norm as _fused_layer_norm
from tinygrad_edu.ops.rnn import rnn_tanh_cell
from tinygrad_edu.tensor import (
    DTypeArg,
    Number,
    Tensor,
    TensorLike,
    array_to_device,
    as_array,
    default_generator,
    is_device_array,
)

Pair = int | tuple[int, int]  # a size for both spatial dims, or (height, width)

__all__ = [
    "normalize",
    "avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "conv2d",
    "cross_entropy", "dropout", "embedding", "gelu", "huber_loss", "l1_loss", "layer_norm", "leaky_relu", "linear",
    "log_softmax", "logsigmoid", "max_pool2d", "mse_loss", "nll_loss", "one_hot", "pad", "relu", "rnn_tanh_cell",
    "scaled_dot_product_attention", "sigmoid", "smooth_l1_loss", "softmax", "softplus", "tanh",
]


# ----- activations ----------------------------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return input.leaky_relu(negative_slope)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return input.gelu(approximate=approximate)


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/β) log(1 + e^(βx)), and x itself where βx > threshold (fused and stable: see ops/elementwise.py)."""
    return elementwise.softplus(input, beta, threshold)


def logsigmoid(input: Tensor) -> Tensor:
    """log σ(x) = -softplus(-x), stable at both tails (fused: see ops/elementwise.py)."""
    return elementwise.logsigmoid(input)


def _softmax_dim(name: str, ndim: int, dim: int | None, axis: int | None, stacklevel: int) -> int:
    if axis is not None:  # the engine's own spelling, kept as an alias
        return axis
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as "
                  f"an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1  # PyTorch's legacy rule


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: DTypeArg = None, *,
            axis: int | None = None) -> Tensor:
    """e^x / Σ e^x along `dim` (fused and max-shifted). Without dim, PyTorch's deprecated implicit choice."""
    if dtype is not None:
        input = input.astype(dtype)
    return softmax_ops.softmax(input, _softmax_dim("softmax", input.ndim, dim, axis, _stacklevel))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: DTypeArg = None, *,
                axis: int | None = None) -> Tensor:
    """x - logsumexp(x) along `dim` (fused). Without dim, PyTorch's deprecated implicit choice."""
    if dtype is not None:
        input = input.astype(dtype)
    return softmax_ops.log_softmax(input, _softmax_dim("log_softmax", input.ndim, dim, axis, _stacklevel))


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """input / max(‖input‖_p along dim, eps): rows (or columns) scaled to unit p-norm, as torch's F.normalize."""
    norm = input.norm(p=p, dim=dim, keepdim=True)
    return input / norm.clamp(min=eps)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p), so the expectation is unchanged."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = default_generator().random(input.shape) >= p
    scale = dropout_scale(keep, p, input.dtype)
    return input * Tensor._from_array(array_to_device(scale, input.device), device=input.device)


# ----- linear, convolution, pooling ------------------------------------------------------------------------------
def _same_padding(op_name: str, kernel_size: Sequence[int], stride: Pair, dilation: Pair) -> list[tuple[int, int]]:
    """padding='same': total dilation·(k-1) per spatial dim, the odd one on the right/bottom (as PyTorch)."""
    strides = conv_ops.pair(stride, "stride", op_name)
    if strides != (1, 1):
        raise RuntimeError(f"{op_name}: padding='same' is not supported for strided convolutions (stride={strides})")
    dilations = conv_ops.pair(dilation, "dilation", op_name)
    totals = [d * (k - 1) for d, k in zip(dilations, kernel_size)]
    return [(total // 2, total - total // 2) for total in totals]


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Pair = 1, padding: Pair | str = 0,
           dilation: Pair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as `torch.nn.functional.conv2d`; padding may also be 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            (top, bottom), (left, right) = _same_padding("conv2d", weight.shape[2:], stride, dilation)
            if (top, left) != (bottom, right):
                input = pad(input, (left, right, top, bottom))  # the extra row/column goes after, as PyTorch
                padding = 0
            else:
                padding = (top, left)
        else:
            raise RuntimeError(f"conv2d: invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
    return conv_ops.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _check_ceil_mode(op_name: str, input: Tensor, kernel_size: Pair, stride: Pair | None, padding: Pair,
                     ceil_mode: bool) -> None:
    """ceil_mode=True is accepted when it gives the same output size as floor (the common even-size case)."""
    if not ceil_mode:
        return
    kernel = conv_ops.pair(kernel_size, "kernel_size", op_name)
    step = kernel if stride is None else conv_ops.pair(stride, "stride", op_name)
    pads = conv_ops.pair(padding, "padding", op_name)
    for size, k, s, p in zip(input.shape[2:], kernel, step, pads):
        span = size + 2 * p - k
        ceil_out = -(-span // s) + 1
        if (ceil_out - 1) * s >= size + p:  # PyTorch drops a last window that starts in the right padding
            ceil_out -= 1
        if ceil_out != span // s + 1:
            raise NotImplementedError(f"{op_name}: ceil_mode=True that adds a partial window is not supported "
                                      f"(input {tuple(input.shape)}, kernel_size {kernel}, stride {step}); "
                                      f"pad the input instead")


def max_pool2d(input: Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0, dilation: Pair = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Max over each window, as `torch.nn.functional.max_pool2d`; stride defaults to kernel_size."""
    if dilation not in (1, (1, 1)):
        raise NotImplementedError(f"max_pool2d: dilation={dilation} is not supported; only dilation=1")
    if return_indices:
        raise NotImplementedError("max_pool2d: return_indices=True is not supported")
    _check_ceil_mode("max_pool2d", input, kernel_size, stride, padding, ceil_mode)
    return conv_ops.max_pool2d(input, kernel_size, stride, padding)


def avg_pool2d(input: Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over each window, as `torch.nn.functional.avg_pool2d`; stride defaults to kernel_size."""
    if not count_include_pad and padding not in (0, (0, 0)):
        raise NotImplementedError("avg_pool2d: count_include_pad=False with padding > 0 is not supported")
    _check_ceil_mode("avg_pool2d", input, kernel_size, stride, padding, ceil_mode)
    out = conv_ops.avg_pool2d(input, kernel_size, stride, padding)
    if divisor_override is not None:
        kernel = conv_ops.pair(kernel_size, "kernel_size", "avg_pool2d")
        if divisor_override == 0:
            raise RuntimeError("avg_pool2d: divisor must be not zero")
        out = out * (kernel[0] * kernel[1] / divisor_override)  # window sum / divisor
    return out


# ----- normalization ----------------------------------------------------------------------------------------------
def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last len(normalized_shape) dims, then scale by weight and shift by bias (fused)."""
    if weight is None and bias is not None:
        # The fused op takes a bias only with a weight; a bias alone is one more (broadcast) add.
        return _fused_layer_norm(input, normalized_shape, None, None, eps) + bias
    return _fused_layer_norm(input, normalized_shape, weight, bias, eps)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) over the batch and spatial dims, as `torch.nn.functional.batch_norm`.

    training=True uses the batch statistics (biased variance) and, when running stats are given, updates them
    in place: running = (1 - momentum)·running + momentum·batch, with the unbiased variance, as PyTorch.
    training=False uses the running statistics, which must then be given.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C, ...), got shape {tuple(input.shape)}")
    channels = input.shape[1]
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is None and not training:
            raise RuntimeError(f"batch_norm: {name} must be defined in evaluation mode")
        if stat is not None and stat.shape != (channels,):
            raise RuntimeError(f"batch_norm: {name} should contain {channels} elements (one per channel of input "
                               f"{tuple(input.shape)}), not {stat.numel()}")
    dims = (0,) + tuple(range(2, input.ndim))
    shape = [1, channels] + [1] * (input.ndim - 2)  # broadcasts a per-channel vector over (N, C, ...)
    if training:
        count = input.numel() // channels if channels else 0
        if count == 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input size "
                             f"{tuple(input.shape)}")
        if count == 0:  # an empty batch: an empty output, the running statistics untouched (as PyTorch)
            return _affine(input.clone(), weight, bias, shape)
        # PyTorch's CPU kernel computes the statistics and x̂ (and their backward) in float64 for a float32
        # input (its acc_type), its CUDA kernel in float32; the same here. In float32 a constant channel's mean
        # can miss the value by an ulp, and few, close values cancel: 1/√(var + eps) magnifies both.
        work = input.to(dtype=np.float64) if input.dtype == np.float32 and input.device == "cpu" else input
        mean = work.mean(dim=dims, keepdim=True)
        centered = work - mean
        var = (centered * centered).mean(dim=dims, keepdim=True)
        _update_running_stats(running_mean, running_var, mean, var, count, momentum)
        normalized = (centered * (var + eps) ** -0.5).to(dtype=input.dtype)
    else:
        assert running_mean is not None and running_var is not None  # checked above: evaluation needs both
        mean = running_mean.detach().to(dtype=input.dtype).reshape(shape)
        var = running_var.detach().to(dtype=input.dtype).reshape(shape)
        normalized = (input - mean) * (var + eps) ** -0.5
    return _affine(normalized, weight, bias, shape)


def _affine(normalized: Tensor, weight: Tensor | None, bias: Tensor | None, shape: list[int]) -> Tensor:
    """normalized · weight + bias, with the per-channel vectors reshaped to broadcast over (N, C, ...)."""
    if weight is not None:
        normalized = normalized * weight.reshape(shape)
    if bias is not None:
        normalized = normalized + bias.reshape(shape)
    return normalized


def _update_running_stats(running_mean: Tensor | None, running_var: Tensor | None, mean: Tensor, var: Tensor,
                          count: int, momentum: float) -> None:
    """The in-place running-statistics update, outside the graph. The arithmetic runs on the buffers' own
    arrays (NumPy, or CudaArray for buffers on cuda), so nothing leaves the device."""
    unbiased = var.data.reshape(-1) * (count / (count - 1))
    with no_grad():
        for stat, batch_value in ((running_mean, mean.data.reshape(-1)), (running_var, unbiased)):
            if stat is not None:
                updated = (1 - momentum) * stat.data + momentum * batch_value
                stat.copy_(Tensor._from_array(updated, device=stat.device))


# ----- embedding, one-hot, padding ------------------------------------------------------------------------------
def normalize_padding_idx(padding_idx: int | None, num_embeddings: int, op_name: str) -> int | None:
    """padding_idx in [-num_embeddings, num_embeddings) as a non-negative row index (AssertionError as PyTorch)."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise AssertionError(f"{op_name}: padding_idx must be within num_embeddings: got padding_idx={padding_idx} "
                             f"for {num_embeddings} embeddings")
    return padding_idx + num_embeddings if padding_idx < 0 else padding_idx


def embedding(input: TensorLike, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` picked by integer indices; the backward scatter-adds into the picked rows.

    padding_idx: that row is returned as it is, but receives no gradient (so it stays what it was initialised
    to, zeros for nn.Embedding), as PyTorch.
    """
    if max_norm is not None:
        raise NotImplementedError("embedding: max_norm (renormalising looked-up rows in place) is not supported; "
                                  "pass max_norm=None")
    if scale_grad_by_freq:
        raise NotImplementedError("embedding: scale_grad_by_freq=True is not supported")
    if sparse:
        raise NotImplementedError("embedding: sparse=True (sparse gradients) is not supported; gradients are dense")
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0], "embedding")
    indices = as_array(input)
    if indices.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
        raise IndexError(f"embedding: index out of range for a table of {weight.shape[0]} rows (got values in "
                         f"[{indices.min()}, {indices.max()}])")
    if type(weight.data) is np.ndarray and type(indices) is np.ndarray and weight.ndim == 2:
        return embedding_lookup(weight, indices, padding_idx)  # (*indices.shape, embedding_dim)
    rows = weight[indices]  # (*indices.shape, embedding_dim)
    if padding_idx is not None:
        is_padding = indices == padding_idx
        if is_padding.any():
            # Same values either way; where() sends the gradient only to the positions that are not padding.
            condition = array_to_device(is_padding.reshape(is_padding.shape + (1,)), weight.device)
            rows = where(Tensor._from_array(condition, device=weight.device), weight.detach()[indices], rows)
    return rows


def one_hot(tensor: TensorLike, num_classes: int = -1) -> Tensor:
    """(..., num_classes) int64 tensor with a 1 at each index; num_classes=-1 takes max(tensor) + 1."""
    indices = as_array(tensor)
    device = tensor.device if isinstance(tensor, Tensor) else "cpu"
    if is_device_array(indices):
        indices = indices.get()
    if indices.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensor of integer type, got dtype {indices.dtype}")
    if indices.size and indices.min() < 0:
        raise RuntimeError("one_hot: Class values must be non-negative.")
    if num_classes == -1:
        if not indices.size:
            raise RuntimeError(f"one_hot: Can not infer total number of classes from empty tensor (shape "
                               f"{tuple(indices.shape)}); pass num_classes")
        num_classes = int(indices.max()) + 1
    elif indices.size and indices.max() >= num_classes:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}), got "
                           f"{int(indices.max())}.")
    out = np.eye(num_classes, dtype=np.int64)[indices]
    return Tensor._from_array(array_to_device(out, device), device=device)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: Number | None = None) -> Tensor:
    """Pad (or, with negative amounts, crop) the last len(pad) // 2 dims, as `torch.nn.functional.pad`.

    `pad` is PyTorch's order, last dim first: (left, right) pads the last dim, (left, right, top, bottom) the
    last two. Only mode='constant' is implemented.
    """
    if mode != "constant":
        raise NotImplementedError(f"pad: mode={mode!r} is not supported; only mode='constant'")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError(f"pad: Padding length must be divisible by 2, got {len(pad)} values")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: Padding length should be less than or equal to two times the input dimension but "
                           f"got padding length {len(pad)} and input of dimension {input.ndim}")
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    grow = [(max(before, 0), max(after, 0)) for before, after in pairs]
    out = movement.pad(input, grow, 0.0 if value is None else value) if any(any(p) for p in grow) else input
    if any(before < 0 or after < 0 for before, after in pairs):
        # Negative amounts crop, as in PyTorch.
        crop = tuple(slice(max(-before, 0), out.shape[d] - max(-after, 0)) for d, (before, after) in enumerate(pairs))
        out = out[crop]
    return out
