"""Lesson 6: how a Numba matmul is made fast, and how the CUDA version maps the same work to threads.

Every op's heavy math ends in a kernel: a pure function over arrays (kernels/reference/ is the NumPy oracle,
kernels/cpu/ the Numba versions, kernels/cuda/ the GPU ones, same function names in each). The matmul
    out[b, i, j] = Σ_k a[b, i, k] · bmat[b, k, j]
is the one worth studying: conv (im2col, lesson 3), linear layers, attention and the RNN cell all reduce to it.

The naive triple loop does 2 loads per multiply-add and walks `bmat` down a column (a cache miss per step).
kernels/cpu/gemm.py fixes that in four moves (read its module docstring, then these functions):

  1. Blocking (`_gemm_tasks`): cut out into blocks of MC = 96 rows x NC = 256 columns, and K into slices of
     KC = 256. Within a block, one panel slice of B (KC rows x NR columns, 32 KiB) stays in L1 while every row
     tile of A streams past it; the tiles of a later slice add to out. The loops over blocks are the same sum,
     reordered; section 1 below checks that in NumPy.
  2. Packing (`_pack_panels`, per column block and slice of K): copy B into panels of NR = 32 contiguous columns,
     zero-padded past the last column, so row k of a panel is one contiguous run of NR numbers. Only B is
     packed: the rows of A are read where they lie (a transposed view, as in x.T @ grad, through its strides).
     Section 2 builds the B panels in NumPy.
  3. Register tiling (kernels/cpu/register_tiles.py, `_micro_kernel`): an 8 x 32 tile of out is accumulated in
     eight stack rows that LLVM keeps in 512-bit vector registers for the whole k loop: per k, 8 broadcasts of
     A, 2 vector loads of B, 16 fused multiply-adds, and no load or store of out at all. In its general form
     the tile does not know the layout of its operands: it reads element (r, k) of A at a[a_rows[r] + a_cols[k]]
     and row k of B at b[b_start + b_rows[k]], through small tables of offsets. A matmul has row-major offsets
     (the GEMM runs the same tile with them written as arithmetic, `_row_tiles_times_panel`); the convolution
     in kernels/cpu/conv.py passes the corners of eight output windows and the offsets of the kernel taps, so
     the same loop computes a convolution without building lesson 3's im2col matrix. Section 2b runs both
     views in NumPy.
  4. Parallelism (`_gemm_parallel`): `task_grid` cuts out into row parts x column parts so that every thread
     gets an equal share, and one `prange` over the threads runs each share with `_gemm_tasks`. The shares
     write disjoint parts of out, so no locks; each thread packs its own panels into its row of the scratch,
     and its tile lives on its stack, so nothing is allocated inside the parallel loop.
Tiny products take `_matmul_small`, a serial i-k-j loop: building panels and tables costs more than it saves.

To step through a CPU kernel as plain Python (breakpoints, prints), turn the JIT off for the whole process:

    NUMBA_DISABLE_JIT=1 python -c "from kernels.cpu import matmul; ..."

Section 3 runs exactly that in a subprocess. (For CUDA kernels, NUMBA_ENABLE_CUDASIM=1 runs them on the CPU
in Numba's simulator, one Python thread per GPU thread: slow, but print() and pdb work.)

The GPU version, kernels/cuda/gemm.py (its docstring has the exact tile sizes), maps the same blocking to
the hardware: a grid of thread blocks, one per output tile (blockIdx.z = the batch); inside a block, each
thread owns a small register tile of outputs (threadIdx.x -> columns, so neighbouring threads touch
neighbouring addresses and global loads coalesce). The block marches along K one slice at a time: all
threads cooperatively copy an A tile and a B tile into shared memory (cuda.shared.array), syncthreads(),
multiply-accumulate from shared memory into registers, syncthreads() again before the tiles are overwritten.
Each global value is then read once per block instead of once per output. Shared memory plays the role that
packing plus L1 play on the CPU; the per-thread register tile is the micro-kernel.

    python docs/06_fast_kernels.py
"""
import importlib
import os
import subprocess
import sys
import time

# This script mixes the Numba kernels with NumPy's threaded BLAS (np.matmul as the oracle). Their thread pools
# can fight right after each other (the "OpenMP / BLAS cliff" in kernels/cpu/gemm.py's docstring), so BLAS
# gets one thread here; it must be set before NumPy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from kernels.cpu import matmul as cpu_matmul  # noqa: E402
from kernels.reference import matmul as reference_matmul  # noqa: E402

cpu_matmul_module = importlib.import_module("kernels.cpu.gemm")  # its tile sizes MR, NR come from register_tiles.py
rng = np.random.default_rng(0)


# ----- 1. blocking is the same sum in another order ---------------------------------------------------------
def blocked_matmul(a, b, block_m=4, block_n=8):
    """out = a @ b computed block by block: each (M-block, N-block) of out is the product of a block of rows of
    a with a block of columns of b over the whole of K (the CPU kernel also cuts K into slices, whose products
    add up: one more reordering of the same sum)."""
    M, K = a.shape
    N = b.shape[1]
    out = np.empty((M, N), dtype=a.dtype)
    for i0 in range(0, M, block_m):
        for j0 in range(0, N, block_n):                          # this column block of b is reused from cache
            out[i0:i0 + block_m, j0:j0 + block_n] = a[i0:i0 + block_m, :] @ b[:, j0:j0 + block_n]
    return out


a = rng.standard_normal((13, 11))
b = rng.standard_normal((11, 17))
np.testing.assert_allclose(blocked_matmul(a, b), a @ b, rtol=1e-12)
print("1. blocked matmul (ragged 4 x 8 blocks) == a @ b")


# ----- 2. packing: B as contiguous, zero-padded panels of NR columns -------------------------------------------
def pack_b(matrix, panel_width):
    """bp[jp, k, j] = matrix[k, jp*NR + j], zero past the last column: the layout `_gemm_tasks` packs (per batch)."""
    K, N = matrix.shape
    n_panels = -(-N // panel_width)
    padded = np.zeros((K, n_panels * panel_width), dtype=matrix.dtype)
    padded[:, :N] = matrix
    return np.ascontiguousarray(padded.reshape(K, n_panels, panel_width).transpose(1, 0, 2))


NR = cpu_matmul_module.NR
packed = pack_b(b, NR)                     # (1 panel, K = 11, NR = 32): 17 real columns, 15 zero columns
assert packed.shape == (1, 11, NR) and packed.flags.c_contiguous
np.testing.assert_array_equal(packed[0, :, :17], b)
assert not packed[0, :, 17:].any()
# The micro-kernel's view: row k of a panel is NR consecutive numbers, one vector load; zero columns add 0.
np.testing.assert_allclose((a @ packed[0])[:, :17], a @ b, rtol=1e-12)
print(f"2. B packed into panels of NR = {NR} contiguous columns; the zero padding changes nothing")


# ----- 2b. the micro-kernel's view: operands read through tables of offsets ----------------------------------
def micro_kernel(a_flat, a_rows, a_cols, b_flat, b_rows, width):
    """tile[r, j] = Σ_k a_flat[a_rows[r] + a_cols[k]] · b_flat[b_rows[k] + j]: `_micro_kernel`'s contract in NumPy."""
    a_block = a_flat[a_rows[:, None] + a_cols[None, :]]             # (rows, K): element (r, k) of A
    b_block = b_flat[b_rows[:, None] + np.arange(width)[None, :]]   # (K, width): row k of B
    return a_block @ b_block


MR = cpu_matmul_module.MR
M, K = a.shape
# A matmul: row r of A starts at r·K, column k is k further; row k of a packed panel starts at k·NR.
tile_rows = np.minimum(np.arange(MR), M - 1)                        # rows past M repeat the last one, never stored
tile = micro_kernel(a.reshape(-1), tile_rows * K, np.arange(K), packed[0].reshape(-1), np.arange(K) * NR, NR)
np.testing.assert_allclose(tile[:, :17], (a @ b)[:MR], rtol=1e-12)

# A convolution with the same loop: rows = output positions (the corner of each window in the padded image),
# columns = kernel taps (c, i, j) at offset (c·Hp + i)·Wp + j. No window is copied anywhere.
image = rng.standard_normal((2, 6, 6))                               # (C, Hp, Wp): one already padded image
kernel = rng.standard_normal((4, 2, 3, 3))                           # (C_out, C, KH, KW)
C, Hp, Wp = image.shape
C_out, _, KH, KW = kernel.shape
positions = [(p, q) for p in range(Hp - KH + 1) for q in range(Wp - KW + 1)]
origins = np.array([p * Wp + q for p, q in positions])
taps = np.array([(c * Hp + i) * Wp + j for c in range(C) for i in range(KH) for j in range(KW)])
weights_as_b = kernel.reshape(C_out, -1).T.copy()                   # (C·KH·KW, C_out): row k = tap k, all channels
conv = micro_kernel(image.reshape(-1), origins, taps, weights_as_b.reshape(-1), np.arange(len(taps)) * C_out, C_out)
direct = np.array([[np.sum(image[:, p:p + KH, q:q + KW] * kernel[o]) for o in range(C_out)] for p, q in positions])
np.testing.assert_allclose(conv, direct, rtol=1e-12)
print("2b. one micro-kernel, two tables of offsets: a matmul tile, or a convolution read in place (no im2col)")

# ----- 3. the Numba kernel agrees with NumPy, on both of its paths, float32 and float64 ------------------------
for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-4)):
    for shape_a, shape_b in (((2, 7, 5), (2, 5, 3)),            # tiny: the serial _matmul_small path
                             ((3, 130, 70), (3, 70, 90))):      # tiled path, with ragged MR/NR edges
        lhs = rng.standard_normal(shape_a).astype(dtype)
        rhs = rng.standard_normal(shape_b).astype(dtype)
        result = cpu_matmul(lhs, rhs)
        assert result.dtype == dtype
        np.testing.assert_allclose(result, np.matmul(lhs, rhs), rtol=rtol, atol=rtol)
        np.testing.assert_allclose(result, reference_matmul(lhs, rhs), rtol=rtol, atol=rtol)
print("3. kernels.cpu.gemm == np.matmul == kernels.reference.gemm (float32 and float64, small and tiled)")

# The same kernel with the JIT off: plain Python you could step through in a debugger.
script = (
    "import numpy as np; from kernels.cpu import matmul\n"
    "a = np.arange(15.0).reshape(1, 3, 5); b = np.ones((1, 5, 2))\n"
    "print(matmul(a, b)[0].tolist())"
)
completed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
                           capture_output=True, text=True, timeout=120, check=True)
assert completed.stdout.strip() == str((np.arange(15.0).reshape(3, 5) @ np.ones((5, 2))).tolist())
print(f"   NUMBA_DISABLE_JIT=1 gives the same answer as plain Python: {completed.stdout.strip()}")

# ----- 4. how fast (printed, not asserted: it depends on the machine) ------------------------------------------
size = 256
lhs = rng.standard_normal((1, size, size)).astype(np.float32)
rhs = rng.standard_normal((1, size, size)).astype(np.float32)
cpu_matmul(lhs, rhs)  # the first call may compile or load the cache
timings = []
for _ in range(30):
    start = time.perf_counter()
    cpu_matmul(lhs, rhs)
    timings.append(time.perf_counter() - start)
seconds = min(timings)  # the best of 30: the least disturbed by thread start-up and other work on the machine
print(f"4. {size}^3 float32 matmul: best of 30 {seconds * 1e3:.2f} ms, {2 * size ** 3 / seconds / 1e9:.1f} GFLOP/s "
      "(benchmarks/bench_kernels.py compares against BLAS)")
print("lesson 6: kernel checks passed")
