"""`tinygrad-edu doctor`: is this installation healthy, and fast? One line per check, each "ok" or a fix.

    tinygrad-edu doctor                 # versions, threads, kernel cache, CUDA, the OpenMP/BLAS check, a self-test
    tinygrad-edu doctor --no-self-test  # everything but the self-test (a gradcheck and a tiny training run)

Exits 1 when a line asks for a fix, so a script can run it. The checks, in order:
    versions    Python, NumPy (and the BLAS it calls), Numba, and the optional extras
    kernels     where Numba keeps the compiled CPU kernels and whether that cache is warm
    threads     Numba's threading layer and thread count, how idle OpenMP threads wait, the load on the machine
    cuda        a real GPU, the simulator (NUMBA_ENABLE_CUDASIM=1), or none
    clash       a NumPy (BLAS) matmul timed alone and right after a parallel kernel, in this process
    self-test   float64 gradcheck of a small graph, then 60 Adam steps of a tiny MLP (about a second when warm)
"""
import importlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time

import numpy as np

MIN_PYTHON = (3, 10)
REQUIRED = {"numpy": "1.24", "numba": "0.59"}
EXTRAS = {  # distribution -> (extra, what it is for)
    "torch": ("bench", "the PyTorch baseline of `tinygrad-edu bench` and the comparison tests"),
    "matplotlib": ("plot", "--plot curves and the benchmark plots"),
    "scikit-learn": ("models", "the 8x8 digits data set of `train cnn`"),
    "tqdm": ("models", "progress bars"),
    "gymnasium": ("rl", "CartPole for `train dqn`"),
    "numba-cuda": ("cuda", "the CUDA kernels (a GPU, or the simulator)"),
}
SELF_TEST_BUDGET_S = 5.0


class Report:
    """Collects the lines: status "ok" or "fix", a topic, and what was found (with the fix when there is one)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.lines = []

    def add(self, ok, topic, text):
        status = "ok" if ok else "fix"
        self.lines.append((status, topic, text))
        print(f"{status:4s} {topic:14s} {text}", file=self.stream, flush=True)

    @property
    def fixes(self):
        return [line for line in self.lines if line[0] == "fix"]


def _version_tuple(text):
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def installed_version(distribution):
    """The installed version of a distribution, or None (read from its metadata: nothing is imported)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas_name():
    """The BLAS NumPy was built against, from np.show_config (no threadpoolctl needed)."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    except Exception:  # NumPy < 2 prints its configuration instead of returning it
        return "unknown"


def check_versions(report):
    python = platform.python_version()
    report.add(sys.version_info[:2] >= MIN_PYTHON, "python",
               python if sys.version_info[:2] >= MIN_PYTHON else f"{python}: tinygrad_edu needs Python 3.10 or newer")
    for name, minimum in REQUIRED.items():
        version = installed_version(name)
        if version is None:
            report.add(False, name, f"not installed: pip install 'numpy>=1.24' 'numba>=0.59'")
        elif _version_tuple(version) < _version_tuple(minimum):
            report.add(False, name, f"{version} is older than {minimum}: pip install -U {name}")
        else:
            report.add(True, name, version + (f" (BLAS: {blas_name()})" if name == "numpy" else ""))
    for name, (extra, purpose) in EXTRAS.items():
        version = installed_version(name)
        report.add(True, name, version if version else
                   f"not installed (optional, for {purpose}: pip install 'tinygrad_edu[{extra}]')")


# ----- threads --------------------------------------------------------------------------------------------------

def wait_policy():
    """How idle OpenMP threads wait, from the variables libgomp (the OpenMP runtime of Numba's omp layer) reads."""
    import kernels.cpu.variants  # noqa: F401  (importing it sets the short spin unless the user chose)

    chosen = {name: os.environ[name] for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if name in os.environ}
    return ", ".join(f"{name}={value}" for name, value in chosen.items()) or "runtime default"


def _spins_long(policy_text):
    """True when idle threads spin for milliseconds: the setting that stalls on a busy machine."""
    if "OMP_WAIT_POLICY=ACTIVE" in policy_text.upper():
        return True
    for item in policy_text.split(", "):
        name, _, value = item.partition("=")
        if name == "GOMP_SPINCOUNT":
            try:
                return float(value) > 100_000
            except ValueError:
                return value.strip().lower() == "infinity"
    return policy_text == "runtime default"


def check_threads(report, layer):
    import numba

    import tinygrad_edu as tg

    cores = tg.threads.usable_cores()  # the cores this process may run on, as the engine counts them
    threads = tg.get_num_threads()
    report.add(True, "threads", f"{threads} of {numba.config.NUMBA_NUM_THREADS} Numba threads on {cores} cores, "
                                f"threading layer {layer}")
    if tg.threads.following_load():
        report.add(True, "follow load", "the kernels use the cores other programs leave free (TINYGRAD_EDU_FOLLOW_LOAD=0 "
                                        "keeps every core)")
    else:
        report.add(True, "follow load", "off: the thread count is fixed (set_num_threads, --threads or "
                                        "TINYGRAD_EDU_FOLLOW_LOAD=0)")
    from kernels.cpu import memory

    report.add(True, "malloc", "freed memory is kept for the next step (kernels/cpu/memory.py)" if memory.SET else
               "glibc's malloc as configured by the environment or platform (kernels/cpu/memory.py left it alone)")
    policy = wait_policy()
    if layer in ("tbb", "workqueue"):
        report.add(True, "wait policy", f"threading layer {layer}: its idle threads do not spin for long")
    elif _spins_long(policy):
        report.add(False, "wait policy", f"{policy}: idle OpenMP threads spin for milliseconds and stall when other "
                                         "programs run; unset it, or set GOMP_SPINCOUNT=1000 "
                                         "(or OMP_WAIT_POLICY=PASSIVE)")
    else:
        report.add(True, "wait policy", f"{policy}: idle threads sleep soon, a busy machine slows steps only by "
                                        "the CPU share it takes")
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return
    if load > cores:
        report.add(True, "load", f"{load:.1f} on {cores} cores: other programs are busy, timings will be slower "
                                 "(ratios from `tinygrad-edu bench` are paired by round and still hold)")
    else:
        report.add(True, "load", f"{load:.1f} on {cores} cores")


# ----- kernel cache -----------------------------------------------------------------------------------------------

def check_kernel_cache(report):
    from tinygrad_edu import kernel_cache

    location = kernel_cache.location()
    existing = location
    while existing and not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing or ".", os.W_OK):
        report.add(False, "kernel cache", f"{location} is not writable: every run would compile the kernels again; "
                                          "set NUMBA_CACHE_DIR to a writable directory")
        return
    counts = kernel_cache.summary()
    cached = sum(c for c, _ in counts.values())
    total = sum(t for _, t in counts.values())
    state = "warm" if kernel_cache.is_warm() else "cold: the first `train` compiles its kernels (seconds, once)"
    report.add(True, "kernel cache",
               f"{location} ({state}; {cached} of {total} kernels compiled for this Numba and CPU)")


# ----- cuda -------------------------------------------------------------------------------------------------------

def check_cuda(report):
    if installed_version("numba-cuda") is None:
        report.add(True, "cuda", "numba-cuda not installed: CPU only (pip install 'tinygrad_edu[cuda]' for a GPU)")
        return
    from tinygrad_edu import cuda

    import numba

    if numba.config.ENABLE_CUDASIM:
        report.add(True, "cuda", "the CUDA simulator (NUMBA_ENABLE_CUDASIM=1): correct results, tiny shapes, slow")
    elif cuda.is_available():
        report.add(True, "cuda", "a CUDA GPU is available: --device cuda")
    else:
        report.add(True, "cuda", "no CUDA GPU found: CPU only (NUMBA_ENABLE_CUDASIM=1 runs the CUDA kernels "
                                 "in a simulator)")


# ----- the OpenMP / BLAS clash ------------------------------------------------------------------------------------

def clash_verdict(alone_ms, after_ms):
    """True when a BLAS call right after a parallel kernel is clearly slower than alone (a stall, not noise)."""
    return after_ms > max(3.0 * alone_ms, alone_ms + 1.0)


def measure_clash(repeats=15):
    """(threading layer, median ms of np.matmul 128² alone, median ms right after a parallel CPU kernel)."""
    import numba

    from kernels import cpu

    rows = np.random.default_rng(0).standard_normal((256, 512)).astype(np.float32)  # above the serial cut-over
    small = np.random.default_rng(1).standard_normal((128, 128)).astype(np.float32)
    cpu.softmax_forward(rows)  # compiles or loads the parallel variant; starts the thread pool
    np.matmul(small, small)
    alone, after = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(small, small)
        alone.append(time.perf_counter() - start)
    for _ in range(repeats):
        cpu.softmax_forward(rows)
        start = time.perf_counter()
        np.matmul(small, small)
        after.append(time.perf_counter() - start)
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not started"
    return layer, statistics.median(alone) * 1e3, statistics.median(after) * 1e3


def check_clash(report, measured):
    """The line for a measure_clash() result (layer, alone ms, after ms)."""
    _, alone, after = measured
    if clash_verdict(alone, after):
        report.add(False, "openmp/blas", f"np.matmul 128x128 takes {after:.2f} ms right after a parallel kernel, "
                                         f"{alone:.2f} ms alone: in code that mixes NumPy's BLAS with the CPU kernels "
                                         "set OPENBLAS_NUM_THREADS=1 (or threadpoolctl.threadpool_limits(1, 'blas')), "
                                         "or OMP_WAIT_POLICY=PASSIVE")
    else:
        report.add(True, "openmp/blas", f"np.matmul 128x128 {alone:.3f} ms alone, {after:.3f} ms right after a "
                                        "parallel kernel: no stall")


# ----- self-test --------------------------------------------------------------------------------------------------

def self_test():
    """(gradcheck passed, loss before, loss after, seconds): a float64 gradcheck, then a tiny MLP trained with Adam."""
    import tinygrad_edu as tg
    from tinygrad_edu import nn

    start = time.perf_counter()
    tg.manual_seed(0)
    x = tg.randn(4, 5, dtype=tg.float64, requires_grad=True)
    w = tg.randn(5, 3, dtype=tg.float64, requires_grad=True)
    passed = tg.gradcheck(lambda a, b: (a @ b).tanh().softmax(dim=1), x, w)
    rng = np.random.default_rng(0)
    points = rng.standard_normal((64, 2)).astype(np.float32)
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)  # XOR of the signs: needs the hidden layer
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    optimizer = tg.optim.Adam(model.parameters(), lr=0.05)
    inputs, targets = tg.Tensor(points), tg.Tensor(labels)
    losses = []
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return bool(passed), losses[0], losses[-1], time.perf_counter() - start


def check_self_test(report):
    try:
        passed, first, last, seconds = self_test()
    except Exception as error:  # the point of a self-test: report whatever broke, with the fix to look for
        report.add(False, "self-test", f"failed with {type(error).__name__}: {error} (reinstall: pip install -e .; "
                                       "TINYGRAD_EDU_DEBUG=1 shows the traceback)")
        if os.environ.get("TINYGRAD_EDU_DEBUG"):
            raise
        return
    report.add(passed, "gradcheck", "float64 backward of tanh(softmax(a @ b)) matches finite differences" if passed
               else "the backward does not match finite differences: reinstall, or report it with `doctor` output")
    learned = last < 0.5 * first
    timing = f"{seconds:.1f} s" + ("" if seconds <= SELF_TEST_BUDGET_S else " (kernels compiled on this first run)")
    if learned:
        report.add(True, "training", f"60 Adam steps of a 2-16-2 MLP: loss {first:.3f} -> {last:.3f}, {timing}")
    else:
        report.add(False, "training", f"loss {first:.3f} -> {last:.3f} did not halve in 60 steps: the optimizer or "
                                      "backward is broken (reinstall, or report it with this output)")


# ----- command ----------------------------------------------------------------------------------------------------

def run(args):
    report = Report()
    check_versions(report)
    check_kernel_cache(report)  # before any kernel here compiles, so "cold" means what the next command meets
    try:
        measured = measure_clash()  # also starts the thread pool, so the threading layer is known
    except Exception as error:  # a kernel that cannot run: say so, and skip what needs one
        report.add(False, "kernels", f"a parallel CPU kernel did not run: {type(error).__name__}: {error} "
                                     "(reinstall: pip install -e .; NUMBA_DISABLE_JIT=1 shows it as plain Python)")
        measured = None
    check_threads(report, measured[0] if measured else "not started")
    check_cuda(report)
    if measured:
        check_clash(report, measured)
        if not getattr(args, "no_self_test", False):
            check_self_test(report)
    fixes = len(report.fixes)
    print(f"{'all ok' if not fixes else f'{fixes} to fix'} ({len(report.lines)} checks)", file=report.stream)
    return 1 if fixes else 0


def add_parser(subparsers):
    """Add the `doctor` subcommand; its handler is `run` (set as `handler` and `func`)."""
    parser = subparsers.add_parser("doctor", description=__doc__, formatter_class=_raw_formatter(),
                                   help="check the installation: versions, threads, kernel cache, CUDA, a self-test")
    parser.add_argument("--no-self-test", action="store_true", help="skip the gradcheck and the tiny training run")
    parser.set_defaults(handler=run, func=run)
    return parser


def _raw_formatter():
    import argparse

    return argparse.RawDescriptionHelpFormatter
