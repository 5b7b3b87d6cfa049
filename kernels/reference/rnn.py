"""One step of the three recurrent cells in plain NumPy: the oracle for the cpu and cuda cells.

    tanh RNN  h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)                        G = 1 gate block
    LSTM      (h', c') from the gates i, f, g, o                                 G = 4
    GRU       h' from the gates r, z and the candidate n                         G = 3

Shapes: x (N, I), h and c (N, H), w_ih (G·H, I), w_hh (G·H, H), b_ih / b_hh (G·H,) or None; the gate blocks are
stacked in PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n), so a torch state dict's weights plug in as they are.
"""
import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def check_rnn_inputs(kernel, x, h, w_ih, w_hh, extras=(), gates=1):
    """Validate x, h, weights (gates·H rows) and (name, array-or-None, shape) extras; shared by all backends."""
    named = [("x", x), ("h", h), ("w_ih", w_ih), ("w_hh", w_hh)] + [(n, a) for n, a, _ in extras if a is not None]
    dtype = getattr(x, "dtype", None)
    floats = dtype in _FLOATS  # checked once: these checks run on every step of a recurrent layer
    for name, array in named:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a numpy.ndarray, got {type(array).__name__}")
        if not floats or array.dtype != dtype:
            raise TypeError(f"{kernel}: {name} is {array.dtype}; all arrays must be float32 or float64 like x ({x.dtype})")
    if x.ndim != 2 or h.ndim != 2:
        raise ValueError(f"{kernel}: x {x.shape} and h {h.shape} must be 2-D (N, I) and (N, H)")
    n_batch, n_in = x.shape
    n_hidden = h.shape[1]
    expected = {"h": (n_batch, n_hidden), "w_ih": (gates * n_hidden, n_in), "w_hh": (gates * n_hidden, n_hidden)}
    for name, array in (("h", h), ("w_ih", w_ih), ("w_hh", w_hh)):
        if array.shape != expected[name]:
            raise ValueError(f"{kernel}: {name} {array.shape} must be {expected[name]} for x {x.shape}, h {h.shape}")
    for name, array, shape in extras:
        if array is not None and array.shape != shape:
            raise ValueError(f"{kernel}: {name} {array.shape} must be {shape}")


def rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).  dh'/dz = 1 - h'²."""
    n_hidden = h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1
    check_rnn_inputs("rnn_tanh_cell_forward", x, h, w_ih, w_hh,
                     [("b_ih", b_ih, (n_hidden,)), ("b_hh", b_hh, (n_hidden,))])
    z = x @ w_ih.T + h @ w_hh.T  # (N, H)
    if b_ih is not None:
        z = z + b_ih
    if b_hh is not None:
        z = z + b_hh
    return np.tanh(z)


def rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, grad_h_new):
    """dz = g·(1-h'²); grad_x = dz W_ih; grad_h = dz W_hh; grad_w_ih = dzᵀ x; grad_w_hh = dzᵀ h; grad_b = Σ_n dz.

    Returns (grad_x, grad_h, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves both b_ih and b_hh.
    """
    shape = h.shape if isinstance(h, np.ndarray) else None
    check_rnn_inputs("rnn_tanh_cell_backward", x, h, w_ih, w_hh,
                     [("h_new", h_new, shape), ("grad_h_new", grad_h_new, shape)])
    dz = grad_h_new * (1.0 - h_new * h_new)  # (N, H)
    return dz @ w_ih, dz @ w_hh, dz.T @ x, dz.T @ h, dz.sum(axis=0)


def sigmoid(z):
    """σ(z) = 1 / (1 + e^-z), through e = exp(-|z|) ≤ 1 so that no exp overflows: σ = 1/(1+e) or e/(1+e)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def _gate_preactivations(x, h, w_ih, w_hh, b_ih, b_hh):
    """(x W_ihᵀ + b_ih, h W_hhᵀ + b_hh), each (N, G·H); a missing bias adds nothing."""
    gi = x @ w_ih.T
    gh = h @ w_hh.T
    if b_ih is not None:
        gi = gi + b_ih
    if b_hh is not None:
        gh = gh + b_hh
    return gi, gh


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step, PyTorch's gate order i, f, g, o:

        [i | f | g | o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh          (N, 4H), then
        i = σ(i), f = σ(f), g = tanh(g), o = σ(o)
        c' = f ∘ c + i ∘ g
        h' = o ∘ tanh(c')

    Returns (h_new, c_new, gates): gates (N, 4H) holds the activated [i | f | g | o], kept for the backward.
    """
    n_hidden = h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1
    shape = h.shape if isinstance(h, np.ndarray) else None
    check_rnn_inputs("lstm_cell_forward", x, h, w_ih, w_hh,
                     [("c", c, shape), ("b_ih", b_ih, (4 * n_hidden,)), ("b_hh", b_hh, (4 * n_hidden,))], gates=4)
    if c is None:
        raise TypeError("lstm_cell_forward: c must be a numpy.ndarray, got NoneType")
    gi, gh = _gate_preactivations(x, h, w_ih, w_hh, b_ih, b_hh)
    z = gi + gh  # (N, 4H)
    i, f, g, o = np.split(z, 4, axis=1)
    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return h_new, c_new, np.concatenate([i, f, g, o], axis=1)


def lstm_cell_backward(x, h, c, w_ih, w_hh, c_new, gates, grad_h_new, grad_c_new):
    """The LSTM step's backward, with t = tanh(c') and gh, gc the gradients arriving at h' and c':

        do = gh ∘ t                       dc = gc + gh ∘ o ∘ (1 - t²)       (all of c's gradient)
        di = dc ∘ g     df = dc ∘ c       dg = dc ∘ i                       grad_c = dc ∘ f
        dz = [di ∘ i(1-i) | df ∘ f(1-f) | dg ∘ (1-g²) | do ∘ o(1-o)]        (N, 4H), at the pre-activations
        grad_x = dz W_ih   grad_h = dz W_hh   grad_w_ih = dzᵀ x   grad_w_hh = dzᵀ h   grad_bias = Σ_n dz

    Returns (grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves both b_ih and b_hh.
    """
    shape = h.shape if isinstance(h, np.ndarray) else None
    gates_shape = (shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_rnn_inputs("lstm_cell_backward", x, h, w_ih, w_hh,
                     [("c", c, shape), ("c_new", c_new, shape), ("gates", gates, gates_shape),
                      ("grad_h_new", grad_h_new, shape), ("grad_c_new", grad_c_new, shape)], gates=4)
    i, f, g, o = np.split(gates, 4, axis=1)
    t = np.tanh(c_new)
    d_o = grad_h_new * t
    d_c = grad_c_new + grad_h_new * o * (1.0 - t * t)
    dz = np.concatenate([d_c * g * i * (1.0 - i), d_c * c * f * (1.0 - f), d_c * i * (1.0 - g * g),
                         d_o * o * (1.0 - o)], axis=1)  # (N, 4H)
    return dz @ w_ih, dz @ w_hh, d_c * f, dz.T @ x, dz.T @ h, dz.sum(axis=0)


def gru_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step, PyTorch's gate order r, z, n (the reset gate acts on W_hn h + b_hn, as in torch):

        [gi_r | gi_z | gi_n] = x W_ihᵀ + b_ih      [gh_r | gh_z | gh_n] = h W_hhᵀ + b_hh      (N, 3H) each
        r = σ(gi_r + gh_r)    z = σ(gi_z + gh_z)    n = tanh(gi_n + r ∘ gh_n)
        h' = (1 - z) ∘ n + z ∘ h

    Returns (h_new, gates): gates (N, 4H) holds [r | z | n | gh_n], kept for the backward.
    """
    n_hidden = h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1
    check_rnn_inputs("gru_cell_forward", x, h, w_ih, w_hh,
                     [("b_ih", b_ih, (3 * n_hidden,)), ("b_hh", b_hh, (3 * n_hidden,))], gates=3)
    gi, gh = _gate_preactivations(x, h, w_ih, w_hh, b_ih, b_hh)
    gi_r, gi_z, gi_n = np.split(gi, 3, axis=1)
    gh_r, gh_z, gh_n = np.split(gh, 3, axis=1)
    r = sigmoid(gi_r + gh_r)
    z = sigmoid(gi_z + gh_z)
    n = np.tanh(gi_n + r * gh_n)
    h_new = (1.0 - z) * n + z * h
    return h_new, np.concatenate([r, z, n, gh_n], axis=1)


def gru_cell_backward(x, h, w_ih, w_hh, gates, grad_h_new):
    """The GRU step's backward, with g the gradient arriving at h':

        dn = g ∘ (1 - z) ∘ (1 - n²)                        (at n's pre-activation gi_n + r ∘ gh_n)
        dr = dn ∘ gh_n ∘ r(1-r)        dz = g ∘ (h - n) ∘ z(1-z)
        d_gi = [dr | dz | dn]          d_gh = [dr | dz | dn ∘ r]                         (N, 3H) each
        grad_x = d_gi W_ih     grad_h = d_gh W_hh + g ∘ z     grad_w_ih = d_giᵀ x     grad_w_hh = d_ghᵀ h
        grad_b_ih = Σ_n d_gi   grad_b_hh = Σ_n d_gh

    Returns (grad_x, grad_h, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh).
    """
    shape = h.shape if isinstance(h, np.ndarray) else None
    gates_shape = (shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_rnn_inputs("gru_cell_backward", x, h, w_ih, w_hh,
                     [("gates", gates, gates_shape), ("grad_h_new", grad_h_new, shape)], gates=3)
    r, z, n, gh_n = np.split(gates, 4, axis=1)
    d_n = grad_h_new * (1.0 - z) * (1.0 - n * n)
    d_r = d_n * gh_n * r * (1.0 - r)
    d_z = grad_h_new * (h - n) * z * (1.0 - z)
    d_gi = np.concatenate([d_r, d_z, d_n], axis=1)  # (N, 3H)
    d_gh = np.concatenate([d_r, d_z, d_n * r], axis=1)  # (N, 3H)
    grad_h = d_gh @ w_hh + grad_h_new * z
    return d_gi @ w_ih, grad_h, d_gi.T @ x, d_gh.T @ h, d_gi.sum(axis=0), d_gh.sum(axis=0)


# ----- whole sequences: one call per layer and direction --------------------------------------------------------
# A layer run step by step pays, per step, a call, two small GEMMs against W_ih and W_hh and, in the backward, two
# weight-gradient GEMMs with only N rows to sum over. Only h W_hhᵀ depends on the step before; the rest is one
# GEMM over all T·N rows at once:
#
#     forward    GI = X W_ihᵀ                                  (T·N, I) @ (I, G·H), all steps before the loop
#                for t in the direction's order:  z = GI[t] + h W_hhᵀ + biases;  h (and c) = the cell's math
#     backward   for t newest first:  dz[t] = the cell's gate gradients;  dh = dz[t] W_hh (+ g ∘ z for the GRU)
#                grad_x = dZ W_ih;  grad_w_ih = dZᵀ X;  grad_w_hh = dZᵀ H_prev;  grad_b = Σ dZ    (T·N rows each)
#
# H_prev (T, N, H) holds the state each step started from: h0, then the states in the direction's order.


def check_sequence_inputs(kernel, x, h0, w_ih, w_hh, extras=(), gates=1):
    """check_rnn_inputs for a sequence x (T, N, I): the same checks on one step's shapes."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{kernel}: x must be a numpy.ndarray, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"{kernel}: x {x.shape} must be 3-D (T, N, I)")
    one_step = np.empty(x.shape[1:], dtype=x.dtype)  # (N, I): x[0] would not exist for T = 0
    check_rnn_inputs(kernel, one_step, h0, w_ih, w_hh, extras, gates)


def step_order(steps, reverse):
    """The time steps in the order a direction visits them."""
    return range(steps - 1, -1, -1) if reverse else range(steps)


def previous_states(states, initial, reverse):
    """(T, N, H) -> (T, N, H): the state each step starts from, i.e. `initial` at the first step visited, then the
    state of the step visited before."""
    if len(states) == 0:
        return states
    if reverse:
        return np.concatenate([states[1:], initial[None]], axis=0)
    return np.concatenate([initial[None], states[:-1]], axis=0)


def _input_projection(x, w_ih):
    """X W_ihᵀ for every step at once: x (T, N, I) -> (T, N, G·H), one GEMM of T·N rows."""
    steps, n_batch, n_in = x.shape
    return (x.reshape(steps * n_batch, n_in) @ w_ih.T).reshape(steps, n_batch, w_ih.shape[0])


def _sequence_weight_gradients(x, previous, w_ih, d_gi, d_gh, need_grad_x):
    """(grad_x, grad_w_ih, grad_w_hh) from the pre-activation gradients of all steps, as whole-sequence GEMMs:
    grad_x = dGI W_ih (None unless need_grad_x), grad_w_ih = dGIᵀ X, grad_w_hh = dGHᵀ H_prev, with T·N rows summed
    over at once."""
    steps, n_batch, n_in = x.shape
    rows = steps * n_batch
    d_gi2 = d_gi.reshape(rows, d_gi.shape[2])  # (T·N, G·H)
    d_gh2 = d_gh.reshape(rows, d_gh.shape[2])
    grad_x = (d_gi2 @ w_ih).reshape(steps, n_batch, n_in) if need_grad_x else None
    return grad_x, d_gi2.T @ x.reshape(rows, n_in), d_gh2.T @ previous.reshape(rows, previous.shape[2])


NONLINEARITIES = ("tanh", "relu")


def check_nonlinearity(kernel, nonlinearity):
    """ValueError naming the kernel unless nonlinearity is 'tanh' or 'relu' (nn.RNN's two)."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"{kernel}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def check_rnn_sequence_backward_inputs(kernel, x, h0, w_ih, w_hh, hs, grad_hs, nonlinearity):
    """rnn_sequence_backward's argument checks, shared by the backends (the cuda kernels pass host proxies)."""
    shape = h0.shape if isinstance(h0, np.ndarray) else None
    steps = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 3 else -1
    hs_shape = (steps,) + shape if shape is not None else None
    check_sequence_inputs(kernel, x, h0, w_ih, w_hh, [("hs", hs, hs_shape), ("grad_hs", grad_hs, hs_shape)])
    check_nonlinearity(kernel, nonlinearity)


def rnn_activation_grad(hs, grad_hs, nonlinearity):
    """dz from the states h = act(z) and the gradient g at them: g (1 - h²) for tanh; for relu g where h > 0, else
    0 (written `h <= 0`, so that a NaN state passes g through, as PyTorch's relu backward does)."""
    if nonlinearity == "tanh":
        return grad_hs * (1.0 - hs * hs)
    return np.where(hs <= 0, 0.0, grad_hs).astype(grad_hs.dtype, copy=False)


def rnn_sequence_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, nonlinearity="tanh"):
    """The Elman RNN (nn.RNN's layer) over a whole sequence x (T, N, I) from h0 (N, H), in time order or (reverse)
    backwards, act = tanh or relu:

        Z = X W_ihᵀ + b_ih                                          (T, N, H), one GEMM for all steps
        for t in order:  h = act(Z[t] + h W_hhᵀ + b_hh)

    Returns hs (T, N, H), the h after each step t in time order; the backward needs nothing else (act' is a
    function of h).
    """
    n_hidden = h0.shape[1] if isinstance(h0, np.ndarray) and h0.ndim == 2 else -1
    check_sequence_inputs("rnn_sequence_forward", x, h0, w_ih, w_hh,
                          [("b_ih", b_ih, (n_hidden,)), ("b_hh", b_hh, (n_hidden,))])
    check_nonlinearity("rnn_sequence_forward", nonlinearity)
    steps, n_batch, _ = x.shape
    z = _input_projection(x, w_ih)
    if b_ih is not None:
        z = z + b_ih
    hs = np.empty((steps, n_batch, n_hidden), dtype=x.dtype)
    h = h0
    for t in step_order(steps, reverse):
        pre = z[t] + h @ w_hh.T
        if b_hh is not None:
            pre = pre + b_hh
        h = np.tanh(pre) if nonlinearity == "tanh" else np.where(pre <= 0, 0.0, pre).astype(x.dtype, copy=False)
        hs[t] = h
    return hs


def rnn_sequence_backward(x, h0, w_ih, w_hh, hs, grad_hs, reverse=False, need_grad_x=True, nonlinearity="tanh"):
    """Backprop through time for rnn_sequence_forward; grad_hs (T, N, H) the gradients at hs.

        g = 0                                              (what flows back from the step after)
        for t newest first:  dz[t] = act'(g + grad_hs[t]);  g = dz[t] W_hh        (rnn_activation_grad)
        grad_x = dZ W_ih;  grad_w_ih = dZᵀ X;  grad_w_hh = dZᵀ H_prev;  grad_bias = Σ_{t,n} dZ

    Returns (grad_x (T, N, I), grad_h0, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves both b_ih and b_hh, and
    grad_x is None when need_grad_x is false.
    """
    check_rnn_sequence_backward_inputs("rnn_sequence_backward", x, h0, w_ih, w_hh, hs, grad_hs, nonlinearity)
    dz = np.empty_like(hs)
    grad_h = np.zeros_like(h0)
    for t in reversed(step_order(x.shape[0], reverse)):
        dz[t] = rnn_activation_grad(hs[t], grad_h + grad_hs[t], nonlinearity)
        grad_h = dz[t] @ w_hh
    grad_x, grad_w_ih, grad_w_hh = _sequence_weight_gradients(x, previous_states(hs, h0, reverse), w_ih, dz, dz,
                                                              need_grad_x)
    return grad_x, grad_h, grad_w_ih, grad_w_hh, dz.sum(axis=(0, 1))


def lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """The LSTM over a whole sequence x (T, N, I) from (h0, c0) (N, H), in time order or (reverse) backwards:

        GI = X W_ihᵀ + b_ih + b_hh                                 (T, N, 4H), one GEMM for all steps
        for t in order:  [i | f | g | o] = σσtanhσ(GI[t] + h W_hhᵀ);  c = f ∘ c + i ∘ g;  h = o ∘ tanh(c)

    Returns (states, gates): states (2, T, N, H) = [hs ; cs], the h and c after each step t (in time order
    whatever the direction); gates (T, N, 4H) the activated [i | f | g | o] of each step, kept for the backward.
    """
    n_hidden = h0.shape[1] if isinstance(h0, np.ndarray) and h0.ndim == 2 else -1
    shape = h0.shape if isinstance(h0, np.ndarray) else None
    check_sequence_inputs("lstm_sequence_forward", x, h0, w_ih, w_hh,
                          [("c0", c0, shape), ("b_ih", b_ih, (4 * n_hidden,)), ("b_hh", b_hh, (4 * n_hidden,))],
                          gates=4)
    if c0 is None:
        raise TypeError("lstm_sequence_forward: c0 must be a numpy.ndarray, got NoneType")
    steps, n_batch, _ = x.shape
    gi = _input_projection(x, w_ih)
    for bias in (b_ih, b_hh):
        if bias is not None:
            gi = gi + bias
    states = np.empty((2, steps, n_batch, n_hidden), dtype=x.dtype)
    gates = np.empty((steps, n_batch, 4 * n_hidden), dtype=x.dtype)
    h, c = h0, c0
    for t in step_order(steps, reverse):
        i, f, g, o = np.split(gi[t] + h @ w_hh.T, 4, axis=1)
        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
        c = f * c + i * g
        h = o * np.tanh(c)
        states[0, t], states[1, t], gates[t] = h, c, np.concatenate([i, f, g, o], axis=1)
    return states, gates


def lstm_sequence_backward(x, h0, c0, w_ih, w_hh, states, gates, grad_states, reverse=False, need_grad_x=True):
    """Backprop through time for lstm_sequence_forward; grad_states (2, T, N, H) = [gradients at hs ; at cs].

        g_h = g_c = 0                                          (what flows back from the step after)
        for t newest first:
            g_h += grad_states[0, t];  g_c += grad_states[1, t]
            dz[t], g_c = lstm_cell_backward's gate math at step t (g_c becomes dc ∘ f, the previous c's)
            g_h = dz[t] W_hh
        grad_x = dZ W_ih;  grad_w_ih = dZᵀ X;  grad_w_hh = dZᵀ H_prev;  grad_bias = Σ_{t,n} dZ

    Returns (grad_x (T, N, I), grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_bias); grad_bias serves b_ih and b_hh;
    grad_x is None when need_grad_x is false (the input needs no gradient: its GEMM is skipped).
    """
    shape = h0.shape if isinstance(h0, np.ndarray) else None
    steps = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 3 else -1
    state_shape = (2, steps) + shape if shape is not None else None
    gates_shape = (steps, shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_sequence_inputs("lstm_sequence_backward", x, h0, w_ih, w_hh,
                          [("c0", c0, shape), ("states", states, state_shape), ("gates", gates, gates_shape),
                           ("grad_states", grad_states, state_shape)], gates=4)
    hs, cs = states
    c_previous = previous_states(cs, c0, reverse)
    dz = np.empty_like(gates)
    grad_h = np.zeros_like(h0)
    grad_c = np.zeros_like(c0)
    for t in reversed(step_order(steps, reverse)):
        grad_h = grad_h + grad_states[0, t]
        grad_c = grad_c + grad_states[1, t]
        i, f, g, o = np.split(gates[t], 4, axis=1)
        tanh_c = np.tanh(cs[t])
        d_o = grad_h * tanh_c
        d_c = grad_c + grad_h * o * (1.0 - tanh_c * tanh_c)
        dz[t] = np.concatenate([d_c * g * i * (1.0 - i), d_c * c_previous[t] * f * (1.0 - f), d_c * i * (1.0 - g * g),
                                d_o * o * (1.0 - o)], axis=1)
        grad_c = d_c * f
        grad_h = dz[t] @ w_hh
    grad_x, grad_w_ih, grad_w_hh = _sequence_weight_gradients(x, previous_states(hs, h0, reverse), w_ih, dz, dz,
                                                              need_grad_x)
    return grad_x, grad_h, grad_c, grad_w_ih, grad_w_hh, dz.sum(axis=(0, 1))


def gru_sequence_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """The GRU over a whole sequence x (T, N, I) from h0 (N, H), in time order or (reverse) backwards:

        GI = X W_ihᵀ + b_ih                                        (T, N, 3H), one GEMM for all steps
        for t in order:  [gh_r | gh_z | gh_n] = h W_hhᵀ + b_hh
                         r = σ(GI_r[t] + gh_r);  z = σ(GI_z[t] + gh_z);  n = tanh(GI_n[t] + r ∘ gh_n)
                         h = (1 - z) ∘ n + z ∘ h

    Returns (hs, gates): hs (T, N, H) the h after each step t (in time order), gates (T, N, 4H) = [r | z | n | gh_n]
    of each step, kept for the backward.
    """
    n_hidden = h0.shape[1] if isinstance(h0, np.ndarray) and h0.ndim == 2 else -1
    check_sequence_inputs("gru_sequence_forward", x, h0, w_ih, w_hh,
                          [("b_ih", b_ih, (3 * n_hidden,)), ("b_hh", b_hh, (3 * n_hidden,))], gates=3)
    steps, n_batch, _ = x.shape
    gi = _input_projection(x, w_ih)
    if b_ih is not None:
        gi = gi + b_ih
    hs = np.empty((steps, n_batch, n_hidden), dtype=x.dtype)
    gates = np.empty((steps, n_batch, 4 * n_hidden), dtype=x.dtype)
    h = h0
    for t in step_order(steps, reverse):
        gh = h @ w_hh.T
        if b_hh is not None:
            gh = gh + b_hh
        gi_r, gi_z, gi_n = np.split(gi[t], 3, axis=1)
        gh_r, gh_z, gh_n = np.split(gh, 3, axis=1)
        r = sigmoid(gi_r + gh_r)
        z = sigmoid(gi_z + gh_z)
        n = np.tanh(gi_n + r * gh_n)
        h = (1.0 - z) * n + z * h
        hs[t], gates[t] = h, np.concatenate([r, z, n, gh_n], axis=1)
    return hs, gates


def gru_sequence_backward(x, h0, w_ih, w_hh, hs, gates, grad_hs, reverse=False, need_grad_x=True):
    """Backprop through time for gru_sequence_forward; grad_hs (T, N, H) the gradients at hs.

        g = 0                                                  (what flows back from the step after)
        for t newest first:
            g += grad_hs[t]
            d_gi[t] = [dr | dz | dn],  d_gh[t] = [dr | dz | dn ∘ r]     (gru_cell_backward's gate math at step t)
            g = d_gh[t] W_hh + g ∘ z
        grad_x = dGI W_ih;  grad_w_ih = dGIᵀ X;  grad_w_hh = dGHᵀ H_prev;  grad_b_ih = Σ dGI;  grad_b_hh = Σ dGH

    Returns (grad_x (T, N, I), grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh); grad_x is None when
    need_grad_x is false.
    """
    shape = h0.shape if isinstance(h0, np.ndarray) else None
    steps = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 3 else -1
    hs_shape = (steps,) + shape if shape is not None else None
    gates_shape = (steps, shape[0], 4 * shape[1]) if shape is not None and len(shape) == 2 else None
    check_sequence_inputs("gru_sequence_backward", x, h0, w_ih, w_hh,
                          [("hs", hs, hs_shape), ("gates", gates, gates_shape), ("grad_hs", grad_hs, hs_shape)],
                          gates=3)
    previous = previous_states(hs, h0, reverse)
    n_hidden = h0.shape[1]
    d_gi = np.empty(gates.shape[:2] + (3 * n_hidden,), dtype=x.dtype)
    d_gh = np.empty_like(d_gi)
    grad_h = np.zeros_like(h0)
    for t in reversed(step_order(steps, reverse)):
        grad_h = grad_h + grad_hs[t]
        r, z, n, gh_n = np.split(gates[t], 4, axis=1)
        d_n = grad_h * (1.0 - z) * (1.0 - n * n)
        d_r = d_n * gh_n * r * (1.0 - r)
        d_z = grad_h * (previous[t] - n) * z * (1.0 - z)
        d_gi[t] = np.concatenate([d_r, d_z, d_n], axis=1)
        d_gh[t] = np.concatenate([d_r, d_z, d_n * r], axis=1)
        grad_h = d_gh[t] @ w_hh + grad_h * z
    grad_x, grad_w_ih, grad_w_hh = _sequence_weight_gradients(x, previous, w_ih, d_gi, d_gh, need_grad_x)
    return grad_x, grad_h, grad_w_ih, grad_w_hh, d_gi.sum(axis=(0, 1)), d_gh.sum(axis=(0, 1))
