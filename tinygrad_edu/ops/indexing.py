"""Indexing along a dim: gather (and its adjoint scatter_add), topk and sort; the embedding lookup.

gather is written as advanced indexing (`GetItem`), so its backward is GetItem's scatter-add and needs no code of
its own; scatter_add is its own op because it adds into a copy of an existing tensor.
"""
import numpy as np

from tinygrad_edu import backend
from tinygrad_edu import tensor as tensor_module
from tinygrad_edu.autograd import ArrayFunction
from tinygrad_edu.ops.movement import getitem
from tinygrad_edu.ops.reduce import normalize_dim


def _index_array(index, op_name):
    array = tensor_module.as_array(index)
    if array.dtype.kind not in "iu":
        raise RuntimeError(f"{op_name}(): Expected dtype int64 for index, got {array.dtype}")
    return array


def _along_dim_index(index, dim, target_shape, op_name):
    """The NumPy index that picks target[..., index[i, j, k], ...] (index in position `dim`) for every (i, j, k).

    Every other dim indexes itself with an open `arange` grid, broadcast against `index`. Index values are
    checked (PyTorch raises; NumPy would wrap negative values around and pick a wrong element quietly).
    """
    ndim = len(target_shape)
    if index.ndim != ndim and not (ndim == 0 and index.ndim <= 1):
        raise RuntimeError(f"{op_name}(): Index tensor must have the same number of dimensions as input tensor "
                           f"({ndim}), got index of shape {index.shape}")
    if ndim == 0:
        return ()
    for d in range(ndim):
        if d != dim and index.shape[d] > target_shape[d]:
            raise RuntimeError(f"{op_name}(): Size does not match at dimension {d}: index {index.shape} must not be "
                               f"larger than the input {target_shape} except at dimension {dim}")
    if index.size and (index.min() < 0 or index.max() >= target_shape[dim]):
        bad = index.min() if index.min() < 0 else index.max()
        raise RuntimeError(f"{op_name}(): index {bad} is out of bounds for dimension {dim} with size {target_shape[dim]}")
    grids = []
    for d in range(ndim):
        if d == dim:
            grids.append(index.astype(np.intp, copy=False))
        else:
            shape = [1] * ndim
            shape[d] = index.shape[d]
            grids.append(np.arange(index.shape[d]).reshape(shape))
    return tuple(grids)


def gather(x, dim, index):
    """out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and the same pattern in any dim), as torch.gather."""
    axis = normalize_dim(dim, x.ndim, "gather")
    index_array = _index_array(index, "gather")
    if x.ndim == 0:
        return x
    return getitem(x, _along_dim_index(index_array, axis, x.shape, "gather"))


class ScatterAdd(ArrayFunction):
    """y = x with y[index[i][j]][j] += src[i][j] (dim 0);  dx = dy, dsrc[i][j] = dy[index[i][j]][j]  (a gather)."""

    @staticmethod
    def forward(ctx, x, src, numpy_index, index_shape):
        ctx.numpy_index, ctx.src_shape = numpy_index, src.shape
        src_part = src[tuple(slice(0, n) for n in index_shape)]
        out = x.copy()
        np.add.at(out, numpy_index, src_part)  # repeated indices accumulate
        return out

    @staticmethod
    def backward(ctx, grad_out):
        grad_src = None
        if ctx.needs_input_grad[1]:
            grad_src = np.zeros_like(grad_out, shape=ctx.src_shape)
            picked = grad_out[ctx.numpy_index]
            grad_src[tuple(slice(0, n) for n in picked.shape)] = picked
        return grad_out, grad_src


class EmbeddingLookup(ArrayFunction):
    """y = W[ids] (rows of the table);  dW[r] = Σ dy[p] over the positions p with ids[p] = r, and dW[padding_idx] = 0.

    The same function as the lookup W[ids] with the padding positions' gradient masked out (a where), as one
    graph node: the padding row is picked only at padding positions, so zeroing its gradient row after the
    scatter is the same as masking those positions first. The scatter-add is the `embedding_backward` kernel
    (kernels/<set>/embedding.py): positions added in order, so the same floats on every run and thread count.
    """

    @staticmethod
    def forward(ctx, weight, ids, padding_idx):
        ctx.num_rows, ctx.ids, ctx.padding_idx = weight.shape[0], ids, padding_idx
        return weight[ids]  # (*ids.shape, embedding_dim)

    @staticmethod
    def backward(ctx, grad_out):
        return backend.kernels(grad_out).embedding_backward(ctx.ids, grad_out, ctx.num_rows, ctx.padding_idx)


def embedding_lookup(weight, ids, padding_idx=None):
    """Rows `ids` (an integer NumPy array, values already checked to be in range) of the 2-D table `weight` on the
    CPU; padding_idx (non-negative or None): that row gets no gradient."""
    return EmbeddingLookup.apply(weight, ids=ids, padding_idx=padding_idx)


def scatter_add(x, dim, index, src):
    axis = normalize_dim(dim, x.ndim, "scatter_add")
    index_array = _index_array(index, "scatter_add")
    if src.dtype != x.dtype:
        raise RuntimeError(f"scatter_add(): Expected self.dtype to be equal to src.dtype, got {x.dtype} and {src.dtype}")
    if src.ndim != index_array.ndim or any(i > s for i, s in zip(index_array.shape, src.shape)):
        raise RuntimeError(f"scatter_add(): Expected index {index_array.shape} to be smaller than src {src.shape} "
                           f"in every dimension")
    numpy_index = _along_dim_index(index_array, axis, x.shape, "scatter_add")
    return ScatterAdd.apply(x, src, numpy_index=numpy_index, index_shape=index_array.shape)


def sort(x, dim=-1, descending=False):
    """(values, indices) sorted along `dim`; NaN counts as the largest value, as in PyTorch. Values are gathered,
    so gradients flow back to the elements they came from."""
    axis = normalize_dim(dim, x.ndim, "sort")
    data = x.numpy()
    if x.ndim == 0:
        index = tensor_module.array_to_device(np.zeros((), np.int64), x.device)
        return tensor_module.ValuesIndices(x, tensor_module.Tensor._from_array(index))
    if descending:
        # A stable sort of the reversed order keeps equal elements in their original order; NaN sorts last in
        # NumPy's ascending order, so it comes first when descending, as in PyTorch.
        order = np.flip(np.argsort(np.flip(data, axis), axis=axis, kind="stable"), axis)
        order = data.shape[axis] - 1 - order
    else:
        order = np.argsort(data, axis=axis, kind="stable")
    indices = tensor_module.Tensor._from_array(order.astype(np.int64), device="cpu").to(x.device)
    return tensor_module.ValuesIndices(gather(x, axis, indices), indices)


def topk(x, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest) elements along `dim`, as (values, indices), sorted."""
    axis = normalize_dim(dim, x.ndim, "topk")
    length = x.shape[axis] if x.ndim else 1
    if not 0 <= k <= length:
        raise RuntimeError(f"topk(): selected index k={k} out of range for dimension {axis} of size {length}")
    values, indices = sort(x, axis, descending=largest)
    if x.ndim == 0:
        return tensor_module.ValuesIndices(values, indices)
    window = (slice(None),) * axis + (slice(0, k),)
    return tensor_module.ValuesIndices(values[window], indices[window])
