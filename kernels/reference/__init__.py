"""The pure-NumPy reference kernels: the oracle every compiled kernel set is tested against.

Exports the functions declared in kernels/interface.py, each from its family module (`conv2d_forward` from
kernels/reference/conv.py, ...). The GEMM family lives in kernels/reference/gemm.py, so
`kernels.reference.matmul` names only the function.
"""
from kernels.interface import implementations

_kernels = implementations(__name__)
globals().update(_kernels)
__all__ = list(_kernels)
