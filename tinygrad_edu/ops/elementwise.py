"""Elementwise ops: arithmetic, activations, clip, maximum/minimum, where, and comparisons.

Binary ops broadcast like NumPy. Their backward returns gradients in the broadcast shape; the engine sums them
back to each input's shape in one place (`autograd.unbroadcast`).
"""
import math

import numpy as np

from tinygrad_edu import backend
from tinygrad_edu import tensor as tensor_module
from tinygrad_edu.autograd import ArrayFunction


def as_operands(a, b, op_name):
    """Wrap Python numbers and arrays as tensors and give both operands one dtype.

    Python scalars take the dtype of the tensor operand (as in PyTorch, `x * 2` stays float32); an integer tensor
    combined with a float tensor takes the float tensor's dtype; two float dtypes promote to the wider one.
    """
    Tensor = tensor_module.Tensor
    a_is_tensor = isinstance(a, Tensor)
    b_is_tensor = isinstance(b, Tensor)
    if a_is_tensor and b_is_tensor:
        if a.dtype == b.dtype:
            return a, b
        dtype = _promote(a.dtype, b.dtype)
        device = a.device
    elif a_is_tensor:
        dtype = _promote_scalar(a.dtype, b, op_name)
        device = a.device
    elif b_is_tensor:
        dtype = _promote_scalar(b.dtype, a, op_name)
        device = b.device
    else:
        raise TypeError(f"{op_name}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    return _as_dtype(a, dtype, device), _as_dtype(b, dtype, device)


def _promote(dtype_a, dtype_b):
    if dtype_a.kind == "f" and dtype_b.kind != "f":
        return dtype_a
    if dtype_b.kind == "f" and dtype_a.kind != "f":
        return dtype_b
    return np.promote_types(dtype_a, dtype_b)


def _promote_scalar(tensor_dtype, scalar, op_name):
    if isinstance(scalar, (bool, int, float, np.number)):
        if tensor_dtype.kind in "iub" and isinstance(scalar, (float, np.floating)):
            return tensor_module.DEFAULT_FLOAT
        return tensor_dtype
    if isinstance(scalar, np.ndarray):
        return _promote(tensor_dtype, scalar.dtype)
    raise TypeError(f"{op_name}: unsupported operand type {type(scalar).__name__}")


def _as_dtype(value, dtype, device="cpu"):
    """A tensor of `dtype`: tensors are cast; scalars and host arrays become constants on `device`."""
    Tensor = tensor_module.Tensor
    if isinstance(value, Tensor):
        return value if value.dtype == dtype else Cast.apply(value, dtype=dtype)
    array = np.asarray(value, dtype=dtype)
    if device != "cpu":
        array = tensor_module.array_to_device(array, device)
    return Tensor._from_array(array, device)


def _array(value):
    """`value` as an array: x * scalar gives a NumPy scalar for a 0-d x; device arrays pass through."""
    return np.asarray(value) if isinstance(value, np.generic) else value


class Cast(ArrayFunction):
    """y = x converted to `dtype`;  dx = dy converted back to x's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.input_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.input_dtype.kind != "f":
            return None
        return grad_out.astype(ctx.input_dtype)


class Add(ArrayFunction):
    """y = a + b;  da = dy, db = dy."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, grad_out


class Sub(ArrayFunction):
    """y = a - b;  da = dy, db = -dy.  (A primitive rather than a + (-b): one graph node instead of two.)"""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, -grad_out if ctx.needs_input_grad[1] else None


class Mul(ArrayFunction):
    """y = a * b;  da = dy * b, db = dy * a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        grad_a = grad_out * b if ctx.needs_input_grad[0] else None
        grad_b = grad_out * a if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(ArrayFunction):
    """y = a / b;  da = dy / b, db = -dy * a / b²."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        grad_a = grad_out / b if ctx.needs_input_grad[0] else None
        grad_b = -grad_out * a / (b * b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class PowScalar(ArrayFunction):
    """y = x ** p for a constant p;  dx = dy * p * x ** (p - 1)."""

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return x ** exponent

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        p = ctx.exponent
        return grad_out * (p * x ** (p - 1))


class Neg(ArrayFunction):
    """y = -x;  dx = -dy."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad_out):
        return -grad_out


class Exp(ArrayFunction):
    """y = eˣ;  dx = dy * y."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        return grad_out * y


class Log(ArrayFunction):
    """y = ln x;  dx = dy / x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out / x


class Sqrt(ArrayFunction):
    """y = √x;  dx = dy / (2y)."""

    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        return grad_out / (2 * y)


class Abs(ArrayFunction):
    """y = |x|;  dx = dy * sign(x)  (0 at x = 0, as PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * np.sign(x)


class Tanh(ArrayFunction):
    """y = tanh x;  dx = dy * (1 - y²)."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        return grad_out * (1 - y * y)


class Sigmoid(ArrayFunction):
    """y = 1 / (1 + e⁻ˣ);  dx = dy * y (1 - y).  Computed as (1 + tanh(x/2)) / 2, which never overflows."""

    @staticmethod
    def forward(ctx, x):
        y = 0.5 * (1 + np.tanh(0.5 * x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        return grad_out * y * (1 - y)


class Relu(ArrayFunction):
    """y = max(x, 0);  dx = dy where x > 0, else 0."""

    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        return grad_out * (y > 0)


class LeakyRelu(ArrayFunction):
    """y = x if x > 0 else s·x;  dx = dy if x > 0 else s·dy."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return np.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return np.where(x > 0, grad_out, grad_out * ctx.negative_slope)


class GeluErf(ArrayFunction):
    """y = x Φ(x) with Φ the normal CDF;  dx = dy (Φ(x) + x φ(x)), φ the normal density.  (PyTorch's default.)"""

    @staticmethod
    def forward(ctx, x):
        cdf = 0.5 * (1.0 + backend.kernels(x).erf(_array(x * x.dtype.type(1 / math.sqrt(2.0)))))
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, grad_out):
        x, cdf = ctx.saved_tensors
        density = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return grad_out * (cdf + x * density)


class GeluTanh(ArrayFunction):
    """y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³);  dx = dy(½(1 + tanh u) + ½x(1 - tanh²u) du/dx)."""

    @staticmethod
    def forward(ctx, x):
        c = math.sqrt(2.0 / math.pi)
        t = np.tanh(c * (x + 0.044715 * x ** 3))
        ctx.save_for_backward(x, t)
        return 0.5 * x * (1 + t)

    @staticmethod
    def backward(ctx, grad_out):
        x, t = ctx.saved_tensors
        c = math.sqrt(2.0 / math.pi)
        du_dx = c * (1 + 3 * 0.044715 * x * x)
        return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx)


class Clip(ArrayFunction):
    """y = min(max(x, low), high);  dx = dy where low ≤ x ≤ high, else 0 (as PyTorch's clamp)."""

    @staticmethod
    def forward(ctx, x, low, high):
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return np.clip(x, low, high)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        inside = np.ones_like(x, dtype=bool)  # on x's device
        if ctx.low is not None:
            inside &= x >= ctx.low
        if ctx.high is not None:
            inside &= x <= ctx.high
        return grad_out * inside


class Maximum(ArrayFunction):
    """y = max(a, b);  the gradient goes to the larger input, split evenly on ties (as torch.maximum)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        share_a = (a > b) + 0.5 * (a == b)
        return grad_out * share_a, grad_out * (1 - share_a)


class Where(ArrayFunction):
    """y = a where condition else b;  da = dy where condition, db = dy elsewhere (condition has no gradient)."""

    @staticmethod
    def forward(ctx, a, b, condition):
        ctx.condition = condition
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad_out):
        zero = np.zeros((), dtype=grad_out.dtype)
        grad_a = np.where(ctx.condition, grad_out, zero) if ctx.needs_input_grad[0] else None
        grad_b = np.where(ctx.condition, zero, grad_out) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


# ----- functions the Tensor methods call ----------------------------------------------------------------------
def _check_broadcastable(a, b, op_name):
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op_name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _binary(function, a, b, op_name):
    Tensor = tensor_module.Tensor
    # Fast path for the common case (two tensors of one dtype): this runs for every arithmetic op.
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype == b.data.dtype):
        a, b = as_operands(a, b, op_name)
    if a.data.shape != b.data.shape:
        _check_broadcastable(a, b, op_name)
    return function.apply(a, b)


def add(a, b):
    return _binary(Add, a, b, "add")


def sub(a, b):
    return _binary(Sub, a, b, "sub")


def mul(a, b):
    return _binary(Mul, a, b, "mul")


def div(a, b):
    a, b = as_operands(a, b, "div")
    if a.dtype.kind != "f":
        # True division of integers gives floats, as in Python and PyTorch.
        a, b = _as_dtype(a, tensor_module.DEFAULT_FLOAT), _as_dtype(b, tensor_module.DEFAULT_FLOAT)
    return _binary(Div, a, b, "div")


def pow(base, exponent):
    Tensor = tensor_module.Tensor
    if isinstance(base, Tensor) and isinstance(exponent, (int, float, np.number)):
        return PowScalar.apply(base, exponent=exponent)
    # A tensor exponent: xʸ = e^(y ln x), so the gradient with respect to y comes from Exp and Log.
    base, exponent = as_operands(base, exponent, "pow")
    return (exponent * base.log()).exp()


def gelu(x, approximate="none"):
    if approximate == "none":
        return GeluErf.apply(x)
    if approximate == "tanh":
        return GeluTanh.apply(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def maximum(a, b):
    return _binary(Maximum, a, b, "maximum")


def minimum(a, b):
    """min(a, b) = -max(-a, -b): no backward of its own."""
    a, b = as_operands(a, b, "minimum")
    return -maximum(-a, -b)


def where(condition, a, b):
    condition_array = tensor_module.as_array(condition)
    if condition_array.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {condition_array.dtype}")
    a, b = as_operands(a, b, "where")
    try:
        np.broadcast_shapes(condition_array.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"where: condition {condition_array.shape}, x {a.shape} and y {b.shape} cannot be broadcast together"
        ) from None
    return Where.apply(a, b, condition=condition_array)


def compare(a, b, numpy_comparison):
    """A comparison: a bool tensor that never requires grad (its derivative is zero almost everywhere)."""
    op_name = numpy_comparison.__name__
    a, b = as_operands(a, b, op_name)
    _check_broadcastable(a, b, op_name)
    return tensor_module.Tensor._from_array(numpy_comparison(a.data, b.data), device=a.device)
