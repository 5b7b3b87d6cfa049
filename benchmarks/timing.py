"""Timing helpers and machine facts: `measure` (warm-up, then the median of timed samples), thread settings.

    timing = measure(lambda: model_step(), repeats=7)
    timing["median_ms"], timing["min_ms"], timing["max_ms"]

A sample of a very short call (a tiny op takes microseconds) times `inner` calls back to back and divides, so the
clock's resolution and the loop's own cost do not dominate; `inner` is chosen once, after the warm-up.

Why a pause (`settle`) before each sample: after a Numba `prange` kernel the OpenMP worker threads wait for
the next launch for a while, and so do PyTorch's; a sample taken in that window shares the cores with them. The
suite (benchmarks/suite.py) times every side in its own process and pauses before each sample.
"""
import os
import platform
import statistics
import time

import numpy as np


def measure(function, repeats=5, warmup=2, min_sample_s=0.0, synchronize=None):
    """Time `function()`: `warmup` untimed calls, then `repeats` samples; returns milliseconds per call.

    min_sample_s: a sample repeats the call until it lasts about this long (the per-call time is the mean).
    synchronize: called after each call when the work is asynchronous (a CUDA stream).
    """
    def call():
        function()
        if synchronize is not None:
            synchronize()

    for _ in range(warmup):
        call()
    inner = 1
    if min_sample_s > 0:
        start = time.perf_counter()
        call()
        once = max(time.perf_counter() - start, 1e-7)
        inner = max(1, min(10_000, int(min_sample_s / once)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - start) / inner)
    return {"median_ms": statistics.median(samples) * 1e3, "min_ms": min(samples) * 1e3,
            "max_ms": max(samples) * 1e3, "runs": repeats, "inner": inner}


def settle(seconds):
    """Pause so that spinning OpenMP workers of the previous case go idle before the next case starts."""
    if seconds > 0:
        time.sleep(seconds)


def import_torch(threads):
    """`torch` with `threads` intra-op threads, or None when it is not installed (or fails to import)."""
    try:
        import torch
    except Exception:  # ImportError, or a broken install: either way the torch columns read "n/a"
        return None
    torch.set_num_threads(threads)
    return torch


def set_threads(count):
    """Give Numba and BLAS `count` threads (torch gets the same in import_torch); returns a function that undoes it."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(count)
    try:
        from threadpoolctl import threadpool_limits
        blas_limit = threadpool_limits(count, "blas")
    except ImportError:
        blas_limit = None

    def restore():
        numba.set_num_threads(previous)
        if blas_limit is not None:
            blas_limit.restore_original_limits()
    return restore


def numba_threads():
    import numba

    return numba.get_num_threads()


def threading_layer():
    """Numba's threading layer ('omp', 'tbb', 'workqueue'), or a note when no parallel kernel has run yet."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return f"not initialized (requested: {numba.config.THREADING_LAYER})"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info():
    """The BLAS library NumPy calls and its thread count (via threadpoolctl when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    pools = [f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
             for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(pools) or "none found"


def machine_info(torch):
    import numba

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": threading_layer(),
        "blas": blas_info(),
        "torch": torch.__version__ if torch is not None else "n/a",
        "torch_threads": torch.get_num_threads() if torch is not None else "n/a",
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else "n/a",
    }


def ratio(ours, theirs):
    """ours_time / theirs_time from two timings (< 1: ours is faster), or 'n/a' when either is missing."""
    if not isinstance(ours, dict) or not isinstance(theirs, dict) or theirs["median_ms"] <= 0:
        return "n/a"
    return ours["median_ms"] / theirs["median_ms"]
