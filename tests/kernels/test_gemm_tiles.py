"""The CPU GEMM's register tiles, packing and K slices (kernels/cpu/gemm.py) against NumPy.

Tolerances: results are compared with the float64 product of the same inputs. float64: rtol 1e-10, atol 1e-12·K
(only the summation order differs). float32: rtol 1e-4, atol 1e-5·sqrt(K): values are N(0, 1), so a dot product
of length K has size ~sqrt(K), and float32 rounding adds ~1e-7 per term.
"""
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

gemm = importlib.import_module("kernels.cpu.gemm")  # the module: kernels.cpu.matmul is the function

MR, NR, KC = gemm.MR, gemm.NR, gemm.KC
EDGE_SIZES = [1, 7, 8, 33, 129]  # one value, a partial tile, a whole one, one past a panel, one past 4 of them
K_AROUND_SLICES = [1, KC - 1, KC, KC + 1, 2 * KC + 7]  # sums of one, two and three slices of KC rows of B


def assert_close_to_float64_product(got, a, b):
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.dtype == a.dtype and got.shape == expected.shape
    k = a.shape[-1]
    if a.dtype == np.float64:
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * k)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.sqrt(k))


def operand(rng, shape, dtype, layout):
    """A (batch, rows, cols) array: C-contiguous, a transposed view of a C-contiguous (batch, cols, rows) array
    (W.T, x.T), or a strided slice (neither: the kernel copies it)."""
    batch, rows, cols = shape
    if layout == "transposed":
        return rng.standard_normal((batch, cols, rows)).astype(dtype).transpose(0, 2, 1)
    if layout == "strided":
        return rng.standard_normal((batch, rows, 2 * cols)).astype(dtype)[:, :, ::2]
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("m, width", [(16, NR), (13, NR), (13, 7), (1, 1)])
def test_row_tiles_times_panel_stores_or_adds_only_inside_out(dtype, accumulate, a_transposed, m, width):
    """Whole tiles (16 x 32), edge rows (13: the last tile clamps rows 13-15 to row 12 and stores 5), edge
    columns (width 7 of a zero-padded panel), one value; stored when not accumulate, added to out when it is;
    the columns right of the tile and the rows below M keep their values."""
    rng = np.random.default_rng(0)
    k = 37
    a = rng.standard_normal((m, k)).astype(dtype)
    stored_a = np.ascontiguousarray(a.T) if a_transposed else a  # A^T (K, M) as x.T lies, or A (M, K)
    n_tiles = (m + MR - 1) // MR
    rows = np.minimum(np.arange(n_tiles * MR), m - 1)
    a_rows = (rows if a_transposed else rows * k).astype(np.uint64).reshape(n_tiles, MR)
    a_col_step = np.uint64(m if a_transposed else 1)
    panel = np.zeros((k, NR), dtype)
    panel[:, :width] = rng.standard_normal((k, width))
    out_columns = width + 3  # out is wider than the tile: the 3 columns to its right must not change
    out = rng.standard_normal((m + 2, out_columns)).astype(dtype)  # 2 more rows than M: must not change either
    before = out.copy()
    gemm._row_tiles_times_panel(stored_a.reshape(-1), a_rows, a_col_step, 0, n_tiles, m, panel.reshape(-1),
                                np.uint64(0), np.uint64(k), out.reshape(-1), np.uint64(0), np.uint64(out_columns),
                                np.uint64(width), accumulate)
    product = a.astype(np.float64) @ panel[:, :width].astype(np.float64)
    expected = before[:m, :width] + product if accumulate else product
    tolerance = dict(rtol=1e-10, atol=1e-12 * k) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5 * np.sqrt(k))
    np.testing.assert_allclose(out[:m, :width], expected, **tolerance)
    np.testing.assert_array_equal(out[:, width:], before[:, width:])
    np.testing.assert_array_equal(out[m:], before[m:])


@pytest.mark.parametrize("b_transposed", [False, True])
def test_pack_panels_copies_a_slice_of_k_and_zero_pads_the_last_panel(b_transposed):
    """Panels 1-2 of a (K = 20, N = 75) B, rows 5-16 (k0 = 5, 12 rows): panel 2 holds columns 64-74, zero after."""
    rng = np.random.default_rng(1)
    k, n = 20, 75
    matrix = rng.standard_normal((k, n)).astype(np.float32)
    stored = np.ascontiguousarray(matrix.T) if b_transposed else matrix
    k0, k_count, first_panel, n_panels = 5, 12, 1, 2
    packed = np.full(n_panels * k_count * NR, np.nan, np.float32)
    gemm._pack_panels(stored.reshape(-1), np.uint64(0), b_transposed, k, n, first_panel, n_panels, np.uint64(k0),
                      np.uint64(k_count), packed)
    padded = np.zeros((k, 3 * NR), np.float32)
    padded[:, :n] = matrix
    for p in range(n_panels):
        expected = padded[k0:k0 + k_count, (first_panel + p) * NR:(first_panel + p + 1) * NR]
        np.testing.assert_array_equal(packed[p * k_count * NR:(p + 1) * k_count * NR].reshape(k_count, NR), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", K_AROUND_SLICES)
def test_gemm_tasks_overwrites_whatever_out_held_before_summing_k_slices(dtype, k):
    """The first slice of K stores, the later ones add: out starts as NaN (np.empty may hold anything), and an
    edge tile (M = 13, N = 45) adds through its stack tile."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 13, k)).astype(dtype)
    b = rng.standard_normal((2, k, 45)).astype(dtype)
    out = np.full((2, 13, 45), np.nan, dtype)
    packed, offsets = gemm._scratch((), 13, k, dtype)
    gemm._gemm_tasks(a, False, b, False, out, 1, 1, 0, 2, packed, offsets)
    assert_close_to_float64_product(out, a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("a_layout, b_layout", [("contiguous", "contiguous"), ("transposed", "contiguous"),
                                                ("contiguous", "transposed"), ("transposed", "transposed")])
def test_matmul_cpu_sums_k_slices_on_edge_sizes(monkeypatch, dtype, parallel, a_layout, b_layout):
    """M, N at tile and panel edges (7, 33, 129), K over two slices (KC + 1), every layout, serial and parallel
    tiles."""
    monkeypatch.setattr(gemm, "TILED_FLOPS", 0 if parallel else 1 << 62)
    rng = np.random.default_rng(3)
    for m, n in [(7, 129), (129, 33), (33, 7)]:
        a = operand(rng, (1, m, KC + 1), dtype, a_layout)
        b = operand(rng, (1, KC + 1, n), dtype, b_layout)
        assert_close_to_float64_product(gemm.matmul(a, b), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n, a_layout, b_layout", [
    (768, 64, 192, "contiguous", "transposed"),  # x @ W.T, the Transformer's qkv projection
    (768, 256, 64, "contiguous", "contiguous"),  # grad @ W, the feed-forward's input gradient
    (64, 768, 256, "transposed", "contiguous"),  # x.T @ grad, a weight gradient: K = 768 is three slices
    (768, 64, 11, "contiguous", "transposed"),  # the LM head: one panel, 11 columns wide
])
def test_matmul_cpu_on_transformer_products(monkeypatch, dtype, m, k, n, a_layout, b_layout):
    rng = np.random.default_rng(4)
    a = operand(rng, (1, m, k), dtype, a_layout)
    b = operand(rng, (1, k, n), dtype, b_layout)
    assert_close_to_float64_product(gemm.matmul(a, b), a, b)
    monkeypatch.setattr(gemm, "TILED_FLOPS", 0)  # and cut between threads
    assert_close_to_float64_product(gemm.matmul(a, b), a, b)


@given(batch=st.integers(1, 2), m=st.sampled_from(EDGE_SIZES), k=st.sampled_from(K_AROUND_SLICES),
       n=st.sampled_from(EDGE_SIZES), dtype=st.sampled_from([np.float32, np.float64]),
       a_layout=st.sampled_from(["contiguous", "transposed", "strided"]),
       b_layout=st.sampled_from(["contiguous", "transposed", "strided"]), parallel=st.booleans(),
       seed=st.integers(0, 2**16))
def test_matmul_cpu_matches_numpy_on_drawn_shapes_and_layouts(batch, m, k, n, dtype, a_layout, b_layout, parallel,
                                                               seed):
    rng = np.random.default_rng(seed)
    a = operand(rng, (batch, m, k), dtype, a_layout)
    b = operand(rng, (batch, k, n), dtype, b_layout)
    tiled_flops = gemm.TILED_FLOPS
    gemm.TILED_FLOPS = 0 if parallel else tiled_flops  # not monkeypatch: Hypothesis reruns the body
    try:
        assert_close_to_float64_product(gemm.matmul(a, b), a, b)
    finally:
        gemm.TILED_FLOPS = tiled_flops


def test_matmul_cpu_runs_as_plain_python_without_the_jit():
    """NUMBA_DISABLE_JIT=1 (stepping through the kernels) swaps in the NumPy forms of the stack-array tiles: the
    same products, edge tiles and K slices included."""
    script = """
import numpy as np
import kernels.cpu.gemm as gemm
rng = np.random.default_rng(5)
for m, k, n in [(13, gemm.KC + 3, 45), (9, 40, 33)]:
    a = rng.standard_normal((2, k, m)).transpose(0, 2, 1)
    b = rng.standard_normal((2, k, n))
    np.testing.assert_allclose(gemm.matmul(a, b), a @ b, rtol=1e-10, atol=1e-12 * k)
    gemm.TILED_FLOPS = 0
    np.testing.assert_allclose(gemm.matmul(a, b), a @ b, rtol=1e-10, atol=1e-12 * k)
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=root, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
