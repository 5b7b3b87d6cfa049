"""The pure-NumPy reference kernels: the oracle every compiled kernel set is tested against.

Exports the functions declared in kernels/interface.py, each from its family module (`conv2d_forward` from
kernels/reference/conv.py, ...). Note: `kernels.reference.matmul` is the *function*; the module is
`importlib.import_module("kernels.reference.matmul")`.
"""
from kernels.interface import implementations

_kernels = implementations(__name__)
globals().update(_kernels)
__all__ = list(_kernels)
