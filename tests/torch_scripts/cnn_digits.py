"""A small CNN (Conv2d, MaxPool2d, Flatten, Linear) on 8x8 digits, SGD with momentum and a StepLR schedule.

The weights are set from a NumPy stream keyed by each parameter's name and the batches come in a fixed order,
so both frameworks run the same computation: the final loss must agree to float32 rounding.
"""
import json
import math
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset


def numpy_init_(model, seed=0):
    """Overwrite every weight and bias from NumPy (He uniform, as nn.init.kaiming_uniform_ for ReLU), one
    stream per name."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            if p.dim() > 1:
                bound = math.sqrt(6.0 / p[0].numel())
            elif name.endswith("bias"):
                bound = 0.1
            else:
                continue
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape)).astype(np.float32)))


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),   # (B, 8, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),                             # (B, 8, 4, 4)
            nn.Conv2d(8, 16, kernel_size=3, padding=1),  # (B, 16, 4, 4)
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),       # (B, 16, 2, 2)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                # (B, 64)
            nn.Linear(16 * 2 * 2, 32),
            nn.ReLU(),
            nn.Linear(32, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    torch.manual_seed(0)
    digits = load_digits()
    images = ((digits.images - 4.9) / 6.0).astype(np.float32)[:, None, :, :]  # standardised, (N, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    X_train, y_train = torch.from_numpy(images[:1200]), torch.from_numpy(labels[:1200])
    X_test, y_test = torch.from_numpy(images[1200:]), torch.from_numpy(labels[1200:])
    train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=50, shuffle=False)

    model = Net()
    numpy_init_(model)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

    lrs = []
    for epoch in range(4):
        model.train()
        epoch_loss = 0.0
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            output = model(data)
            loss = criterion(output, target)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item()
            if batch_idx % 10 == 0:
                print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)} "
                      f"({100. * batch_idx / len(train_loader):.0f}%)]\tLoss: {loss.item():.6f}")
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
        print(f"epoch {epoch}: loss {epoch_loss / len(train_loader):.4f}  lr {scheduler.get_last_lr()[0]:.4f}")

    # evaluation as in PyTorch's MNIST example
    test_loader = DataLoader(TensorDataset(X_test, y_test), batch_size=200)
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            test_loss += F.cross_entropy(output, target, reduction="sum").item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # index of the max logit
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    accuracy = correct / len(test_loader.dataset)
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(test_loader.dataset)} "
          f"({100. * correct / len(test_loader.dataset):.0f}%)")

    return {
        "lrs": lrs,
        "last_train_loss": loss.item(),
        "test_loss": test_loss,
        "test_accuracy": accuracy,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
