"""Lesson 1: the derivatives of a two-layer MLP, by hand, checked against the engine and finite differences.

The network and its loss, for a batch x (N, D) with targets y (N, 1):

    z = x W1 + b1            (N, H)      W1 (D, H), b1 (H,)
    h = tanh(z)              (N, H)
    p = h W2 + b2            (N, 1)      W2 (H, 1), b2 (1,)
    L = (1/N) Σ_n (p_n - y_n)²          a scalar

Backprop is the chain rule applied from L back to the weights, one line per forward line, in reverse:

    dL/dp  = 2 (p - y) / N                          (N, 1)
    dL/dW2 = hᵀ dL/dp                               (H, 1)   p = h W2: each W2[j] meets every h[n, j]
    dL/db2 = Σ_n dL/dp[n]                           (1,)     b2 was added to every row: sum the rows back
    dL/dh  = dL/dp W2ᵀ                              (N, H)
    dL/dz  = dL/dh ∘ (1 - h²)                       (N, H)   tanh' = 1 - tanh²
    dL/dW1 = xᵀ dL/dz                               (D, H)
    dL/db1 = Σ_n dL/dz[n]                           (H,)

Each line is a matrix product or an elementwise product: the same shapes as the forward pass, transposed.
The engine does exactly this, one `Function.backward` per op (see tinygrad_edu/ops/linalg.py `MatMul`,
tinygrad_edu/ops/elementwise.py `Tanh`, and `autograd.unbroadcast` for the two bias sums). Run it with

    python docs/01_mlp_by_hand.py
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.autograd import run_backward
from tinygrad_edu.trace import BackwardTrace

rng = np.random.default_rng(0)
N, D, H = 5, 3, 4
x = rng.standard_normal((N, D))
y = rng.standard_normal((N, 1))
params = {
    "W1": rng.standard_normal((D, H)) * 0.5,
    "b1": rng.standard_normal(H) * 0.1,
    "W2": rng.standard_normal((H, 1)) * 0.5,
    "b2": rng.standard_normal(1) * 0.1,
}


# ----- 1. the forward pass and the backward pass, in NumPy, by hand ----------------------------------------
def loss_numpy(W1, b1, W2, b2):
    h = np.tanh(x @ W1 + b1)
    p = h @ W2 + b2
    return np.mean((p - y) ** 2)


def grads_by_hand(W1, b1, W2, b2):
    # forward, keeping what backward needs
    z = x @ W1 + b1
    h = np.tanh(z)
    p = h @ W2 + b2
    # backward, the forward lines in reverse
    dp = 2.0 * (p - y) / N
    dW2 = h.T @ dp
    db2 = dp.sum(axis=0)
    dh = dp @ W2.T
    dz = dh * (1.0 - h ** 2)
    dW1 = x.T @ dz
    db1 = dz.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


by_hand = grads_by_hand(**params)

# ----- 2. the same network in the engine (float64, so the comparison is tight) ----------------------------
tensors = {name: tg.Tensor(value, requires_grad=True) for name, value in params.items()}
x_tensor, y_tensor = tg.Tensor(x), tg.Tensor(y)
hidden = (x_tensor @ tensors["W1"] + tensors["b1"]).tanh()
prediction = hidden @ tensors["W2"] + tensors["b2"]
loss = ((prediction - y_tensor) ** 2).mean()   # mean = Sum, then Mul by 1/N
assert np.isclose(loss.item(), loss_numpy(**params))

# A BackwardTrace shows the engine walking the graph backwards, one op per row (see tinygrad_edu/trace.py):
# read the rows from the top and compare them with the dL/d... lines of the docstring, top to bottom.
tracer = BackwardTrace(names={**tensors, "x": x_tensor, "y": y_tensor})
run_backward(loss, trace=tracer)
print(tracer.table())
assert [row.op for row in tracer.rows] == ["Mul", "Sum", "PowScalar", "Sub", "Add", "MatMul", "Tanh", "Add", "MatMul"]

for name in params:
    np.testing.assert_allclose(tensors[name].grad.numpy(), by_hand[name], rtol=1e-12, atol=1e-14)
print("\nby hand == engine for W1, b1, W2, b2 (float64, rtol 1e-12)")


# ----- 3. both against central finite differences, every element -------------------------------------------
# dL/dθ_i ≈ (L(θ + ε e_i) - L(θ - ε e_i)) / 2ε, error O(ε²): with ε = 1e-6 in float64, about 1e-9.
def finite_difference(name, eps=1e-6):
    grad = np.zeros_like(params[name])
    for index in np.ndindex(params[name].shape):
        plus = {k: v.copy() for k, v in params.items()}
        minus = {k: v.copy() for k, v in params.items()}
        plus[name][index] += eps
        minus[name][index] -= eps
        grad[index] = (loss_numpy(**plus) - loss_numpy(**minus)) / (2 * eps)
    return grad


for name in params:
    numeric = finite_difference(name)
    np.testing.assert_allclose(by_hand[name], numeric, rtol=1e-6, atol=1e-9)
    print(f"{name}: max |by hand - finite difference| = {np.abs(by_hand[name] - numeric).max():.1e}")
print("lesson 1: all gradient checks passed")
