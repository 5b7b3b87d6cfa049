"""`Tensor`: a NumPy array plus what autograd needs (requires_grad, grad, and the op that produced it).

The methods here are thin: each one calls a differentiable op from `tinygrad_edu/ops/`, where the forward and
backward math lives; their names, arguments and return types are PyTorch's (`dim`/`keepdim`, `max(dim)` ->
(values, indices), in-place `add_` ...). Creation helpers (`zeros`, `randn`, ...) are in creation.py and draw
from the one seedable generator here (`manual_seed`).

Autograd state on each tensor: `requires_grad`, `grad`, `_ctx` (the op that made it) and `_version`, a counter
every in-place change bumps, so backward can refuse values that changed after an op saved them.

Devices: a tensor on "cpu" holds a NumPy array; a tensor on "cuda" holds a `kernels.cuda.array.CudaArray`, a
NumPy-compatible array whose data stays on the GPU, so the ops' NumPy code runs there unchanged (see that
module). Data crosses between host and device only when asked: `t.to("cuda")` / `t.to("cpu")` copy once, and
`numpy()`, `item()`, `tolist()` and `repr` of a cuda tensor copy to the host. Creation helpers take
device="cuda" (made on the host, then copied over once). Mixing devices in one op is a RuntimeError.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union, overload

import numpy as np
import numpy.typing as npt

from tinygrad_edu import autograd
from tinygrad_edu import trace as trace_module
from tinygrad_edu.ops import elementwise, indexing, linalg, movement, reduce, scan, trig, vector_norm
from tinygrad_edu.ops import softmax as softmax_ops

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_FLOAT = np.dtype(np.float32)
DEVICES = ("cpu", "cuda")
NO_CUDA_MESSAGE = "CUDA requested but no GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1)"

if TYPE_CHECKING:
    from tinygrad_edu.autograd import Context

# Names used in the type hints of the public API.
# The data of a tensor: a NumPy array on "cpu", a CudaArray (kernels/cuda/array.py) on "cuda". Both answer NumPy's
# calls (a CudaArray through NumPy's dispatch protocols), which a type checker cannot follow: left open as Any.
Array = Any
Number = Union[bool, int, float]  # a Python scalar operand
TensorLike = Union["Tensor", bool, int, float, np.number, np.ndarray]  # what an op accepts as an operand
Dims = Optional[Union[int, Sequence[int]]]  # one dim, several, or None for all of them
ShapeArg = Union[int, Sequence[int]]  # reshape(2, 3) or reshape((2, 3))
DTypeArg = Optional[npt.DTypeLike]  # a dtype (NumPy's, or tinygrad_edu.float32 ...), or None for the default

_generator = np.random.default_rng()


def manual_seed(seed: int | None) -> None:
    """Seed the generator behind `rand`, `randn`, dropout and the initialisers, for reproducible runs."""
    global _generator
    _generator = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    return _generator


def _to_array(data: Any, dtype: DTypeArg) -> np.ndarray:
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


def _check_device(device: str) -> str:
    """The device's canonical name ("cuda:0" is "cuda"); RuntimeError for an unknown or unavailable device."""
    if device == "cpu":
        return device
    if device in ("cuda", "cuda:0"):
        from tinygrad_edu import cuda  # imports numba: only when CUDA is asked for

        if not cuda.is_available():
            raise RuntimeError(NO_CUDA_MESSAGE)
        return "cuda"
    raise RuntimeError(f"Tensor: unknown or unavailable device {device!r}; available devices: {DEVICES}")


def is_device_array(array: object) -> bool:
    """True for the array inside a cuda tensor (a CudaArray), without importing numba."""
    return type(array) is not np.ndarray and getattr(array, "is_cuda_array", False)


def device_of(array: object) -> str:
    """The device an array lives on: "cuda" for a CudaArray, "cpu" for a NumPy array (or anything else)."""
    return "cuda" if is_device_array(array) else "cpu"


def array_to_device(array: Any, device: str) -> Array:
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


def copy_array(array: Array, dtype: npt.DTypeLike) -> Array:
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
    __slots__ = ("data", "device", "grad", "_ctx", "_retains_grad", "_version", "requires_grad", "name", "__weakref__")
    data: Array
    device: str  # "cpu" or "cuda", always the device of `data`
    grad: Tensor | None
    requires_grad: bool
    name: str  # an optional label for drawings of the graph (viz.py); unset unless a user sets it
    _ctx: Context | None  # the op that made this tensor; None for a leaf
    _retains_grad: bool
    _version: list[int]

    def __init__(self, data: Any, dtype: DTypeArg = None, requires_grad: bool = False,
                 device: str | None = None) -> None:
        source = data.data if isinstance(data, Tensor) else data
        # Without `device` the tensor stays where its data is (a cuda tensor or a CudaArray: "cuda"), as torch.tensor.
        device = _check_device(device_of(source) if device is None else device)
        if is_device_array(source) and device == "cuda":
            self.data = source.astype(dtype or source.dtype, copy=True)  # a copy that never leaves the device
        else:
            host = source.get() if is_device_array(source) else source
            self.data = array_to_device(_to_array(host, dtype), device)
        self.device = device
        self.grad = None
        self._ctx = None
        self._retains_grad = False
        self._version = [0]  # bumped by every in-place change; a list so detach() can share it
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_array(cls, array: Array, device: str | None = None, requires_grad: bool = False) -> Tensor:
        """Wrap an array an op produced, skipping the checks of __init__ (ops already produce valid arrays).

        The device comes from the array: "cuda" for a CudaArray, "cpu" for anything else. `device`, when given,
        says what the caller expects; a contradiction is a RuntimeError, never a tensor whose label and data
        disagree (move the array first with `array_to_device`).
        """
        tensor = object.__new__(cls)
        if type(array) is np.ndarray:
            actual = "cpu"
        elif is_device_array(array):
            actual = "cuda"
        else:
            array = np.asarray(array)
            actual = "cpu"
        if device is not None and device != actual:
            raise RuntimeError(f"Tensor._from_array: device={device!r} was asked for, but the {type(array).__name__} "
                               f"of shape {tuple(array.shape)} is on {actual}; move it with array_to_device first")
        tensor.data = array
        tensor.device = actual
        tensor.grad = None
        tensor._ctx = None
        tensor._retains_grad = False
        tensor._version = [0]
        tensor.requires_grad = requires_grad
        return tensor

    # ----- attributes -------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @overload
    def size(self, dim: None = None) -> tuple[int, ...]: ...

    @overload
    def size(self, dim: int) -> int: ...

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or with `dim` the length of that dimension (as `torch.Tensor.size`).

        >>> Tensor([[1.0, 2.0, 3.0]]).size(), Tensor([[1.0, 2.0, 3.0]]).size(-1)
        ((1, 3), 3)
        """
        if dim is None:
            return self.data.shape
        if self.data.ndim == 0:
            raise IndexError("size: dimension specified as 0 but tensor has no dimensions")
        return self.data.shape[reduce.normalize_dim(dim, self.data.ndim, "size")]

    def numel(self) -> int:
        """The number of elements."""
        return int(self.data.size)

    nelement = numel

    def dim(self) -> int:
        """The number of dimensions (as `ndim`)."""
        return self.data.ndim

    ndimension = dim

    def element_size(self) -> int:
        return self.data.dtype.itemsize

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the op that produced this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.op_name

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array (shared, not copied; `detach().numpy().copy()` for a private copy).
        On "cuda" this is a *copy* to the host (the data lives on the GPU)."""
        return self.data.get() if self.device != "cpu" else self.data

    def item(self) -> Number:
        """The one element as a Python number (on "cuda": a copy from the device, which waits for the GPU)."""
        if self.data.size != 1:
            raise RuntimeError(f"item: a Tensor with {self.data.size} elements cannot be converted to a Python scalar (shape {self.shape})")
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __repr__(self) -> str:
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

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous (shape {self.shape})")
        return bool(self.data)

    def __hash__(self) -> int:
        # Identity, as in PyTorch: `==` is elementwise, so a tensor is a dict key / set member by identity.
        return id(self)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an index, got {self.dtype} {self.shape}")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if self.data.size == 1 and self.ndim == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __array__(self, dtype: DTypeArg = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(t)` gives the data (of a cpu tensor), as PyTorch's Tensor.__array__."""
        if self.device != "cpu":
            raise TypeError(f"can't convert {self.device} tensor to numpy; use .cpu() first")
        return self.data if dtype is None else self.data.astype(dtype)

    # ----- autograd ---------------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype not in FLOAT_DTYPES:
            raise RuntimeError(f"requires_grad_: only Tensors of floating point dtype can require gradients, got "
                               f"{self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_: you can only change requires_grad of leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> Tensor:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep theirs)."""
        self._retains_grad = True
        return self

    def backward(self, gradient: Tensor | npt.ArrayLike | None = None, retain_graph: bool = False,
                 trace: bool | trace_module.BackwardTrace | None = None) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, accumulating into `leaf.grad`.

        trace=True prints each op's backward step (see tinygrad_edu/trace.py); inside
        `with tinygrad_edu.trace.trace_backward() as t:` the steps are recorded in t; trace=False records nothing
        even there.
        """
        if trace is True:
            hook = trace_module.BackwardTrace(print_rows=True)
        elif trace is None:
            hook = trace_module.active()
        elif trace is False:
            hook = None
        else:
            hook = trace
        autograd.run_backward(self, gradient=gradient, retain_graph=retain_graph, trace=hook)

    def _accumulate_grad(self, grad: Array) -> None:
        if self.grad is None:
            self.grad = Tensor._from_array(copy_array(grad, self.dtype), device=self.device)
        else:
            self.grad.data = self.grad.data + grad

    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this tensor's data (and its version counter), cut off from the graph."""
        out = Tensor._from_array(self.data, device=self.device)
        out._version = self._version
        return out

    def to(self, *args: Any, device: str | None = None, dtype: DTypeArg = None, copy: bool = False) -> Tensor:
        """Convert dtype and/or move to a device, as `torch.Tensor.to`: `t.to("cuda")`, `t.to(tg.float64)`,
        `t.to("cpu", tg.float32)`, `t.to(other_tensor)`. One copy when the device changes.

        Differentiable, as in PyTorch: the gradient flows back to this tensor's device.
        >>> Tensor([1.0, 2.0]).to("cpu").device
        'cpu'
        """
        device, dtype = parse_to_args(args, device, dtype)
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        if device is not None:
            device = _check_device(device)
            if device != out.device:
                out = movement.to_device(out, device)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    def astype(self, dtype: npt.DTypeLike) -> Tensor:
        return elementwise.Cast.apply(self, dtype=np.dtype(dtype))

    def type(self, dtype: DTypeArg = None) -> str | Tensor:
        """Without an argument the type's name (as PyTorch's 'torch.FloatTensor'); with a dtype, a converted copy."""
        if dtype is None:
            return f"tinygrad_edu.{self.dtype.name}"
        return self.astype(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.astype(other.dtype)

    def is_floating_point(self) -> bool:
        return self.dtype.kind == "f"

    def clone(self) -> Tensor:
        """A copy with its own data; gradients flow back through it (dx = dy)."""
        return movement.clone(self)

    def contiguous(self) -> Tensor:
        """Every tensor here is already usable as is (NumPy handles strides): returns self, as PyTorch does for a
        contiguous tensor."""
        return self

    # ----- elementwise arithmetic -------------------------------------------------------------------------
    def __add__(self, other: TensorLike) -> Tensor:
        return elementwise.add(self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return elementwise.add(other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return elementwise.sub(self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return elementwise.sub(other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return elementwise.mul(self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return elementwise.mul(other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return elementwise.div(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return elementwise.div(other, self)

    def __pow__(self, exponent: TensorLike) -> Tensor:
        return elementwise.power(self, exponent)

    def __rpow__(self, base: TensorLike) -> Tensor:
        return elementwise.power(base, self)

    def __neg__(self) -> Tensor:
        return elementwise.Neg.apply(self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return linalg.matmul(self, other)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return linalg.matmul(other, self)

    def add(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other: TensorLike) -> Tensor:
        return self * other

    def div(self, other: TensorLike) -> Tensor:
        return self / other

    def pow(self, exponent: TensorLike) -> Tensor:
        return self ** exponent

    # ----- in-place ops ------------------------------------------------------------------------------------
    def _write_in_place(self, result: Tensor, op_name: str) -> Tensor:
        """Store `result` (a Tensor computed out of place) into this tensor's array and bump its version.

        As in PyTorch, a leaf that requires grad can be changed in place only under no_grad (an optimizer step).
        Unlike PyTorch, an in-place op is never recorded in a graph: on a tensor that is part of one, write
        `x = x + y` instead (see docs/differences-from-pytorch.md).
        """
        if autograd.is_grad_enabled() and (self.requires_grad or result.requires_grad):
            if self.requires_grad and self._ctx is None:
                raise RuntimeError(f"{op_name}: a leaf Variable that requires grad is being used in an in-place "
                                   f"operation (wrap it in `with no_grad():`, as an optimizer step does)")
            raise RuntimeError(f"{op_name}: in-place operations are not recorded by this engine's autograd (tensor "
                               f"of shape {self.shape} {'requires' if self.requires_grad else 'would require'} "
                               f"grad); write the out-of-place form, e.g. `x = x + y`")
        if result.shape != self.shape:
            raise RuntimeError(f"{op_name}: output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(result.shape)}")
        if result.dtype != self.dtype and not np.can_cast(result.dtype, self.dtype, casting="same_kind"):
            raise RuntimeError(f"{op_name}: result type {result.dtype} can't be cast to the desired output type {self.dtype}")
        if result.device != self.device:
            raise RuntimeError(f"{op_name}: expected all tensors on {self.device}, got {result.device}")
        self.data[...] = result.data
        self._version[0] += 1
        return self

    def _in_place(self, function: Callable[[Tensor, Any], Tensor], other: Any, op_name: str) -> Tensor:
        with autograd.no_grad():
            result = function(self, other)
        if isinstance(other, Tensor) and other.requires_grad and autograd.is_grad_enabled():
            result.requires_grad = True  # so _write_in_place refuses it: the graph through `other` would be lost
        return self._write_in_place(result, op_name)

    def add_(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        return self._in_place(lambda a, b: a + (b if alpha == 1 else b * alpha), other, "add_")

    def sub_(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        return self._in_place(lambda a, b: a - (b if alpha == 1 else b * alpha), other, "sub_")

    def mul_(self, other: TensorLike) -> Tensor:
        return self._in_place(lambda a, b: a * b, other, "mul_")

    def div_(self, other: TensorLike) -> Tensor:
        return self._in_place(lambda a, b: a / b, other, "div_")

    def pow_(self, exponent: TensorLike) -> Tensor:
        return self._in_place(lambda a, b: a ** b, exponent, "pow_")

    def clamp_(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
        return self._in_place(lambda a, _: a.clamp(min, max), None, "clamp_")

    clip_ = clamp_

    def copy_(self, source: TensorLike) -> Tensor:
        """Copy `source` (broadcast to this tensor's shape, converted to its dtype) into this tensor."""
        source = source if isinstance(source, Tensor) else Tensor(source)
        if source.device != self.device:
            source = source.to(self.device)
        return self._in_place(lambda a, b: b.astype(a.dtype).expand(*a.shape), source, "copy_")

    def fill_(self, value: Number | Tensor) -> Tensor:
        return self._in_place(lambda a, _: a._filled(a.shape, value), None, "fill_")

    def zero_(self) -> Tensor:
        return self._in_place(lambda a, _: a._filled(a.shape, 0), None, "zero_")

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        return self.copy_(_generator.uniform(a, b, self.shape).astype(self.dtype))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return self.copy_(_generator.normal(mean, std, self.shape).astype(self.dtype))

    def __iadd__(self, other: TensorLike) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: TensorLike) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: TensorLike) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: TensorLike) -> Tensor:
        return self.div_(other)

    # ----- comparisons: bool tensors that never require grad (their derivative is zero almost everywhere) -----
    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]  # elementwise, as in PyTorch
        if not isinstance(other, (Tensor, np.ndarray, bool, int, float, np.number, np.bool_)):
            return NotImplemented  # `t == None` is False, as in PyTorch
        return elementwise.compare(self, other, np.equal)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        if not isinstance(other, (Tensor, np.ndarray, bool, int, float, np.number, np.bool_)):
            return NotImplemented
        return elementwise.compare(self, other, np.not_equal)

    def __lt__(self, other: Tensor | Number) -> Tensor:
        return elementwise.compare(self, other, np.less)

    def __le__(self, other: Tensor | Number) -> Tensor:
        return elementwise.compare(self, other, np.less_equal)

    def __gt__(self, other: Tensor | Number) -> Tensor:
        return elementwise.compare(self, other, np.greater)

    def __ge__(self, other: Tensor | Number) -> Tensor:
        return elementwise.compare(self, other, np.greater_equal)

    def eq(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, np.equal)

    def ne(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, np.not_equal)

    def lt(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, np.less)

    def le(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, np.less_equal)

    def gt(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, np.greater)

    def ge(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, np.greater_equal)

    def equal(self, other: Tensor) -> bool:
        """True if both have the same shape and elements (as torch.equal)."""
        return self.shape == other.shape and bool(np.all(np.asarray(self.numpy() == other.numpy())))

    def allclose(self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: bool = False) -> bool:
        return bool(np.allclose(self.numpy(), other.numpy(), rtol=rtol, atol=atol, equal_nan=equal_nan))

    def isnan(self) -> Tensor:
        return Tensor._from_array(np.isnan(self.data), device=self.device)

    def isinf(self) -> Tensor:
        return Tensor._from_array(np.isinf(self.data), device=self.device)

    def isfinite(self) -> Tensor:
        return Tensor._from_array(np.isfinite(self.data), device=self.device)

    def logical_not(self) -> Tensor:
        return Tensor._from_array(np.logical_not(self.data), device=self.device)

    def __invert__(self) -> Tensor:
        if self.dtype != np.bool_:
            return Tensor._from_array(np.invert(self.data), device=self.device)
        return self.logical_not()

    def __and__(self, other: TensorLike) -> Tensor:
        return Tensor._from_array(np.logical_and(self.data, as_array(other)) if self.dtype == np.bool_ else self.data & as_array(other), device=self.device)

    def __or__(self, other: TensorLike) -> Tensor:
        return Tensor._from_array(np.logical_or(self.data, as_array(other)) if self.dtype == np.bool_ else self.data | as_array(other), device=self.device)

    def __xor__(self, other: TensorLike) -> Tensor:
        return Tensor._from_array(np.logical_xor(self.data, as_array(other)) if self.dtype == np.bool_ else self.data ^ as_array(other), device=self.device)

    # ----- elementwise functions ----------------------------------------------------------------------------
    def neg(self) -> Tensor:
        return -self

    def exp(self) -> Tensor:
        return elementwise.Exp.apply(self)

    def log(self) -> Tensor:
        return elementwise.Log.apply(self)

    def sqrt(self) -> Tensor:
        return elementwise.Sqrt.apply(self)

    def rsqrt(self) -> Tensor:
        return self.sqrt().reciprocal()

    def reciprocal(self) -> Tensor:
        return 1.0 / self

    def square(self) -> Tensor:
        return self * self

    def abs(self) -> Tensor:
        return elementwise.Abs.apply(self)

    def tanh(self) -> Tensor:
        return elementwise.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return elementwise.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return elementwise.Relu.apply(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        return elementwise.LeakyRelu.apply(self, negative_slope=negative_slope)

    def gelu(self, approximate: str = "none") -> Tensor:
        return elementwise.gelu(self, approximate=approximate)

    def clip(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
        return elementwise.clip(self, min, max)

    clamp = clip

    def maximum(self, other: TensorLike) -> Tensor:
        return elementwise.maximum(self, other)

    def minimum(self, other: TensorLike) -> Tensor:
        return elementwise.minimum(self, other)

    def where(self, condition: TensorLike, other: TensorLike) -> Tensor:
        """`self` where `condition` holds, else `other` (as `torch.Tensor.where`)."""
        return elementwise.where(condition, self, other)

    def sin(self) -> Tensor:
        return trig.sin(self)

    def cos(self) -> Tensor:
        return trig.cos(self)

    def __mod__(self, other: TensorLike) -> Tensor:
        """Python's (and PyTorch's) remainder, with the sign of the divisor: a - floor(a / b)·b.

        floor(a / b) is piecewise constant, so it enters as a constant: da = dy, db = -floor(a / b)·dy.
        """
        a, b = elementwise.as_operands(self, other, "remainder")
        quotient = Tensor._from_array(np.floor_divide(a.data, b.data), device=a.device)
        return a - quotient * b

    def __rmod__(self, other: TensorLike) -> Tensor:
        a, b = elementwise.as_operands(other, self, "remainder")
        return a % b

    remainder = __mod__

    def __floordiv__(self, other: TensorLike) -> Tensor:
        """floor(a / b), as PyTorch's floor_divide: piecewise constant, so it never requires grad."""
        a, b = elementwise.as_operands(self, other, "floor_divide")
        return Tensor._from_array(np.floor_divide(a.data, b.data), device=a.device)

    def __rfloordiv__(self, other: TensorLike) -> Tensor:
        a, b = elementwise.as_operands(other, self, "floor_divide")
        return a // b

    def tril(self, diagonal: int = 0) -> Tensor:
        """The lower triangle of the last two dims (elements above the `diagonal`-th diagonal set to 0)."""
        return _triangle(self, diagonal, np.tril, "tril")

    def triu(self, diagonal: int = 0) -> Tensor:
        return _triangle(self, diagonal, np.triu, "triu")

    def cumsum(self, dim: int) -> Tensor:
        return scan.cumsum(self, dim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return scan.prod(self, dim, keepdim)

    def norm(self, p: float | str = "fro", dim: Dims = None, keepdim: bool = False) -> Tensor:
        return vector_norm.norm(self, p, dim, keepdim)

    def flip(self, *dims: ShapeArg) -> Tensor:
        """Reverse the order of the elements along `dims` (a slice with step -1 per dim)."""
        dims = movement._shape_from_args(dims)
        axes = {reduce.normalize_dim(d, self.ndim, "flip") for d in dims}
        return self[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(self.ndim))]

    def nonzero(self, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
        """Indices of the non-zero elements: an int64 tensor (n, ndim), or one index tensor per dim."""
        found = np.nonzero(self.numpy())
        if as_tuple:
            return tuple(Tensor._from_array(i.astype(np.int64)).to(self.device) for i in found)
        return Tensor._from_array(np.stack(found, axis=1).astype(np.int64)).to(self.device)

    def masked_select(self, mask: TensorLike) -> Tensor:
        """The elements where the bool `mask` (broadcast to self's shape) is True, as a 1-D tensor."""
        mask_array = as_array(mask)
        if mask_array.dtype != np.bool_:
            raise RuntimeError(f"masked_select: expected a bool mask, got {mask_array.dtype}")
        shape = np.broadcast_shapes(self.shape, mask_array.shape)
        return self.expand(*shape)[np.broadcast_to(mask_array, shape)]

    def masked_fill_(self, mask: TensorLike, value: Number | Tensor) -> Tensor:
        return self._in_place(lambda a, _: a.masked_fill(mask, value), None, "masked_fill_")

    def scatter_add_(self, dim: int, index: TensorLike, src: Tensor) -> Tensor:
        return self._in_place(lambda a, b: a.scatter_add(dim, index, b), src, "scatter_add_")

    def index_add_(self, dim: int, index: TensorLike, source: Tensor, alpha: Number = 1) -> Tensor:
        """self[..., index[i], ...] += alpha · source[..., i, ...] along `dim` (repeated indices accumulate)."""
        dim = reduce.normalize_dim(dim, self.ndim, "index_add_")
        index_array = as_array(index).reshape([-1 if d == dim else 1 for d in range(source.ndim)])
        expanded = np.broadcast_to(index_array, source.shape)
        source = source if alpha == 1 else source * alpha
        return self._in_place(lambda a, b: a.scatter_add(dim, expanded, b), source, "index_add_")

    def masked_fill(self, mask: TensorLike, value: Number | Tensor) -> Tensor:
        """`value` where the bool `mask` is True, else self (gradient flows to self where the mask is False)."""
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise RuntimeError(f"masked_fill: only supports a 0-dimensional value tensor, got shape {value.shape}")
            value = value.item()
        return elementwise.where(mask, self._filled((), value), self)

    def softmax(self, dim: int) -> Tensor:
        return softmax_ops.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        return softmax_ops.log_softmax(self, dim)

    # ----- reductions (dim/keepdim as PyTorch; axis/keepdims accepted as aliases, as PyTorch does) --------------
    def sum(self, dim: Dims = None, keepdim: bool = False, *, dtype: DTypeArg = None, axis: Dims = None,
            keepdims: bool | None = None) -> Tensor:
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        x = self if dtype is None else self.astype(dtype)
        if x.dtype.kind in "bui" and dtype is None:
            x = x.astype(np.int64)  # as PyTorch: integer and bool sums are int64
        return reduce.Sum.apply(x, axis=reduce.normalize_axis(dim, x.ndim, "sum"), keepdims=keepdim)

    def mean(self, dim: Dims = None, keepdim: bool = False, *, dtype: DTypeArg = None, axis: Dims = None,
             keepdims: bool | None = None) -> Tensor:
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        x = self if dtype is None else self.astype(dtype)
        if x.dtype.kind != "f":
            raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be floating point, got "
                               f"{x.dtype}; use .float() first")
        return reduce.mean(x, axis=dim, keepdims=keepdim)

    def max(self, dim: int | Tensor | None = None, keepdim: bool = False, *, axis: int | None = None,
            keepdims: bool | None = None) -> Tensor | ValuesIndices:
        """max of all elements; with `dim`, the named tuple (values, indices) as PyTorch; with a Tensor, maximum."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        if dim is None:
            return reduce.Max.apply(self, axis=reduce.normalize_axis(None, self.ndim, "max"), keepdims=False)
        return _select_along(self, dim, keepdim, "max")

    def min(self, dim: int | Tensor | None = None, keepdim: bool = False, *, axis: int | None = None,
            keepdims: bool | None = None) -> Tensor | ValuesIndices:
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        if dim is None:
            return reduce.min_of(self, axis=None, keepdims=False)
        return _select_along(self, dim, keepdim, "min")

    def amax(self, dim: Dims = None, keepdim: bool = False, *, axis: Dims = None,
             keepdims: bool | None = None) -> Tensor:
        """max over `dim` (an int or tuple); gradient split evenly between ties (as torch.amax)."""
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        return reduce.Max.apply(self, axis=reduce.normalize_axis(dim, self.ndim, "amax"), keepdims=keepdim, op_name="amax")

    def amin(self, dim: Dims = None, keepdim: bool = False, *, axis: Dims = None,
             keepdims: bool | None = None) -> Tensor:
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        return reduce.min_of(self, axis=dim, keepdims=keepdim, op_name="amin")

    def var(self, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None, axis: Dims = None, keepdims: bool | None = None) -> Tensor:
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        return reduce.var(self, axis=dim, keepdims=keepdim, correction=_correction(unbiased, correction))

    def std(self, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None, axis: Dims = None, keepdims: bool | None = None) -> Tensor:
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        return reduce.std(self, axis=dim, keepdims=keepdim, correction=_correction(unbiased, correction))

    def logsumexp(self, dim: Dims = None, keepdim: bool = False, *, axis: Dims = None,
                  keepdims: bool | None = None) -> Tensor:
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        return reduce.LogSumExp.apply(self, axis=reduce.normalize_axis(dim, self.ndim, "logsumexp"), keepdims=keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
               keepdims: bool | None = None) -> Tensor:
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        return _arg_reduce(self, dim, keepdim, np.argmax, "argmax")

    def argmin(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
               keepdims: bool | None = None) -> Tensor:
        dim, keepdim = _dim_and_keepdim(dim, keepdim, axis, keepdims)
        return _arg_reduce(self, dim, keepdim, np.argmin, "argmin")

    def all(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        axes = reduce.normalize_axis(dim, self.ndim, "all")
        return Tensor._from_array(np.all(self.data, axis=axes, keepdims=keepdim), device=self.device)

    def any(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        axes = reduce.normalize_axis(dim, self.ndim, "any")
        return Tensor._from_array(np.any(self.data, axis=axes, keepdims=keepdim), device=self.device)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
        """The k largest (or smallest) elements along `dim` and their indices, as (values, indices)."""
        return indexing.topk(self, k, dim, largest, sorted)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
        return indexing.sort(self, dim, descending)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        return indexing.sort(self, dim, descending).indices

    def gather(self, dim: int, index: TensorLike) -> Tensor:
        """out[i][j] = self[index[i][j]][j] for dim 0 (the same pattern in any dim); gradient scatter-added back."""
        return indexing.gather(self, dim, index)

    def scatter_add(self, dim: int, index: TensorLike, src: Tensor) -> Tensor:
        """A copy of self with src[i][j] added at row index[i][j] (for dim 0): the adjoint of gather."""
        return indexing.scatter_add(self, dim, index, src)

    def index_select(self, dim: int, index: TensorLike) -> Tensor:
        dim = reduce.normalize_dim(dim, self.ndim, "index_select")
        return self[(slice(None),) * dim + (as_array(index),)]

    # ----- movement ---------------------------------------------------------------------------------------
    def reshape(self, *shape: ShapeArg) -> Tensor:
        return movement.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        """The same data in another shape (sizes or one shape, as reshape), or with one dtype argument a conversion."""
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
            return self.astype(shape[0])  # view(dtype) as a conversion
        return movement.reshape(self, *shape)

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    reshape_as = view_as

    def permute(self, *dims: ShapeArg) -> Tensor:
        return movement.permute(self, *dims)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        return movement.transpose(self, dim0, dim1)

    swapaxes = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self) -> Tensor:
        return movement.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    def expand(self, *shape: ShapeArg) -> Tensor:
        return movement.expand(self, *shape)

    broadcast_to = expand

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def repeat(self, *repeats: ShapeArg) -> Tensor:
        return movement.repeat(self, *repeats)

    def squeeze(self, dim: Dims = None, *, axis: Dims = None) -> Tensor:
        return movement.squeeze(self, dim if axis is None else axis)

    def unsqueeze(self, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        return movement.unsqueeze(self, dim if axis is None else axis)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return movement.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        dim = reduce.normalize_dim(dim, self.ndim, "unflatten")
        size = self.shape[dim]  # -1 in `sizes` is inferred from this dim alone, as PyTorch
        new_sizes = movement.infer_size(tuple(int(n) for n in sizes), size, "unflatten", f"dim {dim} of size {size}")
        return self.reshape(self.shape[:dim] + new_sizes + self.shape[dim + 1:])

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        return movement.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return movement.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        dim = reduce.normalize_dim(dim, self.ndim, "unbind")
        return tuple(self[(slice(None),) * dim + (i,)] for i in range(self.shape[dim]))

    def pad(self, pad_width: Sequence[tuple[int, int]], value: Number = 0.0) -> Tensor:
        return movement.pad(self, pad_width, value)

    def __getitem__(self, index: Any) -> Tensor:
        return movement.getitem(self, index)

    def __setitem__(self, index: Any, value: TensorLike) -> None:
        if autograd.is_grad_enabled() and (self.requires_grad or self._ctx is not None):
            raise RuntimeError(
                f"__setitem__: in-place assignment into a tensor that is part of a graph (shape {self.shape}) is not "
                "supported; build a new tensor with where() or masked_fill(), or assign under no_grad()"
            )
        if isinstance(value, Tensor) and value.device != self.device:
            raise RuntimeError(f"__setitem__: value is on {value.device} but the tensor is on {self.device}")
        self.data[movement.to_numpy_index(index, self.shape, "__setitem__")] = value.data if isinstance(value, Tensor) else value
        self._version[0] += 1

    def matmul(self, other: Tensor) -> Tensor:
        return linalg.matmul(self, other)

    def mm(self, other: Tensor) -> Tensor:
        if self.ndim != 2 or getattr(other, "ndim", 0) != 2:
            raise RuntimeError(f"mm: self must be a matrix and mat2 must be a matrix, got shapes {self.shape} and {other.shape}")
        return linalg.matmul(self, other)

    def bmm(self, other: Tensor) -> Tensor:
        if self.ndim != 3 or getattr(other, "ndim", 0) != 3:
            raise RuntimeError(f"bmm: batch1 and batch2 must be 3-D tensors, got shapes {self.shape} and {other.shape}")
        return linalg.matmul(self, other)

    # ----- new tensors like this one -------------------------------------------------------------------------
    def _filled(self, shape: tuple[int, ...], fill_value: Number | Tensor, dtype: DTypeArg = None,
                requires_grad: bool = False) -> Tensor:
        """A new tensor of `shape` filled with `fill_value`, on this tensor's device and, by default, of its dtype
        (made on the host and copied over once, as creation.py does)."""
        if isinstance(fill_value, Tensor):
            fill_value = fill_value.item()
        array = np.full(shape, fill_value, dtype=self.dtype if dtype is None else np.dtype(dtype))
        return Tensor._from_array(array_to_device(array, self.device)).requires_grad_(requires_grad)

    def new_zeros(self, *size: ShapeArg, dtype: DTypeArg = None, requires_grad: bool = False) -> Tensor:
        return self._filled(movement._shape_from_args(size), 0, dtype, requires_grad)

    def new_ones(self, *size: ShapeArg, dtype: DTypeArg = None, requires_grad: bool = False) -> Tensor:
        return self._filled(movement._shape_from_args(size), 1, dtype, requires_grad)

    def new_full(self, size: ShapeArg, fill_value: Number | Tensor, dtype: DTypeArg = None,
                 requires_grad: bool = False) -> Tensor:
        return self._filled(movement._shape_from_args((size,)), fill_value, dtype, requires_grad)

    def new_tensor(self, data: Any, dtype: DTypeArg = None, requires_grad: bool = False) -> Tensor:
        return Tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad, device=self.device)

    # ----- dtype conversions under PyTorch's names, last in the class: once a method named `int`, `float` or
    # `bool` is defined, a type checker reads that name in the hints below it as the method, not the builtin.
    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def int(self) -> Tensor:
        return self.astype(np.int32)

    def bool(self) -> Tensor:
        return self.astype(np.bool_)


def parse_to_args(args: Sequence[Any], device: str | None = None,
                  dtype: DTypeArg = None) -> tuple[str | None, DTypeArg]:
    """The (device, dtype) named by PyTorch's positional `.to(...)` arguments: a device string (or
    `tinygrad_edu.device`), a dtype, or a tensor whose device and dtype are taken. Shared by Tensor.to and
    Module.to."""
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, str):
            device = arg
        else:
            dtype = arg
    return device, dtype


class ValuesIndices(tuple):  # type: ignore[type-arg]  # (values, indices), two Tensors
    """PyTorch's (values, indices) named tuple, returned by max/min with a dim, topk and sort."""

    __slots__ = ()

    def __new__(cls, values: Tensor, indices: Tensor) -> ValuesIndices:
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]

    def __repr__(self) -> str:
        return f"(values={self[0]!r}, indices={self[1]!r})"


def _triangle(x, diagonal, numpy_triangle, op_name):
    if x.ndim < 2:
        raise RuntimeError(f"{op_name}: input tensor must have at least 2 dimensions, got shape {x.shape}")
    keep = numpy_triangle(np.ones(x.shape[-2:], dtype=bool), k=diagonal)
    return elementwise.where(Tensor._from_array(keep).to(x.device), x, x._filled((), 0))


def _dim_and_keepdim(dim, keepdim, axis, keepdims):
    """PyTorch's names with NumPy's as aliases (PyTorch accepts `axis` and `keepdims` too)."""
    if axis is not None:
        if dim is not None:
            raise TypeError("got both dim and its alias axis")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, bool(keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _arg_reduce(x, dim, keepdim, numpy_function, op_name):
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{op_name}(): Expected reduction dim to be specified for input.numel() == 0.")
        index = numpy_function(x.data.reshape(-1))  # a NumPy integer, or a 0-d CudaArray on cuda
        return Tensor._from_array(index.astype(np.int64).reshape((1,) * x.ndim if keepdim else ()))
    axis = reduce.normalize_dim(dim, x.ndim, op_name)
    if x.ndim and x.shape[axis] == 0:
        raise IndexError(f"{op_name}(): Expected reduction dim {dim} to have non-zero size.")
    if x.ndim == 0:
        return x._filled((), 0, np.int64)
    return Tensor._from_array(numpy_function(x.data, axis=axis, keepdims=keepdim).astype(np.int64), device=x.device)


def _select_along(x, dim, keepdim, op_name):
    """max/min along `dim` as (values, indices): the values are gathered at the indices, so the gradient goes to
    the one element chosen (PyTorch's rule for max/min with a dim; the full max splits ties instead)."""
    indices = _arg_reduce(x, dim, True, np.argmax if op_name == "max" else np.argmin, op_name)
    if x.ndim == 0:
        return ValuesIndices(x, indices)
    axis = reduce.normalize_dim(dim, x.ndim, op_name)
    values = indexing.gather(x, axis, indices)
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return ValuesIndices(values, indices)


def as_array(value: Any) -> Array:
    """The array inside a Tensor, or `value` as an array (for indices, targets and masks); an array already on the
    GPU stays there (np.asarray would copy it to the host, which CudaArray refuses to do implicitly)."""
    if isinstance(value, Tensor):
        return value.data
    return value if is_device_array(value) else np.asarray(value)

