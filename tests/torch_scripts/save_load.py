"""Checkpointing: torch.save / torch.load of a model's and an optimizer's state_dict, and LR schedulers.

A run that is saved after a few steps and resumed into fresh objects must continue exactly as the run that never
stopped. The schedulers' learning-rate sequences must match PyTorch's formulas.
"""
import json
import math
import os
import tempfile
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import CosineAnnealingLR, StepLR


def numpy_init_(model, seed=0):
    """Overwrite every weight and bias from NumPy (uniform, PyTorch's fan-in bound), one stream per name."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            if p.dim() > 1:
                bound = 1.0 / math.sqrt(p.size(1))
            elif name.endswith("bias"):
                bound = 0.1
            else:
                continue  # BatchNorm's weight keeps its ones
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape)).astype(np.float32)))


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 16)
        self.norm = nn.BatchNorm1d(16)
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        return self.out(torch.tanh(self.norm(self.hidden(x))))


def make_model_and_optimizer():
    model = Regressor()
    numpy_init_(model)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    scheduler = StepLR(optimizer, step_size=3, gamma=0.5)
    return model, optimizer, scheduler


def train_steps(model, optimizer, scheduler, batches):
    model.train()
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    true_w = np.array([[1.5], [-2.0], [0.5]], dtype=np.float32)
    batches = []
    for _ in range(10):
        x = rng.standard_normal((16, 3)).astype(np.float32)
        batches.append((torch.from_numpy(x), torch.from_numpy(np.sin(x @ true_w))))

    # the run that never stops
    model, optimizer, scheduler = make_model_and_optimizer()
    straight_losses = train_steps(model, optimizer, scheduler, batches)

    # the run saved after 5 steps and resumed in fresh objects
    model, optimizer, scheduler = make_model_and_optimizer()
    first_losses = train_steps(model, optimizer, scheduler, batches[:5])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "checkpoint.pt")
        torch.save({
            "epoch": 5,
            "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "scheduler_state_dict": scheduler.state_dict(),
        }, path)
        weights_path = os.path.join(tmp, "model.pt")
        torch.save(model.state_dict(), weights_path)

        checkpoint = torch.load(path)
        resumed_model, resumed_optimizer, resumed_scheduler = make_model_and_optimizer()
        resumed_model.load_state_dict(checkpoint["model_state_dict"])
        resumed_optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        resumed_scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
        start_epoch = checkpoint["epoch"]

        weights_only = Regressor()
        weights_only.load_state_dict(torch.load(weights_path))

    state_keys = list(model.state_dict().keys())
    buffers_match = torch.equal(resumed_model.norm.running_mean, model.norm.running_mean)
    weights_only.eval()
    model.eval()
    probe = batches[0][0]
    with torch.no_grad():
        same_outputs = torch.equal(weights_only(probe), model(probe))
    lr_after_load = resumed_optimizer.param_groups[0]["lr"]
    momentum_keys = sorted(resumed_optimizer.state_dict()["state"][0].keys())

    resumed_losses = train_steps(resumed_model, resumed_optimizer, resumed_scheduler, batches[start_epoch:])

    # the learning-rate schedules on their own
    param = nn.Parameter(torch.zeros(2))
    opt = optim.SGD([param], lr=1.0)
    step_lr = StepLR(opt, step_size=2, gamma=0.1)
    step_lrs = []
    for epoch in range(6):
        opt.step()
        step_lr.step()
        step_lrs.append(step_lr.get_last_lr()[0])

    opt = optim.Adam([param], lr=0.1)
    cosine = CosineAnnealingLR(opt, T_max=5, eta_min=0.01)
    cosine_lrs = []
    for epoch in range(8):
        opt.step()
        cosine.step()
        cosine_lrs.append(opt.param_groups[0]["lr"])

    return {
        "straight_losses": straight_losses,
        "resumed_losses": first_losses + resumed_losses,
        "resume_is_exact": straight_losses == first_losses + resumed_losses,
        "state_dict_keys": state_keys,
        "buffers_match": buffers_match,
        "same_outputs": same_outputs,
        "lr_after_load": lr_after_load,
        "momentum_state_keys": momentum_keys,
        "step_lrs": step_lrs,
        "cosine_lrs": cosine_lrs,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
