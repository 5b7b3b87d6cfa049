"""The register tiles of the CPU kernels: small products whose accumulators stay in vector registers for the whole
k loop. The GEMM (kernels/cpu/gemm.py), the convolution (kernels/cpu/conv.py, conv_taps.py), the recurrent kernels
and attention build on them.

The general tile, `_micro_kernel`:

    tile[r, j] (+)= Σ_k a[a_rows[r] + a_cols[k]] · b[b_start + b_rows[k] + j]        r < MR = 8, j < NR = 32

Its 8 × 32 accumulators live in eight stack rows (`_stack_row`, an LLVM alloca of NR values); with NR a
compile-time constant LLVM vectorizes the j loop, unrolls it and keeps the rows in registers for the whole k
loop: per k, 8 broadcasts of A, 2 vector loads of B, 16 fused multiply-adds on 512-bit registers, and no load
or store of the tile. Writing the tile as a 2-D array inside the k loop made LLVM re-load it every k and ran
5-20x slower. `_micro_kernel` does not know the layout of A and B: it reads element (r, k) of A at
a_rows[r] + a_cols[k] and row k of B at b_start + b_rows[k]; a convolution passes the corners of eight output
windows as a_rows and the offsets of the kernel taps as a_cols, so the same loop computes a convolution without
building the im2col matrix.

  * `tile_product`: the same idea for 4 rows read straight from two 2-D arrays, for small serial products inside
    other kernels (the recurrent cells).
  * `stack_array(size)`, `new_tile`: arrays on the stack of the calling function (private to each thread of a
    prange loop, no heap allocation), which LLVM keeps in registers when their size is a constant.

Choices, each measured on a 2-core AVX-512 Xeon, one thread, float32:
  * 512-bit vectors. LLVM's tuning for Intel server cores says "prefer 256-bit vectors" (older parts lowered
    their clock for 512-bit code), so the vectorizer emitted 256-bit FMAs, twice as many per k, and the GEMM
    ran at 35-55 GFLOP/s instead of 85-100. `use_512_bit_vectors()` marks a function so LLVM uses the
    full width; on a CPU without AVX-512 the hint changes nothing.
  * Unsigned offsets (np.uint64). Numba turns a negative index into one counted from the end; for a signed
    index computed at run time that is a compare and a select on every load (four extra instructions next to
    each broadcast, the loop ran at half speed). An unsigned index cannot be negative, so the check goes.
"""
import numpy as np
from numba import carray, config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

MR = 8      # rows of the register tile: 16 accumulator registers, and convolutions' channel counts are multiples of 8
NR = 32     # columns of the register tile: two zmm registers of float32 (four of float64)
NR_UNSIGNED = np.uint64(NR)  # the micro-kernel's j loop counts in uint64, so b_k + j stays unsigned


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
