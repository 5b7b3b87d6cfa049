"""packed_attention_forward / packed_attention_backward: attention read in place from MultiheadAttention's packed
in-projection (N, L, 3E), heads merged on the way out.

The reference is the split into heads, the log-sum-exp pair and the merge; the cpu kernels (one pass per head,
kernels/cpu/attention_packed.py for L ≤ SHORT_MAX, the tiled kernels beyond) are checked against it and against
torch, on tile edges (L around 4 and 16, head sizes around 16), with masks, causal, NaN/inf, empty inputs, both
compiled variants, and through the op with float64 finite differences.
Tolerances as tests/kernels/test_attention.py: float64 1e-11, float32 against the float64 reference atol 2e-5.
"""
import numpy as np
import pytest
import torch

from kernels.cpu import attention as cpu
from kernels.cpu.attention_packed import SHORT_MAX
from kernels.reference import attention as ref


def _tol(dtype):
    return dict(rtol=1e-11, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)


def _case(batch, length, heads, head_dim, mask_kind, seed=0):
    """float64 packed (N, L, 3E), a cotangent (N, L, E) and the mask ((N·heads, L, L) additive, or None)."""
    rng = np.random.default_rng(seed)
    embed = heads * head_dim
    packed = rng.standard_normal((batch, length, 3 * embed))
    grad_out = rng.standard_normal((batch, length, embed))
    mask = None
    if mask_kind == "bool":  # as a bool attn_mask arrives: 0 where allowed, -inf elsewhere
        mask = np.where(rng.random((batch * heads, length, length)) < 0.3, -np.inf, 0.0)
    elif mask_kind == "additive":
        mask = np.where(rng.random((batch * heads, length, length)) < 0.2, -np.inf,
                        2 * rng.standard_normal((batch * heads, length, length)))
    if mask is not None:
        mask[0, length // 2, :] = -np.inf  # a query with every key masked
    return packed, grad_out, mask


def _check_against_reference(packed, heads, grad_out, mask, causal, scale, dtype, equal_nan=False):
    out_ref, lse_ref = ref.packed_attention_forward(packed, heads, mask, causal, scale)
    grad_ref = ref.packed_attention_backward(packed, heads, mask, causal, out_ref, lse_ref, grad_out, scale)
    cast = [None if a is None else a.astype(dtype) for a in (packed, grad_out, mask)]
    out, lse = cpu.packed_attention_forward(cast[0], heads, cast[2], causal, scale)
    assert out.dtype == lse.dtype == dtype and out.shape == out_ref.shape and lse.shape == lse_ref.shape
    np.testing.assert_allclose(out, out_ref, equal_nan=equal_nan, **_tol(dtype))
    np.testing.assert_allclose(lse, lse_ref, equal_nan=equal_nan, **_tol(dtype))  # -inf for a fully masked row
    grad = cpu.packed_attention_backward(cast[0], heads, cast[2], causal, out, lse, cast[1], scale)
    assert grad.dtype == dtype and grad.shape == packed.shape
    np.testing.assert_allclose(grad, grad_ref, equal_nan=equal_nan, **_tol(dtype))


SHAPES = [(1, 1, 1, 1), (2, 3, 2, 3), (1, 4, 1, 16), (2, 5, 3, 17), (3, 12, 4, 16), (1, 16, 2, 15), (1, 17, 2, 32),
          (2, 33, 1, 5), (1, SHORT_MAX, 2, 8), (1, SHORT_MAX + 3, 2, 8)]  # (N, L, heads, head_dim)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool", "additive"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_packed_attention_cpu_matches_reference_on_tile_edges(shape, mask_kind, dtype):
    packed, grad_out, mask = _case(*shape, mask_kind)
    _check_against_reference(packed, shape[2], grad_out, mask, mask_kind == "causal", 0.3, dtype)


@pytest.mark.parametrize("causal", [False, True])
def test_packed_attention_cpu_serial_and_parallel_variants_match_reference(causal, monkeypatch):
    packed, grad_out, _ = _case(3, 9, 4, 16, "none", seed=1)
    for serial_max_work in (1 << 62, 0):  # every call serial, then every call parallel
        monkeypatch.setattr(cpu, "SERIAL_MAX_WORK", serial_max_work)
        _check_against_reference(packed, 4, grad_out, None, causal, None, np.float32)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
@pytest.mark.parametrize("causal", [False, True])
def test_packed_attention_matches_torch_multihead_attention_heads(module, causal):
    """torch's scaled_dot_product_attention on the heads split from packed, merged back: out and d(packed)."""
    batch, length, heads, head_dim = 2, 7, 3, 4
    packed, grad_out, _ = _case(batch, length, heads, head_dim, "none", seed=2)
    theirs = torch.tensor(packed, requires_grad=True)
    q, k, v = (part.reshape(batch, length, heads, head_dim).transpose(1, 2) for part in theirs.chunk(3, dim=-1))
    merged = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2)
    merged = merged.reshape(batch, length, heads * head_dim)
    merged.backward(torch.tensor(grad_out))
    out, lse = module.packed_attention_forward(packed, heads, None, causal)
    np.testing.assert_allclose(out, merged.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad = module.packed_attention_backward(packed, heads, None, causal, out, lse, grad_out)
    np.testing.assert_allclose(grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_packed_attention_reference_gradient_matches_finite_differences_with_random_cotangent():
    from finite_differences import numerical_gradients

    packed, cotangent, mask = _case(1, 4, 2, 3, "additive", seed=3)
    mask[0, 1, :] = 0.0  # keep a fully masked query in the second head only
    out, lse = ref.packed_attention_forward(packed, 2, mask, False, 0.6)
    analytic = ref.packed_attention_backward(packed, 2, mask, False, out, lse, cotangent, 0.6)
    numeric, = numerical_gradients(
        lambda x: (ref.packed_attention_forward(x, 2, mask, False, 0.6)[0] * cotangent).sum(), [packed])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def _special_packed_cases():
    """(name, packed, mask): NaN or inf in each third of packed, a NaN mask entry, scores that overflow."""
    rng = np.random.default_rng(4)
    base = rng.standard_normal((2, 5, 3 * 2 * 4))  # N = 2, L = 5, heads = 2, head_dim = 4
    cases = []
    for name, index, value in (("nan_q", (0, 1, 2), np.nan), ("nan_k", (1, 4, 8), np.nan),
                               ("nan_v", (0, 2, 17), np.nan), ("inf_q", (1, 0, 5), np.inf),
                               ("minus_inf_k", (0, 3, 12), -np.inf), ("inf_v", (1, 4, 20), np.inf)):
        packed = base.copy()
        packed[index] = value
        cases.append((name, packed, None))
    mask = np.zeros((4, 5, 5))
    mask[1, 2, 0] = np.nan
    mask[0, 0, :] = -np.inf
    cases.append(("nan_and_masked_rows", base, mask))
    huge = base.copy()
    huge[..., :16] *= 1e200  # q and k: the scores overflow to ±inf in float64 (inf in float32 already)
    cases.append(("overflow", huge, None))
    return cases


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", _special_packed_cases(), ids=lambda case: case[0])
def test_packed_attention_cpu_puts_nan_where_the_reference_does(case, dtype, causal):
    """The reference is the lse pair, checked against torch on such inputs: a NaN key or an inf value poisons
    every row of its head (also the causal rows that mask it: torch adds -inf to the NaN score), and nothing
    of the other heads."""
    _, packed, mask = case
    grad_out = np.random.default_rng(5).standard_normal((2, 5, 8))
    if causal and mask is not None:
        return  # scaled_dot_product_attention takes a mask or is_causal, not both
    _check_against_reference(packed, 2, grad_out, mask, causal, 0.5, dtype, equal_nan=True)


@pytest.mark.parametrize("shape", [(0, 3, 2, 4), (2, 0, 2, 4), (2, 3, 2, 0)], ids=["no_batch", "no_positions",
                                                                                 "no_head_dim"])
@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_packed_attention_on_empty_inputs_gives_empty_results(module, shape):
    packed, grad_out, _ = _case(*shape, "none", seed=6)
    out, lse = module.packed_attention_forward(packed, shape[2], None, True)
    assert out.shape == grad_out.shape and lse.shape == (shape[0] * shape[2], shape[1])
    grad = module.packed_attention_backward(packed, shape[2], None, True, out, lse, grad_out)
    assert grad.shape == packed.shape
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_packed_attention_errors_name_the_kernel_and_the_argument(module):
    packed = np.ones((2, 3, 12))
    with pytest.raises(ValueError, match=r"packed_attention_forward: heads must be a positive int dividing E = 4"):
        module.packed_attention_forward(packed, 3)
    with pytest.raises(ValueError, match=r"packed_attention_forward: packed must be \(N, L, 3E\)"):
        module.packed_attention_forward(np.ones((2, 3, 10)), 1)
    with pytest.raises(TypeError, match="packed_attention_forward: packed must be float32 or float64"):
        module.packed_attention_forward(packed.astype(np.int64), 2)
    with pytest.raises(ValueError, match=r"packed_attention_forward: mask \(2, 3, 3\) must have shape \(4, 3, 3\)"):
        module.packed_attention_forward(packed, 2, np.zeros((2, 3, 3)))
    out, lse = module.packed_attention_forward(packed, 2)
    with pytest.raises(ValueError, match=r"packed_attention_backward: lse \(4, 2\) must have shape \(4, 3\)"):
        module.packed_attention_backward(packed, 2, None, False, out, lse[:, :2], out)
    with pytest.raises(TypeError, match="packed_attention_backward: grad_out is float32 but packed is float64"):
        module.packed_attention_backward(packed, 2, None, False, out, lse, out.astype(np.float32))


def test_packed_attention_gives_the_same_bits_serial_or_parallel_in_fresh_processes_whatever_loads_first():
    """Both variants call the same share functions, each compiled library carries a copy, and a process runs the
    copy it loads first; the copy inside a parallel variant loaded from Numba's cache rounded differently. The
    wrappers load the serial variant before the parallel one (`_call_serial_first`), so a process that runs only
    the parallel variant, one that runs only the serial one, and one that runs the parallel one first give the
    same bits (float32, forward and backward). Fresh processes, the project's cache (warm after the first)."""
    import os
    import subprocess
    import sys

    script = """
import sys, hashlib
import numpy as np
from kernels.cpu import attention as cpu
rng = np.random.default_rng(0)
packed = rng.standard_normal((8, 12, 3 * 64)).astype(np.float32)
grad_out = rng.standard_normal((8, 12, 64)).astype(np.float32)
digests = []
for variant in sys.argv[1]:
    cpu.SERIAL_MAX_WORK = 1 << 62 if variant == "s" else 0
    out, lse = cpu.packed_attention_forward(packed, 4, None, True)
    grad = cpu.packed_attention_backward(packed, 4, None, True, out, lse, grad_out)
    digests.append(hashlib.sha256(out.tobytes() + lse.tobytes() + grad.tobytes()).hexdigest())
print(" ".join(digests))
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runs = []
    for order in ("p", "s", "p", "ps"):
        result = subprocess.run([sys.executable, "-c", script, order], cwd=root, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stderr
        runs.extend(result.stdout.split())
    assert len(runs) == 5 and len(set(runs)) == 1, runs
