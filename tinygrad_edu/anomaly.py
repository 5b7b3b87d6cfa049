"""Anomaly detection: stop at the first op that makes a NaN or an infinity, forward or backward.

    import tinygrad_edu as tg

    with tg.detect_anomaly():
        loss = model(x).log().mean()   # RuntimeError here if log is given a negative number ...
        loss.backward()                # ... or here, naming the op whose backward made the NaN

A loss that turns NaN says nothing about where the NaN came from: every op after the first bad one passes it on.
In anomaly mode the engine checks each op as it runs and raises `RuntimeError` at the first one whose

- forward output holds a NaN while none of its inputs did, or an inf while all of its inputs were finite (so a
  `-inf` attention mask, or a NaN already reported, is passed along without a second complaint), or whose
- backward returns a gradient holding a NaN or an inf, for an input that requires grad.

The error names the op's Function class, the dtypes and shapes of its inputs, and the line of your code that
created it: the first frame outside the engine, recorded when the op ran forward (tinygrad_edu/models and
tinygrad_edu/tasks count as your code: they are programs written with the engine). The backward check is
PyTorch's ("Function 'SqrtBackward0' returned nan values in its 0th output"); the forward check is ours —
PyTorch checks gradients only (see docs/differences-from-pytorch.md). The checks cost a pass over every array,
so the mode is for debugging; while it is off each op pays one boolean test (`autograd._anomaly_mode.enabled`).
"""
from __future__ import annotations

import contextlib
import functools
import linecache
import math
import os
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

import tinygrad_edu.tensor as tensor_module
from tinygrad_edu.autograd import _anomaly_mode

if TYPE_CHECKING:
    from tinygrad_edu.autograd import Context

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Programs written with the engine that ship inside it: an op they create is "your code" in the error.
_USER_CODE_DIRS = tuple(os.path.join(_PACKAGE_DIR, folder) + os.sep for folder in ("models", "tasks"))


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()` or after `set_detect_anomaly(True)` (as `torch.is_anomaly_enabled`)."""
    return _anomaly_mode.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """True when anomaly mode also checks values for NaN and inf (`check_nan=True`, the default)."""
    return _anomaly_mode.enabled and _anomaly_mode.check_nan


class detect_anomaly(contextlib.ContextDecorator):
    """`with detect_anomaly():` or `@detect_anomaly()`: raise at the first op that makes a NaN or inf.

    As `torch.autograd.detect_anomaly`. check_nan=False records where each op was created but checks no values.

    >>> import tinygrad_edu as tg
    >>> x = tg.tensor([0.0], requires_grad=True)
    >>> with tg.detect_anomaly():  # doctest: +ELLIPSIS
    ...     (x.sqrt() * 0.0).sum().backward()   # d sqrt(x)/dx at 0 is 1/0; times the 0 from Mul: 0/0 = NaN
    Traceback (most recent call last):
    RuntimeError: Function 'Sqrt' returned nan values in its 0th output (the gradient for its input 0) ...
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = bool(check_nan)

    def __enter__(self) -> detect_anomaly:
        self.previous = (_anomaly_mode.enabled, _anomaly_mode.check_nan)
        _anomaly_mode.enabled, _anomaly_mode.check_nan = True, self.check_nan
        return self

    def __exit__(self, *exc_info: object) -> None:
        _anomaly_mode.enabled, _anomaly_mode.check_nan = self.previous


class set_detect_anomaly:
    """Turn anomaly mode on or off now; used as a context manager, the previous mode comes back at the end.

    As `torch.autograd.set_detect_anomaly(mode, check_nan=True)`: `set_detect_anomaly(True)` at the top of a
    script checks every op after it.
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.previous = (_anomaly_mode.enabled, _anomaly_mode.check_nan)
        _anomaly_mode.enabled, _anomaly_mode.check_nan = bool(mode), bool(check_nan)

    def __enter__(self) -> set_detect_anomaly:
        return self

    def __exit__(self, *exc_info: object) -> None:
        _anomaly_mode.enabled, _anomaly_mode.check_nan = self.previous


# ----- where an op was created ----------------------------------------------------------------------------
class CodeLocation(NamedTuple):
    """A line of the user's code: where an op was created."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        source = linecache.getline(self.filename, self.lineno).strip()
        return f"{self.filename}:{self.lineno} in {self.function}" + (f": {source}" if source else "")


@functools.lru_cache(maxsize=None)
def _is_engine_file(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE_DIR) and not path.startswith(_USER_CODE_DIRS)


def user_code_location(frame: FrameType | None = None) -> CodeLocation | None:
    """The innermost frame of the calling stack outside the engine (None when the whole stack is the engine's)."""
    frame = frame if frame is not None else sys._getframe(1)
    while frame is not None and _is_engine_file(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return None
    return CodeLocation(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


# ----- the checks ---------------------------------------------------------------------------------------------
def _non_finite_kind(value: Any) -> str | None:
    """'nan' when `value` (an array or a number) holds a NaN, else 'inf' when it holds an infinity, else None."""
    if isinstance(value, tensor_module.Tensor):
        value = value.data
    if isinstance(value, float):
        return "nan" if math.isnan(value) else "inf" if math.isinf(value) else None
    dtype = getattr(value, "dtype", None)
    if dtype is None or dtype.kind != "f":  # integers and booleans hold neither
        return None
    if bool(np.isfinite(value).all()):
        return None
    return "nan" if bool(np.isnan(value).any()) else "inf"


def _describe(value: Any) -> str:
    if isinstance(value, tensor_module.Tensor):
        return f"Tensor {value.dtype} {tuple(value.shape)}" + ("" if value.device == "cpu" else f" on {value.device}")
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"array {value.dtype} {tuple(value.shape)}"
    return repr(value)


def _created_at_line(location: CodeLocation | None) -> str:
    if location is None:
        return "  created inside the engine (no frame of your code on the stack)"
    return f"  created at {location}"


def after_forward(function: type, ctx: Context, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
    """Called by `ArrayFunction.apply` in anomaly mode: remember where the op was created, check its output."""
    ctx.created_at = user_code_location()
    if not _anomaly_mode.check_nan:
        return
    made = _non_finite_kind(out)
    if made is None:
        return
    given = {_non_finite_kind(arg) for arg in args}
    given.update(_non_finite_kind(value) for value in kwargs.values() if value is not out)
    if made in given or (made == "inf" and "nan" in given):
        return  # it came in through an input: the op that made it was reported already, or it is data (a mask)
    inputs = ", ".join(_describe(arg) for arg in args if isinstance(arg, tensor_module.Tensor)) or "no tensors"
    raise RuntimeError(
        f"Function '{function.__name__}' returned {made} values in its forward output, from inputs that held "
        f"{'no NaN' if made == 'nan' else 'no NaN or inf'} (anomaly detection).\n"
        f"{_created_at_line(ctx.created_at)}\n"
        f"  inputs: {inputs}"
    )


def check_backward(ctx: Context, grad: Any, input_grads: tuple[Any, ...]) -> None:
    """Called by `run_backward` in anomaly mode after each op's backward: its gradients must be finite."""
    if not _anomaly_mode.check_nan:
        return
    for index, (parent, parent_grad) in enumerate(zip(ctx.parents, input_grads)):
        if parent_grad is None or not parent.requires_grad:
            continue
        made = _non_finite_kind(parent_grad)
        if made is None:
            continue
        incoming = _non_finite_kind(grad)
        # Non-finite only if no op made it: the `gradient` given to backward(), or a sum of two uses that overflowed.
        received = "finite" if incoming is None else f"already holding {incoming}"
        if hasattr(ctx, "created_at"):
            created = _created_at_line(ctx.created_at)
        else:
            created = "  created before anomaly mode was turned on, so where is not known"
        inputs = ", ".join(_describe(tensor) for tensor in ctx.parents)
        raise RuntimeError(
            f"Function '{ctx.op_name}' returned {made} values in its {index}th output (the gradient for its "
            f"input {index}) during backward (anomaly detection).\n"
            f"{created}\n"
            f"  inputs: {inputs}\n"
            f"  the gradient it received: {grad.dtype} {tuple(grad.shape)}, {received}"
        )
