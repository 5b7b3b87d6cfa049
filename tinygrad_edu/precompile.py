"""Compile the kernels a `train` command needs in parallel worker processes, while the command starts up.

On a cold cache (a fresh clone, a Numba upgrade, edited kernel sources) every Numba kernel compiles the first
time it is called: a second or more each, one after another, in the training process. Compiling is single-threaded
Python and LLVM work, so on a machine with several cores it goes faster side by side:

    train cnn starts ──> kernels it will call, whose cache entry is missing (SIGNATURES below)
                         split into one share per core, longest first   ──> worker 1: compile, write Numba's cache
                                                                         ──> worker 2: compile, write Numba's cache
    meanwhile the command reads its data and builds its model;
    the first call of a kernel waits for the worker compiling it, then loads its machine code from the cache.

A worker is a fork of the training process (Linux, before Numba's thread pool starts), else a fresh
`python -m tinygrad_edu.precompile --worker` reading its share as JSON on stdin; it calls
`dispatcher.compile(argument types)`, which compiles exactly what the first call would and saves it (cache=True).
Nothing here changes what runs: the training process loads the same machine code it would have compiled itself,
and whatever a worker did not compile (it failed, could not start, or the list is out of date) compiles in the
training process on first call, as without this module.

Which kernels, with which argument types: tinygrad_edu/kernel_signatures.py, recorded from a real run by

    NUMBA_CACHE_DIR=$(mktemp -d) python -m tinygrad_edu.record_signatures cnn   # after renaming a kernel or
                                                                                 # changing its argument types

(tests/test_precompile.py fails when the list misses a kernel that `train cnn` calls). Set
TINYGRAD_EDU_PRECOMPILE=0 to compile in the training process only, as every other command does.
"""
import argparse
import importlib
import json
import os
import signal
import subprocess
import sys

import numba
from numba.core import types

from tinygrad_edu import kernel_cache
from tinygrad_edu.threads import usable_cores

MAX_WORKERS = 8
ENVIRONMENT_SWITCH = "TINYGRAD_EDU_PRECOMPILE"  # "0": compile in the training process only
WORKER_COMMAND = (sys.executable, "-m", "tinygrad_edu.precompile", "--worker")
SIGNATURES_MODULE = "tinygrad_edu.kernel_signatures"
_TYPE_NAMES = {name: value for name, value in vars(types).items() if not name.startswith("_")}


# ----- the list: kernel path, argument types as text, compile seconds when recorded -----------------------------
def signatures(task):
    """[(kernel path, argument type texts, seconds)] that `train task` calls, from tinygrad_edu/kernel_signatures.py."""
    module = importlib.import_module(SIGNATURES_MODULE)
    return list(module.SIGNATURES.get(task, ()))


def called_kernels(task):
    """{kernel path: {kernel it calls: seconds}} for `train task`, from tinygrad_edu/kernel_signatures.py."""
    module = importlib.import_module(SIGNATURES_MODULE)
    return dict(getattr(module, "CALLS", {}).get(task, {}))


def find_kernel(path):
    """The Numba dispatcher at "kernels.cpu.conv._correlate_rows_serial", or None when there is none by that name."""
    module_name, _, name = path.rpartition(".")
    try:
        dispatcher = getattr(importlib.import_module(module_name), name, None)
    except ImportError:
        return None
    return dispatcher if isinstance(dispatcher, numba.core.dispatcher.Dispatcher) else None


def parse_types(texts):
    """("Array(float32, 2, 'C', False, aligned=True)", "int64") -> the Numba types; None if a text is not one."""
    parsed = []
    for text in texts:
        try:
            value = eval(text, {"__builtins__": {}}, _TYPE_NAMES)  # the list is our own source; names: numba types
        except Exception:
            return None
        if not isinstance(value, types.Type):
            return None
        parsed.append(value)
    return tuple(parsed)


def pending(task):
    """[(dispatcher, argument types, seconds, path)] of `train task` whose machine code is not in the cache yet (and
    could be written there)."""
    found = []
    for path, texts, seconds in signatures(task):
        dispatcher, argument_types = find_kernel(path), parse_types(texts)
        if dispatcher is None or argument_types is None:
            continue  # renamed or retyped since the list was recorded: compiled on first call, as without workers
        if not kernel_cache.has_entry(dispatcher, argument_types) and _cache_is_writable(dispatcher):
            found.append((dispatcher, argument_types, seconds, path))
    return found


def _cache_is_writable(dispatcher):
    """Whether a worker's compile of `dispatcher` would reach the training process: only through the cache files."""
    directory = getattr(dispatcher._cache, "_cache_path", None)
    return directory is not None and os.access(directory, os.W_OK)


def split(items, workers, calls=None):
    """Shares of about equal recorded seconds, longest first: each to the share where it costs least while that
    share stays within an even split of the total, else to the share with the least so far.

    calls: {kernel path: {kernel it calls: seconds}}. A worker compiles a called kernel once, for the first kernel
    of its share that calls it, so a kernel costs less in a share that already holds its callees: kernels that
    call the same micro-kernel land in one share instead of compiling it in every worker.

    >>> split([("a", (), 3.0, "a"), ("b", (), 2.0, "b"), ("c", (), 2.0, "c")], 2)
    [[('a', (), 3.0, 'a')], [('b', (), 2.0, 'b'), ('c', (), 2.0, 'c')]]
    >>> calls = {"a": {"shared": 1.5}, "b": {"shared": 1.5}}
    >>> [[item[0] for item in share] for share in split([("a", (), 2.0, "a"), ("b", (), 2.0, "b"),
    ...                                                  ("c", (), 1.0, "c")], 2, calls)]
    [['a', 'b'], ['c']]
    """
    calls = calls or {}
    even = sum(item[2] for item in items) / workers
    shares = [[] for _ in range(workers)]
    totals = [0.0] * workers
    compiled = [set() for _ in range(workers)]  # the called kernels each share compiles already
    for item in sorted(items, key=lambda item: -item[2]):
        callees = calls.get(item[3], {})
        itself = _call_name(item[3], [repr(t) for t in item[1]])  # a kernel that is also called by another
        costs = [0.0 if itself in compiled[share] else
                 max(0.0, item[2] - sum(seconds for callee, seconds in callees.items() if callee in compiled[share]))
                 for share in range(workers)]
        fitting = [share for share in range(workers) if totals[share] + costs[share] <= even]
        if fitting:
            chosen = min(fitting, key=lambda share: (costs[share], share))
        else:
            chosen = min(range(workers), key=lambda share: (totals[share] + costs[share], share))
        shares[chosen].append(item)
        totals[chosen] += costs[chosen]
        compiled[chosen].update(callees)
    return [share for share in shares if share]


def _call_name(path, texts):
    """How CALLS names a called kernel: "kernels.cpu.conv._origins(int64, int64)", its argument types as a tuple."""
    return f"{path}({', '.join(texts)}{',' if len(texts) == 1 else ''})"


# ----- the training process's side --------------------------------------------------------------------------------
_compiling = set()  # the BackgroundCompiles whose workers may still run


def _remove_hooks():
    for background in list(_compiling):
        for cache in background._hooked:
            vars(cache).pop("load_overload", None)


class _ForkedWorker:
    """A child process forked from this one: it starts with Numba imported and initialised (about a second of
    start-up saved per worker), compiles its share and exits."""

    def __init__(self, share):
        self.pid = os.fork()
        if self.pid == 0:  # the child
            code = 1
            try:
                _remove_hooks()  # of another BackgroundCompile still running in the parent: its workers are not ours
                code = 1 if compile_share(share) else 0
            finally:
                os._exit(code)  # no atexit handlers or buffered output of the parent, twice
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def kill(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


class _SpawnedWorker(subprocess.Popen):
    """A fresh `python -m tinygrad_edu.precompile --worker` reading its share as JSON on stdin."""

    def __init__(self, share, command=WORKER_COMMAND):
        super().__init__(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.stdin.write(json.dumps(share).encode())
        self.stdin.close()


def _fork_is_safe():
    """Forking copies this process with one thread: safe while Numba has not started its thread pool (OpenMP is not
    fork-safe), on Linux (macOS frameworks are not fork-safe either)."""
    from numba.np.ufunc import parallel

    return sys.platform.startswith("linux") and hasattr(os, "fork") and not parallel._is_initialized


class BackgroundCompile:
    """Worker processes compiling shares of the kernels; the first call of one of those kernels waits for its worker.

    The wait hooks into each dispatcher's cache lookup (Numba's `_cache.load_overload`, which a first call with new
    argument types tries before compiling): the lookup waits for the worker, then finds the worker's machine code.
    `spawn`: start fresh interpreters even where forking would be safe.
    """

    def __init__(self, shares, command=WORKER_COMMAND, spawn=False, task=None):
        self.workers = []
        self._hooked = []
        self.task = task
        _compiling.add(self)
        fork = not spawn and _fork_is_safe()
        try:
            for share in shares:
                texts = [(path, [repr(t) for t in argument_types]) for _, argument_types, _, path in share]
                self.workers.append(_ForkedWorker(texts) if fork else _SpawnedWorker(texts, command))
        except BaseException:
            self.close()
            raise
        # only now: a worker forked after a hook would wait for its sibling when its kernels call a hooked one
        for share, worker in zip(shares, self.workers):
            for dispatcher, _, _, _ in share:
                self._wait_before_cache_lookup(dispatcher, worker)

    def _wait_before_cache_lookup(self, dispatcher, worker):
        cache = dispatcher._cache
        look_up = cache.load_overload  # the hook of another worker, when two hold a signature of this kernel each

        def wait_then_look_up(signature, target_context):
            worker.wait()
            return look_up(signature, target_context)

        if "load_overload" not in vars(cache):
            self._hooked.append(cache)
        cache.load_overload = wait_then_look_up

    def wait(self):
        """Wait for every worker, then let the caches look up without waiting."""
        for worker in self.workers:
            worker.wait()
        for cache in self._hooked:
            vars(cache).pop("load_overload", None)
        self._hooked = []
        _compiling.discard(self)

    def close(self):
        """Stop workers still running (the command failed or was interrupted) and remove the hooks."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
        self.wait()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            self.wait()  # a kernel the run did not call: its worker finishes, and the next run finds it cached
        else:
            self.close()


def is_compiling(task):
    """Whether workers started by `start(task)` in this process may still be compiling."""
    return any(background.task == task for background in _compiling)


def start(task, workers=None, command=WORKER_COMMAND, spawn=False):
    """Start compiling the kernels `train task` needs in `workers` processes (default: one per core); returns a
    BackgroundCompile to use as a context manager, or None when there is nothing to gain: the cache is warm, one
    core, NUMBA_DISABLE_JIT, TINYGRAD_EDU_PRECOMPILE=0, or the processes could not start (then each kernel compiles
    in this process on first call, as usual)."""
    if os.environ.get(ENVIRONMENT_SWITCH, "1") == "0" or numba.config.DISABLE_JIT:
        return None
    items = pending(task)
    workers = min(workers or usable_cores(), MAX_WORKERS, len(items))
    if workers < 2:
        return None  # one worker would only move the compiling to another process
    try:
        return BackgroundCompile(split(items, workers, called_kernels(task)), command, spawn, task)
    except OSError:
        return None


# ----- the worker's side ------------------------------------------------------------------------------------------
def compile_share(share):
    """Compile each (kernel path, argument type texts); Numba saves each to its cache. Returns the paths that failed."""
    failed = []
    for path, texts in share:
        dispatcher, argument_types = find_kernel(path), parse_types(texts)
        try:
            dispatcher.compile(argument_types)
        except Exception:  # the training process will compile it on first call and show any error there
            failed.append(path)
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.precompile", description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="compile the JSON list on stdin (what `train` starts)")
    args = parser.parse_args(argv)
    if args.worker:
        return 1 if compile_share(json.load(sys.stdin)) else 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
