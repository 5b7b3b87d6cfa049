"""tinygrad_edu: a small deep learning engine to read, run and benchmark.

Read in this order: `tensor.py` (the Tensor), `autograd.py` (Function and backward), `ops/` (each op's forward
and backward), `backend.py` (which kernel set runs), then `kernels/` (the NumPy reference and the Numba kernels).
"""
import numpy as np

# tensor must load first: it pulls in autograd and the ops, which refer back to it.
from tinygrad_edu.tensor import (
    Tensor,
    arange,
    eye,
    full,
    full_like,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from tinygrad_edu.autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tinygrad_edu import cuda, nn, optim
from tinygrad_edu.backend import get_backend, set_backend
from tinygrad_edu.gradcheck import GradcheckError, gradcheck
from tinygrad_edu.ops.elementwise import maximum, minimum, where
from tinygrad_edu.ops.linalg import matmul
from tinygrad_edu.ops.movement import concatenate, stack
from tinygrad_edu.profiler import profile
from tinygrad_edu.serialization import load, save

cat = concatenate
float32 = np.float32
float64 = np.float64

__all__ = [
    "Function", "GradcheckError", "Tensor", "arange", "cat", "concatenate", "cuda", "enable_grad", "eye", "full",
    "full_like", "get_backend", "gradcheck", "is_grad_enabled", "load", "manual_seed", "matmul", "maximum", "minimum",
    "nn", "no_grad", "ones", "ones_like", "optim", "profile", "rand", "rand_like", "randint", "randn", "randn_like", "save", "set_backend",
    "set_grad_enabled", "stack", "tensor", "where", "zeros", "zeros_like",
]
