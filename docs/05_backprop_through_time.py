"""Lesson 5: backprop through time for the tanh RNN cell.

One step of an Elman RNN, for a batch x_t (N, I) and the previous state h_(t-1) (N, H):

    z_t = x_t W_ihᵀ + b_ih + h_(t-1) W_hhᵀ + b_hh          (N, H)
    h_t = tanh(z_t)

Unrolled over T steps it is an ordinary graph in which W_ih, W_hh and the biases are used T times, so by
lesson 2's rule their gradients are the SUM over the steps. The state h_t reaches the loss two ways: directly
(if the loss reads h_t) and through h_(t+1). Backprop through time walks the steps newest first, carrying
dL/dh back:

    dh  = dL/dh_T                                          start at the last step
    for t = T, ..., 1:
        dz      = dh ∘ (1 - h_t²)                          tanh' = 1 - tanh²
        dW_ih  += dzᵀ x_t         dW_hh += dzᵀ h_(t-1)      db += Σ_n dz     (each step adds its share)
        dx_t    = dz W_ih
        dh      = dz W_hh + dL/dh_(t-1) (direct part)       what flows one step further back

The engine has the cell as one fused op (tinygrad_edu/ops/rnn.py `RNNTanhCell`; kernels in
kernels/reference/rnn.py and kernels/cpu/rnn.py), whose backward is the loop body above. The loop itself is
not written anywhere: `backward()` visits the T cell nodes newest first because that is the reverse
topological order, and adds the T contributions to W_hh.grad because W_hh is an input of all of them.
Each dh is multiplied by W_hhᵀ and by (1 - h²) ≤ 1 once per step back, which is why gradients through many
steps vanish (or, with large W_hh, explode).

    python docs/05_backprop_through_time.py
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.autograd import run_backward
from tinygrad_edu.nn import functional as F
from tinygrad_edu.ops.rnn import rnn_sequence
from tinygrad_edu.trace import BackwardTrace

rng = np.random.default_rng(0)
T, N, I, H = 4, 2, 3, 5
xs = rng.standard_normal((T, N, I))
h0 = rng.standard_normal((N, H)) * 0.1
w_ih = rng.standard_normal((H, I)) * 0.5
w_hh = rng.standard_normal((H, H)) * 0.5
b_ih = rng.standard_normal(H) * 0.1
b_hh = rng.standard_normal(H) * 0.1
# The loss reads every step's state through its own random cotangent: L = Σ_t Σ h_t ∘ c_t.
cotangents = rng.standard_normal((T, N, H))

# ----- 1. forward and BPTT by hand, in NumPy ----------------------------------------------------------------
states = [h0]
for t in range(T):
    states.append(np.tanh(xs[t] @ w_ih.T + b_ih + states[-1] @ w_hh.T + b_hh))

grad_w_ih = np.zeros_like(w_ih)
grad_w_hh = np.zeros_like(w_hh)
grad_b = np.zeros(H)
grad_xs = np.zeros_like(xs)
dh = np.zeros((N, H))
for t in reversed(range(T)):
    dh = dh + cotangents[t]                       # the direct part: L reads h_t
    h_new, h_prev = states[t + 1], states[t]
    dz = dh * (1.0 - h_new ** 2)
    grad_w_ih += dz.T @ xs[t]
    grad_w_hh += dz.T @ h_prev
    grad_b += dz.sum(axis=0)
    grad_xs[t] = dz @ w_ih
    dh = dz @ w_hh                                # flows into step t-1
grad_h0 = dh

# ----- 2. the same unrolled graph in the engine, one fused cell per step --------------------------------------
params = {name: tg.Tensor(value, requires_grad=True)
          for name, value in (("W_ih", w_ih), ("W_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh), ("h0", h0))}
inputs = [tg.Tensor(xs[t], requires_grad=True) for t in range(T)]
h = params["h0"]
loss = None
for t in range(T):
    h = F.rnn_tanh_cell(inputs[t], h, params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"])
    term = (h * tg.Tensor(cotangents[t])).sum()
    loss = term if loss is None else loss + term

tracer = BackwardTrace(names={**params, **{f"x{t + 1}": inputs[t] for t in range(T)}})
run_backward(loss, trace=tracer)
cell_steps = [row for row in tracer.rows if row.op == "RNNTanhCell"]
# The engine visits the cells newest first (cell t needs dL/dh_t, which cell t+1 produces): x4, x3, x2, x1.
assert [row.inputs[0].label for row in cell_steps] == [f"x{t}" for t in range(T, 0, -1)]
print("RNN cell backward steps, in the order the engine ran them (dW_hh contribution of each):")
for order, row in enumerate(cell_steps):
    print(f"  backward step {row.step:2d}: cell t={T - order}  |dW_hh share| = {row.inputs[3].norm:.4f}")

for name, expected in (("W_ih", grad_w_ih), ("W_hh", grad_w_hh), ("b_ih", grad_b), ("b_hh", grad_b), ("h0", grad_h0)):
    np.testing.assert_allclose(params[name].grad.numpy(), expected, rtol=1e-10, atol=1e-12)
for t in range(T):
    np.testing.assert_allclose(inputs[t].grad.numpy(), grad_xs[t], rtol=1e-10, atol=1e-12)

# W_hh.grad is the sum of the T per-step shares the trace recorded.
shares = sum(row.inputs[3].grad for row in cell_steps)
np.testing.assert_allclose(shares, params["W_hh"].grad.numpy(), rtol=1e-12)
print("manual BPTT == engine for W_ih, W_hh, b_ih, b_hh, h0 and every x_t")

# ----- 3. and against finite differences for W_hh, the weight shared by every step ---------------------------
def loss_numpy(recurrent):
    state = h0
    total = 0.0
    for t in range(T):
        state = np.tanh(xs[t] @ w_ih.T + b_ih + state @ recurrent.T + b_hh)
        total += np.sum(state * cotangents[t])
    return total


eps = 1e-6
numeric = np.zeros_like(w_hh)
for index in np.ndindex(w_hh.shape):
    bump = np.zeros_like(w_hh)
    bump[index] = eps
    numeric[index] = (loss_numpy(w_hh + bump) - loss_numpy(w_hh - bump)) / (2 * eps)
np.testing.assert_allclose(grad_w_hh, numeric, rtol=1e-6, atol=1e-9)

# ----- 4. the whole loop as one op: what nn.RNN runs ---------------------------------------------------------
# One graph node per step costs Python per step; `rnn_sequence` (tinygrad_edu/ops/rnn.py, kernels
# rnn_sequence_forward / _backward) runs the loop of part 1 inside one kernel call each way: the input product of
# all T steps at once, the newest-first loop of dz and dh, then dW_ih = dZᵀ X and dW_hh = dZᵀ H_prev as single
# products over all T·N rows. Same math, same gradients:
sequence_params = [tg.Tensor(value, requires_grad=True) for value in (xs, h0, w_ih, w_hh, b_ih, b_hh)]
hs = rnn_sequence(*sequence_params)  # (T, N, H), one node
(hs * tg.Tensor(cotangents)).sum().backward()
for tensor, expected in zip(sequence_params, (grad_xs, grad_h0, grad_w_ih, grad_w_hh, grad_b, grad_b)):
    np.testing.assert_allclose(tensor.grad.numpy(), expected, rtol=1e-10, atol=1e-12)
print("rnn_sequence (one op for all T steps) == manual BPTT")
print("lesson 5: backprop through time checks passed")
