"""Lesson 4: the softmax + cross-entropy gradient, and why the fused form is the stable one.

For logits z (C,) and target class t:

    p_c = e^(z_c) / Σ_k e^(z_k)                         softmax
    L   = -log p_t = logsumexp(z) - z_t                 cross-entropy

Differentiate the second form: d logsumexp(z)/dz_c = e^(z_c) / Σ_k e^(z_k) = p_c, and dz_t/dz_c = [c = t], so

    dL/dz = p - onehot(t)                               bounded: every entry in [-1, 1]

Written out op by op instead, log(softmax(z)) goes through p and then divides by it: d log p / dp = 1/p.
When one logit dominates, p of the others underflows to exactly 0 in float32 (e^(-20000) is far below 1e-45),
so log p = -inf and 1/p = inf; and before that e^(10000) itself overflows to inf, giving inf/inf = NaN.
The fused op (tinygrad_edu/ops/softmax.py `CrossEntropy`, kernels in kernels/reference/softmax.py) never forms
1/p: its forward is logsumexp computed as m + log Σ e^(z - m) with m = max z (every exponent ≤ 0, no
overflow), and its backward is p - onehot(t). The composite forms stay in the test suite as the oracle.

    python docs/04_softmax_cross_entropy.py
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.nn import functional as F

rng = np.random.default_rng(0)

# ----- 1. the gradient is p - onehot(t): engine vs the formula, moderate logits ------------------------------
N, C = 4, 5
logits = rng.standard_normal((N, C))
target = np.array([0, 3, 4, 1])
z = tg.Tensor(logits, requires_grad=True)
loss = F.cross_entropy(z, target)             # the mean over the batch: dL/dz gets a 1/N
loss.backward()

shifted = logits - logits.max(axis=1, keepdims=True)
p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
onehot = np.eye(C)[target]
np.testing.assert_allclose(z.grad.numpy(), (p - onehot) / N, rtol=1e-12, atol=1e-15)
np.testing.assert_allclose(loss.item(), -np.log(p[np.arange(N), target]).mean(), rtol=1e-12)
# Each row of p - onehot sums to 0: raising every logit by the same amount changes nothing.
np.testing.assert_allclose(z.grad.numpy().sum(axis=1), 0.0, atol=1e-15)
print("dL/dz = (softmax(z) - onehot(t)) / N  -- matches the engine")

# ----- 2. logits of ±1e4 in float32: the naive forms fail, the fused one is exact -----------------------------
extreme = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
wrong_class = np.array([1])                   # the target is the class with logit -1e4
# exact answers, by the formulas above: L = logsumexp(z) - z_t = 1e4 - (-1e4) = 2e4; p = (1, 0, 0)
exact_loss = np.float32(2e4)
exact_grad = np.array([[1.0, -1.0, 0.0]], dtype=np.float32)

with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    # (a) softmax written out: e^(1e4) overflows to inf, inf / inf = NaN
    naive = tg.Tensor(extreme, requires_grad=True)
    exps = naive.exp()
    probs = exps / exps.sum(dim=1, keepdim=True)
    naive_loss = -probs.log()[:, 1].sum()
    naive_loss.backward()
    print(f"naive   e^z / Σ e^z, then log:  probs {probs.numpy()}, loss {naive_loss.item()}, grad {naive.grad.numpy()}")
    assert np.isnan(probs.numpy()).any()
    assert np.isnan(naive.grad.numpy()).all()

    # (b) a stable softmax, then log: p_1 underflows to 0, log 0 = -inf, and its backward divides by 0
    half = tg.Tensor(extreme, requires_grad=True)
    stable_probs = F.softmax(half, dim=1)
    half_loss = -stable_probs.log()[:, 1].sum()
    half_loss.backward()
    print(f"stable softmax, then log:       probs {stable_probs.numpy()}, loss {half_loss.item()}, grad {half.grad.numpy()}")
    assert stable_probs.numpy()[0, 1] == 0.0 and np.isinf(half_loss.item())
    assert np.isnan(half.grad.numpy()).all()

# (c) fused: no warnings to silence, and the float32 answer is exact
fused = tg.Tensor(extreme, requires_grad=True)
fused_loss = F.cross_entropy(fused, wrong_class)
fused_loss.backward()
print(f"fused cross_entropy:            loss {fused_loss.item()}, grad {fused.grad.numpy()}")
assert fused_loss.dtype == np.float32 and fused_loss.item() == exact_loss
np.testing.assert_array_equal(fused.grad.numpy(), exact_grad)

# ----- 3. float32 against float64 at ±1e4 over a batch: the fused op loses nothing ---------------------------
batch = (rng.choice([-1e4, 1e4], size=(6, 4)) + rng.standard_normal((6, 4))).astype(np.float32)
labels = rng.integers(0, 4, size=6)
losses = {}
grads = {}
for dtype in (np.float32, np.float64):
    t = tg.Tensor(batch.astype(dtype), requires_grad=True)
    value = F.cross_entropy(t, labels)
    value.backward()
    losses[dtype], grads[dtype] = value.item(), t.grad.numpy()
    assert np.isfinite(grads[dtype]).all()
np.testing.assert_allclose(losses[np.float32], losses[np.float64], rtol=1e-6)
np.testing.assert_allclose(grads[np.float32], grads[np.float64], atol=1e-6)
print("lesson 4: the fused softmax cross-entropy is finite and exact where log(softmax(z)) is not - all checks passed")
