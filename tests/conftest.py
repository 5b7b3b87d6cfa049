"""Shared test set-up: Hypothesis profiles chosen by the HYPOTHESIS_PROFILE environment variable.

`ci` keeps the suite within a few minutes on 2 cores; `dev` (the default) explores more; `thorough` is for a
long local run before a release.
"""
import os

from hypothesis import HealthCheck, settings

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
