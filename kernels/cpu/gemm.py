"""Batched matmul on the CPU in Numba: our own register-tiled GEMM (no BLAS), and the micro-kernel that
kernels/cpu/conv.py reuses for convolution.

    out[b, i, j] = Σ_k a[b, i, k] · b[b, k, j]        a (B, M, K), b (B, K, N) -> out (B, M, N)

How it is made fast (the plan of BLIS/GotoBLAS, cut down to the parts that measured faster here):

    for thread in prange(n_threads):              # one parallel region, one task range per thread  _gemm_parallel
        for task in the thread's tasks:                # a (batch, rows, columns) part of out           _gemm_tasks
            for each NC = 256 columns of the task:
                pack B into panels  Bp[jp, k, 0:NR]    # NR = 32 columns, contiguous, zero-padded, thread's own
                for each MC = 96 rows of the task:
                    for jp in the panels:              # one panel (K × NR) stays in L1/L2 ...
                        for i0 in the rows, MR = 8 at a time:   # ... while the row tiles of A stream past it
                            tile (MR × NR) = A[b, i0:i0+MR, :] @ Bp[jp]                             _micro_kernel
                            out[b, i0:i0+MR, jp·NR:(jp+1)·NR] = the part of the tile inside out

The micro-kernel is where the FLOPs happen:

    tile[r, j] (+)= Σ_k a[a_rows[r] + a_cols[k]] · b[b_start + b_rows[k] + j]        r < MR = 8, j < NR = 32

Its 8 × 32 accumulators live in eight stack rows (`_stack_row`, an LLVM alloca of NR values); with NR a
compile-time constant LLVM vectorizes the j loop, unrolls it and keeps the rows in registers for the whole k
loop: per k, 8 broadcasts of A, 2 vector loads of B, 16 fused multiply-adds on 512-bit registers, and no load
or store of the tile. Writing the tile as a 2-D array inside the k loop made LLVM re-load it every k and ran
5-20x slower. The micro-kernel does not know the layout of A and B: it reads element (r, k) of A at
a_rows[r] + a_cols[k] and row k of B at b_start + b_rows[k]. A matmul passes row-major offsets
(a_rows[r] = (i0 + r)·K, a_cols[k] = k, b_rows[k] = k·NR in a packed panel); a convolution passes the corners
of eight output windows as a_rows and the offsets of the kernel taps as a_cols, so the same loop computes a
convolution without building the im2col matrix.

Choices, each measured on a 2-core AVX-512 Xeon, one thread, float32:
  * 512-bit vectors. LLVM's tuning for Intel server cores says "prefer 256-bit vectors" (older parts lowered
    their clock for 512-bit code), so the vectorizer emitted 256-bit FMAs, twice as many per k, and the GEMM
    ran at 35-55 GFLOP/s instead of 85-100. `use_512_bit_vectors()` marks a function so LLVM uses the
    full width; on a CPU without AVX-512 the hint changes nothing.
  * Unsigned offsets (np.uint64). Numba turns a negative index into one counted from the end; for a signed
    index computed at run time that is a compare and a select on every load (four extra instructions next to
    each broadcast, the loop ran at half speed). An unsigned index cannot be negative, so the check goes.
  * Only B is packed. Reading the rows of A in place (a_rows[r] = (i0 + r)·K) was as fast as packing them
    (packing A into MR-row panels ran up to 20% slower at 64-384 and no faster at 512-1024); reading B in place
    was not: at N = 1024 or 2048 its rows are 4-8 KiB apart, alias in the L1 cache, and the product ran 3x
    slower. Packing B costs one pass over it, small next to the 2·M·N·K FLOPs.
  * Transposed views are not copied. A backward pass multiplies x.T @ grad_out and grad_out @ W.T; NumPy's
    copy of such a view walks it with a stride and took as long as the product (x.T @ grad_out, 192 × 768 @
    768 × 64, one thread: 534 µs with the copy, 206 µs without). The offset tables read A^T where it lies
    (a_rows[r] = i0 + r, a_cols[k] = k·M: the eight values of one k are adjacent), and the packing reads B^T
    along its rows.
  * Tasks are cut for the thread count (`task_grid`), not the cache: cutting out into 96 × 256 blocks gave a
    256 × 256 product 3 tasks, one thread ran two of them and the other waited (0.75 of the serial time
    instead of 0.5), and a weight gradient (64 × 768 @ 768 × 256) one task for two threads. Now every thread
    gets the same number of tasks, which differ by at most one row tile or panel; the blocks of MC × NC
    are walked inside a task. Each thread packs the panels of its own columns, so the product runs in one
    parallel region (no second launch and barrier for a separate packing loop).
  * No K blocking: one panel of B, K × NR values (32 KiB at K = 256, 256 KiB at K = 2048), is reused by every
    row tile of the task from L1 or L2; cutting K into 256-slices did not run faster.

Tiny products (below SMALL_FLOPS, e.g. K = 4) take `_matmul_small`, a serial i-k-j loop; the tiles run
serially below TILED_FLOPS (`_gemm_tasks` called once, for all tasks) and on all threads above
(`_gemm_parallel`, whose parallel loop only hands each thread its share: the tile loops are compiled once).

Switches:
    USE_BLAS = True (or env TINYGRAD_EDU_MATMUL=blas)  routes matmul() to np.matmul, to compare against BLAS.
    NUMBA_DISABLE_JIT=1                                runs the kernels as plain Python to step through them
                                                       (the stack rows need the JIT, so that mode takes the
                                                       NumPy definitions of `_micro_kernel` and `new_tile`).

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
from numba import carray, config, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

import kernels.cpu.variants  # noqa: F401 -- sets OpenMP's wait policy before the first parallel launch
from kernels.reference.gemm import check_matmul_inputs

USE_BLAS = os.environ.get("TINYGRAD_EDU_MATMUL", "").lower() == "blas"

# MR, NR: kernels/cpu/conv.py and rnn.py compile these values into their cached kernels, and Numba's on-disk cache
# does not notice when an imported constant changes: after editing them, delete kernels/cpu/__pycache__.
MR = 8      # rows of the register tile: 16 accumulator registers, and convolutions' channel counts are multiples of 8
NR = 32     # columns of the register tile: two zmm registers of float32 (four of float64)
NR_UNSIGNED = np.uint64(NR)  # the micro-kernel's j loop counts in uint64, so b_k + j stays unsigned
MC = 12 * MR  # rows of A per cache block (96): 96 x K values stay in L2 while the panels of B pass
NC = 8 * NR   # columns of B per cache block (256): packed as NC // NR panels into a thread's scratch
SCRATCH_PANELS = NC // NR
CACHE_LINE = 64  # bytes
# Below SMALL_FLOPS per call the serial i-k-j loop runs (no packing, no tables). Measured, float32, one thread,
# median µs i-k-j loop / serial tiles: (64x4)@(4x64) 2.1 / 4.9; 32^3 5.0 / 2.0; 64^3 27 / 7.5; and for a
# narrow product, the CNN's linear layer (64x512)@(512x10), 337 / 45: the tiles win from ≈32^3 on.
SMALL_FLOPS = 2 * 32 * 32 * 32
# Products below TILED_FLOPS run the tiles on one thread: a parallel launch costs a few µs on a quiet machine
# and milliseconds on a busy one (kernels/cpu/variants.py), a large share of a product this small. Measured,
# float32, median µs one thread / two (load 1.5 on 2 cores): 96^3 19.4 / 17.7; 112^3 30.5 / 24.2; 128^3
# 37.7 / 28.0; (768x64)@(64x64) 60.4 / 40.0; with 4-5 busy processes beside, 128^3 38.7 / 46.5.
TILED_FLOPS = 2 * 112 * 112 * 112


def stack_array(size):
    """An intrinsic: a pointer to `size` values of like's dtype on the stack of the calling function (an LLVM alloca:
    no heap allocation, private to the thread that runs it, and LLVM can keep a small one in registers)."""
    @intrinsic
    def stack(typingctx, like):
        dtype = like.dtype

        def codegen(context, builder, signature, args):
            value_type = context.get_value_type(dtype)
            return cgutils.alloca_once(builder, value_type, size=context.get_constant(types.intp, size))

        return types.CPointer(dtype)(like), codegen

    return stack


_stack_row = stack_array(NR)  # one accumulator row of a register tile
_stack_tile = stack_array(MR * NR)  # a whole tile


@intrinsic
def use_512_bit_vectors(typingctx):
    """Ask LLVM to vectorize the calling function with the widest registers the CPU has.

    It sets the LLVM function attribute "prefer-vector-width"="512", which overrides the "prefer-256-bit"
    tuning LLVM applies to Intel server cores. llvmlite's attribute set only accepts the attributes it knows,
    so the string attribute is added with set.add.
    """
    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@njit(inline="always")
def new_tile(like):
    """An uninitialised (MR, NR) array of like's dtype on the stack of the calling function (no heap
    allocation, so it may be created inside a prange loop: every thread gets its own)."""
    return carray(_stack_tile(like), (MR, NR))


@njit(fastmath=True, cache=True)
def _micro_kernel(a, a_rows, a_cols, b, b_rows, b_start, tile, accumulate):
    """tile[r, j] (+)= Σ_k a[a_rows[r] + a_cols[k]] · b[b_start + b_rows[k] + j]     r < MR, j < NR, k < len(a_cols)

    a, b: 1-D arrays; a_rows (MR,), a_cols (K,), b_rows (K,): np.uint64 offsets into them. Adds to tile when
    accumulate, else overwrites it. The eight accumulator rows c0..c7 are stack arrays of NR values; the j loop is
    vectorized and unrolled so they live in registers for the whole k loop.
    """
    use_512_bit_vectors()
    c0 = carray(_stack_row(tile), NR)
    c1 = carray(_stack_row(tile), NR)
    c2 = carray(_stack_row(tile), NR)
    c3 = carray(_stack_row(tile), NR)
    c4 = carray(_stack_row(tile), NR)
    c5 = carray(_stack_row(tile), NR)
    c6 = carray(_stack_row(tile), NR)
    c7 = carray(_stack_row(tile), NR)
    for j in range(NR):
        c0[j] = tile[0, j] if accumulate else 0
        c1[j] = tile[1, j] if accumulate else 0
        c2[j] = tile[2, j] if accumulate else 0
        c3[j] = tile[3, j] if accumulate else 0
        c4[j] = tile[4, j] if accumulate else 0
        c5[j] = tile[5, j] if accumulate else 0
        c6[j] = tile[6, j] if accumulate else 0
        c7[j] = tile[7, j] if accumulate else 0
    row0 = a_rows[0]
    row1 = a_rows[1]
    row2 = a_rows[2]
    row3 = a_rows[3]
    row4 = a_rows[4]
    row5 = a_rows[5]
    row6 = a_rows[6]
    row7 = a_rows[7]
    for k in range(a_cols.shape[0]):
        col = a_cols[k]
        a0 = a[row0 + col]
        a1 = a[row1 + col]
        a2 = a[row2 + col]
        a3 = a[row3 + col]
        a4 = a[row4 + col]
        a5 = a[row5 + col]
        a6 = a[row6 + col]
        a7 = a[row7 + col]
        b_k = b_start + b_rows[k]
        for j in range(NR_UNSIGNED):
            b_kj = b[b_k + j]
            c0[j] += a0 * b_kj
            c1[j] += a1 * b_kj
            c2[j] += a2 * b_kj
            c3[j] += a3 * b_kj
            c4[j] += a4 * b_kj
            c5[j] += a5 * b_kj
            c6[j] += a6 * b_kj
            c7[j] += a7 * b_kj
    for j in range(NR):
        tile[0, j] = c0[j]
        tile[1, j] = c1[j]
        tile[2, j] = c2[j]
        tile[3, j] = c3[j]
        tile[4, j] = c4[j]
        tile[5, j] = c5[j]
        tile[6, j] = c6[j]
        tile[7, j] = c7[j]


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the stack arrays need the JIT; the same contracts in NumPy
    def use_512_bit_vectors():  # noqa: F811 -- a hint to LLVM, nothing to do in plain Python
        return None

    def new_tile(like):  # noqa: F811
        return np.empty((MR, NR), like.dtype)

    def _micro_kernel(a, a_rows, a_cols, b, b_rows, b_start, tile, accumulate):  # noqa: F811
        a_block = a[a_rows[:, None] + a_cols[None, :]]  # (MR, K)
        b_block = b[b_start + b_rows[:, None] + np.arange(NR, dtype=np.uint64)[None, :]]  # (K, NR)
        tile[...] = (tile if accumulate else 0) + a_block @ b_block


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
def _gemm_tasks(a, a_transposed, b, b_transposed, out, row_parts, col_parts, first_task, end_task, packed, offsets):
    """Tasks [first_task, end_task) of out (B, M, N) = A @ B: one thread's share (`task_grid` cuts the product).

    a holds A (B, M, K) as it is, or its transpose (B, K, M) when a_transposed; b holds B (B, K, N), or (B, N, K)
    when b_transposed: the products of a backward pass (x.T @ grad_out, grad_out @ W.T) are such views, read
    where they lie instead of copied first. a, b, out C-contiguous; packed and offsets: this thread's scratch, a
    row of what `_scratch` allocates.

        offset tables in offsets: a_rows[t, r] = where row min(t·MR + r, M - 1) of A starts (rows past M repeat
            the last row and are never stored, so the k loop has no branch), a_cols[k] = the step to column k
            of A, b_rows[k] = k·NR (row k of a packed panel)
        for task in [first_task, end_task): a (batch, row part, column part) of out
            for each NC-wide block of the task's columns:
                packed[p, k, j] = B[batch, k, (first panel of the block + p)·NR + j], zero past column N
                for each MC-high block of the task's rows: panels × row tiles, as the module docstring shows
    """
    use_512_bit_vectors()  # for the packing and store loops; the micro-kernel asks for itself
    n_batch, M, N = out.shape
    K = a.shape[1] if a_transposed else a.shape[2]
    n_row_tiles = (M + MR - 1) // MR
    n_panels = (N + NR - 1) // NR
    panels_per_block = SCRATCH_PANELS
    tiles_per_block = MC // MR
    a_rows = offsets[:n_row_tiles * MR].reshape((n_row_tiles, MR))
    a_cols = offsets[n_row_tiles * MR:n_row_tiles * MR + K]
    b_rows = offsets[n_row_tiles * MR + K:n_row_tiles * MR + 2 * K]
    for t in range(n_row_tiles):
        for r in range(MR):
            row = min(t * MR + r, M - 1)
            a_rows[t, r] = row if a_transposed else row * K
    for k in range(K):
        a_cols[k] = k * M if a_transposed else k
        b_rows[k] = k * NR
    a_flat = a.reshape(-1)
    b_flat = b.reshape(-1)
    # start the panels on a cache line, so that each row of a panel (NR values) is whole cache lines and no
    # vector load of B in the micro-kernel straddles two of them
    packed = packed[(CACHE_LINE - packed.ctypes.data % CACHE_LINE) % CACHE_LINE // packed.itemsize:]
    tile = new_tile(out)
    nr = np.uint64(NR)
    k_count = np.uint64(K)
    for task in range(first_task, end_task):
        batch = task // (row_parts * col_parts)
        row_part = (task // col_parts) % row_parts
        col_part = task % col_parts
        a_batch = a_flat[batch * M * K:(batch + 1) * M * K]
        b_batch = np.uint64(batch * K * N)
        p_end = (col_part + 1) * n_panels // col_parts
        t_end = (row_part + 1) * n_row_tiles // row_parts
        for block_p in range(col_part * n_panels // col_parts, p_end, panels_per_block):
            block_panels = min(panels_per_block, p_end - block_p)
            for panel in range(block_panels):  # pack; unsigned offsets, so the copy loops vectorize
                j0 = np.uint64((block_p + panel) * NR)
                width = np.uint64(min(NR, N - (block_p + panel) * NR))
                start = np.uint64(panel) * k_count * nr
                if b_transposed:  # row j of b is column j of B: gather the width values of one k, whose rows
                    for k in range(k_count):  # (<= NR cache lines) stay in L1 for 16 k in a row
                        for j in range(width):
                            packed[start + k * nr + j] = b_flat[b_batch + (j0 + j) * k_count + k]
                        for j in range(width, nr):
                            packed[start + k * nr + j] = 0
                else:
                    for k in range(k_count):
                        source = b_batch + k * np.uint64(N) + j0
                        for j in range(width):
                            packed[start + k * nr + j] = b_flat[source + j]
                        for j in range(width, nr):
                            packed[start + k * nr + j] = 0
            for block_t in range(row_part * n_row_tiles // row_parts, t_end, tiles_per_block):
                for panel in range(block_panels):
                    b_start = np.uint64(panel) * k_count * nr
                    j0 = np.uint64((block_p + panel) * NR)
                    width = np.uint64(min(NR, N - (block_p + panel) * NR))
                    for t in range(block_t, min(t_end, block_t + tiles_per_block)):
                        _micro_kernel(a_batch, a_rows[t], a_cols, packed, b_rows, b_start, tile, False)
                        i0 = t * MR
                        for r in range(min(MR, M - i0)):
                            row = out[batch, i0 + r]
                            for j in range(width):  # unsigned: no negative-index check, so it vectorizes
                                row[j0 + j] = tile[r, j]


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


ROWS = 4  # rows of tile_product's register tile; its columns are NR (32): ROWS x NR accumulators in registers


@njit(inline="always", fastmath=True)
def tile_product(a, b, out, row0, col0):
    """out[row0:row0+4, col0:col0+NR] = a[row0:row0+4, :] @ b[:, col0:col0+NR]     a (M, K), b (K, >= col0+NR)

    A register tile read straight from two 2-D arrays, for serial calls on small operands inside other kernels
    (kernels/cpu/rnn.py): four accumulator rows of NR values on the stack (`_stack_row`), one broadcast of
    a[r, k] per row and NR contiguous values of b per k, so the rows stay in registers for the whole k loop.
    Rows past M are clamped to M - 1: they recompute (and rewrite) the last row, so the k loop has no branches.
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
    line) and the offset tables."""
    packed = np.empty(threads + (SCRATCH_PANELS * K * NR + CACHE_LINE,), dtype)
    offsets = np.empty(threads + (((M + MR - 1) // MR) * MR + 2 * K,), np.uint64)
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
    if flops < SMALL_FLOPS:
        _matmul_small(_as_stored(a, a_transposed), _as_stored(b, b_transposed), out)
    elif flops < TILED_FLOPS or numba.get_num_threads() == 1:  # every task in one call, no parallel launch
        packed, offsets = _scratch((), M, K, out.dtype)
        _gemm_tasks(a, a_transposed, b, b_transposed, out, 1, 1, 0, n_batch, packed, offsets)
    else:
        n_threads = numba.get_num_threads()
        row_parts, col_parts = task_grid(n_batch, (M + MR - 1) // MR, (N + NR - 1) // NR, K, n_threads)
        packed, offsets = _scratch((n_threads,), M, K, out.dtype)
        _gemm_parallel(a, a_transposed, b, b_transposed, out, row_parts, col_parts, packed, offsets)
    return out
