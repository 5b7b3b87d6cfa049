"""Lesson 8: a training loop -- Module, DataLoader, four optimizers written out, and overfitting tamed three ways.

Lessons 0-7 computed gradients. Training is what uses them, and nearly every PyTorch script runs the same
loop (so do the `tinygrad-edu train` commands, in tinygrad_edu/tasks/):

    for epoch in range(epochs):
        model.train()                        # dropout on
        for x, y in loader:                  # a DataLoader: the Dataset in (shuffled) mini-batches
            optimizer.zero_grad()            # backward adds (+=) into p.grad, so clear the last batch's first
            loss = loss_fn(model(x), y)      # forward: a graph from the parameters to one number
            loss.backward()                  # p.grad = dL/dp for every parameter p
            optimizer.step()                 # move every p a little against its gradient
        model.eval()                         # dropout off
        ...                                  # measure the loss on held-out data, keep the best weights

The lesson takes the pieces one at a time: (1) a Module and its parameters, (2) a Dataset and a DataLoader,
(3) the update rules of SGD, Momentum, RMSprop and Adam written out in a few lines each and checked against
`tinygrad_edu.optim` on the same numbers, with Adam's bias correction shown on numbers, (4) a network that
overfits a small noisy data set, seen on its train/validation loss curves (saved as a picture), and (5) three
ways to tame it: L2 weight decay, dropout and early stopping. Run it with

    python docs/08_a_training_loop.py

The picture goes to $TINYGRAD_EDU_LESSON_OUT if that is set, otherwise to a new temporary directory; the
script prints where.
"""
import math
import os
import tempfile

import matplotlib
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.nn import functional as F
from tinygrad_edu.utils.data import DataLoader, TensorDataset

matplotlib.use("Agg")  # draw to a file; no window
import matplotlib.pyplot as plt  # noqa: E402


# ----- 1. a Module: parameters are found by assigning them ---------------------------------------------------
class MLP(nn.Module):
    """1 -> hidden -> hidden -> 1 with tanh, and dropout after each hidden layer (p = 0: no dropout)."""

    def __init__(self, hidden=64, dropout=0.0):
        super().__init__()
        # Assigning a Module (or a Parameter) to an attribute registers it: parameters() will find it.
        self.hidden1 = nn.Linear(1, hidden)
        self.hidden2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        h = self.dropout(self.hidden1(x).tanh())   # (B, hidden)
        h = self.dropout(self.hidden2(h).tanh())   # (B, hidden)
        return self.out(h)                         # (B, 1)


tg.manual_seed(0)
model = MLP(hidden=64)
shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
print("parameters:", shapes)
# nn.Linear(in, out) stores weight as (out, in), as PyTorch does, and computes x Wᵀ + b.
assert shapes == {"hidden1.weight": (64, 1), "hidden1.bias": (64,), "hidden2.weight": (64, 64),
                  "hidden2.bias": (64,), "out.weight": (1, 64), "out.bias": (1,)}
assert sum(p.numel() for p in model.parameters()) == 64 + 64 + 64 * 64 + 64 + 64 + 1
assert model.eval() is model and not model.dropout.training     # eval() and train() reach every submodule
assert model.train().dropout.training


# ----- 2. a Dataset and a DataLoader -------------------------------------------------------------------------
# The task: y = sin(3x) + noise, from only 10 training points; 200 more points to validate on. Few points and
# plenty of noise make a network with 4353 parameters overfit quickly, which section 4 needs.
rng = np.random.default_rng(0)
NOISE = 0.3


def noisy_samples(count):
    x = rng.uniform(-1.0, 1.0, size=(count, 1))
    return x, np.sin(3.0 * x) + NOISE * rng.standard_normal((count, 1))


x_train, y_train = noisy_samples(10)
x_val, y_val = noisy_samples(200)
train_set = TensorDataset(tg.tensor(x_train, dtype=tg.float32), tg.tensor(y_train, dtype=tg.float32))
x_val_tensor = tg.tensor(x_val, dtype=tg.float32)
y_val_tensor = tg.tensor(y_val, dtype=tg.float32)

# A Dataset is anything with len() and [i]; the DataLoader shuffles the indices, cuts them into batches and
# stacks the samples of a batch into one tensor per field.
loader = DataLoader(train_set, batch_size=4, shuffle=True)
batches = list(loader)
assert len(train_set) == 10 and train_set[3][0].shape == (1,)
assert [tuple(xb.shape) for xb, yb in batches] == [(4, 1), (4, 1), (2, 1)]     # the last batch is what is left
seen = np.concatenate([xb.numpy() for xb, yb in batches])
assert sorted(seen.ravel().tolist()) == sorted(x_train.astype(np.float32).ravel().tolist())  # each point once
print(f"DataLoader(batch_size=4, shuffle=True): {len(loader)} batches of sizes {[len(xb) for xb, yb in batches]}")


# ----- 3. four update rules, written out, against tinygrad_edu.optim ---------------------------------------
# Each rule takes the parameter p, its gradient g and the rule's memory (a dict), and returns the new p.
def sgd_rule(p, g, memory, lr):
    return p - lr * g                                        # straight downhill


def momentum_rule(p, g, memory, lr, momentum=0.9):
    memory["b"] = momentum * memory.get("b", 0.0) + g        # a running sum of gradients: a velocity
    return p - lr * memory["b"]


def rmsprop_rule(p, g, memory, lr, alpha=0.99, eps=1e-8):
    memory["v"] = alpha * memory.get("v", 0.0) + (1 - alpha) * g ** 2   # running mean of g²
    return p - lr * g / (np.sqrt(memory["v"]) + eps)         # each coordinate's step scaled to about lr


def adam_rule(p, g, memory, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    memory["t"] = t = memory.get("t", 0) + 1
    memory["m"] = beta1 * memory.get("m", 0.0) + (1 - beta1) * g          # momentum (mean of g)
    memory["v"] = beta2 * memory.get("v", 0.0) + (1 - beta2) * g ** 2     # RMSprop's mean of g²
    m_hat = memory["m"] / (1 - beta1 ** t)                   # bias correction: m and v start at 0,
    v_hat = memory["v"] / (1 - beta2 ** t)                   # so early on they are too small; see below
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


LR = 0.05
RULES = {
    "SGD": (sgd_rule, lambda params: optim.SGD(params, lr=LR)),
    "Momentum": (momentum_rule, lambda params: optim.SGD(params, lr=LR, momentum=0.9)),
    "RMSprop": (rmsprop_rule, lambda params: optim.RMSprop(params, lr=LR)),
    "Adam": (adam_rule, lambda params: optim.Adam(params, lr=LR)),
}
# A long narrow valley, L(p) = ½ (10 p0² + 0.1 p1²): steep across, nearly flat along.
curvature = np.array([10.0, 0.1])
start = np.array([1.0, 1.0])
for name, (rule, make_optimizer) in RULES.items():
    by_hand, memory = start.copy(), {}
    param = tg.tensor(start, dtype=tg.float64, requires_grad=True)
    optimizer = make_optimizer([param])
    for step in range(20):
        optimizer.zero_grad()
        (0.5 * (tg.tensor(curvature) * param * param).sum()).backward()     # autograd: g = curvature · p
        optimizer.step()
        by_hand = rule(by_hand, curvature * by_hand, memory, LR)            # the same step, by hand
        np.testing.assert_allclose(param.numpy(), by_hand, rtol=1e-12, atol=1e-15, err_msg=f"{name} step {step}")
    print(f"{name:>8}: after 20 steps p = [{by_hand[0]:+.4f}, {by_hand[1]:+.4f}]  "
          f"(by hand == {type(optimizer).__name__}, every step)")
# Plain SGD crawls along the flat direction (0.1 curvature: p1 shrinks by 0.5% a step); RMSprop and Adam divide
# by the gradient's own size, so the flat direction moves about lr per step.

# Adam's bias correction, on numbers: a constant gradient g = 0.5, β1 = 0.9, β2 = 0.999.
param = tg.tensor([0.0], dtype=tg.float64, requires_grad=True)
adam = optim.Adam([param], lr=0.01)
print("\nAdam with a constant gradient 0.5:")
print(" t   m = β1·m + 0.1·g   m̂ = m / (1 - 0.9^t)   v             v̂ = v / (1 - 0.999^t)")
for t in (1, 2, 3):
    param.grad = tg.tensor([0.5], dtype=tg.float64)
    adam.step()
    m = adam.state[param]["exp_avg"][0]
    v = adam.state[param]["exp_avg_sq"][0]
    m_hat, v_hat = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)
    print(f" {t}   {m:.6f}           {m_hat:.6f}              {v:.8f}    {v_hat:.6f}")
    assert math.isclose(m, 0.5 * (1 - 0.9 ** t), rel_tol=1e-12)       # m climbs 0.05, 0.095, 0.1355 ...
    assert math.isclose(m_hat, 0.5, rel_tol=1e-12) and math.isclose(v_hat, 0.25, rel_tol=1e-12)  # ... m̂ is g
# Without the correction the first step would be lr · m/√v = lr · 0.05/√0.00025 ≈ 3.2·lr; with it, lr exactly.
# RMSprop has no correction: its first step is lr · g/√(0.01 g²) = 10·lr, whatever the size of g.
param = tg.tensor([0.0], dtype=tg.float64, requires_grad=True)
rmsprop = optim.RMSprop([param], lr=0.01)
param.grad = tg.tensor([0.5], dtype=tg.float64)
rmsprop.step()
assert math.isclose(param.item(), -10 * 0.01, rel_tol=1e-6)
print("first step: Adam moves lr = 0.01, RMSprop moves 10·lr = 0.1 (no bias correction)\n")


# ----- 4. overfitting, on a train/validation curve -------------------------------------------------------------
def validation_loss(model):
    model.eval()                 # dropout off: measure the network itself, not a noisy copy of it
    with tg.no_grad():           # no graph needed
        loss = F.mse_loss(model(x_val_tensor), y_val_tensor).item()
    model.train()
    return loss


def train(epochs=300, weight_decay=0.0, dropout=0.0, patience=None):
    """Train a fresh MLP with Adam; return the model and its train and validation loss after every epoch.

    With `patience`, stop once the validation loss has not improved for that many epochs, and put back the
    weights of the best epoch (early stopping).
    """
    tg.manual_seed(0)            # the same initial weights and batch order in every run
    model = MLP(hidden=64, dropout=dropout)
    # weight_decay adds wd·p to every gradient: the gradient of an L2 penalty (wd/2)·‖p‖² added to the loss.
    optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=weight_decay)
    # 10 points: one batch holds them all (so shuffling would change nothing). A real data set has many
    # batches per epoch, and shuffle=True so they differ from epoch to epoch.
    loader = DataLoader(train_set, batch_size=len(train_set))
    train_curve, val_curve = [], []
    best_loss, best_epoch, best_state = math.inf, 0, None
    for epoch in range(epochs):
        epoch_loss = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item() * len(xb)
        train_curve.append(epoch_loss / len(train_set))
        val_curve.append(validation_loss(model))
        if val_curve[-1] < best_loss:
            # state_dict() shares the model's arrays (as in PyTorch): clone, or the "best" weights keep training.
            best_loss, best_epoch = val_curve[-1], epoch
            best_state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
        elif patience is not None and epoch - best_epoch >= patience:
            break
    if patience is not None:
        model.load_state_dict(best_state)
    return model, train_curve, val_curve


overfit_model, overfit_train, overfit_val = train()
best_epoch = int(np.argmin(overfit_val))
print(f"no regularization: train loss {overfit_train[-1]:.4f}, validation loss {overfit_val[-1]:.4f} after "
      f"{len(overfit_val)} epochs (lowest {overfit_val[best_epoch]:.4f}, at epoch {best_epoch})")
# The signature of overfitting: the training loss keeps falling, far below the noise (NOISE² = 0.09) -- the
# network is memorizing the noise -- while the validation loss turns around and climbs.
assert overfit_train[-1] < 0.2 * NOISE ** 2 < overfit_train[best_epoch]
assert overfit_val[-1] > 1.5 * overfit_val[best_epoch] and best_epoch < len(overfit_val) // 2


# ----- 5. three ways to tame it ------------------------------------------------------------------------------
# L2 weight decay pulls every weight towards 0, so wild wiggles (which need large weights) cost something.
decay_model, decay_train, decay_val = train(weight_decay=3e-3)
# Dropout zeroes a random 20% of the hidden units at every step, so no unit can rely on a few others to
# memorize a point; eval() turns it off (and the 1/(1-p) scaling during training keeps the sizes matched).
dropout_model, dropout_train, dropout_val = train(dropout=0.2)
# Early stopping: watch the validation loss, stop when it has not improved for 30 epochs, keep the best weights.
stopped_model, stopped_train, stopped_val = train(patience=30)
stopped_loss = validation_loss(stopped_model)
assert stopped_loss == min(stopped_val)         # the restored weights are the best epoch's, exactly
assert len(stopped_val) < len(overfit_val)

results = {"L2 weight decay 3e-3": decay_val[-1], "dropout 0.2": dropout_val[-1],
           f"early stopping (patience 30, stopped at epoch {len(stopped_val) - 1})": stopped_loss}
for name, loss in results.items():
    print(f"{name}: validation loss {loss:.4f} ({loss / overfit_val[-1]:.0%} of the overfit run's)")
    assert loss < 0.8 * overfit_val[-1], (name, loss)


# ----- the picture ------------------------------------------------------------------------------------------
out_dir = os.environ.get("TINYGRAD_EDU_LESSON_OUT") or tempfile.mkdtemp(prefix="tinygrad_edu_lesson8_")
os.makedirs(out_dir, exist_ok=True)
figure, (curves, fits) = plt.subplots(1, 2, figsize=(11, 4))
curves.semilogy(overfit_train, color="tab:blue", label="train, no regularization")
curves.semilogy(overfit_val, color="tab:blue", linestyle="--", label="validation, no regularization")
curves.semilogy(decay_val, color="tab:green", linestyle="--", label="validation, weight decay")
curves.semilogy(dropout_val, color="tab:orange", linestyle="--", label="validation, dropout")
curves.axvline(best_epoch, color="gray", linestyle=":",
               label=f"early stopping keeps this epoch (stops {len(stopped_val) - 1 - best_epoch} later)")
curves.axhline(NOISE ** 2, color="black", linewidth=0.5, label="noise variance (best possible)")
curves.set_xlabel("epoch")
curves.set_ylabel("mean squared error")
curves.legend(fontsize=7)
grid = np.linspace(-1, 1, 200, dtype=np.float32).reshape(-1, 1)
with tg.no_grad():
    for fitted, label, color in ((overfit_model, "no regularization", "tab:blue"),
                                 (decay_model, "weight decay", "tab:green"),
                                 (stopped_model, "early stopping", "tab:gray")):
        fits.plot(grid, fitted.eval()(tg.tensor(grid)).numpy(), color=color, label=label)
fits.plot(grid, np.sin(3 * grid), color="black", linewidth=0.5, label="sin(3x), the truth")
fits.scatter(x_train, y_train, color="red", zorder=3, label="the 10 training points")
fits.set_xlabel("x")
fits.legend(fontsize=7)
figure.tight_layout()
picture = os.path.join(out_dir, "08_overfitting.png")
figure.savefig(picture, dpi=90)
plt.close(figure)
print(f"\nloss curves and fitted functions saved to {picture}")
print("lesson 8: the update rules, the overfitting and its three cures passed")
