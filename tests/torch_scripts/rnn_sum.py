"""A sequence task with nn.RNN (batch_first): predict the (scaled) sum of a sequence of numbers.

Weights come from NumPy and the batches are fixed, so both frameworks must reach the same loss.
"""
import json
import math
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def numpy_init_(model, seed=0):
    """Overwrite every weight and bias from NumPy (uniform, PyTorch's fan-in bound), one stream per name."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            if p.dim() > 1:
                bound = 1.0 / math.sqrt(p.size(1))
            elif name.endswith("bias") or "bias_" in name:
                bound = 0.1
            else:
                continue
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape)).astype(np.float32)))


class SumRNN(nn.Module):
    def __init__(self, hidden_size=16, num_layers=2):
        super().__init__()
        self.rnn = nn.RNN(input_size=1, hidden_size=hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        # x: (B, T, 1)
        out, h_n = self.rnn(x)          # out: (B, T, H), h_n: (num_layers, B, H)
        last = out[:, -1, :]            # (B, H)
        assert torch.allclose(last, h_n[-1])
        return self.head(last).squeeze(-1)   # (B,)


def make_batch(rng, batch_size=32, seq_len=8):
    x = rng.uniform(-1, 1, size=(batch_size, seq_len, 1)).astype(np.float32)
    y = x.sum(axis=(1, 2)) / math.sqrt(seq_len)
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = SumRNN()
    numpy_init_(model)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()

    losses = []
    for step in range(60):
        x, y = make_batch(rng)
        pred = model(x)
        loss = loss_fn(pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 20 == 0:
            print(f"step {step}: loss {loss.item():.4f}")

    model.eval()
    x_test, y_test = make_batch(np.random.default_rng(1), batch_size=256)
    with torch.no_grad():
        test_mse = loss_fn(model(x_test), y_test).item()
        # one explicit initial hidden state, as in the docs: h0 of shape (num_layers, B, H)
        h0 = torch.zeros(2, x_test.size(0), 16)
        out, _ = model.rnn(x_test, h0)
        with_h0 = model.head(out[:, -1]).squeeze(-1)
        h0_matches = torch.allclose(with_h0, model(x_test), atol=1e-6)
    print(f"test mse {test_mse:.5f}")

    return {
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "mean_last10": sum(losses[-10:]) / 10,
        "test_mse": test_mse,
        "h0_matches": h0_matches,
        "param_names": [name for name, _ in model.named_parameters()],
    }


if __name__ == "__main__":
    print(json.dumps(main()))
