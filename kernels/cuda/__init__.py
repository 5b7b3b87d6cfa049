"""Numba CUDA kernels: `@cuda.jit` thread-block kernels, one module per op family (the third lesson).

Same function names and signatures as `kernels.reference` and `kernels.cpu` (the interface is listed in
`kernels/__init__.py`). Inputs may be NumPy host arrays or numba device arrays; outputs are numba *device*
arrays (bring them back with `to_host`), and the Adam steps update device arrays in place.
`kernels.cuda.elementwise` adds the engine's elementwise ops and `sum_axis` on the device.

No GPU? Run everything under Numba's CUDA simulator (exact semantics, ~0.1 ms per simulated thread):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/kernels/test_cuda_*.py

The variable must be in the environment before `numba` is first imported. Importing this package never fails
for lack of a GPU; calling a kernel then raises RuntimeError.
Note: `kernels.cuda.matmul` is the *function*; the module is `importlib.import_module("kernels.cuda.matmul")`.
"""
from kernels.cuda._device import is_available, to_device, to_host
from kernels.cuda.attention import attention_backward, attention_forward
from kernels.cuda.conv import conv2d_backward, conv2d_forward
from kernels.cuda.matmul import matmul
from kernels.cuda.norm import layer_norm_backward, layer_norm_forward
from kernels.cuda.optim import adam_step, adamw_step
from kernels.cuda.pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from kernels.cuda.rnn import (
    gru_cell_backward,
    gru_cell_forward,
    lstm_cell_backward,
    lstm_cell_forward,
    rnn_tanh_cell_backward,
    rnn_tanh_cell_forward,
)
from kernels.cuda.softmax import (
    cross_entropy_backward,
    cross_entropy_forward,
    log_softmax_backward,
    log_softmax_forward,
    softmax_backward,
    softmax_forward,
)

__all__ = [
    "adam_step", "adamw_step", "attention_backward", "attention_forward", "avg_pool2d_backward",
    "avg_pool2d_forward", "conv2d_backward", "conv2d_forward", "cross_entropy_backward", "cross_entropy_forward",
    "gru_cell_backward", "gru_cell_forward", "is_available", "layer_norm_backward", "layer_norm_forward",
    "log_softmax_backward", "log_softmax_forward", "lstm_cell_backward", "lstm_cell_forward", "matmul",
    "max_pool2d_backward", "max_pool2d_forward", "rnn_tanh_cell_backward", "rnn_tanh_cell_forward",
    "softmax_backward", "softmax_forward", "to_device", "to_host",
]
