"""Recurrent layers as `torch.nn`'s: the cells `RNNCell`, `LSTMCell`, `GRUCell` (one time step) and the stacks
`RNN`, `LSTM`, `GRU` (several layers, either direction, over a whole sequence).

Every step of a cell is one fused op (tinygrad_edu/ops/rnn.py, whose kernels hold the gate math); the 'relu' RNN
step is two linear ops and a relu. The three stacks share one driver, `_RecurrentStack._run`:

    x = the input (L, N, input_size)
    for each layer:
        for each direction (forward in time; and backward in time when bidirectional):
            hidden states (L, N, H), final state = `_run_direction`(x, initial state of this (layer, direction))
        x = the layer's hidden states, the directions side by side (L, N, D·H),
            with dropout in training (between layers: never after the last)
    output = the last layer's x; h_n = each (layer, direction)'s final state

`_run_direction` is where the stacks differ. LSTM and GRU run a whole direction as one op (`lstm_sequence`,
`gru_sequence`), and so does RNN (`rnn_sequence`, tanh or relu): the input projection of all L steps is one GEMM,
the loop over time runs inside the kernel, and the weight gradients are GEMMs over all L·N rows; the cells stay per
step for RNNCell, LSTMCell and GRUCell. Parameters are named, shaped, ordered and initialised as PyTorch's
(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, then the `_reverse` direction, then layer 1 ...; all
U(-1/√H, 1/√H)), so a torch state dict loads by key and gives torch's outputs.
"""
import math
import numbers
import warnings

from tinygrad_edu.autograd import no_grad
from tinygrad_edu.nn import functional as F
from tinygrad_edu.nn import init
from tinygrad_edu.nn.module import Module, empty_parameter
from tinygrad_edu.ops.movement import concatenate, stack
from tinygrad_edu.ops.rnn import gru_cell, gru_sequence, lstm_cell, lstm_sequence, rnn_sequence
from tinygrad_edu.creation import zeros

NONLINEARITIES = ("tanh", "relu")


def _check_nonlinearity(nonlinearity):
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")


def _reset_uniform(module):
    """PyTorch initialises every weight and bias of a recurrent layer uniformly in ±1/√hidden_size."""
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0
    with no_grad():
        for parameter in module.parameters():
            init.uniform_(parameter, -bound, bound)


def _rnn_step(nonlinearity, x, h, w_ih, w_hh, b_ih, b_hh):
    """h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) for x (N, input_size), h (N, hidden_size)."""
    if nonlinearity == "tanh":
        return F.rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh)
    return (F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)).relu()


# ----- the cells: one time step ----------------------------------------------------------------------------------
class _CellBase(Module):
    """weight_ih (G·H, input_size), weight_hh (G·H, H), bias_ih and bias_hh (G·H,) for G gate blocks."""

    gate_blocks = 1

    def __init__(self, input_size, hidden_size, bias, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = self.gate_blocks * hidden_size
        self.weight_ih = empty_parameter((rows, input_size), device, dtype)
        self.weight_hh = empty_parameter((rows, hidden_size), device, dtype)
        if bias:
            self.bias_ih = empty_parameter((rows,), device, dtype)
            self.bias_hh = empty_parameter((rows,), device, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_uniform(self)

    def _batched(self, input, states):
        """(input (N, input_size), states each (N, H), unbatched) from 1-D or 2-D arguments, checked as torch."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        for index, state in enumerate(states):
            if state is not None and state.ndim not in (1, 2):
                what = "hidden" if len(states) == 1 else f"hx[{index}]"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {state.ndim}D instead")
        unbatched = input.ndim == 1
        if unbatched:
            input = input.unsqueeze(0)  # (1, input_size)
            states = [None if s is None else s.unsqueeze(0) for s in states]  # (1, H) each
        batch = input.shape[0]
        states = [zeros(batch, self.hidden_size, dtype=input.dtype, device=input.device) if s is None else s
                  for s in states]
        return input, states, unbatched

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text


class RNNCell(_CellBase):
    """One step: h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) for x (N, input_size) or unbatched (input_size,)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, (h,), unbatched = self._batched(input, [hx])
        h = _rnn_step(self.nonlinearity, input, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_CellBase):
    """One LSTM step, as `torch.nn.LSTMCell`: (h', c') = cell(x, (h, c)); gates i, f, g, o stacked in weight_ih
    (4H, input_size) and weight_hh (4H, H).

        i, f, o = σ(W_i· x + b_i· + W_h· h + b_h·),  g = tanh(...),  c' = f∘c + i∘g,  h' = o∘tanh(c')

    >>> import tinygrad_edu as tg
    >>> h, c = LSTMCell(3, 5)(tg.ones(2, 3))
    >>> h.shape, c.shape
    ((2, 5), (2, 5))
    """

    gate_blocks = 4

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        input, (h, c), unbatched = self._batched(input, [None, None] if hx is None else list(hx))
        state = concatenate([h, c], 1)  # (N, 2H) = [h | c]
        state = lstm_cell(input, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        h, c = state[:, :self.hidden_size], state[:, self.hidden_size:]  # (N, H) each
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_CellBase):
    """One GRU step, as `torch.nn.GRUCell`: h' = cell(x, h); gates r, z, n stacked in weight_ih (3H, input_size)
    and weight_hh (3H, H).

        r = σ(W_ir x + b_ir + W_hr h + b_hr),  z likewise,  n = tanh(W_in x + b_in + r∘(W_hn h + b_hn)),
        h' = (1 - z)∘n + z∘h

    >>> import tinygrad_edu as tg
    >>> GRUCell(3, 5)(tg.ones(2, 3)).shape
    (2, 5)
    """

    gate_blocks = 3

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        input, (h,), unbatched = self._batched(input, [hx])
        h = gru_cell(input, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.squeeze(0) if unbatched else h


# ----- the stacks: layers x directions x time ----------------------------------------------------------------------
class _RecurrentStack(Module):
    """What RNN, LSTM and GRU share (torch's RNNBase): arguments, parameters, checks and the driver.

    A subclass sets `gate_blocks` (G) and defines `_run_direction`.
    """

    gate_blocks = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, proj_size=0):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             "being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=2)
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size:
            raise NotImplementedError(f"LSTM: proj_size={proj_size} (projections) is not supported; use proj_size=0")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        directions = 2 if bidirectional else 1
        rows = self.gate_blocks * hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = "_reverse" if direction == 1 else ""
                shapes = {f"weight_ih_l{layer}{suffix}": (rows, layer_input),
                          f"weight_hh_l{layer}{suffix}": (rows, hidden_size)}
                if bias:
                    shapes[f"bias_ih_l{layer}{suffix}"] = (rows,)
                    shapes[f"bias_hh_l{layer}{suffix}"] = (rows,)
                for name, shape in shapes.items():
                    setattr(self, name, empty_parameter(shape, device, dtype))
                self._flat_weights_names.extend(shapes)
                self._all_weights.append(list(shapes))
        self.reset_parameters()

    def reset_parameters(self):
        _reset_uniform(self)

    def flatten_parameters(self):
        """A no-op here, as in PyTorch on the CPU (cuDNN packs the weights into one buffer)."""

    @property
    def all_weights(self):
        """[[weight_ih, weight_hh, bias_ih, bias_hh] for each layer and direction], as torch's."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _cell_parameters(self, layer, direction):
        """(w_ih, w_hh, b_ih, b_hh) of one layer and direction; the biases are None with bias=False."""
        suffix = "_reverse" if direction == 1 else ""
        names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
        biases = (getattr(self, f"bias_ih_l{layer}{suffix}"), getattr(self, f"bias_hh_l{layer}{suffix}")) \
            if self.bias else (None, None)
        return tuple(getattr(self, name) for name in names) + biases

    def _run_direction(self, input, initial_state, parameters, reverse):
        """One layer in one direction: input (L, N, F) -> (hidden states (L, N, H) in time order, final state)."""
        raise NotImplementedError

    # ----- checks, as torch's RNNBase ------------------------------------------------------------------------
    def _check_input(self, input):
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                             f"Convert input: input.to({weight.dtype}), or convert model: model.to({input.dtype})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")

    def _expected_state_shape(self, batch):
        return (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)

    @staticmethod
    def _check_state(state, expected, what):
        if tuple(state.shape) != expected:
            raise RuntimeError(f"Expected {what} size {expected}, got {list(state.shape)}")

    def _initial_states(self, hx, batch, like):
        """One initial state (N, H) per (layer, direction), from hx (layers·D, N, H) or zeros."""
        count, _, hidden = self._expected_state_shape(batch)
        if hx is None:
            return [zeros(batch, hidden, dtype=like.dtype, device=like.device) for _ in range(count)]
        return [hx[k] for k in range(count)]  # (N, H) each

    # ----- the driver ----------------------------------------------------------------------------------------
    def _run(self, input, initial_states):
        """input (L, N, input_size) -> (output (L, N, D·H), final states: one per (layer, direction))."""
        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                hidden, final = self._run_direction(input, initial_states[layer * directions + direction],
                                                    self._cell_parameters(layer, direction), reverse=direction == 1)
                outputs.append(hidden)
                finals.append(final)
            input = outputs[0] if directions == 1 else concatenate(outputs, 2)  # (L, N, D·H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                input = F.dropout(input, self.dropout)
        return input, finals

    def _prepare(self, input, hx_parts):
        """Checks as torch; -> (input (L, N, input_size), hx parts each (layers·D, N, H) or None, unbatched)."""
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D instead")
        unbatched = input.ndim == 2
        given = [part for part in hx_parts if part is not None]
        wanted = 2 if unbatched else 3
        if any(part.ndim != wanted for part in given):
            kind = "unbatched 2-D" if unbatched else "batched 3-D"
            if len(hx_parts) == 1:
                raise RuntimeError(f"For {kind} input, hx should also be {wanted}-D but got {given[0].ndim}-D tensor")
            dims = ", ".join(f"{part.ndim}-D" for part in given)
            raise RuntimeError(f"For {kind} input, hx and cx should also be {wanted}-D but got ({dims}) tensors")
        if unbatched:
            input = input.unsqueeze(1)  # (L, 1, input_size)
            hx_parts = [None if part is None else part.unsqueeze(1) for part in hx_parts]  # (layers·D, 1, H)
        elif self.batch_first:
            input = input.transpose(0, 1)  # (L, N, input_size)
        self._check_input(input)
        if input.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        return input, hx_parts, unbatched

    def _finish(self, output, unbatched):
        """output (L, N, D·H) back to the caller's layout: batch-first (N, L, D·H), or unbatched (L, D·H)."""
        if unbatched:
            return output.squeeze(1)  # (L, D·H)
        if self.batch_first:
            return output.transpose(0, 1)  # (N, L, D·H)
        return output

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text


class _SingleStateStack(_RecurrentStack):
    """RNN and GRU: forward(input, hx) -> (output, h_n), the state being h alone."""

    def forward(self, input, hx=None):
        input, (hx,), unbatched = self._prepare(input, [hx])
        steps, batch, _ = input.shape
        if hx is not None:
            self._check_state(hx, self._expected_state_shape(batch), "hidden")
        output, finals = self._run(input, self._initial_states(hx, batch, input))
        h_n = stack(finals, 0)  # (layers·D, N, H)
        return self._finish(output, unbatched), (h_n.squeeze(1) if unbatched else h_n)


class RNN(_SingleStateStack):
    """A stack of Elman RNN layers over a sequence, as `torch.nn.RNN`: h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ
    + b_hh).

    input (L, N, input_size), or (N, L, input_size) with batch_first=True, or unbatched (L, input_size);
    hx (layers·D, N, hidden_size) with D = 2 if bidirectional else 1. Returns (output, h_n): output holds the last
    layer's hidden states at every step (L, N, D·hidden_size) (or batch-first), the two directions side by side;
    h_n each layer's and direction's final state (layers·D, N, hidden_size).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype)
        self.nonlinearity = nonlinearity

    def _run_direction(self, input, initial_state, parameters, reverse):
        hidden = rnn_sequence(input, initial_state, *parameters, reverse=reverse, nonlinearity=self.nonlinearity)
        return hidden, hidden[0 if reverse else -1]  # (L, N, H), the state after the last step visited (N, H)


class GRU(_SingleStateStack):
    """A stack of GRU layers over a sequence, as `torch.nn.GRU` (same arguments and shapes as `RNN`, without
    `nonlinearity`); each step is `GRUCell`'s: gates r, z, n stacked in weight_ih_l{k} (3H, F) and weight_hh_l{k}.

    >>> import tinygrad_edu as tg
    >>> output, h_n = GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)(tg.ones(4, 7, 3))
    >>> output.shape, h_n.shape
    ((4, 7, 10), (4, 4, 5))
    """

    gate_blocks = 3

    def _run_direction(self, input, initial_state, parameters, reverse):
        hidden = gru_sequence(input, initial_state, *parameters, reverse=reverse)  # (L, N, H)
        return hidden, hidden[0 if reverse else -1]  # the state after the last step visited (N, H)


class LSTM(_RecurrentStack):
    """A stack of LSTM layers over a sequence, as `torch.nn.LSTM`; each step is `LSTMCell`'s (gates i, f, g, o).

    forward(input, (h_0, c_0)) -> (output, (h_n, c_n)); shapes as `RNN`'s, c like h. Each layer and direction
    is one `lstm_sequence` op, which gives h and c at every step as one (2, L, N, H) tensor. proj_size > 0 (an
    LSTM with projections) is not implemented.

    >>> import tinygrad_edu as tg
    >>> output, (h_n, c_n) = LSTM(3, 5, bidirectional=True, batch_first=True)(tg.ones(4, 7, 3))
    >>> output.shape, h_n.shape, c_n.shape
    ((4, 7, 10), (2, 4, 5), (2, 4, 5))
    """

    gate_blocks = 4

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype, proj_size=proj_size)

    def _run_direction(self, input, initial_state, parameters, reverse):
        """initial_state = (h0, c0) -> (hs (L, N, H), (states, t)): the op's [hs ; cs] (2, L, N, H) and the step
        visited last, whose h and c are the final state (taken in `forward`, in as few ops as the stack allows)."""
        states = lstm_sequence(input, *initial_state, *parameters, reverse=reverse)  # (2, L, N, H) = [hs ; cs]
        return states[0], (states, 0 if reverse else -1)

    def forward(self, input, hx=None):
        input, (h_0, c_0), unbatched = self._prepare(input, [None, None] if hx is None else list(hx))
        steps, batch, _ = input.shape
        if h_0 is not None:
            expected = self._expected_state_shape(batch)
            self._check_state(h_0, expected, "hidden[0]")
            self._check_state(c_0, expected, "hidden[1]")
        initial_states = list(zip(self._initial_states(h_0, batch, input),
                                  self._initial_states(c_0, batch, input)))  # (h0, c0) per (layer, direction)
        output, finals = self._run(input, initial_states)
        if len(finals) == 1:  # one layer, one direction: h_n, c_n (1, N, H) straight from the op's output
            states, last = finals[0]
            h_n, c_n = states[0:1, last], states[1:2, last]
        else:
            final = stack([states[:, last] for states, last in finals], 1)  # (2, layers·D, N, H) = [h_n ; c_n]
            h_n, c_n = final[0], final[1]
        if unbatched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)  # (layers·D, H)
        return self._finish(output, unbatched), (h_n, c_n)
