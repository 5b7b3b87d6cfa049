"""The gradient of an embedding lookup on the GPU: scatter-add the rows of grad_out into the table.

Same interface as kernels/reference/embedding.py (`np.add.at`). Shapes: ids flattened to (P,), grad_out to
(P, D), grad (num_rows, D).

    grid over the D columns, thread c:
        for p in range(P):                    # positions in order
            grad[ids[p], c] += grad_out[p, c]
        grad[padding_idx, c] = 0              # when there is a padding row

Why one thread per column: each thread owns its column of the table, so no two threads ever add into the same
element, no atomics are needed, and every sum runs over the positions in order: the same floats on every run,
and the ones np.add.at gives (the usual one-thread-per-position kernel with atomicAdd finishes its sums in
whatever order the threads arrive). Neighbouring threads read neighbouring values of a grad_out row, so each
step down the positions is one coalesced read. The price is D-way parallelism, enough for the table sizes of
the toy models; a production kernel sorts the positions by id first and gives each run of equal ids a block.

A host `ids` is range-checked here (IndexError, as the other sets); a device `ids` is not copied back for that
(a device -> host transfer per step): an out-of-range id adds nothing. Run without a GPU under
NUMBA_ENABLE_CUDASIM=1 (tiny shapes).
"""
import numpy as np
from numba import cuda

from kernels.cuda._device import (
    as_contiguous_device, host_proxy, is_device_array, launch_config, require_cuda, zeros,
)
from kernels.reference.embedding import check_embedding_backward_inputs, raise_bad_id

THREADS = 128


@cuda.jit
def _embedding_backward_kernel(ids, grad_out, padding_idx, grad):
    c = cuda.grid(1)  # one column of the table per thread
    num_rows, dim = grad.shape
    if c >= dim:
        return
    for p in range(ids.shape[0]):
        row = ids[p]
        if row >= 0 and row < num_rows:
            grad[row, c] += grad_out[p, c]
    if padding_idx >= 0:
        grad[padding_idx, c] = 0


def embedding_backward(ids, grad_out, num_rows, padding_idx=None):
    """grad (num_rows, D) device array: Σ of grad_out over the positions that picked each row; padding row 0."""
    positions, dim = check_embedding_backward_inputs("embedding_backward", host_proxy(ids), host_proxy(grad_out),
                                                     num_rows, padding_idx)
    if not is_device_array(ids):
        flat_ids = ids.reshape(positions)
        bad = (flat_ids < 0) | (flat_ids >= num_rows)
        if bad.any():
            raise_bad_id("embedding_backward", int(flat_ids[np.argmax(bad)]), num_rows)
    require_cuda()
    grad = zeros((num_rows, dim), grad_out.dtype)
    if positions and dim:
        ids_device = as_contiguous_device(ids if is_device_array(ids) else ids.astype(np.int64, copy=False))
        rows = as_contiguous_device(grad_out).reshape(positions, dim)
        pad = -1 if padding_idx is None else int(padding_idx)
        _embedding_backward_kernel[launch_config(dim, THREADS)](ids_device.reshape(positions), rows, pad, grad)
    return grad
