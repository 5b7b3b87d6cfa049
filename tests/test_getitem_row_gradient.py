"""The gradient of x[rows] (rows an integer array, an embedding lookup): grouped sums against np.add.at and torch."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F


def _scatter_with_add_at(input_shape, rows, grad_out):
    expected = np.zeros(input_shape, grad_out.dtype)
    np.add.at(expected, rows, grad_out)
    return expected


@given(n_rows=st.integers(1, 7), row_shape=st.sampled_from([(), (3,), (2, 0), (2, 3)]),
       index_shape=st.sampled_from([(0,), (1,), (9,), (4, 5)]), seed=st.integers(0, 2**16))
def test_row_gather_gradient_matches_add_at_with_repeated_and_negative_rows(n_rows, row_shape, index_shape, seed):
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.standard_normal((n_rows,) + row_shape), requires_grad=True)
    rows = rng.integers(-n_rows, n_rows, index_shape)
    cotangent = rng.standard_normal(index_shape + row_shape)
    (x[rows] * tg.Tensor(cotangent)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), _scatter_with_add_at(x.shape, rows, cotangent), rtol=1e-13, atol=1e-13)


def test_row_gather_gradient_propagates_nan_and_inf_only_to_the_rows_that_picked_them():
    x = tg.Tensor(np.ones((4, 2), np.float32), requires_grad=True)
    rows = np.array([1, 3, 1, 0])
    cotangent = np.array([[np.nan, 1.0], [np.inf, 2.0], [1.0, -np.inf], [-0.0, -0.0]], np.float32)
    (x[rows] * tg.Tensor(cotangent)).sum().backward()
    expected = _scatter_with_add_at(x.shape, rows, cotangent)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert not np.signbit(x.grad.numpy()[0]).any()  # -0.0 added into zeros gives 0.0, as np.add.at


def test_row_gather_gradient_is_the_gradient_of_the_lookup_in_float64():
    table = tg.Tensor(np.random.default_rng(1).standard_normal((5, 3)), requires_grad=True)
    rows = np.array([[4, 0, 4], [2, 4, -1]])
    assert tg.gradcheck(lambda t: t[rows], table)


@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_gradient_matches_torch_with_repeated_tokens(padding_idx):
    rng = np.random.default_rng(2)
    weight = rng.standard_normal((11, 6)).astype(np.float32)
    tokens = rng.integers(0, 11, (8, 12))
    cotangent = rng.standard_normal((8, 12, 6)).astype(np.float32)
    ours = tg.Tensor(weight, requires_grad=True)
    (F.embedding(tokens, ours, padding_idx=padding_idx) * tg.Tensor(cotangent)).sum().backward()
    theirs = torch.tensor(weight, requires_grad=True)
    (torch.nn.functional.embedding(torch.tensor(tokens), theirs, padding_idx=padding_idx)
     * torch.tensor(cotangent)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_lookup_gives_the_gradient_of_the_masked_gather_it_replaces(padding_idx):
    """F.embedding's one op against the composite it replaces: gather, then a where that masks padding positions."""
    rng = np.random.default_rng(6)
    weight_values = rng.standard_normal((5, 4))
    tokens = np.array([[2, 0, 4, 2], [4, 4, 1, 2], [3, 0, 0, 4]])  # row 4 (-1) and row 2 repeat
    cotangent = rng.standard_normal((3, 4, 4))
    cotangent[0, 0] = np.nan  # at a padding position when padding_idx = 2: masked out, not spread
    weight = tg.Tensor(weight_values, requires_grad=True)
    out = F.embedding(tokens, weight, padding_idx=padding_idx)
    (out * tg.Tensor(cotangent)).sum().backward()
    reference = tg.Tensor(weight_values, requires_grad=True)
    rows = reference[tokens]
    if padding_idx is not None:
        is_padding = (tokens == padding_idx % 5)[..., None]
        rows = tg.where(tg.Tensor(is_padding), reference.detach()[tokens], rows)
    (rows * tg.Tensor(cotangent)).sum().backward()
    np.testing.assert_array_equal(out.numpy(), rows.numpy())
    np.testing.assert_allclose(weight.grad.numpy(), reference.grad.numpy(), rtol=1e-13, atol=1e-13)
    if padding_idx is not None:
        np.testing.assert_array_equal(weight.grad.numpy()[padding_idx], 0.0)
