"""GELU as an op (GeluErf and GeluTanh over the fused kernels): finite differences in float64 with a random
cotangent on both CPU kernel sets, and outputs and gradients of nn.GELU / F.gelu against PyTorch in both dtypes.

Tolerances against torch: float64 rtol 1e-12 and atol 1e-14 (values) / 1e-13 (gradients): both compute PyTorch's
formulas in float64, where 1 + erf(x/√2) and 1 + tanh u are exact only to 2^-53 absolutely and torch's erf/tanh may
differ from the C library's in that last bit, times |x| ≤ 10 (and x·u' ≤ 150 in the tanh form's slope); float32
rtol 1e-5 and atol 1e-6 (PyTorch's float32 erf is accurate to about 1e-7 absolutely; ours to 8 ulps relatively).
"""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.testing import arrays, shapes

APPROXIMATIONS = ["none", "tanh"]


@pytest.mark.parametrize("approximate", APPROXIMATIONS)
@given(x=arrays(shapes()))
def test_gelu_gradient_matches_finite_differences_with_a_random_cotangent(backend, approximate, x):
    assert tg.gradcheck(lambda t: F.gelu(t, approximate=approximate), tg.Tensor(x, requires_grad=True),
                        atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("approximate", APPROXIMATIONS)
def test_gelu_gradient_matches_finite_differences_in_both_tails(backend, approximate):
    # atol 1e-8: a central difference of a sum of size ~10 has rounding noise 1e-16·10 / 1e-6 = 1e-9
    x = tg.Tensor(np.array([[-5.0, -3.5, -2.0, -0.75], [0.75, 2.0, 3.5, 5.0]]), requires_grad=True)
    assert tg.gradcheck(lambda t: F.gelu(t, approximate=approximate), x, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("approximate", APPROXIMATIONS)
def test_nn_gelu_and_functional_gelu_match_torch_outputs_and_gradients(backend, dtype, approximate):
    rng = np.random.default_rng(5)
    x = np.clip(rng.standard_normal((4, 3, 5)) * 3, -10, 10).astype(dtype)
    cotangent = rng.standard_normal(x.shape).astype(dtype)
    tolerance = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    grad_tolerance = dict(tolerance, atol=1e-13) if dtype == np.float64 else tolerance
    for ours_fn, torch_fn in ((nn.GELU(approximate=approximate), torch.nn.GELU(approximate=approximate)),
                              (lambda t: F.gelu(t, approximate=approximate),
                               lambda t: torch.nn.functional.gelu(t, approximate=approximate))):
        ours_x, torch_x = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours, theirs = ours_fn(ours_x), torch_fn(torch_x)
        assert ours.dtype == dtype and ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **tolerance)
        ours.backward(tg.Tensor(cotangent))
        theirs.backward(torch.tensor(cotangent))
        assert ours_x.grad.dtype == dtype
        np.testing.assert_allclose(ours_x.grad.numpy(), torch_x.grad.numpy(), **grad_tolerance)


@given(size=st.integers(0, 3))
def test_gelu_of_empty_and_zero_dim_tensors_keeps_the_shape(backend, size):
    for shape in ((), (size,), (size, 0)):
        x = tg.Tensor(np.full(shape, 0.5), requires_grad=True)
        y = F.gelu(x)
        assert y.shape == shape
        y.sum().backward()
        assert x.grad.shape == shape


def test_gelu_of_an_integer_tensor_raises_naming_the_kernel_and_dtype():
    with pytest.raises(TypeError, match="gelu_forward: x must be a float32 or float64 array, got int64"):
        F.gelu(tg.Tensor(np.arange(3)))
