"""Datasets and batching, as `torch.utils.data`: `Dataset`, `TensorDataset`, `Subset`, `random_split`, the
samplers and `DataLoader` with PyTorch's default collation.

A map-style dataset is anything with `__len__` and `__getitem__(i)`. The DataLoader draws indices from a sampler
(in order, or shuffled), groups them into batches, fetches the samples and collates them: tensors, arrays and
numbers are stacked into one Tensor per field, as `torch.utils.data.default_collate` does (Python ints -> int64,
Python floats -> float64, NumPy values keep their dtype), tuples and lists field by field, dicts key by key.

Randomness: with generator=None, shuffling and random_split draw their seed from the engine's global generator,
so `tinygrad_edu.manual_seed(s)` at the top of a script makes them reproducible (PyTorch's rule). A generator
may also be passed: `tinygrad_edu.Generator().manual_seed(s)`, a NumPy `np.random.Generator`, or any object with a
`permutation(n)` method.

Workers: num_workers > 0 is accepted and the data are loaded in the main process (the same batches, in the same
order); pin_memory and the other process-related options are accepted and have no effect.
"""
import collections.abc
import math
import warnings

import numpy as np

from tinygrad_edu.ops.movement import stack
from tinygrad_edu.tensor import Tensor, default_generator

__all__ = [
    "BatchSampler", "DataLoader", "Dataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
    "TensorDataset", "default_collate", "random_split",
]


def _numpy_generator(generator, owner):
    """A generator with `permutation`: the one given, or a fresh one seeded from the engine's global generator."""
    if generator is None:
        return np.random.default_rng(int(default_generator().integers(2 ** 63)))
    if hasattr(generator, "permutation"):
        return generator
    raise TypeError(f"{owner}: generator must be a tinygrad_edu.Generator or a numpy.random.Generator (anything with "
                    f"a permutation(n) method), got {type(generator).__name__}")


# ----- datasets ----------------------------------------------------------------------------------------------------
class Dataset:
    """Base class of map-style datasets: subclasses define `__getitem__(index)` and `__len__()`."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Tensors (or arrays) that share their first dimension; item i is the tuple of their i-th rows, as Tensors.

    >>> import tinygrad_edu as tg
    >>> data = TensorDataset(tg.arange(6).reshape(3, 2), tg.tensor([0, 1, 0]))
    >>> len(data), data[1][0].tolist(), data[1][1].item()
    (3, [2, 3], 1)
    """

    def __init__(self, *tensors):
        tensors = tuple(t if isinstance(t, Tensor) else Tensor._from_array(np.asarray(t)) for t in tensors)
        if not tensors or any(t.ndim == 0 or t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError(f"TensorDataset: tensors must share their first dimension (size mismatch between "
                             f"tensors), got shapes {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        return tuple(tensor[index] for tensor in self.tensors)

    def _batch(self, indices):
        """The rows `indices` of every tensor with one gather each (what collating the single rows would give),
        outside the graph, on each tensor's device."""
        index = np.asarray(indices, dtype=np.int64)
        return [Tensor._from_array(tensor.data[index], device=tensor.device) for tensor in self.tensors]


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after another: item i of the concatenation."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self):
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            index += len(self)
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = 0 if which == 0 else int(self.cumulative_sizes[which - 1])
        return self.datasets[which][index - start]


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping random Subsets of the given lengths (or fractions summing to 1).

    Fractions are floored and the remainder dealt one by one to the first subsets, as PyTorch.
    """
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = [int(math.floor(len(dataset) * fraction)) for fraction in lengths]
        for i in range(len(dataset) - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = sizes
    if sum(lengths) != len(dataset):
        raise ValueError(f"random_split: sum of input lengths {list(lengths)} does not equal the length of the input "
                         f"dataset ({len(dataset)})")
    order = _numpy_generator(generator, "random_split").permutation(sum(lengths)).tolist()
    subsets, offset = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[offset:offset + length]))
        offset += length
    return subsets


# ----- samplers ----------------------------------------------------------------------------------------------------
class Sampler:
    """Base class: an iterable of dataset indices."""

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random order of all indices on every iteration (every epoch)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if replacement or num_samples is not None:
            raise NotImplementedError("RandomSampler: replacement and num_samples are not supported")
        self.data_source = data_source
        self.generator = generator

    def __iter__(self):
        return iter(_numpy_generator(self.generator, "RandomSampler").permutation(len(self.data_source)).tolist())

    def __len__(self):
        return len(self.data_source)


class BatchSampler(Sampler):
    """Group the indices of `sampler` into lists of batch_size (the last shorter unless drop_last)."""

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        full, rest = divmod(len(self.sampler), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1


# ----- collation ---------------------------------------------------------------------------------------------------
def _stack_tensors(tensors):
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, but got "
                           f"{[tuple(t.shape) for t in tensors]}")
    if any(t.requires_grad for t in tensors) or tensors[0].device != "cpu":
        return stack(tensors, 0)  # differentiable / on the device
    return Tensor._from_array(np.stack([t.data for t in tensors]))


def default_collate(batch):
    """Stack a list of samples into a batch, as `torch.utils.data.default_collate`.

    Tensors and NumPy arrays are stacked (dtype kept); Python ints become int64, Python floats float64 and
    bools bool tensors; strings stay a list; tuples/lists are collated field by field (a tuple gives a list,
    as PyTorch), dicts key by key, namedtuples field by field into the same namedtuple.
    """
    first = batch[0]
    if isinstance(first, Tensor):
        return _stack_tensors(batch)
    if isinstance(first, np.ndarray) and first.dtype.kind not in "USO":
        return _stack_tensors([Tensor._from_array(np.asarray(sample)) for sample in batch])
    if isinstance(first, np.generic) and first.dtype.kind not in "USO":
        return Tensor._from_array(np.array(batch))
    if isinstance(first, bool):
        return Tensor._from_array(np.array(batch, dtype=np.bool_))
    if isinstance(first, int):
        return Tensor._from_array(np.array(batch, dtype=np.int64))
    if isinstance(first, float):
        return Tensor._from_array(np.array(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        if any(len(sample) != len(first) for sample in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found "
                    f"{type(first).__name__}")


def default_convert(sample):
    """What batch_size=None yields per sample: NumPy arrays and scalars become Tensors, the rest is unchanged."""
    if isinstance(sample, np.ndarray) and sample.dtype.kind not in "USO":
        return Tensor._from_array(sample)
    if isinstance(sample, np.generic) and sample.dtype.kind not in "USO":
        return Tensor._from_array(np.asarray(sample))
    if isinstance(sample, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in sample.items()}
    if isinstance(sample, tuple) and hasattr(sample, "_fields"):
        return type(sample)(*(default_convert(value) for value in sample))
    if isinstance(sample, (list, tuple)):
        return [default_convert(value) for value in sample]
    return sample


# ----- the loader --------------------------------------------------------------------------------------------------
class DataLoader:
    """Iterate over a map-style dataset in batches, as `torch.utils.data.DataLoader`.

    >>> import tinygrad_edu as tg
    >>> loader = DataLoader(TensorDataset(tg.arange(5.0), tg.arange(5)), batch_size=2)
    >>> [y.tolist() for _, y in loader]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
                                 "drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if generator is not None:
            _numpy_generator(generator, "DataLoader")  # reject an unusable generator now, not at the first epoch
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.generator = generator
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory

    def __len__(self):
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

    def __iter__(self):
        if self.batch_sampler is None:  # batch_size=None: one converted sample at a time
            convert = self.collate_fn or default_convert
            for index in self.sampler:
                yield convert(self.dataset[index])
            return
        fast = self.collate_fn is None and isinstance(self.dataset, TensorDataset)
        for indices in self.batch_sampler:
            if fast:
                yield self.dataset._batch(indices)
            else:
                yield (self.collate_fn or default_collate)([self.dataset[index] for index in indices])
