"""`tinygrad-edu train rnn`: a tanh RNN on the adding problem, a task that needs memory.

Each sequence has T steps of two features: a random value in [0, 1] and a marker that is 1 at exactly two
steps (one in each half). The target is the sum of the two marked values, so the network must remember the
first marked value until the end. Always answering 1.0 (the mean) gives MSE ≈ 1/6: the trivial baseline.
"""
import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.models import SequenceRegressor
from tinygrad_edu.nn import functional as F
from tinygrad_edu.tasks import common

DEFAULTS = {"steps": 3000, "batch_size": 64, "lr": 3e-3}
TRIVIAL_MSE = 1.0 / 6.0  # variance of the sum of two independent U(0, 1) values
TEST_SEQUENCES = 1000


def configure(parser):
    parser.add_argument("--length", type=int, default=20, help="sequence length T (default 20)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden size (default 64)")


def adding_problem(batch_size, length, rng):
    """(sequences (N, T, 2) float32, targets (N, 1) float32)."""
    values = rng.random((batch_size, length)).astype(np.float32)
    markers = np.zeros((batch_size, length), dtype=np.float32)
    half = length // 2
    rows = np.arange(batch_size)
    first = rng.integers(0, half, batch_size)
    second = rng.integers(half, length, batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = (values[rows, first] + values[rows, second])[:, None]
    return np.stack([values, markers], axis=-1), targets.astype(np.float32)


@tg.no_grad()
def evaluate(model, sequences, targets, device="cpu"):
    predictions = model(tg.Tensor(sequences, device=device))
    return float(F.mse_loss(predictions, tg.Tensor(targets, device=device)).item())


def run(args):
    common.seed_everything(args.seed)
    if args.length < 2:
        raise ValueError(f"train rnn: --length must be at least 2, got {args.length}")
    config = {"task": "rnn", "length": args.length, "hidden": args.hidden, "lr": args.lr, "seed": args.seed}
    model = SequenceRegressor(input_size=2, hidden_size=args.hidden).to(args.device)
    optimizer = tg.optim.Adam(model.parameters(), lr=args.lr)
    test_x, test_y = adding_problem(TEST_SEQUENCES, args.length, np.random.default_rng([args.seed, 10**9]))
    start_step, log = 0, common.MetricLog(args.log)
    if args.resume:
        start_step = common.resume(args.resume, config, model, optimizer, log, must_match=("length", "hidden"))["step"]
    if not args.quiet:
        print(f"train rnn: adding problem, T={args.length}, hidden {args.hidden}, trivial baseline MSE {TRIVIAL_MSE:.4f}")
    progress = common.Progress(args.steps - start_step, "train rnn", args.quiet)
    clock = common.Stopwatch()
    evaluate_every = max(args.steps // 10, 1)
    for step in range(start_step, args.steps):
        # Batch `step` is drawn from (seed, step), so a resumed run sees the same batches.
        sequences, targets = adding_problem(args.batch_size, args.length, np.random.default_rng([args.seed, step]))
        loss = F.mse_loss(model(tg.Tensor(sequences, device=args.device)), tg.Tensor(targets, device=args.device))
        optimizer.zero_grad()
        loss.backward()
        tg.optim.clip_grad_norm_(model.parameters(), 1.0)  # tanh RNNs see occasional exploding gradients
        optimizer.step()
        progress.update(loss=loss.item())
        if (step + 1) % evaluate_every == 0 or step + 1 == args.steps:
            test_mse = evaluate(model, test_x, test_y, args.device)
            progress.update(0, test_mse=test_mse)
            log.append(step=step + 1, loss=loss.item(), test_mse=test_mse)
    progress.close()
    wall = clock.elapsed()
    test_mse = evaluate(model, test_x, test_y, args.device)
    if args.save:
        common.save_checkpoint(args.save, model, optimizer, {"step": args.steps}, config, log.rows)
    if args.plot and log.rows:
        common.plot_metrics(log.rows, args.plot, "step", "train rnn")
    print(common.summary_line("train rnn", "test MSE", test_mse, wall, args.steps - start_step, args.device)
          + f" | trivial baseline MSE {TRIVIAL_MSE:.4f} ({TRIVIAL_MSE / max(test_mse, 1e-12):.1f}x lower)")
    return {"test_mse": test_mse, "trivial_mse": TRIVIAL_MSE, "wall": wall, "log": log.rows}
