"""Batched matmul on the CPU in Numba: our own register-tiled GEMM (no BLAS), and the micro-kernel that
kernels/cpu/conv.py reuses for convolution.

    out[b, i, j] = Σ_k a[b, i, k] · b[b, k, j]        a (B, M, K), b (B, K, N) -> out (B, M, N)

How it is made fast (the plan of BLIS/GotoBLAS, cut down to the parts that measured faster here):

    pack B into panels  Bp[b, jp, k, 0:NR]   (NR = 32 columns, contiguous, zero-padded)       _gemm_body, step 1
    for task in prange(B × M-blocks × N-blocks):       # the parallel loop; MC = 96 rows × NC = 256 columns
        for jp in the task's panels of B:                # one panel (K × NR) stays in L1/L2 ...
            for i0 in the task's rows, MR = 8 at a time:   # ... while the row tiles of A stream past it
                tile (MR × NR) = a[b, i0:i0+MR, :] @ Bp[b, jp]                                     _micro_kernel
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
  * Only B is packed. Reading the rows of A in place (a_rows[r] = (i0 + r)·K) was as fast as packing them;
    reading B in place was not: at N = 1024 or 2048 its rows are 4-8 KiB apart, alias in the L1 cache, and the
    product ran 3x slower. Packing B costs one pass over it, small next to the 2·M·N·K FLOPs.
  * No K blocking: one panel of B, K × NR values (32 KiB at K = 256, 256 KiB at K = 2048), is reused by every
    row tile of the task from L1 or L2; cutting K into 256-slices did not run faster.

Tiny products (below SMALL_FLOPS, e.g. K = 4) take `_matmul_small`, a serial i-k-j loop; the tiles run
serially below TILED_FLOPS and on all threads above (kernels/cpu/variants.py compiles both from one body).

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
import os

import numba
import numpy as np
from numba import carray, config, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from kernels.cpu.variants import serial_and_parallel
from kernels.reference.gemm import check_matmul_inputs

USE_BLAS = os.environ.get("TINYGRAD_EDU_MATMUL", "").lower() == "blas"

# MR, NR: kernels/cpu/conv.py and rnn.py compile these values into their cached kernels, and Numba's on-disk cache
# does not notice when an imported constant changes: after editing them, delete kernels/cpu/__pycache__.
MR = 8      # rows of the register tile: 16 accumulator registers, and convolutions' channel counts are multiples of 8
NR = 32     # columns of the register tile: two zmm registers of float32 (four of float64)
NR_UNSIGNED = np.uint64(NR)  # the micro-kernel's j loop counts in uint64, so b_k + j stays unsigned
MC = 12 * MR  # rows per parallel task (96)
NC = 8 * NR   # columns per parallel task (256)
# Below SMALL_FLOPS per call the serial i-k-j loop runs (no packing, no tables). Measured, float32, one thread,
# median µs i-k-j loop / serial tiles: (64x4)@(4x64) 2.1 / 4.9; 32^3 5.0 / 2.0; 64^3 27 / 7.5; and for a
# narrow product, the CNN's linear layer (64x512)@(512x10), 337 / 45: the tiles win from ≈32^3 on.
SMALL_FLOPS = 2 * 32 * 32 * 32
# Products below TILED_FLOPS run the tiles on one thread: a parallel launch costs a few µs on a quiet machine
# and milliseconds on a busy one (kernels/cpu/variants.py), a large share of a product this small.
TILED_FLOPS = 2 * 160 * 160 * 160


@intrinsic
def _stack_row(typingctx, like):
    """Pointer to NR values of like's dtype on the stack (an alloca): LLVM can keep these in registers."""
    dtype = like.dtype

    def codegen(context, builder, signature, args):
        value_type = context.get_value_type(dtype)
        return cgutils.alloca_once(builder, value_type, size=context.get_constant(types.intp, NR))

    return types.CPointer(dtype)(like), codegen


@intrinsic
def _stack_tile(typingctx, like):
    """Pointer to MR * NR values of like's dtype on the stack: a tile private to the thread that runs it."""
    dtype = like.dtype

    def codegen(context, builder, signature, args):
        value_type = context.get_value_type(dtype)
        return cgutils.alloca_once(builder, value_type, size=context.get_constant(types.intp, MR * NR))

    return types.CPointer(dtype)(like), codegen


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
    def new_tile(like):  # noqa: F811
        return np.empty((MR, NR), like.dtype)

    def _micro_kernel(a, a_rows, a_cols, b, b_rows, b_start, tile, accumulate):  # noqa: F811
        a_block = a[a_rows[:, None] + a_cols[None, :]]  # (MR, K)
        b_block = b[b_start + b_rows[:, None] + np.arange(NR, dtype=np.uint64)[None, :]]  # (K, NR)
        tile[...] = (tile if accumulate else 0) + a_block @ b_block


def _gemm_body(a, b, out):
    """out (B, M, N) = a (B, M, K) @ b (B, K, N), all C-contiguous, through packed B panels and register tiles.

        1. bp[batch, jp, k, j] = b[batch, k, jp·NR + j], zero past column N      prange over (batch, panel)
        2. offset tables: a_rows[t, r] = min(t·MR + r, M - 1)·K (rows past M repeat the last row and are never
           stored, so the k loop has no branch), a_cols[k] = k, b_rows[k] = k·NR
        3. for task in prange(B × M-blocks × N-blocks): panels × row tiles of the block, as the module
           docstring shows; each tile is stored where it lies inside out
    """
    use_512_bit_vectors()  # for the packing and store loops here; the micro-kernel asks for itself
    n_batch, M, K = a.shape
    N = b.shape[2]
    n_panels = (N + NR - 1) // NR
    bp = np.empty((n_batch, n_panels, K, NR), dtype=b.dtype)
    for task in prange(n_batch * n_panels):
        batch = task // n_panels
        jp = task % n_panels
        j0 = jp * NR
        width = min(NR, N - j0)
        for k in range(K):
            for j in range(width):
                bp[batch, jp, k, j] = b[batch, k, j0 + j]
            for j in range(width, NR):
                bp[batch, jp, k, j] = 0
    n_row_tiles = (M + MR - 1) // MR
    a_rows = np.empty((n_row_tiles, MR), dtype=np.uint64)
    for t in range(n_row_tiles):
        for r in range(MR):
            a_rows[t, r] = min(t * MR + r, M - 1) * K
    a_cols = np.arange(K).astype(np.uint64)
    b_rows = a_cols * np.uint64(NR)
    a_flat = a.reshape(-1)
    bp_flat = bp.reshape(-1)
    tiles_per_block = MC // MR
    panels_per_block = NC // NR
    n_m_blocks = (n_row_tiles + tiles_per_block - 1) // tiles_per_block
    n_n_blocks = (n_panels + panels_per_block - 1) // panels_per_block
    for task in prange(n_batch * n_m_blocks * n_n_blocks):
        tile = new_tile(out)
        batch = task // (n_m_blocks * n_n_blocks)
        m_block = (task // n_n_blocks) % n_m_blocks
        n_block = task % n_n_blocks
        a_batch = a_flat[batch * M * K:(batch + 1) * M * K]
        for jp in range(n_block * panels_per_block, min(n_panels, (n_block + 1) * panels_per_block)):
            b_start = np.uint64((batch * n_panels + jp) * K * NR)
            j0 = jp * NR
            width = min(NR, N - j0)
            for t in range(m_block * tiles_per_block, min(n_row_tiles, (m_block + 1) * tiles_per_block)):
                _micro_kernel(a_batch, a_rows[t], a_cols, bp_flat, b_rows, b_start, tile, False)
                i0 = t * MR
                for r in range(min(MR, M - i0)):
                    row = out[batch, i0 + r]
                    for j in range(np.uint64(width)):  # unsigned: no negative-index check, so it vectorizes
                        row[np.uint64(j0) + j] = tile[r, j]


_gemm_serial, _gemm_parallel = serial_and_parallel(_gemm_body, fastmath=True)


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
    if flops < SMALL_FLOPS:
        _matmul_small(a, b, out)
    elif flops < TILED_FLOPS or numba.get_num_threads() == 1:
        # with one thread the serial variant runs the same loops without the parallel launch (≈5% at 256^3)
        _gemm_serial(a, b, out)
    else:
        _gemm_parallel(a, b, out)
    return out
