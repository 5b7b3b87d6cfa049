"""The embedding lookup's table gradient (EmbeddingLookup, the embedding_backward kernel) through F.embedding and
nn.Embedding: finite differences in float64, torch, both kernel sets, and the same bits on every run."""
import numpy as np
import pytest
import torch

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import nn


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_embedding_table_gradient_matches_finite_differences_with_repeated_ids(backend):
    rng = np.random.default_rng(0)
    ids = np.array([[0, 3, 3], [1, 0, 4]])  # 0 and 3 repeat, 2 is never picked
    weight = tg.Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    with tg.set_backend(backend):
        assert tg.gradcheck(lambda w: F.embedding(ids, w), weight)


@pytest.mark.parametrize("padding_idx", [0, -1])
@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_embedding_padding_row_gets_zero_and_the_other_rows_their_full_gradient(padding_idx, backend):
    rng = np.random.default_rng(5)
    ids = np.array([[0, 3, 3], [1, 0, 4]])
    cotangent = tg.Tensor(rng.standard_normal((2, 3, 3)))
    weight = tg.Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    with tg.set_backend(backend):
        (F.embedding(ids, weight) * cotangent).sum().backward()
        expected = weight.grad.numpy().copy()
        weight.grad = None
        (F.embedding(ids, weight, padding_idx=padding_idx) * cotangent).sum().backward()
    expected[padding_idx] = 0
    np.testing.assert_array_equal(weight.grad.numpy(), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_module_gradient_matches_torch_with_padding(dtype):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 7, (4, 6))
    cotangent = rng.standard_normal((4, 6, 5))
    ours = nn.Embedding(7, 5, padding_idx=2, dtype=dtype)
    theirs = torch.nn.Embedding(7, 5, padding_idx=2, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.numpy().astype(np.float64)))
    (ours(tg.Tensor(ids)) * tg.Tensor(cotangent.astype(dtype))).sum().backward()
    (theirs(torch.from_numpy(ids)) * torch.from_numpy(cotangent)).sum().backward()
    tolerance = 1e-13 if dtype == np.float64 else 24 * 4 * np.finfo(np.float32).eps  # ≤ 24 float32 additions
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=0, atol=tolerance)
    assert not ours.weight.grad.numpy()[2].any()


def test_embedding_table_gradient_is_the_same_bits_on_every_run_and_on_both_kernel_sets():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 11, (64, 12))
    cotangent = tg.Tensor(rng.standard_normal((64, 12, 16)).astype(np.float32) * np.float32(100))
    weight = tg.Tensor(rng.standard_normal((11, 16)).astype(np.float32), requires_grad=True)
    gradients = []
    for backend in ("cpu", "cpu", "numpy"):
        weight.grad = None
        with tg.set_backend(backend):
            (F.embedding(ids, weight) * cotangent).sum().backward()
        gradients.append(weight.grad.numpy())
    for gradient in gradients[1:]:
        np.testing.assert_array_equal(gradient, gradients[0])


def test_embedding_out_of_range_ids_raise_index_error_before_any_gradient():
    weight = tg.randn(4, 2, requires_grad=True)
    for bad in ([0, 4], [-1, 0]):
        with pytest.raises(IndexError, match="embedding: index out of range for a table of 4 rows"):
            F.embedding(np.array(bad), weight)
