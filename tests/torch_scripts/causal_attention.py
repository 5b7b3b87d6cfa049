"""Causal self-attention written by hand, nanoGPT style, trained a few steps on a toy next-token task.

The block computes attention two ways — F.scaled_dot_product_attention(is_causal=True) and the explicit
masked_fill/softmax form — and they must agree. Weights come from NumPy, so the loss must match PyTorch's.
Toy task: the sequence counts up modulo the vocabulary (next token = current + 1), from a random start.
"""
import json
import math
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


def numpy_init_(model, seed=0):
    """Overwrite every weight and bias from NumPy (uniform, PyTorch's fan-in bound), one stream per name."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            if p.dim() > 1:
                bound = 1.0 / math.sqrt(p.shape[-1])
            elif name.endswith("bias"):
                bound = 0.1
            else:
                continue
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape)).astype(np.float32)))


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, flash=True):
        super().__init__()
        assert n_embd % n_head == 0
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head = n_head
        self.n_embd = n_embd
        self.flash = flash
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()  # batch, sequence length, embedding dim
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if self.flash:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, T, T)
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
            att = F.softmax(att, dim=-1)
            y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        return self.c_proj(y)


class TinyGPT(nn.Module):
    def __init__(self, vocab_size=8, n_embd=16, n_head=2, block_size=8):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx, targets=None):
        B, T = idx.size()
        pos = torch.arange(0, T, dtype=torch.long)                     # (T,)
        x = self.tok_emb(idx) + self.pos_emb(pos)                      # (B, T, C)
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        logits = self.lm_head(self.ln_f(x))                            # (B, T, vocab)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def get_batch(rng, batch_size=16, block_size=8, vocab_size=8):
    start = rng.integers(0, vocab_size, size=(batch_size, 1))
    seq = (start + np.arange(block_size + 1)) % vocab_size             # (B, T + 1)
    x = torch.from_numpy(seq[:, :-1].astype(np.int64))
    y = torch.from_numpy(seq[:, 1:].astype(np.int64))
    return x, y


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = TinyGPT()
    numpy_init_(model)
    optimizer = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)

    for step in range(30):
        xb, yb = get_batch(rng)
        logits, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            print(f"step {step}: loss {loss.item():.4f}")

    model.eval()
    xb, yb = get_batch(np.random.default_rng(1))
    with torch.no_grad():
        logits_flash, loss_flash = model(xb, yb)
        model.attn.flash = False
        logits_manual, loss_manual = model(xb, yb)
        accuracy = (logits_manual.argmax(dim=-1) == yb).float().mean().item()

    # the first position of a causal sequence sees only itself: changing a later token must not change it
    with torch.no_grad():
        changed = xb.clone()
        changed[:, -1] = (changed[:, -1] + 1) % 8
        logits_changed, _ = model(changed)
        prefix_unchanged = torch.allclose(logits_changed[:, :-1], logits_manual[:, :-1], atol=1e-6)

    return {
        "final_train_loss": loss.item(),
        "eval_loss": loss_flash.item(),
        "flash_vs_manual_max_diff": (logits_flash - logits_manual).abs().max().item(),
        "eval_accuracy": accuracy,
        "prefix_unchanged": prefix_unchanged,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
