"""Data: batching (`DataLoader`) and the data sets the example models train on."""
from tinygrad_edu.data.digits import load_digits_split
from tinygrad_edu.data.loader import DataLoader, TensorDataset
from tinygrad_edu.data.mnist import load_mnist, read_idx
from tinygrad_edu.data.text import CharVocabulary, stdlib_docstrings

__all__ = ["CharVocabulary", "DataLoader", "TensorDataset", "load_digits_split", "load_mnist", "read_idx", "stdlib_docstrings"]
