"""kernels/cpu/memory.py: importing the CPU kernels makes glibc's malloc keep freed memory for the next step, unless
the user configured malloc. Checked by what it does (page faults of a repeated allocation), never by timing."""
import os
import subprocess
import sys

import pytest

from kernels.cpu import memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# In a fresh interpreter: optionally import the CPU kernels, then 50 rounds of what a training step does with memory:
# allocate and touch a few arrays, keep them all to the end of the step, free them all. Prints whether the policy was
# set and the page faults the 50 rounds took. (Freeing 4 MiB at once at the top of the heap is what makes glibc
# give it back, so the next round's arrays land in fresh pages.)
FAULTS_OF_A_REPEATED_ALLOCATION = """
import resource, sys
import numpy as np
if sys.argv[1] == "import":
    from kernels.cpu import memory
    set_ = memory.SET
else:
    set_ = None
def step():
    arrays = [np.ones(1 << 18, np.float32) for _ in range(4)]  # 1 MiB each, touched
    del arrays
step()  # the first round may map the memory once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    step()
print(set_, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(mode, **environment):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("MALLOC_") and key != "GLIBC_TUNABLES"}
    env.update(environment)
    finished = subprocess.run([sys.executable, "-c", FAULTS_OF_A_REPEATED_ALLOCATION, mode], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True)
    was_set, faults = finished.stdout.split()
    return was_set, int(faults)


needs_glibc = pytest.mark.skipif(memory._glibc() is None, reason="the policy applies to glibc's malloc only")


@needs_glibc
def test_after_importing_the_cpu_kernels_a_steps_freed_memory_is_reused_without_page_faults():
    was_set, faults = _run("import")
    assert was_set == "True"
    assert faults < 50  # 50 rounds of 4 × 256 pages: reused, not mapped afresh


@needs_glibc
def test_without_the_policy_the_same_allocation_faults_every_round():
    """The control: what the policy saves (glibc maps 4 MiB afresh, about 1,000 pages, every round)."""
    was_set, faults = _run("plain")
    assert was_set == "None"
    assert faults >= 50 * 500


@needs_glibc
@pytest.mark.parametrize("variable", ["MALLOC_ARENA_MAX", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES"])
def test_a_malloc_setting_the_user_chose_is_left_alone(variable):
    value = "glibc.malloc.arena_max=4" if variable == "GLIBC_TUNABLES" else "4"
    was_set, _ = _run("import", **{variable: value})
    assert was_set == "False"
