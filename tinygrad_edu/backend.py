"""Which kernel set runs the heavy math: `numpy` (the reference) or `cpu` (Numba, the default).

    tinygrad_edu.set_backend("numpy")          # from now on
    with tinygrad_edu.set_backend("numpy"):    # only inside the block
        ...
    TINYGRAD_EDU_BACKEND=numpy python train.py # for a whole run

Both kernel sets expose the same functions (declared once in `kernels/interface.py`), so ops call `kernels()` and never
care which one they got.

Device data picks its own kernels: `kernels(x)` with x a `CudaArray` (the array inside a tensor on "cuda")
returns `kernels.cuda.engine`, the CUDA kernels taking and returning CudaArray; for NumPy arrays (or no
argument) it returns the CPU kernel set chosen above. Ops pass their first array input: `kernels(x).matmul(...)`.
"""
import importlib
import os

import numpy as np

from tinygrad_edu.threads import follow_load

BACKEND_MODULES = {"numpy": "kernels.reference", "cpu": "kernels.cpu"}
DEFAULT_BACKEND = "cpu"
CUDA_MODULE = "kernels.cuda.engine"  # what device ("cuda") data runs on, whatever the CPU backend is


def _validated(name):
    if name not in BACKEND_MODULES:
        raise ValueError(f"set_backend: unknown backend {name!r}; choose one of {sorted(BACKEND_MODULES)}")
    return name


_current_name = _validated(os.environ.get("TINYGRAD_EDU_BACKEND", DEFAULT_BACKEND))
_current_module = None
_cuda_module = None
_kernel_wrapper = None  # set by tinygrad_edu.profile() to time every kernel call


def set_kernel_wrapper(wrapper):
    """Install a function that wraps the kernel module (the profiler's timer); returns the previous one."""
    global _kernel_wrapper
    previous, _kernel_wrapper = _kernel_wrapper, wrapper
    return previous


def get_backend():
    """Name of the kernel set in use."""
    return _current_name


def kernels(array=None):
    """The kernel module for `array`: the CUDA set for device data, else the CPU set in use (imported on first
    use, so `import tinygrad_edu` stays light)."""
    global _current_module, _cuda_module
    if array is not None and type(array) is not np.ndarray and getattr(array, "is_cuda_array", False):
        if _cuda_module is None:
            _cuda_module = importlib.import_module(CUDA_MODULE)
        if _kernel_wrapper is not None:
            return _kernel_wrapper(_cuda_module)
        return _cuda_module
    if _current_module is None:
        _current_module = importlib.import_module(BACKEND_MODULES[_current_name])
    if _current_name == "cpu":
        follow_load()  # the Numba kernels' thread count (tinygrad_edu/threads.py); a clock read between looks
    if _kernel_wrapper is not None:
        return _kernel_wrapper(_current_module)
    return _current_module


def contiguous(array):
    """A C-contiguous array with the data of `array` (CudaArrays always are; np.ascontiguousarray would try to
    convert one to NumPy)."""
    if type(array) is np.ndarray or not getattr(array, "is_cuda_array", False):
        return np.ascontiguousarray(array)
    return array


def _switch(name):
    global _current_name, _current_module
    _current_name, _current_module = name, None


class set_backend:
    """Switch the kernel set now; used as a context manager, switch back when the block ends."""

    def __init__(self, name):
        self.previous = _current_name
        _switch(_validated(name))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _switch(self.previous)
        return False
