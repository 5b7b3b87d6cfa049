"""Loss ops that need a fused form for numerical stability."""
import numpy as np

from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.elementwise import stable_sigmoid


class BinaryCrossEntropyWithLogits(ArrayFunction):
    """ℓ = -[y log σ(x) + (1-y) log(1-σ(x))] = max(x, 0) - x y + log(1 + e^(-|x|));  dx = dℓ (σ(x) - y), dy = -dℓ x.

    The right-hand form never exponentiates a large positive number, so it is exact at logits of ±1e4.
    """

    @staticmethod
    def forward(ctx, logits, target):
        ctx.save_for_backward(logits, target)
        return np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))

    @staticmethod
    def backward(ctx, grad_out):
        logits, target = ctx.saved_tensors
        grad_logits = grad_out * (stable_sigmoid(logits) - target) if ctx.needs_input_grad[0] else None
        grad_target = -grad_out * logits if ctx.needs_input_grad[1] else None
        return grad_logits, grad_target
