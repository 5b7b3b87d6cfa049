"""Batched matmul on the CPU in Numba: our own packed, cache-blocked, register-tiled GEMM (no BLAS).

    out[b, i, j] = sum_k a[b, i, k] * b[b, k, j]        a (B, M, K), b (B, K, N) -> out (B, M, N)

How it is made fast (the lesson; the same plan as BLIS/GotoBLAS, written in ~150 lines of Numba):

    pack B into panels  Bp[b, jp, k, 0:NR]   (NR=32 columns, contiguous, zero-padded)   -- _pack_b, prange
    pack A into panels  Ap[b, ip, k, 0:MR]   (MR=6 rows,  contiguous, zero-padded)      -- _pack_a, prange
    for task in prange(B * M-blocks * N-blocks):        # the only parallel loop; MC=96 rows x NC=256 cols
        for k0 in range(0, K, KC):                        # KC=256: one B micro-panel (KC x NR) fits in L1
            for jp in panels of this N-block:
                for ip in panels of this M-block:         # the A block (MC x KC) stays in L2
                    micro-kernel: C[6, 32] += Ap[ip, k0:k0+KC, :6]^T @ Bp[jp, k0:k0+KC, :32]

The micro-kernel is where the FLOPs happen. Its 6 x 32 accumulator tile lives in six stack rows
(`_stack_row`, an LLVM alloca of NR values); with NR a compile-time constant LLVM vectorizes the j loop into
zmm registers, unrolls it and promotes the rows to registers: per k it does 6 broadcasts of A, 2 loads of B and
12 AVX-512 FMAs (float32), with no loads or stores of C. Writing the tile as a 2-D array or accumulating straight
into `out` made LLVM emit gathers or re-load C every k and ran 5-20x slower (measured). Packing makes every load
in the micro-kernel contiguous and lets the edges be handled by zero padding, so the inner loop has no branches.

Small problems run serially, with no packing and no thread launch, which cost more than a 64x64 product:
`_matmul_tiled` (the same register tile read straight from a and b, `tile_product`) when N >= NR, else a plain
i-k-j loop (`_matmul_small`). The cut-overs (`TILED_FLOPS`, `SMALL_FLOPS`) were chosen by measurement.

Switches:
    USE_BLAS = True (or env TINYGRAD_EDU_MATMUL=blas)  routes matmul() to np.matmul, to compare against BLAS.
    NUMBA_DISABLE_JIT=1                                runs the kernels as plain Python to step through them
                                                       (the stack-row intrinsic needs the JIT, so that mode
                                                       falls back to np.matmul for the large path).

The OpenMP / BLAS cliff (measured on the 2-core Zen 4 box, numba omp layer, numpy/OpenBLAS 2 threads):
    Numba's OpenMP workers spin for a while after each prange kernel. A threaded OpenBLAS call made right after
    a prange kernel competes with them. PERF.md measured 8-9 ms instead of 0.1 ms; on 2026-11-26 the
    benchmark's `cliff` probe (np.matmul 128^2 right after a tiny prange kernel, 50 runs) did NOT show it:
    0.024 ms after vs 0.023 ms alone -- so it is intermittent/machine-dependent, not gone. The engine's CPU backend never calls BLAS, so it is not affected while it stays on
    these kernels; anything that mixes the two in one process (benchmarks, the numpy backend running after
    the cpu backend, tests comparing against np.matmul) should limit OpenBLAS to one thread while Numba kernels
    run, e.g. `threadpoolctl.threadpool_limits(1, "blas")` or OPENBLAS_NUM_THREADS=1 set before numpy loads.
    OMP_WAIT_POLICY=PASSIVE also removes it but makes every prange launch cost ~50 us instead of ~2 us.
Fresh multi-MB allocations page-fault (~1.2 us per 4 KiB page): the packed copies of A and B are allocated on
every call; a 1024^3 product spends ~1 ms of ~20 ms on that, so no buffer pool here (yet).
"""
import os

import numpy as np
from numba import carray, config, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from kernels.reference.matmul import check_matmul_inputs

USE_BLAS = os.environ.get("TINYGRAD_EDU_MATMUL", "").lower() == "blas"

MR = 6      # rows of the register tile
NR = 32     # columns of the register tile: two zmm registers of float32 (four of float64)
KC = 256    # depth of one k block: a KC x NR panel of B (32 KiB float32) stays in L1
MC = 16 * MR  # rows per parallel task (96)
NC = 8 * NR   # columns per parallel task (256)
# Below SMALL_FLOPS per call the serial i-k-j loop runs (no packing, no thread launch). Measured, float32,
# median µs serial loop / packed parallel path when quiet: (64x4)@(4x64) 2.8 / 8.1; 48^3 11.5 / 8.7;
# 64^3 18.8 / 10.7; 96^3 48 / 19; 128^3 84 / 28; 256^3 733 / 148. The parallel path wins from ≈48^3 on a quiet
# machine, but a loaded one stalls any prange launch for 4-16 ms, so products under ≈50 µs of serial work
# (the toy models' 64x64 layers) stay serial.
SMALL_FLOPS = 2 * 96 * 96 * 96
# Products with N >= NR columns below TILED_FLOPS take `_matmul_tiled` instead: serial unpacked register tiles.
# Measured, float32, median µs tiled / packed parallel / _matmul_small / NumPy-BLAS (quiet 2-core box):
#   64^3 3.2 / 10.3 / 18.4 / 5.7;  128^3 21 / 28 / 102 / 22;  768x64x64 37 / 48 / 206 / 30;
#   64x64x768 43 / 66 / 90 / 32;  but 32x144x1024 (9.4M) 79 / 49 and 256^3 209 / 149: packing pays from ≈8M.
TILED_FLOPS = 2 * 160 * 160 * 160


@intrinsic
def _stack_row(typingctx, like):
    """Pointer to NR values of like's dtype on the stack (an alloca): LLVM can keep these in registers."""
    dtype = like.dtype

    def codegen(context, builder, signature, args):
        value_type = context.get_value_type(dtype)
        return cgutils.alloca_once(builder, value_type, size=context.get_constant(types.intp, NR))

    return types.CPointer(dtype)(like), codegen


@njit(fastmath=True, cache=True)
def _micro_kernel(ap, bp, out, batch, ip, jp, k0, kc, accumulate):
    """out[batch, 6 rows of panel ip, 32 cols of panel jp] (+)= Ap[ip, k0:k0+kc]^T @ Bp[jp, k0:k0+kc].

    The six accumulator rows c0..c5 are stack arrays of NR values; the j loop is vectorized and unrolled so
    they live in registers for the whole k loop.
    """
    c0 = carray(_stack_row(ap), NR)
    c1 = carray(_stack_row(ap), NR)
    c2 = carray(_stack_row(ap), NR)
    c3 = carray(_stack_row(ap), NR)
    c4 = carray(_stack_row(ap), NR)
    c5 = carray(_stack_row(ap), NR)
    for j in range(NR):
        c0[j] = 0
        c1[j] = 0
        c2[j] = 0
        c3[j] = 0
        c4[j] = 0
        c5[j] = 0
    for k in range(k0, k0 + kc):
        a0 = ap[batch, ip, k, 0]
        a1 = ap[batch, ip, k, 1]
        a2 = ap[batch, ip, k, 2]
        a3 = ap[batch, ip, k, 3]
        a4 = ap[batch, ip, k, 4]
        a5 = ap[batch, ip, k, 5]
        for j in range(NR):
            b_kj = bp[batch, jp, k, j]
            c0[j] += a0 * b_kj
            c1[j] += a1 * b_kj
            c2[j] += a2 * b_kj
            c3[j] += a3 * b_kj
            c4[j] += a4 * b_kj
            c5[j] += a5 * b_kj
    # write back only the part of the tile that lies inside out (the packed panels are zero-padded)
    M = out.shape[1]
    N = out.shape[2]
    i0 = ip * MR
    j0 = jp * NR
    n_valid = min(NR, N - j0)
    m_valid = min(MR, M - i0)
    # one call per row (not a loop picking c0..c5): a pointer chosen at run time would stop LLVM from keeping
    # the rows in registers
    _store_row(out, batch, i0 + 0, j0, n_valid, c0, accumulate, 0 < m_valid)
    _store_row(out, batch, i0 + 1, j0, n_valid, c1, accumulate, 1 < m_valid)
    _store_row(out, batch, i0 + 2, j0, n_valid, c2, accumulate, 2 < m_valid)
    _store_row(out, batch, i0 + 3, j0, n_valid, c3, accumulate, 3 < m_valid)
    _store_row(out, batch, i0 + 4, j0, n_valid, c4, accumulate, 4 < m_valid)
    _store_row(out, batch, i0 + 5, j0, n_valid, c5, accumulate, 5 < m_valid)


@njit(fastmath=True, cache=True)
def _store_row(out, batch, row, j0, n_valid, values, accumulate, inside):
    """out[batch, row, j0:j0+n_valid] (+)= values[:n_valid], if the row lies inside out."""
    if not inside:
        return
    if accumulate:
        for j in range(n_valid):
            out[batch, row, j0 + j] += values[j]
    else:
        for j in range(n_valid):
            out[batch, row, j0 + j] = values[j]


@njit(parallel=True, cache=True)
def _pack_a(a, ap):
    """ap[b, ip, k, i] = a[b, ip*MR + i, k], zero past row M.   a (B, M, K) -> ap (B, ceil(M/MR), K, MR)."""
    n_batch, M, K = a.shape
    n_panels = ap.shape[1]
    for task in prange(n_batch * n_panels):
        batch = task // n_panels
        ip = task % n_panels
        for k in range(K):
            for i in range(MR):
                row = ip * MR + i
                ap[batch, ip, k, i] = a[batch, row, k] if row < M else 0


@njit(parallel=True, cache=True)
def _pack_b(b, bp):
    """bp[b, jp, k, j] = b[b, k, jp*NR + j], zero past column N.   b (B, K, N) -> bp (B, ceil(N/NR), K, NR)."""
    n_batch, K, N = b.shape
    n_panels = bp.shape[1]
    for task in prange(n_batch * n_panels):
        batch = task // n_panels
        jp = task % n_panels
        j0 = jp * NR
        if j0 + NR <= N:
            # full panel: a branch-free copy of NR contiguous values per k, which LLVM vectorizes
            for k in range(K):
                for j in range(NR):
                    bp[batch, jp, k, j] = b[batch, k, j0 + j]
        else:
            for k in range(K):
                for j in range(NR):
                    bp[batch, jp, k, j] = b[batch, k, j0 + j] if j0 + j < N else 0


@njit(parallel=True, fastmath=True, cache=True)
def _gemm_packed(ap, bp, out):
    """out = A @ B from packed panels; one prange over (batch, M-block, N-block) tasks; out fully written."""
    n_batch = out.shape[0]
    K = ap.shape[2]
    n_a_panels = ap.shape[1]
    n_b_panels = bp.shape[1]
    a_panels_per_block = MC // MR
    b_panels_per_block = NC // NR
    n_m_blocks = (n_a_panels + a_panels_per_block - 1) // a_panels_per_block
    n_n_blocks = (n_b_panels + b_panels_per_block - 1) // b_panels_per_block
    n_tasks = n_batch * n_m_blocks * n_n_blocks
    for task in prange(n_tasks):
        batch = task // (n_m_blocks * n_n_blocks)
        m_block = (task // n_n_blocks) % n_m_blocks
        n_block = task % n_n_blocks
        ip_start = m_block * a_panels_per_block
        ip_stop = min(n_a_panels, ip_start + a_panels_per_block)
        jp_start = n_block * b_panels_per_block
        jp_stop = min(n_b_panels, jp_start + b_panels_per_block)
        for k0 in range(0, K, KC):
            kc = min(KC, K - k0)
            for jp in range(jp_start, jp_stop):
                for ip in range(ip_start, ip_stop):
                    _micro_kernel(ap, bp, out, batch, ip, jp, k0, kc, k0 > 0)


ROWS = 4  # rows of the register tile; its columns are matmul's NR (32): ROWS x NR accumulators in registers


@njit(inline="always", fastmath=True)
def tile_product(a, b, out, row0, col0):
    """out[row0:row0+4, col0:col0+NR] = a[row0:row0+4, :] @ b[:, col0:col0+NR]     a (M, K), b (K, >= col0+NR)

    The register tile of `_micro_kernel` without its packing, for serial calls on small operands: four
    accumulator rows of NR values on the stack (`_stack_row`), one broadcast of a[r, k] per row and NR
    contiguous values of b per k, so the j loop
    is NR/16 (float32) AVX-512 FMAs per row, and the rows stay in registers for the whole k loop. Rows past M
    are clamped to M - 1: they recompute (and rewrite) the last row, so the k loop has no branches.
    """
    n_rows = a.shape[0]
    r0 = row0
    r1 = min(row0 + 1, n_rows - 1)
    r2 = min(row0 + 2, n_rows - 1)
    r3 = min(row0 + 3, n_rows - 1)
    c0 = carray(_stack_row(out), NR)
    c1 = carray(_stack_row(out), NR)
    c2 = carray(_stack_row(out), NR)
    c3 = carray(_stack_row(out), NR)
    for j in range(NR):
        c0[j] = 0
        c1[j] = 0
        c2[j] = 0
        c3[j] = 0
    for k in range(a.shape[1]):
        a0 = a[r0, k]
        a1 = a[r1, k]
        a2 = a[r2, k]
        a3 = a[r3, k]
        for j in range(NR):
            b_kj = b[k, col0 + j]
            c0[j] += a0 * b_kj
            c1[j] += a1 * b_kj
            c2[j] += a2 * b_kj
            c3[j] += a3 * b_kj
    for j in range(NR):
        out[r0, col0 + j] = c0[j]
        out[r1, col0 + j] = c1[j]
        out[r2, col0 + j] = c2[j]
        out[r3, col0 + j] = c3[j]


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: `_stack_row` needs the JIT, so the tile is one NumPy product
    def tile_product(a, b, out, row0, col0):  # noqa: F811 -- same contract as the compiled tile above
        rows = [min(row0 + r, a.shape[0] - 1) for r in range(ROWS)]
        out[rows, col0:col0 + NR] = a[rows] @ b[:, col0:col0 + NR]


@njit(fastmath=True, cache=True)
def _matmul_tiled(a, b, out):
    """Serial, unpacked register tiles for products too small to pay for packing and threads (needs N >= NR).

        for batch, row block i0 (ROWS rows), full panel j0 (NR columns):  out[i0:i0+4, j0:j0+NR] = tile_product
        columns past the last full panel (N % NR of them): the i-k-j loop of _matmul_small

    b's rows are read NR values at a time straight from b (no packed copy): at these sizes b sits in L1/L2.
    """
    n_batch, M, K = a.shape
    N = b.shape[2]
    full = N // NR * NR
    for batch in range(n_batch):
        a2 = a[batch]
        b2 = b[batch]
        out2 = out[batch]
        for block in range((M + ROWS - 1) // ROWS):
            for panel in range(full // NR):
                tile_product(a2, b2, out2, block * ROWS, panel * NR)
        if full < N:
            for i in range(M):
                for j in range(full, N):
                    out2[i, j] = 0
                for k in range(K):
                    a_ik = a2[i, k]
                    for j in range(full, N):
                        out2[i, j] += a_ik * b2[k, j]


@njit(fastmath=True, cache=True)
def _matmul_small(a, b, out):
    """Serial loops for tiny products (no packing, no thread launch).

    Wide rows (N >= 16):  out[b, i, :] += a[b, i, k] * b[b, k, :]      i-k-j, the j loop vectorizes
    Narrow rows (N < 16): out[b, i, j]  = sum_k a[b, i, k] * b[b, k, j]  a dot product per output
    """
    n_batch, M, K = a.shape
    N = b.shape[2]
    for batch in range(n_batch):
        for i in range(M):
            if N >= 16:
                for j in range(N):
                    out[batch, i, j] = 0
                for k in range(K):
                    a_ik = a[batch, i, k]
                    for j in range(N):
                        out[batch, i, j] += a_ik * b[batch, k, j]
            else:
                for j in range(N):
                    total = 0.0
                    for k in range(K):
                        total += a[batch, i, k] * b[batch, k, j]
                    out[batch, i, j] = total


def matmul(a, b):
    """Batched a @ b for a (B, M, K) and b (B, K, N) -> new (B, M, N) array, float32 or float64.

    >>> import numpy as np
    >>> matmul(np.ones((1, 2, 3), np.float32), np.ones((1, 3, 4), np.float32))[0, 1, 2]
    3.0
    """
    check_matmul_inputs("matmul", a, b)
    if USE_BLAS:
        return np.matmul(a, b)
    n_batch, M, K = a.shape
    N = b.shape[2]
    out = np.empty((n_batch, M, N), dtype=a.dtype)
    if out.size == 0:
        return out
    if K == 0:
        out[...] = 0
        return out
    # the kernels are compiled for C-contiguous arrays only (one specialisation per dtype); a transposed or
    # sliced view is copied once here, which costs O(size) next to the O(M*N*K) product
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    flops = 2 * n_batch * M * N * K
    if N >= NR and flops < TILED_FLOPS and not config.DISABLE_JIT:
        _matmul_tiled(a, b, out)
        return out
    if flops < SMALL_FLOPS:
        _matmul_small(a, b, out)
        return out
    if config.DISABLE_JIT:
        return np.matmul(a, b)
    ap = np.empty((n_batch, (M + MR - 1) // MR, K, MR), dtype=a.dtype)
    bp = np.empty((n_batch, (N + NR - 1) // NR, K, NR), dtype=a.dtype)
    _pack_a(a, ap)
    _pack_b(b, bp)
    _gemm_packed(ap, bp, out)
    return out
