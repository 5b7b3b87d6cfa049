"""Record which cached CPU kernels a `train` command calls, with their argument types, into
tinygrad_edu/kernel_signatures.py: the list tinygrad_edu/precompile.py compiles in worker processes on a cold cache.

    NUMBA_CACHE_DIR=$(mktemp -d) python -m tinygrad_edu.record_signatures cnn

Run it after renaming a kernel or changing its argument types (tests/test_precompile.py says when). With an empty
cache directory every kernel compiles during the recording, and its compile seconds are kept to split the work into
equal shares; a kernel that was already cached keeps the seconds recorded before.
"""
import argparse
import importlib
import os
import sys

from numba.core import event

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
        result = dispatcher.overloads.get(argument_types)
        timers = (result.metadata or {}).get("timers", {}) if result is not None else {}
        seconds = timers.get("compiler_lock")
        rows.append((path, tuple(repr(t) for t in argument_types), None if seconds is None else round(seconds, 2)))
    return sorted(rows, key=lambda row: (-(row[2] or 0.0), row[0]))


def write_signatures(recorded, path=None):
    """Write {task: rows} as tinygrad_edu/kernel_signatures.py."""
    path = path or os.path.join(os.path.dirname(__file__), "kernel_signatures.py")
    lines = ['"""The Numba CPU kernels each `train` command calls, with their argument types: what',
             'tinygrad_edu/precompile.py compiles in parallel on a cold cache. Generated; do not edit by hand:',
             '',
             '    NUMBA_CACHE_DIR=$(mktemp -d) python -m tinygrad_edu.record_signatures cnn',
             '',
             'Each row: (kernel, argument types as numba.core.types writes them, seconds its compile took when',
             'recorded: only to split the work into equal shares).',
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
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.record_signatures",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+", metavar="TASK", help="the `train` commands to record, e.g. cnn")
    args = parser.parse_args(argv)
    recorded = dict(importlib.import_module(SIGNATURES_MODULE).SIGNATURES)
    for task in args.tasks:
        before = {(kernel, argument_types): seconds for kernel, argument_types, seconds in recorded.get(task, ())}
        recorded[task] = [(kernel, argument_types, before.get((kernel, argument_types), 1.0) if seconds is None
                           else seconds) for kernel, argument_types, seconds in record(task)]
    print(write_signatures(recorded))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
