"""Lesson 2: why the gradient of a broadcast input is a sum.

Adding a bias b (H,) to a batch x (N, H) broadcasts b: NumPy behaves as if b were copied into every row,

    y[n, j] = x[n, j] + b[j]        for every n

so one b[j] feeds N outputs. By the chain rule its gradient collects all of them:

    dL/db[j] = Σ_n dL/dy[n, j] · ∂y[n, j]/∂b[j] = Σ_n dL/dy[n, j]

The general rule: an input that was stretched along an axis (a new leading axis, or an axis of size 1) gets
the gradient summed over that axis. Add's own rule ("da = dy, db = dy") knows nothing about this: it returns
dy in the broadcast shape (N, H) for both inputs, and the engine sums it back to each input's shape in ONE
place, `autograd.unbroadcast`, called for every op's every input in `run_backward`. So Mul, Sub, Div,
Maximum, Where ... all broadcast correctly without a line of broadcasting code each.

    python docs/02_broadcasting_gradients.py
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.autograd import run_backward, unbroadcast
from tinygrad_edu.trace import BackwardTrace

rng = np.random.default_rng(0)
N, H = 4, 3
x = tg.Tensor(rng.standard_normal((N, H)), requires_grad=True)
b = tg.Tensor(rng.standard_normal(H), requires_grad=True)
# A random cotangent c makes dL/dy = c, so every element's gradient is different and visible
# (with a plain .sum(), dL/dy would be all ones, and many wrong rules would still pass).
c = rng.standard_normal((N, H))
loss = ((x + b) * tg.Tensor(c)).sum()

tracer = BackwardTrace(names={"x": x, "b": b})
run_backward(loss, trace=tracer)
print(tracer.table(rules=False))

# ----- 1. the bias gets the column sums of dL/dy; x (not broadcast) gets dL/dy itself ----------------------
np.testing.assert_allclose(b.grad.numpy(), c.sum(axis=0), rtol=1e-12)
np.testing.assert_allclose(x.grad.numpy(), c, rtol=1e-12)
add_row = tracer.rows[-1]
assert add_row.op == "Add" and add_row.inputs[1].rule_shape == (N, H) and add_row.inputs[1].shape == (H,)
print(f"\ndL/db = column sums of dL/dy: {np.round(b.grad.numpy(), 4)}")

# ----- 2. the same answer from finite differences: nudging b[j] moves N outputs at once ----------------------
eps = 1e-6
for j in range(H):
    bump = np.zeros(H)
    bump[j] = eps
    plus = ((x.data + b.data + bump) * c).sum()
    minus = ((x.data + b.data - bump) * c).sum()
    assert np.isclose((plus - minus) / (2 * eps), b.grad.data[j], rtol=1e-6)

# ----- 3. unbroadcast, the one place: new leading axes are summed away, size-1 axes are summed with keepdims --
grad = rng.standard_normal((2, N, H))
assert unbroadcast(grad, (H,)).shape == (H,)
np.testing.assert_allclose(unbroadcast(grad, (H,)), grad.sum(axis=(0, 1)))
np.testing.assert_allclose(unbroadcast(grad, (N, 1)), grad.sum(axis=0).sum(axis=1, keepdims=True))
np.testing.assert_allclose(unbroadcast(grad, (1, H)), grad.sum(axis=0).sum(axis=0, keepdims=True))
np.testing.assert_allclose(unbroadcast(grad, ()), grad.sum())

# ----- 4. a column vector (N, 1) and a scalar broadcast the same way -------------------------------------------
scale = tg.Tensor(rng.standard_normal((N, 1)), requires_grad=True)   # one number per row
shift = tg.Tensor(np.array(0.5), requires_grad=True)                 # one number for everything
out = ((x.detach() * scale + shift) * tg.Tensor(c)).sum()
out.backward()
np.testing.assert_allclose(scale.grad.numpy(), (x.data * c).sum(axis=1, keepdims=True), rtol=1e-12)
np.testing.assert_allclose(shift.grad.numpy(), c.sum(), rtol=1e-12)
print("lesson 2: broadcast gradients are sums over the copied axes - all checks passed")
