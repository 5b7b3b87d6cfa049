"""The `torch.*` functions a PyTorch script calls on the package itself (`torch.exp(x)`, `torch.max(x, dim=1)`).

Most are a Tensor method under another spelling: `torch.f(input, ...)` is `input.f(...)`, so the math stays in
one place (the op) and these lines only forward. The rest make tensors (`from_numpy`, `randperm`, `linspace`) or
name things PyTorch code passes around (`device`, `Generator`, `Size`).
"""
import numpy as np

from tinygrad_edu.creation import _make, _shape_arg, zeros, zeros_like
from tinygrad_edu.tensor import DEFAULT_FLOAT, FLOAT_DTYPES, Tensor, default_generator


def _forward_to_method(name):
    def function(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = name
    function.__doc__ = f"`{name}(input, ...)` is `input.{name}(...)` (see Tensor.{name})."
    return function


_METHODS = (
    "abs", "all", "amax", "amin", "any", "argmax", "argmin", "argsort", "bmm", "chunk", "clamp", "clip", "clone",
    "exp", "flatten", "gather", "isfinite", "isinf", "isnan", "log", "log_softmax", "logsumexp", "masked_fill",
    "mean", "mm", "neg", "numel", "permute", "reshape", "relu", "rsqrt", "scatter_add", "sigmoid", "softmax",
    "sort", "split", "sqrt", "square", "squeeze", "std", "sum", "t", "tanh", "topk", "transpose", "unbind",
    "unsqueeze", "var", "index_select", "logical_not", "reciprocal", "sin", "cos", "tril", "triu", "cumsum",
    "prod", "norm", "flip", "nonzero", "masked_select", "remainder",
)
for _name in _METHODS:
    globals()[_name] = _forward_to_method(_name)


def einsum(equation, *operands):
    from tinygrad_edu.ops.einsum import einsum as einsum_op

    return einsum_op(equation, *operands)


def max(input, dim=None, keepdim=False):  # noqa: A001 - torch.max
    """`torch.max(x)`, `torch.max(x, dim)` -> (values, indices), or `torch.max(a, b)` = maximum."""
    return input.max(dim, keepdim)


def min(input, dim=None, keepdim=False):  # noqa: A001 - torch.min
    return input.min(dim, keepdim)


def equal(input, other):
    return input.equal(other)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return input.allclose(other, rtol=rtol, atol=atol, equal_nan=equal_nan)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def from_numpy(array):
    """A tensor that shares memory with the NumPy array (as torch.from_numpy): it keeps the array's dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(array).__name__})")
    if array.dtype.kind not in "fiub" or (array.dtype.kind == "f" and array.dtype not in FLOAT_DTYPES):
        raise TypeError(f"from_numpy: can't convert np.ndarray of type {array.dtype}; the supported types are: "
                        f"float64, float32, int64, int32, int16, int8, uint8, and bool")
    return Tensor._from_array(array)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return Tensor(data, dtype=dtype, device=device)


def empty(*shape, dtype=None, requires_grad=False, device="cpu"):
    """Like torch.empty, but filled with zeros (an uninitialised NumPy array would leak old memory into tests)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad, device=device)


def empty_like(other, dtype=None, requires_grad=False):
    return zeros_like(other, dtype=dtype, requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False, device="cpu"):
    array = np.linspace(start, end, steps, dtype=np.dtype(dtype or DEFAULT_FLOAT))
    return _make(array, requires_grad, device)


def randperm(n, dtype=None, device="cpu", generator=None):
    rng = generator.numpy_generator if generator is not None else default_generator()
    return _make(rng.permutation(n).astype(dtype or np.int64), False, device)


def normal(mean, std, size, generator=None, device="cpu"):
    rng = generator.numpy_generator if generator is not None else default_generator()
    return _make(rng.normal(mean, std, _shape_arg((size,) if isinstance(size, int) else size)).astype(np.float32), False, device)


def clamp_min(input, min):  # noqa: A002
    return input.clamp(min=min)


def outer(input, vec2):
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


def get_default_dtype():
    return DEFAULT_FLOAT


class device(str):  # noqa: N801 - torch.device
    """A device name ("cpu", "cuda"), usable wherever a device string is: `t.to(device)`, `model.to(device)`."""

    def __new__(cls, type, index=None):  # noqa: A002 - torch's argument name
        name = str(type).split(":")[0]
        return super().__new__(cls, name)

    @property
    def type(self):
        return str(self)

    @property
    def index(self):
        return 0 if self == "cuda" else None


class Generator:
    """A seedable random generator for DataLoader shuffling and randperm (`torch.Generator().manual_seed(0)`)."""

    def __init__(self, device="cpu"):
        self.numpy_generator = np.random.default_rng()

    def manual_seed(self, seed):
        self.numpy_generator = np.random.default_rng(seed)
        return self

    # DataLoader and friends call these NumPy Generator methods on whatever generator they are given.
    def permutation(self, n):
        return self.numpy_generator.permutation(n)

    def random(self, *args, **kwargs):
        return self.numpy_generator.random(*args, **kwargs)

    def integers(self, *args, **kwargs):
        return self.numpy_generator.integers(*args, **kwargs)


Size = tuple  # torch.Size is a tuple subclass; here shapes are plain tuples
