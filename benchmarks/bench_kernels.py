"""Time every kernel per backend (numpy reference, Numba cpu) and write JSON + a markdown table.

    python -m benchmarks.bench_kernels [--quick] [--out DIR]

Each case is timed as the median of >= 5 runs after one warm-up call (min and max kept), all in one process.
matmul and conv2d report GFLOP/s and the ratio against np.matmul (BLAS) / PyTorch CPU (same thread count) when
`import torch` works. The OpenMP/BLAS cliff (see kernels/cpu/gemm.py) is measured as its own case, and every
BLAS/torch timing is taken with OpenBLAS limited to one thread *only if* threadpoolctl is present -- otherwise the
cliff is avoided by timing the BLAS baseline before the Numba kernel of each case and sleeping 50 ms between them.
First-call compile times are measured in subprocesses: cold (fresh NUMBA_CACHE_DIR) and warm (second process).
More cases: append a Case to the list built in `cases()`; a case whose module is missing is skipped with a note.
"""
import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    name: str          # e.g. "matmul 512"
    family: str        # module name in kernels/{reference,cpu}
    function: str      # function name in that module
    make_args: object  # () -> tuple of arguments
    flops: float = 0.0  # for GFLOP/s; 0 = not reported
    baselines: dict = field(default_factory=dict)  # name -> () -> callable running the same work


def time_call(function, args, repeats):
    function(*args)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        samples.append(time.perf_counter() - start)
    return {"median_ms": float(np.median(samples)) * 1e3, "min_ms": min(samples) * 1e3,
            "max_ms": max(samples) * 1e3, "runs": repeats}


def try_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def matmul_cases(sizes, torch):
    cases = []
    rng = np.random.default_rng(0)
    for m, k, n in [(s, s, s) for s in sizes] + [(64, 4, 64)]:
        a = rng.standard_normal((1, m, k)).astype(np.float32)
        b = rng.standard_normal((1, k, n)).astype(np.float32)
        baselines = {"blas": lambda a=a, b=b: (lambda: np.matmul(a, b))}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            baselines["torch"] = lambda ta=ta, tb=tb: (lambda: torch.matmul(ta, tb))
        cases.append(Case(f"matmul {m}x{k}@{k}x{n} f32", "matmul", "matmul", lambda a=a, b=b: (a, b),
                          2.0 * m * k * n, baselines))
    return cases


def conv_cases(torch):
    cases = []
    rng = np.random.default_rng(1)
    for n_batch, c_in, c_out, size in [(64, 1, 16, 8), (64, 16, 32, 4), (64, 32, 64, 14)]:
        x = rng.standard_normal((n_batch, c_in, size, size)).astype(np.float32)
        w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
        b = rng.standard_normal(c_out).astype(np.float32)
        gy = rng.standard_normal((n_batch, c_out, size, size)).astype(np.float32)
        geometry = ((1, 1), (1, 1), (1, 1), 1)
        flops = 2.0 * n_batch * c_out * size * size * c_in * 9
        label = f"{c_in}->{c_out} {size}x{size} b{n_batch}"
        fwd_base, bwd_base = {}, {}
        if torch is not None:
            tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
            fwd_base["torch"] = lambda tx=tx, tw=tw, tb=tb: (
                lambda: torch.nn.functional.conv2d(tx, tw, tb, 1, 1))

            def torch_fwd_bwd(tx=tx, tw=tw, tb=tb, gy=torch.from_numpy(gy)):
                xr, wr, br = (t.clone().requires_grad_() for t in (tx, tw, tb))
                return lambda: torch.nn.functional.conv2d(xr, wr, br, 1, 1).backward(gy)
            bwd_base["torch"] = torch_fwd_bwd
        cases.append(Case(f"conv2d_forward {label}", "conv", "conv2d_forward",
                          lambda x=x, w=w, b=b, g=geometry: (x, w, b, *g), flops, fwd_base))
        cases.append(Case(f"conv2d fwd+bwd {label}", "conv", "_forward_backward",
                          lambda x=x, w=w, b=b, gy=gy, g=geometry: (x, w, b, gy, g), 3 * flops, bwd_base))
    return cases


def pool_cases():
    x = np.random.default_rng(2).standard_normal((64, 16, 8, 8)).astype(np.float32)
    return [Case("max_pool2d_forward 64x16x8x8 k2", "pool", "max_pool2d_forward", lambda: (x, (2, 2), (2, 2), (0, 0))),
            Case("avg_pool2d_forward 64x16x8x8 k2", "pool", "avg_pool2d_forward", lambda: (x, (2, 2), (2, 2), (0, 0)))]


def other_family_cases():
    """Kernels written by the other families; skipped with a note while their modules are missing."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 8, 128, 128)).astype(np.float32)
    logits = rng.standard_normal((512, 1000)).astype(np.float32)
    target = rng.integers(0, 1000, 512)
    q = rng.standard_normal((128, 32, 16)).astype(np.float32)
    xs, hs = rng.standard_normal((32, 16)).astype(np.float32), rng.standard_normal((32, 64)).astype(np.float32)
    w_ih, w_hh = rng.standard_normal((64, 16)).astype(np.float32), rng.standard_normal((64, 64)).astype(np.float32)
    b64 = np.zeros(64, np.float32)
    ln = rng.standard_normal((1024, 256)).astype(np.float32)
    p = rng.standard_normal(1_000_000).astype(np.float32)
    return [
        Case("softmax_forward 64x8x128x128", "softmax", "softmax_forward", lambda: (x,)),
        Case("log_softmax_forward 64x8x128x128", "softmax", "log_softmax_forward", lambda: (x,)),
        Case("cross_entropy_forward 512x1000", "softmax", "cross_entropy_forward", lambda: (logits, target, -100, 0.0)),
        Case("attention_forward 128x32x16 causal", "attention", "attention_forward",
             lambda: (q, q, q, None, True, 0.25)),
        Case("rnn_tanh_cell_forward b32 16->64", "rnn", "rnn_tanh_cell_forward",
             lambda: (xs, hs, w_ih, w_hh, b64, b64)),
        Case("layer_norm_forward 1024x256", "norm", "layer_norm_forward",
             lambda: (ln, np.ones(256, np.float32), np.zeros(256, np.float32), 1e-5)),
        Case("adam_step 1M", "optim", "adam_step",
             lambda: (p.copy(), p, np.zeros_like(p), np.zeros_like(p), 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)),
    ]


def resolve(backend, case):
    module = importlib.import_module(f"kernels.{backend}.{case.family}")
    if case.function == "_forward_backward":
        def forward_backward(x, w, b, gy, geometry):
            module.conv2d_forward(x, w, b, *geometry)
            return module.conv2d_backward(x, w, gy, *geometry, True, True, True)
        return forward_backward
    return getattr(module, case.function)


def run_cases(cases, repeats):
    rows = []
    for case in cases:
        row = {"case": case.name, "flops": case.flops, "backends": {}, "baselines": {}, "note": ""}
        try:
            args = case.make_args()
            # baselines first: a threaded BLAS call right after a prange kernel hits the OpenMP cliff
            for name, make in case.baselines.items():
                row["baselines"][name] = time_call(make(), (), repeats)
            time.sleep(0.05)
            for backend in ("reference", "cpu"):
                row["backends"][backend] = time_call(resolve(backend, case), args, repeats)
            time.sleep(0.05)
        except (ImportError, AttributeError) as error:
            row["note"] = f"skipped: {error}"
        except (TypeError, ValueError) as error:  # another family's signature changed: report, keep going
            row["note"] = f"failed: {error}"
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


def gflops(row, timing):
    return row["flops"] / (timing["median_ms"] * 1e-3) / 1e9 if row["flops"] and timing else None


def format_row(row):
    if row["note"]:
        return f"| {row['case']} | {row['note']} | | | | | |"
    cpu, ref = row["backends"]["cpu"], row["backends"]["reference"]
    cells = [row["case"], f"{ref['median_ms']:.3f}", f"{cpu['median_ms']:.3f} ({cpu['min_ms']:.3f}-{cpu['max_ms']:.3f})"]
    rate = gflops(row, cpu)
    cells.append(f"{rate:.1f}" if rate else "")
    for name in ("blas", "torch"):
        base = row["baselines"].get(name)
        cells.append(f"{base['median_ms']:.3f} ({base['median_ms'] / cpu['median_ms']:.2f}x)" if base else "")
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = ("| case | reference ms | cpu ms median (min-max) | cpu GFLOP/s | BLAS ms (cpu speed vs it) | "
              "torch ms (cpu speed vs it) |\n|---|---|---|---|---|---|")


def measure_cliff(repeats):
    """np.matmul 128^2 alone, then right after a tiny prange kernel (the OpenMP-spin / OpenBLAS stall)."""
    cpu_pool = importlib.import_module("kernels.cpu.pool")
    a = np.random.default_rng(4).standard_normal((1, 128, 128)).astype(np.float32)
    x = np.ones((2, 2, 4, 4), np.float32)
    cpu_pool.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    time.sleep(0.1)
    alone = time_call(lambda: np.matmul(a, a), (), repeats)

    def after_prange():
        cpu_pool.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
        start = time.perf_counter()
        np.matmul(a, a)
        return time.perf_counter() - start
    samples = [after_prange() for _ in range(repeats)]
    result = {"blas_128_alone_ms": alone["median_ms"], "blas_128_after_prange_ms": float(np.median(samples)) * 1e3}
    try:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1, "blas"):
            samples = [after_prange() for _ in range(repeats)]
        result["blas_128_after_prange_1_thread_ms"] = float(np.median(samples)) * 1e3
    except ImportError:
        result["note"] = "threadpoolctl not installed: single-thread BLAS variant not measured"
    return result


COMPILE_SNIPPET = """
import time, numpy as np
start = time.perf_counter()
from kernels.cpu import {family} as m
{call}
print(time.perf_counter() - start)
"""
COMPILE_CALLS = {
    "gemm": "m.matmul(np.ones((1,64,64),np.float32), np.ones((1,64,64),np.float32)); "
              "m.matmul(np.ones((1,20,20),np.float32), np.ones((1,20,20),np.float32))",
    "conv": "x=np.ones((2,3,6,6),np.float32); w=np.ones((4,3,3,3),np.float32); g=((1,1),(1,1),(1,1),1); "
            "y=m.conv2d_forward(x,w,None,*g); m.conv2d_backward(x,w,y,*g,True,True,True)",
    "pool": "x=np.ones((2,3,6,6),np.float32); y,i=m.max_pool2d_forward(x,(2,2),(2,2),(0,0)); "
            "m.max_pool2d_backward(y,i,x.shape); z=m.avg_pool2d_forward(x,(2,2),(2,2),(0,0)); "
            "m.avg_pool2d_backward(z,x.shape,(2,2),(2,2),(0,0))",
}


def measure_compile_times():
    """Seconds for import + first float32 calls: cold (empty cache dir) then warm (same dir, new process)."""
    results = {}
    for family, call in COMPILE_CALLS.items():
        with tempfile.TemporaryDirectory() as cache_dir:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
            code = COMPILE_SNIPPET.format(family=family, call=call)
            times = []
            for _ in range(2):
                out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
                times.append(float(out.stdout.split()[-1]) if out.returncode == 0 else None)
            results[family] = {"cold_s": times[0], "warm_s": times[1]}
    return results


def machine_info():
    import numba
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch = try_torch()
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "numba_threads": numba.get_num_threads(),
            "torch": torch.__version__ if torch else None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 2048 matmul and the compile-time subprocesses")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    options = parser.parse_args(argv)
    repeats = 5 if options.quick else 9
    torch = try_torch()
    sizes = [64, 128, 256, 512, 1024] + ([] if options.quick else [2048])
    print(TABLE_HEAD)
    rows = run_cases(matmul_cases(sizes, torch) + conv_cases(torch) + pool_cases() + other_family_cases(), repeats)
    cliff = measure_cliff(50)
    print("OpenMP/BLAS cliff:", cliff)
    compile_times = {} if options.quick else measure_compile_times()
    print("compile times (s):", compile_times)
    os.makedirs(options.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {"machine": machine_info(), "rows": rows, "cliff": cliff, "compile_times_s": compile_times,
              "command": " ".join([sys.executable, "-m", "benchmarks.bench_kernels"] + (argv or sys.argv[1:]))}
    with open(os.path.join(options.out, f"kernels-{stamp}.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    with open(os.path.join(options.out, f"kernels-{stamp}.md"), "w") as handle:
        handle.write(f"# Kernel benchmarks {stamp}\n\n{json.dumps(report['machine'])}\n\n{TABLE_HEAD}\n")
        handle.write("\n".join(format_row(row) for row in rows) + "\n\n")
        handle.write(f"OpenMP/BLAS cliff: {json.dumps(cliff)}\n\ncompile times (s): {json.dumps(compile_times)}\n")


if __name__ == "__main__":
    main()
