"""Compiled kernels: pure functions over NumPy arrays and scalars. This package never imports tinygrad_edu.

Three kernel sets with one interface, side by side, one module per op family:

    kernels/reference/<family>.py   plain NumPy, the oracle
    kernels/cpu/<family>.py         Numba, @njit(cache=True) with prange, each compiled twice (parallel and serial,
                                    see kernels/cpu/variants.py) and picked by the size of the call
    kernels/cuda/<family>.py        Numba CUDA thread-block kernels (kernels/cuda/engine.py: the same on CudaArray)

The interface is data: kernels/interface.py declares every function with its parameters and its contract, each
set's `__init__.py` exports what it declares, and tests/kernels/test_interface.py checks every set against it.
"""
