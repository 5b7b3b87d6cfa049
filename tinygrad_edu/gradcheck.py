"""Check analytic gradients against central finite differences, as `torch.autograd.gradcheck` does.

For f: inputs -> output and a random cotangent c (fixed by `seed`), the scalar L = Σ f(x) · c has
∂L/∂xᵢ ≈ (L(x + ε eᵢ) - L(x - ε eᵢ)) / 2ε. A random c (rather than a plain sum) matters: Σ softmax(x) is constant,
so a softmax backward that returned zeros would pass a sum-based check.
"""
from dataclasses import dataclass

import numpy as np

from tinygrad_edu import autograd
from tinygrad_edu.tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by `gradcheck` when an analytic gradient disagrees with finite differences."""


@dataclass
class GradientReport:
    """How the analytic gradient of one input compares with the numeric one."""

    input_index: int
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    worst_element: tuple
    analytic: float
    numeric: float
    passed: bool


def _float64_inputs(inputs):
    prepared = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            prepared.append(Tensor(x.data.astype(np.float64), requires_grad=x.requires_grad))
        else:
            prepared.append(x)
    if not any(isinstance(x, Tensor) and x.requires_grad for x in prepared):
        # Nothing was marked: check every float input.
        prepared = [x.requires_grad_(True) if isinstance(x, Tensor) and x.dtype.kind == "f" else x for x in prepared]
    return prepared


def gradient_reports(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare analytic and numeric gradients of `fn` for each input that requires grad; one report each."""
    inputs = _float64_inputs(inputs)
    output = fn(*inputs)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    cotangent = np.random.default_rng(seed).standard_normal(output.shape)
    output.backward(cotangent)

    def loss_at():
        with autograd.no_grad():
            return float(np.sum(fn(*inputs).data * cotangent))

    reports = []
    for index, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.data
        numeric = np.zeros(x.shape)
        flat = x.data.reshape(-1)  # a view: perturbing it perturbs the input fn sees
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            loss_plus = loss_at()
            flat[i] = original - eps
            loss_minus = loss_at()
            flat[i] = original
            numeric.reshape(-1)[i] = (loss_plus - loss_minus) / (2 * eps)
        abs_error = np.abs(analytic - numeric)
        excess = abs_error - (atol + rtol * np.abs(numeric))
        worst = np.unravel_index(np.argmax(excess), x.shape) if x.numel() else ()
        rel_error = abs_error / np.maximum(np.abs(numeric), 1e-12)
        reports.append(GradientReport(
            input_index=index,
            shape=x.shape,
            max_abs_error=float(abs_error.max(initial=0.0)),
            max_rel_error=float(rel_error.max(initial=0.0)),
            worst_element=tuple(int(i) for i in worst),
            analytic=float(analytic[worst]) if x.numel() else 0.0,
            numeric=float(numeric[worst]) if x.numel() else 0.0,
            passed=bool(np.all(excess <= 0)),
        ))
    return reports


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Raise `GradcheckError` unless every analytic gradient of `fn` matches central finite differences.

    Inputs are copied to float64; those with `requires_grad=True` are checked (all float inputs if none is).
    `fn` must be deterministic. Returns True when every element of every gradient passes
    |analytic - numeric| <= atol + rtol * |numeric|.

    >>> import tinygrad_edu as tg
    >>> tg.gradcheck(lambda x: (x * x).tanh(), tg.randn(3, 2))
    True
    """
    for report in gradient_reports(fn, *inputs, eps=eps, atol=atol, rtol=rtol, seed=seed):
        if not report.passed:
            raise GradcheckError(
                f"gradcheck: gradient of input {report.input_index} (shape {report.shape}) does not match finite "
                f"differences: worst element {report.worst_element} has analytic {report.analytic:.8g} and numeric "
                f"{report.numeric:.8g} (max abs error {report.max_abs_error:.3g}, atol={atol}, rtol={rtol})"
            )
    return True
