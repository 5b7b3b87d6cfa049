"""Lesson 7: the LSTM and GRU cells, their gates, and their backward written out.

Lesson 5's tanh cell forgets fast: every step back multiplies the gradient by W_hhᵀ and by tanh' ≤ 1. Gated
cells add a path the gradient can travel almost untouched, controlled by gates in (0, 1).

LSTM (PyTorch's gate order i, f, g, o; z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, (N, 4H), split in four):

    i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)          input, forget, candidate, output
    c' = f ∘ c + i ∘ g                                             the cell state: a sum, not a squashing
    h' = o ∘ tanh(c')

Backward, given dh' and dc' (what the loss and the next step send back):

    do  = dh' ∘ tanh(c')
    dc* = dc' + dh' ∘ o ∘ (1 - tanh²(c'))                          all that reaches c'
    di  = dc* ∘ g     dg = dc* ∘ i     df = dc* ∘ c     dc = dc* ∘ f    ← dc: the gradient highway (× f only)
    dz  = [di ∘ i(1-i), df ∘ f(1-f), dg ∘ (1-g²), do ∘ o(1-o)]      through each gate's nonlinearity
    dx = dz W_ih    dh = dz W_hh    dW_ih = dzᵀ x    dW_hh = dzᵀ h    db_ih = db_hh = Σ_n dz

GRU (gate order r, z, n; the candidate's hidden part is gated *before* it is added):

    r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr)      z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
    a = h W_hnᵀ + b_hn                          n = tanh(x W_inᵀ + b_in + r ∘ a)
    h' = (1 - z) ∘ n + z ∘ h

    dn = dh' ∘ (1 - z)     dz = dh' ∘ (h - n)     dh(direct) = dh' ∘ z
    dn* = dn ∘ (1 - n²)    dr = dn* ∘ a          da = dn* ∘ r
    dz_x = [dr ∘ r(1-r), dz ∘ z(1-z), dn*]       (for W_ih, b_ih, x)
    dz_h = [dr ∘ r(1-r), dz ∘ z(1-z), da]        (for W_hh, b_hh, h: the n block carries r ∘ a's gradient)
    dx = dz_x W_ih    dh = dz_h W_hh + dh(direct)    dW_ih = dz_xᵀ x    dW_hh = dz_hᵀ h

The engine runs each cell as one fused op (tinygrad_edu/ops/rnn.py `LSTMCellStep`, `GRUCellStep`; kernels in
kernels/reference/rnn.py, kernels/cpu/rnn.py, kernels/cuda/rnn.py) whose backward is exactly these lines. Below,
the formulas are written in NumPy, checked against nn.LSTMCell / nn.GRUCell (same weights, a random cotangent on
each output) and against central finite differences.

    python docs/07_lstm_and_gru_gates.py
"""
import numpy as np

import tinygrad_edu as tg

rng = np.random.default_rng(0)
N, I, H = 3, 4, 5


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


# ----- 1. the LSTM cell by hand ------------------------------------------------------------------------------
lstm = tg.nn.LSTMCell(I, H).double()
W_ih, W_hh = lstm.weight_ih.numpy().copy(), lstm.weight_hh.numpy().copy()   # (4H, I), (4H, H)
b_ih, b_hh = lstm.bias_ih.numpy().copy(), lstm.bias_hh.numpy().copy()       # (4H,)
x, h, c = rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
dh_new, dc_new = rng.standard_normal((N, H)), rng.standard_normal((N, H))   # random cotangents


def lstm_forward(x, h, c, W_ih, W_hh, b_ih, b_hh):
    z = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh                                  # (N, 4H)
    i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return h_new, c_new, (i, f, g, o)


h_new, c_new, (i, f, g, o) = lstm_forward(x, h, c, W_ih, W_hh, b_ih, b_hh)
do = dh_new * np.tanh(c_new)
dc_total = dc_new + dh_new * o * (1 - np.tanh(c_new) ** 2)
di, dg, df, dc = dc_total * g, dc_total * i, dc_total * c, dc_total * f
dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
by_hand = {"x": dz @ W_ih, "h": dz @ W_hh, "c": dc, "weight_ih": dz.T @ x, "weight_hh": dz.T @ h,
           "bias_ih": dz.sum(axis=0), "bias_hh": dz.sum(axis=0)}

tx, th, tc = (tg.tensor(a, requires_grad=True) for a in (x, h, c))
engine_h, engine_c = lstm(tx, (th, tc))
np.testing.assert_allclose(engine_h.numpy(), h_new, rtol=1e-12)
np.testing.assert_allclose(engine_c.numpy(), c_new, rtol=1e-12)
((engine_h * tg.tensor(dh_new)).sum() + (engine_c * tg.tensor(dc_new)).sum()).backward()
engine = {"x": tx.grad, "h": th.grad, "c": tc.grad, **{name: p.grad for name, p in lstm.named_parameters()}}
for name, expected in by_hand.items():
    np.testing.assert_allclose(engine[name].numpy(), expected, rtol=1e-10, atol=1e-12, err_msg=name)
print("LSTM: the gate-by-gate backward == the engine's fused cell for x, h, c and every weight")
print(f"  forget gate f in ({f.min():.2f}, {f.max():.2f}): dc = dc* ∘ f is the only factor on the cell-state path")

# ----- 2. the GRU cell by hand --------------------------------------------------------------------------------
gru = tg.nn.GRUCell(I, H).double()
W_ih, W_hh = gru.weight_ih.numpy().copy(), gru.weight_hh.numpy().copy()    # (3H, I), (3H, H)
b_ih, b_hh = gru.bias_ih.numpy().copy(), gru.bias_hh.numpy().copy()


def gru_forward(x, h, W_ih, W_hh, b_ih, b_hh):
    zx = x @ W_ih.T + b_ih                                                    # (N, 3H): r, z, n input parts
    zh = h @ W_hh.T + b_hh                                                    # (N, 3H): r, z, n hidden parts
    r = sigmoid(zx[:, :H] + zh[:, :H])
    z = sigmoid(zx[:, H:2 * H] + zh[:, H:2 * H])
    a = zh[:, 2 * H:]
    n = np.tanh(zx[:, 2 * H:] + r * a)
    return (1 - z) * n + z * h, (r, z, n, a)


h_new, (r, z, n, a) = gru_forward(x, h, W_ih, W_hh, b_ih, b_hh)
dn = dh_new * (1 - z)
dz_gate = dh_new * (h - n)
dn_pre = dn * (1 - n ** 2)
dr_pre = dn_pre * a * r * (1 - r)
dz_pre = dz_gate * z * (1 - z)
dz_x = np.concatenate([dr_pre, dz_pre, dn_pre], axis=1)
dz_h = np.concatenate([dr_pre, dz_pre, dn_pre * r], axis=1)
by_hand = {"x": dz_x @ W_ih, "h": dz_h @ W_hh + dh_new * z, "weight_ih": dz_x.T @ x, "weight_hh": dz_h.T @ h,
           "bias_ih": dz_x.sum(axis=0), "bias_hh": dz_h.sum(axis=0)}

tx, th = tg.tensor(x, requires_grad=True), tg.tensor(h, requires_grad=True)
engine_h = gru(tx, th)
np.testing.assert_allclose(engine_h.numpy(), h_new, rtol=1e-12)
(engine_h * tg.tensor(dh_new)).sum().backward()
engine = {"x": tx.grad, "h": th.grad, **{name: p.grad for name, p in gru.named_parameters()}}
for name, expected in by_hand.items():
    np.testing.assert_allclose(engine[name].numpy(), expected, rtol=1e-10, atol=1e-12, err_msg=name)
print("GRU: the gate-by-gate backward == the engine's fused cell for x, h and every weight")

# ----- 3. and against finite differences, for the recurrent weights of both cells ----------------------------
def numeric_gradient(loss, array, eps=1e-6):
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        bump = np.zeros_like(array)
        bump[index] = eps
        grad[index] = (loss(array + bump) - loss(array - bump)) / (2 * eps)
    return grad


lstm_W_hh = lstm.weight_hh.numpy().copy()
lstm_loss = lambda w: np.sum(lstm_forward(x, h, c, lstm.weight_ih.numpy(), w, lstm.bias_ih.numpy(),  # noqa: E731
                                          lstm.bias_hh.numpy())[0] * dh_new)
lstm.zero_grad()
(lstm(tg.tensor(x), (tg.tensor(h), tg.tensor(c)))[0] * tg.tensor(dh_new)).sum().backward()
np.testing.assert_allclose(lstm.weight_hh.grad.numpy(), numeric_gradient(lstm_loss, lstm_W_hh), rtol=1e-6, atol=1e-9)

gru_loss = lambda w: np.sum(gru_forward(x, h, W_ih, w, b_ih, b_hh)[0] * dh_new)  # noqa: E731
np.testing.assert_allclose(by_hand["weight_hh"], numeric_gradient(gru_loss, W_hh), rtol=1e-6, atol=1e-9)
print("finite differences agree with both for W_hh")

# ----- 4. why the gates help: the gradient on the cell-state path over 50 steps ---------------------------------
steps = 50
forget_open = np.full(steps, 0.97)           # an LSTM that chose to remember: f near 1
tanh_rnn = np.full(steps, 0.9 * 0.5)          # lesson 5's factor per step: ‖W_hh‖ · tanh' (typical values)
print(f"after {steps} steps back, the gradient is scaled by ~{np.prod(forget_open):.2f} along the LSTM's cell "
      f"state, but by ~{np.prod(tanh_rnn):.1e} through a tanh RNN")
assert np.prod(forget_open) > 0.1 > 1e6 * np.prod(tanh_rnn)
print("lesson 7: LSTM and GRU gate checks passed")
