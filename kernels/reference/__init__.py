"""The pure-NumPy reference kernels: the oracle every compiled backend is tested against."""
from kernels.reference.matmul import matmul
