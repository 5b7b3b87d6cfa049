import numpy as np
import torch
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
from op_checks import assert_forward_matches, assert_gradients_match
from tinygrad_edu.testing import arrays, shapes


@st.composite
def array_and_axis(draw, distinct=False):
    x = draw(arrays(shapes(min_dims=1), distinct=distinct))
    axis_choice = draw(st.sampled_from(["none", "one", "several"]))
    if axis_choice == "none":
        axis = None
    elif axis_choice == "one":
        axis = draw(st.integers(-x.ndim, x.ndim - 1))
    else:
        axis = tuple(sorted(draw(st.sets(st.integers(0, x.ndim - 1), min_size=1))))
    keepdims = draw(st.booleans())
    return x, axis, keepdims


def _logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCTIONS = {
    "sum": (lambda t, a, k: t.sum(axis=a, keepdims=k), lambda x, a, k: np.sum(x, axis=a, keepdims=k), False),
    "mean": (lambda t, a, k: t.mean(axis=a, keepdims=k), lambda x, a, k: np.mean(x, axis=a, keepdims=k), False),
    "amax": (lambda t, a, k: t.amax(a, k), lambda x, a, k: np.max(x, axis=a, keepdims=k), True),
    "amin": (lambda t, a, k: t.amin(a, k), lambda x, a, k: np.min(x, axis=a, keepdims=k), True),
    "logsumexp": (lambda t, a, k: t.logsumexp(axis=a, keepdims=k), _logsumexp, False),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data())
def test_reduction_matches_numpy_and_finite_differences(name, data):
    op, oracle, distinct = REDUCTIONS[name]
    x, axis, keepdims = data.draw(array_and_axis(distinct=distinct))
    assert_forward_matches(lambda t: op(t, axis, keepdims), lambda a: oracle(a, axis, keepdims), x)
    assert_gradients_match(lambda t: op(t, axis, keepdims), x)


@given(data=st.data())
def test_var_is_unbiased_by_default_and_matches_finite_differences(data):
    x, axis, keepdims = data.draw(array_and_axis())
    count = x.size if axis is None else int(np.prod([x.shape[a] for a in np.atleast_1d(axis)]))
    if count < 2:
        # As PyTorch: no degrees of freedom left gives NaN (0/0) or inf, with a warning, not an error.
        with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
            got = tg.Tensor(x).var(axis=axis, keepdims=keepdims)
        with pytest.warns(UserWarning):
            expected = torch.tensor(x).var(dim=axis, keepdim=keepdims)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
        return
    oracle = lambda a: np.var(a, axis=axis, keepdims=keepdims, ddof=1)  # noqa: E731
    assert_forward_matches(lambda t: t.var(axis=axis, keepdims=keepdims), oracle, x)
    assert_gradients_match(lambda t: t.var(axis=axis, keepdims=keepdims), x)


def test_amax_splits_gradient_between_ties():
    x = tg.Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.amax(dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])


def test_max_with_dim_returns_values_and_indices_and_sends_the_gradient_to_the_index():
    x = tg.Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    assert values.tolist() == [3.0, 2.0] and indices.tolist() == [1, 0] and indices.dtype == np.int64
    assert x.max(1).values is not None and x.min(dim=0, keepdim=True).indices.shape == (1, 3)
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])  # torch: the first maximum, no split


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_logsumexp_is_stable_at_large_logits(scale):
    logits = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, -1.0]]) * scale
    expected = _logsumexp(logits, 1, False)
    got32 = tg.Tensor(logits.astype(np.float32)).logsumexp(axis=1).numpy()
    assert np.all(np.isfinite(got32))
    np.testing.assert_allclose(got32, expected, rtol=1e-6)


def test_bad_axis_raises_a_clear_error():
    with pytest.raises(IndexError, match=r"sum: Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        tg.ones(2, 3).sum(axis=2)
    with pytest.raises(TypeError, match="mean: dim must be an int"):
        tg.ones(2, 3).mean(axis=1.0)
