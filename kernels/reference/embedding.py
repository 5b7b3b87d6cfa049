"""The gradient of an embedding lookup y = W[ids] in plain NumPy: the oracle for the cpu and cuda kernels.

    embedding_backward(ids, grad_out, num_rows, padding_idx):
        grad = zeros((num_rows, D))
        for p in range(P):                    # positions in order (ids flattened, P of them)
            grad[ids[p], :] += grad_out[p, :]
        grad[padding_idx, :] = 0              # when padding_idx is not None

    ids (any shape, P values in [0, num_rows)), grad_out (*ids.shape, D) -> grad (num_rows, D), grad_out's dtype.

This is `np.add.at(grad, ids, grad_out)`: a row picked at several positions receives the sum of their gradients,
added one position after the other, in position order, onto +0.0. The other kernel sets add in that same order
(in the array's dtype), so they give the same floats as this one.
"""
import numpy as np

_FLOATS = (np.float32, np.float64)


def check_embedding_backward_inputs(kernel, ids, grad_out, num_rows, padding_idx):
    """Validate the arguments (not the id values: each kernel checks those and calls raise_bad_id); returns (P, D)."""
    if not isinstance(ids, np.ndarray) or ids.dtype.kind not in "iu":
        got = ids.dtype if isinstance(ids, np.ndarray) else type(ids).__name__
        raise TypeError(f"{kernel}: ids must be an integer numpy.ndarray, got {got}")
    if not isinstance(grad_out, np.ndarray) or grad_out.dtype not in _FLOATS:
        got = grad_out.dtype if isinstance(grad_out, np.ndarray) else type(grad_out).__name__
        raise TypeError(f"{kernel}: grad_out must be a float32 or float64 numpy.ndarray, got {got}")
    if grad_out.ndim != ids.ndim + 1 or grad_out.shape[:-1] != ids.shape:
        raise ValueError(f"{kernel}: grad_out {grad_out.shape} must be (*ids.shape, embedding_dim) for ids {ids.shape}")
    if isinstance(num_rows, bool) or not isinstance(num_rows, (int, np.integer)) or num_rows < 0:
        raise ValueError(f"{kernel}: num_rows must be a non-negative integer, got {num_rows!r}")
    if padding_idx is not None and not (isinstance(padding_idx, (int, np.integer)) and 0 <= padding_idx < num_rows):
        raise ValueError(f"{kernel}: padding_idx must be None or in [0, {num_rows}), got {padding_idx!r}")
    return ids.size, grad_out.shape[-1]


def raise_bad_id(kernel, value, num_rows):
    """The one error for an id outside the table (IndexError, as torch's embedding)."""
    raise IndexError(f"{kernel}: index {value} is out of range for a table of {num_rows} rows")


def embedding_backward(ids, grad_out, num_rows, padding_idx=None):
    """grad (num_rows, D): Σ of grad_out over the positions that picked each row; the padding_idx row is 0."""
    positions, dim = check_embedding_backward_inputs("embedding_backward", ids, grad_out, num_rows, padding_idx)
    flat_ids = ids.reshape(positions)
    bad = (flat_ids < 0) | (flat_ids >= num_rows)
    if bad.any():
        raise_bad_id("embedding_backward", int(flat_ids[np.argmax(bad)]), num_rows)
    grad = np.zeros((num_rows, dim), dtype=grad_out.dtype)
    np.add.at(grad, flat_ids, grad_out.reshape(positions, dim))  # repeated ids add up, in position order
    if padding_idx is not None:
        grad[padding_idx] = 0
    return grad
