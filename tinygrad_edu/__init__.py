"""tinygrad_edu: a small deep learning engine to read, run and benchmark.

Read in this order: `tensor.py` (the Tensor), `autograd.py` (Function and backward), `ops/` (each op's forward
and backward), `backend.py` (which kernel set runs), then `kernels/` (the NumPy reference and the Numba kernels).

Layers import downwards: creation, nn, optim → tensor.py → autograd.py, trace.py → ops/ → backend.py → kernels/,
and `kernels/` never imports `tinygrad_edu`. One reference points back up, on purpose: autograd and the ops build
their results as `Tensor`s, so autograd.py, trace.py and the ops tensor.py calls import `tinygrad_edu.tensor`, as
a module object (`tensor_module`) whose `Tensor` they read when an op runs, because tensor.py is still loading
when they load. (autograd.py also ends by re-exporting what is built beside it, `Function` and `grad` from
custom_function.py and `detect_anomaly` from anomaly.py, under PyTorch's `torch.autograd.*` names.) No other
import closes a cycle; tests/test_layering.py checks it.
"""
import numpy as np

# tensor must load first: it pulls in autograd and the ops, which refer back to it.
from tinygrad_edu.tensor import Tensor, manual_seed
from tinygrad_edu.creation import (
    arange,
    eye,
    full,
    full_like,
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
from tinygrad_edu.autograd import Function, enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from tinygrad_edu.anomaly import detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly
from tinygrad_edu import autograd, cuda, dtypes, nn, optim, utils
from tinygrad_edu.backend import get_backend, set_backend
from tinygrad_edu.gradcheck import GradcheckError, gradcheck
from tinygrad_edu.ops.elementwise import maximum, minimum, where
from tinygrad_edu.ops.linalg import matmul
from tinygrad_edu.ops.movement import concatenate, stack
from tinygrad_edu.profiler import profile
from tinygrad_edu.serialization import load, save
from tinygrad_edu.summary import summary
from tinygrad_edu.threads import get_num_threads, set_num_threads

from tinygrad_edu.torch_functions import (  # noqa: E402 - torch.* spellings of Tensor methods
    Generator, Size, abs, all, allclose, amax, amin, any, argmax, argmin, argsort, as_tensor, bmm, chunk, clamp,
    clamp_min, clip, clone, device, empty, empty_like, equal, exp, flatten, from_numpy, gather,
    get_default_dtype, index_select, is_tensor, isfinite, isinf, isnan, linspace, log, log_softmax, logical_not,
    logsumexp, masked_fill, max, mean, min, mm, neg, normal, numel, outer, permute, randperm, reciprocal, relu,
    reshape, rsqrt, scatter_add, sigmoid, softmax, sort, split, sqrt, square, squeeze, std, sum, t, tanh, topk,
    transpose, unbind, unsqueeze, var, sin, cos, tril, triu, cumsum, prod, norm, flip, nonzero, masked_select,
    remainder, einsum,
)

cat = concat = concatenate
# dtypes under PyTorch's names (NumPy dtypes underneath; see tinygrad_edu/dtypes.py for the promotion rule).
float32 = float = dtypes.float32
float64 = double = dtypes.float64
int64 = long = dtypes.int64
int32 = int = dtypes.int32
int16 = short = dtypes.int16
int8 = dtypes.int8
uint8 = dtypes.uint8
bool = dtypes.bool_

__all__ = [
    "abs", "all", "allclose", "amax", "amin", "any", "arange", "argmax", "argmin", "argsort", "as_tensor", "autograd",
    "bmm", "bool", "cat", "chunk", "clamp", "clamp_min", "clip", "clone", "concat", "concatenate", "cos", "cuda",
    "cumsum", "detect_anomaly", "device", "double", "dtypes", "einsum", "empty", "empty_like", "enable_grad", "equal", "exp", "eye",
    "flatten", "flip", "float", "float32", "float64", "from_numpy", "full", "full_like", "Function", "gather",
    "Generator", "get_backend", "get_default_dtype", "get_num_threads", "gradcheck", "GradcheckError",
    "index_select", "inference_mode",
    "int", "int16", "int32", "int64", "int8", "is_anomaly_check_nan_enabled", "is_anomaly_enabled", "is_grad_enabled", "is_tensor", "isfinite", "isinf", "isnan",
    "linspace", "load", "log", "log_softmax", "logical_not", "logsumexp", "long", "manual_seed", "masked_fill",
    "masked_select", "matmul", "max", "maximum", "mean", "min", "minimum", "mm", "neg", "nn", "no_grad", "nonzero",
    "norm", "normal", "numel", "ones", "ones_like", "optim", "outer", "permute", "prod", "profile", "rand",
    "rand_like", "randint", "randn", "randn_like", "randperm", "reciprocal", "relu", "remainder", "reshape", "rsqrt",
    "save", "scatter_add", "set_backend", "set_detect_anomaly", "set_grad_enabled", "set_num_threads", "short", "sigmoid", "sin", "Size",
    "softmax", "sort",
    "split", "sqrt", "square", "squeeze", "stack", "std", "sum", "summary", "t", "tanh", "tensor", "Tensor", "topk",
    "transpose", "tril", "triu", "uint8", "unbind", "unsqueeze", "utils", "var", "where", "zeros", "zeros_like",
]
