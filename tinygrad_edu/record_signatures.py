"""Record which cached CPU kernels a `train` command calls, with their argument types, into
tinygrad_edu/kernel_signatures.py: the list tinygrad_edu/precompile.py compiles in worker processes on a cold cache.

    NUMBA_CACHE_DIR=$(mktemp -d) python -m tinygrad_edu.record_signatures cnn

Run it after renaming a kernel or changing its argument types (tests/test_precompile.py says when). Each kernel's
seconds are those of compiling it alone, in a fresh process with an empty cache: what a worker pays for it,
including the kernels it calls (a worker compiles those itself when another worker holds them; timed inside one
recording run, they count once, for whichever kernel called them first, and the shares come out uneven).
"""
import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile

from numba.core import event, types

from tinygrad_edu import kernel_cache
from tinygrad_edu.precompile import ENVIRONMENT_SWITCH, SIGNATURES_MODULE

RECORD_ARGUMENTS = {  # a short run of each command that calls every kernel its full run calls
    "cnn": ["--epochs", "1"],
}


class _TopLevelCompiles(event.Listener):
    """(dispatcher, argument types) of compiles started from Python, not from inside another kernel's compile."""

    def __init__(self):
        self.depth, self.found = 0, []

    def on_start(self, ev):
        if self.depth == 0:
            self.found.append((ev.data["dispatcher"], tuple(ev.data["args"])))
        self.depth += 1

    def on_end(self, ev):
        self.depth -= 1


def _kernel_path(dispatcher):
    module = sys.modules[dispatcher.__module__]
    for name, value in vars(module).items():
        if value is dispatcher:
            return f"{module.__name__}.{name}"
    return None


# Runs in a fresh process: imports the kernel's module (not timed), compiles it and prints, as JSON, the seconds
# and the kernels its compile called (compiled along with it), each with its seconds.
_TIME_ONE = """import json, sys, time
from numba.core import event
from tinygrad_edu import precompile

class DirectCalls(event.Listener):
    def __init__(self):
        self.depth, self.started, self.seconds = 0, [], {}

    def on_start(self, ev):
        self.depth += 1
        self.started.append(time.perf_counter())

    def on_end(self, ev):
        self.depth -= 1
        seconds = time.perf_counter() - self.started.pop()
        if self.depth == 1:
            function = ev.data["dispatcher"].py_func
            name = f"{function.__module__}.{function.__qualname__}{tuple(ev.data['args'])}"
            self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 2)

path, texts = json.loads(sys.argv[1])
dispatcher, argument_types = precompile.find_kernel(path), precompile.parse_types(texts)
listener = DirectCalls()
event.register("numba:compile", listener)
start = time.perf_counter()
dispatcher.compile(argument_types)
print(json.dumps({"seconds": round(time.perf_counter() - start, 2), "calls": listener.seconds}))
"""


def compile_seconds_alone(path, texts):
    """(seconds, {kernel it calls: seconds}) to compile kernel `path` for argument type texts in a fresh process
    with an empty cache; (None, {}) when it could not be timed (the kernel or its types are gone, or the compile
    failed)."""
    with tempfile.TemporaryDirectory() as cache:
        completed = subprocess.run([sys.executable, "-c", _TIME_ONE, json.dumps([path, list(texts)])],
                                   capture_output=True, text=True, env=dict(os.environ, NUMBA_CACHE_DIR=cache))
    try:
        timed = json.loads(completed.stdout.strip().splitlines()[-1]) if completed.returncode == 0 else None
    except (ValueError, IndexError):
        timed = None
    return (timed["seconds"], timed["calls"]) if timed else (None, {})


def record(task):
    """Run a short `train task` and return [(kernel path, argument type texts, seconds)] of the cached CPU kernels
    it called from Python, longest compile first (seconds None for kernels that were already in the cache)."""
    from tinygrad_edu import cli

    listener = _TopLevelCompiles()
    event.register("numba:compile", listener)
    switch = os.environ.get(ENVIRONMENT_SWITCH)
    os.environ[ENVIRONMENT_SWITCH] = "0"  # every compile in this process, where the listener sees it
    try:
        cli.main(["train", task, "--quiet", *RECORD_ARGUMENTS.get(task, [])])
    finally:
        event.unregister("numba:compile", listener)
        if switch is None:
            os.environ.pop(ENVIRONMENT_SWITCH)
        else:
            os.environ[ENVIRONMENT_SWITCH] = switch
    called = set(listener.found)
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("kernels.cpu."):
            for dispatcher in kernel_cache.cached_dispatchers(module):
                called.update((dispatcher, tuple(signature)) for signature in dispatcher._cache_hits)
    rows = []
    for dispatcher, argument_types in called:
        path = _kernel_path(dispatcher)
        if path is None or getattr(dispatcher, "_cache", None) is None:
            continue
        if any(isinstance(t, types.Literal) for t in argument_types):
            continue  # a constant argument of a call inside a kernel: a cache hit of that kernel's compile, not a call
        result = dispatcher.overloads.get(argument_types)
        timers = (result.metadata or {}).get("timers", {}) if result is not None else {}
        seconds = timers.get("compiler_lock")
        rows.append((path, tuple(repr(t) for t in argument_types), None if seconds is None else round(seconds, 2)))
    return sorted(rows, key=lambda row: (-(row[2] or 0.0), row[0]))


def write_signatures(recorded, path=None, calls=None):
    """Write {task: rows} (and {task: {kernel: {kernel it calls: seconds}}}) as tinygrad_edu/kernel_signatures.py."""
    path = path or os.path.join(os.path.dirname(__file__), "kernel_signatures.py")
    lines = ['"""The Numba CPU kernels each `train` command calls, with their argument types: what',
             'tinygrad_edu/precompile.py compiles in parallel on a cold cache. Generated; do not edit by hand:',
             '',
             '    NUMBA_CACHE_DIR=$(mktemp -d) python -m tinygrad_edu.record_signatures cnn',
             '',
             'Each row: (kernel, argument types as numba.core.types writes them, seconds to compile it alone in a',
             'fresh process, the kernels it calls included: only to split the work into equal shares).',
             'CALLS: for each kernel, the kernels its compile compiled too, with their seconds: a worker compiles',
             'those once for all the kernels of its share.',
             '"""',
             'SIGNATURES = {']
    for task, rows in sorted(recorded.items()):
        lines.append(f"    {task!r}: [")
        for kernel, argument_types, seconds in rows:
            lines.append(f"        ({kernel!r}, (")
            lines.extend(f"            {text!r}," for text in argument_types)
            lines.append(f"        ), {seconds!r}),")
        lines.append("    ],")
    lines.append("}")
    lines.append("CALLS = {")
    for task, by_kernel in sorted((calls or {}).items()):
        lines.append(f"    {task!r}: {{")
        for kernel, called in sorted(by_kernel.items()):
            lines.append(f"        {kernel!r}: {{")
            lines.extend(f"            {name!r}: {seconds!r}," for name, seconds in sorted(called.items()))
            lines.append("        },")
        lines.append("    },")
    lines.append("}")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.record_signatures",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+", metavar="TASK", help="the `train` commands to record, e.g. cnn")
    args = parser.parse_args(argv)
    module = importlib.import_module(SIGNATURES_MODULE)
    recorded, calls = dict(module.SIGNATURES), dict(getattr(module, "CALLS", {}))
    for task in args.tasks:
        before = {(kernel, argument_types): seconds for kernel, argument_types, seconds in recorded.get(task, ())}
        rows, calls[task] = [], {}
        for kernel, argument_types, _ in record(task):
            seconds, called = compile_seconds_alone(kernel, argument_types)
            rows.append((kernel, argument_types, before.get((kernel, argument_types), 1.0) if seconds is None
                         else seconds))
            if called:
                calls[task][kernel] = called
        recorded[task] = sorted(rows, key=lambda row: (-row[2], row[0]))
    print(write_signatures(recorded, calls=calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
