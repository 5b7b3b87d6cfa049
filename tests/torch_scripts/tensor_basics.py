"""Tensors and autograd basics: creation, broadcasting, indexing, reductions, comparisons and gradients.

Deterministic (no random numbers): every value must match PyTorch's.
"""
import json

import torch


def main():
    # ----- creation and dtypes
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    ints = torch.arange(6).reshape(2, 3)
    zeros = torch.zeros(2, 3)
    ones = torch.ones_like(a)
    full = torch.full((2, 3), 0.5)
    print(a.dtype, ints.dtype, a.shape, a.size(), a.size(0), a.size(-1), a.dim(), a.ndim, a.numel())

    # ----- broadcasting and arithmetic
    col = torch.tensor([[10.0], [20.0]])           # (2, 1)
    row = torch.tensor([1.0, 0.0, -1.0])           # (3,)
    broadcast = a * row + col                      # (2, 3)
    mixed = ints * 2 + 1                           # stays int64
    scaled = a / 2 - full + zeros + ones
    powered = a ** 2 - torch.sqrt(a) + torch.exp(-a) * torch.log(a)

    # ----- indexing and slicing
    first_row = a[0]
    last_col = a[:, -1]
    picked = a[1, 1:]
    fancy = a[[1, 0], [2, 0]]
    mask = a > 2.5
    selected = a[mask]
    x = a.clone()
    x[0, 0] = 100.0
    x[:, 1] = torch.tensor([7.0, 8.0])

    # ----- reductions with dim= / keepdim=
    total = a.sum()
    per_col = a.sum(dim=0)
    per_row_mean = a.mean(dim=1, keepdim=True)
    row_max_values, row_max_indices = a.max(dim=1)
    col_min = a.min(dim=0).values
    argmax_flat = a.argmax()
    argmax_rows = a.argmax(dim=1)
    std_cols = a.std(dim=0)
    var_all = a.var()
    softmax_rows = torch.softmax(a, dim=1)
    logsumexp_rows = torch.logsumexp(a, dim=1)

    # ----- comparisons give bool tensors
    equal = a == torch.tensor([[1.0, 0.0, 3.0], [0.0, 5.0, 0.0]])
    not_equal = a != 4.0
    fraction_equal = equal.float().mean().item()
    any_big = (a > 5).any().item()
    all_positive = (a > 0).all().item()
    count_big = (a >= 3).sum().item()
    where = torch.where(a > 3, a, torch.zeros_like(a))

    # ----- shape manipulation
    viewed = a.view(3, 2)
    flat = a.view(-1)
    transposed = a.t()
    unsqueezed = row.unsqueeze(0)
    stacked = torch.stack([a, a * 2], dim=0)
    catted = torch.cat([a, a], dim=1)
    permuted = stacked.permute(2, 0, 1)

    # ----- autograd
    w = torch.tensor([0.5, -1.0, 0.2], requires_grad=True)
    b = torch.tensor(0.25, requires_grad=True)
    y = (a @ w + b).tanh()                          # (2,)
    loss = (y ** 2).sum() + (w * w).mean()
    loss.backward()
    w_grad = w.grad.tolist()
    b_grad = b.grad.item()

    # gradients accumulate until zeroed
    loss2 = (w.sum() * 3)
    loss2.backward()
    w_grad_accumulated = w.grad.tolist()
    w.grad.zero_()
    w_grad_zeroed = w.grad.tolist()

    # no_grad and detach cut the graph
    with torch.no_grad():
        no_grad_out = w * 2
    detached = (w * 3).detach()
    leaf = torch.ones(3)
    leaf.requires_grad_()
    (leaf * torch.tensor([1.0, 2.0, 3.0])).sum().backward()

    return {
        "dtypes": [
            a.dtype == torch.float32,
            ints.dtype == torch.int64,
            mixed.dtype == torch.long,
            equal.dtype == torch.bool,
            a.double().dtype == torch.float64,
            a.float().dtype == torch.float,
        ],
        "shape": list(a.shape),
        "size": list(a.size()),
        "size0": a.size(0),
        "size_last": a.size(-1),
        "dim": a.dim(),
        "numel": a.numel(),
        "broadcast": broadcast.tolist(),
        "mixed": mixed.tolist(),
        "scaled": scaled.tolist(),
        "powered": powered.tolist(),
        "first_row": first_row.tolist(),
        "last_col": last_col.tolist(),
        "picked": picked.tolist(),
        "fancy": fancy.tolist(),
        "selected": selected.tolist(),
        "assigned": x.tolist(),
        "total": total.item(),
        "per_col": per_col.tolist(),
        "per_row_mean": per_row_mean.tolist(),
        "row_max_values": row_max_values.tolist(),
        "row_max_indices": row_max_indices.tolist(),
        "col_min": col_min.tolist(),
        "argmax_flat": argmax_flat.item(),
        "argmax_rows": argmax_rows.tolist(),
        "std_cols": std_cols.tolist(),
        "var_all": var_all.item(),
        "softmax_rows": softmax_rows.tolist(),
        "logsumexp_rows": logsumexp_rows.tolist(),
        "equal": equal.tolist(),
        "not_equal": not_equal.tolist(),
        "fraction_equal": fraction_equal,
        "any_big": any_big,
        "all_positive": all_positive,
        "count_big": count_big,
        "where": where.tolist(),
        "viewed": viewed.tolist(),
        "flat": flat.tolist(),
        "transposed": transposed.tolist(),
        "unsqueezed_shape": list(unsqueezed.shape),
        "stacked_shape": list(stacked.shape),
        "catted": catted.tolist(),
        "permuted_shape": list(permuted.shape),
        "permuted": permuted.tolist(),
        "loss": loss.item(),
        "y_requires_grad": y.requires_grad,
        "w_grad": w_grad,
        "b_grad": b_grad,
        "w_grad_accumulated": w_grad_accumulated,
        "w_grad_zeroed": w_grad_zeroed,
        "no_grad_requires_grad": no_grad_out.requires_grad,
        "detached_requires_grad": detached.requires_grad,
        "w_is_leaf": w.is_leaf,
        "y_is_leaf": y.is_leaf,
        "leaf_grad": leaf.grad.tolist(),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
