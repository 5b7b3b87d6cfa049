"""`TensorDataset` and `DataLoader`: shuffled mini-batches with a seedable generator, as `torch.utils.data`."""
import numpy as np

from tinygrad_edu.tensor import Tensor, as_array


class TensorDataset:
    """Arrays that share their first dimension; item i is the tuple of their i-th rows."""

    def __init__(self, *arrays):
        arrays = [as_array(a) for a in arrays]
        if not arrays or any(len(a) != len(arrays[0]) for a in arrays):
            raise ValueError(f"TensorDataset: arrays must share their first dimension, got shapes {[a.shape for a in arrays]}")
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)


class DataLoader:
    """Iterate over a `TensorDataset` in batches of Tensors.

    With shuffle=True each epoch draws a new order from `generator` (a `np.random.Generator`; pass one seeded
    per run, or per epoch, for reproducible orders). Batches index the arrays with one fancy index, so there is no
    per-sample Python loop.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.generator = generator if generator is not None else np.random.default_rng()

    def __len__(self):
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self):
        order = self.generator.permutation(len(self.dataset)) if self.shuffle else np.arange(len(self.dataset))
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            yield tuple(Tensor._from_array(array) for array in self.dataset[indices])
