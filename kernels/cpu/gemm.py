"""Batched matmul on the CPU in Numba: our own register-tiled GEMM (no BLAS).

    out[b, i, j] = Σ_k a[b, i, k] · b[b, k, j]        a (B, M, K), b (B, K, N) -> out (B, M, N)

How it is made fast (the plan of BLIS/GotoBLAS, cut down to the parts that measured faster here):

    for thread in prange(n_threads):              # one parallel region, one task range per thread  _gemm_parallel
        for task in the thread's tasks:                # a (batch, rows, columns) part of out           _gemm_tasks
            for each NC = 256 columns of the task:
                for each KC = 256 rows of B (a slice of K):
                    pack B into panels  Bp[jp, k, 0:NR]    # NR = 32 columns, zero-padded, thread's own  _pack_panels
                    for each MC = 96 rows of the task:
                        for jp in the panels:              # one panel slice (KC × NR) stays in L1 ...
                            for i0 in the rows, MR = 8 at a time:   # ... while the row tiles of A stream past
                                tile (MR × NR) = A[b, i0:i0+MR, k slice] @ Bp[jp]          _row_tiles_times_panel
                                out[b, i0:i0+MR, jp·NR:(jp+1)·NR] (+)= the part of the tile inside out

The register tile where the FLOPs happen, 8 × 32 accumulators in 512-bit registers, is in
kernels/cpu/register_tiles.py (with its general form `_micro_kernel`, which kernels/cpu/conv.py runs). The matmul
runs it fitted to its layout (`_row_tiles_times_panel`: A's columns a fixed step apart, B a packed panel), a block
of row tiles per call, each tile stored straight into out: around each call of `_micro_kernel` sat the call, a
reference count and a copy of the tile through memcpy, 15-30% of a K = 64 product.

Choices, each measured on a 2-core AVX-512 Xeon, one thread, float32:
  * Only B is packed. Reading the rows of A in place (a_rows[r] = (i0 + r)·K) was as fast as packing them
    (packing A into MR-row panels ran up to 20% slower at 64-384 and no faster at 512-1024); reading B in place
    was not: at N = 1024 or 2048 its rows are 4-8 KiB apart, alias in the L1 cache, and the product ran 3x
    slower. Packing B costs one pass over it, small next to the 2·M·N·K FLOPs. Reading whole panels of B in
    place when a task has at most 8 row tiles (little reuse of a packed value: x.T @ grad at M = 8-64) ran no
    faster either (0.98-1.10x the packed time, one thread, K = 768).
  * Transposed views are not copied. A backward pass multiplies x.T @ grad_out and grad_out @ W.T; NumPy's
    copy of such a view walks it with a stride and took as long as the product (x.T @ grad_out, 192 × 768 @
    768 × 64, one thread: 534 µs with the copy, 206 µs without). The tile reads A^T where it lies
    (a_rows[r] = i0 + r and a column step of M: the eight values of one k are adjacent), and the packing reads
    B^T along its rows.
  * Tasks are cut for the thread count (`task_grid`), not the cache: cutting out into 96 × 256 blocks gave a
    256 × 256 product 3 tasks, one thread ran two of them and the other waited (0.75 of the serial time
    instead of 0.5), and a weight gradient (64 × 768 @ 768 × 256) one task for two threads. Now every thread
    gets the same number of tasks, which differ by at most one row tile or panel; the blocks of MC × NC
    are walked inside a task. Each thread packs the panels of its own columns, so the product runs in one
    parallel region (no second launch and barrier for a separate packing loop).
  * K cut into slices of KC = 256: a panel slice (KC × NR, 32 KiB in float32) stays in L1 while the row tiles
    of a block pass, and the tiles of a later slice add to out. Whole panels (K × NR, 256 KiB at K = 2048) ran
    from L2 and, with a transposed A (x.T @ grad, whose eight values of one k share a cache line but whose k
    are M values apart), also read A from L2: (256 × 2048)ᵀ @ (2048 × 256) took 2.2x as long (one thread,
    5.1 ms vs 2.3 ms); the Transformer's x.T @ grad (K = 768) ran 4-7% faster, products with K <= 256 the same.

Tiny products (below SMALL_FLOPS, e.g. K = 4) take `_matmul_small`, a serial i-k-j loop; the tiles run
serially below TILED_FLOPS (`_gemm_tasks` called once, for all tasks) and on all threads above
(`_gemm_parallel`, whose parallel loop only hands each thread its share: the tile loops are compiled once).

Switches:
    USE_BLAS = True (or env TINYGRAD_EDU_MATMUL=blas)  routes matmul() to np.matmul, to compare against BLAS.
    NUMBA_DISABLE_JIT=1                                runs the kernels as plain Python to step through them
                                                       (the stack rows need the JIT, so that mode takes the
                                                       NumPy definition of `_row_tiles_times_panel`).

OpenMP next to a threaded BLAS: Numba's OpenMP workers spin for a while after each prange kernel, and a threaded
OpenBLAS call made right then competes with them for the cores (milliseconds instead of microseconds, seen on
some machines and not on others). The engine's CPU backend never calls BLAS; code that mixes the two in one
process (benchmarks, tests comparing against np.matmul) should limit OpenBLAS to one thread, e.g.
`threadpoolctl.threadpool_limits(1, "blas")` or OPENBLAS_NUM_THREADS=1 set before NumPy loads.
"""
import functools
import os

import numba
import numpy as np
from numba import carray, config, njit, prange

import kernels.cpu.variants  # noqa: F401 -- sets OpenMP's wait policy before the first parallel launch
from kernels.cpu.register_tiles import MR, NR, NR_UNSIGNED, _stack_row, new_tile, use_512_bit_vectors
from kernels.reference.gemm import check_matmul_inputs

USE_BLAS = os.environ.get("TINYGRAD_EDU_MATMUL", "").lower() == "blas"

# MR, NR: kernels/cpu/conv.py and rnn.py compile these values into their cached kernels, and Numba's on-disk cache
# does not notice when an imported constant changes: after editing them, delete kernels/cpu/__pycache__.
MC = 12 * MR  # rows of A per cache block (96): 96 x KC values stay in L2 while the panels of B pass
NC = 8 * NR   # columns of B per cache block (256): packed as NC // NR panels into a thread's scratch
SCRATCH_PANELS = NC // NR
KC = 256      # rows of B per packed slice: a panel slice (KC x NR, 32 KiB in float32) stays in L1 across the row tiles
CACHE_LINE = 64  # bytes
# Below SMALL_FLOPS per call the serial i-k-j loop runs (no packing, no tables). Measured, float32, one thread,
# median µs i-k-j loop / serial tiles: (64x4)@(4x64) 2.1 / 4.9; 32^3 5.0 / 2.0; 64^3 27 / 7.5; and for a
# narrow product, the CNN's linear layer (64x512)@(512x10), 337 / 45: the tiles win from ≈32^3 on.
SMALL_FLOPS = 2 * 32 * 32 * 32
# Products below TILED_FLOPS run the tiles on one thread: a parallel launch costs a few µs on a quiet machine
# and tens of µs to milliseconds on a busy one (kernels/cpu/variants.py: the second thread has to be woken and
# scheduled), a large share of a product this small. Measured, float32, median µs one thread / two, wall time,
# interleaved, with the earlier tile (a call per tile), load 1.5 on 2 cores: 96^3 19.4 / 17.7; 112^3 30.5 / 24.2;
# 128^3 37.7 / 28.0; (768x64)@(64x64) 60.4 / 40.0; with 4-5 busy processes beside, 128^3 38.7 / 46.5. With the
# current tile at load 2.6 the second thread never paid for itself up to 256^3 (≈45-60 µs per launch: 128^3
# 31.8 / 77.5, 256^3 213 / 277), but the engine runs one thread whenever other programs' threads are runnable
# (tinygrad_edu/threads.py), so this threshold is set for a quiet machine.
TILED_FLOPS = 2 * 112 * 112 * 112


# task_grid's cost model, in multiply-adds of the micro-kernel: packing one value of B costs about PACK_COST of
# them, and two threads writing the two ends of one cache line of out (a row cut between their columns) about
# SHARED_LINE_COST per row. Set from two-thread timings of the Transformer's products (best of 150 calls):
# (768 x 64) @ (64 x 256) took 119 µs cut by rows and 141 µs cut by columns; (64 x 768) @ (768 x 256) took 163 µs
# cut by columns (each thread packs half of B) and 205 µs cut by rows (each thread packs all of it).
PACK_COST = 15
SHARED_LINE_COST = 2000


@functools.lru_cache(maxsize=1024)
def task_grid(n_batch, n_row_tiles, n_panels, K, n_threads):
    """-> (row parts, column parts): each product of the batch is cut into row parts × column parts tasks, and
    thread p runs tasks [p·T/n_threads, (p+1)·T/n_threads) of the T = n_batch × row parts × column parts.

    The cut whose busiest thread costs least: its tasks' tiles (MR·NR·K multiply-adds each), the panels of B
    each task packs (K·NR values each: threads that split the rows pack the same panels, threads that split the
    columns only their own) and, when the columns are cut, one cache line of out per row that two threads write.
    """
    best = (1, 1)
    best_cost = -1
    for cols in range(1, min(n_panels, 2 * n_threads) + 1):
        for rows in range(1, min(n_row_tiles, 2 * n_threads) + 1):
            tasks_per_thread = (n_batch * rows * cols + n_threads - 1) // n_threads
            tiles_per_task = (n_row_tiles + rows - 1) // rows
            panels_per_task = (n_panels + cols - 1) // cols
            task_cost = (tiles_per_task * panels_per_task * MR * NR * K + panels_per_task * K * NR * PACK_COST
                         + (tiles_per_task * MR * SHARED_LINE_COST if cols > 1 else 0))
            cost = tasks_per_thread * task_cost
            if best_cost < 0 or cost < best_cost or (cost == best_cost and rows * cols < best[0] * best[1]):
                best = (rows, cols)
                best_cost = cost
    return best


@njit(fastmath=True, cache=True)
def _row_tiles_times_panel(a, a_rows, a_col_step, first_tile, end_tile, M, b, b_start, k_count, out, out_start,
                           out_row_step, width, accumulate):
    """Row tiles t in [first_tile, end_tile) of A times one packed panel of B, stored into out, or added to it when
    accumulate:

        out[out_start + (t·MR + r)·out_row_step + j] (+)= Σ_k a[a_rows[t, r] + k·a_col_step]
                                                              · b[b_start + k·NR + j]
                                                          for t·MR + r < M, j < width (<= NR), k < k_count

    `_micro_kernel`'s register tile (eight accumulator rows of NR, the same k loop) fitted to a matmul: A's
    columns are a fixed step apart (1, or M for a transposed A), B is a packed panel (row k < k_count at
    b_start + k·NR), and the tile is stored straight into out. a, b, out: 1-D; a_rows: (row tiles, MR) np.uint64
    offsets (rows past M repeat the last one, so the k loop has no branch); the other offsets np.uint64 too.
    accumulate (a later slice of K) starts the tile from out through the stack tile, as an edge tile ends. It is
    a run-time flag: passed as a literal, Numba compiled a variant per value, 1-3% faster at K = 64 but 2 s more
    of first-run compile (5.2 s instead of 3.0 for the serial path).

    Why not call `_micro_kernel` once per tile: at K = 64 a tile is 512 vector FMAs, and around each call of that
    cached function sat several hundred cycles: the call itself (≈45 arguments: each array is 7 values), a
    reference count taken and dropped (two atomic instructions) for the slice a_rows[t], and the accumulators
    stored into an (MR, NR) tile, then copied row by row into out (LLVM made each row a memcpy call). Here
    the call is made once per panel for a block of row tiles, a whole tile is stored as 16 vector stores, and
    the k loop reads no offset tables: (768 x 64) @ (64 x 256) took 254 -> 188 µs, (768 x 64) @ (64 x 64) 67 -> 50,
    (768 x 11) @ (11 x 64) 32 -> 13 (one thread, CPU time, medians; torch 198, 50, 14). An inline="always" tile
    function would avoid the call too, but Numba then takes a reference count on out for every tile once the
    caller branches between whole and edge tiles.
    """
    use_512_bit_vectors()
    nr = NR_UNSIGNED
    edge_tile = new_tile(out)
    for t in range(first_tile, end_tile):
        i0 = t * MR
        whole = i0 + MR <= M and width == nr  # else an edge tile: through edge_tile, clipped to out
        row0 = a_rows[t, 0]
        row1 = a_rows[t, 1]
        row2 = a_rows[t, 2]
        row3 = a_rows[t, 3]
        row4 = a_rows[t, 4]
        row5 = a_rows[t, 5]
        row6 = a_rows[t, 6]
        row7 = a_rows[t, 7]
        out0 = out_start + np.uint64(i0) * out_row_step
        c0 = carray(_stack_row(out), NR)
        c1 = carray(_stack_row(out), NR)
        c2 = carray(_stack_row(out), NR)
        c3 = carray(_stack_row(out), NR)
        c4 = carray(_stack_row(out), NR)
        c5 = carray(_stack_row(out), NR)
        c6 = carray(_stack_row(out), NR)
        c7 = carray(_stack_row(out), NR)
        for j in range(NR):
            c0[j] = 0
            c1[j] = 0
            c2[j] = 0
            c3[j] = 0
            c4[j] = 0
            c5[j] = 0
            c6[j] = 0
            c7[j] = 0
        if accumulate:  # a later slice of K: start from the part of the tile inside out, zero around it
            for r in range(MR):
                for j in range(NR):
                    edge_tile[r, j] = 0
            for r in range(min(MR, M - i0)):
                for j in range(width):
                    edge_tile[r, j] = out[out0 + np.uint64(r) * out_row_step + j]
            for j in range(NR):
                c0[j] = edge_tile[0, j]
                c1[j] = edge_tile[1, j]
                c2[j] = edge_tile[2, j]
                c3[j] = edge_tile[3, j]
                c4[j] = edge_tile[4, j]
                c5[j] = edge_tile[5, j]
                c6[j] = edge_tile[6, j]
                c7[j] = edge_tile[7, j]
        for k in range(k_count):
            col = k * a_col_step
            a0 = a[row0 + col]
            a1 = a[row1 + col]
            a2 = a[row2 + col]
            a3 = a[row3 + col]
            a4 = a[row4 + col]
            a5 = a[row5 + col]
            a6 = a[row6 + col]
            a7 = a[row7 + col]
            b_k = b_start + k * nr
            for j in range(nr):
                b_kj = b[b_k + j]
                c0[j] += a0 * b_kj
                c1[j] += a1 * b_kj
                c2[j] += a2 * b_kj
                c3[j] += a3 * b_kj
                c4[j] += a4 * b_kj
                c5[j] += a5 * b_kj
                c6[j] += a6 * b_kj
                c7[j] += a7 * b_kj
        if whole:
            # one loop per row, two 512-bit stores each: in one loop over j for all rows, LLVM must keep the
            # stores in order (the rows could overlap, for all it knows) and leaves them scalar
            for j in range(nr):
                out[out0 + j] = c0[j]
            out_row = out0 + out_row_step
            for j in range(nr):
                out[out_row + j] = c1[j]
            out_row += out_row_step
            for j in range(nr):
                out[out_row + j] = c2[j]
            out_row += out_row_step
            for j in range(nr):
                out[out_row + j] = c3[j]
            out_row += out_row_step
            for j in range(nr):
                out[out_row + j] = c4[j]
            out_row += out_row_step
            for j in range(nr):
                out[out_row + j] = c5[j]
            out_row += out_row_step
            for j in range(nr):
                out[out_row + j] = c6[j]
            out_row += out_row_step
            for j in range(nr):
                out[out_row + j] = c7[j]
        else:
            for j in range(NR):
                edge_tile[0, j] = c0[j]
                edge_tile[1, j] = c1[j]
                edge_tile[2, j] = c2[j]
                edge_tile[3, j] = c3[j]
                edge_tile[4, j] = c4[j]
                edge_tile[5, j] = c5[j]
                edge_tile[6, j] = c6[j]
                edge_tile[7, j] = c7[j]
            for r in range(min(MR, M - i0)):
                for j in range(width):
                    out[out0 + np.uint64(r) * out_row_step + j] = edge_tile[r, j]


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: `_stack_row` needs the JIT; the same contract in NumPy
    def _row_tiles_times_panel(a, a_rows, a_col_step, first_tile, end_tile, M, b, b_start,  # noqa: F811
                               k_count, out, out_start, out_row_step, width, accumulate):
        ks = np.arange(int(k_count), dtype=np.uint64)
        b_block = b[b_start + ks[:, None] * NR_UNSIGNED + np.arange(NR, dtype=np.uint64)[None, :]]  # (K, NR)
        for t in range(first_tile, end_tile):
            tile = a[a_rows[t][:, None] + ks[None, :] * a_col_step] @ b_block  # (MR, NR)
            for r in range(min(MR, M - t * MR)):
                row_start = int(out_start + np.uint64(t * MR + r) * out_row_step)
                out_row = out[row_start:row_start + int(width)]
                out_row[...] = (out_row if accumulate else 0) + tile[r, :int(width)]


@njit(fastmath=True, cache=True)
def _pack_panels(b, b_start, b_transposed, K, N, first_panel, n_panels, k0, k_count, packed):
    """packed[p·k_count·NR + k·NR + j] = B[k0 + k, (first_panel + p)·NR + j], zero past column N
                                                             p < n_panels, k < k_count, j < NR

    B (K, N) starts at b[b_start] (1-D b), row-major, or column-major (the C-contiguous (N, K) array under a
    transposed view) when b_transposed. Offsets are np.uint64, so the copy loops vectorize.

    The copy loop runs to the panel's width, also for whole panels: with the trip count fixed at NR, LLVM
    vectorized it worse (2x slower at 768 x 256), and the rest is zeroed by a second loop.
    """
    use_512_bit_vectors()
    nr = NR_UNSIGNED
    k_rows = np.uint64(K)
    n_columns = np.uint64(N)
    for panel in range(n_panels):
        j0 = np.uint64((first_panel + panel) * NR)
        width = np.uint64(min(NR, N - (first_panel + panel) * NR))
        start = np.uint64(panel) * k_count * nr
        if b_transposed:  # row j of b is column j of B: gather the width values of one k, whose rows
            for k in range(k_count):  # (<= NR cache lines) stay in L1 for 16 k in a row
                source = b_start + j0 * k_rows + k0 + k
                for j in range(width):
                    packed[start + k * nr + j] = b[source + j * k_rows]
                for j in range(width, nr):
                    packed[start + k * nr + j] = 0
        else:
            for k in range(k_count):
                source = b_start + (k0 + k) * n_columns + j0
                for j in range(width):
                    packed[start + k * nr + j] = b[source + j]
                for j in range(width, nr):
                    packed[start + k * nr + j] = 0


@njit(fastmath=True, cache=True)
def _gemm_tasks(a, a_transposed, b, b_transposed, out, row_parts, col_parts, first_task, end_task, packed, offsets):
    """Tasks [first_task, end_task) of out (B, M, N) = A @ B: one thread's share (`task_grid` cuts the product).

    a holds A (B, M, K) as it is, or its transpose (B, K, M) when a_transposed; b holds B (B, K, N), or (B, N, K)
    when b_transposed: the products of a backward pass (x.T @ grad_out, grad_out @ W.T) are such views, read
    where they lie instead of copied first. a, b, out C-contiguous; packed and offsets: this thread's scratch, a
    row of what `_scratch` allocates.

        row table in offsets: a_rows[t, r] = where row min(t·MR + r, M - 1) of A starts in its matrix (rows
            past M repeat the last row and are never stored, so the k loop has no branch); the columns of A
            are a_col_step apart (1, or M when transposed)
        for task in [first_task, end_task): a (batch, row part, column part) of out
            for each NC-wide block of the task's columns:
                for each KC-long slice [k0, k0 + KC) of K:
                    packed[p, k, j] = B[batch, k0 + k, (first panel of the block + p)·NR + j], zero past N
                    for each MC-high block of the task's rows, for each panel: its row tiles
                        (`_row_tiles_times_panel`), stored into out for the first slice, added for the others
    """
    n_batch, M, N = out.shape
    K = a.shape[1] if a_transposed else a.shape[2]
    n_row_tiles = (M + MR - 1) // MR
    n_panels = (N + NR - 1) // NR
    panels_per_block = SCRATCH_PANELS
    tiles_per_block = MC // MR
    a_rows = offsets[:n_row_tiles * MR].reshape((n_row_tiles, MR))
    for t in range(n_row_tiles):
        for r in range(MR):
            row = min(t * MR + r, M - 1)
            a_rows[t, r] = row if a_transposed else row * K
    a_col_step = np.uint64(M if a_transposed else 1)
    a_flat = a.reshape(-1)
    b_flat = b.reshape(-1)
    out_flat = out.reshape(-1)
    # start the panels on a cache line, so that each row of a panel (NR values) is whole cache lines and no
    # vector load of B in the tile straddles two of them
    packed = packed[(CACHE_LINE - packed.ctypes.data % CACHE_LINE) % CACHE_LINE // packed.itemsize:]
    nr = NR_UNSIGNED
    n_columns = np.uint64(N)
    for task in range(first_task, end_task):
        batch = task // (row_parts * col_parts)
        row_part = (task // col_parts) % row_parts
        col_part = task % col_parts
        a_batch = a_flat[batch * M * K:(batch + 1) * M * K]
        b_batch = np.uint64(batch * K * N)
        out_batch = np.uint64(batch * M * N)
        p_end = (col_part + 1) * n_panels // col_parts
        t_end = (row_part + 1) * n_row_tiles // row_parts
        for block_p in range(col_part * n_panels // col_parts, p_end, panels_per_block):
            block_panels = min(panels_per_block, p_end - block_p)
            for k0 in range(0, K, KC):
                k_slice = np.uint64(min(KC, K - k0))
                _pack_panels(b_flat, b_batch, b_transposed, K, N, block_p, block_panels, np.uint64(k0), k_slice,
                             packed)
                a_slice = a_batch[k0 * (M if a_transposed else 1):]  # A from column k0 on
                for block_t in range(row_part * n_row_tiles // row_parts, t_end, tiles_per_block):
                    end_t = min(t_end, block_t + tiles_per_block)
                    for panel in range(block_panels):
                        b_start = np.uint64(panel) * k_slice * nr
                        out_start = out_batch + np.uint64((block_p + panel) * NR)
                        width = np.uint64(min(NR, N - (block_p + panel) * NR))
                        _row_tiles_times_panel(a_slice, a_rows, a_col_step, block_t, end_t, M, packed, b_start,
                                               k_slice, out_flat, out_start, n_columns, width, k0 > 0)


@njit(parallel=True, cache=True)
def _gemm_parallel(a, a_transposed, b, b_transposed, out, row_parts, col_parts, packed, offsets):
    """`_gemm_tasks` on one thread per row of the scratch packed and offsets: thread p runs tasks
    [p·T/n, (p+1)·T/n) of the T = B × row_parts × col_parts."""
    n_threads = packed.shape[0]
    n_tasks = out.shape[0] * row_parts * col_parts
    for thread in prange(n_threads):
        first_task = thread * n_tasks // n_threads
        end_task = (thread + 1) * n_tasks // n_threads
        _gemm_tasks(a, a_transposed, b, b_transposed, out, row_parts, col_parts, first_task, end_task,
                    packed[thread], offsets[thread])


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


def _scratch(threads, M, K, dtype):
    """-> (packed, offsets): the scratch of `_gemm_tasks`, one row per thread for threads = (n,), a single one
    for threads = (): SCRATCH_PANELS panels of K x NR values (plus a cache line of slack, to start them on a cache
    line) and the table of row offsets of A."""
    packed = np.empty(threads + (SCRATCH_PANELS * min(K, KC) * NR + CACHE_LINE,), dtype)
    offsets = np.empty(threads + (((M + MR - 1) // MR) * MR,), np.uint64)
    return packed, offsets


def _stored_layout(x):
    """-> (array, transposed) for an x that is not C-contiguous: the C-contiguous array that x is a transposed
    view of (last two axes swapped, e.g. W.T), read in place by the kernels; otherwise a C-contiguous copy."""
    swapped = x.transpose(0, 2, 1)
    if swapped.flags.c_contiguous:
        return swapped, True
    return np.ascontiguousarray(x), False


def _as_stored(x, transposed):
    """The C-contiguous (B, rows, columns) copy of a matrix that `_stored_layout` returned transposed."""
    return np.ascontiguousarray(x.transpose(0, 2, 1)) if transposed else x


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
    # the kernels are compiled for C-contiguous arrays (one specialisation per dtype): a transposed view (W.T,
    # x.T) is passed as the array under it with a flag, anything else strided is copied once, O(size)
    a_transposed = False
    b_transposed = False
    if not a.flags.c_contiguous:
        a, a_transposed = _stored_layout(a)
    if not b.flags.c_contiguous:
        b, b_transposed = _stored_layout(b)
    flops = 2 * n_batch * M * N * K
    n_threads = 1 if flops < TILED_FLOPS else numba.get_num_threads()  # ≈1 µs: asked only when it matters
    if flops < SMALL_FLOPS:
        _matmul_small(_as_stored(a, a_transposed), _as_stored(b, b_transposed), out)
    elif n_threads == 1:  # every task in one call, no parallel launch
        packed, offsets = _scratch((), M, K, out.dtype)
        _gemm_tasks(a, a_transposed, b, b_transposed, out, 1, 1, 0, n_batch, packed, offsets)
    else:
        row_parts, col_parts = task_grid(n_batch, (M + MR - 1) // MR, (N + NR - 1) // NR, K, n_threads)
        packed, offsets = _scratch((n_threads,), M, K, out.dtype)
        _gemm_parallel(a, a_transposed, b, b_transposed, out, row_parts, col_parts, packed, offsets)
    return out
