"""The CUDA kernel set as the engine calls it: the functions of `kernels.cuda`, with CudaArray in and out.

`tinygrad_edu.backend.kernels(x)` returns this module when x is a `CudaArray`, so an op such as

    y = backend.kernels(x).softmax_forward(x)

runs kernels/cuda/softmax.py on device data and gets a CudaArray back. Each function here unwraps CudaArray
arguments to the numba device arrays the kernels take (no copy: a shaped view of the same buffer) and wraps
device arrays in the result (tuples element by element). The kernels themselves stay pure functions over arrays.
"""
import functools

from kernels.cuda._device import is_device_array
from kernels.cuda.array import CudaArray, wrap
from kernels.interface import implementations


def _unwrap(value):
    return value.device_array if isinstance(value, CudaArray) else value


def _wrap(value):
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return wrap(value) if is_device_array(value) else value


def _engine_kernel(function):
    """`function` taking and returning CudaArray instead of numba device arrays (same name and signature)."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        args = [_unwrap(a) for a in args]
        kwargs = {key: _unwrap(value) for key, value in kwargs.items()}
        return _wrap(function(*args, **kwargs))

    return call


# Every function declared in kernels/interface.py, wrapped.
_kernels = {name: _engine_kernel(function) for name, function in implementations("kernels.cuda").items()}
globals().update(_kernels)
__all__ = list(_kernels)
