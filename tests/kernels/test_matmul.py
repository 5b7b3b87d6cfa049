"""matmul: cpu (our packed GEMM) against the NumPy reference, on odd shapes, views, float32 and float64.

Tolerances: float64 rtol 1e-10 (summation order differs); float32 is compared with the float64 reference of
the same inputs at atol = 1e-5 * sqrt(K) * max|a| * max|b| * sqrt(K)-free scale (values are N(0, 1), so a
dot product of length K has size ~sqrt(K) and float32 rounding error ~ 1e-7 * K in the worst case).
"""
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

# the modules themselves (the packages export the function `matmul`, from these gemm modules)
# that would shadow the module
cpu_matmul = importlib.import_module("kernels.cpu.gemm")
ref_matmul = importlib.import_module("kernels.reference.gemm")

# sizes around the tile edges (MR = 8, NR = 32) and the small/tiles cut-over
SIZES = st.sampled_from([1, 2, 5, 7, 8, 9, 13, 31, 32, 33, 64, 97])
DEPTHS = st.sampled_from([1, 3, 17, 64, 257])


def assert_matmul_close(got, a, b):
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.dtype == a.dtype and got.shape == expected.shape
    if a.dtype == np.float64:
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * a.shape[2])
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.sqrt(a.shape[2]))


@given(batch=st.sampled_from([1, 3]), m=SIZES, k=DEPTHS, n=SIZES, dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_matmul_cpu_matches_reference_on_odd_shapes(batch, m, k, n, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((batch, m, k)).astype(dtype)
    b = rng.standard_normal((batch, k, n)).astype(dtype)
    assert_matmul_close(cpu_matmul.matmul(a, b), a, b)
    assert_matmul_close(ref_matmul.matmul(a, b), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_cpu_handles_transposed_and_sliced_views(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 70, 90)).astype(dtype).transpose(0, 2, 1)  # (2, 90, 70), not contiguous
    b = rng.standard_normal((2, 80, 140)).astype(dtype)[:, 5:75, ::2]  # (2, 70, 70), strided slice
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    assert_matmul_close(cpu_matmul.matmul(a, b), a, b)


def test_matmul_cpu_parallel_tiles_with_a_long_k(monkeypatch):
    monkeypatch.setattr(cpu_matmul, "TILED_FLOPS", 0)  # 4.2 MFLOP would run the tiles serially
    rng = np.random.default_rng(1)
    a = rng.standard_normal((1, 50, 600)).astype(np.float32)  # K = 600: each micro-kernel call sums 600 products
    b = rng.standard_normal((1, 600, 70)).astype(np.float32)
    assert_matmul_close(cpu_matmul.matmul(a, b), a, b)


def test_matmul_dqn_sized_product():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((1, 64, 4)).astype(np.float32)
    b = rng.standard_normal((1, 4, 64)).astype(np.float32)
    assert_matmul_close(cpu_matmul.matmul(a, b), a, b)


def test_matmul_empty_dimensions():
    a = np.ones((1, 3, 0), np.float32)
    b = np.ones((1, 0, 4), np.float32)
    np.testing.assert_array_equal(cpu_matmul.matmul(a, b), np.zeros((1, 3, 4), np.float32))


def test_matmul_blas_switch_routes_to_numpy(monkeypatch):
    monkeypatch.setattr(cpu_matmul, "USE_BLAS", True)
    a = np.ones((1, 2, 3))
    b = np.ones((1, 3, 2))
    np.testing.assert_array_equal(cpu_matmul.matmul(a, b), np.full((1, 2, 2), 3.0))


@pytest.mark.parametrize("module", [cpu_matmul, ref_matmul], ids=["cpu", "reference"])
def test_matmul_rejects_bad_inputs_with_the_kernel_name(module):
    f32 = np.ones((1, 2, 3), np.float32)
    with pytest.raises(TypeError, match="matmul"):
        module.matmul(f32, np.ones((1, 3, 2), np.float64))
    with pytest.raises(TypeError, match="matmul"):
        module.matmul(f32.astype(np.int32), np.ones((1, 3, 2), np.int32))
    with pytest.raises(ValueError, match="matmul"):
        module.matmul(f32, np.ones((1, 4, 2), np.float32))
    with pytest.raises(ValueError, match="matmul"):
        module.matmul(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match="matmul"):
        module.matmul([[1.0]], f32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_cpu_tiled_path_on_ragged_tiles(dtype):
    """The serial tiles: M not a multiple of MR (clamped rows), N = 2 panels + a 7-column tail (zero-padded)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 13, 40)).astype(dtype)
    b = rng.standard_normal((2, 40, 71)).astype(dtype)
    assert 2 * 2 * 13 * 40 * 71 < cpu_matmul.TILED_FLOPS
    assert_matmul_close(cpu_matmul.matmul(a, b), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_cpu_parallel_tiles_cover_ragged_blocks_and_batches(monkeypatch, dtype):
    """The parallel tile loop: 200 rows (three blocks of MC = 96, the last ragged, 25 row tiles of MR = 8), 300
    columns (two blocks of NC = 256, ten panels, the last 12 wide), a batch of 3."""
    monkeypatch.setattr(cpu_matmul, "TILED_FLOPS", 0)
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 200, 70)).astype(dtype)
    b = rng.standard_normal((3, 70, 300)).astype(dtype)
    assert_matmul_close(cpu_matmul.matmul(a, b), a, b)
