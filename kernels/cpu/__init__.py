"""Numba CPU kernels: `@njit(cache=True)` with `prange`, one module per op family.

Each kernel body is compiled twice, parallel and serial (kernels/cpu/variants.py): small calls run serially,
because a parallel launch costs more than it saves there and stalls when another process holds a core.

Same function names and signatures as `kernels.reference` (the interface is listed in `kernels/__init__.py`).
Set `NUMBA_DISABLE_JIT=1` to step through these kernels as plain Python in a debugger.
Note: `kernels.cpu.matmul` is the *function*; the module is `importlib.import_module("kernels.cpu.matmul")`.
"""
from kernels.cpu.attention import attention_backward, attention_forward
from kernels.cpu.conv import conv2d_backward, conv2d_forward
from kernels.cpu.elementwise import erf
from kernels.cpu.matmul import matmul
from kernels.cpu.norm import layer_norm_backward, layer_norm_forward
from kernels.cpu.optim import adam_step, adamw_step
from kernels.cpu.pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from kernels.cpu.rnn import (
    gru_cell_backward,
    gru_cell_forward,
    lstm_cell_backward,
    lstm_cell_forward,
    rnn_tanh_cell_backward,
    rnn_tanh_cell_forward,
)
from kernels.cpu.softmax import (
    cross_entropy_backward,
    cross_entropy_forward,
    log_softmax_backward,
    log_softmax_forward,
    softmax_backward,
    softmax_forward,
)

__all__ = [
    "adam_step", "adamw_step", "attention_backward", "attention_forward", "avg_pool2d_backward",
    "avg_pool2d_forward", "conv2d_backward", "conv2d_forward", "cross_entropy_backward", "cross_entropy_forward", "erf",
    "gru_cell_backward", "gru_cell_forward", "layer_norm_backward", "layer_norm_forward", "log_softmax_backward",
    "log_softmax_forward", "lstm_cell_backward", "lstm_cell_forward", "matmul",
    "max_pool2d_backward", "max_pool2d_forward", "rnn_tanh_cell_backward", "rnn_tanh_cell_forward",
    "softmax_backward", "softmax_forward",
]
