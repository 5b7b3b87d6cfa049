"""GELU (gelu_forward / gelu_backward) and the float32 erf on every kernel set.

The reference against PyTorch (float64 to the last bits; float32 elsewhere, as it is more accurate in the tail),
the CPU kernels against float64 on a dense grid with tails and special values, in ulps of float32, and against the
reference on Hypothesis-drawn shapes, the CUDA kernels (GPU or NUMBA_ENABLE_CUDASIM=1, tiny shapes) against the
reference. The float32 accuracy stated in kernels/cpu/elementwise.py is what these tests check:

    erf                       ≤ 2 ulps (|error| ≤ 1e-7)
    gelu, erf form            ≤ 8 ulps of y for |x| ≤ 13.2; below, |error| ≤ 1.3e-38·|x| (Φ(x) underflows there)
    gelu', erf form           ≤ 8 ulps of Φ(x) + |x|φ(x) (the size of its terms; their sum crosses zero)
    gelu and gelu', tanh form ≤ (8 + 3|w|) ulps, w = 2u = 2√(2/π)(x + 0.044715x³): the rounding of w to float32
                              is amplified |w| times by e^w in the left tail (PyTorch's float32 does the same)
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kernels.cuda as cuda_kernels
from kernels.cpu import elementwise as cpu
from kernels.reference import elementwise as ref

FLOATS = [np.float32, np.float64]
APPROXIMATIONS = ["none", "tanh"]
TINY32 = float(np.finfo(np.float32).tiny)  # 2^-126, float32's smallest normal
FLUSHED32 = 1.05 * math.exp(-87.3)  # the float32 kernels' e^v is 0 for v < -87.3 (a subnormal there)
SPECIALS = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1e-40, 1e-40, -30.0, -20.0, -9.0, -1.0, 1.0, 9.0, 30.0])

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _ulp32(value):
    """The spacing of float32 numbers at |value| (as float64)."""
    return np.spacing(np.abs(value).astype(np.float32)).astype(np.float64)


def _dense_grid(limit):
    """float32 points: a uniform grid over [-limit, limit], and ±1e-38 ... 1 logarithmically (tiny and subnormal)."""
    uniform = np.linspace(-limit, limit, 400_001, dtype=np.float32)
    small = np.geomspace(1e-44, 1.0, 4_001).astype(np.float32)
    return np.concatenate([uniform, small, -small])


def _exact_gelu(x, approximate):
    """(y, dy/dx, size of dy/dx's terms, w) in float64 for float64 x, in the forms that keep the left tail."""
    if approximate == "none":
        cdf = 0.5 * _erfc(-x / math.sqrt(2.0))
        x_density = x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return x * cdf, cdf + x_density, cdf + np.abs(x_density), None
    c = math.sqrt(2.0 / math.pi)
    w = 2.0 * c * (x + 0.044715 * x ** 3)
    sigmoid = 0.5 * (1.0 + np.tanh(0.5 * w))  # exact enough here: compared only where σ(w) is a normal float32
    sigmoid = np.where(w < -20, np.exp(w) / (1 + np.exp(w)), sigmoid)
    x_term = x * sigmoid * (1.0 - sigmoid) * 2.0 * c * (1.0 + 3 * 0.044715 * x * x)
    return x * sigmoid, sigmoid + x_term, sigmoid + np.abs(x_term), w


# ----- float32 accuracy of the CPU kernels ---------------------------------------------------------------------
def test_cpu_float32_erf_is_within_2_ulps_on_a_dense_grid_with_tails():
    x = _dense_grid(10.0)
    exact = _erf(x.astype(np.float64))
    error = np.abs(cpu.erf(x).astype(np.float64) - exact)
    assert error.max() <= 1e-7
    normal = np.abs(exact) >= TINY32
    assert (error[normal] / _ulp32(exact[normal])).max() <= 2.0
    assert error[~normal].max() <= 2.0 ** -149  # subnormal z: one subnormal step


def test_cpu_float32_erf_at_special_values():
    x = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 1e-45, -1e-45, 4.0, -4.0, 30.0], np.float32)
    got = cpu.erf(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([1.0, -1.0, np.nan, -0.0, 0.0, 1e-45, -1e-45, 1.0, -1.0, 1.0], np.float32))
    assert np.signbit(got[3]) and not np.signbit(got[4])


@pytest.mark.parametrize("approximate", APPROXIMATIONS)
def test_cpu_float32_gelu_is_accurate_to_float32_on_a_dense_grid_with_tails(approximate):
    x = _dense_grid(14.0)
    x64 = x.astype(np.float64)
    y, slope, slope_size, w = _exact_gelu(x64, approximate)
    got_y = cpu.gelu_forward(x, approximate).astype(np.float64)
    got_slope = cpu.gelu_backward(x, np.ones_like(x), approximate).astype(np.float64)
    assert got_y.dtype == np.float64 and got_slope.shape == x.shape
    if approximate == "none":
        allowed_ulps = np.full(x.shape, 8.0)
        normal = (np.abs(x64) <= 13.2) & (np.abs(y) >= TINY32 * np.maximum(np.abs(x64), 1.0))
    else:
        allowed_ulps = 8.0 + 3.0 * np.abs(w)
        normal = (w >= -87.3) & (np.abs(y) >= TINY32 * np.maximum(np.abs(x64), 1.0))
    y_error, slope_error = np.abs(got_y - y), np.abs(got_slope - slope)
    assert np.all(y_error[normal] <= allowed_ulps[normal] * _ulp32(y[normal]))
    assert np.all(slope_error[normal] <= allowed_ulps[normal] * _ulp32(slope_size[normal]))
    # Far in the left tail the exponential underflows: y is below e^-87.3·|x|, dy/dx below that times the slope of
    # the exponent (|x| for the erf form, 2u' ≤ 2(1 + 0.14x²) for the tanh form), and so are the errors.
    tail = np.abs(x64[~normal])
    assert np.all(y_error[~normal] <= FLUSHED32 * np.maximum(tail, 1.0))
    assert np.all(slope_error[~normal] <= FLUSHED32 * (1.0 + tail) * (2.0 + tail + 0.3 * tail * tail))


@pytest.mark.parametrize("approximate", APPROXIMATIONS)
def test_cpu_float32_gelu_at_special_values_gives_torch_answers(approximate):
    x = SPECIALS.astype(np.float32)
    y = cpu.gelu_forward(x, approximate)
    slope = cpu.gelu_backward(x, np.ones_like(x), approximate)
    # -inf·Φ(-inf) = -inf·0 and the slopes at ±inf (1 + inf·0) are NaN, as in torch; gelu(+inf) = inf
    np.testing.assert_array_equal(y[:5], [np.nan, np.nan, np.inf, -0.0, 0.0])
    np.testing.assert_array_equal(slope[:5], [np.nan, np.nan, np.nan, 0.5, 0.5])
    assert np.signbit(y[3]) and not np.signbit(y[4])
    assert np.all(y[7:9] == 0.0) and np.all(slope[7:9] == 0.0)  # x = -30, -20: Φ underflows
    np.testing.assert_array_equal(y[-1], np.float32(30.0))


# ----- float64 and the reference --------------------------------------------------------------------------------
def _float64_rounding(x):
    """What float64 rounding moves gelu by (per unit cotangent): 1 + erf(x/√2) and ½(1 ± tanh u) are exact only to
    2^-53 absolutely (and the libraries' erf/tanh may differ in that last bit), times x, and for the tanh form's
    slope times x·u' ≈ 0.8|x|(1 + 0.134x²)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return 4e-16 * (1.0 + np.abs(x)), 4e-16 * (1.0 + np.abs(x) * (1.0 + 0.14 * x * x))


def _assert_close_to_float64_rounding(got, want, allowed):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    finite = np.isfinite(want)
    excess = np.abs(got[finite] - want[finite]) - (1e-14 * np.abs(want[finite]) + allowed[finite])
    assert excess.max(initial=-1.0) <= 0.0, f"off by {excess.max()} beyond float64 rounding"


@pytest.mark.parametrize("approximate", APPROXIMATIONS)
def test_reference_float64_gelu_matches_torch_to_float64_rounding_including_specials(approximate):
    x = np.concatenate([np.linspace(-40, 40, 4001), SPECIALS])
    cotangent = np.random.default_rng(0).standard_normal(x.shape)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = torch.nn.functional.gelu(x_torch, approximate=approximate)
    y_torch.backward(torch.tensor(cotangent))
    value_rounding, slope_rounding = _float64_rounding(x)
    _assert_close_to_float64_rounding(ref.gelu_forward(x, approximate), y_torch.detach().numpy(), value_rounding)
    _assert_close_to_float64_rounding(ref.gelu_backward(x, cotangent, approximate), x_torch.grad.numpy(),
                                      slope_rounding * np.abs(cotangent))
    far_left = x[np.isfinite(x) & (x < -9)]
    assert np.all(ref.gelu_forward(far_left, approximate) == 0.0)  # torch's 0 in the far tail, kept on purpose


@pytest.mark.parametrize("approximate", APPROXIMATIONS)
def test_cpu_float64_gelu_matches_the_reference_to_float64_rounding(approximate):
    # The CPU kernel may fuse x + 0.044715x³ into one multiply-add: u then differs in its last bit.
    x = np.concatenate([np.linspace(-40, 40, 20001), SPECIALS])
    cotangent = np.random.default_rng(1).standard_normal(x.shape)
    value_rounding, slope_rounding = _float64_rounding(x)
    _assert_close_to_float64_rounding(cpu.gelu_forward(x, approximate), ref.gelu_forward(x, approximate),
                                      value_rounding)
    _assert_close_to_float64_rounding(cpu.gelu_backward(x, cotangent, approximate),
                                      ref.gelu_backward(x, cotangent, approximate), slope_rounding * np.abs(cotangent))


def _arrays(dtype, limit):
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
                      elements=st.floats(-limit, limit, width=32))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("approximate", APPROXIMATIONS)
@given(data=st.data())
def test_cpu_gelu_matches_the_reference_on_drawn_shapes_and_strided_views(dtype, approximate, data):
    # |x| ≤ 8 (erf form) / 4 (tanh form, |w| ≤ 11): the float32 bounds above are then within rtol 1e-6 / 4e-6
    x = data.draw(_arrays(dtype, 8.0 if approximate == "none" else 4.0))
    cotangent = data.draw(hnp.arrays(dtype, x.shape, elements=st.floats(-3, 3, width=32)))
    if x.ndim >= 2:
        x, cotangent = x.swapaxes(0, -1), cotangent.swapaxes(0, -1)  # strided views
    if dtype == np.float64:
        tolerance = dict(rtol=1e-13, atol=1e-14)
    else:
        tolerance = dict(rtol=1e-6 if approximate == "none" else 4e-6, atol=1e-37)
    y = cpu.gelu_forward(x, approximate)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, ref.gelu_forward(x, approximate), **tolerance)
    grad = cpu.gelu_backward(x, cotangent, approximate)
    assert grad.dtype == dtype and grad.shape == x.shape
    want = ref.gelu_backward(x, cotangent, approximate)
    np.testing.assert_allclose(grad, want, rtol=tolerance["rtol"], atol=tolerance["rtol"] * 2 * np.abs(cotangent).max(initial=0))


@pytest.mark.parametrize("approximate", APPROXIMATIONS)
def test_cpu_gelu_serial_and_parallel_variants_agree_bit_for_bit(approximate):
    x = np.random.default_rng(2).standard_normal(3 * cpu.BLOCK + 5).astype(np.float32) * 4  # 3 blocks and a tail
    cotangent = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)
    serial_out, parallel_out = np.empty_like(x), np.empty_like(x)
    serial, parallel = cpu._GELU_FORWARD[approximate]
    serial(x, serial_out)
    parallel(x, parallel_out)
    np.testing.assert_array_equal(serial_out, parallel_out)
    np.testing.assert_array_equal(cpu.gelu_forward(x, approximate), serial_out)
    serial, parallel = cpu._GELU_BACKWARD[approximate]
    serial(x, cotangent, serial_out)
    parallel(x, cotangent, parallel_out)
    np.testing.assert_array_equal(serial_out, parallel_out)
    if approximate == "none":
        cpu._erf_serial(x, serial_out)
        cpu._erf_parallel(x, parallel_out)
        np.testing.assert_array_equal(serial_out, parallel_out)


def test_float32_polynomials_fit_erfc_and_erf_as_the_docstring_states():
    """The coefficients themselves, evaluated in float64: erfcx(a) = t·S(t) within 1e-8 relative on [0, 10.5],
    erf(z) = z·P(z²) within 1e-8 on (0, 1)."""
    a = np.linspace(0.0, 10.5, 20001)
    t = 1.0 / (1.0 + float(cpu.ERFCX_P) * a)
    s = np.polynomial.polynomial.polyval(t, np.array(cpu.ERFCX_COEFFICIENTS, np.float64))
    erfcx = np.array([math.erfc(v) * math.exp(v * v) for v in a])
    assert np.max(np.abs(t * s / erfcx - 1.0)) <= 3e-8
    z = np.linspace(1e-6, 1.0, 20001)
    coefficients = np.array(cpu.ERF_SERIES_COEFFICIENTS, np.float64)
    coefficients[0] += float(cpu.ERF_SERIES_P0_LOW)
    series = z * np.polynomial.polynomial.polyval(z * z, coefficients)
    assert np.max(np.abs(series / _erf(z) - 1.0)) <= 2e-8


# ----- errors -----------------------------------------------------------------------------------------------------
KERNEL_SETS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu"),
               pytest.param(cuda_kernels, id="cuda", marks=pytest.mark.skipif(
                   not cuda_kernels.is_available(), reason="no CUDA GPU and no simulator"))]


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_gelu_kernels_reject_bad_inputs_naming_the_kernel_and_argument(kernels):
    with pytest.raises(TypeError, match="gelu_forward: x must be a float32 or float64 array, got int64"):
        kernels.gelu_forward(np.arange(3))
    with pytest.raises(ValueError, match="gelu_forward: approximate must be 'none' or 'tanh', got 'fast'"):
        kernels.gelu_forward(np.zeros(3), approximate="fast")
    with pytest.raises(TypeError, match="gelu_backward: x is float32 but grad_y is float64"):
        kernels.gelu_backward(np.zeros(3, np.float32), np.zeros(3))
    with pytest.raises(ValueError, match=r"gelu_backward: x has shape \(3,\) but grad_y has shape \(2, 3\)"):
        kernels.gelu_backward(np.zeros(3), np.zeros((2, 3)))


# ----- CUDA -------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not cuda_kernels.is_available(),
                    reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the simulator's inf·0 in NumPy
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("approximate", APPROXIMATIONS)
def test_cuda_gelu_matches_the_reference_on_strided_input_and_specials(dtype, approximate):
    x = np.concatenate([SPECIALS[:5], [-5.0, -2.5, -0.7, 0.3, 1.5, 4.0, 6.0]]).astype(dtype).reshape(3, 4).T
    cotangent = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    # float32 in the simulator rounds x/√2 to float32 (the GPU keeps it in float64): rtol 1e-5 covers x = -5
    tolerance = dict(rtol=1e-12, atol=0) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-37)
    y = cuda_kernels.to_host(cuda_kernels.gelu_forward(x, approximate))
    grad = cuda_kernels.to_host(cuda_kernels.gelu_backward(x, cotangent, approximate))
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, ref.gelu_forward(x, approximate), equal_nan=True, **tolerance)
    np.testing.assert_allclose(grad, ref.gelu_backward(x, cotangent, approximate), equal_nan=True, **tolerance)
    empty = np.zeros((0, 2), dtype)
    assert cuda_kernels.to_host(cuda_kernels.gelu_forward(empty, approximate)).shape == (0, 2)
    assert cuda_kernels.to_host(cuda_kernels.gelu_backward(empty, empty, approximate)).shape == (0, 2)
