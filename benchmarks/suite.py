"""`tinygrad-edu bench` / `python -m benchmarks`: kernels, framework overhead and toy-model train steps, per backend.

    python -m benchmarks --quick              # under two minutes: fewer sizes and repeats
    python -m benchmarks --out /tmp/bench     # full run, results written there
    tinygrad-edu bench --quick --no-plots

Every figure is the median of >= 5 samples after warm-up, with min and max. The baselines (NumPy's BLAS, PyTorch
CPU eager with as many threads as Numba uses) run first, in a child process on the same machine, so that two
OpenMP thread pools (Numba's and torch's) never spin against each other on the same cores. Ratios are ours_time / their_time:
below 1 we are faster. Writes bench-<stamp>.json, bench-<stamp>.md and PNG plots to --out. Progress goes to
stderr, one line per case. Programmatic use (the tests do this): `report = run(smoke_config())`.
"""
import argparse
import dataclasses
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from benchmarks import kernel_cases, model_cases, report as report_module, timing

BACKENDS = ("numpy", "cpu", "cuda")
KERNEL_SETS = {"numpy": "kernels.reference", "cpu": "kernels.cpu", "cuda": "kernels.cuda"}
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

TOY_SIZES = {  # the toy models as `tinygrad-edu train` builds them
    "batch": 64, "tiny_side": 64, "image_size": 8, "d_model": 64, "heads": 4, "layers": 2, "sort_length": 6,
    "rnn_hidden": 64, "rnn_length": 20, "perf_rnn": (16, 64, 32, 32), "dqn_hidden": 64,
}


@dataclass
class Config:
    backends: tuple = BACKENDS
    sections: tuple = ("kernels", "overhead", "models")
    repeats: int = 9
    warmup: int = 3
    min_sample_s: float = 0.02    # short calls are repeated inside a sample until it lasts this long
    settle_s: float = 0.05        # pause between cases (see timing.py: OpenMP threads spinning)
    profile_steps: int = 10
    use_torch: bool = True
    plots: bool = True
    matmul_sizes: tuple = (64, 128, 256, 512, 1024, 2048)
    conv_shapes: tuple = ((64, 1, 16, 8), (64, 16, 32, 4), (64, 32, 64, 14))  # (batch, c_in, c_out, side)
    batch: int = 64
    softmax_shape: tuple = (64, 8, 128, 128)
    attention_shapes: tuple = ((256, 12, 16), (128, 64, 16))  # (batch × heads, length, head size)
    rnn_cell_shapes: tuple = ((64, 2, 64), (32, 16, 64))  # (batch, inputs, hidden)
    adam_sizes: tuple = (4_096, 1_000_000)
    sizes: dict = field(default_factory=lambda: dict(TOY_SIZES))
    measure_cliff: bool = True    # the OpenMP/BLAS cliff probe (about a second)
    threads: int = 0              # 0: as many as Numba uses by default; else Numba, BLAS and torch all get this many
    baselines_in_subprocess: bool = True  # time NumPy-BLAS and torch in a process where no Numba thread ever ran
    label: str = "full"


def quick_config():
    return Config(repeats=5, warmup=2, min_sample_s=0.01, settle_s=0.02, profile_steps=5,
                  matmul_sizes=(64, 128, 256, 512, 1024), conv_shapes=((64, 1, 16, 8), (64, 16, 32, 4)),
                  softmax_shape=(64, 8, 64, 64), attention_shapes=((256, 12, 16),), adam_sizes=(4_096, 1_000_000),
                  label="quick")


def smoke_config():
    """Tiny shapes, 2 samples: checks the harness end to end in a few seconds (the figures mean nothing)."""
    sizes = {"batch": 4, "tiny_side": 8, "image_size": 8, "d_model": 16, "heads": 2, "layers": 1, "sort_length": 3,
             "rnn_hidden": 8, "rnn_length": 4, "perf_rnn": (4, 8, 4, 4), "dqn_hidden": 8}
    return Config(backends=("numpy", "cpu"), repeats=2, warmup=1, measure_cliff=False, min_sample_s=0.0, settle_s=0.0, profile_steps=1,
                  plots=False, matmul_sizes=(16, 32), conv_shapes=((2, 1, 4, 8),), batch=2, softmax_shape=(2, 3, 8),
                  attention_shapes=((4, 6, 8),), rnn_cell_shapes=((4, 2, 8),), adam_sizes=(64,), sizes=sizes,
                  baselines_in_subprocess=False, label="smoke")


def progress(message):
    print(message, file=sys.stderr, flush=True)


def _format_ms(timing_result):
    return f"{timing_result['median_ms']:.3f} ms ({timing_result['min_ms']:.3f}-{timing_result['max_ms']:.3f})"


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


def _kernel_runner(backend):
    """(kernel set, inputs converter, synchronize) for one backend."""
    kernel_set = importlib.import_module(KERNEL_SETS[backend])
    if backend != "cuda":
        return kernel_set, (lambda inputs: inputs), None
    from numba import cuda

    return kernel_set, (lambda inputs: {k: kernel_set.to_device(v) for k, v in inputs.items()}), cuda.synchronize


# ----- section 1: kernels ---------------------------------------------------------------------------------------

def run_kernels(config, backends, baselines):
    rows = []
    cases = kernel_cases.cases_for(config)
    for number, case in enumerate(cases, 1):
        inputs = case.make_inputs()
        case_baselines = baselines["kernels"].get(case.name, {"numpy_blas": "n/a", "torch": "n/a"})
        for backend in backends:
            row = {"case": case.name, "family": case.family, "backend": backend, "flops": case.flops, "note": "",
                   "timing": "n/a", "gflops": "n/a", **case_baselines}
            timing.settle(config.settle_s)
            try:
                kernel_set, convert, synchronize = _kernel_runner(backend)
                arrays = convert(_copy(inputs))
                row["timing"] = timing.measure(lambda: case.run(kernel_set, arrays), config.repeats, config.warmup,
                                               config.min_sample_s, synchronize)
            except Exception as error:  # one broken kernel must not stop the run: report it in its row
                row["note"] = f"failed: {type(error).__name__}: {error}"
            if case.flops and isinstance(row["timing"], dict):
                row["gflops"] = case.flops / (row["timing"]["median_ms"] * 1e-3) / 1e9
            row["ratio_vs_numpy_blas"] = timing.ratio(row["timing"], case_baselines["numpy_blas"])
            row["ratio_vs_torch"] = timing.ratio(row["timing"], case_baselines["torch"])
            rows.append(row)
            shown = _format_ms(row["timing"]) if isinstance(row["timing"], dict) else row["note"]
            rate = f", {row['gflops']:.1f} GFLOP/s" if isinstance(row["gflops"], float) else ""
            torch_timing = case_baselines["torch"]
            torch_shown = f"; torch {_format_ms(torch_timing)}" if isinstance(torch_timing, dict) else ""
            progress(f"[kernels {number}/{len(cases)}] {case.name} [{backend}]: {shown}{rate}{torch_shown}")
    return rows


def measure_baselines(config, torch):
    """NumPy-BLAS and PyTorch timings of every case, keyed by case name (no engine code runs here)."""
    kernels = {}
    if "kernels" in config.sections:
        for case in kernel_cases.cases_for(config):
            inputs = case.make_inputs()
            entry = {}
            for name in ("numpy_blas", "torch"):
                make = case.baselines.get(name)
                if make is None or (name == "torch" and torch is None):
                    entry[name] = "n/a"
                    continue
                timing.settle(config.settle_s)
                entry[name] = timing.measure(make(_copy(inputs), torch), config.repeats, config.warmup, config.min_sample_s)
            kernels[case.name] = entry
            progress(f"[baselines] {case.name}: torch {_format_ms(entry['torch']) if isinstance(entry['torch'], dict) else 'n/a'}")
    models = {}
    for case in model_cases.cases_for(config.sizes):
        if case.section not in config.sections:
            continue
        if torch is None:
            models[case.name] = "n/a"
            continue
        timing.settle(config.settle_s)
        torch.manual_seed(0)
        models[case.name] = timing.measure(case.make_torch(config.sizes, torch), config.repeats, config.warmup,
                                           config.min_sample_s)
        progress(f"[baselines] {case.name}: torch {_format_ms(models[case.name])}")
    return {"kernels": kernels, "models": models}


def baselines_in_subprocess(config, threads):
    """measure_baselines in a fresh process: Numba's OpenMP threads (which spin after each kernel) and torch's
    never share the cores, so neither side's figures carry the other's stalls (PERF.md cliff 1)."""
    with tempfile.TemporaryDirectory() as scratch:
        config_path, out_path = os.path.join(scratch, "config.json"), os.path.join(scratch, "baselines.json")
        with open(config_path, "w", encoding="utf-8") as handle:
            json.dump({"config": _jsonable(dataclasses.asdict(config)), "threads": threads}, handle)
        command = [sys.executable, "-m", "benchmarks.baselines", config_path, out_path]
        # BLAS reads its thread count when NumPy loads: set it for the child's environment.
        environment = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        subprocess.run(command, check=True, env=environment, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(out_path, encoding="utf-8") as handle:
            return json.load(handle)


def _copy(inputs):
    """Fresh copies: in-place kernels (Adam) must not change another backend's inputs."""
    return {k: v.copy() for k, v in inputs.items()}


# ----- sections 2 and 3: framework overhead and models -------------------------------------------------------------

def run_models(config, backends, baselines, section):
    import tinygrad_edu as tg

    rows, profiles = [], []
    cases = [case for case in model_cases.cases_for(config.sizes) if case.section == section]
    for number, case in enumerate(cases, 1):
        torch_timing = baselines["models"].get(case.name, "n/a")
        for backend in backends:
            row = {"case": case.name, "section": section, "backend": backend, "timing": "n/a", "torch": torch_timing,
                   "target": case.target, "note": ""}
            if backend == "cuda":
                row["note"] = "n/a: the engine's Tensor has only the cpu device; cuda kernels are in section 1"
                rows.append(row)
                continue
            timing.settle(config.settle_s)
            try:
                with tg.set_backend(backend):
                    tg.manual_seed(0)
                    step = case.make_ours(config.sizes)
                    row["timing"] = timing.measure(step, config.repeats, config.warmup, config.min_sample_s)
                    if case.profile and config.profile_steps:
                        profiles.append(profile_step(case.name, backend, step, config.profile_steps))
            except Exception as error:
                row["note"] = f"failed: {type(error).__name__}: {error}"
            row["ratio"] = timing.ratio(row["timing"], torch_timing)
            row["met"] = (row["ratio"] <= case.target) if case.target and isinstance(row["ratio"], float) else "n/a"
            if isinstance(row["timing"], dict):
                row["steps_per_s"] = _steps_per_second(row["timing"])
            if isinstance(torch_timing, dict):
                row["torch_steps_per_s"] = _steps_per_second(torch_timing)
            rows.append(row)
            shown = _format_ms(row["timing"]) if isinstance(row["timing"], dict) else row["note"]
            torch_shown = f"; torch {_format_ms(torch_timing)}" if isinstance(torch_timing, dict) else "; torch n/a"
            progress(f"[{section} {number}/{len(cases)}] {case.name} [{backend}]: {shown}{torch_shown}")
    return rows, profiles


def _steps_per_second(timing_result):
    """Steps/s median (and its range) from a per-step timing: the fastest step gives the highest rate."""
    return {"median": 1e3 / timing_result["median_ms"], "min": 1e3 / timing_result["max_ms"],
            "max": 1e3 / timing_result["min_ms"]}


def profile_step(name, backend, step, steps, top=8):
    """Where a train step spends its time: `tg.profile()` over `steps` already warmed-up steps."""
    import tinygrad_edu as tg

    start = time.perf_counter()
    with tg.profile() as recorded:
        for _ in range(steps):
            step()
    wall = time.perf_counter() - start

    def rows(kinds):
        selected = [row for row in recorded.rows() if row[0] in kinds][:top]
        totals = {kind: max(recorded.total(kind), 1e-12) for kind in kinds}
        return [{"kind": kind, "name": op, "calls": calls, "total_ms": seconds * 1e3,
                 "per_call_us": seconds / calls * 1e6, "share": seconds / totals[kind]}
                for kind, op, calls, seconds in selected]

    kernel_ms = recorded.total("kernel") * 1e3
    return {"case": name, "backend": backend, "steps": steps, "wall_ms_per_step": wall * 1e3 / steps,
            "forward_ms_per_step": recorded.total("forward") * 1e3 / steps,
            "backward_ms_per_step": recorded.total("backward") * 1e3 / steps,
            "kernel_ms_per_step": kernel_ms / steps,
            "outside_kernels_share": max(0.0, 1.0 - kernel_ms / max(wall * 1e3, 1e-9)),
            "top_ops": rows(("forward", "backward")), "top_kernels": rows(("kernel",))}


# ----- the OpenMP/BLAS cliff --------------------------------------------------------------------------------------

def measure_cliff(torch, repeats=20):
    """np.matmul (and torch.matmul) 128×128 alone, then right after a parallel Numba kernel (PERF.md cliff 1)."""
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

    result = {"threading_layer": timing.threading_layer()}
    calls = {"numpy_blas": lambda: np.matmul(small, small)}
    if torch is not None:
        torch_small = torch.from_numpy(small)
        calls["torch"] = lambda: torch.matmul(torch_small, torch_small)
    for name, call in calls.items():
        time.sleep(0.2)
        result[f"{name}_128_alone_ms"] = timing.measure(call, repeats, 3)["median_ms"]
        result[f"{name}_128_after_prange_ms"] = after_prange(call)
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            result["numpy_blas_128_after_prange_blas_1_thread_ms"] = after_prange(calls["numpy_blas"])
    except ImportError:
        result["note"] = "threadpoolctl not installed: the one-BLAS-thread variant was not measured"
    return result


# ----- the whole run ----------------------------------------------------------------------------------------------

def run(config, command=""):
    """Run the configured sections and return the report (a JSON-ready dict); writes nothing."""
    restore_threads = timing.set_threads(config.threads) if config.threads else None
    try:
        return _run(config, command)
    finally:
        if restore_threads is not None:
            restore_threads()


def _run(config, command):
    threads = timing.numba_threads()
    notes = []
    if config.use_torch and config.baselines_in_subprocess:
        baselines = baselines_in_subprocess(config, threads)
        notes.append("NumPy-BLAS and PyTorch baselines were timed first, in a separate process with the same thread count, "
                     "so that Numba's and torch's OpenMP thread pools never competed for the cores")
    else:
        torch = timing.import_torch(threads) if config.use_torch else None
        baselines = measure_baselines(config, torch)
    # torch is needed here only for the cliff probe and the machine facts, after every timing
    torch = timing.import_torch(threads) if config.use_torch else None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > (os.cpu_count() or 1) - 0.5:
        notes.append(f"the machine was busy (load average {load:.1f} on {os.cpu_count()} cores): OpenMP threads that "
                     "spin-wait for a descheduled peer make threaded timings (ours and torch's) jump by 5-20 ms; the "
                     "min-max ranges show it. For steadier figures use a quiet machine or --threads 1.")
    if torch is None:
        notes.append("PyTorch not available: torch columns say n/a (pip install 'tinygrad_edu[bench]')")
    backends = []
    for name in config.backends:
        runs, note = backend_status(name)
        if runs:
            backends.append(name)
        elif note:
            notes.append(note)
    started = time.perf_counter()
    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    result = {"schema": 1, "label": config.label, "command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "config": _jsonable(dataclasses.asdict(config)), "backends": backends, "load_average_before": load_before,
              "kernels": [], "overhead": [], "models": [], "profiles": [], "cliff": {}}
    if "kernels" in config.sections:
        result["kernels"] = run_kernels(config, backends, baselines)
    for section in ("overhead", "models"):
        if section in config.sections:
            rows, profiles = run_models(config, backends, baselines, section)
            result[section] = rows
            result["profiles"] += profiles
    if "cpu" in backends and config.measure_cliff:
        result["cliff"] = measure_cliff(torch, repeats=max(config.repeats, 5))
    result["machine"] = timing.machine_info(torch)  # after the kernels ran: the threading layer is known now
    if result["machine"]["numba_threading_layer"] == "omp":
        notes.append("Numba's threading layer is omp: its threads spin after each prange kernel, and a threaded "
                     "BLAS/torch call right after one stalls (PERF.md cliff 1; see the cliff section). Each case "
                     "was timed in its own warm-up + timing loop, after a pause, to keep baselines out of it.")
    result["notes"] = notes
    result["targets"] = targets_summary(result)
    result["wall_s"] = time.perf_counter() - started
    return result


def targets_summary(result):
    """One row per goal: the ratio reached on each backend, and whether it met the target."""
    return [{"case": row["case"], "backend": row["backend"], "ratio": row.get("ratio", "n/a"),
             "target": row["target"], "met": row.get("met", "n/a")}
            for row in result["overhead"] + result["models"] if row["target"] and row["backend"] != "cuda"]


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def write(result, out_dir, plots=True):
    """Write bench-<stamp>.json / .md (and PNGs); returns {kind: path}."""
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = os.path.join(out_dir, f"bench-{result['label']}-{stamp}")
    paths = {"json": base + ".json", "markdown": base + ".md"}
    if plots:
        plot_paths, note = report_module.plot(result, base)
        paths.update(plot_paths)
        if note:
            result["notes"].append(note)
    result["files"] = paths
    with open(paths["json"], "w") as handle:
        json.dump(result, handle, indent=2)
    with open(paths["markdown"], "w") as handle:
        handle.write(report_module.markdown(result))
    return paths


# ----- command line ---------------------------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats: under two minutes")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, 2 repeats: checks the harness, figures mean nothing")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"directory for JSON, markdown and PNGs (default {DEFAULT_OUT})")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, help="kernel sets to run (default: all that are present)")
    parser.add_argument("--sections", nargs="+", choices=("kernels", "overhead", "models"), help="what to run (default: all)")
    parser.add_argument("--repeats", type=int, help="timed samples per figure (default 9, --quick 5)")
    parser.add_argument("--threads", type=int, default=0, help="threads for Numba, BLAS and torch alike (default: Numba's default)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline even when it is installed")
    parser.add_argument("--no-plots", action="store_true", help="write no PNGs")


def config_from_args(args):
    config = smoke_config() if args.smoke else quick_config() if args.quick else Config()
    if args.backends:
        config.backends = tuple(args.backends)
    if args.sections:
        config.sections = tuple(args.sections)
    if args.repeats:
        config.repeats = args.repeats
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
