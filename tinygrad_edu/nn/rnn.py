"""The tanh RNN: `RNNCell` (one step, one fused op) and `RNN` (multi-layer, unrolled over time)."""
import math

import numpy as np

from tinygrad_edu.nn import functional as F
from tinygrad_edu.nn import init
from tinygrad_edu.nn.module import Module, Parameter
from tinygrad_edu.ops.movement import stack
from tinygrad_edu.tensor import zeros


def _uniform_parameter(shape, hidden_size, dtype):
    # PyTorch initialises every RNN weight and bias uniformly in ±1/√hidden_size.
    bound = 1.0 / math.sqrt(hidden_size)
    return init.uniform_(Parameter(np.empty(shape, dtype=dtype)), -bound, bound)


class RNNCell(Module):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) for x (N, input_size), h (N, hidden_size)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=np.float32):
        super().__init__()
        if nonlinearity != "tanh":
            raise ValueError(f"RNNCell: only nonlinearity='tanh' is implemented, got {nonlinearity!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = _uniform_parameter((hidden_size, input_size), hidden_size, dtype)
        self.weight_hh = _uniform_parameter((hidden_size, hidden_size), hidden_size, dtype)
        if bias:
            self.bias_ih = _uniform_parameter((hidden_size,), hidden_size, dtype)
            self.bias_hh = _uniform_parameter((hidden_size,), hidden_size, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def forward(self, x, h=None):
        if h is None:
            h = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        return F.rnn_tanh_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class RNN(Module):
    """A stack of tanh RNN layers over a sequence, as `torch.nn.RNN`.

    input (T, N, input_size), or (N, T, input_size) with batch_first=True; h0 (num_layers, N, hidden_size).
    Returns (output, h_n): output holds the last layer's hidden state at every step (T, N, hidden_size) (or
    batch-first), and h_n each layer's final hidden state (num_layers, N, hidden_size). Parameters are named as
    PyTorch names them (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...), so state dicts line up.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, dtype=np.float32):
        super().__init__()
        if nonlinearity != "tanh":
            raise ValueError(f"RNN: only nonlinearity='tanh' is implemented, got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.dropout, self.bias = batch_first, dropout, bias
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size
            setattr(self, f"weight_ih_l{layer}", _uniform_parameter((hidden_size, layer_input), hidden_size, dtype))
            setattr(self, f"weight_hh_l{layer}", _uniform_parameter((hidden_size, hidden_size), hidden_size, dtype))
            if bias:
                setattr(self, f"bias_ih_l{layer}", _uniform_parameter((hidden_size,), hidden_size, dtype))
                setattr(self, f"bias_hh_l{layer}", _uniform_parameter((hidden_size,), hidden_size, dtype))

    def _layer_parameters(self, layer):
        biases = ((getattr(self, f"bias_ih_l{layer}"), getattr(self, f"bias_hh_l{layer}")) if self.bias else (None, None))
        return (getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}")) + biases

    def forward(self, x, h0=None):
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"RNN: expected input of 3 dims with {self.input_size} features last, got {x.shape}")
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, N, input_size)
        steps, batch, _ = x.shape
        if h0 is None:
            h0 = zeros(self.num_layers, batch, self.hidden_size, dtype=x.dtype, device=x.device)
        elif h0.shape != (self.num_layers, batch, self.hidden_size):
            raise ValueError(f"RNN: h0 must have shape {(self.num_layers, batch, self.hidden_size)}, got {h0.shape}")
        layer_input = [x[t] for t in range(steps)]  # T tensors of (N, features)
        final_states = []
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._layer_parameters(layer)
            h = h0[layer]
            outputs = []
            for x_t in layer_input:
                h = F.rnn_tanh_cell(x_t, h, w_ih, w_hh, b_ih, b_hh)
                outputs.append(h)
            final_states.append(h)
            if self.dropout and self.training and layer < self.num_layers - 1:
                outputs = [F.dropout(o, self.dropout) for o in outputs]
            layer_input = outputs
        output = stack(layer_input, axis=0)  # (T, N, hidden_size)
        if self.batch_first:
            output = output.transpose(0, 1)  # (N, T, hidden_size)
        return output, stack(final_states, axis=0)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, batch_first={self.batch_first}"
