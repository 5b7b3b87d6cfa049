"""`tinygrad-edu explain NAME`: build one small graph, run backward on it, and show what happened.

    tinygrad-edu explain mlp                      # what the example computes and the gradients it got
    tinygrad-edu explain mlp --trace              # every op of the backward pass, in order, with its rule
    tinygrad-edu explain mlp --trace --values     # ... with every gradient's values, not only the small ones
    tinygrad-edu explain conv --dot conv.dot      # the graph as Graphviz DOT text
    tinygrad-edu explain rnn --render rnn.svg     # the graph drawn (needs Graphviz's `dot` on PATH)

Each example is a function that returns the loss and the tensors worth naming; the tutorial in docs/ walks
through the same graphs with the math written out. Gradients with at most 16 elements are printed by value (to
check against a calculation by hand), larger ones by norm; `--values` prints the values of all of them.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu import viz
from tinygrad_edu.autograd import run_backward
from tinygrad_edu.nn import functional as F
from tinygrad_edu.trace import AUTO_VALUES_MAX_ELEMENTS, BackwardTrace, format_values


def _mlp():
    """A 3-5-1 MLP with tanh and a mean-squared error: matmul, bias add, tanh, and the loss, end to end."""
    x = tg.randn(4, 3)
    target = tg.randn(4, 1)
    w1 = tg.randn(3, 5, requires_grad=True)
    b1 = tg.zeros(5, requires_grad=True)
    w2 = tg.randn(5, 1, requires_grad=True)
    b2 = tg.zeros(1, requires_grad=True)
    hidden = (x @ w1 + b1).tanh()                  # (4, 5)
    prediction = hidden @ w2 + b2                  # (4, 1)
    loss = ((prediction - target) ** 2).mean()
    return loss, {"x": x, "target": target, "W1": w1, "b1": b1, "W2": w2, "b2": b2}


def _broadcast():
    """A bias added to a batch: b (3,) is copied to every row, so its gradient is the sum over the rows."""
    x = tg.randn(4, 3, requires_grad=True)
    b = tg.randn(3, requires_grad=True)
    weights = tg.randn(4, 3)
    loss = ((x + b) * weights).sum()
    return loss, {"x": x, "b": b, "c": weights}


def _softmax():
    """Fused softmax + cross-entropy: d(loss)/d(logits) = (softmax(logits) - onehot(target)) / N."""
    logits = tg.randn(3, 4, requires_grad=True)
    target = tg.tensor(np.array([0, 3, 1]))
    loss = F.cross_entropy(logits, target)
    return loss, {"logits": logits}


def _conv():
    """conv2d -> relu -> 2x2 max pool -> mean: the conv backward is im2col, the pool backward routes to the max."""
    image = tg.randn(1, 1, 6, 6)
    kernel = tg.randn(2, 1, 3, 3, requires_grad=True)
    bias = tg.zeros(2, requires_grad=True)
    features = F.conv2d(image, kernel, bias, padding=1).relu()   # (1, 2, 6, 6)
    pooled = F.max_pool2d(features, 2)                           # (1, 2, 3, 3)
    loss = pooled.mean()
    return loss, {"image": image, "kernel": kernel, "bias": bias}


def _rnn():
    """Three steps of a tanh RNN cell sharing W_ih and W_hh: backprop through time adds each step's gradient."""
    hidden_size, input_size = 4, 2
    w_ih = (tg.randn(hidden_size, input_size) * 0.5).detach().requires_grad_()
    w_hh = (tg.randn(hidden_size, hidden_size) * 0.5).detach().requires_grad_()
    h = tg.zeros(1, hidden_size)
    names = {"W_ih": w_ih, "W_hh": w_hh, "h0": h}
    for step in range(3):
        x = tg.randn(1, input_size)
        names[f"x{step}"] = x
        h = F.rnn_tanh_cell(x, h, w_ih, w_hh)
    loss = h.sum()
    return loss, names


EXAMPLES = {
    "mlp": _mlp,
    "broadcast": _broadcast,
    "softmax": _softmax,
    "conv": _conv,
    "rnn": _rnn,
}


def build(name, seed=0):
    """(loss, names) of example `name`, with the random tensors drawn from `seed`; backward not run yet."""
    if name not in EXAMPLES:
        raise ValueError(f"explain: unknown example {name!r}; choose one of {sorted(EXAMPLES)}")
    tg.manual_seed(seed)
    return EXAMPLES[name]()


def add_parser(subparsers):
    """Register `explain` on the `add_subparsers()` object of the tinygrad-edu parser."""
    parser = subparsers.add_parser(
        "explain",
        help="run backward on a small example graph and show it (trace, DOT text, picture)",
        description="Build a small example graph, run backward, and show the gradients, the backward trace and the graph.",
    )
    parser.add_argument("name", choices=sorted(EXAMPLES), help="which example graph")
    parser.add_argument("--trace", action="store_true", help="print every op of the backward pass with its rule")
    parser.add_argument("--values", action="store_true",
                        help=f"print the values of every gradient (default: only of those with at most "
                             f"{AUTO_VALUES_MAX_ELEMENTS} elements; larger ones by norm)")
    parser.add_argument("--dot", metavar="PATH", help="write the graph as Graphviz DOT text to PATH")
    parser.add_argument("--render", metavar="PATH", help="draw the graph to PATH (.svg, .png or .pdf; needs Graphviz `dot`)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """The `explain` command: returns the exit status (0, or 1 when --render cannot draw)."""
    loss, names = build(args.name, args.seed)
    print(f"explain {args.name}: {EXAMPLES[args.name].__doc__}")
    print(f"loss = {loss.item():.6g}")
    tracer = BackwardTrace(names=names, values=True if getattr(args, "values", False) else "auto")
    # run_backward takes the tracer directly, so this works whatever Tensor.backward does with `trace`.
    run_backward(loss, trace=tracer)
    print("gradients of the leaves that require grad:")
    for name, tensor in names.items():
        if tensor.grad is not None:
            grad = tensor.grad.numpy()
            print(f"  {name:<8} shape {str(tensor.shape):<14} grad norm {float(np.linalg.norm(grad)):.4g}")
            if tracer.shows_values(grad):
                print("\n".join(f"           {line}" for line in format_values(grad)))
    if args.trace:
        print()
        print(tracer.table())
    dot_text = viz.graph(loss, names={**names, "loss": loss}, title=f"tinygrad-edu explain {args.name}")
    if args.dot:
        with open(args.dot, "w") as handle:
            handle.write(dot_text)
        print(f"wrote the graph as DOT text to {args.dot}")
    if args.render:
        try:
            viz.render(dot_text, args.render)
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"drew the graph to {args.render}")
    if not (args.trace or args.dot or args.render):
        print("(add --trace to see each backward step, --dot PATH or --render PATH for the graph)")
    return 0
