"""`tinygrad-edu bench` / `python -m benchmarks`: kernels, framework overhead and toy-model train steps, per backend.

    python -m benchmarks --quick              # a few minutes: fewer sizes and rounds
    python -m benchmarks --quick --cases matmul ConvNet   # only the cases whose name contains one of these
    python -m benchmarks --load 1             # the same ratios with one busy-loop process running beside
    python -m benchmarks --out /tmp/bench     # full run, results written there

How a ratio is taken. Every side of a comparison (ours on each backend, NumPy's BLAS, PyTorch CPU eager with as
many threads as Numba uses) runs in its own warm process (benchmarks/workers.py). For each case, after a warm-up,
the sides take one timed sample each per round, the order reversed every other round, over `repeats` rounds; a
sample repeats a short call until it lasts `min_sample_s`. The ratio is the median over rounds of
ours_sample / their_sample (below 1 we are faster), and its spread the interquartile range of those per-round
ratios: a drift of the machine during the run moves both sides of a round alike, so it cancels in the ratio.

With --load N, N busy-loop processes run beside both sides (benchmarks/load.py). Each round then takes every
side twice, with the load running and with it paused, so the report gives the ratios under load and each side's
slowdown against its own quiet median, from one run.

Writes bench-<label>-<stamp>.json, .md and PNG plots to --out. Progress goes to stderr, one line per case.
Programmatic use (the tests do this): `report = run(smoke_config())`.
"""
import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from benchmarks import load as load_module, report as report_module, timing, workers

BACKENDS = ("numpy", "cpu", "cuda")
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
MATMUL_LADDER = (64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)

TOY_SIZES = {  # the toy models as `tinygrad-edu train` builds them
    "batch": 64, "tiny_side": 64, "image_size": 8, "d_model": 64, "heads": 4, "layers": 2, "sort_length": 6,
    "rnn_hidden": 64, "rnn_length": 20, "perf_rnn": (16, 64, 32, 32), "dqn_hidden": 64,
    "mnist_side": 28, "mnist_channels": (32, 64),  # MNIST-sized ConvNet: conv 1→32 → pool → conv 32→64 → pool
    "text": (2000, 5, 32, 16, 64),  # textcls: (vocabulary, classes, batch, length T, width)
}
ISSUE_CONV_SHAPES = ((64, 1, 32, 28), (64, 32, 64, 14), (64, 16, 32, 8), (64, 16, 32, 4))  # 3×3 convs people train
ATTENTION_AT_LENGTH = ((128, 64, 16), (128, 128, 16), (128, 256, 16))  # (batch × heads, T, head size), causal


@dataclass
class Config:
    backends: tuple = BACKENDS
    sections: tuple = ("kernels", "overhead", "models")
    cases: tuple = ()             # keep only cases whose name contains one of these (case-insensitive); () = all
    repeats: int = 11             # rounds: each takes one sample of every side
    warmup: int = 3
    min_sample_s: float = 0.03    # a sample repeats a short call until it lasts this long
    settle_s: float = 0.02        # pause before each sample, so the previous side's idle threads are asleep
    profile_steps: int = 10
    use_torch: bool = True
    plots: bool = True
    matmul_sizes: tuple = MATMUL_LADDER
    conv_shapes: tuple = ((64, 1, 16, 8),) + ISSUE_CONV_SHAPES  # (batch, c_in, c_out, side)
    batch: int = 64
    softmax_shape: tuple = (64, 8, 128, 128)
    attention_shapes: tuple = ((256, 12, 16),) + ATTENTION_AT_LENGTH  # (batch × heads, length, head size)
    rnn_cell_shapes: tuple = ((64, 2, 64), (32, 16, 64))  # (batch, inputs, hidden)
    adam_sizes: tuple = (4_096, 1_000_000)
    sizes: dict = field(default_factory=lambda: dict(TOY_SIZES))
    measure_cliff: bool = True    # the OpenMP/BLAS probe (about a second)
    threads: int = 0              # 0: as many as Numba uses by default; else Numba, BLAS and torch all get this many
    load: int = 0                 # busy-loop processes running beside both sides
    in_process: bool = False      # run every side in this process (the smoke tests: no process start-up)
    label: str = "full"


def quick_config():
    return Config(repeats=7, warmup=2, min_sample_s=0.02, profile_steps=5,
                  matmul_sizes=(64, 128, 256, 512, 1024, 2048), conv_shapes=((64, 1, 16, 8),) + ISSUE_CONV_SHAPES,
                  softmax_shape=(64, 8, 64, 64), attention_shapes=((256, 12, 16),) + ATTENTION_AT_LENGTH,
                  label="quick")


def smoke_config():
    """Tiny shapes, 2 rounds, every side in this process: checks the harness in seconds (the figures mean nothing)."""
    sizes = {"batch": 4, "tiny_side": 8, "image_size": 8, "d_model": 16, "heads": 2, "layers": 1, "sort_length": 3,
             "rnn_hidden": 8, "rnn_length": 4, "perf_rnn": (4, 8, 4, 4), "dqn_hidden": 8, "mnist_side": 8,
             "mnist_channels": (2, 4), "text": (20, 3, 4, 6, 8)}
    return Config(backends=("numpy", "cpu"), repeats=2, warmup=1, measure_cliff=False, min_sample_s=0.0, settle_s=0.0,
                  profile_steps=1, plots=False, matmul_sizes=(16, 32), conv_shapes=((2, 1, 4, 8),), batch=2,
                  softmax_shape=(2, 3, 8), attention_shapes=((4, 6, 8),), rnn_cell_shapes=((4, 2, 8),), adam_sizes=(64,),
                  sizes=sizes, in_process=True, label="smoke")


def config_dict(config):
    return dataclasses.asdict(config)


def config_from_dict(data):
    """The Config a worker process rebuilds from JSON (lists back to tuples)."""
    return Config(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


def jsonable(value):
    return json.loads(json.dumps(value, default=str))


def progress(message):
    print(message, file=sys.stderr, flush=True)


# ----- which backends can run -----------------------------------------------------------------------------------

def backend_status(name):
    """(runs, note): whether the kernel set `name` can be benchmarked here, and why not."""
    if name != "cuda":
        return True, ""
    import numba

    if numba.config.ENABLE_CUDASIM:
        return False, "cuda skipped: NUMBA_ENABLE_CUDASIM=1 (the simulator checks correctness; its speed means nothing)"
    try:
        cuda_kernels = importlib.import_module("kernels.cuda")
    except Exception as error:  # numba-cuda missing or broken
        return False, f"cuda skipped: kernels.cuda does not import ({error})"
    if not cuda_kernels.is_available():
        return False, "cuda skipped: no CUDA GPU found"
    return True, ""


def torch_available():
    """Whether PyTorch is installed, without importing it here (its threads belong in the torch worker)."""
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None  # None: a test hid it, as on an install without the bench extra
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def selected(config):
    """{case id: (section, case)} after the --cases filter."""
    cases = workers.all_cases(config)
    if not config.cases:
        return cases
    wanted = [text.lower() for text in config.cases]
    return {key: value for key, value in cases.items() if any(text in key.lower() for text in wanted)}


# ----- statistics over rounds -------------------------------------------------------------------------------------

def summarize(samples_ms):
    """Median, min, max and quartiles of one side's per-round samples (milliseconds)."""
    ordered = sorted(samples_ms)
    first, third = _quartiles(ordered)
    return {"median_ms": statistics.median(ordered), "min_ms": ordered[0], "max_ms": ordered[-1], "q1_ms": first,
            "q3_ms": third, "runs": len(ordered)}


def _quartiles(ordered):
    if len(ordered) < 2:
        return ordered[0], ordered[0]
    first, _, third = statistics.quantiles(ordered, n=4, method="inclusive")
    return first, third


def paired_ratio(ours_ms, theirs_ms):
    """Median and interquartile range of the per-round ratios ours / theirs, or 'n/a'."""
    if not ours_ms or not theirs_ms or len(ours_ms) != len(theirs_ms) or min(theirs_ms) <= 0:
        return "n/a"
    ratios = sorted(a / b for a, b in zip(ours_ms, theirs_ms))
    first, third = _quartiles(ratios)
    return {"median": statistics.median(ratios), "q1": first, "q3": third, "rounds": len(ratios)}


def ratio_value(ratio):
    return ratio["median"] if isinstance(ratio, dict) else "n/a"


# ----- timing one case on every side, round by round ---------------------------------------------------------------

BLAS_SETTLE_S = 0.15  # pause after a NumPy/OpenBLAS sample (its threads' spin time, THREAD_TIMEOUT 2^28 cycles)


def time_case(identifier, sides, pool, config, busy):
    """{condition: {side: [ms per round]}} for "loaded" (only with --load) and "quiet", plus errors by side."""
    errors, inner = {}, {}
    with busy.paused():
        for side in sides:
            answer = pool[side].prepare(identifier, config.warmup)
            if "error" in answer:
                errors[side] = answer["error"]
                continue
            once = max(answer["once_s"], 1e-7)
            inner[side] = max(1, min(10_000, int(config.min_sample_s / once))) if config.min_sample_s > 0 else 1
    running = [side for side in sides if side in inner]
    conditions = ("loaded", "quiet") if busy.count else ("quiet",)
    samples = {condition: {side: [] for side in running} for condition in conditions}
    for round_number in range(config.repeats):
        order = running if round_number % 2 == 0 else running[::-1]
        for condition in conditions:
            with (busy.paused() if condition == "quiet" else _nothing()):
                previous = None
                for side in order:
                    # OpenBLAS's idle threads spin ~2^28 cycles (≈0.1 s) after a call, far longer than OpenMP's:
                    # the side timed right after NumPy's BLAS would share the cores with them.
                    timing.settle(BLAS_SETTLE_S if previous == "numpy_blas" and config.settle_s > 0 else config.settle_s)
                    previous = side
                    answer = pool[side].sample(identifier, inner[side])
                    if "error" in answer:
                        errors[side] = answer["error"]
                        continue
                    samples[condition][side].append(answer["seconds"] * 1e3)
    return samples, errors


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def _timing_or_na(samples, side):
    values = samples.get(side)
    return summarize(values) if values else "n/a"


def kernel_row(section_case, samples, errors, backend):
    case = section_case
    ours_side = f"ours:{backend}"
    main = samples.get("loaded") or samples["quiet"]
    row = {"case": case.name, "family": case.family, "backend": backend, "flops": case.flops,
           "note": f"failed: {errors[ours_side]}" if ours_side in errors else "",
           "timing": _timing_or_na(main, ours_side), "gflops": "n/a"}
    for baseline in ("numpy_blas", "torch"):
        row[baseline] = _timing_or_na(main, baseline)
        ratio = paired_ratio(main.get(ours_side), main.get(baseline))
        row[f"ratio_vs_{baseline}"] = ratio_value(ratio)
        row[f"ratio_vs_{baseline}_spread"] = ratio
    if case.flops and isinstance(row["timing"], dict):
        row["gflops"] = case.flops / (row["timing"]["median_ms"] * 1e-3) / 1e9
    _add_load_columns(row, samples, [ours_side, "numpy_blas", "torch"])
    return row


def model_row(section, case, samples, errors, backend):
    ours_side = f"ours:{backend}"
    main = samples.get("loaded") or samples["quiet"]
    row = {"case": case.name, "section": section, "backend": backend, "timing": _timing_or_na(main, ours_side),
           "torch": _timing_or_na(main, "torch"), "target": case.target,
           "note": f"failed: {errors[ours_side]}" if ours_side in errors else ""}
    ratio = paired_ratio(main.get(ours_side), main.get("torch"))
    row["ratio"] = ratio_value(ratio)
    row["ratio_spread"] = ratio
    row["met"] = (row["ratio"] <= case.target) if case.target and isinstance(row["ratio"], float) else "n/a"
    if isinstance(row["timing"], dict):
        row["steps_per_s"] = _steps_per_second(row["timing"])
    if isinstance(row["torch"], dict):
        row["torch_steps_per_s"] = _steps_per_second(row["torch"])
    _add_load_columns(row, samples, [ours_side, "torch"])
    return row


def _add_load_columns(row, samples, sides):
    """Under --load: each side's quiet timing and its slowdown (loaded / quiet, paired by round)."""
    if "loaded" not in samples:
        return
    row["quiet"] = {side.split(":")[0]: _timing_or_na(samples["quiet"], side) for side in sides}
    row["slowdown"] = {side.split(":")[0]: paired_ratio(samples["loaded"].get(side), samples["quiet"].get(side))
                       for side in sides}


def _steps_per_second(timing_result):
    """Steps/s median (and its range) from a per-step timing: the fastest step gives the highest rate."""
    return {"median": 1e3 / timing_result["median_ms"], "min": 1e3 / timing_result["max_ms"],
            "max": 1e3 / timing_result["min_ms"]}


def _format_ms(timing_result):
    return f"{timing_result['median_ms']:.3f} ms" if isinstance(timing_result, dict) else "n/a"


def _format_ratio(ratio):
    if not isinstance(ratio, dict):
        return "n/a"
    return f"{ratio['median']:.2f}× ({ratio['q1']:.2f}–{ratio['q3']:.2f})"


def profile_step(name, backend, step, steps, top=8):
    """Where a train step spends its time: `tg.profile()` over `steps` already warmed-up steps."""
    import tinygrad_edu as tg

    start = time.perf_counter()
    with tg.profile() as recorded:
        for _ in range(steps):
            step()
    wall = time.perf_counter() - start

    def rows(kinds):
        chosen = [row for row in recorded.rows() if row[0] in kinds][:top]
        totals = {kind: max(recorded.total(kind), 1e-12) for kind in kinds}
        return [{"kind": kind, "name": op, "calls": calls, "total_ms": seconds * 1e3,
                 "per_call_us": seconds / calls * 1e6, "share": seconds / totals[kind]}
                for kind, op, calls, seconds in chosen]

    kernel_ms = recorded.total("kernel") * 1e3
    return {"case": name, "backend": backend, "steps": steps, "wall_ms_per_step": wall * 1e3 / steps,
            "forward_ms_per_step": recorded.total("forward") * 1e3 / steps,
            "backward_ms_per_step": recorded.total("backward") * 1e3 / steps,
            "kernel_ms_per_step": kernel_ms / steps,
            "outside_kernels_share": max(0.0, 1.0 - kernel_ms / max(wall * 1e3, 1e-9)),
            "top_ops": rows(("forward", "backward")), "top_kernels": rows(("kernel",))}


# ----- the OpenMP/BLAS probe --------------------------------------------------------------------------------------

def measure_cliff(torch, repeats=20):
    """np.matmul (and torch.matmul) 128×128 alone, then right after a parallel Numba kernel.

    Why: after a `prange` kernel Numba's OpenMP threads wait for the next launch; while they spin, a threaded BLAS
    call made at once in the same process finds its cores taken. kernels/cpu/variants.py keeps that spin short;
    this probe shows whether a stall is left on this machine.
    """
    from kernels.cpu import matmul as numba_matmul

    big = np.ones((1, 256, 256), np.float32)
    small = np.random.default_rng(6).standard_normal((1, 128, 128)).astype(np.float32)
    numba_matmul(big, big)  # compile or load from cache; starts Numba's thread pool

    def after_prange(call):
        samples = []
        for _ in range(repeats):
            numba_matmul(big, big)
            start = time.perf_counter()
            call()
            samples.append((time.perf_counter() - start) * 1e3)
        return float(np.median(samples))

    result = {"threading_layer": timing.threading_layer(), "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "unset"),
              "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "unset")}
    calls = {"numpy_blas": lambda: np.matmul(small, small)}
    if torch is not None:
        torch_small = torch.from_numpy(small)
        calls["torch"] = lambda: torch.matmul(torch_small, torch_small)
    for name, call in calls.items():
        time.sleep(0.2)
        result[f"{name}_128_alone_ms"] = timing.measure(call, repeats, 3)["median_ms"]
        result[f"{name}_128_after_prange_ms"] = after_prange(call)
    return result


# ----- the whole run ----------------------------------------------------------------------------------------------

def worker_environments(names):
    """Each side's environment: PyTorch and NumPy-BLAS get the user's, without what kernels/cpu/variants.py set."""
    ours_settings = getattr(sys.modules.get("kernels.cpu.variants"), "ENVIRONMENT_SET", ())
    plain = {key: value for key, value in os.environ.items() if key not in ours_settings}
    return {name: (dict(os.environ) if name.startswith("ours:") else plain) for name in names}


def run(config, command=""):
    """Run the configured sections and return the report (a JSON-ready dict); writes nothing."""
    threads = config.threads or timing.numba_threads()
    restore_threads = timing.set_threads(config.threads) if config.threads and config.in_process else None
    try:
        return _run(config, command, threads)
    finally:
        if restore_threads is not None:
            restore_threads()


def _run(config, command, threads):
    notes = []
    with_torch = config.use_torch and torch_available()
    if config.use_torch and not with_torch:
        notes.append("PyTorch not available: torch columns say n/a (pip install 'tinygrad_edu[bench]')")
    backends = []
    for name in config.backends:
        runs, note = backend_status(name)
        if runs:
            backends.append(name)
        elif note:
            notes.append(note)
    cases = selected(config)
    needed = []
    for section, case in cases.values():
        for side in workers.sides_of(section, case, backends, with_torch):
            if side not in needed:
                needed.append(side)
    started = time.perf_counter()
    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    result = {"schema": 2, "label": config.label, "command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "config": jsonable(config_dict(config)), "backends": backends, "load_average_before": load_before,
              "load_processes": config.load, "kernels": [], "overhead": [], "models": [], "profiles": [], "cliff": {}}
    progress(f"bench: {len(cases)} cases on {', '.join(needed) or 'nothing'}"
             + (f", with {config.load} busy processes beside" if config.load else ""))
    with workers.open_workers(config, needed, threads, config.in_process,
                              worker_environments(needed)) as pool, load_module.BusyLoad(config.load) as busy:
        for number, (identifier, (section, case)) in enumerate(cases.items(), 1):
            sides = workers.sides_of(section, case, backends, with_torch)
            samples, errors = time_case(identifier, sides, pool, config, busy)
            for backend in backends:
                if f"ours:{backend}" not in sides:
                    continue
                if section == "kernels":
                    row = kernel_row(case, samples, errors, backend)
                    shown = f"; ours/torch {_format_ratio(row['ratio_vs_torch_spread'])}"
                else:
                    row = model_row(section, case, samples, errors, backend)
                    shown = f"; ours/torch {_format_ratio(row['ratio_spread'])}"
                    if case.profile and config.profile_steps and not row["note"]:
                        profile = pool[f"ours:{backend}"].request(op="profile", case=identifier,
                                                                  steps=config.profile_steps)
                        if "error" not in profile:
                            result["profiles"].append(profile)
                result[section].append(row)
                progress(f"[{number}/{len(cases)}] {case.name} [{backend}]: "
                         f"{row['note'] or _format_ms(row['timing'])}{shown}")
        result["machine"] = machine_facts(pool, threads)  # before the probe imports torch into ours:cpu
        if "ours:cpu" in pool and config.measure_cliff:
            with busy.paused():
                result["cliff"] = pool["ours:cpu"].request(op="cliff", repeats=max(config.repeats, 5))
    if result["machine"].get("load_average_after_warning"):
        notes.append(result["machine"].pop("load_average_after_warning"))
    if config.load:
        notes.append(f"--load {config.load}: {config.load} busy-loop processes ran beside both sides. Ratios and "
                     "timings are under load; the slowdown columns compare each side with its own samples taken "
                     "with the load paused, in the same rounds.")
    result["notes"] = notes
    result["targets"] = targets_summary(result)
    result["wall_s"] = time.perf_counter() - started
    return result


def machine_facts(pool, threads):
    """The machine, and what each worker reports about its libraries and threads."""
    ours = pool["ours:cpu"].request(op="info") if "ours:cpu" in pool else {}
    theirs = pool["torch"].request(op="info") if "torch" in pool else {}
    facts = timing.machine_info(None)
    facts.update({key: ours[key] for key in ("numba_threads", "numba_threading_layer", "blas") if key in ours})
    facts["torch"] = theirs.get("torch", "n/a")
    facts["torch_threads"] = theirs.get("torch_threads", "n/a")
    facts["threads_requested"] = threads
    load = facts.get("load_average")
    if isinstance(load, list) and load[0] > (os.cpu_count() or 1) - 0.5:
        facts["load_average_after_warning"] = (
            f"the machine was busy (load average {load[0]:.1f} on {os.cpu_count()} cores): ratios are paired by "
            "round, so they hold up better than the absolute times; for figures to publish use a quiet machine")
    return facts


def targets_summary(result):
    """One row per goal: the ratio reached on each backend, and whether it met the target."""
    return [{"case": row["case"], "backend": row["backend"], "ratio": row.get("ratio", "n/a"),
             "target": row["target"], "met": row.get("met", "n/a")}
            for row in result["overhead"] + result["models"] if row["target"] and row["backend"] != "cuda"]


def write(result, out_dir, plots=True):
    """Write bench-<label>-<stamp>.json / .md (and PNGs); returns {kind: path}."""
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    load = f"-load{result['load_processes']}" if result.get("load_processes") else ""
    base = os.path.join(out_dir, f"bench-{result['label']}{load}-{stamp}")
    paths = {"json": base + ".json", "markdown": base + ".md"}
    if plots:
        plot_paths, note = report_module.plot(result, base)
        paths.update(plot_paths)
        if note:
            result["notes"].append(note)
    result["files"] = paths
    with open(paths["json"], "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write(report_module.markdown(result))
    return paths


# ----- command line ---------------------------------------------------------------------------------------------

def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_arguments(parser):
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds: a few minutes")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, 2 rounds: checks the harness, figures mean nothing")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"directory for JSON, markdown and PNGs (default {DEFAULT_OUT})")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, help="kernel sets to run (default: all that are present)")
    parser.add_argument("--sections", nargs="+", choices=("kernels", "overhead", "models"), help="what to run (default: all)")
    parser.add_argument("--cases", nargs="+", metavar="TEXT",
                        help="only the cases whose name contains one of these, e.g. --cases matmul ConvNet")
    parser.add_argument("--repeats", type=int, help="rounds, one sample of each side per round (default 11, --quick 7)")
    parser.add_argument("--load", type=_non_negative_int, default=0, metavar="N",
                        help="run N busy-loop processes beside both sides; report ratios under load and slowdowns")
    parser.add_argument("--threads", type=int, default=0, help="threads for Numba, BLAS and torch alike (default: Numba's default)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline even when it is installed")
    parser.add_argument("--no-plots", action="store_true", help="write no PNGs")


def config_from_args(args):
    config = smoke_config() if args.smoke else quick_config() if args.quick else Config()
    if args.backends:
        config.backends = tuple(args.backends)
    if args.sections:
        config.sections = tuple(args.sections)
    if getattr(args, "cases", None):
        config.cases = tuple(args.cases)
    if args.repeats:
        config.repeats = args.repeats
    config.load = getattr(args, "load", 0)
    config.use_torch = not args.no_torch
    config.threads = args.threads
    config.plots = config.plots and not args.no_plots
    return config


def run_from_args(args, command):
    config = config_from_args(args)
    result = run(config, command)
    paths = write(result, args.out, config.plots)
    print(report_module.markdown(result))
    for kind, path in paths.items():
        progress(f"wrote {kind}: {path}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    add_arguments(parser)
    argv = sys.argv[1:] if argv is None else argv
    return run_from_args(parser.parse_args(argv), " ".join(["python -m benchmarks", *argv]))
