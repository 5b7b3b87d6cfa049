"""Loss ops fused for numerical stability: each keeps PyTorch's forward and its hand-written derivative, so an
unused branch or a cancelling pair of infinities cannot turn a gradient into NaN.

All four are elementwise (one loss per element, unreduced); the callers in nn/loss_functions.py reduce.
"""
import numpy as np

from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.elementwise import stable_sigmoid


class BinaryCrossEntropyWithLogits(ArrayFunction):
    """ℓ = -[y log σ(x) + (1-y) log(1-σ(x))] = ((1-y) x - min(x, 0)) + log(1 + e^(-|x|));  dx = dℓ (σ(x) - y),
    dy = -dℓ x.

    This is PyTorch's (1-y) x - log σ(x) with log σ(x) = min(x, 0) - log(1 + e^(-|x|)), grouped so the two
    linear terms cancel first: exact far in the tail (x = -20, y = 0 gives e^-20 in float32, not 0), and the
    same infinities as PyTorch: +inf at x = +inf (y < 1), NaN at x = -inf (-inf + inf).
    """

    @staticmethod
    def forward(ctx, logits, target):
        ctx.save_for_backward(logits, target)
        with np.errstate(invalid="ignore"):
            linear = (1 - target) * logits - np.minimum(logits, 0)
            return linear + np.log1p(np.exp(-np.abs(logits)))

    @staticmethod
    def backward(ctx, grad_out):
        logits, target = ctx.saved_tensors
        grad_logits = grad_out * (stable_sigmoid(logits) - target) if ctx.needs_input_grad[0] else None
        grad_target = -grad_out * logits if ctx.needs_input_grad[1] else None
        return grad_logits, grad_target


class BinaryCrossEntropy(ArrayFunction):
    """ℓ = -[y max(log p, -100) + (1-y) max(log(1-p), -100)];
    dp = dℓ (p - y) / max((1-p) p, ε) with ε = 1e-12 (a float32 constant in PyTorch, so ε = 9.9999999600e-13
    in float64 too);  dy = -dℓ logit(p) = dℓ log((1-p) / p).

    PyTorch's forward (logs clamped at -100, so p = 0 or 1 gives a finite loss) and its hand-written backward,
    not the derivative of the clamped formula: at p = 0 with y = 0 the gradient is (0 - 0)/ε = 0, where the
    derivative of -(1-y) log(1-p) would be dℓ (1-y)/(1-p) = dℓ.
    """

    EPSILON = float(np.float32(1e-12))

    @staticmethod
    def forward(ctx, probabilities, target):
        ctx.save_for_backward(probabilities, target)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = np.maximum(np.log(probabilities), -100)
            log_not_p = np.maximum(np.log1p(-probabilities), -100)
        return (target - 1) * log_not_p - target * log_p

    @staticmethod
    def backward(ctx, grad_out):
        p, target = ctx.saved_tensors
        grad_p = grad_y = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                grad_p = grad_out * (p - target) / np.maximum((1 - p) * p, p.dtype.type(BinaryCrossEntropy.EPSILON))
            if ctx.needs_input_grad[1]:
                grad_y = -grad_out * np.log(p / (1 - p))
        return grad_p, grad_y


class HuberLoss(ArrayFunction):
    """ℓ = ½d² where |d| < δ, else δ(|d| - ½δ), with d = x - y;  dx = dℓ · clamp(d, -δ, δ), dy = -dx.

    The derivative is taken per branch, as PyTorch's huber_loss_backward: at d = -inf it is -δ·dℓ, where
    differentiating where(|d| ≤ δ, ½d², ...) would leak 0 · inf = NaN from the unused quadratic branch.
    """

    @staticmethod
    def forward(ctx, input, target, delta):
        difference = input - target
        ctx.save_for_backward(difference)
        ctx.delta = delta
        absolute = np.abs(difference)
        with np.errstate(invalid="ignore"):
            return np.where(absolute < delta, 0.5 * absolute * absolute, delta * (absolute - 0.5 * delta))

    @staticmethod
    def backward(ctx, grad_out):
        (difference,) = ctx.saved_tensors
        delta = difference.dtype.type(ctx.delta)
        with np.errstate(invalid="ignore"):
            slope = np.where(difference <= -delta, -delta, np.where(difference >= delta, delta, difference))
            grad = grad_out * slope
        return (grad if ctx.needs_input_grad[0] else None), (-grad if ctx.needs_input_grad[1] else None)


class SmoothL1Loss(ArrayFunction):
    """ℓ = ½d²/β where |d| < β, else |d| - ½β, with d = x - y (β > 0);  dx = dℓ · clamp(d/β, -1, 1), dy = -dx.

    Per branch, as PyTorch's smooth_l1_loss_backward (see HuberLoss: no NaN from the unused branch at d = ±inf).
    """

    @staticmethod
    def forward(ctx, input, target, beta):
        difference = input - target
        ctx.save_for_backward(difference)
        ctx.beta = beta
        absolute = np.abs(difference)
        with np.errstate(invalid="ignore"):
            return np.where(absolute < beta, 0.5 * absolute * absolute / beta, absolute - 0.5 * beta)

    @staticmethod
    def backward(ctx, grad_out):
        (difference,) = ctx.saved_tensors
        beta = difference.dtype.type(ctx.beta)
        one = difference.dtype.type(1)
        with np.errstate(invalid="ignore"):
            slope = np.where(difference <= -beta, -one, np.where(difference >= beta, one, difference / beta))
            grad = grad_out * slope
        return (grad if ctx.needs_input_grad[0] else None), (-grad if ctx.needs_input_grad[1] else None)
