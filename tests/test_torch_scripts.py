"""The PyTorch script corpus: each script in tests/torch_scripts/ runs under real PyTorch and again with only its
import lines swapped to tinygrad_edu, and the final metrics must agree.

A script prints one JSON object (its metrics) as the last line of its output. How closely each metric must agree
is written below per script, with the reason:

- Deterministic scripts (no random numbers, or weights set from NumPy and batches in a fixed order) must agree to
  float32 rounding. The bound comes from an experiment under PyTorch alone: multiplying every initial weight by
  (1 + 1e-6 N(0, 1)) moved the final losses of these scripts by at most 4e-6 relative (cnn_digits, the most
  sensitive), so `rtol=1e-4` leaves a 25x margin for rounding differences while a wrong formula (a missing bias
  correction, a wrong eps, a wrong mean) moves them by 1e-3 or more. tinygrad_edu's runs differ from PyTorch's by at
  most 1.2e-6 relative (rnn_sum's test MSE). An accuracy may differ by one sample that sits on the decision
  boundary.
- Scripts that draw from the framework's random stream (default init, shuffling, dropout) take different paths
  under the two engines. They must both reach PyTorch's quality, measured over seeds 0-6 under PyTorch, and land
  within the spread of those seeds.
"""
import argparse
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

SCRIPTS_DIR = Path(__file__).resolve().parent / "torch_scripts"

# ----- the import swap ----------------------------------------------------------------------------------------
_IMPORT_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<keyword>import|from)[ \t]+torch(?![\w])(?P<rest>.*)$")


def swap_imports(source):
    """Rewrite a PyTorch script's import lines to tinygrad_edu; every other line stays as it is.

    >>> swap_imports("import torch\\nimport torch.nn as nn\\nx = torch.zeros(2)")
    'import tinygrad_edu as torch\\nimport tinygrad_edu.nn as nn\\nx = torch.zeros(2)'
    """
    lines = source.split("\n")
    for number, line in enumerate(lines):
        match = _IMPORT_LINE.match(line)
        if match is None:
            continue
        indent, keyword, rest = match["indent"], match["keyword"], match["rest"]
        if keyword == "from":
            # from torch import nn / from torch.utils.data import DataLoader
            lines[number] = f"{indent}from tinygrad_edu{rest}"
        elif rest == "":
            lines[number] = f"{indent}import tinygrad_edu as torch"
        elif re.fullmatch(r"(\.\w+)*[ \t]+as[ \t]+\w+[ \t]*(#.*)?", rest):
            # import torch.nn as nn / import torch as th
            lines[number] = f"{indent}import tinygrad_edu{rest}"
        else:
            # `import torch.nn` binds the name `torch`, `import torch, numpy` imports two modules: neither can be
            # rewritten on its own line without changing what the script means.
            raise ValueError(f"swap_imports: line {number + 1} has an import form the swap does not handle: {line!r}")
    return "\n".join(lines)


# ----- running the corpus -------------------------------------------------------------------------------------
# Two interpreters, one per engine, started side by side: each imports its framework once and runs every script
# in a fresh namespace as `__main__`, so the corpus pays PyTorch's import (seconds) and Numba's kernel compilation
# once, not once per script. The swap keeps line numbers, so a traceback points at the script's own lines.
ENGINES = ("torch", "tinygrad_edu")
CORPUS_TIMEOUT_S = 900


def run_corpus(engine, names):
    """Run each named script under `engine` in this interpreter; print one JSON record per script."""
    for name in names:
        path = SCRIPTS_DIR / f"{name}.py"
        source = path.read_text()
        if engine == "tinygrad_edu":
            source = swap_imports(source)
        output = io.StringIO()
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(output):
                exec(compile(source, str(path), "exec"), {"__name__": "__main__", "__file__": str(path)})
            lines = [line for line in output.getvalue().splitlines() if line.strip()]
            record = {"result": json.loads(lines[-1])}
        except Exception:  # report the failure and go on with the next script
            record = {"error": traceback.format_exc(limit=-6), "output_tail": output.getvalue()[-2000:]}
        record.update(name=name, seconds=round(time.perf_counter() - started, 2))
        print(json.dumps(record), flush=True)


def _start_engine(engine, names):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # tiny models: one thread is fastest, and the two engines share the CI's 2 cores
    # conftest turns Numba's CUDA simulator on for the kernel tests; a user's script sees the machine as it is
    # (`torch.cuda.is_available()` is False without a GPU, as for the CPU build of PyTorch).
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    command = [sys.executable, str(Path(__file__).resolve()), "--engine", engine, *names]
    return subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _collect(process, engine):
    try:
        stdout, stderr = process.communicate(timeout=CORPUS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    records = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            records[record["name"]] = record
    return records, f"{engine} interpreter, exit code {process.returncode}; stderr tail:\n{stderr[-3000:]}"


def _selected_script_names(session):
    names = {item.callspec.params["name"] for item in session.items
             if getattr(item, "originalname", None) == "test_script_gives_pytorchs_metrics_with_only_the_imports_swapped"}
    return sorted(names)


@pytest.fixture(scope="module")
def corpus_results(request):
    """{engine: ({name: record}, diagnostics)} for the scripts this pytest run selected."""
    names = _selected_script_names(request.session) or SCRIPT_NAMES
    processes = {engine: _start_engine(engine, names) for engine in ENGINES}
    return {engine: _collect(process, engine) for engine, process in processes.items()}


def _result(corpus_results, engine, name):
    records, diagnostics = corpus_results[engine]
    if name not in records:
        raise AssertionError(f"{name}: no record from the {diagnostics}")
    record = records[name]
    if "error" in record:
        label = "PyTorch" if engine == "torch" else "tinygrad_edu (imports swapped)"
        raise AssertionError(f"{name} under {label} failed:\n{record['error']}")
    return record["result"]


# ----- how metrics are compared -------------------------------------------------------------------------------
class Close:
    """Same structure; bools, ints and strings equal (type included); floats within rtol/atol."""

    def __init__(self, rtol=0.0, atol=0.0):
        self.rtol, self.atol = rtol, atol

    def check(self, expected, actual, where):
        if isinstance(expected, float) and isinstance(actual, float):
            if math.isnan(expected) and math.isnan(actual):
                return []
            if abs(actual - expected) <= self.atol + self.rtol * abs(expected):
                return []
            return [f"{where}: {actual!r} vs PyTorch {expected!r} (rtol={self.rtol}, atol={self.atol})"]
        if type(expected) is not type(actual):
            return [f"{where}: {type(actual).__name__} {actual!r} vs PyTorch {type(expected).__name__} {expected!r}"]
        if isinstance(expected, list):
            if len(expected) != len(actual):
                return [f"{where}: length {len(actual)} vs PyTorch {len(expected)}"]
            return [e for i, (x, y) in enumerate(zip(expected, actual)) for e in self.check(x, y, f"{where}[{i}]")]
        if isinstance(expected, dict):
            if expected.keys() != actual.keys():
                return [f"{where}: keys {sorted(actual)} vs PyTorch {sorted(expected)}"]
            return [e for k in expected for e in self.check(expected[k], actual[k], f"{where}[{k!r}]")]
        return [] if expected == actual else [f"{where}: {actual!r} vs PyTorch {expected!r}"]


EXACT = Close()


class Band:
    """Both runs reach a quality bar (low <= value <= high) and differ by at most `gap`; for metrics of runs whose
    random streams differ."""

    def __init__(self, low=-math.inf, high=math.inf, gap=math.inf):
        self.low, self.high, self.gap = low, high, gap

    def check(self, expected, actual, where):
        errors = []
        for label, value in (("PyTorch", expected), ("tinygrad_edu", actual)):
            if not self.low <= value <= self.high:
                errors.append(f"{where}: {label} gives {value!r}, outside [{self.low}, {self.high}]")
        if abs(actual - expected) > self.gap:
            errors.append(f"{where}: {actual!r} vs PyTorch {expected!r} differ by more than {self.gap}")
        return errors


def one_sample(n):
    """An accuracy over n samples may differ by one sample on the decision boundary."""
    return Close(atol=1.0 / n + 1e-9)


TRAINING = Close(rtol=1e-4, atol=1e-6)  # deterministic training runs: see the module docstring

SPECS = {
    # Elementwise float32 math on a handful of values: a few ulps (1 ulp = 6e-8 relative).
    "tensor_basics": {"*": Close(rtol=1e-6, atol=1e-7)},
    # Adam on shuffled batches from each framework's own init. PyTorch over seeds 0-6: accuracy 0.960-0.977,
    # test loss 0.082-0.111.
    "mlp_digits": {
        "num_params": EXACT,
        "num_batches": EXACT,
        "test_loss": Band(high=0.2),
        "test_accuracy": Band(low=0.94, gap=0.03),
    },
    "cnn_digits": {"lrs": EXACT, "last_train_loss": TRAINING, "test_loss": TRAINING, "test_accuracy": one_sample(597)},
    "rnn_sum": {"*": TRAINING, "h0_matches": EXACT, "param_names": EXACT},
    "transformer_classifier": {
        "*": TRAINING,
        "test_accuracy": one_sample(200),
        "num_params": EXACT,
        "state_dict_keys": EXACT,
    },
    "causal_attention": {
        "*": TRAINING,
        # the two attention forms agree to rounding in each framework; the value itself is rounding noise
        "flash_vs_manual_max_diff": Band(high=1e-5),
        "eval_accuracy": one_sample(128),
        "prefix_unchanged": EXACT,
    },
    "dqn_update": {"*": TRAINING, "greedy_actions": EXACT, "huber_equals_smooth_l1": EXACT, "frozen_matches": EXACT},
    # Learning rates are Python floats from closed formulas: equal up to the order of float operations.
    "save_load": {
        "*": EXACT,
        "straight_losses": TRAINING,
        "resumed_losses": TRAINING,
        "lr_after_load": Close(rtol=1e-12),
        "step_lrs": Close(rtol=1e-12),
        "cosine_lrs": Close(rtol=1e-12),
    },
    # 200 plain gradient-descent steps; the coefficients a and c are rounding residue near 0 (sin is odd), so
    # they need an absolute tolerance.
    "custom_function": {"*": Close(rtol=1e-5, atol=1e-6), "requires_grad_after_apply": EXACT},
    # Dropout and shuffling: PyTorch over seeds 0-6 gives validation accuracy 0.95-1.0 (60 samples) and best
    # validation loss 0.105-0.148.
    "batchnorm_dropout": {
        "*": EXACT,
        "best_val_loss": Band(high=0.25),
        "restored_val_loss": Band(high=0.25, gap=math.inf),
        "val_accuracy": Band(low=0.9, gap=0.07),
    },
    "regression_basics": {"*": TRAINING, "logistic_accuracy": one_sample(200)},
    # A few float32 products and sums per value: rounding differs with summation order, near 0 in absolute terms.
    "tensor_ops_tour": {"*": Close(rtol=1e-5, atol=1e-6)},
    "finetune_frozen": {"*": TRAINING, "accuracy": one_sample(64)},
}

SCRIPT_NAMES = sorted(path.stem for path in SCRIPTS_DIR.glob("*.py"))


def compare(name, expected, actual):
    spec = SPECS[name]
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    errors = [f"{name}: metrics missing under tinygrad_edu: {missing}"] if missing else []
    errors += [f"{name}: metrics PyTorch does not report: {extra}"] if extra else []
    for key in expected:
        if key not in actual:
            continue
        checker = spec.get(key, spec.get("*"))
        errors += checker.check(expected[key], actual[key], f"{name}.{key}")
    return errors


# ----- tests --------------------------------------------------------------------------------------------------
def test_corpus_has_at_least_ten_scripts_each_with_a_comparison_spec():
    assert len(SCRIPT_NAMES) >= 10
    assert set(SCRIPT_NAMES) == set(SPECS)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_is_plain_pytorch(name):
    source = (SCRIPTS_DIR / f"{name}.py").read_text()
    assert "tinygrad" not in source
    assert re.search(r"^import torch$", source, flags=re.M)
    assert re.search(r"^\s*print\(json\.dumps\(main\(\)\)\)$", source, flags=re.M)


def test_swap_imports_rewrites_every_torch_import_form_and_nothing_else():
    source = "\n".join([
        "import math",
        "import torch",
        "import torch.nn as nn",
        "import torch.nn.functional as F",
        "import torch.optim as optim",
        "from torch import nn",
        "from torch.utils.data import DataLoader, TensorDataset",
        "from torch.optim.lr_scheduler import StepLR",
        "import torchvision",
        "x = torch.tensor([1.0])  # import torch",
        "    import torch",
    ])
    assert swap_imports(source).split("\n") == [
        "import math",
        "import tinygrad_edu as torch",
        "import tinygrad_edu.nn as nn",
        "import tinygrad_edu.nn.functional as F",
        "import tinygrad_edu.optim as optim",
        "from tinygrad_edu import nn",
        "from tinygrad_edu.utils.data import DataLoader, TensorDataset",
        "from tinygrad_edu.optim.lr_scheduler import StepLR",
        "import torchvision",
        "x = torch.tensor([1.0])  # import torch",
        "    import tinygrad_edu as torch",
    ]


@pytest.mark.parametrize("line", ["import torch.nn", "import torch, numpy"])
def test_swap_imports_refuses_forms_it_cannot_rewrite_on_one_line(line):
    with pytest.raises(ValueError, match="swap_imports"):
        swap_imports(line)


def test_swapped_scripts_differ_from_the_originals_only_in_import_lines():
    for name in SCRIPT_NAMES:
        original = (SCRIPTS_DIR / f"{name}.py").read_text().split("\n")
        swapped = swap_imports("\n".join(original)).split("\n")
        assert len(original) == len(swapped)
        for before, after in zip(original, swapped):
            if before != after:
                assert re.match(r"\s*(import|from) torch\b", before), before
                assert "tinygrad_edu" in after


def test_compare_flags_drift_type_changes_missing_metrics_and_a_missed_quality_bar():
    expected = {"final_loss": 0.5, "losses": [1.0, 0.5], "count": 3, "test_accuracy": 0.96}
    assert compare("rnn_sum", expected, dict(expected)) == []
    assert compare("rnn_sum", expected, {**expected, "final_loss": 0.5 * (1 + 5e-5)}) == []
    drifted = compare("rnn_sum", expected, {**expected, "final_loss": 0.5 * (1 + 1e-3), "losses": [1.0, 0.6]})
    assert [error.split(":")[0] for error in drifted] == ["rnn_sum.final_loss", "rnn_sum.losses[1]"]
    assert compare("rnn_sum", expected, {**expected, "count": 3.0}) == ["rnn_sum.count: float 3.0 vs PyTorch int 3"]
    assert "missing" in compare("rnn_sum", expected, {"final_loss": 0.5, "losses": [1.0, 0.5]})[0]
    assert compare("mlp_digits", {"test_accuracy": 0.96}, {"test_accuracy": 0.92})  # below the 0.94 bar
    assert compare("mlp_digits", {"test_accuracy": 0.96}, {"test_accuracy": 0.95}) == []


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_gives_pytorchs_metrics_with_only_the_imports_swapped(name, corpus_results):
    torch_result = _result(corpus_results, "torch", name)
    swapped_result = _result(corpus_results, "tinygrad_edu", name)
    errors = compare(name, torch_result, swapped_result)
    assert not errors, "\n".join(errors)


if __name__ == "__main__":
    # The child side of `corpus_results`; also handy by hand:
    #   python tests/test_torch_scripts.py --engine tinygrad_edu cnn_digits
    parser = argparse.ArgumentParser(description="Run corpus scripts under one engine; print a JSON record each.")
    parser.add_argument("--engine", choices=ENGINES, required=True)
    parser.add_argument("names", nargs="*", default=SCRIPT_NAMES)
    arguments = parser.parse_args()
    run_corpus(arguments.engine, arguments.names)
