"""The engine's elementwise ops and an axis sum on the GPU: one thread per element, block-reduction sums.

Binary ops broadcast like NumPy. Each op is one tiny kernel launch over the output; the op is picked by a small
integer inside the kernel (every thread of a launch takes the same branch, so the branch costs nothing) so one
compiled kernel serves all ops of a dtype.

Thread mapping:

    binary/unary:  index = blockIdx.x * blockDim.x + threadIdx.x  ->  one output element
                   its 6-D coordinate comes from the output shape; each input is read at
                   Σ coord[d] * stride[d] with stride 0 along broadcast dims (nothing is materialised)
    sum(x, axis):  x viewed as (outer, n, inner); one block per output (o, i); threads t, t+T, ... add
                   x[o, t::T, i], then a shared-memory tree (_device.block_sum) adds the T partial sums

Why it is fast (as fast as elementwise gets): memory-bound, so the only goals are coalesced loads (neighbouring
threads touch neighbouring elements) and no extra passes (broadcasting by zero strides, not by copies). A real
engine would fuse chains of these into one kernel; that fusion is the next lesson, not this one.
`numba.cuda.vectorize` would write the binary ops in one line each, but numba-cuda 0.30's simulator cannot
compile CUDA ufuncs, and the tests must run there, hence the explicit kernels.
"""
import math

import numpy as np
from numba import cuda

from kernels.cuda._device import (
    MAX_THREADS, as_contiguous_device, block_sum, blocks_for, empty, is_device_array, per_dtype, require_cuda,
    launch_config, row_threads, zeros,
)

NDIM = 6  # most dims a broadcast op handles (shapes are padded on the left with 1s)
THREADS = 128
BINARY_OPS = {"add": 0, "sub": 1, "mul": 2, "div": 3, "maximum": 4, "pow": 5, "minimum": 6}
UNARY_OPS = {"neg": 0, "exp": 1, "log": 2, "tanh": 3, "relu": 4, "sigmoid": 5, "sqrt": 6, "abs": 7, "sign": 8,
             "log1p": 9, "erf": 10, "expm1": 11, "copy": 12}
# Ops with a bool result (comparisons and logic); `compare` runs them, broadcasting like `binary`.
COMPARE_OPS = {"greater": 0, "greater_equal": 1, "less": 2, "less_equal": 3, "equal": 4, "not_equal": 5,
               "logical_and": 6, "logical_or": 7, "logical_xor": 8}
PREDICATE_OPS = {"isfinite": 0, "isnan": 1, "isinf": 2, "logical_not": 3}


@cuda.jit(device=True)
def _offset(index, shape, strides):
    """Flat offset of output element `index` in an input with element `strides` (0 on broadcast dims)."""
    offset = 0
    for d in range(NDIM - 1, -1, -1):  # peel coordinates from the fastest dim outward
        coordinate = index % shape[d]
        index //= shape[d]
        offset += coordinate * strides[d]
    return offset


@cuda.jit
def _binary_kernel(a, a_strides, b, b_strides, out, shape, op):
    """out.flat[i] = op(a at i, b at i), broadcasting through zero strides."""
    i = cuda.grid(1)
    if i >= out.size:
        return
    x = a[_offset(i, shape, a_strides)]
    y = b[_offset(i, shape, b_strides)]
    if op == 0:
        out[i] = x + y
    elif op == 1:
        out[i] = x - y
    elif op == 2:
        out[i] = x * y
    elif op == 3:
        out[i] = x / y
    elif op == 4:
        out[i] = x if x > y or x != x else y  # NaN propagates, as np.maximum
    elif op == 5:
        out[i] = x ** y
    else:
        out[i] = x if x < y or x != x else y  # NaN propagates, as np.minimum


@cuda.jit
def _compare_kernel(a, a_strides, b, b_strides, out, shape, op):
    """out.flat[i] = (a at i) <op> (b at i) as a bool, broadcasting through zero strides."""
    i = cuda.grid(1)
    if i >= out.size:
        return
    x = a[_offset(i, shape, a_strides)]
    y = b[_offset(i, shape, b_strides)]
    if op == 0:
        out[i] = x > y
    elif op == 1:
        out[i] = x >= y
    elif op == 2:
        out[i] = x < y
    elif op == 3:
        out[i] = x <= y
    elif op == 4:
        out[i] = x == y
    elif op == 5:
        out[i] = x != y
    elif op == 6:
        out[i] = (x != 0) and (y != 0)
    elif op == 7:
        out[i] = (x != 0) or (y != 0)
    else:
        out[i] = (x != 0) != (y != 0)


@cuda.jit
def _where_kernel(condition, c_strides, a, a_strides, b, b_strides, out, shape):
    """out.flat[i] = a at i if condition at i else b at i: all three broadcast through zero strides."""
    i = cuda.grid(1)
    if i >= out.size:
        return
    if condition[_offset(i, shape, c_strides)]:
        out[i] = a[_offset(i, shape, a_strides)]
    else:
        out[i] = b[_offset(i, shape, b_strides)]


@cuda.jit
def _predicate_kernel(a, out, op):
    """out[i] = predicate(a[i]) as a bool (isfinite, isnan, isinf, logical_not) over flat arrays."""
    i = cuda.grid(1)
    if i >= out.size:
        return
    x = a[i]
    if op == 0:
        out[i] = abs(x) < math.inf  # false for ±inf and for NaN (every comparison with NaN is false)
    elif op == 1:
        out[i] = x != x
    elif op == 2:
        out[i] = abs(x) == math.inf
    else:
        out[i] = x == 0


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


@cuda.jit
def _unary_kernel(a, out, op):
    """out[i] = op(a[i]) over flat contiguous arrays."""
    i = cuda.grid(1)
    if i >= out.size:
        return
    x = a[i]
    if op == 0:
        out[i] = -x
    elif op == 1:
        out[i] = _exp(x)
    elif op == 2:
        out[i] = _log(x)
    elif op == 3:
        out[i] = math.tanh(x)
    elif op == 4:
        out[i] = x if x > 0 else x * 0  # x * 0 keeps NaN as NaN and the dtype
    elif op == 5:
        out[i] = 1 / (1 + _exp(-x))
    elif op == 6:
        out[i] = _sqrt(x)
    elif op == 7:
        out[i] = abs(x)
    elif op == 8:
        if x > 0:
            out[i] = 1
        elif x < 0:
            out[i] = -1
        else:
            out[i] = x * 0  # 0 stays 0, NaN stays NaN (as np.sign)
    elif op == 9:
        out[i] = _log1p(x)
    elif op == 10:
        out[i] = math.erf(x)
    elif op == 11:
        out[i] = _expm1(x)
    else:
        out[i] = x


def _broadcast_strides(shape, out_shape):
    """Element strides of a C-contiguous array of `shape` read as `out_shape` (both padded to NDIM dims)."""
    padded = (1,) * (NDIM - len(shape)) + tuple(shape)
    strides = [0] * NDIM
    step = 1
    for d in range(NDIM - 1, -1, -1):
        strides[d] = step if padded[d] != 1 else 0
        step *= padded[d]
    return tuple(strides)


def _check_float(name, value):
    dtype = value.dtype if (isinstance(value, np.ndarray) or is_device_array(value)) else None
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: inputs must be float32 or float64 arrays, got {dtype or type(value).__name__}")


def binary(op, a, b):
    """out = op(a, b) with NumPy broadcasting, op one of BINARY_OPS; a, b host or device, same float dtype."""
    _check_float(op, a)
    _check_float(op, b)
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: a is {a.dtype} but b is {b.dtype}; both must share one dtype")
    out_shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    if len(out_shape) > NDIM:
        raise ValueError(f"{op}: at most {NDIM} dims are supported, got {out_shape}")
    require_cuda()
    a_flat = as_contiguous_device(a).reshape(max(1, int(np.prod(a.shape))))
    b_flat = as_contiguous_device(b).reshape(max(1, int(np.prod(b.shape))))
    out = empty(out_shape, a.dtype)
    if out.size:
        padded_shape = (1,) * (NDIM - len(out_shape)) + tuple(out_shape)
        _binary_kernel[launch_config(out.size, THREADS)](
            a_flat, _broadcast_strides(a.shape, out_shape), b_flat, _broadcast_strides(b.shape, out_shape),
            out.reshape(out.size), padded_shape, BINARY_OPS[op])
    return out


def broadcast_launch(kernel, out, operands, *extra):
    """Launch a broadcasting kernel: `operands` are flat contiguous device arrays with their shapes, `out` is a
    flat device array of np.broadcast_shapes(those shapes). Each operand is passed with its zero-stride view
    (no copies); the kernel receives (op0, strides0, op1, strides1, ..., out, padded shape, *extra)."""
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
    kernel[launch_config(size, THREADS)](*args, out, padded_shape, *extra)


def flat_launch(kernel, out, a, op):
    """Launch a one-thread-per-element kernel over flat contiguous device arrays a -> out."""
    if out.size:
        kernel[launch_config(out.size, THREADS)](a, out, op)


def unary(op, a):
    """out = op(a) elementwise, op one of UNARY_OPS; returns a device array."""
    _check_float(op, a)
    require_cuda()
    out = empty(a.shape, a.dtype)
    if out.size:
        flat = as_contiguous_device(a).reshape(out.size)
        _unary_kernel[launch_config(out.size, THREADS)](flat, out.reshape(out.size), UNARY_OPS[op])
    return out


def add(a, b):
    """a + b (broadcasting); device result."""
    return binary("add", a, b)


def sub(a, b):
    """a - b (broadcasting); device result."""
    return binary("sub", a, b)


def mul(a, b):
    """a * b (broadcasting); device result."""
    return binary("mul", a, b)


def div(a, b):
    """a / b (broadcasting); device result."""
    return binary("div", a, b)


def maximum(a, b):
    """max(a, b) elementwise (broadcasting, NaN propagates); device result."""
    return binary("maximum", a, b)


def pow(a, b):  # noqa: A001 - the op's name in the engine
    """a ** b (broadcasting); device result."""
    return binary("pow", a, b)


def neg(a):
    """-a; device result."""
    return unary("neg", a)


def exp(a):
    """exp(a); device result."""
    return unary("exp", a)


def log(a):
    """log(a); device result."""
    return unary("log", a)


def tanh(a):
    """tanh(a); device result."""
    return unary("tanh", a)


def relu(a):
    """max(a, 0); device result."""
    return unary("relu", a)


def sigmoid(a):
    """1 / (1 + exp(-a)); device result."""
    return unary("sigmoid", a)


def sqrt(a):
    """sqrt(a); device result."""
    return unary("sqrt", a)


def absolute(a):
    """|a|; device result."""
    return unary("abs", a)


def erf(a):
    """The error function erf(a) (for the exact GELU); device result."""
    return unary("erf", a)


@per_dtype
def _sum_kernel(dtype):
    """x3 (outer, n, inner) -> out (outer * inner,): one block per output, block tree reduction over n."""

    @cuda.jit
    def sum_kernel(x3, out):
        buffer = cuda.shared.array(MAX_THREADS, dtype)
        n_inner = x3.shape[2]
        o = cuda.blockIdx.x // n_inner  # which output this block owns
        i = cuda.blockIdx.x % n_inner
        local = dtype(0)
        for k in range(cuda.threadIdx.x, x3.shape[1], cuda.blockDim.x):  # thread t adds k = t, t+T, ...
            local += x3[o, k, i]
        total = block_sum(buffer, local)
        if cuda.threadIdx.x == 0:
            out[cuda.blockIdx.x] = total

    return sum_kernel


def sum_axis(x, axis, keepdims=False):
    """Sum of x over one axis (host or device float array); returns a device array.

    >>> sum_axis(np.ones((2, 3), np.float32), 1).copy_to_host()   # doctest: +SKIP
    array([3., 3.], dtype=float32)
    """
    _check_float("sum_axis", x)
    ndim = len(x.shape)
    if not -ndim <= axis < ndim:
        raise ValueError(f"sum_axis: axis {axis} is out of range for shape {tuple(x.shape)}")
    require_cuda()
    axis %= ndim
    shape = tuple(x.shape)
    outer = int(np.prod(shape[:axis]))
    inner = int(np.prod(shape[axis + 1:]))
    out_shape = shape[:axis] + ((1,) if keepdims else ()) + shape[axis + 1:]
    out = empty(out_shape, x.dtype)
    if out.size:
        if shape[axis] == 0:  # an empty sum is 0
            return zeros(out_shape, x.dtype)
        x3 = as_contiguous_device(x).reshape(outer, shape[axis], inner)  # (outer, n, inner)
        _sum_kernel(x.dtype)[outer * inner, row_threads(shape[axis])](x3, out.reshape(out.size))
    return out
