"""Elementwise ops on the GPU: every kernel is made by one of two factories from a scalar device function.

As minitorch's `tensor_map` / `tensor_zip`, the loop is written once and the op is a parameter:

    map_kernel(fn):  thread i -> out[i] = fn(a[i])                                   (flat, contiguous arrays)
    zip_kernel(fn):  thread i -> out[i] = fn(a[offset_a(i)], b[offset_b(i)])         (NumPy broadcasting)

    offset_x(i) = Σ_d coord_d(i) · stride_x[d]   with stride 0 along the dims x is broadcast over, so nothing is
                                                  copied (device_functions.strided_offset)

`zip_kernel(_add)` is the whole of addition; UNARY and BINARY below map op names (NumPy's ufunc names where NumPy
has one) to the compiled kernels, and CudaArray's ufuncs (kernels/cuda/array_ufuncs.py) launch them. Comparisons
use the same factory: the output array is bool, so `fn`'s True/False is stored as is. Numba compiles each kernel
at its first launch, for the argument types it gets (one compilation per op and dtype).

Why it is fast (as fast as elementwise gets): memory-bound, so the only goals are coalesced loads (neighbouring
threads touch neighbouring elements) and no extra passes (broadcasting by zero strides, not by copies). A real
engine fuses chains of these into one kernel; that fusion is the next lesson, not this one.
`numba.cuda.vectorize` would make these kernels too, but numba-cuda 0.30's simulator cannot compile CUDA ufuncs,
and the tests must run there, hence the explicit factories.
"""
import math

import numpy as np
from numba import cuda

from kernels.cuda._device import as_contiguous_device, empty, is_device_array, launch_config, require_cuda
from kernels.cuda.device_functions import NDIM, strided_offset
from kernels.reference.elementwise import GELU_TANH_CUBIC, SQRT_2_OVER_PI, SQRT_HALF, check_gelu_inputs
from kernels.reference.elementwise import check_relu_backward_inputs

THREADS = 128


# ----- the two factories ----------------------------------------------------------------------------------------
def map_kernel(fn):
    """Compile out[i] = fn(a[i]) over flat arrays, one thread per element (`fn` a device function)."""

    @cuda.jit
    def map_(a, out):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = fn(a[i])

    return map_


def zip_kernel(fn):
    """Compile out.flat[i] = fn(a at i, b at i) with broadcasting through zero strides (`fn` a device function)."""

    @cuda.jit
    def zip_(a, a_strides, b, b_strides, out, shape):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = fn(a[strided_offset(i, shape, a_strides)], b[strided_offset(i, shape, b_strides)])

    return zip_


@cuda.jit
def where_kernel(condition, c_strides, a, a_strides, b, b_strides, out, shape):
    """out.flat[i] = a at i if condition at i else b at i: all three broadcast through zero strides."""
    i = cuda.grid(1)
    if i >= out.size:
        return
    if condition[strided_offset(i, shape, c_strides)]:
        out[i] = a[strided_offset(i, shape, a_strides)]
    else:
        out[i] = b[strided_offset(i, shape, b_strides)]


# ----- the scalar functions -------------------------------------------------------------------------------------
# IEEE results at the edges of exp/log/sqrt's domains. A GPU gives them anyway (exp(1000) = inf, log(-1) = NaN);
# the simulator runs Python's math module, which raises OverflowError / ValueError there instead, so the guards
# make it give the GPU's answers. On a GPU each costs one comparison.
@cuda.jit(device=True)
def _exp(x):
    return math.inf if x > 709.0 else math.exp(x)


@cuda.jit(device=True)
def _expm1(x):
    return math.inf if x > 709.0 else math.expm1(x)


@cuda.jit(device=True)
def _log(x):
    if x < 0:
        return math.nan
    return -math.inf if x == 0 else math.log(x)


@cuda.jit(device=True)
def _log1p(x):
    if x < -1:
        return math.nan
    return -math.inf if x == -1 else math.log1p(x)


@cuda.jit(device=True)
def _sqrt(x):
    return math.nan if x < 0 else math.sqrt(x)


@cuda.jit(device=True)
def _tanh(x):
    return math.tanh(x)


@cuda.jit(device=True)
def _erf(x):
    return math.erf(x)


@cuda.jit(device=True)
def _negative(x):
    return -x


@cuda.jit(device=True)
def _identity(x):
    return x


@cuda.jit(device=True)
def _absolute(x):
    return abs(x)


@cuda.jit(device=True)
def _sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    return x * 0  # 0 stays 0, NaN stays NaN (as np.sign)


@cuda.jit(device=True)
def _relu(x):
    return x if x > 0 else x * 0  # x * 0 keeps NaN as NaN and the dtype


@cuda.jit(device=True)
def _sigmoid(x):
    return 1 / (1 + _exp(-x))


@cuda.jit(device=True)
def _isfinite(x):
    return abs(x) < math.inf  # false for ±inf and for NaN (every comparison with NaN is false)


@cuda.jit(device=True)
def _isnan(x):
    return x != x


@cuda.jit(device=True)
def _isinf(x):
    return abs(x) == math.inf


@cuda.jit(device=True)
def _logical_not(x):
    return x == 0


@cuda.jit(device=True)
def _add(x, y):
    return x + y


@cuda.jit(device=True)
def _subtract(x, y):
    return x - y


@cuda.jit(device=True)
def _multiply(x, y):
    return x * y


@cuda.jit(device=True)
def _true_divide(x, y):
    return x / y


@cuda.jit(device=True)
def _power(x, y):
    return x ** y


@cuda.jit(device=True)
def _maximum(x, y):
    return x if x > y or x != x else y  # NaN propagates, as np.maximum


@cuda.jit(device=True)
def _minimum(x, y):
    return x if x < y or x != x else y  # NaN propagates, as np.minimum


@cuda.jit(device=True)
def _greater(x, y):
    return x > y


@cuda.jit(device=True)
def _greater_equal(x, y):
    return x >= y


@cuda.jit(device=True)
def _less(x, y):
    return x < y


@cuda.jit(device=True)
def _less_equal(x, y):
    return x <= y


@cuda.jit(device=True)
def _equal(x, y):
    return x == y


@cuda.jit(device=True)
def _not_equal(x, y):
    return x != y


@cuda.jit(device=True)
def _logical_and(x, y):
    return (x != 0) and (y != 0)


@cuda.jit(device=True)
def _logical_or(x, y):
    return (x != 0) or (y != 0)


@cuda.jit(device=True)
def _logical_xor(x, y):
    return (x != 0) != (y != 0)


@cuda.jit(device=True)
def _relu_backward(y, grad_y):
    # y <= 0 is False for a NaN y, so NaN passes grad_y through, as in PyTorch
    return 0 if y <= 0 else grad_y


RELU_BACKWARD = zip_kernel(_relu_backward)

# GELU, one thread per element each way, in the forms of kernels/reference/elementwise.py: float64 takes PyTorch's
# ½(1 + erf(x/√2)) and ½(1 + tanh u), float32 the forms that keep the left tail, ½erfc(-x/√2) and σ(2u).
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@cuda.jit(device=True)
def _gaussian(x):
    return math.exp(-0.5 * x * x)  # 0 at x = ±inf, so x·φ(x) is inf·0 = NaN there, as in torch


@cuda.jit(device=True)
def _gelu_erf32(x):
    return x * (0.5 * math.erfc(-x * SQRT_HALF))


@cuda.jit(device=True)
def _gelu_erf32_backward(x, grad_y):
    return grad_y * (0.5 * math.erfc(-x * SQRT_HALF) + x * (_gaussian(x) * _INV_SQRT_2PI))


@cuda.jit(device=True)
def _gelu_erf64(x):
    return x * (0.5 * (1 + math.erf(x * SQRT_HALF)))


@cuda.jit(device=True)
def _gelu_erf64_backward(x, grad_y):
    return grad_y * (0.5 * (1 + math.erf(x * SQRT_HALF)) + x * (_gaussian(x) * _INV_SQRT_2PI))


@cuda.jit(device=True)
def _tanh_argument(x):
    return SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x * x * x)


@cuda.jit(device=True)
def _tanh_argument_slope(x):
    return SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_CUBIC * x * x)


@cuda.jit(device=True)
def _sigmoid_pair(w):
    """(σ(w), σ(w)σ(-w)) from e = e^-|w| ≤ 1: no overflow, and no 1 - σ cancellation where σ ≈ 1."""
    e = math.exp(-abs(w))
    inverse = 1 / (1 + e)
    sigmoid = inverse if w >= 0 else e * inverse
    return sigmoid, e * inverse * inverse


@cuda.jit(device=True)
def _gelu_tanh32(x):
    sigmoid, _ = _sigmoid_pair(2 * _tanh_argument(x))
    return x * sigmoid


@cuda.jit(device=True)
def _gelu_tanh32_backward(x, grad_y):
    sigmoid, sigmoid_product = _sigmoid_pair(2 * _tanh_argument(x))
    return grad_y * (sigmoid + x * (sigmoid_product * 2 * _tanh_argument_slope(x)))


@cuda.jit(device=True)
def _gelu_tanh64(x):
    return x * (0.5 * (1 + math.tanh(_tanh_argument(x))))


@cuda.jit(device=True)
def _gelu_tanh64_backward(x, grad_y):
    t = math.tanh(_tanh_argument(x))
    return grad_y * (0.5 * (1 + t) + x * (0.5 * (1 - t * t) * _tanh_argument_slope(x)))


# (approximate, dtype) -> kernel
GELU_FORWARD = {("none", np.float32): map_kernel(_gelu_erf32), ("none", np.float64): map_kernel(_gelu_erf64),
                ("tanh", np.float32): map_kernel(_gelu_tanh32), ("tanh", np.float64): map_kernel(_gelu_tanh64)}
GELU_BACKWARD = {("none", np.float32): zip_kernel(_gelu_erf32_backward),
                 ("none", np.float64): zip_kernel(_gelu_erf64_backward),
                 ("tanh", np.float32): zip_kernel(_gelu_tanh32_backward),
                 ("tanh", np.float64): zip_kernel(_gelu_tanh64_backward)}


# ----- the kernels, by op name ----------------------------------------------------------------------------------
UNARY = {
    "negative": map_kernel(_negative), "positive": map_kernel(_identity), "absolute": map_kernel(_absolute),
    "sign": map_kernel(_sign), "exp": map_kernel(_exp), "expm1": map_kernel(_expm1), "log": map_kernel(_log),
    "log1p": map_kernel(_log1p), "sqrt": map_kernel(_sqrt), "tanh": map_kernel(_tanh), "erf": map_kernel(_erf),
    "relu": map_kernel(_relu), "sigmoid": map_kernel(_sigmoid),
    # bool results
    "isfinite": map_kernel(_isfinite), "isnan": map_kernel(_isnan), "isinf": map_kernel(_isinf),
    "logical_not": map_kernel(_logical_not),
}
BINARY = {
    "add": zip_kernel(_add), "subtract": zip_kernel(_subtract), "multiply": zip_kernel(_multiply),
    "true_divide": zip_kernel(_true_divide), "power": zip_kernel(_power), "maximum": zip_kernel(_maximum),
    "minimum": zip_kernel(_minimum),
    # bool results
    "greater": zip_kernel(_greater), "greater_equal": zip_kernel(_greater_equal), "less": zip_kernel(_less),
    "less_equal": zip_kernel(_less_equal), "equal": zip_kernel(_equal), "not_equal": zip_kernel(_not_equal),
    "logical_and": zip_kernel(_logical_and), "logical_or": zip_kernel(_logical_or),
    "logical_xor": zip_kernel(_logical_xor),
}
BOOL_RESULTS = {"isfinite", "isnan", "isinf", "logical_not", "greater", "greater_equal", "less", "less_equal",
                "equal", "not_equal", "logical_and", "logical_or", "logical_xor"}


# ----- launching ------------------------------------------------------------------------------------------------
def _broadcast_strides(shape, out_shape):
    """Element strides of a C-contiguous array of `shape` read as `out_shape` (both padded to NDIM dims)."""
    padded = (1,) * (NDIM - len(shape)) + tuple(shape)
    strides = [0] * NDIM
    step = 1
    for d in range(NDIM - 1, -1, -1):
        strides[d] = step if padded[d] != 1 else 0
        step *= padded[d]
    return tuple(strides)


def broadcast_launch(kernel, out, operands):
    """Launch a broadcasting kernel (zip_kernel's or where_kernel): `operands` are (flat contiguous device array,
    shape) pairs, `out` a flat device array of np.broadcast_shapes(those shapes). Each operand is passed with its
    zero-stride view (no copies): the kernel gets (op0, strides0, op1, strides1, ..., out, padded shape)."""
    out_shape = np.broadcast_shapes(*[shape for _, shape in operands])
    if len(out_shape) > NDIM:
        raise ValueError(f"at most {NDIM} dims are supported on cuda, got {out_shape}")
    size = int(np.prod(out_shape))
    if size == 0:
        return
    args = []
    for flat, shape in operands:
        args += [flat, _broadcast_strides(shape, out_shape)]
    padded_shape = (1,) * (NDIM - len(out_shape)) + tuple(out_shape)
    kernel[launch_config(size, THREADS)](*args, out, padded_shape)


def flat_launch(kernel, a, out):
    """Launch a map_kernel over the flat contiguous device arrays a -> out."""
    if out.size:
        kernel[launch_config(out.size, THREADS)](a, out)


# ----- on device arrays -----------------------------------------------------------------------------------------
def _check_float(name, value):
    dtype = value.dtype if (isinstance(value, np.ndarray) or is_device_array(value)) else None
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: inputs must be float32 or float64 arrays, got {dtype or type(value).__name__}")


def unary(op, a):
    """op(a) elementwise for a host or device float array, op a name in UNARY; returns a device array.

    >>> unary("exp", np.zeros(2, np.float32)).copy_to_host()    # doctest: +SKIP
    array([1., 1.], dtype=float32)
    """
    _check_float(op, a)
    require_cuda()
    out = empty(a.shape, np.bool_ if op in BOOL_RESULTS else a.dtype)
    if out.size:
        flat_launch(UNARY[op], as_contiguous_device(a).reshape(out.size), out.reshape(out.size))
    return out


def binary(op, a, b):
    """op(a, b) with NumPy broadcasting for host or device float arrays of one dtype, op a name in BINARY;
    returns a device array."""
    _check_float(op, a)
    _check_float(op, b)
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: a is {a.dtype} but b is {b.dtype}; both must share one dtype")
    out_shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    if len(out_shape) > NDIM:
        raise ValueError(f"{op}: at most {NDIM} dims are supported, got {out_shape}")
    require_cuda()
    out = empty(out_shape, np.bool_ if op in BOOL_RESULTS else a.dtype)
    a_flat = as_contiguous_device(a).reshape(int(np.prod(a.shape)))
    b_flat = as_contiguous_device(b).reshape(int(np.prod(b.shape)))
    broadcast_launch(BINARY[op], out.reshape(out.size), [(a_flat, tuple(a.shape)), (b_flat, tuple(b.shape))])
    return out


def erf(x):
    """The error function erf(x) elementwise (for the exact GELU); returns a device array."""
    return unary("erf", x)


def relu_backward(y, grad_y):
    """0 where y ≤ 0, else grad_y (ReLU's input gradient from its output y), host or device arrays of one shape
    and dtype; returns a device array."""
    check_relu_backward_inputs("relu_backward", y, grad_y)
    require_cuda()
    shape = tuple(grad_y.shape)
    out = empty(shape, grad_y.dtype)
    size = int(np.prod(shape))
    operands = [(as_contiguous_device(value).reshape(size), shape) for value in (y, grad_y)]
    broadcast_launch(RELU_BACKWARD, out.reshape(size), operands)
    return out


def gelu_forward(x, approximate="none"):
    """y = x·Φ(x) (or the tanh form) for a host or device float array; returns a device array."""
    check_gelu_inputs("gelu_forward", x, approximate=approximate)
    require_cuda()
    out = empty(tuple(x.shape), x.dtype)
    if out.size:
        flat_launch(GELU_FORWARD[approximate, x.dtype.type], as_contiguous_device(x).reshape(out.size), out.reshape(out.size))
    return out


def gelu_backward(x, grad_y, approximate="none"):
    """grad_y·(Φ(x) + x·φ(x)) (or the tanh form's derivative) for host or device arrays of one shape and dtype;
    returns a device array."""
    check_gelu_inputs("gelu_backward", x, grad_y, approximate)
    require_cuda()
    shape = tuple(x.shape)
    out = empty(shape, x.dtype)
    size = int(np.prod(shape))
    operands = [(as_contiguous_device(value).reshape(size), shape) for value in (x, grad_y)]
    broadcast_launch(GELU_BACKWARD[approximate, x.dtype.type], out.reshape(size), operands)
    return out
