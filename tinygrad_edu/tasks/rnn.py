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
from tinygrad_edu.tasks.early_stopping import EarlyStopping

DEFAULTS = {"steps": 3000, "batch_size": 64, "lr": 3e-3}
TUNABLE = ("lr", "batch_size", "seed", "early_stop")  # --resume: left out, they continue as saved (see RESUME_HELP)
EARLY_STOP_HELP = ("stop after PATIENCE evaluations (one every --steps/10 steps) without a lower MSE on the "
                   "validation sequences, and end with the best evaluation's weights (printed)")
TRIVIAL_MSE = 1.0 / 6.0  # variance of the sum of two independent U(0, 1) values
TEST_SEQUENCES = 1000
TEST_STREAM, VALIDATION_STREAM = 10**9, 10**9 + 1  # seeds of the held-out sequences, far from the batches' steps


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


def versus_baseline(test_mse):
    """How the test MSE compares with the trivial baseline, in words a reader can check."""
    baseline = f"the trivial baseline MSE {TRIVIAL_MSE:.4f} (always answering 1.0, the mean target)"
    ratio = TRIVIAL_MSE / max(test_mse, 1e-12)
    if ratio >= 1.5:
        return f"test MSE {ratio:.1f}x lower than {baseline}"
    # Until the network carries the first marked value to the end of the sequence, it can barely beat the mean.
    not_yet = ("the network has not yet learned to remember the first marked value, which takes more steps "
               f"(the default is {DEFAULTS['steps']})")
    if ratio >= 1.0:
        return f"test MSE only {ratio:.2f}x lower than {baseline}: {not_yet}"
    return f"test MSE above {baseline}: {not_yet}"


def run(args):
    checkpoint = common.prepare_resume(args, "rnn", "step", TUNABLE)
    common.seed_everything(args.seed)
    if args.length < 2:
        raise ValueError(f"train rnn: --length must be at least 2, got {args.length}")
    config = {"task": "rnn", "length": args.length, "hidden": args.hidden, "lr": args.lr, "batch_size": args.batch_size,
              "seed": args.seed, "early_stop": args.early_stop}
    model = SequenceRegressor(input_size=2, hidden_size=args.hidden).to(args.device)
    optimizer = tg.optim.Adam(model.parameters(), lr=args.lr)
    test_x, test_y = adding_problem(TEST_SEQUENCES, args.length, np.random.default_rng([args.seed, TEST_STREAM]))
    val_x, val_y = adding_problem(TEST_SEQUENCES, args.length, np.random.default_rng([args.seed, VALIDATION_STREAM]))
    start_step, log = 0, common.MetricLog(args.log)
    if checkpoint is not None:
        start_step = common.resume(args.resume, checkpoint, config, model, optimizer, log,
                                   must_match=("length", "hidden"))["step"]
    if not args.quiet:
        print(f"train rnn: adding problem, T={args.length}, hidden {args.hidden}, trivial baseline MSE {TRIVIAL_MSE:.4f}")
    progress = common.Progress(args.steps - start_step, "train rnn", args.quiet)
    stopper = EarlyStopping(args.early_stop, "validation MSE", "min", "step") if args.early_stop else None
    clock, step_done = common.Stopwatch(), start_step
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
        step_done = step + 1
        if step_done % evaluate_every == 0 or step_done == args.steps:
            val_mse = evaluate(model, val_x, val_y, args.device)
            progress.update(0, val_mse=val_mse)
            log.append(step=step_done, loss=loss.item(), val_mse=val_mse)
            if stopper is not None and stopper.should_stop(model, val_mse, step_done):
                break
    progress.close()
    wall = clock.elapsed()
    if stopper is not None:
        stopper.restore_best(model)
    test_mse = evaluate(model, test_x, test_y, args.device)
    if args.save:
        common.save_checkpoint(args.save, model, optimizer, {"step": step_done}, config, log.rows)
    if args.plot and log.rows:
        # the training loss is the MSE of the last batch: one panel with the validation MSE
        common.plot_metrics(log.rows, args.plot, "step", "train rnn",
                            panel_of={"loss": ("MSE", "train (last batch)"), "val_mse": ("MSE", "validation")})
    print(common.summary_line("train rnn", "test MSE", test_mse, wall, step_done - start_step, args.device)
          + f" | {versus_baseline(test_mse)}")
    return {"test_mse": test_mse, "trivial_mse": TRIVIAL_MSE, "steps": step_done, "wall": wall, "log": log.rows}
