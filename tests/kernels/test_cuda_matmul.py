"""CUDA matmul and elementwise/sum kernels against NumPy (runs on a GPU, or under NUMBA_ENABLE_CUDASIM=1).

Tolerances: float64 atol/rtol 1e-12; float32 rtol/atol 1e-5 against the float64 product (K ≤ 40 terms).
Shapes are tiny and few because every simulated thread costs ~0.1 ms; they cover 1s, odd sizes, sizes that are not
multiples of the 32-wide block tile (33, 35) and non-contiguous host inputs. Hypothesis runs only 3 examples
(`max_examples=3`) for the same reason.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import kernels.cuda as cuda_kernels
from kernels.cuda import elementwise, reduce

pytestmark = pytest.mark.skipif(not cuda_kernels.is_available(),
                                reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")

FLOATS = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 2), (1, 33, 17, 35)])
def test_matmul_matches_numpy_on_odd_and_tile_edge_shapes(shape, dtype):
    batch, m, k, n = shape
    rng = np.random.default_rng(sum(shape))
    a = rng.standard_normal((batch, m, k)).astype(dtype)
    b = rng.standard_normal((batch, k, n)).astype(dtype)
    out = cuda_kernels.matmul(a, b)
    assert not isinstance(out, np.ndarray)  # device-resident result
    host = cuda_kernels.to_host(out)
    assert host.dtype == dtype and host.shape == (batch, m, n)
    np.testing.assert_allclose(host, a.astype(np.float64) @ b.astype(np.float64), **_tol(dtype))


@settings(max_examples=3)  # each simulated launch is slow: 3 drawn shapes on top of the fixed cases above
@given(m=st.integers(1, 5), k=st.integers(1, 5), n=st.integers(1, 5), dtype=st.sampled_from(FLOATS))
def test_matmul_accepts_noncontiguous_host_and_device_inputs(m, k, n, dtype):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal((1, k, m)).astype(dtype).transpose(0, 2, 1)  # (1, m, k) view, not contiguous
    b = cuda_kernels.to_device(rng.standard_normal((1, k, n)).astype(dtype))
    out = cuda_kernels.to_host(cuda_kernels.matmul(a, b))
    np.testing.assert_allclose(out, a @ cuda_kernels.to_host(b), **_tol(dtype))


def test_matmul_raises_the_reference_errors():
    with pytest.raises(ValueError, match="do not match"):
        cuda_kernels.matmul(np.ones((1, 2, 3)), np.ones((1, 2, 3)))
    with pytest.raises(TypeError, match="share one dtype"):
        cuda_kernels.matmul(np.ones((1, 2, 2), np.float32), np.ones((1, 2, 2)))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        cuda_kernels.matmul([[[1.0]]], np.ones((1, 1, 1)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_elementwise_ops_broadcast_like_numpy(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 1, 4)).astype(dtype)
    b = (rng.random((2, 1)) + 0.5).astype(dtype)
    binary = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "true_divide": np.divide,
              "maximum": np.maximum}
    for name, numpy_op in binary.items():
        out = cuda_kernels.to_host(elementwise.binary(name, a, b))
        np.testing.assert_allclose(out, numpy_op(a, b), rtol=1e-6)
        assert out.dtype == dtype
    np.testing.assert_allclose(cuda_kernels.to_host(elementwise.binary("power", b, a)), b ** a, rtol=1e-6)
    unary = {"negative": np.negative, "exp": np.exp, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0),
             "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "absolute": np.abs}
    for name, numpy_op in unary.items():
        np.testing.assert_allclose(cuda_kernels.to_host(elementwise.unary(name, a)), numpy_op(a), rtol=1e-6,
                                   atol=1e-7)
    np.testing.assert_allclose(cuda_kernels.to_host(elementwise.unary("log", b)), np.log(b), rtol=1e-6)
    np.testing.assert_allclose(cuda_kernels.to_host(elementwise.unary("sqrt", b)), np.sqrt(b), rtol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_sum_axis_matches_numpy_with_block_reduction(axis):
    x = np.random.default_rng(1).standard_normal((2, 11, 3))  # 11 > 8 simulator threads: the strided loop runs
    np.testing.assert_allclose(cuda_kernels.to_host(reduce.sum_axis(x, axis)), x.sum(axis), rtol=1e-12)
    assert reduce.sum_axis(x, axis, keepdims=True).shape == x.sum(axis, keepdims=True).shape
