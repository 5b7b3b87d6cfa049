"""Creating tensors: from data (`tensor`), filled (`zeros`, `ones`, `full`, `eye`, `arange`) and random (`rand`,
`randn`, `randint`), each with PyTorch's signature and the `*_like` forms.

Random draws come from the one seedable generator in tensor.py (`manual_seed`). Tensors are made on the host
and copied to the device once when `device="cuda"`.
"""
import numpy as np

from tinygrad_edu.tensor import DEFAULT_FLOAT, Tensor, _check_device, array_to_device, default_generator


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


def _fill_dtype(fill_value):
    """The dtype torch.full infers from its fill value: bool, int64 for any integer, else the default float.

    >>> full((2,), 3).dtype, full((2,), True).dtype, full((2,), 2.5).dtype
    (dtype('int64'), dtype('bool'), dtype('float32'))
    """
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if isinstance(fill_value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(fill_value, (int, np.integer)):
        return np.dtype(np.int64)
    return DEFAULT_FLOAT


def full(shape, fill_value, dtype=None, requires_grad=False, device="cpu"):
    """A tensor of `shape` filled with `fill_value`; without `dtype`, the dtype follows the value as in torch."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = _fill_dtype(fill_value) if dtype is None else np.dtype(dtype)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _make(np.full(shape, fill_value, dtype=dtype), requires_grad, device)


def rand(*shape, dtype=None, requires_grad=False, device="cpu"):
    array = default_generator().random(_shape_arg(shape)).astype(_float_dtype(dtype))
    return _make(array, requires_grad, device)


def randn(*shape, dtype=None, requires_grad=False, device="cpu"):
    array = default_generator().standard_normal(_shape_arg(shape)).astype(_float_dtype(dtype))
    return _make(array, requires_grad, device)


def randint(low, high=None, size=None, *, dtype=None, device="cpu"):
    """Integers drawn uniformly from [low, high), as torch.randint: `randint(10, (3,))` or `randint(2, 10, (3,))`."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: missing required argument 'size'")
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    return _make(default_generator().integers(low, high, size=size).astype(dtype or np.int64), False, device)


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
