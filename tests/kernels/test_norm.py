"""Layer norm: cpu vs reference on odd shapes (with/without affine), finite differences, errors.

Tolerances: float64 rtol 1e-10; float32 vs the float64 reference rtol 1e-4, atol 1e-4 (the weight/bias
gradients are sums over rows). grad_x of a float32 row is ill-conditioned when the row's spread is small: the
rounding of x (relative 6e-8) is amplified by rstd·|x| (x - μ loses digits) and again by the gradient's row
sums, so its atol grows with that condition number: 1e-5 · rstd · max|x| per row.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from kernels.cpu import norm as cpu
from kernels.reference import norm as ref

from finite_differences import numerical_gradients

DIMS = st.sampled_from([1, 2, 3, 7, 13, 31])


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)


@given(rows=DIMS, features=DIMS, affine=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 99))
def test_layer_norm_cpu_matches_reference_on_odd_noncontiguous_shapes(rows, features, affine, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((features, rows)) * 3 + 1).astype(dtype).T  # non-contiguous (rows, features)
    weight = rng.standard_normal(features).astype(dtype) if affine else None
    bias = rng.standard_normal(features).astype(dtype) if affine else None
    as64 = lambda a: None if a is None else a.astype(np.float64)  # noqa: E731
    y_ref, mean_ref, rstd_ref = ref.layer_norm_forward(as64(x), as64(weight), as64(bias), 1e-5)
    y, mean, rstd = cpu.layer_norm_forward(x, weight, bias, 1e-5)
    for got, want in ((y, y_ref), (mean, mean_ref), (rstd, rstd_ref)):
        np.testing.assert_allclose(got, want, **_tol(dtype))
        assert got.dtype == dtype
    g = rng.standard_normal(x.shape).astype(dtype)
    grads = cpu.layer_norm_backward(g, x, weight, mean, rstd)
    grads_ref = ref.layer_norm_backward(as64(g), as64(x), as64(weight), mean_ref, rstd_ref)
    for index, (got, want) in enumerate(zip(grads, grads_ref)):
        if want is None:
            assert got is None
            continue
        assert got.dtype == dtype
        if index == 0 and dtype == np.float32:
            condition = (rstd_ref * np.abs(x).max(axis=1))[:, None]
            assert np.all(np.abs(got - want) <= 1e-4 * np.abs(want) + 1e-4 + 1e-5 * condition)
        else:
            np.testing.assert_allclose(got, want, **_tol(dtype))


def test_reference_layer_norm_gradients_match_finite_differences_with_random_cotangent():
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal(5)]
    c = rng.standard_normal((3, 5))
    y, mean, rstd = ref.layer_norm_forward(*inputs, 1e-5)
    analytic = ref.layer_norm_backward(c, inputs[0], inputs[1], mean, rstd)
    numeric = numerical_gradients(lambda *arrays: (ref.layer_norm_forward(*arrays, 1e-5)[0] * c).sum(), inputs)
    for which in range(3):
        np.testing.assert_allclose(analytic[which], numeric[which], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("module", [ref, cpu], ids=["reference", "cpu"])
def test_layer_norm_errors_name_the_kernel(module):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="layer_norm_forward.*weight"):
        module.layer_norm_forward(x, np.ones(4), None, 1e-5)
    with pytest.raises(TypeError, match="layer_norm_forward"):
        module.layer_norm_forward(x.astype(np.int32), None, None, 1e-5)
    with pytest.raises(TypeError, match="layer_norm_forward.*bias"):
        module.layer_norm_forward(x, None, np.ones(3, dtype=np.float32), 1e-5)
    with pytest.raises(ValueError, match="layer_norm_backward.*grad_y"):
        module.layer_norm_backward(np.ones((3, 3)), x, None, np.ones(2), np.ones(2))
