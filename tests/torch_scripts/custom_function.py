"""Custom autograd Functions, as in PyTorch's tutorial "Defining new autograd functions".

LegendrePolynomial3 implements P3(x) = (5x^3 - 3x) / 2 with its own backward (P3'(x) = 1.5 (5x^2 - 1)), and a
tiny model y = a + b P3(c + d x) is fitted to sin(x) by hand-written gradient descent. Everything is
deterministic, so the coefficients and the loss must match PyTorch's to float32 rounding.
"""
import json
import math

import torch


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class ScaledClamp(torch.autograd.Function):
    """clamp(x * scale, lo, hi) with a straight-through gradient; a non-tensor argument gets None as gradient."""

    @staticmethod
    def forward(ctx, x, scale, lo, hi):
        ctx.scale = scale
        ctx.save_for_backward(x)
        return (x * scale).clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad_x = grad_output * ctx.scale if ctx.needs_input_grad[0] else None
        return grad_x, None, None, None


class MulAdd(torch.autograd.Function):
    """out = x * w + b for two tensors needing grad; backward returns one gradient per input."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x * w + b

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        return grad_out * w, grad_out * x, grad_out.sum(0)


def main():
    dtype = torch.float
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
    y = torch.sin(x)

    a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, dtype=dtype, requires_grad=True)

    learning_rate = 5e-6
    for t in range(200):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        if t % 50 == 49:
            print(t, loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    print(f"Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)")

    # the custom backward agrees with autograd through the same formula
    z = torch.tensor([-1.0, -0.25, 0.5, 2.0], requires_grad=True)
    weights = torch.tensor([0.3, -1.2, 2.0, 0.7])
    (LegendrePolynomial3.apply(z) * weights).sum().backward()
    custom_grad = z.grad.clone()
    z.grad = None
    (0.5 * (5 * z ** 3 - 3 * z) * weights).sum().backward()
    autograd_grad = z.grad

    # non-tensor arguments and needs_input_grad
    s = torch.tensor([-2.0, 0.1, 0.4, 3.0], requires_grad=True)
    clamped = ScaledClamp.apply(s, 2.0, -1.0, 1.0)
    clamped.backward(torch.ones_like(clamped))

    # several inputs, a broadcast bias
    xs = torch.arange(6, dtype=torch.float32).view(3, 2).requires_grad_()
    w = torch.tensor([[0.5, -2.0]], requires_grad=True).expand(3, 2)
    bias = torch.tensor([1.0, 1.0], requires_grad=True)
    out = MulAdd.apply(xs, w, bias)
    out.pow(2).sum().backward()

    return {
        "loss": loss.item(),
        "coefficients": [a.item(), b.item(), c.item(), d.item()],
        "custom_grad": custom_grad.tolist(),
        "autograd_grad": autograd_grad.tolist(),
        "clamped": clamped.tolist(),
        "clamp_grad": s.grad.tolist(),
        "muladd_out": out.tolist(),
        "muladd_x_grad": xs.grad.tolist(),
        "muladd_bias_grad": bias.grad.tolist(),
        "requires_grad_after_apply": out.requires_grad,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
