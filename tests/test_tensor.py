import numpy as np
import pytest

import tinygrad_edu as tg


def test_python_data_defaults_to_float32_and_int64():
    assert tg.Tensor([1.0, 2.0]).dtype == np.float32
    assert tg.Tensor([1, 2]).dtype == np.int64
    assert tg.Tensor(np.zeros(2)).dtype == np.float64
    assert tg.Tensor([True]).dtype == np.bool_


def test_attributes():
    x = tg.zeros(2, 3, requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size() == (2, 3) and x.size(1) == 3 and x.numel() == 6 and len(x) == 2
    assert x.requires_grad and x.grad is None and x.is_leaf
    assert tg.tensor(3.5).item() == 3.5
    assert isinstance(x.numpy(), np.ndarray)
    assert "requires_grad=True" in repr(x)
    with pytest.raises(RuntimeError, match=r"item: a Tensor with 6 elements cannot be converted .*\(shape \(2, 3\)\)"):
        x.item()


def test_unsupported_dtypes_are_rejected():
    with pytest.raises(TypeError, match="unsupported float dtype float16"):
        tg.Tensor(np.zeros(2, dtype=np.float16))
    with pytest.raises(TypeError, match="unsupported dtype"):
        tg.Tensor(np.array(["a"]))


def test_creation_helpers():
    np.testing.assert_array_equal(tg.zeros(2, 2).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(tg.ones((3,)).numpy(), np.ones(3))
    np.testing.assert_array_equal(tg.full((2,), 7.0).numpy(), [7.0, 7.0])
    np.testing.assert_array_equal(tg.arange(4).numpy(), [0, 1, 2, 3])
    assert tg.arange(0, 1, 0.5).dtype == np.float32
    np.testing.assert_array_equal(tg.eye(2).numpy(), np.eye(2))
    like = tg.ones(2, 3, dtype=np.float64)
    for made in (tg.zeros_like(like), tg.ones_like(like), tg.full_like(like, 2.0), tg.rand_like(like), tg.randn_like(like)):
        assert made.shape == (2, 3) and made.dtype == np.float64
    assert tg.rand(100).numpy().min() >= 0
    assert tg.randint(0, 5, (10,)).dtype == np.int64


def test_manual_seed_makes_random_tensors_reproducible():
    tg.manual_seed(123)
    first = tg.randn(5).numpy().copy()
    tg.manual_seed(123)
    np.testing.assert_array_equal(tg.randn(5).numpy(), first)


def test_astype_is_differentiable():
    x = tg.ones(2, dtype=np.float64, requires_grad=True)
    y = x.float() * 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
