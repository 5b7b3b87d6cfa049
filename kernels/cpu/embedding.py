"""The gradient of an embedding lookup as a Numba kernel: scatter-add the rows of grad_out into the table.

Same interface as kernels/reference/embedding.py (read that first: it is `np.add.at`). Shapes: ids flattened to
(P,), grad_out to (P, D), grad (num_rows, D).

    for each column block [c0, c1) of COLUMN_BLOCK columns:      # prange (parallel variant)
        for p in range(P):                                       # positions in order
            grad[ids[p], c0:c1] += grad_out[p, c0:c1]

Why it is fast: no sort and no temporary (the NumPy way to make np.add.at fast sorts the positions and sums runs
with reduceat): each column block is one pass down the positions, and its loop over the block's columns is
contiguous in both arrays and vectorises (written over 1-D row views; 2-D indexing there stays scalar). Why it is
deterministic: every element of grad is a sum over the positions in order, whatever the thread count, because
threads split the columns, never the positions; these are the floats np.add.at gives (no fastmath, so nothing is
reordered).

Calls below SERIAL_MAX_SIZE values (every toy model's embeddings: 768 positions of 64 values, 17 µs) run the
serial variant. Set NUMBA_DISABLE_JIT=1 to step through the kernel as plain Python.
"""
import numpy as np
from numba import njit, prange

from kernels.cpu.variants import serial_and_parallel
from kernels.reference.embedding import check_embedding_backward_inputs, raise_bad_id

# P·D below which the serial variant runs. Measured, serial against parallel alternating in one process on the
# shared 2-core machine (load 1.4-1.8, a 2000-row table): the parallel variant was slower at every size from 2^15
# to 2^19 values (66 against 17 µs at 2^15, 340 against 263 µs at 2^19), so it is kept for much larger calls.
SERIAL_MAX_SIZE = 1 << 20
COLUMN_BLOCK = 32  # columns per parallel share: two AVX-512 vectors of float32


@njit(cache=True)
def _first_bad_id(ids, num_rows):
    """Index of the first id outside [0, num_rows), or -1. One read of ids."""
    for p in range(ids.shape[0]):
        if ids[p] < 0 or ids[p] >= num_rows:
            return p
    return -1


def _embedding_backward_body(ids, grad_out, grad):
    """for block in prange(ceil(D / COLUMN_BLOCK)): for p in range(P): grad[ids[p], block] += grad_out[p, block]"""
    dim = grad_out.shape[1]
    n_blocks = (dim + COLUMN_BLOCK - 1) // COLUMN_BLOCK
    for block in prange(n_blocks):
        start = block * COLUMN_BLOCK
        stop = min(start + COLUMN_BLOCK, dim)
        for p in range(ids.shape[0]):
            # 1-D views of the block: with these LLVM vectorises the loop (with 2-D indexing it stays scalar)
            target = grad[ids[p], start:stop]
            source = grad_out[p, start:stop]
            for c in range(stop - start):
                target[c] += source[c]


_embedding_backward_serial, _embedding_backward_parallel = serial_and_parallel(_embedding_backward_body)


def embedding_backward(ids, grad_out, num_rows, padding_idx=None):
    """grad (num_rows, D): Σ of grad_out over the positions that picked each row; the padding_idx row is 0."""
    positions, dim = check_embedding_backward_inputs("embedding_backward", ids, grad_out, num_rows, padding_idx)
    flat_ids = np.ascontiguousarray(ids.reshape(positions)).astype(np.int64, copy=False)
    bad = _first_bad_id(flat_ids, num_rows)
    if bad >= 0:
        raise_bad_id("embedding_backward", int(flat_ids[bad]), num_rows)
    grad = np.zeros((num_rows, dim), dtype=grad_out.dtype)
    if positions and dim:
        rows = np.ascontiguousarray(grad_out.reshape(positions, dim))
        kernel = _embedding_backward_serial if positions * dim < SERIAL_MAX_SIZE else _embedding_backward_parallel
        kernel(flat_ids, rows, grad)
    if padding_idx is not None:
        grad[padding_idx] = 0
    return grad
