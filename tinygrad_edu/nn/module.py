"""`Module` and `Parameter`: the bookkeeping that turns tensors into a model (the containers are in container.py).

As in PyTorch, `Module.__setattr__` sorts what is assigned into three registries, so `named_parameters()`,
`state_dict()`, `to()` and `train()/eval()` find everything without the model listing it by hand:

    value assigned to self.name              goes to            (otherwise)
    a Parameter                              _parameters        (removed from the other two and from __dict__)
    a Module                                 _modules
    a Tensor or None, name already a buffer  _buffers           (`self.running_mean = t` keeps it a buffer)
    None, name already a parameter           _parameters        (a plain Tensor there is a TypeError)
    anything else                            a plain attribute

Buffers are registered explicitly with `register_buffer` (state that is saved but not learned).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from tinygrad_edu.autograd import no_grad
from tinygrad_edu.tensor import DEFAULT_FLOAT, DTypeArg, Tensor, _check_device, array_to_device, parse_to_args

ModuleT = TypeVar("ModuleT", bound="Module")  # train(), to(), ... return the module itself, with its own type


class Parameter(Tensor):
    """A tensor that is a learnable part of a module: requires_grad by default and registered on assignment.

    As `torch.nn.Parameter`, `Parameter(t)` shares t's data (no copy), stays on t's device and is a leaf.

    >>> import tinygrad_edu as tg
    >>> p = Parameter(tg.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=DEFAULT_FLOAT)
        source = data if isinstance(data, Tensor) else Tensor(data)
        super().__init__(np.empty(0, dtype=source.dtype))
        self.data = source.data
        self.device = source.device
        self._version = source._version  # shared storage, shared version counter (as torch)
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        copy = Parameter(Tensor._from_array(self.data.copy(), device=self.device), requires_grad=self.requires_grad)
        memo[id(self)] = copy
        return copy


class IncompatibleKeys(NamedTuple):
    """What load_state_dict reports: the keys the model has and the state lacked, and the other way round."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _type_name(value: object) -> str:
    return type(value).__name__


def _check_member_name(kind: str, name: object) -> None:
    """The checks torch.nn.Module makes before registering a parameter, buffer or submodule called `name`."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {_type_name(name)}")
    if "." in name:
        suffix = f", got: {name}" if kind == "module" else ""
        raise KeyError(f'{kind} name can\'t contain "."{suffix}')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


def _add_indent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of every layer and model: subclasses set attributes in `__init__` and define `forward`.

    >>> import tinygrad_edu.nn as nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(2, 1)
    ...     def forward(self, x):
    ...         return self.fc(x)
    >>> [name for name, _ in Net().named_parameters()]
    ['fc.weight', 'fc.bias']
    """

    training: bool
    _parameters: OrderedDict[str, Parameter | None]
    _buffers: OrderedDict[str, Tensor | None]
    _non_persistent_buffers_set: set[str]
    _modules: OrderedDict[str, Module | None]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # ----- the attribute protocol ----------------------------------------------------------------------------
    def _forget(self, name: str, *registries: dict[str, Any]) -> None:
        for registry in registries:
            registry.pop(name, None)
        self.__dict__.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __setattr__(self, name: str, value: Any) -> None:
        parameters = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if parameters is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif parameters is not None and name in parameters:
            if value is not None:
                raise TypeError(f"cannot assign '{_type_name(value)}' as parameter '{name}' "
                                f"(nn.Parameter or None expected)")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if self.__dict__.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, self._parameters, self._buffers)
            self._modules[name] = value
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_type_name(value)}' as child module '{name}' "
                                f"(nn.Module or None expected)")
            self._modules[name] = value
        elif "_buffers" in self.__dict__ and name in self._buffers:
            # Reassigning a buffer keeps it a buffer (BatchNorm's `self.running_mean = new_mean`).
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_type_name(value)}' as buffer '{name}' (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries (every `self.linear` of a forward lands
        # here, so the registries are read from __dict__ once, not through three lookups each).
        attributes = self.__dict__
        for registry_name in ("_parameters", "_buffers", "_modules"):
            registry = attributes.get(registry_name)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (a `Parameter`, or None for an optional one that is absent, e.g. bias=False)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_member_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_type_name(param)}' object to parameter '{name}' "
                            f"(nn.Parameter or None required)")
        if param is not None and not param.is_leaf:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be created "
                             f"explicitly. To express '{name}' as a function of another Tensor, compute the value in "
                             f"the forward() method.")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """State that is not learned but belongs to the model (BatchNorm's running mean): saved, never trained.

        persistent=False keeps it out of `state_dict()` (it still moves with `to()`).
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_member_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_type_name(tensor)}' object to buffer '{name}' (Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` (or None) as the child `name`; `setattr(self, name, module)` does the same."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_type_name(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_type_name(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        _check_member_name("module", name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path, e.g. `model.get_submodule("encoder.layers.0")`; "" is the module itself."""
        module = self
        if target == "":
            return module
        for item in target.split("."):
            if not hasattr(module, item):
                raise AttributeError(f"{type(module).__name__} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path, e.g. `model.get_parameter("fc.weight")`."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{type(module).__name__} has no attribute `{name}`")
        param = getattr(module, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor | None:
        """The buffer at a dotted path, e.g. `model.get_buffer("bn.running_mean")`."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{type(module).__name__} has no attribute `{name}`")
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return module._buffers[name]

    # ----- traversal -----------------------------------------------------------------------------------------
    def named_modules(self, memo: set[Module] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) pairs, this module first, depth first; a module reached twice is listed once."""
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            child_prefix = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self, remove_duplicate: bool = True) -> Iterator[Module]:
        return (module for _, module in self.named_modules(remove_duplicate=remove_duplicate))

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and child not in seen:
                seen.add(child)
                yield name, child

    def children(self) -> Iterator[Module]:
        return (child for _, child in self.named_children())

    def _named_members(self, members_of: Callable[[Module], Iterable[tuple[str, Any]]], prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        # Ids, not a set of tensors: `==` on tensors is elementwise, so identity is tracked by id().
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in members_of(module):
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two modules is listed once."""
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (param for _, param in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        return (buffer for _, buffer in self.named_buffers(recurse=recurse))

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of parameter elements (each shared parameter counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ----- modes and gradients -------------------------------------------------------------------------------
    def train(self: ModuleT, mode: bool = True) -> ModuleT:
        """Set training mode here and (through each child's own `train`) in every submodule; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self: ModuleT) -> ModuleT:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad = param.grad.detach()
                param.grad.zero_()

    def requires_grad_(self: ModuleT, requires_grad: bool = True) -> ModuleT:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def apply(self: ModuleT, fn: Callable[[Module], object]) -> ModuleT:
        """Call fn on every submodule (children first) and on self, as PyTorch; used for custom initialisation."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self: ModuleT, *args: Any, device: str | None = None, dtype: DTypeArg = None,
           non_blocking: bool = False) -> ModuleT:
        """Move every parameter and buffer to a device and/or convert float ones to a dtype, in place.

        `model.to("cuda")`, `model.to(np.float64)` (e.g. for a gradcheck), `model.to("cuda", np.float64)`,
        `model.to(tensor)` or the keywords. Parameters stay leaves (their data is replaced, as PyTorch's
        Module.to); gradients are dropped when the dtype changes and moved with the parameter when only the
        device does.
        """
        device, dtype = parse_to_args(args, device, dtype)
        if device is not None:
            device = _check_device(device)
        dtype = None if dtype is None else np.dtype(dtype)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        for tensor in list(self.parameters()) + list(self.buffers()):
            if dtype is not None and tensor.dtype.kind == "f" and tensor.dtype != dtype:
                tensor.data = tensor.data.astype(dtype)
                tensor.grad = None
            if device is not None and device != tensor.device:
                tensor.data = array_to_device(tensor.data, device)
                tensor.device = device
                if tensor.grad is not None:
                    tensor.grad = tensor.grad.to(device).detach()
        return self

    def cuda(self: ModuleT, device: str | int | None = None) -> ModuleT:
        return self.to("cuda")

    def cpu(self: ModuleT) -> ModuleT:
        return self.to("cpu")

    def double(self: ModuleT) -> ModuleT:
        return self.to(np.float64)

    def float(self: ModuleT) -> ModuleT:
        return self.to(np.float32)

    # ----- state dict ----------------------------------------------------------------------------------------
    def state_dict(self, *args: Any, destination: OrderedDict[str, Tensor] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, as PyTorch names them, as detached tensors that
        share the model's data (keep_vars=True: the parameters themselves).

        A module reached by two paths appears under both names, as in PyTorch.
        """
        if args:  # the old positional form state_dict(destination, prefix, keep_vars)
            destination, prefix, keep_vars = (list(args) + [destination, prefix, keep_vars][len(args):])[:3]
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination=destination, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return destination

    def _local_state(self) -> OrderedDict[str, Tensor]:
        """This module's own parameters and persistent buffers that are not None, by name."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        state.update((name, p) for name, p in self._parameters.items() if p is not None)
        state.update((name, b) for name, b in self._buffers.items()
                     if b is not None and name not in self._non_persistent_buffers_set)
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy values (Tensors or arrays) into this module's parameters and buffers, in place.

        strict=True: every key must match (RuntimeError listing missing and unexpected keys, as PyTorch). A
        shape mismatch is an error either way. assign=True puts the given tensors in place of the model's
        (keeping each parameter's requires_grad) instead of copying into them. Returns (missing_keys,
        unexpected_keys).
        """
        missing, unexpected, errors, updates = [], [], [], []
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            local = module._local_state()
            for name, target in local.items():
                key = prefix + name
                if key not in state_dict:
                    missing.append(key)
                    continue
                value = state_dict[key]
                if not isinstance(value, Tensor):
                    try:
                        value = Tensor._from_array(np.asarray(value))  # a NumPy array (or a torch tensor)
                    except (TypeError, ValueError, RuntimeError):
                        errors.append(f'While copying the parameter named "{key}", expected a Tensor or array from '
                                      f"checkpoint but received {type(value)}")
                        continue
                if tuple(value.shape) != tuple(target.shape):
                    errors.append(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
                                  f"checkpoint, the shape in current model is {tuple(target.shape)}.")
                    continue
                updates.append((module, name, target, value))
            for key in state_dict:
                if not key.startswith(prefix):
                    continue
                first = key[len(prefix):].split(".", 1)[0]
                if first not in module._modules and first not in local:
                    unexpected.append(key)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for module, name, target, value in updates:
                if not assign:
                    target.copy_(value)
                elif name in module._parameters:
                    module._parameters[name] = Parameter(value.detach(), requires_grad=target.requires_grad)
                else:
                    module._buffers[name] = value.detach()
        return IncompatibleKeys(missing, unexpected)

    # ----- calling and printing ------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_add_indent(repr(child), 2)}" for name, child in self._modules.items()]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


def empty_parameter(shape: int | tuple[int, ...], device: str | None = None, dtype: DTypeArg = None) -> Parameter:
    """An uninitialised float Parameter for a layer's constructor (float32 unless `dtype` says float64), made on
    `device`; the layer's reset_parameters() then fills it, as PyTorch's factory_kwargs."""
    dtype = DEFAULT_FLOAT if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"a layer's parameters must have a floating point dtype, got {dtype}")
    array = np.zeros(shape, dtype=dtype)
    device = "cpu" if device is None else _check_device(device)
    return Parameter(Tensor._from_array(array_to_device(array, device), device=device))
