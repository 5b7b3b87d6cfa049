"""The loss functions of `torch.nn.functional`, same signatures: (input, target, ..., reduction='mean').

reduction='none' keeps one loss per element (per sample for the classification losses), 'sum' adds them, 'mean'
averages them — over the elements, or, where class weights are given, divided by the total weight of the
targets, exactly as PyTorch. The deprecated size_average/reduce arguments are honoured as PyTorch honours them.
Re-exported by `tinygrad_edu.nn.functional`.
"""
import warnings

import numpy as np

from tinygrad_edu.ops.elementwise import as_operands, softplus, where
from tinygrad_edu.ops.loss import BinaryCrossEntropy, BinaryCrossEntropyWithLogits, HuberLoss, SmoothL1Loss
from tinygrad_edu.ops.softmax import cross_entropy_per_sample, cross_entropy_total, log_softmax
from tinygrad_edu.tensor import Tensor, array_to_device, as_array, is_device_array

REDUCTIONS = ("none", "mean", "sum")


def resolve_reduction(size_average, reduce, reduction, op_name):
    """The reduction to use: the legacy size_average/reduce pair wins when given (with PyTorch's warning)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else ("sum" if reduce else "none")
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
                      stacklevel=3)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op_name}: {reduction!r} is not a valid value for reduction; use 'mean', 'sum' or 'none'")
    return reduction


def _reduce(loss, reduction):
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss


def _host(array):
    """A NumPy copy of an array that may live on the GPU (used for small index and class-weight arrays)."""
    return array.get() if is_device_array(array) else np.asarray(array)


def _divide_by_total(loss_sum, total):
    """loss_sum / total; with a total of 0 (every target ignored, or no targets) that is NaN, as PyTorch."""
    return loss_sum * float("nan") if total == 0 else loss_sum * (1.0 / total)


def _as_tensor_like(value, reference):
    """A weight given as a Tensor, array or list, as a constant Tensor of the reference's dtype and device."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value, dtype=reference.dtype)
    return Tensor._from_array(array_to_device(array, reference.device), device=reference.device)


# ----- regression losses ----------------------------------------------------------------------------------------
def _pointwise_operands(input, target, op_name):
    """input and target with one dtype; a different but broadcastable target shape warns, as PyTorch."""
    input, target = as_operands(input, target, op_name)
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{op_name}: input {tuple(input.shape)} and target {tuple(target.shape)} must have the same "
                             f"shape (they cannot even be broadcast together)") from None
        warnings.warn(f"{op_name}: Using a target size ({tuple(target.shape)}) that is different to the input size "
                      f"({tuple(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      f"Please ensure they have the same size.", stacklevel=3)
    return input, target


def _weighted(loss, input, weight, reduction, op_name, mean_over_weight):
    """Multiply by an elementwise weight (input's shape). PyTorch's 'mean' is Σ w·ℓ / Σ w for mse and l1 losses
    (mean_over_weight) but the plain mean of w·ℓ for huber_loss."""
    if weight is None:
        return _reduce(loss, reduction)
    weight = _as_tensor_like(weight, input)
    if weight.shape != input.shape:
        raise ValueError(f"{op_name}: weight {tuple(weight.shape)} and input {tuple(input.shape)} must have the same size")
    loss = loss * weight
    if reduction == "mean" and mean_over_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input - target)²."""
    reduction = resolve_reduction(size_average, reduce, reduction, "mse_loss")
    input, target = _pointwise_operands(input, target, "mse_loss")
    difference = input - target
    return _weighted(difference * difference, input, weight, reduction, "mse_loss", mean_over_weight=True)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input - target|."""
    reduction = resolve_reduction(size_average, reduce, reduction, "l1_loss")
    input, target = _pointwise_operands(input, target, "l1_loss")
    return _weighted((input - target).abs(), input, weight, reduction, "l1_loss", mean_over_weight=True)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """½d²/β where |d| < β, else |d| - ½β (PyTorch's SmoothL1Loss, fused: see ops/loss.py); β = 0 is exactly the
    L1 loss."""
    reduction = resolve_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got beta={beta}).")
    input, target = _pointwise_operands(input, target, "smooth_l1_loss")
    if beta == 0:
        return _reduce((input - target).abs(), reduction)  # the quadratic zone |d| < 0 is empty
    return _reduce(SmoothL1Loss.apply(input, target, beta=float(beta)), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """½d² where |d| < δ, else δ(|d| - ½δ): the DQN loss (PyTorch's HuberLoss, fused: see ops/loss.py)."""
    reduction = resolve_reduction(None, None, reduction, "huber_loss")
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got delta={delta}).")
    input, target = _pointwise_operands(input, target, "huber_loss")
    loss = HuberLoss.apply(input, target, delta=float(delta))
    return _weighted(loss, input, weight, reduction, "huber_loss", mean_over_weight=False)


# ----- binary classification --------------------------------------------------------------------------------------
def _check_same_shape(op_name, input, target, message):
    if input.shape != target.shape:
        raise ValueError(f"{op_name}: {message.format(target=tuple(target.shape), input=tuple(input.shape))}")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-w [y log p + (1-y) log(1-p)] for probabilities p, each log clamped at -100, with PyTorch's backward
    dp = (p - y) / max(p(1-p), 1e-12) (fused: see ops/loss.py)."""
    reduction = resolve_reduction(size_average, reduce, reduction, "binary_cross_entropy")
    input, target = as_operands(input, target, "binary_cross_entropy")
    _check_same_shape("binary_cross_entropy", input, target, "Using a target size ({target}) that is different to "
                      "the input size ({input}) is deprecated. Please ensure they have the same size.")
    outside = (input.data < 0) | (input.data > 1)
    if outside.any():
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * _as_tensor_like(weight, input)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """BCE of σ(input), computed stably from the logits; pos_weight p scales the positive term:

        ℓ = -w [p·y log σ(x) + (1-y) log(1-σ(x))] = w [(1-y) x + (1 + (p-1) y) softplus(-x)]

    With the fused, stable softplus the whole expression stays exact at logits of ±1e4.
    """
    reduction = resolve_reduction(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    input, target = as_operands(input, target, "binary_cross_entropy_with_logits")
    _check_same_shape("binary_cross_entropy_with_logits", input, target,
                      "Target size ({target}) must be the same as input size ({input})")
    if pos_weight is None:
        loss = BinaryCrossEntropyWithLogits.apply(input, target)
    else:
        pos_weight = _as_tensor_like(pos_weight, input)
        loss = (1 - target) * input + ((pos_weight - 1) * target + 1) * softplus(-input)
    if weight is not None:
        loss = loss * _as_tensor_like(weight, input)
    return _reduce(loss, reduction)


# ----- multi-class classification ---------------------------------------------------------------------------------
def _classes_last(input, target_array, op_name):
    """(N, C, d1, ...) scores and (N, d1, ...) targets -> (N·d1·..., C) and (N·d1·...,), as PyTorch accepts;
    an unbatched (C,) input with a 0-d target becomes (1, C) and (1,)."""
    if input.ndim > 2:
        expected = (input.shape[0],) + tuple(input.shape[2:])
        if target_array.shape != expected:
            raise RuntimeError(f"{op_name}: input {tuple(input.shape)} needs a target of shape {expected}, "
                               f"got {tuple(target_array.shape)}")
        order = (0,) + tuple(range(2, input.ndim)) + (1,)
        input = input.permute(*order).reshape(-1, input.shape[1])  # (N·d1·..., C)
        target_array = target_array.reshape(-1)
    elif input.ndim == 1:
        if target_array.ndim != 0:
            raise ValueError(f"{op_name}: an unbatched input {tuple(input.shape)} needs a 0-d target, "
                             f"got {tuple(target_array.shape)}")
        input = input.reshape(1, -1)
        target_array = target_array.reshape(1)
    elif input.ndim == 2 and target_array.shape != (input.shape[0],):
        raise ValueError(f"{op_name}: input {tuple(input.shape)} needs a target of shape ({input.shape[0]},), "
                         f"got {tuple(target_array.shape)}")
    return input, target_array


def _class_targets(input, target, op_name):
    """The integer targets, flattened to match `_classes_last`; the output shape for reduction='none'."""
    target_array = as_array(target)
    if target_array.dtype.kind not in "iu":
        raise RuntimeError(f"{op_name}: target must hold integer class indices, got dtype {target_array.dtype} (for "
                           f"class probabilities pass a float target of the input's shape {tuple(input.shape)})")
    unreduced_shape = tuple(target_array.shape)
    rows, flat_target = _classes_last(input, target_array, op_name)
    return rows, flat_target, unreduced_shape


def _weighted_nll(log_probs, target, weight, ignore_index, label_smoothing, op_name):
    """Per-row loss and the 'mean' denominator for (M, C) log-probabilities and (M,) integer targets:

        ℓ_i = (1-ε) w[y_i] (-log p[i, y_i]) + (ε/C) Σ_c w_c (-log p[i, c]),   0 where y_i = ignore_index
        denominator = Σ_i w[y_i] over the rows that are not ignored

    (w = 1 without class weights), which is PyTorch's nll_loss / cross_entropy with weight and label_smoothing.
    """
    rows, classes = log_probs.shape
    target = _host(target)
    valid = target != ignore_index
    safe_target = np.where(valid, target, 0)
    out_of_range = (safe_target < 0) | (safe_target >= classes)
    if out_of_range.any():
        raise IndexError(f"{op_name}: target values must be in [0, {classes}) or ignore_index={ignore_index}, "
                         f"got {np.unique(target[out_of_range]).tolist()}")
    if weight is None:
        weight_array = np.ones(classes, dtype=log_probs.dtype)
    else:
        weight_array = _host(as_array(weight)).astype(log_probs.dtype)
        if weight_array.shape != (classes,):
            raise ValueError(f"{op_name}: weight must hold one value per class, shape ({classes},), got "
                             f"{weight_array.shape}")
    row_weight = np.where(valid, weight_array[safe_target], 0).astype(log_probs.dtype)  # w[y_i], 0 if ignored
    # where(), not a multiplication by 0: an ignored row may hold -inf log-probabilities, and -inf · 0 is NaN.
    keep = Tensor._from_array(array_to_device(valid, log_probs.device), device=log_probs.device)
    picked = where(keep, log_probs[np.arange(rows), safe_target], 0.0)  # log p[i, y_i]
    loss = -picked * _as_tensor_like(row_weight, log_probs) * (1.0 - label_smoothing)
    if label_smoothing > 0:
        smooth = -(log_probs * _as_tensor_like(weight_array, log_probs)).sum(dim=1)
        loss = loss + where(keep, smooth, 0.0) * (label_smoothing / classes)
    return loss, float(row_weight.sum())


def _finish_classification(loss, denominator, reduction, unreduced_shape):
    if reduction == "none":
        return loss.reshape(unreduced_shape)
    if reduction == "sum":
        return loss.sum()
    return _divide_by_total(loss.sum(), denominator)


def _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing):
    """Soft targets (class probabilities, the input's shape): ℓ = -Σ_c w_c t_c log softmax(x)_c per sample;
    'mean' divides by the number of samples, as PyTorch."""
    input, target = as_operands(input, target, "cross_entropy")
    class_dim = 1 if input.ndim >= 2 else 0
    classes = input.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    terms = log_softmax(input, class_dim) * target
    if weight is not None:
        shape = [1] * input.ndim
        shape[class_dim] = classes  # broadcast the class weights along the class dim
        terms = terms * _as_tensor_like(_host(as_array(weight)).reshape(shape), input)
    loss = -terms.sum(dim=class_dim)
    return _reduce(loss, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy from logits (N, C) (or (N, C, d...), or unbatched (C,)) against integer class targets, or
    against class probabilities of the input's shape.

    Without class weights it runs the fused, max-shifted kernel; with `weight` it is log_softmax followed by
    the weighted nll_loss. 'mean' averages over the targets that are not `ignore_index` (weighted by their
    class weight when given), as PyTorch.
    """
    reduction = resolve_reduction(size_average, reduce, reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    target_array = as_array(target)
    if target_array.dtype.kind == "f":
        if tuple(target_array.shape) != tuple(input.shape):
            raise RuntimeError(f"cross_entropy: target must hold integer class indices, got dtype {target_array.dtype} "
                               f"(a float target holds class probabilities and must have the input's shape "
                               f"{tuple(input.shape)}, got {tuple(target_array.shape)})")
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing)
    rows, flat_target, unreduced_shape = _class_targets(input, target, "cross_entropy")
    if weight is None and reduction == "none":
        return cross_entropy_per_sample(rows, flat_target, ignore_index, label_smoothing).reshape(unreduced_shape)
    if weight is None:
        # One fused op for the reduced loss: the sum of the per-sample losses times 1 or 1 / count.
        scale = 1.0
        if reduction == "mean":
            count = int((flat_target != ignore_index).sum())
            scale = float("nan") if count == 0 else 1.0 / count  # every target ignored: NaN, as PyTorch
        return cross_entropy_total(rows, flat_target, scale, ignore_index, label_smoothing)
    loss, denominator = _weighted_nll(log_softmax(rows, 1), flat_target, weight, ignore_index, label_smoothing,
                                      "cross_entropy")
    return _finish_classification(loss, denominator, reduction, unreduced_shape)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-w[y] · input[i, y_i] for log-probabilities `input`; 'mean' divides by the total weight of the targets
    that are not `ignore_index`."""
    reduction = resolve_reduction(size_average, reduce, reduction, "nll_loss")
    rows, flat_target, unreduced_shape = _class_targets(input, target, "nll_loss")
    loss, denominator = _weighted_nll(rows, flat_target, weight, ignore_index, 0.0, "nll_loss")
    return _finish_classification(loss, denominator, reduction, unreduced_shape)
