import numpy as np
import pytest
from hypothesis import given

import tinygrad_edu as tg
from tinygrad_edu.testing import arrays, broadcastable_shapes, shapes


class BrokenSquare(tg.autograd.ArrayFunction):
    """y = x², with a deliberately wrong backward (dx = x dy instead of 2x dy)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return x * grad_out


class ZeroGradSoftmax(tg.autograd.ArrayFunction):
    """A softmax whose backward returns zeros: passes a sum-based check, must fail a random-cotangent one."""

    @staticmethod
    def forward(ctx, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def backward(ctx, grad_out):
        return np.zeros_like(grad_out)


def test_gradcheck_reports_the_worst_element_of_a_wrong_backward():
    x = tg.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(tg.GradcheckError, match=r"input 0 \(shape \(2, 2\)\).*worst element \(\d, \d\) has analytic .* numeric"):
        tg.gradcheck(BrokenSquare.apply, x)


def test_gradcheck_catches_a_softmax_backward_of_zeros():
    x = tg.Tensor(np.array([[0.1, 0.5, -0.3]]))
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(ZeroGradSoftmax.apply, x)


def test_gradcheck_checks_only_inputs_that_require_grad():
    a = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = tg.Tensor(np.array([3.0, 4.0]))
    assert tg.gradcheck(lambda x, y: BrokenSquare.apply(y) + x, a, b)  # b is broken but unchecked
    with pytest.raises(tg.GradcheckError, match="input 1"):
        tg.gradcheck(lambda x, y: BrokenSquare.apply(y) + x, a, b.requires_grad_())


def test_gradcheck_works_on_float32_inputs_by_checking_in_float64():
    assert tg.gradcheck(lambda x: x.tanh() * x, tg.randn(3, 3))


@given(arrays(shapes(), kinks=(0.0, 1.0), kink_margin=0.05))
def test_arrays_strategy_keeps_values_away_from_kinks(x):
    assert np.all(np.abs(x) >= 0.05 - 1e-12)
    assert np.all(np.abs(x - 1.0) >= 0.05 - 1e-12)


@given(arrays(shapes(min_dims=1), distinct=True))
def test_distinct_arrays_are_spaced_apart(x):
    values = np.sort(x.reshape(-1))
    assert np.all(np.diff(values) >= 4.0 / x.size - 1e-9)


@given(broadcastable_shapes())
def test_broadcastable_shapes_broadcast(shape_pair):
    np.broadcast_shapes(*shape_pair)
