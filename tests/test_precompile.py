"""Compiling a command's kernels in worker processes on a cold cache (tinygrad_edu/precompile.py): the workers fill
Numba's cache, the training process loads from it and computes the same values, and everything still works when
the workers cannot start or fail."""
import json
import os
import subprocess
import sys
import types as types_module

import pytest
from numba.core import types

import tinygrad_edu as tg
from tinygrad_edu import cli, precompile
from tinygrad_edu.kernel_signatures import SIGNATURES
from tinygrad_edu.tasks import common

ARRAY = "Array(float64, 1, 'C', False, aligned=True)"

TINY_KERNELS = '''
from numba import njit


@njit(cache=True)
def add_one(x, out):
    for i in range(x.shape[0]):
        out[i] = x[i] + 1.0


@njit(cache=True)
def total(x):
    s = 0.0
    for value in x:
        s += value
    return s


@njit(cache=True)
def twice_total(x):
    return 2.0 * total(x)
'''

# Runs in a fresh process with an empty NUMBA_CACHE_DIR: starts the workers as sys.argv[1] says, calls both kernels
# and reports what the process computed and whether it compiled anything itself.
SCRIPT = '''
import contextlib, json, sys
import numpy as np
from tinygrad_edu import kernel_cache, precompile
import tiny_kernels

ARRAY = "Array(float64, 1, 'C', False, aligned=True)"
# two workers: `total` in one share, `twice_total`, which calls it, in the other
precompile.signatures = lambda task: [("tiny_kernels.add_one", (ARRAY, ARRAY), 0.5),
                                      ("tiny_kernels.total", (ARRAY,), 1.0),
                                      ("tiny_kernels.twice_total", (ARRAY,), 1.0),
                                      ("tiny_kernels.not_there", (ARRAY,), 2.0)]
options = {"fork": {}, "spawn": {"spawn": True},
           "cannot_start": {"spawn": True, "command": ["/nonexistent/python"]},
           "worker_fails": {"spawn": True, "command": [sys.executable, "-c", "raise SystemExit(1)"]}}[sys.argv[1]]
background = precompile.start("tiny", workers=2, **options)
x, out = np.arange(4.0), np.empty(4)
with background or contextlib.nullcontext():
    tiny_kernels.add_one(x, out)
    result = tiny_kernels.twice_total(x) - tiny_kernels.total(x)
kernels = (tiny_kernels.add_one, tiny_kernels.total, tiny_kernels.twice_total)
print(json.dumps({"started": background is not None, "out": out.tolist(), "total": result,
                  "compiled_here": sum(sum(k._cache_misses.values()) for k in kernels),
                  "cached": [kernel_cache.has_entry(k, sig) for k in kernels for sig in k.overloads]}))
'''


def run_in_fresh_process(tmp_path, mode):
    (tmp_path / "tiny_kernels.py").write_text(TINY_KERNELS)
    (tmp_path / "script.py").write_text(SCRIPT)
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
                       PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    environment.pop(precompile.ENVIRONMENT_SWITCH, None)
    completed = subprocess.run([sys.executable, str(tmp_path / "script.py"), mode], capture_output=True, text=True,
                               env=environment, cwd=tmp_path, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_workers_fill_the_cache_and_the_process_loads_instead_of_compiling(tmp_path, mode):
    report = run_in_fresh_process(tmp_path, mode)
    assert report["started"]
    assert report["out"] == [1.0, 2.0, 3.0, 4.0] and report["total"] == 6.0
    assert report["compiled_here"] == 0  # every kernel came from the workers' cache entries
    assert report["cached"] == [True, True, True]


def test_without_workers_the_kernels_compile_in_the_process_as_usual(tmp_path):
    report = run_in_fresh_process(tmp_path, "cannot_start")
    assert not report["started"]
    assert report["out"] == [1.0, 2.0, 3.0, 4.0] and report["total"] == 6.0
    assert report["compiled_here"] == 3


def test_a_worker_that_fails_leaves_the_kernels_to_the_process(tmp_path):
    report = run_in_fresh_process(tmp_path, "worker_fails")
    assert report["started"]
    assert report["out"] == [1.0, 2.0, 3.0, 4.0] and report["total"] == 6.0
    assert report["compiled_here"] == 3


def test_shares_have_about_equal_recorded_seconds_longest_first():
    items = [(name, (), seconds, name) for name, seconds in [("a", 1.0), ("b", 4.0), ("c", 2.0), ("d", 2.0)]]
    shares = precompile.split(items, 2)
    assert [[item[0] for item in share] for share in shares] == [["b", "a"], ["c", "d"]]
    assert precompile.split(items[:1], 3) == [items[:1]]  # no empty shares


def test_kernels_that_call_the_same_kernel_share_a_worker_so_it_compiles_once():
    items = [(name, (), seconds, name) for name, seconds in [("a", 2.0), ("b", 2.0), ("c", 1.0)]]
    calls = {"a": {"shared": 1.5}, "b": {"shared": 1.5}}
    shares = precompile.split(items, 2, calls)
    assert [[item[0] for item in share] for share in shares] == [["a", "b"], ["c"]]
    without_calls = precompile.split(items, 2)  # balanced by seconds alone, a and b go to different workers
    assert [[item[0] for item in share] for share in without_calls] == [["a", "c"], ["b"]]


def test_the_split_doctests_hold():
    import doctest
    assert doctest.testmod(precompile).failed == 0


def test_argument_types_read_back_from_their_text():
    written = (types.Array(types.float32, 4, "C"), types.Array(types.int64, 2, "A", readonly=True), types.boolean,
               types.int64, types.float64, types.uint64, types.UniTuple(types.int64, 2))
    assert precompile.parse_types([repr(t) for t in written]) == written
    assert precompile.parse_types(["int64", "no_such_type"]) is None
    assert precompile.parse_types(["__import__('os')"]) is None  # the text is read as a type, nothing else
    assert precompile.parse_types(["3"]) is None


def test_kernels_that_no_longer_exist_are_skipped(monkeypatch):
    monkeypatch.setattr(precompile, "signatures", lambda task: [("kernels.cpu.gemm.no_such_kernel", ("int64",), 1.0),
                                                                ("no_such_module.kernel", ("int64",), 1.0),
                                                                ("kernels.cpu.gemm._gemm_serial", ("nonsense",), 1.0)])
    assert precompile.pending("cnn") == []
    assert precompile.start("cnn") is None


def test_nothing_is_compiled_in_workers_when_the_cache_cannot_be_written(monkeypatch):
    monkeypatch.setattr(precompile.kernel_cache, "has_entry", lambda dispatcher, argument_types: False)
    assert len(precompile.pending("cnn")) == len(SIGNATURES["cnn"])  # all missing, all worth compiling
    monkeypatch.setattr(precompile.os, "access", lambda path, mode: False)
    assert precompile.pending("cnn") == []  # a worker's machine code could not reach this process


def test_the_signature_list_holds_every_kernel_train_cnn_calls():
    # A short run in a fresh process records (kernel, argument types) of every cached kernel it calls; a kernel
    # renamed or given other arguments without re-recording would compile in the training process again.
    # To update: NUMBA_CACHE_DIR=$(mktemp -d) python -m tinygrad_edu.record_signatures cnn
    code = "import json; from tinygrad_edu import record_signatures; print(json.dumps(record_signatures.record('cnn')))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    called = {(kernel, tuple(argument_types)) for kernel, argument_types, _ in
              json.loads(completed.stdout.strip().splitlines()[-1])}
    listed = {(kernel, tuple(argument_types)) for kernel, argument_types, _ in SIGNATURES["cnn"]}
    assert called and called <= listed, sorted(called - listed)
    assert all(precompile.find_kernel(kernel) is not None for kernel, _ in listed)
    assert all(precompile.parse_types(argument_types) is not None for _, argument_types in listed)


class _FakeBackground:
    def __init__(self, task):
        self.task, self.entered, self.exited = task, False, False

    def __enter__(self):
        self.entered = True
        precompile._compiling.add(self)
        return self

    def __exit__(self, *exc_info):
        self.exited = True
        precompile._compiling.discard(self)


TINY_RNN = ["--steps", "2", "--length", "3", "--hidden", "4", "--batch-size", "4", "--quiet"]


def test_train_compiles_in_the_background_around_the_run_with_the_numba_backend_only(monkeypatch):
    started = []
    monkeypatch.setattr(precompile, "start", lambda task: started.append(_FakeBackground(task)) or started[-1])
    assert cli.main(["train", "rnn", *TINY_RNN, "--backend", "numpy"]) == 0
    assert started == []
    with tg.set_backend("cpu"):
        assert cli.main(["train", "rnn", *TINY_RNN]) == 0
    assert [(b.task, b.entered, b.exited) for b in started] == [("rnn", True, True)]


def test_the_compile_notice_shows_while_workers_compile(monkeypatch):
    warm_cache = types_module.ModuleType("tinygrad_edu.kernel_cache")
    warm_cache.FAMILIES_BY_TASK = {}
    warm_cache.is_warm = lambda families=None: True
    monkeypatch.setitem(sys.modules, "tinygrad_edu.kernel_cache", warm_cache)
    assert common.kernel_cache_is_warm("cnn")
    with _FakeBackground("cnn"):
        assert not common.kernel_cache_is_warm("cnn")  # the cache may look warm while the rest still compiles
        assert common.kernel_cache_is_warm("rnn")
