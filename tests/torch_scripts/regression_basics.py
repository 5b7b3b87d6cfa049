"""Linear regression with hand-written SGD updates under no_grad, and logistic regression with BCEWithLogitsLoss.

Both start from fixed weights (zeros, or nn.init.constant_), so the fitted parameters must match PyTorch's.
"""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def linear_regression(rng):
    X = torch.from_numpy(rng.uniform(-1, 1, size=(100, 2)).astype(np.float32))
    true_w = torch.tensor([[2.0], [-3.0]])
    y = X @ true_w + 0.5 + 0.01 * torch.from_numpy(rng.standard_normal((100, 1)).astype(np.float32))

    w = torch.zeros(2, 1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    lr = 0.1
    for epoch in range(100):
        y_hat = X.mm(w) + b
        loss = ((y_hat - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
            w.grad.zero_()
            b.grad.zero_()
    return loss.item(), w.detach().squeeze().tolist(), b.item()


class LogisticRegression(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x):
        return self.linear(x).squeeze(1)  # logits


def logistic_regression(rng):
    n = 200
    X = rng.standard_normal((n, 3)).astype(np.float32)
    logits = X @ np.array([1.5, -2.0, 0.5], dtype=np.float32) + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    X, y = torch.from_numpy(X), torch.from_numpy(y)

    model = LogisticRegression(3)
    nn.init.zeros_(model.linear.weight)
    nn.init.constant_(model.linear.bias, 0.1)
    criterion = nn.BCEWithLogitsLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    for epoch in range(50):
        optimizer.zero_grad()
        loss = criterion(model(X), y)
        loss.backward()
        optimizer.step()

    with torch.no_grad():
        probs = torch.sigmoid(model(X))
        preds = (probs > 0.5).float()
        accuracy = (preds == y).float().mean().item()
        # the same loss written out, and the weighted form
        manual = -(y * torch.log(probs) + (1 - y) * torch.log(1 - probs)).mean().item()
        weighted = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0]))(model(X), y).item()
        bce = nn.BCELoss()(probs, y).item()
    return {
        "logistic_loss": loss.item(),
        "logistic_weight": model.linear.weight.detach().view(-1).tolist(),
        "logistic_bias": model.linear.bias.item(),
        "logistic_accuracy": accuracy,
        "manual_bce": manual,
        "bce_loss": bce,
        "weighted_bce": weighted,
    }


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    loss, w, b = linear_regression(rng)
    print(f"linear regression: loss {loss:.5f}, w {w}, b {b:.4f}")
    result = {"linear_loss": loss, "linear_w": w, "linear_b": b}
    result.update(logistic_regression(rng))
    print(f"logistic regression: accuracy {result['logistic_accuracy']:.3f}")
    return result


if __name__ == "__main__":
    print(json.dumps(main()))
