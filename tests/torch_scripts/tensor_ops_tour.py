"""The tensor operations tutorials and model code reach for next: splitting and joining, batched products,
einsum, cumulative and norm reductions, sorting and top-k, gather/scatter, one-hot and in-place updates.

Deterministic (inputs from NumPy): every value must match PyTorch's.
"""
import json

import numpy as np
import torch
import torch.nn.functional as F


def main():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((2, 3, 4)).astype(np.float32))
    m = torch.tensor(rng.standard_normal((4, 5)), dtype=torch.float32)
    labels = torch.tensor([2, 0, 1])
    out = {}

    # splitting and joining
    a, b = x.chunk(2, dim=-1)
    first, rest = torch.split(x, [1, 2], dim=1)
    out["chunk"] = [a.shape[-1], b.shape[-1], a.sum().item(), b.sum().item()]
    out["split"] = [list(first.shape), list(rest.shape), rest.mean().item()]
    out["unbind"] = [t.sum().item() for t in x.unbind(0)]
    out["repeat"] = list(m[:1].repeat(3, 2).shape)
    out["expand_as"] = m[:1].expand_as(m).sum(0).tolist()
    out["view_as"] = x[0].reshape(-1).view_as(x[0]).tolist() == x[0].tolist()
    out["flatten"] = list(x.flatten(1).shape)
    out["squeeze"] = list(x[:, :1].squeeze(1).shape)

    # products
    out["mm"] = x[0].mm(m).tolist()
    out["bmm"] = torch.bmm(x, x.transpose(1, 2)).tolist()
    out["matmul_broadcast"] = torch.matmul(x, m).sum(dim=(0, 1)).tolist()
    out["einsum"] = torch.einsum("bij,jk->bik", x, m).tolist()
    out["einsum_attention"] = torch.einsum("bqd,bkd->bqk", x, x).softmax(dim=-1).tolist()

    # reductions
    out["cumsum"] = x[0].cumsum(dim=1).tolist()
    out["prod"] = x[0, 0].prod().item()
    out["norm"] = [x.norm().item(), x.norm(dim=-1).tolist(), x.norm(p=1).item()]
    out["normalize"] = F.normalize(x[0], dim=1).tolist()
    out["amax"] = x.amax(dim=(1, 2)).tolist()
    out["mean_tuple"] = x.mean(dim=(0, 2)).tolist()
    out["var_unbiased_false"] = x.var(dim=1, unbiased=False).tolist()

    # sorting, top-k, selection
    values, indices = x[0].sort(dim=-1, descending=True)
    out["sort"] = [values.tolist(), indices.tolist()]
    top_values, top_indices = torch.topk(x[0], k=2, dim=-1)
    out["topk"] = [top_values.tolist(), top_indices.tolist()]
    out["argsort"] = x[1].argsort(dim=0).tolist()
    out["index_select"] = m.index_select(1, torch.tensor([4, 0])).tolist()
    out["nonzero"] = (m > 1).nonzero().tolist()
    out["masked_select"] = m.masked_select(m < -1).tolist()
    out["flip"] = x[0].flip(0).tolist()
    out["clamp"] = m.clamp(min=-0.5, max=0.5).tolist()

    # classification helpers
    logits = x[0]                                              # (3 samples, 4 classes)
    log_probs = F.log_softmax(logits, dim=1)
    out["nll"] = F.nll_loss(log_probs, labels).item()
    out["cross_entropy"] = F.cross_entropy(logits, labels).item()
    out["cross_entropy_smoothing"] = F.cross_entropy(logits, labels, label_smoothing=0.1).item()
    out["one_hot"] = F.one_hot(labels, num_classes=4).tolist()
    out["gather"] = log_probs.gather(1, labels.unsqueeze(1)).squeeze(1).tolist()
    pred = logits.argmax(dim=1, keepdim=True)                  # (3, 1)
    out["correct"] = pred.eq(labels.view_as(pred)).sum().item()

    # scatter and in-place updates
    counts = torch.zeros(4).scatter_add_(0, labels, torch.ones(3))
    out["scatter_add_"] = counts.tolist()
    filled = m.clone()
    filled.masked_fill_(filled < 0, 0.0)
    filled.clamp_(max=1.0)
    filled.mul_(2).add_(1)
    out["inplace_chain"] = filled.tolist()
    out["index_add"] = torch.zeros(3, 5).index_add_(0, torch.tensor([0, 2, 0]), m[:3]).tolist()

    # gradient through several of them
    w = m.clone().requires_grad_(True)
    y = torch.einsum("ij,jk->ik", x[0], w)                     # (3, 5)
    score = y.cumsum(dim=1).norm(dim=1) + y.topk(2, dim=1).values.sum(dim=1)
    loss = (score * torch.tensor([0.5, -1.0, 2.0])).sum()
    loss.backward()
    out["grad"] = w.grad.tolist()
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
