"""`TensorDataset` and `DataLoader` for the training tasks: the one implementation is `tinygrad_edu.utils.data`
(PyTorch's `torch.utils.data` layout); this module keeps the older import path working."""
from tinygrad_edu.utils.data import DataLoader, TensorDataset

__all__ = ["DataLoader", "TensorDataset"]
