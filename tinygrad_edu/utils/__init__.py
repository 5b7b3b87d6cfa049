"""Utilities with `torch.utils`'s layout: `tinygrad_edu.utils.data` (Dataset, DataLoader, ...)."""
from tinygrad_edu.utils import data

__all__ = ["data"]
