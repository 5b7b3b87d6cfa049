"""Softmax, log-softmax and cross-entropy: cpu vs reference, reference vs finite differences, stability, errors.

Tolerances: float64 cpu vs float64 reference rtol 1e-12 (the cpu exp is a polynomial, ≈1e-15 relative);
float32 cpu vs the float64 reference atol 1e-5 on probabilities / 1e-4 on log-probabilities and losses.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from kernels.cpu import softmax as cpu
from kernels.reference import softmax as ref

from finite_differences import numerical_gradients

DIMS = st.sampled_from([1, 2, 3, 7, 13])


def _tol(dtype, loose=False):
    if dtype == np.float64:
        return dict(rtol=1e-12, atol=1e-12)
    return dict(rtol=1e-4, atol=1e-4 if loose else 1e-5)


def _finite_difference(f, x, c):
    """d/dx of sum(f(x)·c) by central differences, every element."""
    (grad,) = numerical_gradients(lambda a: (f(a) * c).sum(), [x])
    return grad


@given(rows=DIMS, cols=DIMS, lead=DIMS, dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_softmax_family_cpu_matches_reference_on_odd_noncontiguous_shapes(rows, cols, lead, dtype, seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((lead, cols * 2, rows)) * 5
    x = base.transpose(0, 2, 1)[:, :, ::2].astype(dtype)  # (lead, rows, cols), not contiguous
    g = rng.standard_normal(x.shape).astype(dtype)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    y = ref.softmax_forward(x64)
    log_y = ref.log_softmax_forward(x64)
    np.testing.assert_allclose(cpu.softmax_forward(x), y, **_tol(dtype))
    np.testing.assert_allclose(cpu.log_softmax_forward(x), log_y, **_tol(dtype, loose=True))
    np.testing.assert_allclose(cpu.softmax_backward(y.astype(dtype), g), ref.softmax_backward(y, g64),
                               **_tol(dtype, loose=True))
    np.testing.assert_allclose(cpu.log_softmax_backward(log_y.astype(dtype), g),
                               ref.log_softmax_backward(log_y, g64), **_tol(dtype, loose=True))
    assert cpu.softmax_forward(x).dtype == dtype


@given(n=DIMS, c=DIMS, smoothing=st.sampled_from([0.0, 0.1]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 99))
def test_cross_entropy_cpu_matches_reference_with_ignored_rows(n, c, smoothing, dtype, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((c, n)) * 3).T.astype(dtype)  # (n, c) transposed view
    target = rng.integers(0, c, n)
    target[rng.random(n) < 0.3] = -100
    grad_loss = rng.standard_normal(n).astype(dtype)
    loss_ref, lp_ref = ref.cross_entropy_forward(logits.astype(np.float64), target, -100, smoothing)
    loss, lp = cpu.cross_entropy_forward(logits, target, -100, smoothing)
    np.testing.assert_allclose(loss, loss_ref, **_tol(dtype, loose=True))
    np.testing.assert_allclose(lp, lp_ref, **_tol(dtype, loose=True))
    assert np.all(loss[target == -100] == 0)
    grad = cpu.cross_entropy_backward(lp, target, grad_loss, -100, smoothing)
    grad_ref = ref.cross_entropy_backward(lp_ref, target, grad_loss.astype(np.float64), -100, smoothing)
    np.testing.assert_allclose(grad, grad_ref, **_tol(dtype, loose=True))
    assert np.all(grad[target == -100] == 0)


def test_reference_softmax_gradients_match_finite_differences_with_random_cotangent():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5))
    c = rng.standard_normal((3, 5))
    for forward, backward in ((ref.softmax_forward, ref.softmax_backward),
                              (ref.log_softmax_forward, ref.log_softmax_backward)):
        analytic = backward(forward(x), c)
        np.testing.assert_allclose(analytic, _finite_difference(forward, x, c), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_reference_cross_entropy_gradient_matches_finite_differences(smoothing):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 5))
    target = np.array([0, 4, -100, 2])
    c = rng.standard_normal(4)
    _, log_probs = ref.cross_entropy_forward(logits, target, -100, smoothing)
    analytic = ref.cross_entropy_backward(log_probs, target, c, -100, smoothing)
    numeric = _finite_difference(lambda z: ref.cross_entropy_forward(z, target, -100, smoothing)[0], logits, c)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_cross_entropy_reference_matches_hand_computed_loss():
    logits = np.array([[0.0, np.log(3.0)]])
    loss, _ = ref.cross_entropy_forward(logits, np.array([1]), -100, 0.0)
    np.testing.assert_allclose(loss, [-np.log(0.75)])
    loss, _ = ref.cross_entropy_forward(logits, np.array([1]), -100, 0.5)  # 0.5·(-log .75) + 0.25·(-log .25 - log .75)
    np.testing.assert_allclose(loss, [0.5 * -np.log(0.75) + 0.25 * (-np.log(0.25) - np.log(0.75))])


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_softmax_family_is_exact_at_logits_of_plus_minus_1e4_in_float32(module):
    x64 = np.array([[1e4, -1e4, 1e4 - 1.0, 0.0], [-1e4, -1e4 + 2.0, -1e4, -1e4]])
    x32 = x64.astype(np.float32)
    np.testing.assert_allclose(module.softmax_forward(x32), ref.softmax_forward(x64), atol=1e-6)
    np.testing.assert_allclose(module.log_softmax_forward(x32), ref.log_softmax_forward(x64), rtol=1e-6, atol=1e-4)
    loss32, _ = module.cross_entropy_forward(x32, np.array([1, 1]), -100, 0.1)
    loss64, _ = ref.cross_entropy_forward(x64, np.array([1, 1]), -100, 0.1)
    np.testing.assert_allclose(loss32, loss64, rtol=1e-6)
    assert np.all(np.isfinite(loss32))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_softmax_gives_zero_for_minus_inf_and_nan_for_an_all_minus_inf_row(module):
    x = np.array([[0.0, -np.inf, 0.0], [-np.inf, -np.inf, -np.inf]], dtype=np.float32)
    y = module.softmax_forward(x)
    np.testing.assert_array_equal(y[0], [0.5, 0.0, 0.5])
    assert np.all(np.isnan(y[1]))
    np.testing.assert_array_equal(module.log_softmax_forward(x)[0], [-np.log(2.0).astype(np.float32), -np.inf,
                                                                      -np.log(2.0).astype(np.float32)])


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_softmax_family_errors_name_the_kernel(module):
    with pytest.raises(TypeError, match="softmax_forward"):
        module.softmax_forward(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="softmax_backward"):
        module.softmax_backward(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(TypeError, match="log_softmax_backward"):
        module.log_softmax_backward(np.ones((2, 3)), np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"cross_entropy_forward.*target value 5.*C=3"):
        module.cross_entropy_forward(np.ones((2, 3)), np.array([0, 5]), -100, 0.0)
    with pytest.raises(ValueError, match="cross_entropy_backward.*-1"):
        module.cross_entropy_backward(np.ones((2, 3)), np.array([-1, 0]), np.ones(2), -100, 0.0)
    with pytest.raises(TypeError, match="cross_entropy_forward"):
        module.cross_entropy_forward(np.ones((2, 3)), np.array([0.0, 1.0]), -100, 0.0)


# Rows where a formula can go wrong: a masked class (-inf), every class masked, +inf, NaN, and ±1e4.
SPECIAL_ROWS = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [np.inf, np.inf, 0.0],
                         [np.nan, 0.0, 1.0], [-np.inf, -np.inf, 2.0], [1e4, -1e4, 0.0], [np.inf, -np.inf, 0.0]])
SPECIAL_TARGETS = np.array([1, 1, 1, 1, 1, 2, 0, 0])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_cpu_matches_reference_on_masked_infinite_and_nan_rows(dtype):
    """The reference is checked against torch on these rows (tests/test_numerical_edge_cases.py); the cpu kernels
    must put NaN and ±inf in the same places and agree elsewhere."""
    x = SPECIAL_ROWS.astype(dtype)
    g = np.random.default_rng(0).standard_normal(x.shape).astype(dtype)
    for name in ("softmax_forward", "log_softmax_forward"):
        np.testing.assert_allclose(getattr(cpu, name)(x), getattr(ref, name)(x), equal_nan=True, **_tol(dtype),
                                   err_msg=name)
    y, log_y = ref.softmax_forward(x), ref.log_softmax_forward(x)
    np.testing.assert_allclose(cpu.softmax_backward(y, g), ref.softmax_backward(y, g), equal_nan=True, **_tol(dtype))
    np.testing.assert_allclose(cpu.log_softmax_backward(log_y, g), ref.log_softmax_backward(log_y, g), equal_nan=True,
                               **_tol(dtype))
    for smoothing in (0.0, 0.1):
        loss, log_probs = cpu.cross_entropy_forward(x, SPECIAL_TARGETS, -100, smoothing)
        loss_ref, log_probs_ref = ref.cross_entropy_forward(x, SPECIAL_TARGETS, -100, smoothing)
        np.testing.assert_allclose(loss, loss_ref, equal_nan=True, **_tol(dtype, loose=True))
        np.testing.assert_allclose(log_probs, log_probs_ref, equal_nan=True, **_tol(dtype, loose=True))
        grad_loss = g[:, 0].copy()
        args = (log_probs_ref, SPECIAL_TARGETS, grad_loss, -100, smoothing)
        np.testing.assert_allclose(cpu.cross_entropy_backward(*args), ref.cross_entropy_backward(*args), equal_nan=True,
                                   **_tol(dtype, loose=True))


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_cross_entropy_with_a_masked_class_is_finite_without_smoothing_and_inf_on_a_masked_target(module):
    logits = np.array([[-np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0]], dtype=np.float32)
    loss, _ = module.cross_entropy_forward(logits, np.array([1, 0]), -100, 0.0)
    np.testing.assert_allclose(loss, [1.3132617, np.inf], rtol=1e-6)  # 0·(-inf) must not turn row 0 into NaN
