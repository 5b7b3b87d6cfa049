"""Reverse-mode automatic differentiation: `Function`, its `Context`, grad mode and the backward pass.

Every differentiable op is a `Function` subclass with `forward(ctx, *arrays)` and `backward(ctx, grad_out)`
written next to each other. `Function.apply` runs `forward` on the NumPy arrays inside the input tensors and,
when gradients are wanted, records the call on the output tensor (`out._ctx`), which is how the graph is built:
each output points at the context of the op that made it, and each context points at its input tensors.

`backward` walks that graph from the loss to the leaves in reverse topological order, asking each context for
the gradients of its inputs (the chain rule), and accumulating them.

Anomaly mode (`tinygrad_edu.detect_anomaly()`, anomaly.py) adds a check after every op's forward and backward;
when it is off, each op pays one boolean test for it (`_anomaly_mode.enabled`).
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

import tinygrad_edu.tensor as tensor_module

if TYPE_CHECKING:
    from tinygrad_edu.anomaly import CodeLocation
    from tinygrad_edu.tensor import Tensor

Array = npt.NDArray[Any]  # a NumPy array, or on "cuda" the NumPy-compatible CudaArray
ProfileHook = Callable[[str, str, float], None]
# What run_backward calls after each op's backward: trace(node, ctx, grad, input_grads) (see trace.py).
TraceHook = Callable[["Tensor", "Context", Array, tuple[Any, ...]], None]


class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()
_profile_hook: ProfileHook | None = None  # set by tinygrad_edu.profile(): called as hook(kind, op_name, seconds)


class _AnomalyMode:
    """Switched by `detect_anomaly()` / `set_detect_anomaly()` (anomaly.py). Global, not per thread, as PyTorch's."""

    enabled = False
    check_nan = True


_anomaly_mode = _AnomalyMode()


def set_profile_hook(hook: ProfileHook | None) -> ProfileHook | None:
    """Install a timing hook for op forwards and backwards; returns the previous one."""
    global _profile_hook
    previous, _profile_hook = _profile_hook, hook
    return previous


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager and decorator that turns graph recording on or off (as `torch.set_grad_enabled`)."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> set_grad_enabled:
        self.previous = _grad_mode.enabled
        _grad_mode.enabled = self.mode
        return self

    def __exit__(self, *exc_info: object) -> None:
        _grad_mode.enabled = self.previous


class no_grad(set_grad_enabled):
    """`with no_grad():` or `@no_grad()`: ops run without recording a graph (inference, optimizer updates)."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    def __init__(self) -> None:
        super().__init__(True)


class inference_mode(set_grad_enabled):
    """`torch.inference_mode()`: here the same as no_grad (the engine has no separate inference tensors)."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__(not mode)


class Context:
    """What a `Function` call remembers for its backward: saved arrays, attributes and its input tensors."""

    __slots__ = ("parents", "needs_input_grad", "saved_tensors", "saved_versions", "freed", "__dict__")
    function: type[ArrayFunction]        # set by ArrayFunction.apply when the call is recorded
    created_at: CodeLocation | None      # set only in anomaly mode: the user's line that created the op

    def __init__(self, parents: list[Tensor], needs_input_grad: tuple[bool, ...]) -> None:
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple[Any, ...] = ()
        self.saved_versions: tuple[SavedVersion, ...] = ()
        self.freed = False

    @property
    def op_name(self) -> str:
        """The name of the Function this context belongs to (for errors, traces and the profiler)."""
        return self.function.__name__

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep NumPy arrays for backward. They are released after backward unless `retain_graph=True`."""
        self.saved_tensors = arrays


class ArrayFunction:
    """Base class of the engine's differentiable ops: subclasses define `forward(ctx, ...)` and `backward(ctx, grad_out)`.

    `forward` receives the NumPy arrays of the tensor arguments (other arguments pass through unchanged) and
    returns one array. `backward` receives the gradient of the loss with respect to that output and returns one
    gradient per tensor argument, in order, or `None` where an input needs none (check `ctx.needs_input_grad`).
    Gradients may keep the broadcast shape of the output: the engine sums them back to each input's shape.
    """

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        Tensor = tensor_module.Tensor
        tensors, arrays, needs_input_grad = [], [], []
        device = None
        # One pass over the arguments: this loop runs for every op, so it is kept plain.
        for arg in args:
            if isinstance(arg, Tensor):
                if device is None:
                    device = arg.device
                elif arg.device != device:
                    _raise_device_mismatch(cls.__name__, args)
                tensors.append(arg)
                arrays.append(arg.data)
                needs_input_grad.append(arg.requires_grad)
            else:
                arrays.append(arg)
        ctx = Context(tensors, tuple(needs_input_grad))
        if _profile_hook is None:
            out_data = cls.forward(ctx, *arrays, **kwargs)
        else:
            start = time.perf_counter()
            out_data = cls.forward(ctx, *arrays, **kwargs)
            _profile_hook("forward", cls.__name__, time.perf_counter() - start)
        if _anomaly_mode.enabled:
            anomaly.after_forward(cls, ctx, args, kwargs, out_data)
        record = _grad_mode.enabled and True in needs_input_grad
        out = Tensor._from_array(out_data, requires_grad=record)  # on the device of the array forward returned
        if record:
            ctx.function = cls
            out._ctx = ctx
            if ctx.saved_tensors:
                ctx.saved_versions = _versions_of_saved(ctx.saved_tensors, tensors, out)
        return out

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, grad_out: Any) -> Any:
        raise NotImplementedError


def _versions_of_saved(saved_arrays, inputs, out):
    """(tensor, its version now) for each input or output tensor whose array the op saved for backward.

    An in-place change (`add_`, an optimizer step, `x[i] = v`) bumps a tensor's version; backward compares, so
    a gradient is never computed from values that changed after the forward (PyTorch's version counter).
    """
    # The saved arrays and the arrays they are views of. A plain list compared by identity: an op saves two or
    # three arrays, and this runs for every recorded op.
    saved = []
    for array in saved_arrays:
        if array is not None:
            saved.append(array)
            base = getattr(array, "base", None)
            if base is not None:
                saved.append(base)
    # The counter (a list shared with detached views), not the tensor: an op that saves its own output would
    # otherwise hold that output from its own context, a cycle only the garbage collector frees.
    versions = []
    for tensor in (*inputs, out):
        data = tensor.data
        for array in saved:
            if array is data:
                counter = tensor._version
                # tuple.__new__ builds the SavedVersion without the Python-level __new__ of a NamedTuple
                versions.append(tuple.__new__(SavedVersion, (counter, counter[0], data.dtype, tuple(data.shape))))
                break
    return tuple(versions)


class SavedVersion(NamedTuple):
    """What backward needs to tell whether a saved tensor changed in place: its counter and the value it had."""

    counter: list
    version: int
    dtype: Any
    shape: tuple


def check_saved_versions(op_name: str, saved_versions: tuple[SavedVersion, ...]) -> None:
    """RuntimeError, in PyTorch's words, when a tensor saved for backward was modified in place since."""
    for counter, version, dtype, shape in saved_versions:
        if counter[0] != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"[{dtype} {shape}] is at version {counter[0]}; expected version "
                f"{version} instead (saved by {op_name}). Modify a copy (x.clone()) or do the in-place change "
                f"after backward."
            )


def _raise_device_mismatch(op_name, args):
    Tensor = tensor_module.Tensor
    described = ", ".join(f"{t.device} {t.shape}" for t in args if isinstance(t, Tensor))
    raise RuntimeError(f"{op_name}: expected all tensors on the same device, got {described}")


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum a gradient of a broadcast result back to the `shape` of the input that was broadcast.

    Broadcasting copies an input along new leading axes and along axes of size 1, so by the chain rule the
    gradient of each original element is the sum over all its copies. This is the one place where the engine
    undoes broadcasting; every op may return gradients in the broadcast shape.
    """
    if grad.shape == shape:
        return grad
    extra_leading_axes = grad.ndim - len(shape)
    if extra_leading_axes:
        grad = grad.sum(axis=tuple(range(extra_leading_axes)))
    stretched_axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched_axes:
        grad = grad.sum(axis=stretched_axes, keepdims=True)
    return grad


def _as_gradient_array(grad: Any, dtype: Any) -> Array:
    """A backward's result (an array of another dtype, a NumPy scalar, a CudaArray) as an array of `dtype`."""
    if tensor_module.is_device_array(grad):  # a CudaArray: np.asarray would refuse it
        return grad.astype(dtype, copy=False)
    return np.asarray(grad, dtype=dtype)


def _check_gradient_shape(op_name, index, grad_shape, input_shape):
    """A backward may return a gradient in a shape its input broadcasts to, never any other (PyTorch's check)."""
    try:
        compatible = np.broadcast_shapes(grad_shape, input_shape) == tuple(grad_shape)
    except ValueError:
        compatible = False
    if not compatible:
        raise RuntimeError(
            f"function {op_name}.backward returned an invalid gradient at index {index} - got {list(grad_shape)} but "
            f"expected shape compatible with {list(input_shape)}"
        )


def topological_order(root: Tensor, include_constants: bool = False) -> list[Tensor]:
    """Tensors reachable from `root` through recorded ops, each listed after all of its inputs.

    Iterative depth-first search with an explicit stack, so a 10,000-op chain cannot hit Python's recursion
    limit. A node is emitted once all of its parents are emitted (post-order). Backward needs only the tensors
    that require grad; `include_constants=True` also follows the others (for drawing the whole graph).
    """
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            # Reversed, so the first input is visited (and listed) first.
            for parent in reversed(node._ctx.parents):
                if (include_constants or parent.requires_grad) and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def run_backward(
    root: Tensor,
    gradient: Tensor | npt.ArrayLike | None = None,
    retain_graph: bool = False,
    trace: TraceHook | None = None,
) -> None:
    """Backpropagate from `root`: fill `.grad` of every leaf (and every tensor that called `retain_grad()`)."""
    if not root.requires_grad:
        raise RuntimeError(
            f"backward: tensor of shape {root.shape} does not require grad and has no grad_fn; "
            "did you create it under no_grad() or from tensors that do not require grad?"
        )
    if gradient is None:
        if root.numel() != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs, but the output has shape "
                f"{root.shape}; pass gradient= a tensor of that shape, or reduce it first (e.g. .sum())"
            )
        seed = np.ones_like(root.data)  # on root's device
    else:
        seed = gradient.data if isinstance(gradient, tensor_module.Tensor) else np.asarray(gradient, root.dtype)
        seed = tensor_module.array_to_device(seed, root.device)
        if seed.shape != root.shape:
            raise ValueError(f"backward: gradient has shape {seed.shape} but the output has shape {root.shape}")
        seed = seed.astype(root.dtype, copy=False)

    # 1. Order the graph so that each tensor comes after everything it was computed from.
    order = topological_order(root)
    # 2. Seed d(root)/d(root) = 1 (or the given cotangent) and walk from the root back to the leaves.
    grads = {id(root): seed}
    for node in reversed(order):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        # 3. Leaves (and tensors asked to keep theirs) accumulate: a second backward adds to .grad.
        if node._ctx is None or node._retains_grad:
            node._accumulate_grad(grad)
        ctx = node._ctx
        if ctx is None:
            continue
        if ctx.freed:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time (op {ctx.op_name}, output shape "
                f"{node.shape}); its saved values were freed. Pass retain_graph=True to the first backward call."
            )
        if ctx.saved_versions:
            check_saved_versions(ctx.op_name, ctx.saved_versions)
        # 4. The chain rule for one op: the gradients of its inputs from the gradient of its output.
        if _profile_hook is None:
            input_grads = ctx.function.backward(ctx, grad)
        else:
            start = time.perf_counter()
            input_grads = ctx.function.backward(ctx, grad)
            _profile_hook("backward", ctx.op_name, time.perf_counter() - start)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(ctx.parents):
            raise RuntimeError(
                f"function {ctx.op_name}.backward returned an incorrect number of gradients (expected "
                f"{len(ctx.parents)}, one per tensor input, got {len(input_grads)})"
            )
        if trace is not None:
            trace(node, ctx, grad, input_grads)
        if _anomaly_mode.enabled:
            anomaly.check_backward(ctx, grad, input_grads)
        for index, (parent, parent_grad) in enumerate(zip(ctx.parents, input_grads)):
            if parent_grad is None or not parent.requires_grad:
                continue
            parent_data = parent.data
            if type(parent_grad) is not np.ndarray or parent_grad.dtype != parent_data.dtype:
                parent_grad = _as_gradient_array(parent_grad, parent_data.dtype)
            if parent_grad.shape != parent_data.shape:
                _check_gradient_shape(ctx.op_name, index, parent_grad.shape, parent.shape)
                parent_grad = unbroadcast(parent_grad, parent.shape)
            # 5. A tensor used several times receives the sum of the gradients from each use.
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + parent_grad
            else:
                grads[key] = parent_grad
        # 6. Free what the op saved, so memory is returned as soon as the gradient has passed through.
        if not retain_graph:
            ctx.saved_tensors = ()
            ctx.freed = True


# The PyTorch-style Function (forward and backward on Tensors) and autograd.grad are built on the pieces above;
# they live in custom_function.py and are re-exported here so `tinygrad_edu.autograd.Function` is where PyTorch
# users look for it. Anomaly detection (anomaly.py) likewise, as `torch.autograd.detect_anomaly`.
from tinygrad_edu import anomaly  # noqa: E402
from tinygrad_edu.anomaly import detect_anomaly, set_detect_anomaly  # noqa: E402
from tinygrad_edu.custom_function import Function, FunctionCtx, grad  # noqa: E402
