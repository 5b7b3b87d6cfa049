"""CUDA softmax / log-softmax / cross-entropy / attention against the NumPy reference (GPU or NUMBA_ENABLE_CUDASIM=1).

Tolerances: float64 rtol/atol 1e-12; float32 1e-5 on probabilities and 1e-4 on log-probabilities, losses and
gradients, against the float64 reference. Rows of 13 columns exercise the strided per-thread loop (the simulator
launches at most 8 threads per row). Stability is tested at logits of ±1e4.
"""
import numpy as np
import pytest

import kernels.cuda as cuda_kernels
from kernels.reference import attention as ref_attention
from kernels.reference import softmax as ref

pytestmark = pytest.mark.skipif(not cuda_kernels.is_available(),
                                reason="no CUDA GPU and no simulator (set NUMBA_ENABLE_CUDASIM=1 before numba loads)")

FLOATS = [np.float32, np.float64]


def _tol(dtype, loose=False):
    if dtype == np.float64:
        return dict(rtol=1e-12, atol=1e-12)
    return dict(rtol=1e-4, atol=1e-4 if loose else 1e-5)


def _host(value):
    return cuda_kernels.to_host(value)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1,), (2, 3, 1), (3, 13)])
def test_softmax_family_matches_reference_on_noncontiguous_rows(shape, dtype):
    rng = np.random.default_rng(len(shape) + shape[-1])
    x = (rng.standard_normal(shape[::-1]) * 5).T.astype(dtype)  # transposed: not contiguous when 2-D+
    g = rng.standard_normal(shape)
    x64 = x.astype(np.float64)
    y, log_y = ref.softmax_forward(x64), ref.log_softmax_forward(x64)
    np.testing.assert_allclose(_host(cuda_kernels.softmax_forward(x)), y, **_tol(dtype))
    np.testing.assert_allclose(_host(cuda_kernels.log_softmax_forward(x)), log_y, **_tol(dtype, loose=True))
    np.testing.assert_allclose(_host(cuda_kernels.softmax_backward(y.astype(dtype), g.astype(dtype))),
                               ref.softmax_backward(y, g), **_tol(dtype, loose=True))
    np.testing.assert_allclose(_host(cuda_kernels.log_softmax_backward(log_y.astype(dtype), g.astype(dtype))),
                               ref.log_softmax_backward(log_y, g), **_tol(dtype, loose=True))


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_is_stable_at_logits_of_1e4(dtype):
    x = np.array([[1e4, -1e4, 0.0, 1e4 - 1.0], [-1e4, -1e4, -1e4, -np.inf]], dtype=dtype)
    want = ref.softmax_forward(x.astype(np.float64))
    np.testing.assert_allclose(_host(cuda_kernels.softmax_forward(x)), want, **_tol(dtype))
    np.testing.assert_allclose(_host(cuda_kernels.log_softmax_forward(x)),
                               ref.log_softmax_forward(x.astype(np.float64)), **_tol(dtype, loose=True))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_matches_reference_with_ignored_rows(smoothing, dtype):
    rng = np.random.default_rng(5)
    logits = (rng.standard_normal((13, 5)) * 3).T.astype(dtype)  # (5, 13), not contiguous
    target = np.array([0, 12, -100, 7, 3])
    grad_loss = rng.standard_normal(5)
    loss_ref, lp_ref = ref.cross_entropy_forward(logits.astype(np.float64), target, -100, smoothing)
    loss, log_probs = cuda_kernels.cross_entropy_forward(logits, target, -100, smoothing)
    np.testing.assert_allclose(_host(loss), loss_ref, **_tol(dtype, loose=True))
    np.testing.assert_allclose(_host(log_probs), lp_ref, **_tol(dtype, loose=True))
    grad = cuda_kernels.cross_entropy_backward(lp_ref.astype(dtype), cuda_kernels.to_device(target),
                                               grad_loss.astype(dtype), -100, smoothing)
    np.testing.assert_allclose(_host(grad), ref.cross_entropy_backward(lp_ref, target, grad_loss, -100, smoothing),
                               **_tol(dtype, loose=True))
    with pytest.raises(ValueError, match="out of range"):
        cuda_kernels.cross_entropy_forward(logits, np.array([0, 13, 0, 0, 0]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("causal, masked", [(False, False), (True, False), (False, True)])
def test_attention_matches_reference_and_zeroes_fully_masked_rows(causal, masked, dtype):
    rng = np.random.default_rng(11)
    batch, t_q, t_k, d, d_v = 2, 3, 5, 4, 3
    q = rng.standard_normal((batch, d, t_q)).astype(dtype).transpose(0, 2, 1)  # non-contiguous (B, Tq, D)
    k = rng.standard_normal((batch, t_k, d)).astype(dtype)
    v = rng.standard_normal((batch, t_k, d_v)).astype(dtype)
    mask = None
    if masked:
        mask = np.where(rng.random((batch, t_q, t_k)) < 0.3, -np.inf, 0.0).astype(dtype)
        mask[0, 1, :] = -np.inf  # a fully masked query row
    as64 = [a.astype(np.float64) for a in (q, k, v)]
    out_ref, probs_ref = ref_attention.attention_forward(*as64, None if mask is None else mask.astype(np.float64),
                                                         causal)
    out, probs = cuda_kernels.attention_forward(q, k, v, mask, causal)
    np.testing.assert_allclose(_host(out), out_ref, **_tol(dtype, loose=True))
    np.testing.assert_allclose(_host(probs), probs_ref, **_tol(dtype))
    if masked:
        assert not _host(out)[0, 1].any() and not _host(probs)[0, 1].any()
    grad_out = rng.standard_normal(out_ref.shape)
    want = ref_attention.attention_backward(*as64, probs_ref, grad_out)
    got = cuda_kernels.attention_backward(q, k, v, probs, grad_out.astype(dtype))
    for name, value, expected in zip(("grad_q", "grad_k", "grad_v"), got, want):
        np.testing.assert_allclose(_host(value), expected, **_tol(dtype, loose=True), err_msg=name)


SPECIAL_ROWS = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0],
                         [-np.inf, -np.inf, 2.0], [1e4, -1e4, 0.0]])
SPECIAL_TARGETS = np.array([1, 1, 1, 1, 2, 0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_family_matches_reference_on_masked_infinite_and_nan_rows(dtype):
    """The reference is checked against torch on these rows (tests/test_numerical_edge_cases.py)."""
    x = SPECIAL_ROWS.astype(dtype)
    for name in ("softmax_forward", "log_softmax_forward"):
        np.testing.assert_allclose(_host(getattr(cuda_kernels, name)(x)), getattr(ref, name)(x), equal_nan=True,
                                   **_tol(dtype, loose=True), err_msg=name)
    g = np.random.default_rng(13).standard_normal(x.shape).astype(dtype)
    y, log_y = ref.softmax_forward(x), ref.log_softmax_forward(x)
    np.testing.assert_allclose(_host(cuda_kernels.softmax_backward(y, g)), ref.softmax_backward(y, g), equal_nan=True,
                               **_tol(dtype, loose=True))
    np.testing.assert_allclose(_host(cuda_kernels.log_softmax_backward(log_y, g)), ref.log_softmax_backward(log_y, g),
                               equal_nan=True, **_tol(dtype, loose=True))
    for smoothing in (0.0, 0.1):
        loss, log_probs = cuda_kernels.cross_entropy_forward(x, SPECIAL_TARGETS, -100, smoothing)
        loss_ref, log_probs_ref = ref.cross_entropy_forward(x, SPECIAL_TARGETS, -100, smoothing)
        np.testing.assert_allclose(_host(loss), loss_ref, equal_nan=True, **_tol(dtype, loose=True))
        np.testing.assert_allclose(_host(log_probs), log_probs_ref, equal_nan=True, **_tol(dtype, loose=True))
        grad_loss = g[:, 0].copy()
        np.testing.assert_allclose(
            _host(cuda_kernels.cross_entropy_backward(log_probs_ref, SPECIAL_TARGETS, grad_loss, -100, smoothing)),
            ref.cross_entropy_backward(log_probs_ref, SPECIAL_TARGETS, grad_loss, -100, smoothing), equal_nan=True,
            **_tol(dtype, loose=True))
    assert _host(cuda_kernels.cross_entropy_forward(x[:1], np.array([1]), -100, 0.0)[0])[0] == pytest.approx(1.3132617)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("poison", ["nan_q", "nan_k", "nan_v", "inf_q", "overflow"])
def test_attention_matches_reference_on_nan_inf_and_overflow(poison, dtype):
    """NaN in q poisons its row, in k every row, in v a column; +inf / overflowing scores give NaN rows and
    scores that overflow to -inf everywhere give a zero row, as in torch (the reference is checked against it)."""
    rng = np.random.default_rng(12)
    q, k, v = rng.standard_normal((1, 2, 3)), rng.standard_normal((1, 3, 3)), rng.standard_normal((1, 3, 2))
    if poison == "overflow":
        q[0, 0, 0], q[0, 1, 0] = 1e200, -1e200
        k[0, :, 0] = [1e200, 1e200, 1e200]  # row 0: +inf scores (NaN row), row 1: all -inf (zero row)
    else:
        which, index, value = {"nan_q": (q, (0, 1, 2), np.nan), "nan_k": (k, (0, 2, 0), np.nan),
                               "nan_v": (v, (0, 1, 1), np.nan), "inf_q": (q, (0, 0, 0), np.inf)}[poison]
        which[index] = value
    q, k, v = (a.astype(dtype) for a in (q, k, v))
    out_ref, probs_ref = ref_attention.attention_forward(q, k, v, None, False)
    out, probs = cuda_kernels.attention_forward(q, k, v, None, False)
    np.testing.assert_allclose(_host(out), out_ref, equal_nan=True, **_tol(dtype, loose=True))
    np.testing.assert_allclose(_host(probs), probs_ref, equal_nan=True, **_tol(dtype, loose=True))
    grad_out = rng.standard_normal(out_ref.shape).astype(dtype)
    want = ref_attention.attention_backward(q, k, v, probs_ref, grad_out)
    got = cuda_kernels.attention_backward(q, k, v, probs_ref, grad_out)
    for name, value, expected in zip(("grad_q", "grad_k", "grad_v"), got, want):
        np.testing.assert_allclose(_host(value), expected, equal_nan=True, **_tol(dtype, loose=True), err_msg=name)
