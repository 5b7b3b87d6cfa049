"""Fused attention: cpu vs reference (mask, causal, broadcast mask, odd shapes), finite differences, errors.

Tolerances: float64 cpu vs float64 reference rtol 1e-11; float32 cpu vs the float64 reference atol 2e-5.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from kernels.cpu import attention as cpu
from kernels.reference import attention as ref

from finite_differences import numerical_gradients

DIMS = st.sampled_from([1, 2, 3, 5, 7])


def _tol(dtype):
    return dict(rtol=1e-11, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)


@given(b=DIMS, tq=DIMS, tk=DIMS, d=DIMS, dv=DIMS, causal=st.booleans(), masked=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_attention_cpu_matches_reference_on_odd_shapes(b, tq, tk, d, dv, causal, masked, dtype, seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, d, tq)).astype(dtype).transpose(0, 2, 1)  # non-contiguous (b, tq, d)
    k = rng.standard_normal((b, tk, d)).astype(dtype)
    v = rng.standard_normal((b, tk, dv * 2)).astype(dtype)[:, :, ::2]
    mask = None
    if masked:  # a padding mask broadcast over queries: a zero-stride view
        keys = np.where(rng.random((b, 1, tk)) < 0.3, -np.inf, 0.0).astype(dtype)
        mask = np.broadcast_to(keys, (b, tq, tk))
    scale = 1.0 / np.sqrt(d)
    as64 = [a.astype(np.float64) for a in (q, k, v)]
    mask64 = None if mask is None else mask.astype(np.float64)
    out_ref, probs_ref = ref.attention_forward(*as64, mask64, causal, scale)
    out, probs = cpu.attention_forward(q, k, v, mask, causal, scale)
    np.testing.assert_allclose(out, out_ref, **_tol(dtype))
    np.testing.assert_allclose(probs, probs_ref, **_tol(dtype))
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    grads = cpu.attention_backward(q, k, v, probs, grad_out, scale)
    grads_ref = ref.attention_backward(*as64, probs_ref, grad_out.astype(np.float64), scale)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, **_tol(dtype))
        assert got.dtype == dtype


def test_reference_attention_gradients_match_finite_differences_with_random_cotangent():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    mask = np.where(rng.random((2, 3, 5)) < 0.2, -1e9, 0.0)
    c = rng.standard_normal((2, 3, 3))
    _, probs = ref.attention_forward(q, k, v, mask, True, 0.5)
    analytic = ref.attention_backward(q, k, v, probs, c, 0.5)
    numeric = numerical_gradients(lambda *qkv: (ref.attention_forward(*qkv, mask, True, 0.5)[0] * c).sum(), [q, k, v])
    for which in range(3):
        np.testing.assert_allclose(analytic[which], numeric[which], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_attention_fully_masked_query_row_gives_zero_output_and_gradients(module):
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((1, 2, 3)) for _ in range(3))
    mask = np.zeros((1, 2, 2))
    mask[0, 1, :] = -np.inf
    out, probs = module.attention_forward(q, k, v, mask, False, 1.0)
    np.testing.assert_array_equal(out[0, 1], 0.0)
    np.testing.assert_array_equal(probs[0, 1], 0.0)
    grad_q, _, _ = module.attention_backward(q, k, v, probs, np.ones_like(out), 1.0)
    np.testing.assert_array_equal(grad_q[0, 1], 0.0)


def test_attention_causal_with_more_keys_than_queries_is_top_left_aligned():
    q, k, v = np.ones((1, 2, 1)), np.ones((1, 3, 1)), np.arange(3.0).reshape(1, 3, 1)
    for module in (ref, cpu):
        out, probs = module.attention_forward(q, k, v, None, True, 1.0)
        np.testing.assert_allclose(probs[0], [[1, 0, 0], [0.5, 0.5, 0]])
        np.testing.assert_allclose(out[0, :, 0], [0.0, 0.5])


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_attention_errors_name_the_kernel(module):
    q = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match="attention_forward.*k"):
        module.attention_forward(q, np.ones((2, 3, 5)), np.ones((2, 3, 4)), None, False, 1.0)
    with pytest.raises(TypeError, match="attention_forward.*float32"):
        module.attention_forward(q, q.astype(np.float32), q, None, False, 1.0)
    with pytest.raises(ValueError, match="attention_forward.*mask"):
        module.attention_forward(q, q, q, np.zeros((2, 3, 2)), False, 1.0)
    with pytest.raises(ValueError, match="attention_backward.*probs"):
        module.attention_backward(q, q, q, np.ones((2, 3, 2)), q, 1.0)


def _special_attention_cases():
    """(name, q, k, v, mask): a NaN in each of q, k, v, a NaN mask entry, +inf and -inf scores, overflow."""
    rng = np.random.default_rng(3)
    base = [rng.standard_normal(shape) for shape in ((2, 3, 4), (2, 5, 4), (2, 5, 3))]
    cases = []
    for name, which, index, value in (("nan_q", 0, (0, 1, 2), np.nan), ("nan_k", 1, (1, 4, 0), np.nan),
                                      ("nan_v", 2, (0, 2, 1), np.nan), ("inf_q", 0, (1, 0, 0), np.inf),
                                      ("minus_inf_k", 1, (0, 3, 1), -np.inf)):
        arrays = [a.copy() for a in base]
        arrays[which][index] = value
        cases.append((name, *arrays, None))
    mask = np.zeros((2, 3, 5))
    mask[1, 2, 0] = np.nan
    mask[0, 0, :] = -np.inf  # and a fully masked row
    cases.append(("nan_and_masked_rows", *base, mask))
    huge = [base[0] * 1e200, base[1] * 1e200, base[2]]  # scores overflow to ±inf
    cases.append(("overflow", *huge, None))
    return cases


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", _special_attention_cases(), ids=lambda case: case[0])
def test_attention_cpu_matches_reference_on_nan_inf_and_overflow(case, dtype):
    """The reference is checked against torch on such inputs (tests/test_numerical_edge_cases.py); the cpu kernel
    must put NaN in the same places (a NaN in k poisons every row, one in q its own row) and agree elsewhere."""
    _, q, k, v, mask = case
    q, k, v = (a.astype(dtype) for a in (q, k, v))
    mask = None if mask is None else mask.astype(dtype)
    out_ref, probs_ref = ref.attention_forward(q, k, v, mask, False, 0.5)
    out, probs = cpu.attention_forward(q, k, v, mask, False, 0.5)
    np.testing.assert_allclose(out, out_ref, equal_nan=True, **_tol(dtype))
    np.testing.assert_allclose(probs, probs_ref, equal_nan=True, **_tol(dtype))
    grad_out = np.random.default_rng(4).standard_normal(out.shape).astype(dtype)
    grads = cpu.attention_backward(q, k, v, probs_ref, grad_out, 0.5)
    for name, got, want in zip(("grad_q", "grad_k", "grad_v"), grads,
                               ref.attention_backward(q, k, v, probs_ref, grad_out, 0.5)):
        np.testing.assert_allclose(got, want, equal_nan=True, err_msg=name, **_tol(dtype))
