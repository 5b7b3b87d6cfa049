"""`Tensor`: a NumPy array plus what autograd needs (requires_grad, grad, and the op that produced it).

The methods here are thin: each one calls a differentiable op from `tinygrad_edu/ops/`, where the forward and
backward math lives. Creation helpers (`zeros`, `randn`, ...) draw from one seedable generator
(`manual_seed`).

Devices: a tensor on "cpu" holds a NumPy array; a tensor on "cuda" holds a `kernels.cuda.array.CudaArray`, a
NumPy-compatible array whose data stays on the GPU, so the ops' NumPy code runs there unchanged (see that
module). Data crosses between host and device only when asked: `t.to("cuda")` / `t.to("cpu")` copy once, and
`numpy()`, `item()`, `tolist()` and `repr` of a cuda tensor copy to the host. Creation helpers take
device="cuda" (made on the host, then copied over once). Mixing devices in one op is a RuntimeError.
"""
import numpy as np

from tinygrad_edu import autograd
from tinygrad_edu import trace as trace_module
from tinygrad_edu.ops import elementwise, linalg, movement, reduce

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_FLOAT = np.dtype(np.float32)
DEVICES = ("cpu", "cuda")
NO_CUDA_MESSAGE = "CUDA requested but no GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1)"

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator behind `rand`, `randn`, dropout and the initialisers, for reproducible runs."""
    global _generator
    _generator = np.random.default_rng(seed)


def default_generator():
    return _generator


def _to_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype))
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.array(data)
    else:
        array = np.array(data)
        # Python floats become float32, as in PyTorch; NumPy arrays keep their own dtype.
        if array.dtype == np.float64:
            array = array.astype(DEFAULT_FLOAT)
    if array.dtype.kind == "f" and array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"Tensor: unsupported float dtype {array.dtype}; use float32 or float64")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: unsupported dtype {array.dtype}; use a float, integer or bool dtype")
    return array


def _check_device(device):
    """The device's canonical name ("cuda:0" is "cuda"); RuntimeError for an unknown or unavailable device."""
    if device == "cpu":
        return device
    if device in ("cuda", "cuda:0"):
        from tinygrad_edu import cuda  # imports numba: only when CUDA is asked for

        if not cuda.is_available():
            raise RuntimeError(NO_CUDA_MESSAGE)
        return "cuda"
    raise RuntimeError(f"Tensor: unknown or unavailable device {device!r}; available devices: {DEVICES}")


def is_device_array(array):
    """True for the array inside a cuda tensor (a CudaArray), without importing numba."""
    return type(array) is not np.ndarray and getattr(array, "is_cuda_array", False)


def array_to_device(array, device):
    """`array` (NumPy or CudaArray) on `device`: a copy when it moves, the array itself when it is there."""
    if device == "cpu":
        return array.get() if is_device_array(array) else array
    if is_device_array(array):
        return array
    from kernels.cuda import array as cuda_array

    host = np.asarray(array)
    if host.ndim == 0:  # a constant: filled by a kernel, no host-to-device copy
        return cuda_array.full((), host.item(), host.dtype)
    return cuda_array.to_cuda(host)


def copy_array(array, dtype):
    """A private copy of `array` as `dtype`, on the array's own device."""
    if is_device_array(array):
        return array.astype(dtype, copy=True)
    return np.array(array, dtype=dtype, copy=True)


class Tensor:
    """An n-dimensional array that records the ops applied to it, so it can compute gradients.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy()
    array([2., 4., 6.], dtype=float32)
    """

    __array_priority__ = 1000  # so `ndarray * Tensor` calls Tensor.__rmul__
    # Slots make attribute access and creation cheaper: a Tensor is made for every op result.
    __slots__ = ("data", "device", "grad", "_ctx", "_retains_grad", "requires_grad", "name", "__weakref__")

    def __init__(self, data, dtype=None, requires_grad=False, device="cpu"):
        device = _check_device(device)
        if isinstance(data, Tensor) and data.device != "cpu":
            data = data.to("cpu")
        self.data = _to_array(data, dtype)
        if device != "cpu":
            self.data = array_to_device(self.data, device)
        self.device = device
        self.grad = None
        self._ctx = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_array(cls, array, device="cpu", requires_grad=False):
        """Wrap an array an op produced, skipping the checks of __init__ (ops already produce valid arrays)."""
        tensor = object.__new__(cls)
        tensor.data = array if type(array) is np.ndarray or is_device_array(array) else np.asarray(array)
        tensor.device = device
        tensor.grad = None
        tensor._ctx = None
        tensor._retains_grad = False
        tensor.requires_grad = requires_grad
        return tensor

    # ----- attributes -------------------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        """Name of the op that produced this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.op_name

    def numpy(self):
        """The underlying NumPy array (shared, not copied; `detach().numpy().copy()` for a private copy).
        On "cuda" this is a *copy* to the host (the data lives on the GPU)."""
        return self.data.get() if self.device != "cpu" else self.data

    def item(self):
        """The one element as a Python number (on "cuda": a copy from the device, which waits for the GPU)."""
        if self.size != 1:
            raise ValueError(f"item: only a tensor with one element can be converted to a Python scalar, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", precision=4, prefix="tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype != DEFAULT_FLOAT:
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __bool__(self):
        if self.size != 1:
            raise RuntimeError(f"bool value of a tensor with shape {self.shape} is ambiguous")
        return bool(self.data)

    def __hash__(self):
        return id(self)

    # ----- autograd ---------------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"requires_grad_: only floating point tensors can require gradients, got {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_: you can only change requires_grad of leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep theirs)."""
        self._retains_grad = True
        return self

    def backward(self, gradient=None, retain_graph=False, trace=None):
        """Compute d(self)/d(leaf) for every leaf that requires grad, accumulating into `leaf.grad`.

        trace=True prints each op's backward step (see tinygrad_edu/trace.py); inside
        `with tinygrad_edu.trace.trace_backward() as t:` the steps are recorded in t.
        """
        if trace is True:
            trace = trace_module.BackwardTrace(print_rows=True)
        elif trace is None:
            trace = trace_module.active()
        autograd.run_backward(self, gradient=gradient, retain_graph=retain_graph, trace=trace)

    def _accumulate_grad(self, grad):
        if self.grad is None:
            self.grad = Tensor._from_array(copy_array(grad, self.dtype), device=self.device)
        else:
            self.grad.data = self.grad.data + grad

    def zero_grad(self):
        self.grad = None

    def detach(self):
        """A new leaf tensor sharing this tensor's data, cut off from the graph."""
        return Tensor._from_array(self.data, device=self.device)

    def to(self, device=None, dtype=None):
        """Convert dtype and/or move to `device` ("cpu" or "cuda"): one copy when the device changes.

        Differentiable, as in PyTorch: the gradient flows back to this tensor's device.
        >>> Tensor([1.0, 2.0]).to("cpu").device
        'cpu'
        """
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        if device is not None:
            device = _check_device(device)
            if device != out.device:
                out = movement.to_device(out, device)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def astype(self, dtype):
        return elementwise.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def long(self):
        return self.astype(np.int64)

    # ----- elementwise arithmetic -------------------------------------------------------------------------
    def __add__(self, other):
        return elementwise.add(self, other)

    def __radd__(self, other):
        return elementwise.add(other, self)

    def __sub__(self, other):
        return elementwise.sub(self, other)

    def __rsub__(self, other):
        return elementwise.sub(other, self)

    def __mul__(self, other):
        return elementwise.mul(self, other)

    def __rmul__(self, other):
        return elementwise.mul(other, self)

    def __truediv__(self, other):
        return elementwise.div(self, other)

    def __rtruediv__(self, other):
        return elementwise.div(other, self)

    def __pow__(self, exponent):
        return elementwise.pow(self, exponent)

    def __rpow__(self, base):
        return elementwise.pow(base, self)

    def __neg__(self):
        return elementwise.Neg.apply(self)

    def __matmul__(self, other):
        return linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return linalg.matmul(other, self)

    def __iadd__(self, other):
        raise RuntimeError("in-place ops on tensors are not supported; write `x = x + y`, or update `.data` under no_grad")

    __isub__ = __imul__ = __itruediv__ = __iadd__

    # Comparisons give tensors that do not require grad: their derivative is zero almost everywhere.
    def __lt__(self, other):
        return elementwise.compare(self, other, np.less)

    def __le__(self, other):
        return elementwise.compare(self, other, np.less_equal)

    def __gt__(self, other):
        return elementwise.compare(self, other, np.greater)

    def __ge__(self, other):
        return elementwise.compare(self, other, np.greater_equal)

    def eq(self, other):
        return elementwise.compare(self, other, np.equal)

    def ne(self, other):
        return elementwise.compare(self, other, np.not_equal)

    def neg(self):
        return -self

    def exp(self):
        return elementwise.Exp.apply(self)

    def log(self):
        return elementwise.Log.apply(self)

    def sqrt(self):
        return elementwise.Sqrt.apply(self)

    def abs(self):
        return elementwise.Abs.apply(self)

    def tanh(self):
        return elementwise.Tanh.apply(self)

    def sigmoid(self):
        return elementwise.Sigmoid.apply(self)

    def relu(self):
        return elementwise.Relu.apply(self)

    def leaky_relu(self, negative_slope=0.01):
        return elementwise.LeakyRelu.apply(self, negative_slope=negative_slope)

    def gelu(self, approximate="none"):
        return elementwise.gelu(self, approximate=approximate)

    def clip(self, min=None, max=None):
        return elementwise.Clip.apply(self, low=min, high=max)

    clamp = clip

    def maximum(self, other):
        return elementwise.maximum(self, other)

    def minimum(self, other):
        return elementwise.minimum(self, other)

    def where(self, condition, other):
        """`self` where `condition` holds, else `other` (as `torch.Tensor.where`)."""
        return elementwise.where(condition, self, other)

    # ----- reductions -------------------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return reduce.Sum.apply(self, axis=reduce.normalize_axis(axis, self.ndim, "sum"), keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return reduce.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return reduce.Max.apply(self, axis=reduce.normalize_axis(axis, self.ndim, "max"), keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return reduce.min(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, correction=1):
        return reduce.var(self, axis=axis, keepdims=keepdims, correction=correction)

    def std(self, axis=None, keepdims=False, correction=1):
        return self.var(axis=axis, keepdims=keepdims, correction=correction).sqrt()

    def logsumexp(self, axis=None, keepdims=False):
        return reduce.LogSumExp.apply(self, axis=reduce.normalize_axis(axis, self.ndim, "logsumexp"), keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return Tensor._from_array(np.argmax(self.data, axis=axis, keepdims=keepdims), device=self.device)

    def argmin(self, axis=None, keepdims=False):
        return Tensor._from_array(np.argmin(self.data, axis=axis, keepdims=keepdims), device=self.device)

    # ----- movement ---------------------------------------------------------------------------------------
    def reshape(self, *shape):
        return movement.reshape(self, *shape)

    view = reshape

    def permute(self, *axes):
        return movement.permute(self, *axes)

    def transpose(self, dim0=-2, dim1=-1):
        return movement.transpose(self, dim0, dim1)

    @property
    def T(self):
        return movement.permute(self, *reversed(range(self.ndim)))

    def expand(self, *shape):
        return movement.expand(self, *shape)

    broadcast_to = expand

    def squeeze(self, axis=None):
        return movement.squeeze(self, axis)

    def unsqueeze(self, axis):
        return movement.unsqueeze(self, axis)

    def flatten(self, start_dim=0, end_dim=-1):
        return movement.flatten(self, start_dim, end_dim)

    def pad(self, pad_width, value=0.0):
        return movement.pad(self, pad_width, value)

    def __getitem__(self, index):
        return movement.getitem(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad or self._ctx is not None:
            raise RuntimeError(
                f"__setitem__: in-place assignment into a tensor that is part of a graph (shape {self.shape}) is not "
                "supported; build a new tensor with where() or pad(), or assign under no_grad() to .data"
            )
        if isinstance(value, Tensor) and value.device != self.device:
            raise RuntimeError(f"__setitem__: value is on {value.device} but the tensor is on {self.device}")
        self.data[movement.to_numpy_index(index, self.shape, "__setitem__")] = value.data if isinstance(value, Tensor) else value

    def matmul(self, other):
        return linalg.matmul(self, other)


# ----- creation helpers -----------------------------------------------------------------------------------
def tensor(data, dtype=None, requires_grad=False, device="cpu"):
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, device=device)


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _make(array, requires_grad, device):
    """Wrap a host array made by a creation helper, copied once to `device` if that is not the CPU."""
    device = _check_device(device)
    return Tensor._from_array(array_to_device(array, device), device=device).requires_grad_(requires_grad)


def _float_dtype(dtype):
    return DEFAULT_FLOAT if dtype is None else np.dtype(dtype)


def zeros(*shape, dtype=None, requires_grad=False, device="cpu"):
    return _make(np.zeros(_shape_arg(shape), dtype=_float_dtype(dtype)), requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device="cpu"):
    return _make(np.ones(_shape_arg(shape), dtype=_float_dtype(dtype)), requires_grad, device)


def full(shape, fill_value, dtype=None, requires_grad=False, device="cpu"):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _make(np.full(shape, fill_value, dtype=_float_dtype(dtype)), requires_grad, device)


def rand(*shape, dtype=None, requires_grad=False, device="cpu"):
    array = _generator.random(_shape_arg(shape)).astype(_float_dtype(dtype))
    return _make(array, requires_grad, device)


def randn(*shape, dtype=None, requires_grad=False, device="cpu"):
    array = _generator.standard_normal(_shape_arg(shape)).astype(_float_dtype(dtype))
    return _make(array, requires_grad, device)


def randint(low, high, shape, device="cpu"):
    return _make(_generator.integers(low, high, size=shape, dtype=np.int64), False, device)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False, device="cpu"):
    if stop is None:
        start, stop = 0, start
    all_ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    if dtype is None:
        dtype = np.int64 if all_ints else DEFAULT_FLOAT
    return _make(np.arange(start, stop, step, dtype=dtype), requires_grad, device)


def eye(n, m=None, dtype=None, requires_grad=False, device="cpu"):
    return _make(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device)


def zeros_like(other, dtype=None, requires_grad=False):
    return zeros(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def ones_like(other, dtype=None, requires_grad=False):
    return ones(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def full_like(other, fill_value, dtype=None, requires_grad=False):
    return full(other.shape, fill_value, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def rand_like(other, dtype=None, requires_grad=False):
    return rand(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def randn_like(other, dtype=None, requires_grad=False):
    return randn(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def as_array(value):
    """The NumPy array inside a Tensor, or `value` as an array (for indices, targets and masks)."""
    return value.data if isinstance(value, Tensor) else np.asarray(value)
