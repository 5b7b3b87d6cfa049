"""RMSprop (PyTorch's update): divide each gradient by a running root-mean-square of its recent values.

For each parameter p with gradient g, at every step:

    g ← g + weight_decay · p                          (L2 penalty, folded into the gradient)
    v ← α · v + (1 - α) · g²                          (running mean of g², starts at 0)
    ḡ ← ḡ + (1 - α) · (g - ḡ)                         (centered only: running mean of g, from 0)
    s ← √(v - ḡ²) + eps   if centered                 (centered: an estimate of g's standard deviation)
    s ← √v + eps          otherwise
    b ← momentum · b + g / s,  p ← p - lr · b         if momentum > 0 (b starts at 0)
    p ← p - lr · g / s                                otherwise

Unlike Adam there is no bias correction: v starts at 0, so the first steps are larger than lr (on step 1,
v = (1 - α) g² and |g / √v| = 1 / √(1 - α) = 10 for α = 0.99).
"""
import numpy as np

from tinygrad_edu.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """`RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)`, as PyTorch.

    State per parameter: `step` (int), `square_avg` (v) and, when used, `momentum_buffer` (b) and `grad_avg` (ḡ).

    >>> import tinygrad_edu as tg
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, alpha=0.75)
    >>> (w * 3.0).sum().backward()     # g = 3, v = 0.25 · 9, g / √v = 2
    >>> opt.step()                     # w ← 1 - 0.01 · 2
    >>> w.data
    array([0.98], dtype=float32)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        for option, meaning in (("lr", "learning rate"), ("eps", "eps"), ("momentum", "momentum"),
                                ("weight_decay", "weight_decay"), ("alpha", "alpha")):
            if group[option] < 0.0:
                raise ValueError(f"RMSprop: invalid {meaning} {group[option]} (must be >= 0)")

    def _state_for(self, param, group):
        """The parameter's state, its buffers created (as zeros on the parameter's device) when first needed."""
        state = self.state.get(param)
        if state is None:
            state = {"step": 0, "square_avg": np.zeros_like(param.data, dtype=param.dtype)}
            self.state[param] = state
        if group["momentum"] > 0.0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(param.data, dtype=param.dtype)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(param.data, dtype=param.dtype)
        return state

    def _update_group(self, group):
        lr = float(group["lr"])
        alpha = float(group["alpha"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        momentum = float(group["momentum"])
        for param in group["params"]:
            if param.grad is None:
                continue
            grad = self._grad_array(param)
            data = self._param_array(param)
            state = self._state_for(param, group)
            state["step"] += 1
            if weight_decay != 0.0:
                grad = grad + weight_decay * data
            square_avg = state["square_avg"]
            square_avg *= alpha
            square_avg += (1.0 - alpha) * grad * grad
            if group["centered"]:
                grad_avg = state["grad_avg"]
                grad_avg += (1.0 - alpha) * (grad - grad_avg)  # torch's lerp_, rounded the same way
                denominator = np.sqrt(square_avg - grad_avg * grad_avg) + eps
            else:
                denominator = np.sqrt(square_avg) + eps
            if momentum > 0.0:
                buffer = state["momentum_buffer"]
                buffer *= momentum
                buffer += grad / denominator
                data -= lr * buffer
            else:
                data -= lr * (grad / denominator)
