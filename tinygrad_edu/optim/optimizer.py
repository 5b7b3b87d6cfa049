"""`Optimizer`: the base class every optimizer shares (param groups, per-parameter state, zero_grad, state_dict).

An optimizer holds references to parameter Tensors (leaves with requires_grad=True) and, after `backward()`
has filled their `.grad`, updates `p.data` in place. The layout follows PyTorch exactly, so checkpoints and
training loops read the same:

    param_groups = [{"params": [p0, p1], "lr": 0.1, "momentum": 0.9, ...}, ...]   # options per group
    state        = {p0: {"momentum_buffer": ndarray}, ...}                           # keyed by the Tensor itself

`state_dict()` replaces each Tensor by its position (0, 1, 2, ... counted across all groups in order), so a
checkpoint can be loaded into a fresh optimizer built over fresh (but identically shaped) parameters.

Subclasses define `_update_group(group)`, which updates every parameter of one group; the base class's
`step()` runs it for each group under `no_grad()`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from tinygrad_edu.autograd import enable_grad, no_grad
from tinygrad_edu.tensor import FLOAT_DTYPES, Array, Tensor, array_to_device, as_array, copy_array, is_device_array

ParamGroup = dict[str, Any]  # {"params": [Tensor, ...], "lr": 0.1, ...}: the parameters and their options


class Optimizer:
    """Base class: `Optimizer(params, defaults)`, params an iterable of Tensors or of dicts (param groups).

    >>> import tinygrad_edu as tg
    >>> from tinygrad_edu.optim import SGD
    >>> w = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1)
    >>> (w * w).sum().backward()       # dL/dw = 2w = [2, 4]
    >>> opt.step()                     # w ← w - 0.1 · [2, 4]
    >>> w.data
    array([0.8, 1.6], dtype=float32)
    """

    defaults: dict[str, Any]
    state: dict[Tensor, dict[str, Any]]  # keyed by the parameter itself (a Tensor hashes by identity)
    param_groups: list[ParamGroup]

    def __init__(self, params: Iterable[Tensor] | Iterable[ParamGroup], defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or of dicts, got a single "
                            f"Tensor; wrap it in a list: [tensor]")
        param_groups: list[Any] = list(params)  # Tensors, or dicts (groups)
        if len(param_groups) == 0:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ----- building the groups -------------------------------------------------------------------------------
    def add_param_group(self, param_group: ParamGroup) -> None:
        """Add a group of parameters with its own options; options it leaves out take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}: a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{type(self).__name__}: a param group needs a 'params' entry")
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for param in group["params"]:
            self._check_param(param)
        for name, default in self.defaults.items():
            group.setdefault(name, default)

        already_optimized = {id(p) for existing in self.param_groups for p in existing["params"]}
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError(f"{type(self).__name__}: a param group lists the same parameter twice")
        if any(id(p) in already_optimized for p in group["params"]):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one param group")
        self._validate_group(group)
        self.param_groups.append(group)

    def _check_param(self, param: object) -> None:
        name = type(self).__name__
        if not isinstance(param, Tensor):
            raise TypeError(f"{name}: can only optimize Tensors, got {type(param).__name__}")
        if not param.is_leaf:
            raise ValueError(f"{name}: can't optimize a non-leaf Tensor (it was produced by {param.grad_fn}); "
                             f"optimize the leaf it was computed from, or use .detach().requires_grad_()")
        if param.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name}: can only optimize float32/float64 Tensors, got {param.dtype}")

    def _validate_group(self, group: ParamGroup) -> None:
        """Check a group's hyper-parameters (subclasses raise ValueError on bad values)."""

    # ----- the training-loop calls ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients before the next backward: set `.grad` to None (default) or to zeros."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    # A fresh array rather than fill(0): the grad's array may be shared or read-only.
                    param.grad.data = np.zeros_like(param.grad.data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; with `closure` (re-computes the loss), return its loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # The update itself must not be recorded as part of any graph.
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: ParamGroup) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _update_group(group)")

    # ----- helpers for subclasses ----------------------------------------------------------------------------
    @staticmethod
    def _grad_array(param: Tensor) -> Array:
        """The gradient as a C-contiguous array of the parameter's shape and dtype (what kernels expect)."""
        grad = as_array(param.grad)
        if grad.shape != param.shape:
            raise ValueError(f"optimizer step: gradient shape {grad.shape} does not match parameter shape "
                             f"{param.shape}")
        if is_device_array(grad):  # on the GPU: always C-contiguous
            return grad.astype(param.dtype, copy=False)
        return np.ascontiguousarray(grad, dtype=param.dtype)

    @staticmethod
    def _param_array(param: Tensor) -> Array:
        """`param.data`, made a writeable C-contiguous array first if it is not (so in-place updates stick).

        The caller updates it in place, so the parameter's version is bumped here: a graph that saved the old
        values for backward then refuses to compute a gradient from the new ones (autograd's version check).
        """
        param._version[0] += 1
        if is_device_array(param.data):  # CudaArrays are C-contiguous and writeable
            return param.data
        if not (param.data.flags.c_contiguous and param.data.flags.writeable):
            param.data = np.array(param.data, order="C", copy=True)
        return param.data

    # ----- checkpoints ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: value}}, 'param_groups': [{options..., 'params': [index, ...]}]}, copied.

        Indices count parameters across all groups in order, as PyTorch does; arrays are copies, so training on
        after taking the state dict does not change it.
        """
        index_of: dict[int, int] = {}  # id(param) -> its position
        param_groups = []
        for group in self.param_groups:
            indices = []
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
                indices.append(index_of[id(param)])
            options = {key: value for key, value in group.items() if key != "params"}
            options["params"] = indices
            param_groups.append(options)
        state = {}
        for group in self.param_groups:
            for param in group["params"]:
                if param in self.state:
                    state[index_of[id(param)]] = {key: _copy_value(value) for key, value in self.state[param].items()}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore options and per-parameter state from `state_dict()` output (e.g. after `tg.load`).

        The saved groups must match this optimizer's groups in number and size, and every saved array must have
        its parameter's shape; otherwise ValueError, and nothing is changed. Arrays are copied and cast to the
        parameter's dtype; Tensors in the saved state are accepted and stored as arrays.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' entries")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the checkpoint has {len(saved_groups)} param groups, this "
                             f"optimizer has {len(self.param_groups)}")
        for number, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: param group {number} has {len(saved['params'])} "
                                 f"parameters in the checkpoint and {len(group['params'])} here")

        # Saved index -> live parameter, pairing the groups' parameter lists in order.
        param_of = {}
        for saved, group in zip(saved_groups, self.param_groups):
            for index, param in zip(saved["params"], group["params"]):
                param_of[int(index)] = param

        new_state = {}
        for index, saved_param_state in state_dict["state"].items():
            if int(index) not in param_of:
                raise ValueError(f"{name}.load_state_dict: the checkpoint has state for parameter {index}, which "
                                 f"no param group lists")
            param = param_of[int(index)]
            restored = {}
            for key, value in saved_param_state.items():
                if isinstance(value, (Tensor, np.ndarray)) or is_device_array(value):
                    array = value.data if isinstance(value, Tensor) else value
                    if array.shape != param.shape:
                        raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter {index} has shape "
                                         f"{array.shape} in the checkpoint, but the parameter has shape {param.shape}")
                    value = array_to_device(copy_array(array, param.dtype), param.device)  # on the param's device
                restored[key] = value
            new_state[param] = restored

        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            options = {key: value for key, value in saved.items() if key != "params"}
            options["params"] = group["params"]
            for key, default in self.defaults.items():
                options.setdefault(key, default)  # a checkpoint from before an option existed
            self._validate_group(options)
            new_groups.append(options)
        # Only now, with every check passed, replace the live state.
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for number, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {number}")
            for key in sorted(key for key in group if key != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _copy_value(value: Any) -> Any:
    if isinstance(value, np.ndarray) or is_device_array(value):
        return value.copy()  # a device array is copied on the device (tg.save copies it to the host)
    return value
