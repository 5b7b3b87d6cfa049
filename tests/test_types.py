"""The type hints of the public API hold: mypy, with the settings and file list of pyproject.toml's [tool.mypy]
(Tensor and creation, Function and backward, Module, nn.functional, the optimizers), reports nothing."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PUBLIC_API = {
    "tinygrad_edu/tensor.py", "tinygrad_edu/creation.py", "tinygrad_edu/autograd.py",
    "tinygrad_edu/custom_function.py", "tinygrad_edu/nn/module.py", "tinygrad_edu/nn/functional.py",
    "tinygrad_edu/optim/optimizer.py", "tinygrad_edu/optim/sgd.py", "tinygrad_edu/optim/adam.py",
    "tinygrad_edu/optim/lr_scheduler.py",
}


def test_mypy_checks_every_file_of_the_public_api():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert PUBLIC_API <= set(config["files"])


def test_mypy_finds_no_errors_in_the_public_api(request, tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the dev extra")
    # Reuse mypy's cache between runs in pytest's own cache folder (ignored by git); a cold run reads NumPy's
    # stubs and takes some seconds.
    cache = request.config.cache.mkdir("mypy") if getattr(request.config, "cache", None) else tmp_path
    completed = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.startswith("Success: no issues found in"), completed.stdout
