"""Module API as fine-tuning code uses it: model.apply(init_fn) with nn.init, freezing a backbone
(requires_grad = False), an optimizer over the trainable parameters with per-group learning rates, named_modules /
named_parameters, ModuleList, register_buffer, partial load_state_dict(strict=False) and model.zero_grad().

Deterministic (nn.init.constant_/eye_ and NumPy data): the trained head must match PyTorch's.
"""
import json
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


def init_weights(m):
    if isinstance(m, nn.Linear):
        with torch.no_grad():
            rows, cols = m.weight.shape
            pattern = torch.arange(rows * cols, dtype=torch.float32).view(rows, cols)
            m.weight.copy_(torch.cos(pattern) / cols ** 0.5)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0.01)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class Backbone(nn.Module):
    def __init__(self, dims=(6, 16, 16)):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dims[i], dims[i + 1]) for i in range(len(dims) - 1)])
        self.norm = nn.LayerNorm(dims[-1])
        self.register_buffer("scale", torch.tensor(0.5))

    def forward(self, x):
        for layer in self.layers:
            x = F.gelu(layer(x))
        return self.norm(x) * self.scale


class Model(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Sequential(OrderedDict([
            ("fc", nn.Linear(16, 8)),
            ("act", nn.Tanh()),
            ("out", nn.Linear(8, num_classes)),
        ]))

    def forward(self, x):
        return self.head(self.backbone(x))


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((64, 6)).astype(np.float32))
    y = torch.from_numpy((X.numpy()[:, 0] > 0).astype(np.int64) + (X.numpy()[:, 1] > 1).astype(np.int64))

    pretrained = Model()
    pretrained.apply(init_weights)

    # a new model takes the backbone's weights only; the head stays as initialised
    model = Model(num_classes=3)
    model.apply(init_weights)
    nn.init.eye_(model.head.fc.weight)
    backbone_state = {k: v for k, v in pretrained.state_dict().items() if k.startswith("backbone.")}
    missing, unexpected = model.load_state_dict(backbone_state, strict=False)

    for param in model.backbone.parameters():
        param.requires_grad = False
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = optim.SGD([
        {"params": model.head.fc.parameters(), "lr": 0.05},
        {"params": model.head.out.parameters()},
    ], lr=0.2, momentum=0.5)

    for step in range(25):
        model.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()

    frozen_untouched = all(torch.equal(a, b) for a, b in zip(model.backbone.parameters(),
                                                                pretrained.backbone.parameters()))
    backbone_grads_none = all(p.grad is None for p in model.backbone.parameters())
    with torch.no_grad():
        accuracy = (model(X).argmax(1) == y).float().mean().item()

    return {
        "final_loss": loss.item(),
        "accuracy": accuracy,
        "missing_keys": sorted(missing),
        "unexpected_keys": list(unexpected),
        "num_trainable": sum(p.numel() for p in trainable),
        "num_total": sum(p.numel() for p in model.parameters()),
        "frozen_untouched": frozen_untouched,
        "backbone_grads_none": backbone_grads_none,
        "group_lrs": [group["lr"] for group in optimizer.param_groups],
        "module_names": [name for name, _ in model.named_modules()],
        "buffer_names": [name for name, _ in model.named_buffers()],
        "children": [type(child).__name__ for child in model.children()],
        "head_len": len(model.head),
        "head_first": type(model.head[0]).__name__,
        "fc_weight_row0": model.head.fc.weight[0].tolist(),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
