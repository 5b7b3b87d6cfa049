"""Adam and AdamW (PyTorch's update), each step one fused in-place kernel call per param group.

For each parameter p with gradient g, at step t = 1, 2, ...:

    Adam:   g ← g + weight_decay · p                  (L2 penalty, folded into the gradient)
    AdamW:  p ← p · (1 - lr · weight_decay)           (decoupled decay, applied to p directly)
    m ← β1 · m + (1 - β1) · g                         (first moment, starts at 0)
    v ← β2 · v + (1 - β2) · g²                        (second moment, starts at 0)
    v̂ ← max(v̂, v) if amsgrad else v                  (AMSGrad keeps the running maximum)
    p ← p - lr / (1 - β1^t) · m / (√v̂ / √(1 - β2^t) + eps)

The bias corrections 1 - β^t undo the pull towards the zero start of m and v. Without amsgrad the whole step
of a param group is one call of `backend.kernels().adam_step_foreach` / `adamw_step_foreach` (the NumPy reference
or the fused Numba kernel, which reads and writes every element once, per tensor); the amsgrad variant is plain
NumPy here.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinygrad_edu import backend
from tinygrad_edu.optim.optimizer import Optimizer, ParamGroup
from tinygrad_edu.tensor import Array, Tensor


class Adam(Optimizer):
    """`Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)`, as `torch.optim.Adam`.

    State per parameter: `step` (int), `exp_avg` (m), `exp_avg_sq` (v) and, with amsgrad, `max_exp_avg_sq` (v̂).

    >>> import tinygrad_edu as tg
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * 3.0).sum().backward()
    >>> opt.step()                         # the first Adam step moves each weight by ≈ lr · sign(g)
    >>> w.data
    array([0.9], dtype=float32)
    """

    # AdamW flips this: weight decay multiplies p instead of being added to g.
    decoupled_weight_decay = False

    def __init__(self, params: Iterable[Tensor] | Iterable[ParamGroup], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _validate_group(self, group: ParamGroup) -> None:
        name = type(self).__name__
        if group["lr"] < 0.0:
            raise ValueError(f"{name}: invalid learning rate {group['lr']} (must be >= 0)")
        if group["eps"] < 0.0:
            raise ValueError(f"{name}: invalid eps {group['eps']} (must be >= 0)")
        # A checkpoint written as JSON may turn the tuple into a list; keep it a tuple like PyTorch.
        group["betas"] = tuple(group["betas"])
        if len(group["betas"]) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {group['betas']}")
        for index, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {index}: {beta} (must be in [0, 1))")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"{name}: invalid weight_decay {group['weight_decay']} (must be >= 0)")

    def _state_for(self, param: Tensor, amsgrad: bool) -> dict[str, Any]:
        """The parameter's state, created on its first step: zeros on the parameter's device, C-contiguous (as the
        kernels require; the parameter's data is, see _param_array)."""
        state = self.state.get(param)
        if state is None:
            state = {"step": 0,
                     "exp_avg": np.zeros_like(param.data, dtype=param.dtype),
                     "exp_avg_sq": np.zeros_like(param.data, dtype=param.dtype)}
            self.state[param] = state
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = np.zeros_like(param.data, dtype=param.dtype)
        return state

    def _update_group(self, group: ParamGroup) -> None:
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        hyper = dict(lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2), eps=float(group["eps"]),
                     weight_decay=float(group["weight_decay"]))
        kernel_name = "adamw_step_foreach" if self.decoupled_weight_decay else "adam_step_foreach"
        batches: dict[str, tuple[list, ...]] = {}  # device -> (params, grads, exp_avgs, exp_avg_sqs, steps)
        for param in group["params"]:
            if param.grad is None:
                continue
            grad = self._grad_array(param)
            data = self._param_array(param)
            state = self._state_for(param, amsgrad)
            state["step"] += 1
            if amsgrad:
                self._amsgrad_step(data, grad, state, **hyper)
                continue
            batch = batches.setdefault(param.device, ([], [], [], [], []))
            for column, value in zip(batch, (data, grad, state["exp_avg"], state["exp_avg_sq"], state["step"])):
                column.append(value)
        for params, *rest in batches.values():
            # One call per device for the whole group (the CUDA kernels for parameters on the GPU).
            fused_step = getattr(backend.kernels(params[0]), kernel_name)
            fused_step(params, *rest, **hyper)

    def _amsgrad_step(self, param: Array, grad: Array, state: dict[str, Any], lr: float, beta1: float, beta2: float,
                      eps: float, weight_decay: float) -> None:
        """The same update with v̂ = max(v̂, v) in the denominator, in NumPy, in place."""
        step = state["step"]
        exp_avg = state["exp_avg"]
        exp_avg_sq = state["exp_avg_sq"]
        max_exp_avg_sq = state["max_exp_avg_sq"]
        if self.decoupled_weight_decay:
            param *= 1.0 - lr * weight_decay
        elif weight_decay != 0.0:
            grad = grad + weight_decay * param
        exp_avg *= beta1
        exp_avg += (1.0 - beta1) * grad
        exp_avg_sq *= beta2
        exp_avg_sq += (1.0 - beta2) * grad * grad
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        bias_correction1 = 1.0 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step)
        denom = np.sqrt(max_exp_avg_sq) / bias_correction2_sqrt + eps
        param -= (lr / bias_correction1) * exp_avg / denom


class AdamW(Adam):
    """`AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)`, as PyTorch.

    Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 - lr·wd) before the Adam step, so the decay
    is not rescaled by the adaptive denominator.
    """

    decoupled_weight_decay = True

    def __init__(self, params: Iterable[Tensor] | Iterable[ParamGroup], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
