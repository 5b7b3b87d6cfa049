"""Numba CPU kernels: `@njit(cache=True)` with `prange`, one module per op family.

Each kernel body is compiled twice, parallel and serial (kernels/cpu/variants.py): small calls run serially,
because a parallel launch costs more than it saves there and stalls when another process holds a core.

Exports the functions declared in kernels/interface.py, each from its family module. Set `NUMBA_DISABLE_JIT=1` to
step through these kernels as plain Python in a debugger.
The GEMM family lives in kernels/cpu/gemm.py, so `kernels.cpu.matmul` names only the function.
"""
from kernels.interface import implementations

_kernels = implementations(__name__)
globals().update(_kernels)
__all__ = list(_kernels)
