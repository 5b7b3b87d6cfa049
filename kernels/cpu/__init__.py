"""Numba CPU kernels: `@njit(cache=True)` with `prange`, one module per op family.

Most kernel bodies are compiled twice, parallel and serial (kernels/cpu/variants.py): small calls run serially,
because a parallel launch costs more than it saves there and stalls when another process holds a core. The GEMM
runs one thread's share of the product serially (`_gemm_tasks`) or every share in one parallel loop
(`_gemm_parallel`).

Exports the functions declared in kernels/interface.py, each from its family module. Set `NUMBA_DISABLE_JIT=1` to
step through these kernels as plain Python in a debugger. Importing this package also tells glibc's malloc to keep
freed memory for the next training step (kernels/cpu/memory.py).
The GEMM family lives in kernels/cpu/gemm.py, so `kernels.cpu.matmul` names only the function.
"""
from kernels.cpu import memory  # noqa: F401 -- sets how malloc keeps freed memory (kernels/cpu/memory.py says why)
from kernels.interface import implementations

_kernels = implementations(__name__)
globals().update(_kernels)
__all__ = list(_kernels)
