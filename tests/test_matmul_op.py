import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
from op_checks import assert_gradients_match
from tinygrad_edu.testing import arrays, matmul_shapes


@given(shape_pair=matmul_shapes(), data=st.data())
def test_matmul_matches_numpy_and_finite_differences(backend, shape_pair, data):
    a = data.draw(arrays(shape_pair[0]))
    b = data.draw(arrays(shape_pair[1]))
    expected = np.matmul(a, b)
    got64 = tg.Tensor(a) @ tg.Tensor(b)
    np.testing.assert_allclose(got64.numpy(), expected, rtol=1e-12, atol=1e-12)
    got32 = tg.Tensor(a.astype(np.float32)) @ tg.Tensor(b.astype(np.float32))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert_gradients_match(tg.matmul, a, b)


def test_matmul_with_shared_weight_folds_batch(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((4, 5))
    np.testing.assert_allclose((tg.Tensor(x) @ tg.Tensor(w)).numpy(), x @ w, rtol=1e-12)
    assert_gradients_match(tg.matmul, x, w)


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned: 3 .* != 4"):
        tg.ones(2, 3) @ tg.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"matmul: batch dims of shapes \(2, 2, 3\) and \(3, 3, 4\)"):
        tg.ones(2, 2, 3) @ tg.ones(3, 3, 4)
    with pytest.raises(RuntimeError, match="matmul: both operands need at least 1 dimension"):
        tg.tensor(2.0) @ tg.ones(3)


def test_matmul_of_integer_tensors_is_a_type_error():
    with pytest.raises(TypeError, match="matmul: expected floating point tensors, got int64"):
        tg.arange(4).reshape(2, 2) @ tg.arange(4).reshape(2, 2)
