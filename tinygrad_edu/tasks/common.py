"""What every training command shares: seeding, progress bars, metric logs, plots, checkpoints, the summary line."""
import contextlib
import csv
import importlib
import json
import os
import sys
import time

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu.summary import summary_at_first_forward
from tinygrad_edu.tensor import default_generator


def seed_everything(seed):
    """Seed the engine's generator (init, dropout) and return a NumPy generator for data order and exploration."""
    tg.manual_seed(seed)
    return np.random.default_rng(seed)


class Progress:
    """A tqdm bar when tqdm is installed (the `models` extra), else a line every 10%. `quiet` prints nothing.

    The bar appears after the first step, so its rate and ETA count from step 2 on: the first step is the one
    that compiles kernels on a cold cache (seconds instead of milliseconds) and would make the ETA extrapolate
    from it. `formats` gives a metric its own format (e.g. {"eval_return": ".2f"}); others use ".4g".
    """

    def __init__(self, total, description, quiet=False, formats=None):
        self.total, self.description, self.quiet = total, description, quiet
        self.formats = dict(formats or {})
        self.count, self.next_report, self.postfix = 0, 0.1, {}
        self.bar = None
        self.tqdm = None
        if not quiet:
            announce_kernel_compilation(description.removeprefix("train "))
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            self.tqdm = tqdm

    def _shown(self, name, value):
        return format(value, self.formats.get(name, ".4g"))

    def update(self, steps=1, **metrics):
        self.count += steps
        self.postfix.update(metrics)
        if self.tqdm is not None:
            if self.bar is None and self.count > 0:
                self.bar = self.tqdm(total=self.total, initial=self.count, desc=self.description, unit="step",
                                     dynamic_ncols=True, file=sys.stderr)
            elif self.bar is not None:
                self.bar.update(steps)
            if self.bar is not None and self.postfix:
                self.bar.set_postfix({k: self._shown(k, v) for k, v in self.postfix.items()}, refresh=False)
        elif not self.quiet and self.total and self.count / self.total >= self.next_report:
            shown = " ".join(f"{k} {self._shown(k, v)}" for k, v in self.postfix.items())
            print(f"{self.description}: {self.count}/{self.total} {shown}", file=sys.stderr)
            self.next_report += 0.1

    def close(self):
        if self.bar is not None:
            self.bar.close()


COMPILE_NOTICE = "compiling kernels (first run only) ..."


def announce_kernel_compilation(task):
    """Print COMPILE_NOTICE when the Numba CPU kernels `task` uses will compile before the first step (their on-disk
    cache is cold), so that a first step of seconds is explained. Nothing with the NumPy backend, or when warm."""
    if tg.get_backend() != "cpu" or kernel_cache_is_warm(task):
        return
    print(COMPILE_NOTICE, file=sys.stderr, flush=True)


def kernel_cache_is_warm(task):
    """Whether the kernel families `task` calls are compiled in the on-disk cache (tinygrad_edu.kernel_cache), and
    not still being compiled by the worker processes `train` started (tinygrad_edu.precompile)."""
    precompile = sys.modules.get("tinygrad_edu.precompile")
    if precompile is not None and precompile.is_compiling(task):
        return False
    kernel_cache = importlib.import_module("tinygrad_edu.kernel_cache")  # looked up at call time, so tests can fake it
    return kernel_cache.is_warm(kernel_cache.FAMILIES_BY_TASK.get(task))


class MetricLog:
    """Rows of metrics kept in memory (for plots) and, with a path, appended to CSV or JSON lines by extension."""

    def __init__(self, path=None, rows=None):
        self.path = path
        self.rows = list(rows or [])
        if path is not None:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise FileNotFoundError(f"--log: directory {directory} does not exist")
            self.format = "csv" if path.endswith(".csv") else "jsonl"
            with open(path, "w", encoding="utf-8"):
                pass  # start a fresh log

    def append(self, **row):
        self.rows.append(row)
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8", newline="") as handle:
            if self.format == "jsonl":
                handle.write(json.dumps(row) + "\n")
            else:
                writer = csv.DictWriter(handle, fieldnames=list(row))
                if handle.tell() == 0:
                    writer.writeheader()
                writer.writerow(row)


SPLIT_LABELS = {"train": "train", "val": "validation", "test": "test"}


def curve_panels(rows, x_key, extra_series=(), panel_of=None):
    """The curves `plot_metrics` draws: {panel title: [(label, xs, ys), ...]}, in first-seen order.

    A metric logged for several splits shares one panel, so a validation curve is seen against the training one:
    `loss` (the training loss) or `train_X` is labelled "train", `val_X` "validation", `test_X` "test", and all
    land on panel X ("loss" for the loss). Any other numeric key is a panel of its own, unless `panel_of` maps it
    to (panel, label). `extra_series` adds (panel, label, xs, ys) curves that are not log columns (e.g. the return
    of every training episode). Rows without a key are skipped for that key.

    >>> curve_panels([{"epoch": 1, "loss": 0.9, "val_loss": 1.0}, {"epoch": 2, "loss": 0.5, "val_loss": 0.7}], "epoch")
    {'loss': [('train', [1, 2], [0.9, 0.5]), ('validation', [1, 2], [1.0, 0.7])]}
    """
    panel_of = dict(panel_of or {})
    panels = {}
    keys = []
    for row in rows:
        keys += [k for k, v in row.items() if k != x_key and k not in keys and isinstance(v, (int, float))]
    for key in keys:
        prefix, _, rest = key.partition("_")
        if key in panel_of:
            panel, label = panel_of[key]
        elif key == "loss":
            panel, label = "loss", "train"
        elif prefix in SPLIT_LABELS and rest:
            panel, label = rest, SPLIT_LABELS[prefix]
        else:
            panel, label = key, key
        points = [(row[x_key], row[key]) for row in rows if key in row and x_key in row]
        panels.setdefault(panel, []).append((label, [x for x, _ in points], [y for _, y in points]))
    for panel, label, xs, ys in extra_series:
        panels.setdefault(panel, []).append((label, list(xs), list(ys)))
    return panels


def plot_metrics(rows, path, x_key, title, extra_series=(), panel_of=None):
    """Training curves as a PNG, one panel per metric with its train/validation/test curves together (see
    `curve_panels`); needs matplotlib, the `plot` extra. Returns the panels drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'tinygrad_edu[plot]'") from None
    panels = curve_panels(rows, x_key, extra_series, panel_of)
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False)
    for axis, (panel, curves) in zip(axes[0], panels.items()):
        for label, xs, ys in curves:
            # A line needs two points; a single evaluation is drawn as a dot.
            axis.plot(xs, ys, label=label, marker="o" if len(xs) < 2 else None)
        axis.set_xlabel(x_key)
        axis.set_title(panel)
        axis.grid(alpha=0.3)
        if len(curves) > 1:
            axis.legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return panels


def save_checkpoint(path, model, optimizer, progress, config, log_rows):
    """Everything needed to continue exactly: weights, optimizer moments, counters, config and generator state."""
    tg.save({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "progress": progress,
        "config": config,
        "generator": default_generator().bit_generator.state,
        "log": log_rows,
    }, path)


def load_checkpoint(path, task):
    checkpoint = tg.load(path)
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or checkpoint["config"].get("task") != task:
        found = checkpoint.get("config", {}).get("task") if isinstance(checkpoint, dict) else None
        raise ValueError(f"{path} is not a checkpoint of `train {task}` (it is for {found!r})")
    return checkpoint


def restore_generator(state):
    default_generator().bit_generator.state = state


RESUME_HELP = ("continue from a checkpoint written by --save. --epochs/--steps is the TOTAL to reach, so it must be "
               "more than the checkpoint has done. Options you leave out take the checkpoint's values (--lr, "
               "--batch-size, --seed, ...); options you give apply from here on, each change printed as a note; "
               "options that shape the model or its data (e.g. --hidden) must match the checkpoint")
PROGRESS_UNITS = {"epoch": ("epochs", "epochs"), "step": ("steps", "steps"), "env_step": ("steps", "environment steps")}


def given_options(args):
    """Options typed on the command line (dest names), as recorded by the CLI's train parsers; None when unknown
    (an argparse.Namespace built by hand), and then every value counts as given."""
    return getattr(args, "given_options", None)


def check_output_directories(args):
    """Fail before training, not after it, when --save or --plot points into a directory that does not exist."""
    for option in ("save", "plot"):
        path = getattr(args, option, None)
        if path:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise FileNotFoundError(f"--{option}: directory {directory} does not exist")


def prepare_resume(args, task, progress_key, tunable):
    """What a task does first: check the output directories and, with --resume, read the checkpoint and settle what
    the run continues with (RESUME_HELP says it for users). Returns the checkpoint (for `resume`), or None.

    `progress_key` names the counter in the checkpoint's progress ("epoch", "step" or "env_step"); --epochs or
    --steps is the total to reach and must exceed it. `tunable` lists the options (config key = option dest, e.g.
    "lr", "batch_size", "seed") that take the checkpoint's value when left out, and apply with a printed note when
    given with another value. Architecture and data options are checked by `resume` (`must_match`).
    """
    check_output_directories(args)
    if not args.resume:
        return None
    checkpoint = load_checkpoint(args.resume, task)
    done = checkpoint["progress"][progress_key]
    option, unit = PROGRESS_UNITS[progress_key]
    total = getattr(args, option)
    given = given_options(args)
    if total <= done:
        default = "" if given is None or option in given else " (the default)"
        raise ValueError(f"--resume: {args.resume} has already trained {done} {unit}, and --{option} {total}{default} "
                         f"is the total to reach, not how many more to train: pass --{option} {done + total} to "
                         f"train {total} more")
    saved_config = checkpoint["config"]
    for key in tunable:
        if key not in saved_config:
            continue  # a checkpoint from before the option was recorded: the command line's value applies
        saved, value = saved_config[key], getattr(args, key)
        if given is not None and key not in given:
            setattr(args, key, saved)
        elif value != saved:
            shown = "none" if saved is None else saved
            print(f"note: --resume: --{key.replace('_', '-')} {value} from the command line replaces the "
                  f"checkpoint's {shown} from here on", file=sys.stderr)
    return checkpoint


def set_learning_rate(optimizer, lr):
    """Put `lr` into every param group, also as the base lr a scheduler starts from (after load_state_dict)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if "initial_lr" in group:
            group["initial_lr"] = lr


def resume(path, checkpoint, config, model, optimizer, log, must_match):
    """Load a checkpoint from `prepare_resume` into model, optimizer, the engine's generator and the metric log.

    `must_match` lists the config keys (architecture, data) that must equal this run's; the optimizer continues
    with this run's learning rate (config["lr"], settled by prepare_resume). Returns the saved progress counters
    (e.g. {"epoch": 3}), from which the caller continues.
    """
    saved = {key: checkpoint["config"].get(key) for key in must_match}
    wanted = {key: config.get(key) for key in must_match}
    if saved != wanted:
        raise ValueError(f"--resume: {path} was trained with {saved}; this run asks for {wanted} (the model and its "
                         f"data must match the checkpoint's)")
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    set_learning_rate(optimizer, config["lr"])
    restore_generator(checkpoint["generator"])
    for row in checkpoint["log"]:
        log.append(**row)
    return checkpoint["progress"]


def summary_line(task, metric_name, metric, wall_seconds, steps, device="cpu", metric_format=".4f"):
    rate = steps / wall_seconds if wall_seconds > 0 else float("inf")
    where = f"backend {tg.get_backend()}" if device == "cpu" else f"device {device}"
    return (f"{task}: {metric_name} {metric:{metric_format}} | wall {wall_seconds:.1f} s | {steps} steps | "
            f"{rate:.1f} steps/s | {where}")


class Stopwatch:
    def __init__(self):
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start


def summary_if_asked(enabled):
    """`--summary`: a context in which the model's first forward pass (the first training batch) is recorded as it
    runs and its summary printed (layers, output shapes, parameter counts; see tinygrad_edu/summary.py). Recording
    the real call, rather than running the model once more, leaves the run bit for bit as it is without --summary."""
    return summary_at_first_forward(print_fn=_print_above_progress_bar) if enabled else contextlib.nullcontext()


def _print_above_progress_bar(text):
    """print(), but through tqdm.write when tqdm is installed, so a running progress bar is redrawn below the text."""
    try:
        from tqdm import tqdm
    except ImportError:
        print(text)
        return
    tqdm.write(text, file=sys.stdout)
