"""Softmax, log-softmax and fused cross-entropy: stable forms computed by the backend's kernels.

The kernels reduce over the last axis; these ops move the requested axis there and back.
The composite forms (exp / sum, x - logsumexp) stay in the tests as the oracle.
"""
import numpy as np

from tinygrad_edu import backend
from tinygrad_edu import tensor as tensor_module
from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.reduce import normalize_axis, normalize_dim


def _to_last(x, axis):
    return x if axis == x.ndim - 1 else np.moveaxis(x, axis, -1)


def _from_last(x, axis):
    return x if axis == x.ndim - 1 else np.moveaxis(x, -1, axis)


class Softmax(ArrayFunction):
    """y = e^(x - max x) / Σ e^(x - max x);  dx = y ∘ (dy - Σ dy·y)."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        y = backend.kernels(x).softmax_forward(_to_last(x, axis))
        ctx.save_for_backward(y)
        return _from_last(y, axis)

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        grad = backend.kernels(y).softmax_backward(y, _to_last(grad_out, ctx.axis))
        return _from_last(grad, ctx.axis)


class LogSoftmax(ArrayFunction):
    """y = x - logsumexp(x);  dx = dy - softmax(x) Σ dy = dy - e^y Σ dy."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        y = backend.kernels(x).log_softmax_forward(_to_last(x, axis))
        ctx.save_for_backward(y)
        return _from_last(y, axis)

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        grad = backend.kernels(y).log_softmax_backward(y, _to_last(grad_out, ctx.axis))
        return _from_last(grad, ctx.axis)


class CrossEntropy(ArrayFunction):
    """loss_i = -(1-ε) log p[i, t_i] - ε/C Σ_c log p[i, c] with p = softmax(logits_i);  dlogits_i = dloss_i (p_i - (1-ε) onehot(t_i) - ε/C).

    Fused: the gradient needs only p, never 1/p, so it is stable where log(softmax(x)) written out is not.
    Rows whose target is `ignore_index` have loss 0 and gradient 0.

    With a `scale` s the op returns the reduced loss y = s · Σ_i loss_i (s = 1 for reduction='sum', 1 / (rows
    not ignored) for 'mean'), and its backward is the one above with dloss_i = s · dy for every row: the same
    floats as the per-row op followed by a sum and a multiply by s (the composite the tests keep as the oracle),
    in one graph node instead of three.
    """

    @staticmethod
    def forward(ctx, logits, target, ignore_index, label_smoothing, scale=None):
        loss, log_probs = backend.kernels(logits).cross_entropy_forward(logits, target, ignore_index, label_smoothing)
        ctx.save_for_backward(log_probs, target)
        ctx.ignore_index, ctx.label_smoothing, ctx.scale = ignore_index, label_smoothing, scale
        if scale is None:
            return loss
        # The same sum as the Sum op's over the one axis, times s in the loss's dtype (a Python float does not
        # widen it).
        return loss.sum() * scale

    @staticmethod
    def backward(ctx, grad_out):
        log_probs, target = ctx.saved_tensors
        if ctx.scale is not None:
            grad_out = np.broadcast_to(grad_out * ctx.scale, (log_probs.shape[0],))  # (N,): every row gets s·dy
        grad = backend.kernels(log_probs).cross_entropy_backward(
            log_probs, target, backend.contiguous(grad_out), ctx.ignore_index, ctx.label_smoothing
        )
        return grad


def _check_float(op_name, x):
    if x.dtype.kind != "f":
        raise TypeError(f"{op_name}: expected a float32 or float64 tensor, got {x.dtype} of shape {x.shape}")
    if x.ndim == 0:
        raise ValueError(f"{op_name}: expected at least 1 dimension, got a 0-d tensor")


def _along_axis(function, x, axis, op_name):
    """Apply a last-axis op along `axis`; a 0-d tensor is a slice of one element (dim 0 or -1), as in PyTorch."""
    if x.dtype.kind != "f":
        raise TypeError(f"{op_name}: expected a float32 or float64 tensor, got {x.dtype} of shape {x.shape}")
    if x.ndim == 0:
        normalize_dim(axis, 0, op_name)
        return function.apply(x.reshape(1), axis=0).reshape(())
    return function.apply(x, axis=normalize_axis(axis, x.ndim, op_name)[0])


def softmax(x, axis=-1):
    """e^x / Σ e^x along `axis`; softmax of a 0-d tensor is 1."""
    return _along_axis(Softmax, x, axis, "softmax")


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`; log_softmax of a 0-d tensor is 0."""
    return _along_axis(LogSoftmax, x, axis, "log_softmax")


def _checked_target(logits, target, ignore_index, label_smoothing):
    """The integer target as an int64 array (on the logits' device), after checking shapes, dtypes and range."""
    _check_float("cross_entropy", logits)
    target_array = tensor_module.as_array(target)  # a device array stays on the device
    if target_array.dtype.kind not in "iu":
        raise RuntimeError(f"cross_entropy: target must hold integer class indices, got dtype {target_array.dtype}")
    if logits.ndim != 2 or target_array.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: expected logits (N, C) and target (N,), got {logits.shape} and {target_array.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if not tensor_module.is_device_array(target_array):
        # IndexError, as torch; the kernels check the range too (a device target only there), with their own type.
        out_of_range = (target_array != ignore_index) & ((target_array < 0) | (target_array >= logits.shape[1]))
        if out_of_range.any():
            raise IndexError(f"cross_entropy: target value {int(target_array[np.argmax(out_of_range)])} is out of "
                             f"range for C={logits.shape[1]} classes (and is not ignore_index={ignore_index})")
    return target_array.astype(np.int64, copy=False)


def cross_entropy_per_sample(logits, target, ignore_index=-100, label_smoothing=0.0):
    """Unreduced cross-entropy of (N, C) logits against (N,) integer class indices: a (N,) tensor."""
    target_array = _checked_target(logits, target, ignore_index, label_smoothing)
    return CrossEntropy.apply(logits, target=target_array, ignore_index=int(ignore_index),
                              label_smoothing=float(label_smoothing))


def cross_entropy_total(logits, target, scale, ignore_index=-100, label_smoothing=0.0):
    """scale · Σ_i of the per-sample cross-entropy of (N, C) logits against (N,) targets: a 0-d tensor.

    scale 1 gives reduction='sum', 1 / (number of targets that are not ignore_index) gives 'mean' (NaN when
    every target is ignored, as PyTorch).
    """
    target_array = _checked_target(logits, target, ignore_index, label_smoothing)
    return CrossEntropy.apply(logits, target=target_array, ignore_index=int(ignore_index),
                              label_smoothing=float(label_smoothing), scale=float(scale))
