"""Numba CUDA kernels: `@cuda.jit` thread-block kernels, one module per op family (the third lesson).

Exports the functions declared in kernels/interface.py, each from its family module, plus `is_available`,
`to_device` and `to_host`. Inputs may be NumPy host arrays or numba device arrays; outputs are numba *device*
arrays (bring them back with `to_host`), and the Adam steps update device arrays in place. Device memory comes from
a caching allocator (kernels/cuda/allocator.py).

Read in this order: device_functions.py (index arithmetic, block reductions), elementwise.py (kernels made by two
factories from scalar functions), pool.py and conv.py (one thread per output element), gemm.py (the tiled GEMM),
softmax.py, norm.py and attention.py (one block per row), rnn.py, optim.py; then array.py (CudaArray, the NumPy-
compatible array the engine holds on the GPU) and engine.py (the kernel set on CudaArray).

No GPU? Run everything under Numba's CUDA simulator (exact semantics, ~0.1 ms per simulated thread):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/kernels/test_cuda_*.py

The variable must be in the environment before `numba` is first imported. Importing this package never fails
for lack of a GPU; calling a kernel then raises RuntimeError.
The GEMM family lives in kernels/cuda/gemm.py, so `kernels.cuda.matmul` names only the function.
"""
from kernels.cuda._device import is_available, to_device, to_host
from kernels.interface import implementations

_kernels = implementations(__name__)
globals().update(_kernels)
__all__ = list(_kernels) + ["is_available", "to_device", "to_host"]
