"""An MLP on scikit-learn's 8x8 digits: TensorDataset + shuffling DataLoader, Adam, cross-entropy, accuracy.

The weights start from the framework's own random init and the batches come in shuffled order, so the two
frameworks take different paths: compare the test accuracy, not the loss.
"""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class MLP(nn.Module):
    def __init__(self, in_features=64, hidden=64, num_classes=10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(dim=1) == y).sum().item()
        total += y.size(0)
    return loss_sum / total, correct / total


def main():
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train_idx, test_idx = order[:1400], order[1400:]

    train_ds = TensorDataset(torch.from_numpy(X[train_idx]), torch.from_numpy(y[train_idx]))
    test_ds = TensorDataset(torch.tensor(X[test_idx]), torch.tensor(y[test_idx]))
    train_loader = DataLoader(train_ds, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_ds, batch_size=256)

    model = MLP().to(device)
    num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)

    for epoch in range(5):
        model.train()
        running_loss = 0.0
        for xb, yb in train_loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * xb.size(0)
        test_loss, test_acc = evaluate(model, test_loader)
        print(f"epoch {epoch}: train loss {running_loss / len(train_loader.dataset):.4f}  "
              f"test loss {test_loss:.4f}  test acc {test_acc:.3f}")

    return {
        "num_params": num_params,
        "num_batches": len(train_loader),
        "test_loss": test_loss,
        "test_accuracy": test_acc,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
