"""What the recurrent kernels share: the cells (kernels/cpu/rnn.py) and the whole sequences
(kernels/cpu/rnn_sequences.py) both compute σ and tanh without a libm call, so that the gate loops vectorise, and
both multiply [x | h] against the stacked weights.

    tanh_vectorizable, sigmoid_vectorizable   float64, through a polynomial exp (no overflow for any z)
    tanh_in_precision, sigmoid_in_precision   in the data's own precision: float32 data gets float32 forms
    pack_side_by_side                         [x | h | 0 ...], the left operand of a step's product
    padded_to_panels, bias_or_zeros           sizes and defaults of the wrappers

Each activation vectorises only inside a kernel compiled with error_model="numpy" (see tanh_vectorizable).
"""
import numpy as np
from numba import config, njit, types
from numba.extending import overload

from kernels.cpu.register_tiles import NR
from kernels.cpu.softmax import FASTMATH, exp32_vectorizable, exp_vectorizable


@njit(inline="always", fastmath=FASTMATH)
def tanh_vectorizable(z):
    """tanh(z) for a float64 z without a libm call, so a loop over it vectorises.

    |z| < 0.0625: odd Taylor series to z^11 (error < 1e-17 relative);  else tanh|z| = (1 - t)/(1 + t),
    t = exp(-2|z|) ≥ 0 (no overflow for any z; t = 0 for |z| > 354 gives exactly ±1).  Sign restored last.
    A loop over it vectorises only in a kernel compiled with error_model="numpy": under Numba's default
    (Python) error model the division carries a ZeroDivisionError check, and the loop stays scalar (several
    times slower).
    """
    a = abs(z)
    z2 = z * z
    series = z * (1.0 + z2 * (-1.0 / 3.0 + z2 * (2.0 / 15.0 + z2 * (-17.0 / 315.0 + z2 * (
        62.0 / 2835.0 + z2 * (-1382.0 / 155925.0))))))
    t = exp_vectorizable(-2.0 * a)
    large = (1.0 - t) / (1.0 + t)
    large = -large if z < 0.0 else large
    return series if a < 0.0625 else large


@njit(inline="always", fastmath=FASTMATH)
def sigmoid_vectorizable(z):
    """σ(z) for a float64 z through e = exp(-|z|) ≤ 1 (no overflow): 1/(1+e) for z ≥ 0, e/(1+e) below."""
    e = exp_vectorizable(-abs(z))
    s = 1.0 / (1.0 + e)
    return s if z >= 0.0 else e * s


# The gate activations run in the data's precision: float32 data gets float32 σ and tanh (twice the lanes per vector
# register, a float32 division, a shorter polynomial), float64 data the float64 forms above. In the
# float64 forms the divisions and the 13-term exp polynomial made the activations cost as much as the step's GEMM.
@njit(inline="always", fastmath=FASTMATH)
def _sigmoid32(z):
    """σ(z) for a float32 z, as sigmoid_vectorizable: e = exp(-|z|) ≤ 1, 1/(1+e) or e/(1+e)."""
    e = exp32_vectorizable(-abs(z))
    s = np.float32(1.0) / (np.float32(1.0) + e)
    return s if z >= np.float32(0.0) else e * s


@njit(inline="always", fastmath=FASTMATH)
def _tanh32(z):
    """tanh(z) for a float32 z, as tanh_vectorizable: the odd series to z^7 below |z| = 0.0625 (the next term is
    < 1e-11 relative), else (1 - t)/(1 + t) with t = exp(-2|z|), sign restored."""
    a = abs(z)
    z2 = z * z
    series = z * (np.float32(1.0) + z2 * (np.float32(-1.0 / 3.0) + z2 * (np.float32(2.0 / 15.0)
                                                                         + z2 * np.float32(-17.0 / 315.0))))
    t = exp32_vectorizable(np.float32(-2.0) * a)
    large = (np.float32(1.0) - t) / (np.float32(1.0) + t)
    large = -large if z < np.float32(0.0) else large
    return series if a < np.float32(0.0625) else large


def sigmoid_in_precision(z):
    """σ(z) computed in z's own precision: float32 for float32 values, float64 otherwise (Numba only)."""
    raise NotImplementedError("sigmoid_in_precision is for compiled kernels")


def tanh_in_precision(z):
    """tanh(z) computed in z's own precision: float32 for float32 values, float64 otherwise (Numba only)."""
    raise NotImplementedError("tanh_in_precision is for compiled kernels")


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: plain Python has no overload to pick
    def sigmoid_in_precision(z):  # noqa: F811
        return _sigmoid32(z) if isinstance(z, np.float32) else sigmoid_vectorizable(np.float64(z))

    def tanh_in_precision(z):  # noqa: F811
        return _tanh32(z) if isinstance(z, np.float32) else tanh_vectorizable(np.float64(z))


@overload(sigmoid_in_precision, jit_options={"fastmath": FASTMATH})
def _sigmoid_in_precision(z):
    if z == types.float32:
        return lambda z: _sigmoid32(z)
    return lambda z: sigmoid_vectorizable(np.float64(z))


@overload(tanh_in_precision, jit_options={"fastmath": FASTMATH})
def _tanh_in_precision(z):
    if z == types.float32:
        return lambda z: _tanh32(z)
    return lambda z: tanh_vectorizable(np.float64(z))


@njit(inline="always")
def pack_side_by_side(x, h, out):
    """out (N, ≥ I+H) = [x | h | 0 ...]: the [x | h] operand of the GEMMs, zero in any padding columns."""
    n_in = x.shape[1]
    n_hidden = h.shape[1]
    for n in range(x.shape[0]):
        for i in range(n_in):
            out[n, i] = x[n, i]
        for k in range(n_hidden):
            out[n, n_in + k] = h[n, k]
        for col in range(n_in + n_hidden, out.shape[1]):
            out[n, col] = 0


def padded_to_panels(n_cols):
    """n_cols rounded up to a whole number of NR-wide panels."""
    return (n_cols + NR - 1) // NR * NR


def bias_or_zeros(bias, size, dtype):
    """The bias as a contiguous array, or zeros of `size` when there is none (bias=False)."""
    return np.zeros(size, dtype=dtype) if bias is None else np.ascontiguousarray(bias)
