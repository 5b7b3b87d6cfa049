"""The recurrent cells as fused ops: one time step each (tanh RNN, LSTM, GRU), and whole RNN / LSTM / GRU sequences.

Each op's forward and backward call the kernels of the backend that holds the data (kernels/<backend>/rnn.py),
where the gate math sits in the docstrings. The layers of nn/rnn.py run these steps over time.

An op gives one output array, so the LSTM step carries its two states side by side: `state` is (N, 2H) = [h | c],
in and out. The layer driver passes that state from step to step unchanged and slices h out where it is needed.
"""
import numpy as np

from tinygrad_edu import backend
from tinygrad_edu.autograd import ArrayFunction


class RNNTanhCell(ArrayFunction):
    """h' = tanh(z), z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh.

    Backward with dz = dh' ∘ (1 - h'²): dx = dz W_ih, dh = dz W_hh, dW_ih = dzᵀ x, dW_hh = dzᵀ h,
    db_ih = db_hh = Σ_batch dz. Backprop through time is this rule applied once per step, newest first.
    """

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        h_new = backend.kernels(x).rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
        ctx.save_for_backward(x, h, w_ih, w_hh, h_new)
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        return h_new

    @staticmethod
    def backward(ctx, grad_out):
        x, h, w_ih, w_hh, h_new = ctx.saved_tensors
        grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias = backend.kernels(x).rnn_tanh_cell_backward(
            x, h, w_ih, w_hh, h_new, grad_out
        )
        bias_grads = tuple(grad_bias for present in ctx.has_bias if present)
        return (grad_x, grad_h, grad_w_ih, grad_w_hh) + bias_grads


def rnn_tanh_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """x (N, I), h (N, H), w_ih (H, I), w_hh (H, H), b_ih / b_hh (H,) or None -> h' (N, H)."""
    hidden = w_hh.shape[0]
    if x.ndim != 2 or h.ndim != 2 or w_ih.shape != (hidden, x.shape[1]) or w_hh.shape != (hidden, hidden) or h.shape != (x.shape[0], hidden):
        raise ValueError(
            f"rnn_tanh_cell: expected x (N, I), h (N, H), w_ih (H, I), w_hh (H, H); got x {x.shape}, h {h.shape}, "
            f"w_ih {w_ih.shape}, w_hh {w_hh.shape}"
        )
    for name, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
        if bias is not None and bias.shape != (hidden,):
            raise ValueError(f"rnn_tanh_cell: {name} must have shape ({hidden},), got {bias.shape}")
    dtypes = {t.dtype for t in (x, h, w_ih, w_hh, b_ih, b_hh) if t is not None}
    if len(dtypes) != 1:
        raise TypeError(f"rnn_tanh_cell: all inputs must share one float dtype, got {sorted(map(str, dtypes))}")
    return RNNTanhCell.apply(x, h, w_ih, w_hh, b_ih, b_hh)


class LSTMCellStep(ArrayFunction):
    """[h' | c'] from x and [h | c]:  [i f g o] = σσtanhσ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), c' = f∘c + i∘g,
    h' = o∘tanh(c').

    Backward (kernels: lstm_cell_backward): dc = g_c' + g_h'∘o∘(1 - tanh²c'), then the gate gradients dz
    (N, 4H) at the pre-activations; dx = dz W_ih, dh = dz W_hh, dc_prev = dc∘f, dW_ih = dzᵀ x, dW_hh = dzᵀ h,
    db_ih = db_hh = Σ_batch dz.
    """

    @staticmethod
    def forward(ctx, x, state, w_ih, w_hh, b_ih, b_hh):
        n_hidden = state.shape[1] // 2
        h, c = state[:, :n_hidden], state[:, n_hidden:]
        h_new, c_new, gates = backend.kernels(x).lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
        ctx.save_for_backward(x, h, c, w_ih, w_hh, c_new, gates)
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        return np.concatenate([h_new, c_new], axis=1)  # (N, 2H)

    @staticmethod
    def backward(ctx, grad_out):
        x, h, c, w_ih, w_hh, c_new, gates = ctx.saved_tensors
        n_hidden = h.shape[1]
        grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, grad_bias = backend.kernels(x).lstm_cell_backward(
            x, h, c, w_ih, w_hh, c_new, gates, grad_out[:, :n_hidden], grad_out[:, n_hidden:]
        )
        grad_state = np.concatenate([grad_h, grad_c], axis=1)  # (N, 2H)
        bias_grads = tuple(grad_bias for present in ctx.has_bias if present)
        return (grad_x, grad_state, grad_w_ih, grad_w_hh) + bias_grads


class GRUCellStep(ArrayFunction):
    """h' = (1-z)∘n + z∘h with r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr), z likewise, n = tanh(x W_inᵀ + b_in +
    r∘(h W_hnᵀ + b_hn)).

    Backward (kernels: gru_cell_backward): the pre-activation gradients d_gi = [dr dz dn] of the input part and
    d_gh = [dr dz dn∘r] of the hidden part; dx = d_gi W_ih, dh = d_gh W_hh + g∘z, dW_ih = d_giᵀ x,
    dW_hh = d_ghᵀ h, db_ih = Σ_batch d_gi, db_hh = Σ_batch d_gh.
    """

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        h_new, gates = backend.kernels(x).gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh)
        ctx.save_for_backward(x, h, w_ih, w_hh, gates)
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        return h_new

    @staticmethod
    def backward(ctx, grad_out):
        x, h, w_ih, w_hh, gates = ctx.saved_tensors
        grad_x, grad_h, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = backend.kernels(x).gru_cell_backward(
            x, h, w_ih, w_hh, gates, grad_out
        )
        bias_grads = tuple(grad for grad, present in zip((grad_b_ih, grad_b_hh), ctx.has_bias) if present)
        return (grad_x, grad_h, grad_w_ih, grad_w_hh) + bias_grads


def _check_cell_arguments(op_name, x, h, w_ih, w_hh, b_ih, b_hh, gates, state_width):
    """ValueError / TypeError naming the op and the shapes, before any kernel runs."""
    hidden = w_hh.shape[1] if w_hh.ndim == 2 else -1
    expected = f"x (N, I), state (N, {state_width}H), w_ih ({gates}H, I), w_hh ({gates}H, H)"
    if (x.ndim != 2 or h.ndim != 2 or w_ih.ndim != 2 or w_hh.ndim != 2
            or w_hh.shape != (gates * hidden, hidden) or w_ih.shape != (gates * hidden, x.shape[1])
            or h.shape != (x.shape[0], state_width * hidden)):
        raise ValueError(f"{op_name}: expected {expected}; got x {x.shape}, state {h.shape}, w_ih {w_ih.shape}, "
                         f"w_hh {w_hh.shape}")
    for name, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
        if bias is not None and bias.shape != (gates * hidden,):
            raise ValueError(f"{op_name}: {name} must have shape ({gates * hidden},), got {bias.shape}")
    dtypes = {t.dtype for t in (x, h, w_ih, w_hh, b_ih, b_hh) if t is not None}
    if len(dtypes) != 1:
        raise TypeError(f"{op_name}: all inputs must share one float dtype, got {sorted(map(str, dtypes))}")


def lstm_cell(x, state, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step on the joined state: x (N, I), state (N, 2H) = [h | c], w_ih (4H, I), w_hh (4H, H),
    b_ih / b_hh (4H,) or None -> [h' | c'] (N, 2H). Gate order i, f, g, o as PyTorch.

    >>> import tinygrad_edu as tg
    >>> lstm_cell(tg.ones(2, 3), tg.zeros(2, 2 * 5), tg.zeros(20, 3), tg.zeros(20, 5)).shape
    (2, 10)
    """
    _check_cell_arguments("lstm_cell", x, state, w_ih, w_hh, b_ih, b_hh, gates=4, state_width=2)
    return LSTMCellStep.apply(x, state, w_ih, w_hh, b_ih, b_hh)


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: x (N, I), h (N, H), w_ih (3H, I), w_hh (3H, H), b_ih / b_hh (3H,) or None -> h' (N, H).
    Gate order r, z, n as PyTorch.

    >>> import tinygrad_edu as tg
    >>> gru_cell(tg.ones(2, 3), tg.zeros(2, 5), tg.zeros(15, 3), tg.zeros(15, 5)).shape
    (2, 5)
    """
    _check_cell_arguments("gru_cell", x, h, w_ih, w_hh, b_ih, b_hh, gates=3, state_width=1)
    return GRUCellStep.apply(x, h, w_ih, w_hh, b_ih, b_hh)


# ----- whole sequences: one op per layer and direction -----------------------------------------------------------
# The cells above cost a graph node and a kernel call per step, and the backward sums the weight gradients one
# step at a time. These ops run a whole direction of a layer in one node: the kernels project all T inputs in one
# GEMM, loop over time with only h W_hhᵀ (or dz W_hh) per step, and form the weight gradients as GEMMs over all
# T·N rows at once (kernels: rnn_sequence_forward / _backward, lstm_sequence_forward / _backward,
# gru_sequence_forward / _backward).


class RNNSequence(ArrayFunction):
    """hs (T, N, H): the Elman cell h = act(x_t W_ihᵀ + b_ih + h W_hhᵀ + b_hh), act = tanh or relu, applied at every
    step of x (T, N, I) from h0, in time order or, with reverse=True, backwards; hs[t] is the state after step t.

    Backward (kernels: rnn_sequence_backward): backprop through time, newest step first, with the gradient at hs
    added at each step; dz[t] = g (1 - hs[t]²) for tanh, g where hs[t] > 0 for relu; g = dz[t] W_hh carried back;
    grad_x = dZ W_ih, grad_w_ih = dZᵀ X, grad_w_hh = dZᵀ H_prev, grad_b_ih = grad_b_hh = Σ_{t,n} dZ.
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, nonlinearity="tanh"):
        hs = backend.kernels(x).rnn_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, nonlinearity)
        ctx.save_for_backward(x, h0, w_ih, w_hh, hs)
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        ctx.reverse = reverse
        ctx.nonlinearity = nonlinearity
        return hs

    @staticmethod
    def backward(ctx, grad_out):
        x, h0, w_ih, w_hh, hs = ctx.saved_tensors
        grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_bias = backend.kernels(x).rnn_sequence_backward(
            x, h0, w_ih, w_hh, hs, grad_out, ctx.reverse, ctx.needs_input_grad[0], ctx.nonlinearity
        )
        bias_grads = tuple(grad_bias for present in ctx.has_bias if present)
        return (grad_x, grad_h0, grad_w_ih, grad_w_hh) + bias_grads


class LSTMSequence(ArrayFunction):
    """[hs ; cs] (2, T, N, H): the LSTM cell (LSTMCellStep) applied at every step of x (T, N, I) from (h0, c0),
    in time order or, with reverse=True, backwards; hs[t] and cs[t] are the states after step t.

    Backward (kernels: lstm_sequence_backward): backprop through time, newest step first, with the gradients at
    hs and cs added at each step; dz[t] as in LSTMCellStep; grad_x = dZ W_ih, grad_w_ih = dZᵀ X,
    grad_w_hh = dZᵀ H_prev, grad_b_ih = grad_b_hh = Σ_{t,n} dZ.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        states, gates = backend.kernels(x).lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, states, gates)
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        ctx.reverse = reverse
        return states

    @staticmethod
    def backward(ctx, grad_out):
        x, h0, c0, w_ih, w_hh, states, gates = ctx.saved_tensors
        grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_bias = backend.kernels(x).lstm_sequence_backward(
            x, h0, c0, w_ih, w_hh, states, gates, grad_out, ctx.reverse, ctx.needs_input_grad[0]
        )
        bias_grads = tuple(grad_bias for present in ctx.has_bias if present)
        return (grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh) + bias_grads


class GRUSequence(ArrayFunction):
    """hs (T, N, H): the GRU cell (GRUCellStep) applied at every step of x (T, N, I) from h0, in time order or,
    with reverse=True, backwards; hs[t] is the state after step t.

    Backward (kernels: gru_sequence_backward): backprop through time, newest step first, with the gradient at
    hs added at each step; d_gi[t], d_gh[t] as in GRUCellStep; grad_x = dGI W_ih, grad_w_ih = dGIᵀ X,
    grad_w_hh = dGHᵀ H_prev, grad_b_ih = Σ_{t,n} dGI, grad_b_hh = Σ_{t,n} dGH.
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
        hs, gates = backend.kernels(x).gru_sequence_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)
        ctx.save_for_backward(x, h0, w_ih, w_hh, hs, gates)
        ctx.has_bias = (b_ih is not None, b_hh is not None)
        ctx.reverse = reverse
        return hs

    @staticmethod
    def backward(ctx, grad_out):
        x, h0, w_ih, w_hh, hs, gates = ctx.saved_tensors
        grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = backend.kernels(x).gru_sequence_backward(
            x, h0, w_ih, w_hh, hs, gates, grad_out, ctx.reverse, ctx.needs_input_grad[0]
        )
        bias_grads = tuple(grad for grad, present in zip((grad_b_ih, grad_b_hh), ctx.has_bias) if present)
        return (grad_x, grad_h0, grad_w_ih, grad_w_hh) + bias_grads


def _check_sequence_arguments(op_name, x, states, w_ih, w_hh, b_ih, b_hh, gates):
    """ValueError / TypeError naming the op and the shapes, before any kernel runs."""
    hidden = w_hh.shape[1] if w_hh.ndim == 2 else -1
    state_names = "h0 (N, H), c0 (N, H)" if len(states) == 2 else "h0 (N, H)"
    if (x.ndim != 3 or w_ih.ndim != 2 or w_hh.ndim != 2 or w_hh.shape != (gates * hidden, hidden)
            or w_ih.shape != (gates * hidden, x.shape[2])
            or any(state.shape != (x.shape[1], hidden) for state in states)):
        got = ", ".join(f"{name} {state.shape}" for name, state in zip(("h0", "c0"), states))
        rows = f"{gates}H" if gates > 1 else "H"
        raise ValueError(f"{op_name}: expected x (T, N, I), {state_names}, w_ih ({rows}, I), w_hh ({rows}, H); "
                         f"got x {x.shape}, {got}, w_ih {w_ih.shape}, w_hh {w_hh.shape}")
    for name, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
        if bias is not None and bias.shape != (gates * hidden,):
            raise ValueError(f"{op_name}: {name} must have shape ({gates * hidden},), got {bias.shape}")
    dtypes = {t.dtype for t in (x, *states, w_ih, w_hh, b_ih, b_hh) if t is not None}
    if len(dtypes) != 1:
        raise TypeError(f"{op_name}: all inputs must share one float dtype, got {sorted(map(str, dtypes))}")


def rnn_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, nonlinearity="tanh"):
    """One Elman RNN layer (act = 'tanh' or 'relu') in one direction over a whole sequence: x (T, N, I), h0 (N, H),
    w_ih (H, I), w_hh (H, H), b_ih / b_hh (H,) or None -> hs (T, N, H), the states after every step in time order.

    >>> import tinygrad_edu as tg
    >>> rnn_sequence(tg.ones(7, 2, 3), tg.zeros(2, 5), tg.zeros(5, 3), tg.zeros(5, 5), nonlinearity="relu").shape
    (7, 2, 5)
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_sequence: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
    _check_sequence_arguments("rnn_sequence", x, (h0,), w_ih, w_hh, b_ih, b_hh, gates=1)
    return RNNSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=bool(reverse), nonlinearity=nonlinearity)


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer in one direction over a whole sequence: x (T, N, I), h0 and c0 (N, H), w_ih (4H, I),
    w_hh (4H, H), b_ih / b_hh (4H,) or None -> [hs ; cs] (2, T, N, H), the states after every step in time order.
    The final state is [hs ; cs][:, -1] (or [:, 0] with reverse=True).

    >>> import tinygrad_edu as tg
    >>> lstm_sequence(tg.ones(7, 2, 3), tg.zeros(2, 5), tg.zeros(2, 5), tg.zeros(20, 3), tg.zeros(20, 5)).shape
    (2, 7, 2, 5)
    """
    _check_sequence_arguments("lstm_sequence", x, (h0, c0), w_ih, w_hh, b_ih, b_hh, gates=4)
    return LSTMSequence.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=bool(reverse))


def gru_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One GRU layer in one direction over a whole sequence: x (T, N, I), h0 (N, H), w_ih (3H, I), w_hh (3H, H),
    b_ih / b_hh (3H,) or None -> hs (T, N, H), the states after every step in time order.

    >>> import tinygrad_edu as tg
    >>> gru_sequence(tg.ones(7, 2, 3), tg.zeros(2, 5), tg.zeros(15, 3), tg.zeros(15, 5)).shape
    (7, 2, 5)
    """
    _check_sequence_arguments("gru_sequence", x, (h0,), w_ih, w_hh, b_ih, b_hh, gates=3)
    return GRUSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=bool(reverse))
