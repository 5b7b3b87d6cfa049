"""Elementwise ops: arithmetic, activations, clip, maximum/minimum, where, and comparisons.

Binary ops broadcast like NumPy. Their backward returns gradients in the broadcast shape; the engine sums them
back to each input's shape in one place (`autograd.unbroadcast`).
"""

import numpy as np

from tinygrad_edu import backend, dtypes
from tinygrad_edu import tensor as tensor_module
from tinygrad_edu.autograd import ArrayFunction


def as_operands(a, b, op_name):
    """Wrap Python numbers and arrays as tensors and give both operands PyTorch's result dtype.

    The rule itself lives in `tinygrad_edu.dtypes.result_type`: a Python scalar or a 0-d tensor does not widen a
    tensor of its own category (`x * 2.0` and `x + tensor(1.0, dtype=float64)` stay float32), but an integer
    tensor combined with a float takes the float's dtype.
    """
    Tensor = tensor_module.Tensor
    if isinstance(a, Tensor):
        device = a.device
    elif isinstance(b, Tensor):
        device = b.device
    else:
        raise TypeError(f"{op_name}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    for operand in (a, b):
        if not isinstance(operand, (Tensor, np.ndarray, bool, int, float, np.number, np.bool_)):
            raise TypeError(f"{op_name}: unsupported operand type {type(operand).__name__}")
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype == b.dtype:
        return a, b
    dtype = dtypes.result_type(a, b)
    return _as_dtype(a, dtype, device), _as_dtype(b, dtype, device)


def _as_dtype(value, dtype, device="cpu"):
    """A tensor of `dtype`: tensors are cast; scalars and host arrays become constants on `device`."""
    Tensor = tensor_module.Tensor
    if isinstance(value, Tensor):
        return value if value.dtype == dtype else Cast.apply(value, dtype=dtype)
    array = np.asarray(value, dtype=dtype)
    if device != "cpu":
        array = tensor_module.array_to_device(array, device)
    return Tensor._from_array(array, device)


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


def _power_by_constant(x, p):
    """x ** p for a constant p, computed the way PyTorch's CPU kernel computes it.

    PyTorch special-cases some exponents (p = 0 gives 1 even for NaN, 0.5 is sqrt, -0.5 is 1/sqrt, -1 is 1/x,
    2 and 3 are products). They differ from C's pow only at signed zeros and infinities — sqrt(-inf) is NaN where
    pow(-inf, 0.5) is inf; 1/sqrt(-0.0) is -inf where pow(-0.0, -0.5) is inf — and so do the gradients built
    from them, so we take the same route to give the same answers there.
    """
    one = x.dtype.type(1) if x.dtype.kind == "f" else 1
    if p == 0:
        return np.ones_like(x)
    if p == 1:
        return x.copy()
    if p == 2:
        return x * x
    if p == 3:
        return x * x * x
    if x.dtype.kind == "f":
        with np.errstate(divide="ignore", invalid="ignore"):  # NaN / ±inf results are the answer, as in torch
            if p == 0.5:
                return np.sqrt(x)
            if p == -0.5:
                return one / np.sqrt(x)
            if p == -1:
                return one / x
            if p == -2:
                return one / (x * x)
            return x ** x.dtype.type(p)
    return x ** p


class PowScalar(ArrayFunction):
    """y = x ** p for a constant p;  dx = dy · p · x ** (p - 1), and dx = 0 when p = 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return _power_by_constant(x, exponent)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        p = ctx.exponent
        if p == 0:
            # d/dx x⁰ = 0 everywhere, also at x = 0 where p · x^(p-1) would be 0 · inf = NaN.
            return np.zeros_like(grad_out)
        return grad_out * (x.dtype.type(p) * _power_by_constant(x, p - 1))


def _integer_power(base, exponent):
    """Integer xʸ as PyTorch computes it: for y < 0 the exact power truncated toward zero, so 1 for x = 1, ±1 for
    x = -1 (by the parity of y) and 0 otherwise (NumPy refuses negative integer powers instead)."""
    power = np.power(base, np.maximum(exponent, 0))
    if exponent.dtype.kind == "u":
        return power
    # For |x| = 1, x^y = x^(-y), a non-negative power NumPy allows; every other base truncates to 0.
    unit_power = np.where((base == 1) | (base == -1), np.power(base, np.maximum(-exponent, 0)), np.zeros_like(power))
    return np.where(exponent < 0, unit_power, power)


class Pow(ArrayFunction):
    """z = xʸ (C's pow: a negative base with an integer exponent is fine, (-2)³ = -8);
    dx = dz · y · x^(y - 1), 0 where y = 0;  dy = dz · xʸ · ln x, 0 where x = 0 and y ≥ 0.

    The two "0 where" rules are PyTorch's: they keep 0² and x⁰ at x = 0 from giving 0 · inf = NaN. Elsewhere the
    formulas give what they give, as in PyTorch: ln of a negative base is NaN, so dy is NaN there.
    """

    @staticmethod
    def forward(ctx, base, exponent):
        if base.dtype.kind in "iu":
            return _integer_power(base, exponent)  # integer tensors never require grad: nothing to save
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            result = np.power(base, exponent)
        ctx.save_for_backward(base, exponent, result)
        return result

    @staticmethod
    def backward(ctx, grad_out):
        base, exponent, result = ctx.saved_tensors
        zero = np.zeros((), dtype=grad_out.dtype)
        grad_base = grad_exponent = None
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if ctx.needs_input_grad[0]:
                slope = exponent * np.power(base, exponent - 1)
                grad_base = np.where(exponent == 0, zero, grad_out * slope)
            if ctx.needs_input_grad[1]:
                grad_exponent = np.where((base == 0) & (exponent >= 0), zero, grad_out * (result * np.log(base)))
        return grad_base, grad_exponent


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
    """y = |x|;  dx = dy * sign(x), with sign 0 at x = 0 and at x = NaN (as PyTorch's sgn; np.sign(NaN) is NaN)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        sign = (x > 0).astype(grad_out.dtype) - (x < 0).astype(grad_out.dtype)
        return grad_out * sign


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


def stable_sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ) for x ≥ 0 and eˣ / (1 + eˣ) for x < 0: both exponentiate -|x| ≤ 0, so nothing
    overflows, and the negative tail keeps its relative precision (float32 σ(-20) = 2.06e-9, where
    ½(1 + tanh(x/2)) rounds to 0 and log σ(x) becomes -inf)."""
    if x.dtype.kind != "f":
        x = x.astype(tensor_module.DEFAULT_FLOAT)  # sigmoid of an integer tensor is a float tensor, as in torch
    e = np.exp(-np.abs(x))  # in (0, 1]
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


class Sigmoid(ArrayFunction):
    """y = 1 / (1 + e⁻ˣ);  dx = dy * y (1 - y).  Computed by `stable_sigmoid` (exp of -|x| only)."""

    @staticmethod
    def forward(ctx, x):
        y = stable_sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        return grad_out * y * (1 - y)


class Softplus(ArrayFunction):
    """y = log(1 + e^(βx)) / β, and y = x where βx > threshold (torch.nn.functional.softplus);
    dx = dy · σ(βx) = dy · e^(βx) / (1 + e^(βx)), and dx = dy where βx > threshold.

    Below the threshold e^(βx) ≤ e^threshold cannot overflow, and log1p keeps the tail exact (softplus(-30) =
    9.4e-14, not 0); above it the correction log1p(e^-βx) is below float precision, so y = x is exact.
    """

    @staticmethod
    def forward(ctx, x, beta, threshold):
        scaled = x * x.dtype.type(beta)
        linear = scaled > threshold
        ctx.save_for_backward(scaled, linear)
        # exp overflows only where `linear` replaces the result; β = 0 divides by 0 and gives inf, as in torch.
        with np.errstate(over="ignore", divide="ignore"):
            smooth = np.log1p(np.exp(scaled)) / x.dtype.type(beta)
        return np.where(linear, x, smooth)

    @staticmethod
    def backward(ctx, grad_out):
        scaled, linear = ctx.saved_tensors
        with np.errstate(over="ignore", invalid="ignore"):
            z = np.exp(scaled)
            slope = z / (z + scaled.dtype.type(1))
        return np.where(linear, grad_out, grad_out * slope)


class LogSigmoid(ArrayFunction):
    """y = log σ(x) = min(x, 0) - log(1 + e^-|x|);  dx = dy · σ(-x) = dy · (1 - σ(x)).

    Only e^-|x| ≤ 1 is ever computed: log σ(-100) = -100 exactly, where log(sigmoid(x)) written out underflows
    to log 0 = -inf. The gradient is PyTorch's: with z = e^-|x|, σ(-x) = 1/(1+z) for x < 0 and z/(1+z) otherwise.
    """

    @staticmethod
    def forward(ctx, x):
        z = np.exp(-np.abs(x))
        ctx.save_for_backward(x, z)
        return np.minimum(x, x.dtype.type(0)) - np.log1p(z)

    @staticmethod
    def backward(ctx, grad_out):
        x, z = ctx.saved_tensors
        one = z.dtype.type(1)
        sigmoid_of_minus_x = np.where(x < 0, one / (one + z), z / (one + z))
        return grad_out * sigmoid_of_minus_x


class Relu(ArrayFunction):
    """y = max(x, 0);  dx = 0 where y ≤ 0, else dy (so a NaN input passes dy through, as PyTorch's relu)."""

    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)  # NaN stays NaN
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        # one compiled pass; np.where(y <= 0, 0, grad_out) gives the same values, with a branch per element
        return backend.kernels(y).relu_backward(y, grad_out)


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
    """y = x Φ(x), Φ(x) = ½(1 + erf(x/√2)) the normal CDF;  dx = dy (Φ(x) + x φ(x)), φ(x) = e^(-x²/2)/√(2π).
    (PyTorch's default.) One fused kernel each way; the backward recomputes Φ and φ from x, so only x is saved."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return backend.kernels(x).gelu_forward(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return backend.kernels(x).gelu_backward(x, grad_out)


class GeluTanh(ArrayFunction):
    """y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³);  dx = dy(½(1 + tanh u) + ½x(1 - tanh²u) du/dx).
    Fused as GeluErf (float32 kernels compute ½(1 + tanh u) as σ(2u), which keeps the left tail)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return backend.kernels(x).gelu_forward(x, approximate="tanh")

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return backend.kernels(x).gelu_backward(x, grad_out, approximate="tanh")


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


class ClipByTensors(ArrayFunction):
    """y = min(max(x, low), high) with tensor bounds, broadcast; either bound may be None (NaN in any gives NaN).

    Gradients as torch.clamp. With both bounds: dx = dy where low ≤ x ≤ high; dlow = dy where x < low < high;
    dhigh = dy where x > high or high < low (when low > high every output is high, so high gets the whole
    gradient). With one bound the other condition is dropped, not replaced by ±inf: clamp(x, min=low) gives
    dlow = dy where x < low, even at low = +inf (where low < +inf would be false).
    """

    @staticmethod
    def forward(ctx, x, low, high):
        ctx.save_for_backward(x, low, high)
        y = x if low is None else np.maximum(x, low)
        return y if high is None else np.minimum(y, high)

    @staticmethod
    def backward(ctx, grad_out):
        x, low, high = ctx.saved_tensors
        zero = np.zeros((), dtype=grad_out.dtype)
        need = ctx.needs_input_grad  # one flag per tensor input: x, then each bound that was given
        if low is None:
            inside = x <= high
        elif high is None:
            inside = x >= low
        else:
            inside = (x >= low) & (x <= high)
        grads = [np.where(inside, grad_out, zero) if need[0] else None]
        if low is not None:
            binds = (x < low) if high is None else (x < low) & (low < high)
            grads.append(np.where(binds, grad_out, zero) if need[len(grads)] else None)
        if high is not None:
            binds = (x > high) if low is None else (x > high) | (high < low)
            grads.append(np.where(binds, grad_out, zero) if need[len(grads)] else None)
        return tuple(grads)


class Maximum(ArrayFunction):
    """y = max(a, b) (NaN if either is NaN);  the gradient goes to the larger input, split evenly on ties.

    As torch.maximum: da = 0 where a < b, dy / 2 where a == b, else dy — and likewise for b — so where a NaN
    makes the comparisons false, both inputs get the whole dy.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        zero = np.zeros((), dtype=grad_out.dtype)
        tie_share = np.where(a == b, grad_out * grad_out.dtype.type(0.5), grad_out)
        grad_a = np.where(a < b, zero, tie_share) if ctx.needs_input_grad[0] else None
        grad_b = np.where(a > b, zero, tie_share) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


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
        raise RuntimeError(f"{op_name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


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


def power(base, exponent):
    """base ** exponent (NumPy's name; `pow` would hide Python's builtin): a constant exponent runs PowScalar, a
    tensor exponent (or a tensor base under a Python number, `2 ** x`) runs Pow, which also differentiates with
    respect to the exponent.

    >>> (tensor_module.Tensor([-2.0, 0.0]) ** tensor_module.Tensor([3.0, 2.0])).tolist()
    [-8.0, 0.0]
    """
    Tensor = tensor_module.Tensor
    if isinstance(base, Tensor) and isinstance(exponent, (bool, int, float, np.number)):
        if base.dtype.kind != "f" and isinstance(exponent, (float, np.floating)):
            base, _ = as_operands(base, exponent, "pow")  # an integer tensor ** 0.5 is a float tensor, as in torch
        elif base.dtype.kind in "iu" and exponent < 0:
            raise RuntimeError(f"pow: Integers to negative integer powers are not allowed (tensor of dtype "
                               f"{base.dtype} ** {exponent}); use a float tensor")
        return PowScalar.apply(base, exponent=exponent)
    return _binary(Pow, base, exponent, "pow")


def gelu(x, approximate="none"):
    if approximate == "none":
        return GeluErf.apply(x)
    if approximate == "tanh":
        return GeluTanh.apply(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _check_float_input(op_name, x):
    if x.dtype.kind != "f":
        raise TypeError(f"{op_name}: expected a float32 or float64 tensor, got {x.dtype} of shape {x.shape}")


def softplus(x, beta=1.0, threshold=20.0):
    """torch.nn.functional.softplus: log(1 + e^(βx)) / β, linear (= x) where βx > threshold.

    >>> round(softplus(tensor_module.Tensor([0.0])).item(), 4)
    0.6931
    """
    _check_float_input("softplus", x)
    if not isinstance(beta, (int, float, np.number)) or not isinstance(threshold, (int, float, np.number)):
        raise TypeError(f"softplus: beta and threshold must be numbers, got {beta!r} and {threshold!r}")
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))


def logsigmoid(x):
    """torch.nn.functional.logsigmoid: log σ(x) = min(x, 0) - log(1 + e^-|x|), finite for every finite x.

    >>> logsigmoid(tensor_module.Tensor([-100.0])).item()
    -100.0
    """
    _check_float_input("logsigmoid", x)
    return LogSigmoid.apply(x)


def clip(x, min=None, max=None):
    """torch.clamp: bounds may be numbers or tensors (broadcast against x, and differentiated); None is no bound.

    >>> clip(tensor_module.Tensor([-1.0, 0.5, 3.0]), 0.0, tensor_module.Tensor([1.0, 1.0, 2.0])).tolist()
    [0.0, 0.5, 2.0]
    """
    Tensor = tensor_module.Tensor
    if min is None and max is None:
        raise ValueError("clip: at least one of 'min' or 'max' must not be None")
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        for name, bound in (("min", min), ("max", max)):
            if bound is not None and not isinstance(bound, (bool, int, float, np.number)):
                raise TypeError(f"clip: {name} must be a number, a Tensor or None, got {type(bound).__name__}")
        if x.dtype.kind != "f" and any(isinstance(b, (float, np.floating)) for b in (min, max)):
            x = _as_dtype(x, tensor_module.DEFAULT_FLOAT, x.device)  # clamp(int tensor, 0.5) is float, as in torch
        return Clip.apply(x, low=min, high=max)
    # Tensor bounds: one dtype for all three (torch's promotion); a missing bound stays None (its gradient rule
    # differs from that of an infinite bound, see ClipByTensors).
    low = high = None
    if min is not None:
        x, low = as_operands(x, min, "clip")
    if max is not None:
        x, high = as_operands(x, max, "clip")
    if low is not None and low.dtype != x.dtype:
        x, low = as_operands(x, low, "clip")  # `max` widened x's dtype after `min` was matched to it
    try:
        np.broadcast_shapes(x.shape, *(bound.shape for bound in (low, high) if bound is not None))
    except ValueError:
        shapes = [None if bound is None else bound.shape for bound in (low, high)]
        raise ValueError(f"clip: input {x.shape}, min {shapes[0]} and max {shapes[1]} cannot be broadcast "
                         f"together") from None
    return ClipByTensors.apply(x, low, high)


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
