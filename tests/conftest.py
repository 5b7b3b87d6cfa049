"""Shared test set-up: Hypothesis profiles chosen by the HYPOTHESIS_PROFILE environment variable.

`ci` keeps the suite within a few minutes on 2 cores; `dev` (the default) explores more; `thorough` is for a
long local run before a release.
"""
import os

# The CUDA kernels run under Numba's CUDA simulator where there is no GPU. The variable must be set before
# numba is first imported; it leaves the CPU kernels (@njit) untouched. On a machine with an NVIDIA driver the
# same tests run on the real GPU.
if not os.path.exists("/dev/nvidiactl"):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

# The thread count stays where a test puts it: following the machine's load (tinygrad_edu/threads.py) would change
# it between two calls of one test whenever another program ran. tests/test_follow_load.py turns it on where it
# checks it.
os.environ.setdefault("TINYGRAD_EDU_FOLLOW_LOAD", "0")

from hypothesis import HealthCheck, settings  # noqa: E402

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=12, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=300, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


import pytest  # noqa: E402

import tinygrad_edu as tg  # noqa: E402


@pytest.fixture(params=["numpy", "cpu"])
def backend(request):
    """Run a test once per CPU kernel set: the NumPy reference and the Numba kernels."""
    with tg.set_backend(request.param):
        yield request.param
