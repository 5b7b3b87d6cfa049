import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
from op_checks import assert_forward_matches, assert_gradients_match
from tinygrad_edu.testing import arrays, broadcastable_shapes, positive_arrays, shapes

_erf = np.vectorize(math.erf)

# name: (engine op, NumPy oracle, strategy for the input)
UNARY_OPS = {
    "neg": (lambda x: -x, lambda x: -x, arrays(shapes())),
    "exp": (lambda x: x.exp(), np.exp, arrays(shapes())),
    "log": (lambda x: x.log(), np.log, positive_arrays(shapes())),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, positive_arrays(shapes())),
    "abs": (lambda x: x.abs(), np.abs, arrays(shapes(), kinks=(0.0,))),
    "tanh": (lambda x: x.tanh(), np.tanh, arrays(shapes())),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), arrays(shapes())),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0), arrays(shapes(), kinks=(0.0,))),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), lambda x: np.where(x > 0, x, 0.1 * x), arrays(shapes(), kinks=(0.0,))),
    "gelu": (lambda x: x.gelu(), lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), arrays(shapes())),
    "gelu_tanh": (
        lambda x: x.gelu(approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
        arrays(shapes()),
    ),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), arrays(shapes(), kinks=(-0.5, 0.7))),
    "square": (lambda x: x ** 2, lambda x: x ** 2, arrays(shapes())),
    "cube_root_power": (lambda x: x ** (1 / 3), lambda x: x ** (1 / 3), positive_arrays(shapes())),
    "scalar_ops": (lambda x: 3 - 2 * x / 4 + 1, lambda x: 3 - 2 * x / 4 + 1, arrays(shapes())),
    "reciprocal": (lambda x: 1 / x, lambda x: 1 / x, positive_arrays(shapes())),
}


@pytest.mark.parametrize("name", sorted(UNARY_OPS))
@given(data=st.data())
def test_unary_op_matches_numpy_and_finite_differences(name, data):
    op, oracle, strategy = UNARY_OPS[name]
    x = data.draw(strategy)
    assert_forward_matches(op, oracle, x)
    assert_gradients_match(op, x)


BINARY_OPS = {
    "add": (lambda a, b: a + b, np.add, (-2, 2)),
    "sub": (lambda a, b: a - b, np.subtract, (-2, 2)),
    "mul": (lambda a, b: a * b, np.multiply, (-2, 2)),
    "div": (lambda a, b: a / b, np.divide, (0.2, 3)),
    "pow": (lambda a, b: a ** b, np.power, (0.2, 3)),
}


@pytest.mark.parametrize("name", sorted(BINARY_OPS))
@given(shape_pair=broadcastable_shapes(), data=st.data())
def test_binary_op_broadcasts_and_matches_finite_differences(name, shape_pair, data):
    op, oracle, (low, high) = BINARY_OPS[name]
    a = data.draw(arrays(shape_pair[0], min_value=low, max_value=high))
    b = data.draw(arrays(shape_pair[1], min_value=low, max_value=high))
    assert_forward_matches(op, oracle, a, b)
    assert_gradients_match(op, a, b)


@pytest.mark.parametrize("op, oracle", [(tg.maximum, np.maximum), (tg.minimum, np.minimum)])
@given(shape_pair=broadcastable_shapes(), data=st.data())
def test_maximum_minimum_route_gradient_to_the_selected_input(op, oracle, shape_pair, data):
    a = data.draw(arrays(shape_pair[0]))
    # b is a away from a by at least 0.05, so no finite difference step crosses a tie.
    offset = data.draw(arrays(np.broadcast_shapes(*shape_pair), min_value=0.05, max_value=1.0))
    sign = np.where(data.draw(arrays(offset.shape)) > 0, 1.0, -1.0)
    b = np.broadcast_to(a, offset.shape) + sign * offset
    assert_forward_matches(op, oracle, a, b)
    assert_gradients_match(op, a, b)


def test_maximum_splits_gradient_evenly_on_ties():
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([1.0, 3.0], requires_grad=True)
    tg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0])


@given(shape_pair=broadcastable_shapes(), data=st.data())
def test_where_selects_and_routes_gradients(shape_pair, data):
    a = data.draw(arrays(shape_pair[0]))
    b = data.draw(arrays(shape_pair[1]))
    condition = data.draw(arrays(np.broadcast_shapes(*shape_pair))) > 0
    assert_forward_matches(lambda x, y: tg.where(condition, x, y), lambda x, y: np.where(condition, x, y), a, b)
    assert_gradients_match(lambda x, y: tg.where(condition, x, y), a, b)


def test_python_scalars_keep_the_tensor_dtype():
    x = tg.ones(3)
    assert (x * 2).dtype == np.float32
    assert (2.5 + x).dtype == np.float32
    assert (x / 3).dtype == np.float32
    assert (tg.ones(3, dtype=np.float64) * 2).dtype == np.float64


def test_mixed_dtypes_promote_like_pytorch():
    ints = tg.arange(3)
    assert ints.dtype == np.int64
    assert (ints + tg.ones(3)).dtype == np.float32
    assert (tg.ones(3) + tg.ones(3, dtype=np.float64)).dtype == np.float64
    assert (ints / 2).dtype == np.float32


def test_comparisons_return_bool_tensors_without_grad():
    x = tg.Tensor([1.0, -2.0, 3.0], requires_grad=True)
    for result in (x > 0, x >= 0, x < 0, x <= 1, x.eq(3.0), x.ne(1.0)):
        assert result.dtype == np.bool_
        assert not result.requires_grad
        assert result.is_leaf
    np.testing.assert_array_equal((x > 0).numpy(), [True, False, True])


def test_incompatible_shapes_raise_a_clear_error():
    with pytest.raises(RuntimeError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        tg.ones(2, 3) + tg.ones(4)
    with pytest.raises(RuntimeError, match=r"mul: shapes"):
        tg.ones(2, 3) * tg.ones(3, 2)


def test_where_needs_a_bool_condition():
    with pytest.raises(TypeError, match="where: condition must be a bool tensor"):
        tg.where(tg.ones(2), tg.ones(2), tg.zeros(2))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate"):
        tg.ones(2).gelu(approximate="fast")
