"""The `tinygrad-edu` command line (also `python -m tinygrad_edu`)."""
import argparse
import sys
import time

import numpy as np

import tinygrad_edu as tg


def run_demo(args):
    """Train a 2-16-1 MLP on a toy problem with plain SGD, then gradcheck it: autograd end to end in seconds."""
    tg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    points = rng.standard_normal((128, 2)).astype(np.float32)
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.float32)[:, None]  # which quadrant pair: not linear
    inputs, targets = tg.Tensor(points), tg.Tensor(labels)
    w1 = (tg.randn(2, 16) * 0.5).detach().requires_grad_()
    b1 = tg.zeros(16, requires_grad=True)
    w2 = (tg.randn(16, 1) * 0.5).detach().requires_grad_()
    b2 = tg.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]

    def forward(x, first_w, first_b, second_w, second_b):
        hidden = (x @ first_w + first_b).tanh()
        return (hidden @ second_w + second_b).sigmoid()

    print(f"demo: training a 2-16-1 MLP with SGD on {len(points)} points (backend {tg.get_backend()})")
    start = time.perf_counter()
    for step in range(args.steps + 1):
        loss = ((forward(inputs, *params) - targets) ** 2).mean()
        for p in params:
            p.zero_grad()
        loss.backward()
        with tg.no_grad():
            for p in params:
                p.data -= args.lr * p.grad.data
        if step % max(args.steps // 10, 1) == 0:
            accuracy = float(((forward(inputs, *params).numpy() > 0.5) == (labels > 0.5)).mean())
            print(f"  step {step:4d}  loss {loss.item():.4f}  accuracy {accuracy:.2%}")
    print(f"trained in {time.perf_counter() - start:.2f} s")
    small_batch = tg.Tensor(points[:4].astype(np.float64))
    tg.gradcheck(lambda *ps: forward(small_batch, *ps), *[p.detach() for p in params])
    print("gradcheck: analytic gradients of all 4 parameters match finite differences (float64) - passed")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="tinygrad-edu", description="A small deep learning engine: train, check, benchmark.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a tiny MLP and run a gradcheck (a few seconds)")
    demo.add_argument("--steps", type=int, default=300, help="SGD steps (default 300)")
    demo.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(handler=run_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
