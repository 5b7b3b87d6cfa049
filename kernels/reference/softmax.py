"""Softmax, log-softmax and cross-entropy in plain NumPy: the oracle for every compiled backend.

The reduction axis is always the LAST axis (the engine moves axes first); any leading dims are treated as rows,
so `x` is viewed as (R, C).

Numerical stability: every row has its maximum subtracted before `exp`, so logits of ±1e4 are exact.

Non-finite values behave exactly as in PyTorch (the tests check each case against torch):
  * -inf entries (masked classes) get probability 0 and log-probability -inf; the rest of the row is normal.
  * A row that is entirely -inf has no defined softmax: the whole row is NaN (max = -inf, -inf - -inf = NaN).
    Attention, which makes such rows from masks, handles them itself (see attention.py).
  * A row holding +inf or NaN is NaN throughout (inf - inf = NaN, and NaN spreads through the row sum).
  * Cross-entropy adds the label-smoothing term ε/C·Σ_c logp only when ε > 0: with a -inf logit Σ_c logp is
    -inf, and 0·(-inf) would turn the loss of [[-inf, 0, 1]] into NaN instead of 1.3133.
Empty inputs (R = 0 rows or C = 0 classes) give empty outputs.
"""
import numpy as np

_FLOATS = (np.float32, np.float64)


def check_float_array(kernel, name, array):
    """Raise TypeError unless `array` is a float32/float64 ndarray with at least one dim (any dim may be 0)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{kernel}: {name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in _FLOATS:
        raise TypeError(f"{kernel}: {name} must be float32 or float64, got {array.dtype}")
    if array.ndim < 1:
        raise ValueError(f"{kernel}: {name} needs at least one dim (the class axis), got a 0-d array")


def check_float_pair(kernel, a_name, a, b_name, b):
    """Raise unless a and b are float arrays of the same shape and dtype."""
    check_float_array(kernel, a_name, a)
    check_float_array(kernel, b_name, b)
    if a.shape != b.shape:
        raise ValueError(f"{kernel}: {a_name} {a.shape} and {b_name} {b.shape} must have the same shape")
    if a.dtype != b.dtype:
        raise TypeError(f"{kernel}: {a_name} {a.dtype} and {b_name} {b.dtype} must have the same dtype")


def check_cross_entropy_inputs(kernel, logits, target, ignore_index, check_range=True):
    """Validate (N, C) logits and (N,) integer targets; return target as int64. Shared with the cpu backend,
    which checks the target range inside its kernel instead (check_range=False) to save a few NumPy passes."""
    check_float_array(kernel, "logits", logits)
    if logits.ndim != 2:
        raise ValueError(f"{kernel}: logits must be 2-D (N, C), got shape {logits.shape}")
    if not isinstance(target, np.ndarray) or target.dtype.kind not in "iu":
        got = target.dtype if isinstance(target, np.ndarray) else type(target).__name__
        raise TypeError(f"{kernel}: target must be an integer ndarray (int64), got {got}")
    if target.shape != (logits.shape[0],):
        raise ValueError(f"{kernel}: target shape {target.shape} must be (N,) = ({logits.shape[0]},)")
    target = target.astype(np.int64, copy=False)
    if check_range:
        bad = (target != ignore_index) & ((target < 0) | (target >= logits.shape[1]))
        if bad.any():
            raise_bad_target(kernel, int(target[np.argmax(bad)]), logits.shape[1], ignore_index)
    return target


def raise_bad_target(kernel, value, n_classes, ignore_index):
    """The one error message for an out-of-range class index."""
    raise ValueError(f"{kernel}: target value {value} is out of range for C={n_classes} classes "
                     f"(and is not ignore_index={ignore_index})")


def smoothing_share(label_smoothing, n_classes):
    """ε/C, the probability label smoothing gives every class (0 when there are no classes: N = C = 0)."""
    return label_smoothing / n_classes if n_classes else 0.0


def softmax_forward(x):
    """y = exp(x - max) / Σ exp(x - max) over the last axis.  dy/dx: gx = y * (g - Σ g·y).

    >>> softmax_forward(np.array([0.0, np.log(3.0)])).round(3)
    array([0.25, 0.75])
    """
    check_float_array("softmax_forward", "x", x)
    if x.size == 0:
        return np.empty_like(x)
    with np.errstate(invalid="ignore"):  # -inf - -inf and inf - inf are NaN: the answer for those rows
        shifted = x - x.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(y, grad_y):
    """gx = y * (g - Σ_c g·y): the Jacobian diag(y) - y yᵀ applied to g, without forming it."""
    check_float_pair("softmax_backward", "y", y, "grad_y", grad_y)
    dot = (grad_y * y).sum(axis=-1, keepdims=True)
    return y * (grad_y - dot)


def log_softmax_forward(x):
    """y = (x - max) - log Σ exp(x - max).  gx = g - exp(y) Σ g."""
    check_float_array("log_softmax_forward", "x", x)
    if x.size == 0:
        return np.empty_like(x)
    with np.errstate(invalid="ignore"):
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward(y, grad_y):
    """gx = g - softmax(x) Σ_c g, with softmax(x) = exp(y)."""
    check_float_pair("log_softmax_backward", "y", y, "grad_y", grad_y)
    return grad_y - np.exp(y) * grad_y.sum(axis=-1, keepdims=True)


def cross_entropy_forward(logits, target, ignore_index=-100, label_smoothing=0.0):
    """loss_i = -(1-ε)·logp[i, t_i] - (ε/C)·Σ_c logp[i, c]  (0 where t_i == ignore_index).

    logits (N, C), target (N,) int64 -> (loss (N,), log_probs (N, C)); log_probs is saved for backward.
    """
    target = check_cross_entropy_inputs("cross_entropy_forward", logits, target, ignore_index)
    n_rows, n_classes = logits.shape
    log_probs = log_softmax_forward(logits)
    keep = target != ignore_index
    safe_target = np.where(keep, target, 0)
    picked = log_probs[np.arange(n_rows), safe_target]
    eps = label_smoothing
    with np.errstate(invalid="ignore"):
        loss = -(1.0 - eps) * picked
        if eps > 0:  # only then: Σ_c logp is -inf for a row with a masked class, and 0·(-inf) is NaN
            loss = loss - smoothing_share(eps, n_classes) * log_probs.sum(axis=1)
    loss = np.where(keep, loss, 0.0).astype(logits.dtype)
    return loss, log_probs


def cross_entropy_backward(log_probs, target, grad_loss, ignore_index=-100, label_smoothing=0.0):
    """grad_logits[i] = grad_loss_i · (softmax_i - (1-ε)·onehot(t_i) - ε/C); zero rows where t_i is ignored."""
    target = check_cross_entropy_inputs("cross_entropy_backward", log_probs, target, ignore_index)
    n_rows, n_classes = log_probs.shape
    check_float_array("cross_entropy_backward", "grad_loss", grad_loss)
    if grad_loss.shape != (n_rows,) or grad_loss.dtype != log_probs.dtype:
        raise ValueError(f"cross_entropy_backward: grad_loss {grad_loss.shape} {grad_loss.dtype} must be "
                         f"({n_rows},) {log_probs.dtype}")
    eps = label_smoothing
    keep = target != ignore_index
    grad = np.exp(log_probs) - smoothing_share(eps, n_classes)
    rows = np.nonzero(keep)[0]
    grad[rows, target[rows]] -= 1.0 - eps
    grad *= np.where(keep, grad_loss, 0.0)[:, None]
    return grad.astype(log_probs.dtype, copy=False)
