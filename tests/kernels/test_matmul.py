"""matmul: cpu (our packed GEMM) against the NumPy reference, on odd shapes, views, float32 and float64.

Tolerances: float64 rtol 1e-10 (summation order differs); float32 is compared with the float64 reference of
the same inputs at atol = 1e-5 * sqrt(K) * max|a| * max|b| * sqrt(K)-free scale (values are N(0, 1), so a
dot product of length K has size ~sqrt(K) and float32 rounding error ~ 1e-7 * K in the worst case).
"""
import importlib
from unittest import mock

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


def random_operand(rng, shape, dtype, transposed):
    """A (batch, rows, cols) array, or when transposed the view x.transpose(0, 2, 1) of a C-contiguous
    (batch, cols, rows) array: the layout of W.T and x.T that a backward pass multiplies."""
    batch, rows, cols = shape
    if transposed:
        return rng.standard_normal((batch, cols, rows)).astype(dtype).transpose(0, 2, 1)
    return rng.standard_normal(shape).astype(dtype)


@given(batch=st.sampled_from([1, 3]), m=SIZES, k=DEPTHS, n=SIZES, dtype=st.sampled_from([np.float32, np.float64]),
       a_transposed=st.booleans(), b_transposed=st.booleans(), parallel=st.booleans(), seed=st.integers(0, 2**16))
def test_matmul_cpu_matches_reference_on_odd_shapes(batch, m, k, n, dtype, a_transposed, b_transposed, parallel,
                                                    seed):
    """Every path (i-k-j loop, serial tiles, parallel tiles) on row-major and transposed operands."""
    rng = np.random.default_rng(seed)
    a = random_operand(rng, (batch, m, k), dtype, a_transposed)
    b = random_operand(rng, (batch, k, n), dtype, b_transposed)
    with mock.patch.object(cpu_matmul, "TILED_FLOPS", 0 if parallel else cpu_matmul.TILED_FLOPS):
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_transposed, b_transposed", [(True, False), (False, True), (True, True)])
def test_matmul_cpu_tiles_read_transposed_views_on_every_path(monkeypatch, dtype, a_transposed, b_transposed):
    """x.T @ grad and grad @ W.T as a backward pass makes them: ragged tiles (M = 70, N = 45), serial and
    parallel tiles, a batch of 2."""
    rng = np.random.default_rng(5)
    a = random_operand(rng, (2, 70, 130), dtype, a_transposed)
    b = random_operand(rng, (2, 130, 45), dtype, b_transposed)
    assert not a.flags.c_contiguous or not b.flags.c_contiguous
    assert_matmul_close(cpu_matmul.matmul(a, b), a, b)  # serial tiles
    monkeypatch.setattr(cpu_matmul, "TILED_FLOPS", 0)
    assert_matmul_close(cpu_matmul.matmul(a, b), a, b)  # parallel tiles


def test_matmul_cpu_reads_a_transposed_view_where_it_lies():
    w = np.ones((1, 4, 6), np.float32)
    stored, transposed = cpu_matmul._stored_layout(w.transpose(0, 2, 1))
    assert transposed and np.shares_memory(stored, w)
    sliced = np.ones((1, 6, 8), np.float32)[:, :, ::2]  # neither layout: copied once
    stored, transposed = cpu_matmul._stored_layout(sliced)
    assert not transposed and stored.flags.c_contiguous and not np.shares_memory(stored, sliced)


def tiles_of_each_thread(n_batch, n_row_tiles, n_panels, K, n_threads):
    """The (batch, row tile, panel) triples each thread computes, cut as `_gemm_parallel` and `_gemm_tasks` cut."""
    row_parts, col_parts = cpu_matmul.task_grid(n_batch, n_row_tiles, n_panels, K, n_threads)
    n_tasks = n_batch * row_parts * col_parts
    shares = []
    for thread in range(n_threads):
        share = []
        for task in range(thread * n_tasks // n_threads, (thread + 1) * n_tasks // n_threads):
            batch = task // (row_parts * col_parts)
            row_part = (task // col_parts) % row_parts
            col_part = task % col_parts
            for t in range(row_part * n_row_tiles // row_parts, (row_part + 1) * n_row_tiles // row_parts):
                for p in range(col_part * n_panels // col_parts, (col_part + 1) * n_panels // col_parts):
                    share.append((batch, t, p))
        shares.append(share)
    return shares


@given(n_batch=st.integers(1, 5), n_row_tiles=st.integers(1, 40), n_panels=st.integers(1, 12),
       k=st.sampled_from([1, 64, 768]), n_threads=st.integers(1, 6))
def test_task_grid_gives_every_tile_to_exactly_one_thread(n_batch, n_row_tiles, n_panels, k, n_threads):
    shares = tiles_of_each_thread(n_batch, n_row_tiles, n_panels, k, n_threads)
    every_tile = sorted(tile for share in shares for tile in share)
    assert every_tile == [(b, t, p) for b in range(n_batch) for t in range(n_row_tiles) for p in range(n_panels)]


@pytest.mark.parametrize("m, k, n", [(128, 128, 128), (256, 256, 256), (1024, 1024, 1024), (64, 768, 256),
                                     (256, 768, 64), (768, 64, 256), (768, 256, 64)])
def test_task_grid_shares_square_and_transformer_products_evenly_between_two_threads(m, k, n):
    """256 x 256 cut into 96 x 256 blocks made 3 tasks for 2 threads; (64 x 768) @ (768 x 256) made 1."""
    shares = tiles_of_each_thread(1, m // cpu_matmul.MR, n // cpu_matmul.NR, k, 2)
    assert len(shares[0]) == len(shares[1])


def test_task_grid_cuts_tall_products_by_rows_and_short_deep_ones_by_columns():
    """Cutting the columns makes two threads write one cache line per row; cutting the rows makes each thread
    pack all of B: (768 x 64) @ (64 x 256) is cut by rows, (64 x 768) @ (768 x 256) by columns."""
    assert cpu_matmul.task_grid(1, 768 // cpu_matmul.MR, 256 // cpu_matmul.NR, 64, 2) == (2, 1)
    assert cpu_matmul.task_grid(1, 64 // cpu_matmul.MR, 256 // cpu_matmul.NR, 768, 2) == (1, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_cpu_parallel_kernel_with_more_shares_than_threads(dtype):
    """_gemm_parallel runs one share per row of its scratch, whatever the thread count: three shares of a
    batch of 2 (an odd number of tasks), transposed A."""
    rng = np.random.default_rng(6)
    a = random_operand(rng, (2, 50, 37), dtype, True)
    b = random_operand(rng, (2, 37, 100), dtype, False)
    stored_a, _ = cpu_matmul._stored_layout(a)
    M, K, N = 50, 37, 100
    MR, NR = cpu_matmul.MR, cpu_matmul.NR
    row_parts, col_parts = cpu_matmul.task_grid(2, (M + MR - 1) // MR, (N + NR - 1) // NR, K, 3)
    out = np.full((2, M, N), np.nan, dtype)
    packed, offsets = cpu_matmul._scratch((3,), M, K, dtype)
    cpu_matmul._gemm_parallel(stored_a, True, b, False, out, row_parts, col_parts, packed, offsets)
    assert_matmul_close(out, a, b)
