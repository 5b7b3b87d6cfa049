"""`tinygrad_edu.autograd.Function` as PyTorch users write it: forward and backward on Tensors.

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):              # runs without recording a graph
            ctx.save_for_backward(x)
            return x ** 3
        @staticmethod
        def backward(ctx, grad_output):   # one gradient (Tensor or None) per argument of forward
            (x,) = ctx.saved_tensors
            return 3 * x * x * grad_output

The engine's own ops are `ArrayFunction`s (autograd.py), whose forward and backward see NumPy arrays. A user's
Function becomes one graph node of that kind (`_UserFunctionNode`): its forward has already run on Tensors, and
its backward wraps the gradient in Tensors, calls the user's backward and checks what comes back (one gradient
per forward argument, None for non-Tensor arguments), naming the Function in every error as PyTorch does.
Also here: `grad`, PyTorch's `torch.autograd.grad`, built on the same backward pass.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

import tinygrad_edu.tensor as tensor_module
from tinygrad_edu.autograd import (
    ArrayFunction,
    _grad_mode,
    SavedVersion,
    check_saved_versions,
    no_grad,
    run_backward,
    topological_order,
)

if TYPE_CHECKING:
    from tinygrad_edu.tensor import Tensor


class FunctionCtx:
    """The `ctx` of a PyTorch-style `Function`: tensors saved for backward and which inputs need a gradient."""

    function_name: str                      # "<Function>Backward", set by Function.apply (for errors)
    output_shapes: list[tuple[int, ...]]    # set by Function.apply when forward returns several tensors

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self._saved: tuple[Tensor | None, ...] = ()
        self._saved_versions: tuple[SavedVersion, ...] = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep Tensors (or None) for backward; an in-place change to one of them before backward is an error."""
        for tensor in tensors:
            if tensor is not None and not isinstance(tensor, tensor_module.Tensor):
                raise TypeError(f"save_for_backward can only save Tensors or None, got {type(tensor).__name__}")
        self._saved = tensors
        self._saved_versions = tuple(SavedVersion(t._version, t._version[0], t.dtype, tuple(t.shape))
                                     for t in tensors if t is not None)

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        check_saved_versions(getattr(self, "function_name", "Function"), self._saved_versions)
        return self._saved

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Accepted for compatibility: outputs that are not floating point never get a gradient here anyway."""

    def set_materialize_grads(self, value: bool) -> None:
        """With True (the default) backward receives zeros, not None, for outputs that got no gradient."""
        self.materialize_grads = bool(value)


class _UserFunctionNode(ArrayFunction):
    """The graph node of one call of a PyTorch-style `Function`: its forward already ran on Tensors.

    forward returns the precomputed output (several outputs are carried as one flat array and split back by
    views, so the engine's one-output-per-node graph holds them); backward calls the user's `backward` with
    Tensors and hands the engine arrays, one per tensor input.
    """

    @staticmethod
    def forward(ctx, *arrays, user_function, user_ctx, output_array, arg_is_tensor):
        ctx.user_function, ctx.user_ctx, ctx.arg_is_tensor = user_function, user_ctx, arg_is_tensor
        return output_array

    @staticmethod
    def backward(ctx, grad_out):
        Tensor = tensor_module.Tensor
        user_function, user_ctx = ctx.user_function, ctx.user_ctx
        name = ctx.op_name
        grad_tensors = [Tensor._from_array(grad_out)]
        if getattr(user_ctx, "output_shapes", None) is not None:  # several outputs: split the flat gradient
            grad_tensors, offset = [], 0
            for shape in user_ctx.output_shapes:
                size = int(np.prod(shape))
                grad_tensors.append(Tensor._from_array(grad_out[offset:offset + size].reshape(shape)))
                offset += size
        with no_grad():
            grads = user_function.backward(user_ctx, *grad_tensors)
        if not isinstance(grads, tuple):
            grads = (grads,)
        n_args = len(ctx.arg_is_tensor)
        # PyTorch: one gradient per forward argument; extra trailing Nones are allowed.
        if len(grads) < n_args or any(g is not None for g in grads[n_args:]):
            raise RuntimeError(f"function {name}.backward returned an incorrect number of gradients (expected "
                               f"{n_args}, one per argument of forward, got {len(grads)})")
        arrays = []
        for index, (grad, is_tensor) in enumerate(zip(grads[:n_args], ctx.arg_is_tensor)):
            if not is_tensor:
                if grad is not None:
                    raise RuntimeError(f"function {name}.backward returned a gradient different than None at "
                                       f"position {index + 1}, but the corresponding forward input was not a Tensor")
                continue
            if grad is not None and not isinstance(grad, Tensor):
                raise TypeError(f"function {name}.backward must return Tensors or None, got "
                                f"{type(grad).__name__} at position {index + 1}")
            arrays.append(None if grad is None else grad.data)
        return tuple(arrays)


class Function:
    """A differentiable operation written by a user on Tensors, exactly as `torch.autograd.Function`.

    >>> import tinygrad_edu as tg
    >>> class Cube(tg.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):              # Tensors in, Tensors out; runs without recording a graph
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     def backward(ctx, grad_output):   # one gradient (a Tensor or None) per argument of forward
    ...         (x,) = ctx.saved_tensors
    ...         return 3 * x * x * grad_output
    >>> x = tg.tensor([2.0], requires_grad=True)
    >>> Cube.apply(x).sum().backward(); x.grad.tolist()
    [12.0]

    The engine's own ops use `ArrayFunction` instead, whose forward and backward work on the arrays inside the
    tensors (one less layer of wrapping on the hot path); this class is built on it (`_UserFunctionNode`).
    """

    _node_class: type[_UserFunctionNode]  # the graph node class made for this subclass on its first apply

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        Tensor = tensor_module.Tensor
        arg_is_tensor = tuple(isinstance(arg, Tensor) for arg in args)
        ctx = FunctionCtx(tuple(isinstance(arg, Tensor) and arg.requires_grad for arg in args))
        ctx.function_name = cls.__name__ + "Backward"
        with no_grad():
            outputs = cls.forward(ctx, *args, **kwargs)
        single = isinstance(outputs, Tensor)
        output_list = [outputs] if single else list(outputs)
        if not all(isinstance(out, Tensor) for out in output_list):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple of Tensors")
        if not (_grad_mode.enabled and True in ctx.needs_input_grad):
            return outputs
        differentiable = [out for out in output_list if out.dtype.kind == "f"]
        if not differentiable:
            return outputs
        if len(set(out.dtype for out in differentiable)) > 1 or len(set(out.device for out in differentiable)) > 1:
            raise NotImplementedError(f"{cls.__name__}: outputs of different float dtypes or devices are not supported")
        node_class: type[_UserFunctionNode] | None = cls.__dict__.get("_node_class")
        if node_class is None:
            node_class = cast(type[_UserFunctionNode], type(cls.__name__ + "Backward", (_UserFunctionNode,), {}))
            cls._node_class = node_class
        tensor_args = [arg for arg in args if isinstance(arg, Tensor)]
        if len(differentiable) == 1:
            output_array = differentiable[0].data
        else:
            ctx.output_shapes = [out.shape for out in differentiable]
            output_array = np.concatenate([out.data.reshape(-1) for out in differentiable])
        node = node_class.apply(*tensor_args, user_function=cls, user_ctx=ctx, output_array=output_array,
                                arg_is_tensor=arg_is_tensor)
        if len(differentiable) == 1:
            recorded = {id(differentiable[0]): node}
        else:
            recorded, offset = {}, 0
            for out in differentiable:
                recorded[id(out)] = node[offset:offset + out.numel()].reshape(out.shape)
                offset += out.numel()
        results = [recorded.get(id(out), out) for out in output_list]
        return results[0] if single else tuple(results)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
    retain_graph: bool | None = None,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """d(outputs)/d(inputs) returned as a tuple of Tensors, leaving every `.grad` untouched (torch.autograd.grad).

    Computed with the ordinary backward pass: the inputs' `.grad` is set aside, filled, read and restored.
    create_graph (gradients of gradients) is not supported.
    """
    Tensor = tensor_module.Tensor
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    saved = [(t.grad, t._retains_grad) for t in inputs]
    # Every other tensor whose .grad a backward pass could change gets it back afterwards, untouched.
    input_ids = {id(t) for t in inputs}
    bystanders = [(t, t.grad, None if t.grad is None else t.grad.data)
                  for out in outputs for t in topological_order(out) if id(t) not in input_ids]
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: one of the inputs (shape {t.shape}) does not require grad")
        t.grad, t._retains_grad = None, True
    try:
        for out, grad_out in zip(outputs, grad_outputs):
            run_backward(out, gradient=grad_out, retain_graph=bool(retain_graph))
        results = tuple(t.grad for t in inputs)
    finally:
        for t, (old_grad, old_retains) in zip(inputs, saved):
            t.grad, t._retains_grad = old_grad, old_retains
        for t, old_grad, old_data in bystanders:
            t.grad = old_grad
            if old_grad is not None:
                old_grad.data = old_data  # accumulation rebinds .grad.data; the old array itself is unchanged
    for t, result in zip(inputs, results):
        if result is None and not allow_unused:
            raise RuntimeError(f"grad: one of the differentiated tensors (shape {t.shape}) appears to not have been "
                               f"used in the graph; pass allow_unused=True if this is intended")
    return results
