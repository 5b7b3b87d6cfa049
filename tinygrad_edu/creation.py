"""Creating tensors: from data (`tensor`), filled (`zeros`, `ones`, `full`, `eye`, `arange`) and random (`rand`,
`randn`, `randint`), each with PyTorch's signature and the `*_like` forms.

Random draws come from the one seedable generator in tensor.py (`manual_seed`). Tensors are made on the host
and copied to the device once when `device="cuda"`.
"""
from __future__ import annotations

from typing import Any, cast

import numpy as np

from tinygrad_edu.tensor import (
    DEFAULT_FLOAT,
    DTypeArg,
    Number,
    ShapeArg,
    Tensor,
    _check_device,
    array_to_device,
    default_generator,
)


def tensor(data: Any, dtype: DTypeArg = None, requires_grad: bool = False, device: str | None = None) -> Tensor:
    """A new tensor holding a copy of `data`; without `device` it is made where the data is (as torch.tensor)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, device=device)


def _shape_arg(shape: tuple[ShapeArg, ...]) -> tuple[int, ...]:
    """`zeros(2, 3)` and `zeros((2, 3))` both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return cast("tuple[int, ...]", shape)  # sizes one by one (NumPy refuses anything that is not an integer)


def _make(array: np.ndarray, requires_grad: bool, device: str) -> Tensor:
    """Wrap a host array made by a creation helper, copied once to `device` if that is not the CPU."""
    device = _check_device(device)
    return Tensor._from_array(array_to_device(array, device), device=device).requires_grad_(requires_grad)


def _float_dtype(dtype: DTypeArg) -> np.dtype:
    return DEFAULT_FLOAT if dtype is None else np.dtype(dtype)


def zeros(*shape: ShapeArg, dtype: DTypeArg = None, requires_grad: bool = False, device: str = "cpu") -> Tensor:
    return _make(np.zeros(_shape_arg(shape), dtype=_float_dtype(dtype)), requires_grad, device)


def ones(*shape: ShapeArg, dtype: DTypeArg = None, requires_grad: bool = False, device: str = "cpu") -> Tensor:
    return _make(np.ones(_shape_arg(shape), dtype=_float_dtype(dtype)), requires_grad, device)


def _fill_dtype(fill_value: Number | Tensor) -> np.dtype:
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


def full(shape: ShapeArg, fill_value: Number | Tensor, dtype: DTypeArg = None, requires_grad: bool = False,
         device: str = "cpu") -> Tensor:
    """A tensor of `shape` filled with `fill_value`; without `dtype`, the dtype follows the value as in torch."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = _fill_dtype(fill_value) if dtype is None else np.dtype(dtype)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _make(np.full(shape, fill_value, dtype=dtype), requires_grad, device)


def rand(*shape: ShapeArg, dtype: DTypeArg = None, requires_grad: bool = False, device: str = "cpu") -> Tensor:
    array = default_generator().random(_shape_arg(shape)).astype(_float_dtype(dtype))
    return _make(array, requires_grad, device)


def randn(*shape: ShapeArg, dtype: DTypeArg = None, requires_grad: bool = False, device: str = "cpu") -> Tensor:
    array = default_generator().standard_normal(_shape_arg(shape)).astype(_float_dtype(dtype))
    return _make(array, requires_grad, device)


def randint(low: int, high: int | ShapeArg | None = None, size: ShapeArg | None = None, *, dtype: DTypeArg = None,
            device: str = "cpu") -> Tensor:
    """Integers drawn uniformly from [low, high), as torch.randint: `randint(10, (3,))` or `randint(2, 10, (3,))`."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: missing required argument 'size'")
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    return _make(default_generator().integers(low, high, size=size).astype(dtype or np.int64), False, device)


def arange(start: Number, stop: Number | None = None, step: Number = 1, dtype: DTypeArg = None,
           requires_grad: bool = False, device: str = "cpu") -> Tensor:
    if stop is None:
        start, stop = 0, start
    all_ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    if dtype is None:
        dtype = np.int64 if all_ints else DEFAULT_FLOAT
    return _make(np.arange(start, stop, step, dtype=dtype), requires_grad, device)


def eye(n: int, m: int | None = None, dtype: DTypeArg = None, requires_grad: bool = False,
        device: str = "cpu") -> Tensor:
    return _make(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device)


def zeros_like(other: Tensor, dtype: DTypeArg = None, requires_grad: bool = False) -> Tensor:
    return zeros(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def ones_like(other: Tensor, dtype: DTypeArg = None, requires_grad: bool = False) -> Tensor:
    return ones(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def full_like(other: Tensor, fill_value: Number | Tensor, dtype: DTypeArg = None,
              requires_grad: bool = False) -> Tensor:
    return full(other.shape, fill_value, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def rand_like(other: Tensor, dtype: DTypeArg = None, requires_grad: bool = False) -> Tensor:
    return rand(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)


def randn_like(other: Tensor, dtype: DTypeArg = None, requires_grad: bool = False) -> Tensor:
    return randn(other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, device=other.device)
