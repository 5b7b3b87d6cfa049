"""A Transformer encoder classifier: Embedding -> nn.TransformerEncoder (batch_first) -> masked mean pool -> Linear.

Toy task: sequences of 4..8 tokens from {1, 2, 3} (0 is padding); the label is the most frequent token.
Dropout is 0 and the weights come from NumPy, so both frameworks must reach the same loss.
"""
import json
import math
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

PAD = 0


def numpy_init_(model, seed=0):
    """Overwrite every weight and bias from NumPy (uniform, PyTorch's fan-in bound), one stream per name."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            if p.dim() > 1:
                bound = 1.0 / math.sqrt(p.shape[1])
            elif name.endswith("bias"):
                bound = 0.1
            else:
                continue
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape)).astype(np.float32)))


class Classifier(nn.Module):
    def __init__(self, vocab_size=4, d_model=16, nhead=2, num_layers=2, num_classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead, dim_feedforward=32, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=num_layers)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, tokens):
        B, T = tokens.shape
        padding_mask = tokens == PAD                                    # (B, T), True where padded
        h = self.embed(tokens)                                          # (B, T, d_model)
        h = self.encoder(h, src_key_padding_mask=padding_mask)          # (B, T, d_model)
        keep = (~padding_mask).unsqueeze(-1).float()                    # (B, T, 1)
        pooled = (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)   # (B, d_model)
        return self.fc(pooled)                                          # (B, num_classes)


def make_data(rng, n, max_len=8):
    tokens = np.zeros((n, max_len), dtype=np.int64)
    labels = np.zeros(n, dtype=np.int64)
    for i in range(n):
        length = rng.integers(4, max_len + 1)
        seq = rng.integers(1, 4, size=length)
        tokens[i, :length] = seq
        labels[i] = np.argmax(np.bincount(seq, minlength=4)[1:])
    return torch.from_numpy(tokens), torch.from_numpy(labels)


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = Classifier()
    numpy_init_(model)
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    x_test, y_test = make_data(np.random.default_rng(1), 200)

    for step in range(50):
        model.train()
        x, y = make_data(rng, 32)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            print(f"step {step}: loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        logits = model(x_test)
        test_loss = F.cross_entropy(logits, y_test).item()
        test_acc = (logits.argmax(1) == y_test).float().mean().item()
    print(f"test loss {test_loss:.4f}  test acc {test_acc:.3f}")

    return {
        "final_train_loss": loss.item(),
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "num_params": sum(p.numel() for p in model.parameters()),
        "state_dict_keys": list(model.state_dict().keys()),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
