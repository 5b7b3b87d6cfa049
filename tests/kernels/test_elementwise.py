import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kernels.cpu import elementwise as cpu
from kernels.reference import elementwise as ref


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_erf_matches_the_python_reference(dtype, data):
    x = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3), elements=st.floats(-6, 6, width=32)))
    got = cpu.erf(x)
    assert got.dtype == dtype
    # Both call the C library's erf; float32 inputs are evaluated in float32 by the ufunc, hence 1 ulp.
    np.testing.assert_allclose(got, ref.erf(x), rtol=2e-7 if dtype == np.float32 else 1e-15, atol=1e-7 if dtype == np.float32 else 0)


def test_erf_known_values_and_errors():
    np.testing.assert_allclose(cpu.erf(np.array([0.0, 1.0, -2.0])), [0.0, math.erf(1.0), math.erf(-2.0)], rtol=1e-15)
    with pytest.raises(TypeError, match="erf: expected a float32 or float64 ndarray, got int64"):
        cpu.erf(np.arange(3))
