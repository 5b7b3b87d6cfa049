"""What every training command shares: seeding, progress bars, metric logs, plots, checkpoints, the summary line."""
import contextlib
import csv
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
    """A tqdm bar when tqdm is installed (the `models` extra), else a line every 10%. `quiet` prints nothing."""

    def __init__(self, total, description, quiet=False):
        self.total, self.description, self.quiet = total, description, quiet
        self.count, self.next_report, self.postfix = 0, 0.1, {}
        self.bar = None
        if not quiet:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=description, unit="step", dynamic_ncols=True, file=sys.stderr)

    def update(self, steps=1, **metrics):
        self.count += steps
        self.postfix.update(metrics)
        if self.bar is not None:
            self.bar.update(steps)
            if metrics:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in self.postfix.items()}, refresh=False)
        elif not self.quiet and self.total and self.count / self.total >= self.next_report:
            shown = " ".join(f"{k} {v:.4g}" for k, v in self.postfix.items())
            print(f"{self.description}: {self.count}/{self.total} {shown}", file=sys.stderr)
            self.next_report += 0.1

    def close(self):
        if self.bar is not None:
            self.bar.close()


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


def plot_metrics(rows, path, x_key, title):
    """Training curves as a PNG: one panel per metric (needs matplotlib, the `plot` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'tinygrad_edu[plot]'") from None
    keys = [k for k in rows[0] if k != x_key and isinstance(rows[0][k], (int, float))]
    figure, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for axis, key in zip(axes[0], keys):
        axis.plot([r[x_key] for r in rows], [r[key] for r in rows])
        axis.set_xlabel(x_key)
        axis.set_title(key)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


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


def resume(path, config, model, optimizer, log, must_match):
    """Load a checkpoint of `config["task"]` into model, optimizer, the engine's generator and the metric log.

    `must_match` lists the config keys (architecture, data) that must equal this run's; returns the saved progress
    counters (e.g. {"epoch": 3}), from which the caller continues.
    """
    checkpoint = load_checkpoint(path, config["task"])
    saved = {key: checkpoint["config"].get(key) for key in must_match}
    wanted = {key: config.get(key) for key in must_match}
    if saved != wanted:
        raise ValueError(f"--resume: {path} was trained with {saved}; this run asks for {wanted}")
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    restore_generator(checkpoint["generator"])
    for row in checkpoint["log"]:
        log.append(**row)
    return checkpoint["progress"]


def summary_line(task, metric_name, metric, wall_seconds, steps, device="cpu"):
    rate = steps / wall_seconds if wall_seconds > 0 else float("inf")
    where = f"backend {tg.get_backend()}" if device == "cpu" else f"device {device}"
    return f"{task}: {metric_name} {metric:.4f} | wall {wall_seconds:.1f} s | {steps} steps | {rate:.1f} steps/s | {where}"


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
