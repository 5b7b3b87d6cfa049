"""Device functions shared by the CUDA kernels: index arithmetic and block reductions.

These run on the GPU, called from inside kernels (`@cuda.jit(device=True)`; the compiler inlines them):

    unravel4(index, shape)                  flat index of a C-ordered 4-D array -> (n, c, p, q)
    strided_offset(index, shape, strides)   flat index of an NDIM-D view -> offset in its buffer (0 strides broadcast)
    block_sum(buffer, value)                Σ value over the threads of a block, every thread gets it
    block_max(buffer, value)                max value over the block (NaN wins)

Every one-thread-per-element kernel starts the same way: `index = cuda.grid(1)` numbers the threads of the whole
launch 0, 1, 2, ..., and the index is turned into the coordinates of the element the thread owns. Consecutive
threads get consecutive last coordinates, so a warp's loads and stores touch neighbouring addresses (coalesced).
"""
from numba import cuda

NDIM = 6  # most dims a strided view or a broadcast handles (shapes are padded on the left with 1s)


@cuda.jit(device=True)
def unravel4(index, shape):
    """(n, c, p, q) of flat `index` in a C-ordered array of 4-D `shape`: index = ((n·C + c)·P + p)·Q + q.

    >>> unravel4(7, (2, 2, 2, 2))    # doctest: +SKIP
    (0, 1, 1, 1)
    """
    q = index % shape[3]
    index //= shape[3]
    p = index % shape[2]
    index //= shape[2]
    c = index % shape[1]
    n = index // shape[1]
    return n, c, p, q


@cuda.jit(device=True)
def strided_offset(index, shape, strides):
    """Buffer offset of flat element `index` of a view (shape, element strides), both padded to NDIM dims.

    A stride of 0 reads one element along the whole dim: that is how broadcasting costs no copy."""
    offset = 0
    for d in range(NDIM - 1, -1, -1):  # peel coordinates from the fastest dim outward
        coordinate = index % shape[d]
        index //= shape[d]
        offset += coordinate * strides[d]
    return offset


@cuda.jit(device=True)
def block_sum(buffer, value):
    """Sum `value` over all threads of the (1-D, power-of-two) block; every thread gets the total.

    Shared-memory tree: each round, thread t < stride adds slot t + stride into slot t, then everybody waits at
    the barrier, so log2(blockDim) rounds. The trailing barrier lets the caller reuse `buffer` at once.
    (A faster version reduces inside each warp with shuffles first and only goes through shared memory once per
    warp; the tree is kept because it is the one a reader can check on paper.)
    """
    t = cuda.threadIdx.x
    buffer[t] = value
    cuda.syncthreads()
    stride = cuda.blockDim.x // 2
    while stride > 0:
        if t < stride:
            buffer[t] += buffer[t + stride]
        cuda.syncthreads()
        stride //= 2
    total = buffer[0]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def block_max(buffer, value):
    """Maximum of `value` over the block, same tree as block_sum. NaN wins (as np.max), -inf is the identity."""
    t = cuda.threadIdx.x
    buffer[t] = value
    cuda.syncthreads()
    stride = cuda.blockDim.x // 2
    while stride > 0:
        if t < stride:
            other = buffer[t + stride]
            if other > buffer[t] or other != other:
                buffer[t] = other
        cuda.syncthreads()
        stride //= 2
    total = buffer[0]
    cuda.syncthreads()
    return total
