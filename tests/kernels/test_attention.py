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


# ----- the log-sum-exp pair: attention_forward_lse / attention_backward_lse -----------------------------------------
# The cpu kernels work on tiles of 4 query rows, 32 keys, blocks of 128 keys and head-dim chunks of 16: the shapes
# sit on both sides of each edge, with T = 1, primes and Tq != Tk. The backward is checked against the established
# oracle (the reference's backward from the probabilities), the forward against the reference's out and lse.
LSE_SHAPES = [(1, 1, 1, 1, 1), (2, 3, 5, 7, 2), (1, 4, 32, 16, 16), (2, 5, 33, 15, 17), (1, 31, 127, 16, 16),
              (1, 129, 131, 3, 33), (1, 37, 257, 17, 1), (3, 64, 64, 16, 16)]  # (B, Tq, Tk, D, Dv)
MASK_KINDS = ["none", "causal", "bool", "additive"]


def _lse_case(shape, mask_kind, seed=0):
    """float64 q, k, v, grad_out and the mask (None, or (B, Tq, Tk) additive with a fully masked query row)."""
    b, t_q, t_k, d, d_v = shape
    rng = np.random.default_rng(seed)
    q, k, v, grad_out = (rng.standard_normal(s) for s in ((b, t_q, d), (b, t_k, d), (b, t_k, d_v), (b, t_q, d_v)))
    mask = None
    if mask_kind == "bool":  # as a bool attn_mask arrives: 0 where allowed, -inf elsewhere
        mask = np.where(rng.random((b, t_q, t_k)) < 0.3, -np.inf, 0.0)
    elif mask_kind == "additive":
        mask = np.where(rng.random((b, t_q, t_k)) < 0.2, -np.inf, 2 * rng.standard_normal((b, t_q, t_k)))
    if mask is not None:
        mask[0, t_q // 2, :] = -np.inf
    return q, k, v, grad_out, mask


@pytest.fixture(params=["serial", "parallel"])
def cpu_path(request, monkeypatch):
    """Forces the cpu attention kernels onto one compiled variant (kernels/cpu/variants.py)."""
    monkeypatch.setattr(cpu, "SERIAL_MAX_WORK", 1 << 62 if request.param == "serial" else 0)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("shape", LSE_SHAPES, ids=str)
def test_attention_lse_cpu_matches_reference_on_tile_edges(shape, mask_kind, dtype, monkeypatch):
    monkeypatch.setattr(cpu, "SERIAL_MAX_WORK", 1 << 62)  # the parallel variant: the next test
    q, k, v, grad_out, mask = _lse_case(shape, mask_kind)
    causal = mask_kind == "causal"
    out_ref, probs_ref = ref.attention_forward(q, k, v, mask, causal, 0.3)
    _, lse_ref = ref.attention_forward_lse(q, k, v, mask, causal, 0.3)
    grads_ref = ref.attention_backward(q, k, v, probs_ref, grad_out, 0.3)
    q, k, v, grad_out = (a.astype(dtype) for a in (q, k, v, grad_out))
    mask = None if mask is None else mask.astype(dtype)
    out, lse = cpu.attention_forward_lse(q, k, v, mask, causal, 0.3)
    assert out.dtype == lse.dtype == dtype and lse.shape == shape[:2]
    np.testing.assert_allclose(out, out_ref, **_tol(dtype))
    np.testing.assert_allclose(lse, lse_ref, **_tol(dtype))  # -inf on the fully masked row, on both
    grads = cpu.attention_backward_lse(q, k, v, mask, causal, out, lse, grad_out, 0.3)
    for name, got, want in zip(("grad_q", "grad_k", "grad_v"), grads, grads_ref):
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, err_msg=name, **_tol(dtype))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [(3, 5, 7, 3, 2), (2, 70, 129, 16, 16), (2, 131, 64, 17, 5)], ids=str)
def test_attention_lse_cpu_serial_and_parallel_paths_match_reference(shape, causal, cpu_path):
    q, k, v, grad_out, mask = _lse_case(shape, "none", seed=1)
    out_ref, probs_ref = ref.attention_forward(q, k, v, None, causal, None)
    grads_ref = ref.attention_backward(q, k, v, probs_ref, grad_out, None)
    q, k, v, grad_out = (a.astype(np.float32) for a in (q, k, v, grad_out))  # float32: one compile per variant
    out, lse = cpu.attention_forward_lse(q, k, v, None, causal, None)
    np.testing.assert_allclose(out, out_ref, **_tol(np.float32))
    for got, want in zip(cpu.attention_backward_lse(q, k, v, None, causal, out, lse, grad_out, None), grads_ref):
        np.testing.assert_allclose(got, want, **_tol(np.float32))


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_reference_lse_pair_matches_the_probability_pair(module):
    """The reference's lse pair is the probability pair written another way: same out, same gradients."""
    q, k, v, grad_out, mask = _lse_case((2, 6, 9, 4, 3), "additive", seed=2)
    out_p, probs = ref.attention_forward(q, k, v, mask, False, 0.7)
    out, lse = module.attention_forward_lse(q, k, v, mask, False, 0.7)
    np.testing.assert_allclose(out, out_p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.exp(ref._scores(q, k, mask, False, 0.7) - ref._lse_shift(lse)), probs,
                               rtol=1e-12, atol=1e-14)
    for got, want in zip(module.attention_backward_lse(q, k, v, mask, False, out, lse, grad_out, 0.7),
                         ref.attention_backward(q, k, v, probs, grad_out, 0.7)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_attention_lse_fully_masked_query_row_gives_zero_output_zero_gradients_and_minus_inf_lse(module):
    q, k, v, grad_out, mask = _lse_case((1, 3, 4, 2, 2), "none", seed=3)
    mask = np.zeros((1, 3, 4))
    mask[0, 1, :] = -np.inf
    out, lse = module.attention_forward_lse(q, k, v, mask, False, 1.0)
    np.testing.assert_array_equal(out[0, 1], 0.0)
    assert lse[0, 1] == -np.inf and np.all(np.isfinite(lse[0, [0, 2]]))
    grad_q, grad_k, grad_v = module.attention_backward_lse(q, k, v, mask, False, out, lse, grad_out, 1.0)
    np.testing.assert_array_equal(grad_q[0, 1], 0.0)
    _, probs = ref.attention_forward(q, k, v, mask, False, 1.0)
    np.testing.assert_allclose(grad_v, ref.attention_backward(q, k, v, probs, grad_out, 1.0)[2], rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", _special_attention_cases(), ids=lambda case: case[0])
def test_attention_lse_cpu_matches_reference_on_nan_inf_and_overflow(case, dtype, causal):
    _, q, k, v, mask = case
    q, k, v = (a.astype(dtype) for a in (q, k, v))
    mask = None if mask is None else mask.astype(dtype)
    out_ref, lse_ref = ref.attention_forward_lse(q, k, v, mask, causal, 0.5)
    out, lse = cpu.attention_forward_lse(q, k, v, mask, causal, 0.5)
    np.testing.assert_allclose(out, out_ref, equal_nan=True, **_tol(dtype))
    np.testing.assert_allclose(lse, lse_ref, equal_nan=True, **_tol(dtype))
    grad_out = np.random.default_rng(4).standard_normal(out.shape).astype(dtype)
    grads = cpu.attention_backward_lse(q, k, v, mask, causal, out_ref, lse_ref, grad_out, 0.5)
    for name, got, want in zip(("grad_q", "grad_k", "grad_v"), grads,
                               ref.attention_backward_lse(q, k, v, mask, causal, out_ref, lse_ref, grad_out, 0.5)):
        np.testing.assert_allclose(got, want, equal_nan=True, err_msg=name, **_tol(dtype))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("poison", ["nan_k", "inf_v", "overflowing_score", "nan_grad_out"])
def test_attention_lse_causal_keeps_torchs_nan_from_keys_every_row_masks(poison):
    """With is_causal torch adds -inf to the future scores, so a NaN score there (or a NaN·0 from v) still makes
    rows NaN. The cpu kernels skip the key tiles a causal mask hides only where no such value can appear: here the
    poison sits in the last key (or the last query's gradient), past the tiles the first rows would skip."""
    q, k, v, grad_out, _ = _lse_case((2, 70, 70, 16, 16), "none", seed=5)
    q, k, v, grad_out = (a.astype(np.float32) for a in (q, k, v, grad_out))
    if poison == "nan_k":
        k[1, -1, 3] = np.nan
    elif poison == "inf_v":
        v[1, -1, 2] = np.inf
    elif poison == "overflowing_score":  # finite float32 inputs whose product overflows to +inf
        q[1, 0, :] = 1e20
        k[1, -1, :] = 1e20
    else:
        grad_out[1, -1, 0] = np.nan
    out_ref, lse_ref = ref.attention_forward_lse(q, k, v, None, True, 0.25)
    out, lse = cpu.attention_forward_lse(q, k, v, None, True, 0.25)
    np.testing.assert_allclose(out, out_ref, equal_nan=True, **_tol(np.float32))
    np.testing.assert_allclose(lse, lse_ref, equal_nan=True, **_tol(np.float32))
    assert np.isnan(out[1, 0]).any() == (poison != "nan_grad_out") and not np.isnan(out[0]).any()
    grads = cpu.attention_backward_lse(q, k, v, None, True, out_ref, lse_ref, grad_out, 0.25)
    for got, want in zip(grads, ref.attention_backward_lse(q, k, v, None, True, out_ref, lse_ref, grad_out, 0.25)):
        np.testing.assert_allclose(got, want, equal_nan=True, **_tol(np.float32))
        assert not np.isnan(got[0]).any()  # the other head is untouched
    poisoned_query = -1 if poison == "nan_grad_out" else 0  # else the first query, whose later keys are all masked
    assert np.isnan(grads[0][1, poisoned_query]).any()


@pytest.mark.parametrize("shape", [(0, 2, 3, 3, 2), (1, 0, 4, 3, 2), (1, 2, 0, 3, 2), (1, 2, 3, 0, 2), (1, 2, 3, 3, 0)],
                         ids=["no_batch", "no_queries", "no_keys", "no_head_dim", "no_value_dim"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_lse_cpu_matches_reference_on_empty_inputs(shape, causal):
    q, k, v, grad_out, _ = _lse_case(shape, "none", seed=6)
    want = ref.attention_forward_lse(q, k, v, None, causal)
    got = cpu.attention_forward_lse(q, k, v, None, causal)
    for mine, expected in zip(got, want):
        assert mine.shape == expected.shape
        np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-12)
    want_grads = ref.attention_backward_lse(q, k, v, None, causal, *want, grad_out)
    for mine, expected in zip(cpu.attention_backward_lse(q, k, v, None, causal, *want, grad_out), want_grads):
        assert mine.shape == expected.shape
        np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_attention_lse_errors_name_the_kernel_and_the_argument(module):
    q = np.ones((2, 3, 4))
    out, lse = module.attention_forward_lse(q, q, q)
    with pytest.raises(ValueError, match="attention_forward_lse: mask"):
        module.attention_forward_lse(q, q, q, np.zeros((2, 3, 2)))
    with pytest.raises(ValueError, match=r"attention_backward_lse: lse must be 2-D, got shape \(2, 3, 1\)"):
        module.attention_backward_lse(q, q, q, None, False, out, lse[..., None], q)
    with pytest.raises(ValueError, match="attention_backward_lse: out"):
        module.attention_backward_lse(q, q, q, None, False, out[:, :2], lse, q)
    with pytest.raises(TypeError, match="attention_backward_lse: grad_out is float32 but q is float64"):
        module.attention_backward_lse(q, q, q, None, False, out, lse, q.astype(np.float32))


# ----- through the op: F.scaled_dot_product_attention keeps lse where the kernel set has the pair ------------------
@pytest.fixture
def lse_kernels(backend, monkeypatch):
    """The current kernel set with the lse pair (added where the set does not export it yet), and its probability
    kernels made to fail: a test using this fixture proves the op took the lse path."""
    import tinygrad_edu.backend as tg_backend

    kernel_set = tg_backend.kernels()
    family = cpu if backend == "cpu" else ref
    for name in ("attention_forward_lse", "attention_backward_lse"):
        monkeypatch.setattr(kernel_set, name, getattr(family, name), raising=False)
    return kernel_set


def _refuse(*args):
    raise AssertionError("the probability kernels ran although the kernel set has the lse pair")


@pytest.mark.parametrize("case", ["causal", "bool_mask", "float_mask", "more_keys_than_queries"])
def test_attention_op_through_lse_kernels_passes_gradcheck_in_float64(lse_kernels, monkeypatch, case):
    import tinygrad_edu as tg
    import tinygrad_edu.nn.functional as F

    monkeypatch.setattr(lse_kernels, "attention_forward", _refuse)
    monkeypatch.setattr(lse_kernels, "attention_backward", _refuse)
    rng = np.random.default_rng(7)
    t_k = 7 if case == "more_keys_than_queries" else 5
    q, k, v = (tg.Tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 2, 5, 3), (2, 2, t_k, 3),
                                                                               (2, 2, t_k, 4)))
    mask = None
    if case == "bool_mask":
        allowed = rng.random((5, t_k)) < 0.7
        allowed[:, 0] = True
        allowed[3, :] = False  # a query with every key masked: zero output and gradient, as torch ≥ 2.5
        mask = tg.Tensor(allowed)
    elif case == "float_mask":
        mask = tg.Tensor(rng.standard_normal((2, 1, 5, t_k)))
    causal = case in ("causal", "more_keys_than_queries")
    assert tg.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask, is_causal=causal),
                        q, k, v)


def test_attention_op_gives_the_same_answers_with_and_without_the_lse_kernels(backend, monkeypatch):
    """The lse path where the kernel set has the pair; the probability path where it has not (the CUDA set)."""
    import tinygrad_edu as tg
    import tinygrad_edu.backend as tg_backend
    import tinygrad_edu.nn.functional as F

    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((3, 6, 16)).astype(np.float32) for _ in range(3)]
    cotangent = tg.Tensor(rng.standard_normal((3, 6, 16)).astype(np.float32))
    kernel_set = tg_backend.kernels()
    family = cpu if backend == "cpu" else ref
    results = []
    for has_pair in (True, False):
        for name in ("attention_forward_lse", "attention_backward_lse"):
            if has_pair:
                monkeypatch.setattr(kernel_set, name, getattr(family, name), raising=False)
            else:
                monkeypatch.delattr(kernel_set, name, raising=False)
        q, k, v = (tg.Tensor(a, requires_grad=True) for a in arrays)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(cotangent)
        results.append([out.numpy()] + [t.grad.numpy() for t in (q, k, v)])
    for with_lse, with_probs in zip(*results):
        np.testing.assert_allclose(with_lse, with_probs, rtol=1e-5, atol=1e-6)


def test_attention_op_with_dropout_keeps_probabilities_even_with_lse_kernels(lse_kernels):
    import tinygrad_edu as tg
    import tinygrad_edu.nn.functional as F

    rng = np.random.default_rng(9)
    q, k, v = (tg.Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True) for _ in range(3))

    def attention_with_seeded_dropout(a, b, c):
        tg.manual_seed(5)  # the same keep mask on every evaluation
        return F.scaled_dot_product_attention(a, b, c, dropout_p=0.3)

    assert tg.gradcheck(attention_with_seeded_dropout, q, k, v)
