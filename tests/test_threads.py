"""tinygrad_edu.set_num_threads / get_num_threads, and the short OpenMP spin the CPU kernels ask for."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_edu as tg
from benchmarks import suite
from kernels import cpu, reference
from kernels.cpu import variants


@pytest.fixture
def restore_threads():
    before = tg.get_num_threads()
    yield
    tg.set_num_threads(before)


def test_set_num_threads_changes_what_get_num_threads_reports(restore_threads):
    tg.set_num_threads(1)
    assert tg.get_num_threads() == 1
    tg.set_num_threads(tg.threads.max_threads())
    assert tg.get_num_threads() == tg.threads.max_threads()
    tg.set_num_threads(np.int64(1))  # NumPy integers count as integers, as in torch.set_num_threads
    assert tg.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -1, 10_000, 1.5, "2", True, None])
def test_set_num_threads_rejects_counts_outside_one_to_the_pool_size(bad, restore_threads):
    with pytest.raises(ValueError, match=r"set_num_threads: the thread count must be an integer from 1 to \d+"):
        tg.set_num_threads(bad)


def test_parallel_kernels_give_the_same_result_on_one_thread(restore_threads):
    rows = np.random.default_rng(0).standard_normal((256, 512)).astype(np.float32)  # above the serial cut-over
    want = reference.softmax_forward(rows)
    for count in (1, tg.threads.max_threads()):
        tg.set_num_threads(count)
        np.testing.assert_allclose(cpu.softmax_forward(rows), want, rtol=1e-5, atol=1e-7)


def _spin_setting_in_a_fresh_process(**environment):
    """(GOMP_SPINCOUNT, variants.ENVIRONMENT_SET) after `import kernels.cpu` in a new interpreter."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(environment)
    code = ("import os, kernels.cpu; from kernels.cpu import variants; "
            "print(os.environ.get('GOMP_SPINCOUNT'), variants.ENVIRONMENT_SET)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    finished = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                              check=True)
    return finished.stdout.strip()


def test_importing_the_cpu_kernels_asks_idle_openmp_threads_for_a_short_spin():
    assert _spin_setting_in_a_fresh_process() == f"{variants.SPIN_COUNT} ('GOMP_SPINCOUNT',)"


def test_a_wait_policy_the_user_chose_is_left_alone():
    assert _spin_setting_in_a_fresh_process(OMP_WAIT_POLICY="PASSIVE") == "None ()"
    assert _spin_setting_in_a_fresh_process(GOMP_SPINCOUNT="50") == "50 ()"


def test_the_benchmark_times_pytorch_without_the_engines_spin_setting(monkeypatch):
    monkeypatch.setattr(variants, "ENVIRONMENT_SET", ("GOMP_SPINCOUNT",))
    monkeypatch.setenv("GOMP_SPINCOUNT", variants.SPIN_COUNT)
    environments = suite.worker_environments(["ours:cpu", "torch", "numpy_blas"])
    assert environments["ours:cpu"]["GOMP_SPINCOUNT"] == variants.SPIN_COUNT
    assert "GOMP_SPINCOUNT" not in environments["torch"]
    assert "GOMP_SPINCOUNT" not in environments["numpy_blas"]
