"""Containers, as `torch.nn`'s: `Sequential`, `ModuleList`, `ModuleDict` and `ParameterList`.

A plain Python list or dict of layers would hide their parameters from `parameters()` and `state_dict()`; these
register each entry under its index (or key), so `model.layers.0.weight` is a state-dict key as in PyTorch.
"""
import operator
from collections import OrderedDict

from tinygrad_edu.nn.module import Module, Parameter
from tinygrad_edu.tensor import Tensor


def _absolute_index(container, index):
    """A Python index (negative allowed) into `container`, as an int; IndexError as PyTorch's."""
    index = operator.index(index)
    if not -len(container) <= index < len(container):
        raise IndexError(f"index {index} is out of range")
    return index % len(container)


class _IndexedModules(Module):
    """What Sequential and ModuleList share: children registered as "0", "1", ... and list-like access."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._from_slice(index)
        return list(self._modules.values())[_absolute_index(self, index)]

    def __setitem__(self, index, module):
        setattr(self, str(_absolute_index(self, index)), module)

    def __delitem__(self, index):
        if isinstance(index, slice):
            names = list(self._modules)[index]
        else:
            names = [list(self._modules)[_absolute_index(self, index)]]
        for name in names:
            delattr(self, name)
        self._renumber(list(self._modules.values()))

    def _renumber(self, modules):
        # Keep the names "0", "1", ... contiguous, as PyTorch does after a deletion or insertion.
        self._modules.clear()
        for position, module in enumerate(modules):
            self._modules[str(position)] = module

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        if not hasattr(modules, "__iter__"):
            raise TypeError(f"{type(self).__name__}.extend should be called with an iterable, but got "
                            f"{type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: Module, got {type(module).__name__}")
        modules = list(self._modules.values())
        if not -len(modules) <= index <= len(modules):
            raise IndexError(f"Index out of range: {index}")
        modules.insert(index, module)
        self._renumber(modules)
        return self

    def pop(self, index):
        module = self[index]
        del self[index]
        return module


class Sequential(_IndexedModules):
    """Modules applied in order: `Sequential(Linear(4, 64), ReLU(), Linear(64, 2))`.

    `Sequential(OrderedDict(fc=Linear(4, 2), act=ReLU()))` names the children; a slice keeps the names.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def _from_slice(self, index):
        return Sequential(OrderedDict(list(self._modules.items())[index]))

    def __add__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return Sequential(*self, *other)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_IndexedModules):
    """A list of modules whose parameters are registered (a plain Python list would hide them)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _from_slice(self, index):
        return ModuleList(list(self._modules.values())[index])

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(): iterate over it in the parent module's forward()")


class ModuleDict(Module):
    """An ordered dict of modules whose parameters are registered: `ModuleDict({"encoder": ..., "head": ...})`."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def clear(self):
        self._modules.clear()

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules):
        pairs = modules.items() if hasattr(modules, "items") else modules
        for entry in pairs:
            key, module = entry
            self[key] = module

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(): pick modules by key in the parent module's forward()")


class ParameterList(Module):
    """A list of parameters, registered as "0", "1", ...; a plain Tensor appended is wrapped in a Parameter."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __getitem__(self, index):
        values = list(self._parameters.values())
        if isinstance(index, slice):
            return ParameterList(values[index])
        return values[_absolute_index(self, index)]

    def __setitem__(self, index, param):
        name = str(_absolute_index(self, index))
        self.register_parameter(name, param if isinstance(param, Parameter) or param is None else Parameter(param))

    def append(self, value):
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(str(len(self)), value)
        return self

    def extend(self, values):
        if not hasattr(values, "__iter__") or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        return "\n".join(f"({i}): Parameter containing: [{p.dtype} of size {tuple(p.shape)}]"
                         for i, p in enumerate(self._parameters.values()))
