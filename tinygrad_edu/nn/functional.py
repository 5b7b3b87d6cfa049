"""Functional forms of the layers and losses, as `torch.nn.functional`.

Fused ops (conv2d, pooling, softmax, cross-entropy, attention, RNN cell, layer norm) come from `tinygrad_edu.ops`;
the rest are a few lines of composite tensor code here, differentiated by the engine.
"""
import numpy as np

from tinygrad_edu.ops.attention import scaled_dot_product_attention
from tinygrad_edu.ops.conv import avg_pool2d, conv2d, max_pool2d
from tinygrad_edu.ops.elementwise import as_operands, where
from tinygrad_edu.ops.linalg import linear
from tinygrad_edu.ops.loss import BinaryCrossEntropyWithLogits
from tinygrad_edu.ops.norm import layer_norm
from tinygrad_edu.ops.rnn import rnn_tanh_cell
from tinygrad_edu.ops.softmax import cross_entropy_per_sample, log_softmax, softmax
from tinygrad_edu.tensor import Tensor, as_array, default_generator

__all__ = [
    "avg_pool2d", "batch_norm", "binary_cross_entropy_with_logits", "conv2d", "cross_entropy", "dropout",
    "embedding", "gelu", "huber_loss", "layer_norm", "leaky_relu", "linear", "log_softmax", "max_pool2d",
    "mse_loss", "nll_loss", "relu", "rnn_tanh_cell", "scaled_dot_product_attention", "sigmoid",
    "smooth_l1_loss", "softmax", "tanh",
]


def relu(x):
    return x.relu()


def tanh(x):
    return x.tanh()


def sigmoid(x):
    return x.sigmoid()


def gelu(x, approximate="none"):
    return x.gelu(approximate=approximate)


def leaky_relu(x, negative_slope=0.01):
    return x.leaky_relu(negative_slope)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p), so the expectation is unchanged."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = default_generator().random(x.shape) >= p
    return x * Tensor._from_array((keep / (1.0 - p)).astype(x.dtype), device=x.device)


def embedding(indices, weight, padding_idx=None):
    """Rows of `weight` picked by integer `indices`; the backward scatter-adds into the picked rows."""
    index_array = as_array(indices)
    if index_array.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {index_array.dtype}")
    if index_array.size and (index_array.min() < 0 or index_array.max() >= weight.shape[0]):
        raise IndexError(f"embedding: index out of range for a table of {weight.shape[0]} rows (got values in [{index_array.min()}, {index_array.max()}])")
    rows = weight[index_array]
    if padding_idx is not None:
        # The padding row contributes zeros and receives no gradient.
        keep = (index_array != padding_idx)[..., None].astype(weight.dtype)
        rows = rows * Tensor._from_array(keep)
    return rows


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (axis 1) over the batch and spatial axes.

    Training uses the batch statistics (biased variance) and updates the running ones in place with the unbiased
    variance, as PyTorch; evaluation uses the running statistics.
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C, ...), got shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    if training:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input {x.shape}")
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        if running_mean is not None:
            running_mean.data = ((1 - momentum) * running_mean.data + momentum * mean.data.reshape(-1)).astype(running_mean.dtype)
            unbiased = var.data.reshape(-1) * count / (count - 1)
            running_var.data = ((1 - momentum) * running_var.data + momentum * unbiased).astype(running_var.dtype)
        normalized = centered * (var + eps) ** -0.5
    else:
        mean = running_mean.data.reshape(shape)
        inv_std = 1.0 / np.sqrt(running_var.data.reshape(shape) + eps)
        normalized = (x - Tensor._from_array(mean)) * Tensor._from_array(inv_std.astype(x.dtype))
    if weight is not None:
        normalized = normalized * weight.reshape(shape)
    if bias is not None:
        normalized = normalized + bias.reshape(shape)
    return normalized


# ----- losses ---------------------------------------------------------------------------------------------------
def _reduce(loss, reduction, op_name, count=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean() if count is None else loss.sum() * (1.0 / max(count, 1))
    raise ValueError(f"{op_name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _classes_last(logits, target, op_name):
    """(N, C, d1, ...) logits and (N, d1, ...) targets -> (N·d1·..., C) and (N·d1·...), as PyTorch accepts."""
    target_array = as_array(target)
    if logits.ndim > 2:
        if target_array.shape != (logits.shape[0],) + logits.shape[2:]:
            raise ValueError(f"{op_name}: logits {logits.shape} need target of shape {(logits.shape[0],) + logits.shape[2:]}, got {target_array.shape}")
        axes = (0,) + tuple(range(2, logits.ndim)) + (1,)
        logits = logits.permute(*axes).reshape(-1, logits.shape[1])
        target_array = target_array.reshape(-1)
    elif logits.ndim == 1:
        logits = logits.reshape(1, -1)
        target_array = target_array.reshape(1)
    return logits, target_array


def cross_entropy(logits, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy from logits (N, C) (or (N, C, d...)) and integer class targets; fused and stable.

    `mean` averages over the targets that are not `ignore_index`, as PyTorch.
    """
    shape = logits.shape
    logits, target_array = _classes_last(logits, target, "cross_entropy")
    loss = cross_entropy_per_sample(logits, target_array, ignore_index, label_smoothing)
    if reduction == "none" and len(shape) != 2:
        return loss.reshape((shape[0],) + shape[2:]) if len(shape) > 2 else loss.reshape(())
    return _reduce(loss, reduction, "cross_entropy", count=int(np.sum(target_array != ignore_index)))


def nll_loss(log_probs, target, ignore_index=-100, reduction="mean"):
    """-log_probs[i, target_i], averaged over targets that are not `ignore_index`."""
    log_probs, target_array = _classes_last(log_probs, target, "nll_loss")
    if target_array.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {target_array.dtype}")
    valid = target_array != ignore_index
    safe_target = np.where(valid, target_array, 0)
    if np.any((safe_target < 0) | (safe_target >= log_probs.shape[1])):
        raise ValueError(f"nll_loss: target values must be in [0, {log_probs.shape[1]}) or ignore_index, got {target_array}")
    picked = log_probs[np.arange(log_probs.shape[0]), safe_target]
    loss = -picked * Tensor._from_array(valid.astype(log_probs.dtype))
    return _reduce(loss, reduction, "nll_loss", count=int(valid.sum()))


def _check_same_shape(op_name, prediction, target):
    if prediction.shape != target.shape:
        raise ValueError(f"{op_name}: input {prediction.shape} and target {target.shape} must have the same shape")


def mse_loss(prediction, target, reduction="mean"):
    prediction, target = as_operands(prediction, target, "mse_loss")
    _check_same_shape("mse_loss", prediction, target)
    difference = prediction - target
    return _reduce(difference * difference, reduction, "mse_loss")


def smooth_l1_loss(prediction, target, reduction="mean", beta=1.0):
    """½d²/β where |d| < β, else |d| - ½β (PyTorch's SmoothL1Loss)."""
    prediction, target = as_operands(prediction, target, "smooth_l1_loss")
    _check_same_shape("smooth_l1_loss", prediction, target)
    difference = prediction - target
    absolute = difference.abs()
    quadratic = difference * difference * (0.5 / beta)
    loss = where(absolute.data < beta, quadratic, absolute - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(prediction, target, reduction="mean", delta=1.0):
    """½d² where |d| ≤ δ, else δ(|d| - ½δ): the DQN loss (PyTorch's HuberLoss)."""
    prediction, target = as_operands(prediction, target, "huber_loss")
    _check_same_shape("huber_loss", prediction, target)
    difference = prediction - target
    absolute = difference.abs()
    loss = where(absolute.data <= delta, difference * difference * 0.5, (absolute - 0.5 * delta) * delta)
    return _reduce(loss, reduction, "huber_loss")


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    logits, target = as_operands(logits, target, "binary_cross_entropy_with_logits")
    _check_same_shape("binary_cross_entropy_with_logits", logits, target)
    return _reduce(BinaryCrossEntropyWithLogits.apply(logits, target), reduction, "binary_cross_entropy_with_logits")
