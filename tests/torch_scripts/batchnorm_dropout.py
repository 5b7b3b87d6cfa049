"""BatchNorm + Dropout MLP on a 3-class spiral: train()/eval() switching, AdamW with weight decay, a cosine LR
schedule and early stopping that restores the best weights.

Dropout masks and shuffling come from each framework's own random stream, so the paths differ: compare the
validation accuracy the two reach.
"""
import copy
import json

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset


def make_spiral(n_per_class=100, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((n_per_class * num_classes, 2), dtype=np.float32)
    y = np.zeros(n_per_class * num_classes, dtype=np.int64)
    for c in range(num_classes):
        ix = range(n_per_class * c, n_per_class * (c + 1))
        r = np.linspace(0.0, 1, n_per_class)
        t = np.linspace(c * 4, (c + 1) * 4, n_per_class) + rng.standard_normal(n_per_class) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = c
    return X, y


def main():
    torch.manual_seed(0)
    X, y = make_spiral()
    perm = np.random.default_rng(1).permutation(len(X))
    X, y = X[perm], y[perm]
    X_train, y_train = torch.from_numpy(X[:240]), torch.from_numpy(y[:240])
    X_val, y_val = torch.from_numpy(X[240:]), torch.from_numpy(y[240:])
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True)

    model = nn.Sequential(
        nn.Linear(2, 64),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(64, 64),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Dropout(p=0.1),
        nn.Linear(64, 3),
    )
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.AdamW(model.parameters(), lr=0.02, weight_decay=1e-2)
    epochs = 30
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    best_val_loss = float("inf")
    best_state = None
    patience, bad_epochs = 6, 0
    history = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        scheduler.step()

        model.eval()
        with torch.no_grad():
            val_logits = model(X_val)
            val_loss = criterion(val_logits, y_val).item()
            val_acc = (val_logits.argmax(dim=1) == y_val).float().mean().item()
        history.append(val_loss)
        if val_loss < best_val_loss - 1e-4:
            best_val_loss = val_loss
            best_state = copy.deepcopy(model.state_dict())
            bad_epochs = 0
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                print(f"early stop at epoch {epoch}")
                break
        if epoch % 5 == 0:
            print(f"epoch {epoch}: val loss {val_loss:.4f} val acc {val_acc:.3f} lr {scheduler.get_last_lr()[0]:.5f}")

    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        logits = model(X_val)
        restored_loss = criterion(logits, y_val).item()
        accuracy = (logits.argmax(dim=1) == y_val).float().mean().item()
        # in eval mode the network is deterministic and BatchNorm uses its running statistics
        repeat_equal = torch.equal(model(X_val), logits)
    model.train()
    with torch.no_grad():
        train_mode_differs = not torch.equal(model(X_val), logits)

    return {
        "best_val_loss": best_val_loss,
        "restored_val_loss": restored_loss,
        "restored_matches_best": abs(restored_loss - best_val_loss) < 1e-5,
        "val_accuracy": accuracy,
        "eval_is_deterministic": repeat_equal,
        "train_mode_differs": train_mode_differs,
        "num_batches_tracked": model[1].num_batches_tracked.item() > 0,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
