"""tinygrad_edu/threads.py's `follow_load`: the CPU kernels use the cores other programs leave free, unless the user
fixed the thread count. The run queue is faked here; what is checked is the count the kernels get, never a timing."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def following(monkeypatch):
    """Follow the load from now on, with the machine's run queue given by the test: yields a setter of the number
    of other programs' runnable threads. Restores the thread count afterwards."""
    numba = threads._numba()
    before = numba.get_num_threads()
    others = {"count": 0}
    monkeypatch.setattr(threads, "_follow_load", True)
    monkeypatch.setattr(threads, "_next_look", 0.0)
    monkeypatch.setattr(threads, "runnable_tasks", lambda: others["count"] + 1)
    monkeypatch.setattr(threads, "own_runnable_threads", lambda: 1)
    monkeypatch.setattr(threads, "usable_cores", lambda: threads.max_threads())

    def set_others(count):
        others["count"] = count
        threads._next_look = 0.0  # the next kernel call looks again at once

    yield set_others
    numba.set_num_threads(before)


def _run_a_cpu_op():
    with tg.set_backend("cpu"):
        (tg.ones(4, 4) @ tg.ones(4, 4)).numpy()


@pytest.mark.parametrize("others, cores, most, want", [
    (0, 2, 2, 2), (1, 2, 2, 1), (3, 2, 2, 1), (0, 8, 4, 4), (2, 8, 8, 6), (7, 8, 8, 1), (20, 8, 8, 1)])
def test_the_kernels_get_the_cores_other_programs_leave_at_least_one(others, cores, most, want):
    assert threads.threads_for_load(others, cores, most) == want


@pytest.mark.skipif(threads.max_threads() < 2, reason="needs two Numba threads")
def test_a_cpu_op_drops_to_fewer_threads_while_other_programs_fill_the_cores_and_comes_back(following):
    following(0)
    _run_a_cpu_op()
    assert tg.get_num_threads() == threads.max_threads()
    following(threads.max_threads())  # every core taken by another program's runnable thread
    _run_a_cpu_op()
    assert tg.get_num_threads() == 1
    following(0)
    _run_a_cpu_op()
    assert tg.get_num_threads() == threads.max_threads()


@pytest.mark.skipif(threads.max_threads() < 2, reason="needs two Numba threads")
def test_between_looks_the_count_stays(following, monkeypatch):
    following(0)
    _run_a_cpu_op()
    following(100)
    monkeypatch.setattr(threads, "_next_look", float("inf"))  # the next look is not due
    _run_a_cpu_op()
    assert tg.get_num_threads() == threads.max_threads()


@pytest.mark.skipif(threads.max_threads() < 2, reason="needs two Numba threads")
def test_a_count_the_user_set_is_kept_whatever_the_load(following):
    tg.set_num_threads(threads.max_threads())
    assert not threads.following_load()
    following(100)
    _run_a_cpu_op()
    assert tg.get_num_threads() == threads.max_threads()


def test_the_numpy_backend_never_looks_at_the_load(monkeypatch):
    calls = []
    monkeypatch.setattr(threads, "follow_load", lambda: calls.append(1))
    with tg.set_backend("numpy"):
        (tg.ones(4, 4) @ tg.ones(4, 4)).numpy()
    assert calls == []


def test_this_process_counts_at_least_its_own_running_thread():
    assert threads.own_runnable_threads() >= 1
    assert threads.usable_cores() >= 1
    runnable = threads.runnable_tasks()
    assert runnable is None or runnable >= 1


def _following_in_a_fresh_process(**environment):
    env = {key: value for key, value in os.environ.items() if key != "TINYGRAD_EDU_FOLLOW_LOAD"}
    env.update(environment)
    code = "from tinygrad_edu import threads; print(threads.following_load())"
    finished = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                              check=True)
    return finished.stdout.strip()


def test_follow_load_is_the_default_and_an_environment_variable_turns_it_off():
    assert _following_in_a_fresh_process() == "True"
    assert _following_in_a_fresh_process(TINYGRAD_EDU_FOLLOW_LOAD="0") == "False"


def test_results_do_not_depend_on_the_thread_count_the_load_chose(following):
    """What follow_load changes is only how many threads share the work: the numbers stay the same."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 300, 300)).astype(np.float32)
    following(0)
    with tg.set_backend("cpu"):
        wide = (tg.tensor(a) @ tg.tensor(b)).numpy()
        following(threads.max_threads())
        narrow = (tg.tensor(a) @ tg.tensor(b)).numpy()
    np.testing.assert_array_equal(wide, narrow)
