"""The CUDA kernel set as the engine calls it: the functions of `kernels.cuda`, with CudaArray in and out.

`tinygrad_edu.backend.kernels(x)` returns this module when x is a `CudaArray`, so an op such as

    y = backend.kernels(x).softmax_forward(x)

runs kernels/cuda/softmax.py on device data and gets a CudaArray back. Each function here unwraps CudaArray
arguments to the numba device arrays the kernels take (no copy: a shaped view of the same buffer) and wraps
device arrays in the result (tuples element by element). The kernels themselves stay pure functions over arrays.
"""
import functools

import kernels.cuda as raw
from kernels.cuda import elementwise
from kernels.cuda.array import CudaArray, wrap
from kernels.cuda._device import is_device_array


def _unwrap(value):
    return value.device_array if isinstance(value, CudaArray) else value


def _wrap(value):
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return wrap(value) if is_device_array(value) else value


def _engine_kernel(function):
    """`function` taking and returning CudaArray instead of numba device arrays."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        args = [_unwrap(a) for a in args]
        kwargs = {key: _unwrap(value) for key, value in kwargs.items()}
        return _wrap(function(*args, **kwargs))

    return call


attention_forward = _engine_kernel(raw.attention_forward)
attention_backward = _engine_kernel(raw.attention_backward)
conv2d_forward = _engine_kernel(raw.conv2d_forward)
conv2d_backward = _engine_kernel(raw.conv2d_backward)
matmul = _engine_kernel(raw.matmul)
layer_norm_forward = _engine_kernel(raw.layer_norm_forward)
layer_norm_backward = _engine_kernel(raw.layer_norm_backward)
adam_step = _engine_kernel(raw.adam_step)
adamw_step = _engine_kernel(raw.adamw_step)
max_pool2d_forward = _engine_kernel(raw.max_pool2d_forward)
max_pool2d_backward = _engine_kernel(raw.max_pool2d_backward)
avg_pool2d_forward = _engine_kernel(raw.avg_pool2d_forward)
avg_pool2d_backward = _engine_kernel(raw.avg_pool2d_backward)
rnn_tanh_cell_forward = _engine_kernel(raw.rnn_tanh_cell_forward)
rnn_tanh_cell_backward = _engine_kernel(raw.rnn_tanh_cell_backward)
lstm_cell_forward = _engine_kernel(raw.lstm_cell_forward)
lstm_cell_backward = _engine_kernel(raw.lstm_cell_backward)
gru_cell_forward = _engine_kernel(raw.gru_cell_forward)
gru_cell_backward = _engine_kernel(raw.gru_cell_backward)
softmax_forward = _engine_kernel(raw.softmax_forward)
softmax_backward = _engine_kernel(raw.softmax_backward)
log_softmax_forward = _engine_kernel(raw.log_softmax_forward)
log_softmax_backward = _engine_kernel(raw.log_softmax_backward)
cross_entropy_forward = _engine_kernel(raw.cross_entropy_forward)
cross_entropy_backward = _engine_kernel(raw.cross_entropy_backward)
erf = _engine_kernel(elementwise.erf)
