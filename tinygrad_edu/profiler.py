"""`with tinygrad_edu.profile() as p:` records where time goes: per op (forward and backward) and per kernel.

    with tg.profile() as p:
        loss = model(x).sum(); loss.backward()
    print(p.table())        # sorted by total time

Ops are timed around each Function's forward and backward; kernels are timed around each call into the active
kernel set (so a conv2d row appears once as an op and once as the kernels it called). Times are wall-clock,
so run a few warm-up steps first: a Numba kernel's first call includes its compile or cache load.
"""
import contextlib
import time
from collections import defaultdict

from tinygrad_edu import autograd, backend


class Profile:
    def __init__(self):
        self.totals = defaultdict(float)  # (kind, name) -> seconds
        self.counts = defaultdict(int)

    def record(self, kind, name, seconds):
        self.totals[(kind, name)] += seconds
        self.counts[(kind, name)] += 1

    def rows(self, kind=None):
        """(kind, name, calls, total seconds) sorted by total time, longest first."""
        rows = [(k, n, self.counts[(k, n)], t) for (k, n), t in self.totals.items() if kind is None or k == kind]
        return sorted(rows, key=lambda row: -row[3])

    def total(self, kind):
        return sum(t for (k, _), t in self.totals.items() if k == kind)

    def table(self, limit=25):
        lines = [f"{'kind':9s} {'name':34s} {'calls':>7s} {'total ms':>10s} {'per call µs':>12s} {'share':>6s}"]
        for kind, name, calls, seconds in self.rows()[:limit]:
            share = seconds / max(self.total(kind), 1e-12)
            lines.append(f"{kind:9s} {name:34s} {calls:7d} {seconds * 1e3:10.2f} {seconds / calls * 1e6:12.1f} {share:6.1%}")
        lines.append(f"op time: forward {self.total('forward') * 1e3:.2f} ms, backward {self.total('backward') * 1e3:.2f} ms; "
                     f"kernel time {self.total('kernel') * 1e3:.2f} ms")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


class _TimedKernels:
    """Stands in for a kernel module: every function call is timed and recorded as a 'kernel' row."""

    def __init__(self, module, profile):
        self._module, self._profile = module, profile

    def __getattr__(self, name):
        function = getattr(self._module, name)
        if not callable(function):
            return function
        profile = self._profile

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                profile.record("kernel", name, time.perf_counter() - start)

        return timed


@contextlib.contextmanager
def profile():
    """Record op and kernel times inside the block; yields the `Profile`."""
    result = Profile()
    previous_hook, previous_wrapper = autograd.set_profile_hook(result.record), backend.set_kernel_wrapper(
        lambda module: _TimedKernels(module, result))
    try:
        yield result
    finally:
        autograd.set_profile_hook(previous_hook)
        backend.set_kernel_wrapper(previous_wrapper)
