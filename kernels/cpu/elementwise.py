"""Elementwise functions NumPy lacks, compiled with Numba: erf, ReLU's backward, and GELU fused each way.

Same interface as kernels/reference/elementwise.py (read that first: it is the math).

erf and GELU in float32. Neither NumPy nor this Numba (no SVML) has a vector erf or exp: `math.erf` in a loop is
one scalar libm call per element, about 8 ns. So float32 gets its own erf, erfc and exp below, written only with
multiplies, adds, one division, a floor and bit operations, all without branches (each `a if c else b` becomes a
vector select). LLVM then runs 16 elements per AVX-512 instruction: about 1 ns per element and thread for the
whole GELU, forward or backward.

    erfcx(a) = e^(a²)·erfc(a) = t·S(t),   t = 1/(1 + p·a), p = 0.3275911 (rounded to float32), a ≥ 0
    erf(z) = z·P(z²) for |z| < 1,  1 - e^(-z²)·erfcx(|z|) beyond, with z's sign
        S (degree 9) and P (degree 6) are relative-error minimax fits: least squares on 3000 Chebyshev nodes,
        reweighted by Lawson's method, the coefficients rounded to float32 one at a time (highest first) with the
        rest refitted. Fit error with the float32 coefficients: 2.7e-8 for erfcx on a ∈ [0, 10.5], 1.4e-8 for erf
        on (0, 1), below float32's 6e-8.
    e^(-v²) = e^(hi + lo), hi = -v_hi² exact, v_hi = v rounded to 12 significant bits, lo = -(v - v_hi)(v + v_hi):
        the rounding of v² to float32 (up to 182·6e-8 = 1e-5 for v = 13.5) would otherwise become that relative
        error in e^(-v²), the whole value of Φ far in the tail
    Φ(x) = ½e^(-x²/2)·erfcx(|x|/√2) for x < 0 (relative accuracy down to 1e-38), 1 minus that for x ≥ 0
    ½(1 + tanh u) = σ(2u), σ(w) from e^-|w| ≤ 1 (the tanh GELU)

Accuracy on float32 inputs against float64 (tests/kernels/test_gelu_kernels.py checks it on a dense grid with
tails, ±inf, NaN and -0.0): erf within 1.4 ulps; GELU within 7 ulps of y for |x| ≤ 13.2 (beyond, Φ underflows
and |error| < 1.3e-38·|x|), its derivative within 7 ulps of Φ(x) + |x|φ(x) (the size of its terms, which cancel
where the derivative crosses zero). The tanh form within (8 + 3|w|) ulps, w = 2u: rounding w to float32 is
amplified |w| times by e^w in the left tail, as in any float32 evaluation. PyTorch's float32 GELU is coarser in
the tail (gelu(-5) = -1.19e-6 against -1.43e-6).

float64 takes PyTorch's own formulas with the C library's erf, tanh and exp, as kernels/reference/elementwise.py
explains: its results agree with torch to float64 rounding (the float32 forms would not be accurate enough).

GELU fused: y = x·Φ(x) in one pass over x, and the backward recomputes Φ(x) and e^(-x²/2) from x in one pass over
(x, dy), so the graph keeps only x and no erf/exp temporaries are written.

ReLU's backward, 0 where y ≤ 0 else dy, is np.where(y <= 0, 0, dy) in NumPy, and NumPy's where takes a branch
per element: about half of a ReLU output is 0, in no pattern, so the branch is mispredicted half the time and
the loop runs an order of magnitude slower than a plain copy. The compiled ufunc below turns the choice into a
vector select (no branch) and reads y and dy once, without a temporary bool mask.

Set NUMBA_DISABLE_JIT=1 to step through these kernels as plain Python.
"""
import math

import numpy as np
from numba import config, njit, prange, vectorize
from numba.core import types
from numba.extending import overload

from kernels.cpu.register_tiles import use_512_bit_vectors
from kernels.cpu.variants import serial_and_parallel
from kernels.reference.elementwise import GELU_TANH_CUBIC, SQRT_2_OVER_PI, SQRT_HALF, check_gelu_inputs
from kernels.reference.elementwise import check_relu_backward_inputs

# Elements up to which the wrappers call the serial variant (kernels/cpu/variants.py). Measured, serial against
# parallel alternating in one process on a shared 2-core machine (load 3-5): serial runs ~1 ns per element
# (2^18 elements: 240-310 µs either way), and the parallel variant was slower at every size from 2^12 to 2^20
# (1.1-1.5x from 2^17 up, and 3-4x in rounds where the other core was taken). On a quiet machine a launch costs
# ~3 µs and a second thread would halve the work; from 2^18 on it saves over 100 µs there, while under load it
# loses about a tenth.
SERIAL_MAX_SIZE = 1 << 18
BLOCK = 4096  # elements per prange iteration: 16-32 KiB, so a block's loads and stores stay in L1/L2

# FMA contraction only. No `reassoc`: it would let LLVM regroup the two-part sums below (hi + lo, r = (hi - n·ln2)
# + lo), whose point is the order they are added in. Elementwise loops vectorise without it.
FLOAT32_MATH = {"contract"}

_SQRT_HALF_32 = np.float32(SQRT_HALF)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG2E_32 = np.float32(1.4426950408889634)
_LN2_HI_32 = np.float32(0.693145751953125)  # ln 2 in two parts: n·_LN2_HI_32 is exact for |n| < 256
_LN2_LO_32 = np.float32(1.4286068203094172e-06)
_EXP_MIN_32 = np.float32(-87.3)  # e^x is subnormal below: the exponent bit pattern n + 127 would be ≤ 0
_GAUSSIAN_ZERO_32 = np.float32(13.5)  # e^(-x²/2) < 1e-39 beyond |x| = 13.5: 0 to float32 (and ±inf made finite)
_ERF_ONE_32 = np.float32(4.0)  # erf(4) = 1 - 1.5e-8 rounds to 1 in float32
_HIGH_BITS_12 = np.int32(-4096)  # 0xFFFFF000: clears the 12 low bits of a float32's 23-bit significand
_ERFCX_P_32 = np.float32(0.3275911)
# erfcx(a) = t·S(t), S(t) = Σ_k S_k t^k (see the module docstring for the fit)
_S0, _S1, _S2 = np.float32(0.1847832351922989), np.float32(0.18571753799915314), np.float32(0.1662411093711853)
_S3, _S4, _S5 = np.float32(0.20325694978237152), np.float32(-0.042901262640953064), np.float32(0.4879247546195984)
_S6, _S7, _S8 = np.float32(-0.5443791747093201), np.float32(0.6159149408340454), np.float32(-0.31237757205963135)
_S9 = np.float32(0.05581948533654213)
# erf(z) = z·P(z²) on |z| < 1, P(s) = Σ_k P_k s^k, with P_0 = 2/√π in two parts (float32's nearest is 5e-8 off,
# a whole ulp of erf near 0 that no other coefficient can make up; the low part is positive, so -0.0 stays -0.0)
_P0_HI, _P0_LO = np.float32(1.1283791065216064), np.float32(6.057390322666834e-08)
_P1, _P2 = np.float32(-0.3761262893676758), np.float32(0.11283617466688156)
_P3, _P4 = np.float32(-0.02685491554439068), np.float32(0.00519016245380044)
_P5, _P6 = np.float32(-0.0008024818962439895), np.float32(7.898695184849203e-05)
ERFCX_COEFFICIENTS = (_S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8, _S9)  # for the tests: S_0 .. S_9
ERF_SERIES_COEFFICIENTS = (_P0_HI, _P1, _P2, _P3, _P4, _P5, _P6)  # P_0 (its high part) .. P_6
ERF_SERIES_P0_LOW = _P0_LO
ERFCX_P = _ERFCX_P_32


# ----- float32 building blocks ----------------------------------------------------------------------------------
@njit(inline="always", fastmath=FLOAT32_MATH)
def exp32_of_sum(hi, lo):
    """e^(hi + lo) for float32 hi ≤ 0 and a correction |lo| < 0.05 that rounding hi + lo to float32 would lose:

        n = round(hi / ln2);  r = (hi - n·ln2) + lo      (ln2 in two parts, so hi - n·ln2_hi is exact; |r| < 0.4)
        e^r by its Taylor series to r^8 (remainder < 1e-9 relative), 2^n as the bit pattern (n + 127) << 23
    About 1 ulp. 0 where hi < -87.3 (e^hi would be subnormal); NaN stays NaN.
    """
    clamped = _EXP_MIN_32 if hi < _EXP_MIN_32 else hi
    n = np.floor(clamped * _LOG2E_32 + np.float32(0.5))
    r = ((clamped - n * _LN2_HI_32) - n * _LN2_LO_32) + lo
    p = np.float32(1.0 / 40320.0)
    p = p * r + np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    two_to_n = np.int32((np.int32(n) + 127) << 23).view(np.float32)
    return np.float32(0.0) if hi < _EXP_MIN_32 else p * two_to_n


@njit(inline="always", fastmath=FLOAT32_MATH)
def minus_square_in_two_parts32(v):
    """(hi, lo) with hi + lo = -v² to float64-like precision, hi exact in float32, for 0 ≤ v ≤ 16 (Dekker's split):

        v_hi = v with its 12 low significand bits cleared: 12 significant bits, so v_hi² is exact in float32
        v² = v_hi² + (v - v_hi)(v + v_hi),  the second term < 2^-11·v², its own rounding error negligible
    """
    v_hi = np.int32(np.float32(v).view(np.int32) & _HIGH_BITS_12).view(np.float32)
    return -(v_hi * v_hi), -((v - v_hi) * (v + v_hi))


@njit(inline="always", fastmath=FLOAT32_MATH)
def erfcx32(a):
    """e^(a²)·erfc(a) for float32 a ≥ 0 as t·S(t), t = 1/(1 + p·a) (module docstring): 1 at a = 0, ~1/(a√π) for
    large a, smooth in between, so a polynomial in t fits it across [0, ∞) with one division."""
    t = np.float32(1.0) / (np.float32(1.0) + _ERFCX_P_32 * a)
    s = _S9
    s = s * t + _S8
    s = s * t + _S7
    s = s * t + _S6
    s = s * t + _S5
    s = s * t + _S4
    s = s * t + _S3
    s = s * t + _S2
    s = s * t + _S1
    s = s * t + _S0
    return t * s


@njit(inline="always", fastmath=FLOAT32_MATH)
def normal_cdf_and_gaussian32(x):
    """(Φ(x), e^(-x²/2)) for a float32 x:  Φ(-|x|) = ½e^(-x²/2)·erfcx(|x|/√2), and Φ(x) = 1 - Φ(-x) for x ≥ 0.

    Both from the one exponential; Φ keeps its relative accuracy in the left tail, where 1 + erf(x/√2) would be
    1 - (1 - tiny). ±inf give Φ = 0 / 1 and e^(-x²/2) = 0, NaN gives NaN."""
    v = abs(x)
    v = _GAUSSIAN_ZERO_32 if v > _GAUSSIAN_ZERO_32 else v  # NaN > c is false: NaN stays NaN
    hi, lo = minus_square_in_two_parts32(v)
    gaussian = exp32_of_sum(np.float32(0.5) * hi, np.float32(0.5) * lo)  # halving is exact
    left_tail = np.float32(0.5) * gaussian * erfcx32(v * _SQRT_HALF_32)  # Φ(-|x|)
    cdf = left_tail if x < np.float32(0.0) else np.float32(1.0) - left_tail
    return cdf, gaussian


@njit(inline="always", fastmath=FLOAT32_MATH)
def erf32(z):
    """erf(z) for a float32 z: the odd series z·P(z²) below |z| = 1, 1 - e^(-z²)·erfcx(|z|) from there, signed.

    Both are computed and one is selected, so a loop over it has no branch. ±inf give ±1, -0.0 gives -0.0."""
    s = z * z
    p = _P6
    p = p * s + _P5
    p = p * s + _P4
    p = p * s + _P3
    p = p * s + _P2
    p = p * s + _P1
    series = z * _P0_HI + z * (_P0_LO + s * p)
    a = abs(z)
    a = _ERF_ONE_32 if a > _ERF_ONE_32 else a
    hi, lo = minus_square_in_two_parts32(a)
    tail = np.float32(1.0) - exp32_of_sum(hi, lo) * erfcx32(a)
    tail = -tail if z < np.float32(0.0) else tail
    return series if abs(z) < np.float32(1.0) else tail


@njit(inline="always", fastmath=FLOAT32_MATH)
def sigmoid_pair32(w):
    """(σ(w), σ(w)·σ(-w)) for a float32 w, from e = e^-|w| ≤ 1: σ(|w|) = 1/(1 + e), σ(-|w|) = e/(1 + e), and
    σ(w)σ(-w) = e/(1 + e)² without the cancellation in σ(1 - σ) where σ ≈ 1."""
    hi = -abs(w)
    e = exp32_of_sum(hi, np.float32(0.0))
    inverse = np.float32(1.0) / (np.float32(1.0) + e)
    sigmoid = inverse if w >= np.float32(0.0) else e * inverse
    return sigmoid, e * inverse * inverse


@njit(inline="always", fastmath=FLOAT32_MATH)
def tanh_gelu_factor_and_slope32(x):
    """(f, dy/dx) of the tanh GELU y = x·f for a float32 x: f = ½(1 + tanh u) = σ(2u), and
    dy/dx = σ(2u) + x·σ(2u)σ(-2u)·2u', u' = √(2/π)(1 + 3·0.044715x²)."""
    w = np.float32(2.0 * SQRT_2_OVER_PI) * (x + np.float32(GELU_TANH_CUBIC) * (x * x * x))
    sigmoid, sigmoid_product = sigmoid_pair32(w)
    two_du_dx = np.float32(2.0 * SQRT_2_OVER_PI) * (np.float32(1.0) + np.float32(3.0 * GELU_TANH_CUBIC) * (x * x))
    return sigmoid, sigmoid + x * (sigmoid_product * two_du_dx)


# ----- float64: PyTorch's formulas with the C library's erf / tanh / exp (see kernels/reference/elementwise.py) --
@njit(inline="always")
def normal_cdf_and_gaussian64(x):
    """(Φ(x), e^(-x²/2)) for a float64 x, with PyTorch's Φ(x) = ½(1 + erf(x/√2))."""
    return 0.5 * (1.0 + math.erf(x * SQRT_HALF)), math.exp(-0.5 * x * x)


@njit(inline="always")
def tanh_gelu_factor_and_slope64(x):
    """(½(1 + tanh u), ½(1 + tanh u) + ½x(1 - tanh²u)·u') for a float64 x, as PyTorch computes them."""
    t = math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * (x * x * x)))
    du_dx = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_CUBIC * (x * x))
    half_one_plus_tanh = 0.5 * (1.0 + t)
    return half_one_plus_tanh, half_one_plus_tanh + x * (0.5 * (1.0 - t * t) * du_dx)


# ----- one name per function, the precision picked from the argument's type -------------------------------------
# In compiled code the overloads below choose at compile time; run as Python (NUMBA_DISABLE_JIT=1) the plain
# functions choose by the type of the value.
def normal_cdf_and_gaussian(x):
    """(Φ(x), e^(-x²/2)) in x's own precision."""
    return normal_cdf_and_gaussian32(x) if isinstance(x, np.float32) else normal_cdf_and_gaussian64(x)


def erf_in_precision(z):
    """erf(z) in z's own precision."""
    return erf32(z) if isinstance(z, np.float32) else math.erf(z)


def tanh_gelu_factor_and_slope(x):
    """(½(1 + tanh u), dy/dx) of the tanh GELU in x's own precision."""
    return tanh_gelu_factor_and_slope32(x) if isinstance(x, np.float32) else tanh_gelu_factor_and_slope64(x)


@overload(normal_cdf_and_gaussian, inline="always")
def _normal_cdf_and_gaussian(x):
    if x == types.float32:
        return lambda x: normal_cdf_and_gaussian32(x)
    return lambda x: normal_cdf_and_gaussian64(x)


@overload(erf_in_precision, inline="always")
def _erf_in_precision(z):
    if z == types.float32:
        return lambda z: erf32(z)
    return lambda z: math.erf(z)


@overload(tanh_gelu_factor_and_slope, inline="always")
def _tanh_gelu_factor_and_slope(x):
    if x == types.float32:
        return lambda x: tanh_gelu_factor_and_slope32(x)
    return lambda x: tanh_gelu_factor_and_slope64(x)


if config.DISABLE_JIT:  # the vector-width hint is an LLVM attribute: nothing to set when running as Python
    def use_512_bit_vectors():  # noqa: F811
        pass


# ----- the loops: blocks of BLOCK elements, in parallel; each block vectorised ----------------------------------
# Each block kernel gets views of one block and loops from 0: LLVM then knows the exact address range it reads
# and writes and its runtime overlap test passes for x and out side by side in memory. Given whole arrays and a
# range(start, stop) instead, LLVM could not bound the range (Numba wraps negative indices), so the test compared
# the whole arrays, failed when np.empty_like put out right after x, and sent the loop to its scalar form,
# 7x slower.
@njit(fastmath=FLOAT32_MATH, error_model="numpy", cache=True)
def _erf_block(x, out):
    """out[i] = erf(x[i]) for every i."""
    use_512_bit_vectors()
    for i in range(x.shape[0]):
        out[i] = erf_in_precision(x[i])


@njit(fastmath=FLOAT32_MATH, error_model="numpy", cache=True)
def _gelu_forward_block(x, out):
    """out[i] = x[i]·Φ(x[i]) for every i."""
    use_512_bit_vectors()
    for i in range(x.shape[0]):
        cdf, _ = normal_cdf_and_gaussian(x[i])
        out[i] = x[i] * cdf


@njit(fastmath=FLOAT32_MATH, error_model="numpy", cache=True)
def _gelu_backward_block(x, grad_y, out):
    """out[i] = grad_y[i]·(Φ(x[i]) + x[i]·φ(x[i])),  φ(x) = e^(-x²/2)/√(2π),  for every i."""
    use_512_bit_vectors()
    inv_sqrt_2pi = x.dtype.type(_INV_SQRT_2PI)
    for i in range(x.shape[0]):
        cdf, gaussian = normal_cdf_and_gaussian(x[i])
        out[i] = grad_y[i] * (cdf + x[i] * (gaussian * inv_sqrt_2pi))


@njit(fastmath=FLOAT32_MATH, error_model="numpy", cache=True)
def _gelu_tanh_forward_block(x, out):
    """out[i] = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), x = x[i], for every i."""
    use_512_bit_vectors()
    for i in range(x.shape[0]):
        factor, _ = tanh_gelu_factor_and_slope(x[i])
        out[i] = x[i] * factor


@njit(fastmath=FLOAT32_MATH, error_model="numpy", cache=True)
def _gelu_tanh_backward_block(x, grad_y, out):
    """out[i] = grad_y[i]·(½(1 + tanh u) + ½x(1 - tanh²u)·u'), x = x[i], for every i."""
    use_512_bit_vectors()
    for i in range(x.shape[0]):
        _, slope = tanh_gelu_factor_and_slope(x[i])
        out[i] = grad_y[i] * slope


def _erf_body(x, out):
    """for b in prange(⌈n / BLOCK⌉): out[block b] = erf(x[block b])          x, out: (n,) contiguous"""
    n = x.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        start, stop = b * BLOCK, min((b + 1) * BLOCK, n)
        _erf_block(x[start:stop], out[start:stop])


def _gelu_forward_body(x, out):
    """for b in prange(⌈n / BLOCK⌉): out[block b] = gelu(x[block b])        x, out: (n,) contiguous"""
    n = x.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        start, stop = b * BLOCK, min((b + 1) * BLOCK, n)
        _gelu_forward_block(x[start:stop], out[start:stop])


def _gelu_backward_body(x, grad_y, out):
    """for b in prange(⌈n / BLOCK⌉): out[block b] = grad_y·gelu'(x) on block b     x, grad_y, out: (n,)"""
    n = x.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        start, stop = b * BLOCK, min((b + 1) * BLOCK, n)
        _gelu_backward_block(x[start:stop], grad_y[start:stop], out[start:stop])


def _gelu_tanh_forward_body(x, out):
    """As _gelu_forward_body, with the tanh form."""
    n = x.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        start, stop = b * BLOCK, min((b + 1) * BLOCK, n)
        _gelu_tanh_forward_block(x[start:stop], out[start:stop])


def _gelu_tanh_backward_body(x, grad_y, out):
    """As _gelu_backward_body, with the tanh form."""
    n = x.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        start, stop = b * BLOCK, min((b + 1) * BLOCK, n)
        _gelu_tanh_backward_block(x[start:stop], grad_y[start:stop], out[start:stop])


_erf_serial, _erf_parallel = serial_and_parallel(_erf_body)
_GELU_FORWARD = {"none": serial_and_parallel(_gelu_forward_body),
                 "tanh": serial_and_parallel(_gelu_tanh_forward_body)}
_GELU_BACKWARD = {"none": serial_and_parallel(_gelu_backward_body),
                  "tanh": serial_and_parallel(_gelu_tanh_backward_body)}


def _variant(variants, size):
    """The serial variant of (serial, parallel) for small work, else the parallel one."""
    return variants[0] if size <= SERIAL_MAX_SIZE else variants[1]


def _flat(array):
    return np.ascontiguousarray(array).reshape(-1)


# ----- the kernels ----------------------------------------------------------------------------------------------
def erf(x):
    """The error function, elementwise, in x's dtype (float32: the vectorised erf32, within 2 ulps).

    >>> erf(np.array([-np.inf, 0.0, 0.5])).round(6).tolist()
    [-1.0, 0.0, 0.5205]
    """
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        raise TypeError(f"erf: expected a float32 or float64 ndarray, got {getattr(x, 'dtype', type(x).__name__)}")
    flat = _flat(x)
    out = np.empty_like(flat)
    _variant((_erf_serial, _erf_parallel), flat.size)(flat, out)
    return out.reshape(x.shape)


def gelu_forward(x, approximate="none"):
    """y = x·Φ(x) (approximate="tanh": x·σ(2√(2/π)(x + 0.044715x³))), a new array of x's dtype.

    >>> gelu_forward(np.array([-1.0, 0.0, 1.0])).round(6).tolist()
    [-0.158655, 0.0, 0.841345]
    """
    check_gelu_inputs("gelu_forward", x, approximate=approximate)
    flat = _flat(x)
    out = np.empty_like(flat)
    _variant(_GELU_FORWARD[approximate], flat.size)(flat, out)
    return out.reshape(x.shape)


def gelu_backward(x, grad_y, approximate="none"):
    """grad_x = grad_y·(Φ(x) + x·φ(x)) (or the tanh form's derivative), a new array of x's dtype."""
    check_gelu_inputs("gelu_backward", x, grad_y, approximate)
    flat = _flat(x)
    out = np.empty_like(flat)
    _variant(_GELU_BACKWARD[approximate], flat.size)(flat, _flat(grad_y), out)
    return out.reshape(x.shape)


@vectorize(["float32(float32, float32)", "float64(float64, float64)"], cache=True)
def _relu_backward_ufunc(y, grad_y):
    # y <= 0 is False for a NaN y, so NaN passes grad_y through, as in PyTorch
    return 0 if y <= 0 else grad_y


def relu_backward(y, grad_y):
    """0 where y ≤ 0, else grad_y: ReLU's input gradient from its output y, a new array of grad_y's dtype.

    >>> relu_backward(np.array([0.0, 2.0, np.nan]), np.array([5.0, 6.0, 7.0])).tolist()
    [0.0, 6.0, 7.0]
    """
    check_relu_backward_inputs("relu_backward", y, grad_y)
    out = np.empty(grad_y.shape, dtype=grad_y.dtype)
    with np.errstate(invalid="ignore"):  # the compiled NaN <= 0 raises the FPU's invalid flag; np.where's does not
        return _relu_backward_ufunc(y, grad_y, out=out)
