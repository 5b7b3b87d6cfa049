"""Trigonometric functions: sin and cos, each the other's derivative (up to a sign)."""
import numpy as np

from tinygrad_edu.autograd import ArrayFunction


class Sin(ArrayFunction):
    """y = sin x;  dx = dy · cos x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * np.cos(x)


class Cos(ArrayFunction):
    """y = cos x;  dx = -dy · sin x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return -grad_out * np.sin(x)


def _float(x):
    if x.dtype.kind != "f":
        return x.float()  # as PyTorch: sin of an integer tensor is a float tensor
    return x


def sin(x):
    return Sin.apply(_float(x))


def cos(x):
    return Cos.apply(_float(x))
