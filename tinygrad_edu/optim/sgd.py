"""Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay (PyTorch's update).

For each parameter p with gradient g, at step t:

    g ← g + weight_decay · p                            (L2 penalty ½·wd·‖p‖², folded into g)
    b ← g                                   if t = 1    (the buffer starts at the first gradient)
    b ← momentum · b + (1 - dampening) · g  otherwise
    g ← g + momentum · b                    if nesterov (look ahead along the buffer)
    g ← b                                   otherwise   (when momentum > 0)
    p ← p - lr · g
"""
from __future__ import annotations

from collections.abc import Iterable

from tinygrad_edu.optim.optimizer import Optimizer, ParamGroup
from tinygrad_edu.tensor import Tensor


class SGD(Optimizer):
    """`SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False)`, as `torch.optim.SGD`.

    >>> import tinygrad_edu as tg
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * 2.0).sum().backward()     # g = 2 every step
    ...     opt.step()                     # buffers 2, then 0.9·2 + 2 = 3.8
    >>> w.data                             # 1 - 0.5·2 - 0.5·3.8
    array([-1.9], dtype=float32)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[ParamGroup], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _validate_group(self, group: ParamGroup) -> None:
        if group["lr"] < 0.0:
            raise ValueError(f"SGD: invalid learning rate {group['lr']} (must be >= 0)")
        if group["momentum"] < 0.0:
            raise ValueError(f"SGD: invalid momentum {group['momentum']} (must be >= 0)")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"SGD: invalid weight_decay {group['weight_decay']} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0.0 or group["dampening"] != 0.0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")

    def _update_group(self, group: ParamGroup) -> None:
        lr = group["lr"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        weight_decay = group["weight_decay"]
        for param in group["params"]:
            if param.grad is None:
                continue
            grad = self._grad_array(param)
            data = self._param_array(param)
            if weight_decay != 0.0:
                grad = grad + weight_decay * data
            if momentum != 0.0:
                state = self.state.setdefault(param, {})
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    # copy(): the buffer must not alias the gradient, which backward may reuse.
                    buffer = grad.copy()  # C order, on the gradient's device
                    state["momentum_buffer"] = buffer
                else:
                    buffer *= momentum
                    buffer += (1.0 - dampening) * grad
                if group["nesterov"]:
                    grad = grad + momentum * buffer
                else:
                    grad = buffer
            data -= lr * grad
