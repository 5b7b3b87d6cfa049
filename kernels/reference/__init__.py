"""The pure-NumPy reference kernels: the oracle every compiled backend is tested against.

Same function names and signatures as `kernels.cpu` (the interface is listed in `kernels/__init__.py`).
Note: `kernels.reference.matmul` is the *function*; the module is `importlib.import_module("kernels.reference.matmul")`.
"""
from kernels.reference.attention import attention_backward, attention_forward
from kernels.reference.conv import conv2d_backward, conv2d_forward
from kernels.reference.elementwise import erf
from kernels.reference.matmul import matmul
from kernels.reference.norm import layer_norm_backward, layer_norm_forward
from kernels.reference.optim import adam_step, adamw_step
from kernels.reference.pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from kernels.reference.rnn import (
    gru_cell_backward,
    gru_cell_forward,
    lstm_cell_backward,
    lstm_cell_forward,
    rnn_tanh_cell_backward,
    rnn_tanh_cell_forward,
)
from kernels.reference.softmax import (
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
