"""Batched matmul on the GPU: a shared-memory tiled GEMM with a 2x2 register tile per thread.

    out[b, i, j] = sum_k a[b, i, k] * b[b, k, j]        a (B, M, K), b (B, K, N) -> out (B, M, N)

Thread/block mapping (BM = BN = 32 outputs per block side, BK = 16 deep, 16 x 16 = 256 threads):

    grid  = (ceil(N / 32), ceil(M / 32), B)                 # blockIdx.z is the batch: one launch for all of it
    block = (16, 16)                                          # threadIdx.x -> columns, threadIdx.y -> rows
    for k0 in range(0, K, 16):                                # march along K one tile at a time
        a_tile[32, 16] = a[b, rows of block, k0:k0+16]        # every thread loads 2 values (zero outside)
        b_tile[16, 32] = b[b, k0:k0+16, cols of block]        # every thread loads 2 values
        syncthreads()                                         # tiles complete before anyone reads them
        for kk in range(16):                                  # 4 shared loads feed 4 FMAs (the 2x2 tile)
            acc[r, c] += a_tile[ty + 16 r, kk] * b_tile[kk, tx + 16 c]     r, c in {0, 1}
        syncthreads()                                         # everyone done before the tiles are overwritten
    out[b, row0 + ty + 16 r, col0 + tx + 16 c] = acc[r, c]

Why it is fast on a GPU: each value of a and b is read from global memory once per block instead of once per
output (32x less traffic than the naive kernel); each thread's four accumulators stay in registers and every
shared-memory load is used twice; neighbouring threads (tx) touch neighbouring columns, so global loads/stores are
coalesced and b_tile reads hit different banks. The register tile is strided (ty + 16 r) rather than blocked
(2 ty + r) for exactly that coalescing. The next steps toward cuBLAS are a 4x4 or 8x8 register tile, vector
(float4) loads, and double-buffered tiles that overlap the next load with this tile's FMAs.

`gemm(a, b, trans_a, trans_b)` is the engine room for conv, rnn and friends: the flags read a (or b) as its
transpose in the tile loads, so no transposed copy is made.
"""
from numba import cuda

from kernels.cuda._device import as_contiguous_device, empty, host_proxy, per_dtype, require_cuda, zeros
from kernels.reference.gemm import check_matmul_inputs

TILE = 16  # threads per block side and depth of a k tile
REG = 2  # register tile: each thread computes REG x REG outputs
BLOCK = TILE * REG  # outputs per block side (32)


@per_dtype
def _gemm_kernel(dtype):
    """Compile the tiled GEMM for one float dtype (shared arrays need their dtype at compile time)."""

    @cuda.jit
    def gemm_kernel(a, b, out, trans_a, trans_b):
        a_tile = cuda.shared.array((BLOCK, TILE), dtype)  # (32 rows, 16 k) of a
        b_tile = cuda.shared.array((TILE, BLOCK), dtype)  # (16 k, 32 cols) of b
        batch = cuda.blockIdx.z
        tx = cuda.threadIdx.x  # column within the block's 16-wide thread grid
        ty = cuda.threadIdx.y  # row
        linear = ty * TILE + tx  # 0..255, used to spread tile loads over all threads
        row0 = cuda.blockIdx.y * BLOCK
        col0 = cuda.blockIdx.x * BLOCK
        m_size = out.shape[1]
        n_size = out.shape[2]
        k_size = a.shape[1] if trans_a else a.shape[2]
        acc00 = dtype(0)
        acc01 = dtype(0)
        acc10 = dtype(0)
        acc11 = dtype(0)
        for k0 in range(0, k_size, TILE):
            # a_tile has 32*16 = 512 slots and b_tile 16*32: two loads per thread each, zero outside the matrix
            for part in range(2):
                slot = linear + part * TILE * TILE
                i = slot // TILE
                kk = slot % TILE
                gi = row0 + i
                gk = k0 + kk
                value = dtype(0)
                if gi < m_size and gk < k_size:
                    value = a[batch, gk, gi] if trans_a else a[batch, gi, gk]
                a_tile[i, kk] = value
                kk = slot // BLOCK
                j = slot % BLOCK
                gk = k0 + kk
                gj = col0 + j
                value = dtype(0)
                if gk < k_size and gj < n_size:
                    value = b[batch, gj, gk] if trans_b else b[batch, gk, gj]
                b_tile[kk, j] = value
            cuda.syncthreads()  # the tiles are complete
            for kk in range(TILE):
                a0 = a_tile[ty, kk]
                a1 = a_tile[ty + TILE, kk]
                b0 = b_tile[kk, tx]
                b1 = b_tile[kk, tx + TILE]
                acc00 += a0 * b0
                acc01 += a0 * b1
                acc10 += a1 * b0
                acc11 += a1 * b1
            cuda.syncthreads()  # everyone has read the tiles; the next iteration may overwrite them
        i0 = row0 + ty
        i1 = i0 + TILE
        j0 = col0 + tx
        j1 = j0 + TILE
        if i0 < m_size and j0 < n_size:
            out[batch, i0, j0] = acc00
        if i0 < m_size and j1 < n_size:
            out[batch, i0, j1] = acc01
        if i1 < m_size and j0 < n_size:
            out[batch, i1, j0] = acc10
        if i1 < m_size and j1 < n_size:
            out[batch, i1, j1] = acc11

    return gemm_kernel


def gemm(a, b, trans_a=False, trans_b=False, out=None):
    """Device batched product op(a) @ op(b) for device arrays a, b (3-D); op = transpose of the last two axes
    when the flag is set. Returns (or fills) a (B, M, N) device array. No validation: internal building block."""
    batch = a.shape[0]
    m_size = a.shape[2] if trans_a else a.shape[1]
    n_size = b.shape[1] if trans_b else b.shape[2]
    if out is None:
        out = empty((batch, m_size, n_size), a.dtype)
    if out.size == 0:
        return out
    grid = ((n_size + BLOCK - 1) // BLOCK, (m_size + BLOCK - 1) // BLOCK, batch)
    _gemm_kernel(a.dtype)[grid, (TILE, TILE)](a, b, out, bool(trans_a), bool(trans_b))
    return out


def matmul(a, b):
    """Batched a @ b for a (B, M, K) and b (B, K, N) (host or device arrays); returns a (B, M, N) device array.

    >>> out = matmul(np.ones((1, 2, 3)), np.ones((1, 3, 4)))   # doctest: +SKIP
    >>> out.copy_to_host()[0, 0, 0]                            # doctest: +SKIP
    3.0
    """
    check_matmul_inputs("matmul", host_proxy(a), host_proxy(b))
    require_cuda()
    a_device = as_contiguous_device(a)
    b_device = as_contiguous_device(b)
    if a.shape[2] == 0:  # empty K: the product is all zeros
        return zeros((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    return gemm(a_device, b_device)
